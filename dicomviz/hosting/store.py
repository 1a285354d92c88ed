"""One server-wide, bounded home for what visitors' uploads turn into.

A hosted page keeps user data for many sessions in one process. Every entry here has a size
in bytes, so the whole holds to one budget: least recently used entries leave first when a new
one needs room, and entries nobody has used or pinned for a while leave on their own. Sessions
keep only keys (content digests); what the keys name lives here, and may be gone when a session
comes back (it then rebuilds, or asks for its files again).

Plain Python, no Streamlit: the page creates one Store per process and sweeps it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomviz.errors import BudgetError
from dicomviz.limits import bytes_text

Clock = Callable[[], float]


@dataclass
class _Entry:
    value: Any
    size: int
    group: str
    """The upload (content digest) the entry derives from: dropped together."""
    used: float
    pinned_by: set[str] = field(default_factory=set)
    """Sessions showing it (their ids); unpinned entries may be swept when idle."""


@dataclass(frozen=True)
class StoreStats:
    used: int
    budget: int
    entries: int
    evicted: int
    swept: int


class Store:
    """Entries by key, each with its size; least recently used out first; idle ones swept.

    Thread-safe. ``put`` of an entry larger than the whole budget raises BudgetError with a
    plain sentence; anything smaller fits after evicting older entries.
    """

    def __init__(self, budget: int, *, idle_seconds: float, clock: Clock = time.monotonic):
        if budget <= 0:
            raise ValueError(f"the memory budget must be positive, got {budget}")
        self.budget = budget
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self._used = 0
        self._evicted = 0
        self._swept = 0

    # -- reading and writing ----------------------------------------------------------------

    def get(self, key: Hashable, *, session: str | None = None) -> Any | None:
        """The value, marked as just used (and pinned by ``session``), or None if gone."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            entry.used = self._clock()
            if session is not None:
                entry.pinned_by.add(session)
            self._entries.move_to_end(key)
            return entry.value

    def put(
        self, key: Hashable, value: Any, size: int, *, group: str, session: str | None = None
    ) -> None:
        """Keep ``value`` (``size`` bytes), evicting the least recently used to make room."""
        if size > self.budget:
            raise BudgetError(
                "memory",
                f"this needs {bytes_text(size)}, more than the server's whole memory budget "
                f"({bytes_text(self.budget)}, set by DICOMVIZ_MEMORY_MB)",
            )
        with self._lock:
            self._remove(key)
            self._make_room(size)
            entry = _Entry(value, size, group, self._clock())
            if session is not None:
                entry.pinned_by.add(session)
            self._entries[key] = entry
            self._used += size

    def holds(self, key: Hashable) -> bool:
        """Whether ``key`` is held, without marking it used (the sweeper asks this)."""
        with self._lock:
            return key in self._entries

    def resize(self, key: Hashable, size: int) -> None:
        """Count ``key`` at its true size once known (an upload's study, read, holds the
        files unpacked from an archive), evicting others if it grew."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            self._used += size - entry.size
            entry.size = size
            self._entries.move_to_end(key)
            while self._used > self.budget and next(iter(self._entries)) != key:
                self._remove(next(iter(self._entries)))
                self._evicted += 1

    def make_room(self, size: int, *, keep: Hashable | None = None) -> None:
        """Evict the least recently used (never ``keep``) until ``size`` more bytes fit: called
        before work that allocates them (reading, building), so the transient stays inside the
        budget too."""
        with self._lock:
            for key in [k for k in self._entries if k != keep]:
                if self._used + size <= self.budget:
                    break
                self._remove(key)
                self._evicted += 1

    def fits(self, size: int) -> bool:
        """Whether ``size`` bytes could be held at all (after evicting everything else)."""
        return size <= self.budget

    def drop_group(self, group: str) -> int:
        """Forget everything derived from one upload; returns the bytes freed."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if e.group == group]
            return sum(self._remove(k) for k in keys)

    def unpin_group(self, group: str, session: str) -> None:
        """One session stops showing one upload (others may still show it)."""
        with self._lock:
            for entry in self._entries.values():
                if entry.group == group:
                    entry.pinned_by.discard(session)

    def unpin(self, session: str) -> None:
        """A session is gone: its entries may now be swept once idle."""
        with self._lock:
            for entry in self._entries.values():
                entry.pinned_by.discard(session)

    def sweep(self, live_sessions: Iterable[str] | None = None) -> int:
        """Drop entries idle for ``idle_seconds`` that no live session pins; returns bytes
        freed. ``live_sessions`` (when known) unpins sessions that no longer exist."""
        now = self._clock()
        with self._lock:
            if live_sessions is not None:
                live = set(live_sessions)
                for entry in self._entries.values():
                    entry.pinned_by &= live
            stale = [
                key
                for key, entry in self._entries.items()
                if not entry.pinned_by and now - entry.used >= self.idle_seconds
            ]
            freed = sum(self._remove(key) for key in stale)
            self._swept += len(stale)
            return freed

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(
                self._used, self.budget, len(self._entries), self._evicted, self._swept
            )

    # -- internals ----------------------------------------------------------------------------

    def _make_room(self, size: int) -> None:
        while self._entries and self._used + size > self.budget:
            key = next(iter(self._entries))  # the least recently used
            self._remove(key)
            self._evicted += 1

    def _remove(self, key: Hashable) -> int:
        entry = self._entries.pop(key, None)
        if entry is None:
            return 0
        self._used -= entry.size
        return entry.size


def memory_budget(environ: dict[str, str] | None = None) -> int:
    """Bytes for user data: DICOMVIZ_MEMORY_MB if set, else half of what the process may use
    (the container's limit when there is one, else the machine's memory)."""
    environ = dict(os.environ) if environ is None else environ
    text = environ.get("DICOMVIZ_MEMORY_MB", "").strip()
    if text:
        try:
            megabytes = float(text)
        except ValueError:
            raise ValueError(f"DICOMVIZ_MEMORY_MB must be a number of MB, not {text!r}") from None
        if megabytes <= 0:
            raise ValueError(f"DICOMVIZ_MEMORY_MB must be positive, not {text!r}")
        return int(megabytes * 1024 * 1024)
    return available_memory() // 2


def available_memory() -> int:
    """The container's memory limit (cgroup v2 or v1) when set, else the machine's memory."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max" or a huge number: no limit
            return int(text)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
