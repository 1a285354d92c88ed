"""Decode slow codecs (JPEG 2000, JPEG-LS, JPEG) in worker processes.

The decoders hold the GIL, so threads do not help (measured in bench/); two processes use both
cores. A worker also keeps a decoder that aborts (TRAPS.md) from taking the page down with it:
the pool breaks, the frames are reported, a new pool is started next time. The pool holds no
user data between calls; workers receive one frame's compressed bytes and header at a time.

Callers may pass a worker count or an executor of their own; without them a pool shared by the
process is made on first use, sized by the cores this process may use then.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from dicomviz.io.header import number_of_frames
from dicomviz.pixels.decode import decode, frame_dataset
from dicomviz.pixels.parallel import default_workers
from dicomviz.series.frames import Frame

SLOW_SYNTAXES = frozenset(
    str(uid) for uid in (*JPEG2000TransferSyntaxes, *JPEGLSTransferSyntaxes, *JPEGTransferSyntaxes)
)
MIN_FRAMES = 16
"""Below this many frames, starting worker processes costs more than it saves."""

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_pid = 0


class DecoderCrashed(Exception):
    """The worker decoding this frame died (the decoder aborted the process)."""


def worth_pooling(
    frames: Sequence[Frame], *, workers: int | None = None, executor: Executor | None = None
) -> bool:
    """Many single-frame files of a slow codec, and more than one worker to decode them on.

    ``workers`` defaults to the cores this process may use now (at most two); with an
    ``executor`` the caller has chosen to pool, so only the frames decide.
    """
    if len(frames) < MIN_FRAMES:
        return False
    if executor is None and (workers if workers is not None else default_workers()) < 2:
        return False
    return all(
        str(f.file.transfer_syntax) in SLOW_SYNTAXES and number_of_frames(f.file.header) == 1
        for f in frames
    )


def decode_all(
    frames: Sequence[Frame], *, workers: int | None = None, executor: Executor | None = None
) -> Iterator[tuple[int, np.ndarray | BaseException]]:
    """(k, decoded values or the exception) for every frame, in order.

    Runs on ``executor`` if given (the caller's: never shut down here), else on a pool of
    ``workers`` processes made for this call, else on the process's shared pool. At most a few
    frames per worker are in flight at once, so decoded slices never pile up in memory waiting
    for the caller.
    """
    own = executor is None and workers is not None
    if executor is not None:
        pool, size = executor, workers or default_workers()
    elif own:
        pool, size = _new_pool(workers), workers
    else:
        pool, size = _get_pool()
    try:
        yield from _decode_on(pool, frames, window=4 * size, shared=executor is None and not own)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def _decode_on(
    pool: Executor, frames: Sequence[Frame], *, window: int, shared: bool
) -> Iterator[tuple[int, np.ndarray | BaseException]]:
    in_flight: deque[tuple[int, Future | BaseException]] = deque()
    for k, frame in enumerate(frames):
        in_flight.append((k, _submit(pool, frame)))
        if len(in_flight) >= window:
            yield _collect(pool, *in_flight.popleft(), shared=shared)
    while in_flight:
        yield _collect(pool, *in_flight.popleft(), shared=shared)


def _submit(pool: Executor, frame: Frame) -> Future | BaseException:
    try:
        small = frame_dataset(frame)  # checks the codestream first
        if small is None:
            raise ValueError("pixel data is not compressed")
        return pool.submit(decode, small)
    except Exception as exc:  # reported for this frame by the caller
        return exc


def _collect(
    pool: Executor, k: int, future: Future | BaseException, *, shared: bool
) -> tuple[int, np.ndarray | BaseException]:
    if isinstance(future, BaseException):
        return k, future
    try:
        return k, future.result()
    except BrokenProcessPool:
        if shared:  # the next call starts a new one
            _discard_pool(pool)
        return k, DecoderCrashed("the decoder crashed on this pixel data")
    except Exception as exc:  # the worker's decode error, for this frame
        return k, exc
    except BaseException as exc:  # a Rust decoder's PanicException, sent back by the worker
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return k, DecoderCrashed("the decoder crashed on this pixel data")


def _new_pool(workers: int) -> ProcessPoolExecutor:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    # forkserver: forking a threaded server (Streamlit) is unsafe; spawn is slower.
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _get_pool() -> tuple[ProcessPoolExecutor, int]:
    """The process's shared pool and its size, decided when it is made (a pool inherited
    through ``fork`` cannot be used in the child, which makes its own)."""
    global _pool, _pool_workers, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool_workers, _pool_pid = default_workers(), os.getpid()
            _pool = _new_pool(_pool_workers)
        return _pool, _pool_workers


def _discard_pool(pool: Executor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
