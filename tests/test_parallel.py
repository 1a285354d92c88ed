"""The two-thread integer sum behind mean projections gives exactly numpy's sum."""

from __future__ import annotations

import numpy as np
import pytest

from dicomviz.pixels import parallel


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("shape", [(67, 255, 257), (3, 9, 5), (1, 2049, 2049)])
def test_int_sum_is_numpys_exact_sum(shape: tuple[int, int, int], axis: int) -> None:
    rng = np.random.default_rng(sum(shape) + axis)
    block = rng.integers(-32768, 32767, shape, dtype=np.int16, endpoint=True)
    expected = block.astype(np.int64).sum(axis=axis)
    got = parallel.int_sum(block, axis)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_large_blocks_are_summed_in_parts_on_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large block goes to the pool in halves; each half lands in its own part of the sum."""
    calls = []
    original = np.add.reduce

    class Counting:
        @staticmethod
        def reduce(array, **kwargs):
            calls.append(array.shape)
            return original(array, **kwargs)

    monkeypatch.setattr(parallel.np, "add", Counting)
    block = np.arange(70 * 256 * 256, dtype=np.int64).astype(np.int16).reshape(70, 256, 256)
    total = parallel.int_sum(block, 0, workers=2)
    assert sorted(calls) == [(70, 128, 256), (70, 128, 256)]
    monkeypatch.undo()
    np.testing.assert_array_equal(total, block.sum(axis=0, dtype=np.int32))


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_any_worker_count_gives_the_same_exact_sum(workers: int) -> None:
    block = np.arange(33 * 300 * 430, dtype=np.int64).astype(np.int16).reshape(33, 300, 430)
    for axis in range(3):
        expected = block.sum(axis=axis, dtype=np.int32)
        np.testing.assert_array_equal(parallel.int_sum(block, axis, workers=workers), expected)


def test_a_callers_executor_runs_the_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts go to the executor passed in; the shared pool is not made at all."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(parallel, "_pool", None)
    block = np.ones((64, 256, 256), dtype=np.int16)
    with ThreadPoolExecutor(3, thread_name_prefix="callers") as executor:
        used = []
        original = executor.map
        monkeypatch.setattr(executor, "map", lambda f, *a: used.append(1) or original(f, *a))
        total = parallel.int_sum(block, 0, workers=3, executor=executor)
    assert used and parallel._pool is None
    assert (total == 64).all()


def test_bad_worker_count_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        parallel.int_sum(np.zeros((2, 2), np.int16), 0, workers=0)
