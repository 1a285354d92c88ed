"""Decode slow codecs (JPEG 2000, JPEG-LS, JPEG) in worker processes.

The decoders hold the GIL, so threads do not help (measured in bench/); two processes use both
cores. A worker also keeps a decoder that aborts (TRAPS.md) from taking the page down with it:
the pool breaks, the frames are reported, a new pool is started next time. The pool holds no
user data between calls; workers receive one frame's compressed bytes and header at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from dicomviz.io.reading import number_of_frames
from dicomviz.pixels.decode import decode, frame_dataset
from dicomviz.series.frames import Frame

SLOW_SYNTAXES = frozenset(
    str(uid) for uid in (*JPEG2000TransferSyntaxes, *JPEGLSTransferSyntaxes, *JPEGTransferSyntaxes)
)
WORKERS = min(2, os.cpu_count() or 1)
MIN_FRAMES = 16
"""Below this many frames, starting worker processes costs more than it saves."""

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


class DecoderCrashed(Exception):
    """The worker decoding this frame died (the decoder aborted the process)."""


def worth_pooling(frames: Sequence[Frame]) -> bool:
    """Many single-frame files of a slow codec, and more than one core to decode them on."""
    if len(frames) < MIN_FRAMES or WORKERS < 2:
        return False
    return all(
        str(f.file.transfer_syntax) in SLOW_SYNTAXES and number_of_frames(f.file.header) == 1
        for f in frames
    )


def decode_all(frames: Sequence[Frame]) -> Iterator[tuple[int, np.ndarray | BaseException]]:
    """(k, decoded values or the exception) for every frame, in order.

    At most a few frames are in flight at once, so decoded slices never pile up in memory
    waiting for the caller.
    """
    pool = _get_pool()
    in_flight: deque[tuple[int, Future | BaseException]] = deque()
    window = 4 * WORKERS
    for k, frame in enumerate(frames):
        in_flight.append((k, _submit(pool, frame)))
        if len(in_flight) >= window:
            yield _collect(pool, *in_flight.popleft())
    while in_flight:
        yield _collect(pool, *in_flight.popleft())


def _submit(pool: ProcessPoolExecutor, frame: Frame) -> Future | BaseException:
    try:
        small = frame_dataset(frame)  # checks the codestream first
        if small is None:
            raise ValueError("pixel data is not compressed")
        return pool.submit(decode, small)
    except Exception as exc:  # reported for this frame by the caller
        return exc


def _collect(
    pool: ProcessPoolExecutor, k: int, future: Future | BaseException
) -> tuple[int, np.ndarray | BaseException]:
    if isinstance(future, BaseException):
        return k, future
    try:
        return k, future.result()
    except BrokenProcessPool:
        _discard_pool(pool)
        return k, DecoderCrashed("the decoder crashed on this pixel data")
    except Exception as exc:  # the worker's decode error, for this frame
        return k, exc
    except BaseException as exc:  # a Rust decoder's PanicException, sent back by the worker
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return k, DecoderCrashed("the decoder crashed on this pixel data")


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # forkserver: forking a threaded server (Streamlit) is unsafe; spawn is slower.
            context = multiprocessing.get_context("forkserver")
            _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context)
        return _pool


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
