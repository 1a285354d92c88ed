"""Make memory the store lets go of leave the process, so a server's size follows what it holds.

glibc's malloc keeps freed heap memory for reuse rather than returning it, and after the first
large block is freed it raises its mmap threshold (up to 32 MiB), so the next uploads' files
(half a megabyte each) land on heaps that fragment and never shrink: a server that held eight
studies stays that large after every visitor has left. Fixing the threshold (which also stops it
moving), capping the per-thread arenas (each Streamlit script run is a thread) and trimming after
a sweep frees data lets RSS come back. Elsewhere than glibc these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024
"""Blocks from this size up get their own mapping, returned to the system when freed."""
ARENA_MAX = 4


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt  # noqa: B018 (glibc only: a musl or macOS libc has neither)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> bool:
    """Set malloc up for a long-running server holding large, short-lived buffers; True if the
    allocator took the settings. Call once, early (settings apply to later allocations)."""
    libc = _libc()
    if libc is None:
        return False
    took = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    took &= libc.mallopt(M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD)
    took &= libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    return bool(took)


def give_back() -> bool:
    """Return free heap memory to the system (after the store dropped data); True if any was."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
