"""Exact integer sums along one axis, on both cores for large blocks.

The mean projection of an int16 volume is an int32 sum: numpy widens every voxel on the way,
which is compute bound (about 2x a copy of the volume on one core; bench/). numpy releases the
GIL inside a reduction, so two threads summing halves of the block (split along an axis that is
not reduced) bring it close to the copy's memory-bound time when a second core is free.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

WORKERS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
PARALLEL_MIN_VOXELS = 1 << 22
"""Below about 4 million voxels (8 MB of int16) one thread is done before two could start."""

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def int_sum(block: np.ndarray, axis: int) -> np.ndarray:
    """``block.sum(axis, dtype=np.int32)`` (exact for up to 65,536 int16 values a sum)."""
    total = np.empty([n for i, n in enumerate(block.shape) if i != axis], dtype=np.int32)
    # Split along the outermost axis in memory that is not reduced: each thread then reads
    # whole contiguous runs (the canonical view may be permuted or flipped).
    kept = [i for i in range(block.ndim) if i != axis and block.shape[i] >= WORKERS]
    split = max(
        kept or [i for i in range(block.ndim) if i != axis], key=lambda i: abs(block.strides[i])
    )
    length = block.shape[split]
    parts = WORKERS if block.size >= PARALLEL_MIN_VOXELS and length >= WORKERS else 1
    bounds = [length * k // parts for k in range(parts + 1)]

    def add(start: int, stop: int) -> None:
        source = [slice(None)] * block.ndim
        source[split] = slice(start, stop)
        target = [slice(None)] * total.ndim
        target[split if split < axis else split - 1] = slice(start, stop)
        np.add.reduce(block[tuple(source)], axis=axis, dtype=np.int32, out=total[tuple(target)])

    if parts == 1:
        add(0, length)
    else:
        list(_executor().map(add, bounds[:-1], bounds[1:]))
    return total


def _executor() -> ThreadPoolExecutor:
    """One small pool per process, shared by every session (it holds no data between calls)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="dicomviz-sum")
        return _pool
