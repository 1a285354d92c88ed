"""The decode pool (pixels/pool.py): when pooling is worth it, results in frame order, and one
frame's failure (or a worker dying under it) reported for that frame alone.

Most tests hand ``decode_all`` an executor of their own (threads: fast, deterministic); the
process pool itself is exercised by tests/test_volume.py and tests/test_pool.py.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless
from synth import Marker, make_series

import dicomviz
from dicomviz.pixels import pool
from dicomviz.pixels.decode import frame_values
from dicomviz.pixels.pool import MIN_FRAMES, DecoderCrashed, decode_all, worth_pooling
from dicomviz.series.frames import Frame

GEOMETRY = dict(rows=32, columns=32, intercept=-1024.0)  # JPEG 2000 needs 32 x 32 at least


def _frames(count: int, **changes: object) -> tuple[Frame, ...]:
    markers = [Marker((-12.0 + k % 20, -16.0, -20.0 + 2 * k), 100 + k) for k in range(count)]
    files = make_series(**(GEOMETRY | {"slices": count, "markers": markers} | changes))  # type: ignore[arg-type]
    return dicomviz.load(files).stacks[0].frames


@cache
def _j2k(count: int = MIN_FRAMES) -> tuple[Frame, ...]:
    return _frames(count, transfer_syntax=JPEG2000Lossless)


def test_worth_pooling_needs_many_single_frame_files_of_a_slow_codec_and_two_workers() -> None:
    assert worth_pooling(_j2k(), workers=2)
    assert not worth_pooling(_j2k()[: MIN_FRAMES - 1], workers=2)  # too few to pay for workers
    assert not worth_pooling(_j2k(), workers=1)
    assert worth_pooling(_j2k(), workers=1, executor=ThreadPoolExecutor(1))  # the caller chose
    assert not worth_pooling(_frames(MIN_FRAMES, transfer_syntax=RLELossless), workers=2)
    assert not worth_pooling(_frames(MIN_FRAMES), workers=2)  # uncompressed
    enhanced = _frames(MIN_FRAMES, transfer_syntax=JPEG2000Lossless, enhanced=True)
    assert not worth_pooling(enhanced, workers=2)  # one file: its frames come together


def test_decode_all_gives_every_frame_in_order() -> None:
    frames = _j2k()
    with ThreadPoolExecutor(2) as executor:
        results = list(decode_all(frames, executor=executor, workers=2))
    assert [k for k, _ in results] == list(range(len(frames)))
    for (k, values), frame in zip(results, frames, strict=True):
        assert isinstance(values, np.ndarray), (k, values)
        np.testing.assert_array_equal(values, frame_values(frame))
        assert int(values.max()) == 100 + k  # each frame's own marker (a stored value)


def test_a_frame_that_cannot_be_handed_over_fails_alone() -> None:
    """An uncompressed frame among compressed ones has no codestream to send: its slot holds
    the error, and the frames around it still decode."""
    frames = list(_j2k())
    frames[3] = _frames(4)[3]
    with ThreadPoolExecutor(2) as executor:
        results = dict(decode_all(frames, executor=executor, workers=2))
    assert isinstance(results[3], ValueError) and str(results[3]) == "pixel data is not compressed"
    assert all(isinstance(results[k], np.ndarray) for k in results if k != 3)


class _DyingExecutor(Executor):
    """Every frame's worker dies, as when a decoder aborts its process."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return future


def test_a_dead_worker_is_a_decoder_crash_for_its_frames_only() -> None:
    shared = pool._pool
    results = list(decode_all(_j2k()[:3], executor=_DyingExecutor(), workers=2))
    assert [k for k, _ in results] == [0, 1, 2]
    for _, value in results:
        assert isinstance(value, DecoderCrashed)
        assert str(value) == "the decoder crashed on this pixel data"
    assert pool._pool is shared  # the caller's executor broke, not the process's pool


def test_a_workers_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        list(decode_all(_j2k()[:2], workers=0))
