"""Worker pools: sized when they are made (not at import), and replaceable by the caller's own.

The decode pool (processes, slow codecs) and the summing pool (threads, mean projections) share
one rule: the cores this process may use when the pool is made, at most two by default. A
caller may pass a worker count (a pool made for the call and closed after it) or an executor
(used as it is, never shut down by dicomviz).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless
from synth import make_series

import dicomviz
from dicomviz.pixels import parallel
from dicomviz.pixels import pool as decode_pool

GEOMETRY = dict(rows=40, columns=36, slices=20, intercept=-1024.0, shuffle_seed=3)


@pytest.fixture(scope="module")
def stacks() -> tuple[dicomviz.Stack, dicomviz.Stack]:
    """The same 20 slices, uncompressed and as JPEG 2000 (a slow codec worth pooling)."""
    plain = dicomviz.load(make_series(**GEOMETRY)).stacks[0]
    j2k = dicomviz.load(make_series(**GEOMETRY, transfer_syntax=JPEG2000Lossless)).stacks[0]
    return plain, j2k


@pytest.fixture
def no_shared_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both shared pools unmade, as in a fresh process (the real ones are put back after)."""
    for module in (decode_pool, parallel):
        for name, value in (("_pool", None), ("_pool_workers", 0), ("_pool_pid", 0)):
            monkeypatch.setattr(module, name, value)


def _cores(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)), raising=False)


def test_no_worker_count_is_fixed_at_import() -> None:
    assert not hasattr(decode_pool, "WORKERS") and not hasattr(parallel, "WORKERS")


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (16, 2)])
def test_the_default_follows_the_cores_available_now(
    monkeypatch: pytest.MonkeyPatch, no_shared_pools: None, cores: int, workers: int
) -> None:
    _cores(monkeypatch, cores)
    assert parallel.default_workers() == workers
    pool, size = parallel._shared_pool()
    assert size == workers
    pool.shutdown()


def test_one_core_means_no_decoding_processes(
    monkeypatch: pytest.MonkeyPatch, stacks: tuple[dicomviz.Stack, dicomviz.Stack]
) -> None:
    plain, j2k = stacks
    _cores(monkeypatch, 1)
    assert not decode_pool.worth_pooling(j2k.frames)
    _cores(monkeypatch, 2)
    assert decode_pool.worth_pooling(j2k.frames)
    assert not decode_pool.worth_pooling(j2k.frames, workers=1)
    assert not decode_pool.worth_pooling(plain.frames, workers=4)


def test_an_executor_means_the_caller_chose_to_pool(
    monkeypatch: pytest.MonkeyPatch, stacks: tuple[dicomviz.Stack, dicomviz.Stack]
) -> None:
    _cores(monkeypatch, 1)
    with ThreadPoolExecutor(1) as executor:
        assert decode_pool.worth_pooling(stacks[1].frames, executor=executor)


def _decoded(results: list[tuple[int, np.ndarray | BaseException]]) -> list[np.ndarray]:
    assert [k for k, _ in results] == list(range(len(results)))
    assert not [v for _, v in results if isinstance(v, BaseException)]
    return [v for _, v in results if isinstance(v, np.ndarray)]


def _stored(stack: dicomviz.Stack) -> list[np.ndarray]:
    """Stored values of each slice of an uncompressed stack, read without any pool."""
    from dicomviz.pixels.decode import frame_values

    return [frame_values(frame) for frame in stack.frames]


def test_a_callers_executor_decodes_and_stays_open(
    no_shared_pools: None, stacks: tuple[dicomviz.Stack, dicomviz.Stack]
) -> None:
    plain, j2k = stacks
    with ThreadPoolExecutor(2) as executor:
        got = _decoded(list(decode_pool.decode_all(j2k.frames, executor=executor)))
        assert executor.submit(int, "7").result() == 7  # not shut down by dicomviz
    for mine, expected in zip(got, _stored(plain), strict=True):
        np.testing.assert_array_equal(mine, expected)
    assert decode_pool._pool is None  # the shared pool was never made


def test_a_worker_count_gets_a_pool_for_the_call_closed_after_it(
    monkeypatch: pytest.MonkeyPatch,
    no_shared_pools: None,
    stacks: tuple[dicomviz.Stack, dicomviz.Stack],
) -> None:
    made = []
    original = decode_pool._new_pool

    def recording(workers: int):
        made.append((workers, original(workers)))
        return made[-1][1]

    monkeypatch.setattr(decode_pool, "_new_pool", recording)
    plain, j2k = stacks
    got = _decoded(list(decode_pool.decode_all(j2k.frames, workers=2)))
    for mine, expected in zip(got, _stored(plain), strict=True):
        np.testing.assert_array_equal(mine, expected)
    assert decode_pool._pool is None
    ((workers, own),) = made
    assert workers == 2
    with pytest.raises(RuntimeError, match="shutdown"):
        own.submit(int, "7")


def test_a_pool_inherited_through_fork_is_not_used(
    monkeypatch: pytest.MonkeyPatch, no_shared_pools: None
) -> None:
    """A forked child has the parent's pool object but none of its threads."""
    first, _ = parallel._shared_pool()
    monkeypatch.setattr(parallel, "_pool_pid", -1)  # as if made in another process
    second, _ = parallel._shared_pool()
    assert second is not first
    first.shutdown()
    second.shutdown()


def test_bad_worker_count_is_refused(stacks: tuple[dicomviz.Stack, dicomviz.Stack]) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        next(decode_pool.decode_all(stacks[1].frames, workers=0))


def test_build_volume_takes_a_worker_count_or_an_executor(
    no_shared_pools: None, stacks: tuple[dicomviz.Stack, dicomviz.Stack]
) -> None:
    plain, j2k = stacks
    expected = dicomviz.build_volume(plain).array
    with ThreadPoolExecutor(2) as executor:
        np.testing.assert_array_equal(dicomviz.build_volume(j2k, executor=executor).array, expected)
    np.testing.assert_array_equal(dicomviz.build_volume(j2k, workers=1).array, expected)
    assert decode_pool._pool is None  # neither call used the shared pool
