"""Exact integer sums along one axis, on both cores for large blocks.

The mean projection of an int16 volume is an int32 sum: numpy widens every voxel on the way,
which is compute bound (about 2x a copy of the volume on one core; bench/). numpy releases the
GIL inside a reduction, so two threads summing halves of the block (split along an axis that is
not reduced) bring it close to the copy's memory-bound time when a second core is free.

Callers may pass the number of parts (``workers``) and where they run (``executor``); without
them a small thread pool is made on first use, sized by the cores this process may use then.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np

MAX_DEFAULT_WORKERS = 2
"""The default uses at most two cores: one server process shares its CPU between sessions."""
PARALLEL_MIN_VOXELS = 1 << 22
"""Below about 4 million voxels (8 MB of int16) one thread is done before two could start."""

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_pid = 0


def available_cores() -> int:
    """The cores this process may run on now (its affinity where the system tells it).

    Read at each call, not at import: a container, ``taskset`` or a forked worker may see fewer
    cores than the machine has, and that can change while a server runs.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers() -> int:
    """Workers for a pool made now: the available cores, at most ``MAX_DEFAULT_WORKERS``."""
    return min(MAX_DEFAULT_WORKERS, available_cores())


def int_sum(
    block: np.ndarray,
    axis: int,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
) -> np.ndarray:
    """``block.sum(axis, dtype=np.int32)`` (exact for up to 65,536 int16 values a sum).

    A large block is summed in ``workers`` parts on ``executor``. Neither given: the shared
    pool and its size. ``workers`` alone: threads made for this call. ``executor`` alone: the
    default count of parts. The result is the same whatever the split.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if executor is None and workers is None:
        executor, workers = _shared_pool()
    elif workers is None:
        workers = default_workers()
    total = np.empty([n for i, n in enumerate(block.shape) if i != axis], dtype=np.int32)
    # Split along the outermost axis in memory that is not reduced: each thread then reads
    # whole contiguous runs (the canonical view may be permuted or flipped).
    kept = [i for i in range(block.ndim) if i != axis and block.shape[i] >= workers]
    split = max(
        kept or [i for i in range(block.ndim) if i != axis], key=lambda i: abs(block.strides[i])
    )
    length = block.shape[split]
    parts = workers if block.size >= PARALLEL_MIN_VOXELS and length >= workers else 1
    bounds = [length * k // parts for k in range(parts + 1)]

    def add(start: int, stop: int) -> None:
        source = [slice(None)] * block.ndim
        source[split] = slice(start, stop)
        target = [slice(None)] * total.ndim
        target[split if split < axis else split - 1] = slice(start, stop)
        np.add.reduce(block[tuple(source)], axis=axis, dtype=np.int32, out=total[tuple(target)])

    if parts == 1:
        add(0, length)
    elif executor is not None:
        list(executor.map(add, bounds[:-1], bounds[1:]))
    else:  # a worker count of the caller's own: threads for this call only
        with ThreadPoolExecutor(parts, thread_name_prefix="dicomviz-sum") as own:
            list(own.map(add, bounds[:-1], bounds[1:]))
    return total


def _shared_pool() -> tuple[ThreadPoolExecutor, int]:
    """One small pool per process, shared by every session (it holds no data between calls).

    Its size is decided when it is made. A pool inherited through ``fork`` has no threads in
    the child, so a forked process makes its own.
    """
    global _pool, _pool_workers, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool_workers, _pool_pid = default_workers(), os.getpid()
            _pool = ThreadPoolExecutor(_pool_workers, thread_name_prefix="dicomviz-sum")
        return _pool, _pool_workers
