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
    monkeypatch.setattr(parallel, "WORKERS", 2)
    block = np.arange(70 * 256 * 256, dtype=np.int64).astype(np.int16).reshape(70, 256, 256)
    total = parallel.int_sum(block, 0)
    assert sorted(calls) == [(70, 128, 256), (70, 128, 256)]
    monkeypatch.undo()
    np.testing.assert_array_equal(total, block.sum(axis=0, dtype=np.int32))
