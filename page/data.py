"""Where a visitor's upload and everything made from it live, and how heavy work waits its turn.

One Store per process holds it all under one memory budget (DICOMVIZ_MEMORY_MB): the upload's
bytes with the study read from them, built volumes, computed views, header tables. A session
keeps only the upload's digest. Least recently used entries leave first when room is needed;
entries no live session shows leave after IDLE_SECONDS, so a closed tab's data is gone within
Streamlit's disconnected-session TTL plus about a minute. Reading and building run in a fair
line, as many at once as the process has cores; a waiting visitor is told where they stand.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import streamlit as st
from streamlit.logger import get_logger

import dicomviz
from dicomviz.display import opening, views
from dicomviz.hosting import memory
from dicomviz.hosting.queue import FairQueue
from dicomviz.hosting.store import Store, memory_budget
from dicomviz.io.inputs import content_digest
from dicomviz.limits import bytes_text
from dicomviz.pixels import resample
from dicomviz.sample.phantom import sample_series
from page import internals

IDLE_SECONDS = float(os.environ.get("DICOMVIZ_IDLE_SECONDS", "40"))
"""Unshown entries leave after this long unused (Streamlit forgets a closed tab after its
server.disconnectedSessionTTL, 120 s by default; then this, then at most one sweep)."""
SWEEP_SECONDS = 10.0
PARSED_BYTES_PER_FILE = 8 * 1024
"""What a parsed file costs besides its bytes (header record, frames), counted with the upload."""
SAMPLE = "sample"
LOG = get_logger("dicomviz.page")  # Streamlit's logging set-up and level (logger.level)


@dataclass(frozen=True)
class Source:
    """What a session shows: the digest naming its upload (or the sample), and a file count."""

    digest: str
    count: int = 0


@dataclass
class Upload:
    """An upload's files and, once read, the study made of them: one store entry, so the bytes
    the study points into are counted, and leave, together."""

    files: tuple[tuple[str, bytes], ...]
    study: dicomviz.Study | None = None


@dataclass(frozen=True)
class Built:
    """A stack's volume as built, the same on patient axes (views.canonical), and the planes
    it opens on."""

    volume: dicomviz.Volume
    canon: dicomviz.Volume
    planes: tuple[str, ...]


class Gone(Exception):
    """The session's upload is no longer held (the server needed the room, or it sat idle)."""


@dataclass
class Hosting:
    """The process-wide store and line, with per-key locks so one thing is computed once, and
    the sessions seen (to let go of what Streamlit keeps for them once they are gone)."""

    store: Store
    line: FairQueue
    locks: dict[Hashable, threading.Lock] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)
    sessions: set[str] = field(default_factory=set)

    def lock(self, key: Hashable) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def seen(self, session: str | None) -> str | None:
        if session is not None and session not in self.sessions:
            with self.guard:
                self.sessions.add(session)
        return session


@st.cache_resource(show_spinner=False)
def hosting() -> Hosting:
    """One per process, with a thread that sweeps idle data of sessions that are gone."""
    memory.tune_allocator()
    made = Hosting(Store(memory_budget(), idle_seconds=IDLE_SECONDS), FairQueue())

    def sweeping() -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            sweep(made, internals.live_sessions())

    threading.Thread(target=sweeping, name="dicomviz-sweeper", daemon=True).start()
    return made


def sweep(made: Hosting, live: set[str] | None) -> int:
    """One round of the sweeper: idle data no live session shows leaves the store, what
    Streamlit keeps for sessions that are gone is let go, and freed memory leaves the process.
    Returns the bytes the store freed."""
    freed = made.store.sweep(live)
    gone: set[str] = set()
    if live is not None:
        with made.guard:
            gone = made.sessions - live
            made.sessions -= gone
    internals.forget_sessions(gone)
    with made.guard:  # forget locks of keys that are gone (asking does not keep them alive)
        for key in [k for k, lock in made.locks.items() if not lock.locked()]:
            if not made.store.holds(key):
                del made.locks[key]
    if freed or gone:
        memory.give_back()
    if freed:
        stats = made.store.stats()
        LOG.info(
            "swept %s of data no session shows (%d sessions gone); %s of %s held",
            bytes_text(freed),
            len(gone),
            bytes_text(stats.used),
            bytes_text(stats.budget),
        )
    return freed


def keep_upload(uploads: list[Any]) -> Source | str:
    """Put uploaded files in the store and out of Streamlit's manager; the new Source, or a
    sentence saying why they cannot be kept."""
    files = tuple((u.name, u.getvalue()) for u in uploads)  # getvalue() shares the bytes
    internals.release_uploads(uploads)
    digest = content_digest(files)
    size = sum(len(data) for _, data in files) + PARSED_BYTES_PER_FILE * len(files)
    store = hosting().store
    if not store.fits(size):
        return (
            f"This upload ({bytes_text(size)}) is larger than this server holds for all its "
            f"visitors together ({bytes_text(store.budget)}): drop fewer files at a time, or "
            "run dicomviz on your own machine (see the README)."
        )
    session = hosting().seen(internals.session_id())
    if store.get(("upload", digest), session=session) is None:  # the same files: kept once
        store.put(("upload", digest), Upload(files), size, group=digest, session=session)
    return Source(digest, len(files))


def forget(source: Source) -> None:
    """The session lets its upload go ("Back to the sample" or new files): unpinned, it leaves
    when idle, unless another session shows the same files."""
    session = internals.session_id()
    if session is not None and source.digest != SAMPLE:
        hosting().store.unpin_group(source.digest, session)


def read_study(source: Source, waiting: Callable[[int], None]) -> dicomviz.Study:
    """The study of an upload (read once, in the line), or Gone."""
    if source.digest == SAMPLE:
        return _sample().study  # type: ignore[return-value]
    upload = _get(("upload", source.digest))
    if upload is None:
        raise Gone
    with hosting().lock(("study", source.digest)):
        if upload.study is None:
            with hosting().line.turn(waiting):
                # Unpacking an archive may hold its entries beside it for a moment.
                unpacked = sum(len(data) for _, data in upload.files)
                hosting().store.make_room(unpacked, keep=("upload", source.digest))
                upload.study = _with_progress(
                    "Reading files…", lambda p: dicomviz.load(list(upload.files), progress=p)
                )
            # The study holds what it uses (an archive's entries unpacked, never the archive):
            # the upload's bytes go, and the entry is counted at what it now holds.
            upload.files = ()
            hosting().store.resize(("upload", source.digest), held_bytes(upload.study))
    return upload.study


def held_bytes(study: dicomviz.Study) -> int:
    """What a study keeps in memory: the bytes of every file its stacks use (twice for a file
    pydicom parsed, whose values are copies), plus the parsed records."""
    sources: dict[int, int] = {}
    for stack in study.stacks:
        for frame in stack.frames:
            dicom = frame.file
            if id(dicom.source) not in sources:
                copies = 1 if dicom.parsed is None else 2
                sources[id(dicom.source)] = copies * len(dicom.source.head)
    return sum(sources.values()) + PARSED_BYTES_PER_FILE * max(len(sources), 1)


def _sample() -> Upload:
    key = ("upload", SAMPLE)
    upload = _get(key)
    if upload is not None and upload.study is not None:
        return upload
    with hosting().lock(key):
        upload = _get(key)
        if upload is None or upload.study is None:
            files = tuple(sample_series())
            study = dicomviz.load(list(files))
            size = sum(len(d) for _, d in files) + PARSED_BYTES_PER_FILE * len(files)
            upload = Upload(files, study)
            hosting().store.put(key, upload, size, group=SAMPLE, session=internals.session_id())
    return upload


def read_volume(source: Source, stack: dicomviz.Stack, waiting: Callable[[int], None]) -> Built:
    """The stack's volume (built once, in the line), refused in words if it cannot fit."""
    key = ("volume", source.digest, stack.id)
    built = _get(key)
    if built is not None:
        return built
    need = stack.depth * stack.rows * stack.columns * 4
    store = hosting().store
    if not store.fits(need):
        raise dicomviz.BudgetError(
            stack.id,
            f"this series needs up to {bytes_text(need)} in memory, more than this server holds "
            f"for all its visitors together ({bytes_text(store.budget)})",
        )
    with hosting().lock(key):
        built = _get(key)
        if built is None:
            with hosting().line.turn(waiting):
                store.make_room(need)
                volume = _with_progress(
                    "Building the volume…", lambda p: dicomviz.build_volume(stack, progress=p)
                )
            built = Built(volume, views.canonical(volume), opening.opening_planes(stack))
            _put(key, built, volume.array.nbytes, source)
    return built


def touch(source: Source, stack_id: str, grid: str) -> None:
    """Mark what a shown stack rests on as used (its upload, its volume, resampled or not): a
    rerun of the views alone would otherwise leave them to look idle."""
    _get(("upload", source.digest))
    _get(("volume", source.digest, stack_id))
    if grid == "patient":
        _get(("patient", source.digest, stack_id))


def on_patient_axes(
    source: Source, stack: dicomviz.Stack, built: Built, waiting: Callable[[int], None]
) -> Built:
    """The stack resampled onto patient axes (once, in the line), or refused in words."""
    key = ("patient", source.digest, stack.id)
    found = _get(key)
    if found is not None:
        return found
    with hosting().lock(key):
        found = _get(key)
        if found is None:
            limits = dicomviz.Limits(volume_bytes=min(hosting().store.budget, 4 << 30))
            with hosting().line.turn(waiting):
                volume = resample.on_patient_axes(built.volume, limits=limits)
            found = Built(volume, volume, built.planes)
            _put(key, found, volume.array.nbytes, source)
    return found


def view(
    source: Source,
    stack_id: str,
    canon: dicomviz.Volume,
    plane: str,
    mode: str,
    index: int,
    slab: tuple[int, int],
) -> views.View:
    """One view, computed once; it owns its pixels (a view into the volume would keep the whole
    volume alive after the volume itself left the store)."""
    key = ("view", source.digest, stack_id, plane, mode, index, slab)
    found = _get(key)
    if found is None:
        made = views.make_view(canon, plane, mode, index=index, slab=slab)
        if not made.image.flags.owndata:
            made = replace(made, image=np.array(made.image))
        _put(key, made, made.image.nbytes, source)
        found = made
    return found


def spin(
    source: Source,
    key: Hashable,
    make: Callable[[Callable[[float, str], None]], Any] | None = None,
    waiting: Callable[[int], None] | None = None,
) -> Any:
    """A spinning MIP (``dicomviz.display.spin.Spin``) kept with the upload it comes from: made
    (in the line, with a progress bar) only when ``make`` is given, else the one the store
    still holds, or None."""
    full = ("spin", source.digest, key)
    found = _get(full)
    if found is not None or make is None:
        return found
    with hosting().lock(full):
        found = _get(full)
        if found is None:
            with hosting().line.turn(waiting):
                found = _with_progress("Turning the volume…", make)
            _put(full, found, found.frames.nbytes, source)
    return found


def remembered(source: Source, key: Hashable, make: Callable[[], Any], size: int = 64_000) -> Any:
    """A small derived value (a header table, identifiers) held with the upload it comes from."""
    full = ("derived", source.digest, key)
    found = _get(full)
    if found is None:
        found = make()
        _put(full, found, size, source)
    return found


def remembered_later(
    source: Source, key: Hashable, make: Callable[[], Any], size: int = 64_000
) -> Any | None:
    """A derived value the page can do without at first: kept with the upload once made, made
    in the background (:func:`in_background`); None until it is there."""
    full = ("derived", source.digest, key)
    found = _get(full)
    if found is None:
        made_by = hosting()
        session = made_by.seen(internals.session_id())
        in_background(made_by, full, make, lambda _: size, group=source.digest, session=session)
    return found


def in_background(
    made_by: Hosting,
    key: Hashable,
    make: Callable[[], Any],
    size_of: Callable[[Any], int],
    *,
    group: str,
    session: str | None,
    start: bool = True,
) -> Future | None:
    """The job that makes ``key``'s value in a thread, in the fair line behind everyone's heavy
    work (another visitor's reading comes first), then keeps it in the store (``size_of`` the
    value, in bytes): started once while none runs, unless ``start`` is false (then None when
    none runs). A job that failed is tried again when next asked for."""
    with _BACKGROUND_LOCK:
        future = _BACKGROUND_JOBS.get(key)
        if future is None and start:
            job = partial(_run_in_background, made_by, key, make, size_of, group, session)
            future = _BACKGROUND_JOBS[key] = _BACKGROUND.submit(job)
    return future


def _run_in_background(
    made_by: Hosting,
    key: Hashable,
    make: Callable[[], Any],
    size_of: Callable[[Any], int],
    group: str,
    session: str | None,
) -> Any:
    """(In a thread: no Streamlit calls here.)"""
    try:
        with made_by.line.turn(background=True):
            value = make()
        made_by.store.put(key, value, size_of(value), group=group, session=session)
        return value
    finally:
        with _BACKGROUND_LOCK:
            _BACKGROUND_JOBS.pop(key, None)


_BACKGROUND_LOCK = threading.Lock()
_BACKGROUND_JOBS: dict[Hashable, Future] = {}
_BACKGROUND = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dicomviz-background")
"""Threads waiting in the line cost nothing; the line decides how many jobs run at once."""


class Held:
    """Values a callback, a fragment or a deferred download needs later, held weakly: Streamlit
    keeps those (with their arguments) for as long as it keeps the tab, and a volume or a study
    they held would stay in memory after the store let it go."""

    def __init__(self, *values: Any) -> None:
        self._refs = tuple(weakref.ref(value) for value in values)

    def get(self) -> tuple[Any, ...] | None:
        """The values, or None once any of them is gone."""
        values = tuple(ref() for ref in self._refs)
        return None if any(value is None for value in values) else values


def while_held(make: Callable[..., Any], *held: Any, **options: Any) -> Callable[[], Any]:
    """A deferred download's callable that does not keep ``held`` alive: made when clicked from
    what is still held, else refused in words."""
    weak = Held(*held)

    def run() -> Any:
        values = weak.get()
        if values is None:
            raise Gone(
                "this study is no longer held on the server: reload the page (or drop the files "
                "in again) to download it"
            )
        return make(*values, **options)

    return run


def _get(key: Hashable) -> Any:
    return hosting().store.get(key, session=hosting().seen(internals.session_id()))


def _put(key: Hashable, value: Any, size: int, source: Source) -> None:
    session = hosting().seen(internals.session_id())
    hosting().store.put(key, value, size, group=source.digest, session=session)


def _with_progress(text: str, work: Callable[[Callable[[float, str], None]], Any]) -> Any:
    bar = st.progress(0.0, text=text)
    try:
        return work(lambda done, what: bar.progress(min(done, 1.0), text=what))
    finally:
        bar.empty()
