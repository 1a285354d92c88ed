"""A fair line for heavy work (reading and building studies) on a shared server.

One process shares its cores between sessions: four simultaneous uploads each took 23-43 s to a
first view (3.7 s alone). Run as many heavy jobs as there are cores, first come first served,
and tell each waiting person where they stand.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Waiting = Callable[[int], None]
"""Called while waiting with the number of jobs ahead (running ones included)."""


def usable_cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class FairQueue:
    """At most ``slots`` jobs at once; the others wait in arrival order. Background jobs (work
    nobody is looking at yet, such as preparing the browsing view's volume) start only while
    no foreground job waits, so they never delay someone's first view."""

    def __init__(self, slots: int | None = None) -> None:
        self.slots = slots or usable_cores()
        self._lock = threading.Condition()
        self._line: deque[object] = deque()
        self._later: deque[object] = deque()
        self._running = 0

    @contextmanager
    def turn(
        self, waiting: Waiting | None = None, *, poll: float = 0.5, background: bool = False
    ) -> Iterator[None]:
        """Wait for this job's turn (reporting the place in line), run, then let the next in."""
        ticket = object()
        line = self._later if background else self._line
        with self._lock:
            line.append(ticket)
            while not self._may_start(ticket, background):
                if waiting is not None:
                    ahead = self._running + line.index(ticket) + (len(self._line) * background)
                    self._lock.release()
                    try:
                        waiting(ahead)
                    finally:
                        self._lock.acquire()
                self._lock.wait(timeout=poll)
            line.popleft()
            self._running += 1
            self._lock.notify_all()
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _may_start(self, ticket: object, background: bool) -> bool:
        if self._running >= self.slots:
            return False
        if background:
            return not self._line and self._later[0] is ticket
        return self._line[0] is ticket

    def ahead(self) -> int:
        """Jobs running or waiting now, background ones aside (what a newcomer would have
        ahead)."""
        with self._lock:
            return self._running + len(self._line)
