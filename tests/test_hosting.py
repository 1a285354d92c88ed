"""Serving many visitors (dicomviz.hosting): the store holds to its budget, forgets what nobody
uses, and the line lets heavy jobs in one at a time, first come first served."""

from __future__ import annotations

import threading
import time

import pytest

from dicomviz.errors import BudgetError
from dicomviz.hosting.queue import FairQueue
from dicomviz.hosting.store import Store, memory_budget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_leaves_first_and_the_budget_holds() -> None:
    store = Store(100, idle_seconds=60)
    store.put("a", "A", 40, group="u1")
    store.put("b", "B", 40, group="u2")
    assert store.get("a") == "A"  # a is now the most recent
    store.put("c", "C", 40, group="u3")  # 120 > 100: the least recent (b) leaves
    assert store.get("b") is None and store.get("a") == "A" and store.get("c") == "C"
    stats = store.stats()
    assert (stats.used, stats.entries, stats.evicted) == (80, 2, 1)


def test_an_entry_larger_than_the_budget_is_refused_in_words() -> None:
    store = Store(1024 * 1024, idle_seconds=60)
    with pytest.raises(BudgetError, match=r"more than the server.s whole memory budget \(1.0 MiB"):
        store.put("big", object(), 2 * 1024 * 1024, group="u")
    assert store.stats().used == 0


def test_idle_entries_that_no_live_session_pins_are_swept() -> None:
    clock = Clock()
    store = Store(100, idle_seconds=60, clock=clock)
    store.put("shown", 1, 10, group="u1", session="alive")
    store.put("closed", 2, 10, group="u2", session="gone")
    store.put("loose", 3, 10, group="u3")
    clock.now = 30
    assert store.sweep(live_sessions={"alive", "gone"}) == 0  # nothing idle yet
    clock.now = 61
    # "gone" is no longer a live session: its entry is unpinned and, idle, swept.
    assert store.sweep(live_sessions={"alive"}) == 20
    assert store.get("shown") == 1 and store.get("closed") is None and store.get("loose") is None


def test_asking_whether_a_key_is_held_does_not_keep_it_alive() -> None:
    clock = Clock()
    store = Store(100, idle_seconds=60, clock=clock)
    store.put("closed", 1, 10, group="u1")
    for second in range(0, 70, 10):  # a sweeper asking every 10 s, as the page's does
        clock.now = second
        assert store.holds("closed")
    clock.now = 61
    assert store.sweep(live_sessions=set()) == 10 and not store.holds("closed")


def test_an_entry_counted_at_its_true_size_makes_room_by_evicting_others() -> None:
    store = Store(100, idle_seconds=60)
    store.put("older", "O", 40, group="u1")
    store.put("upload", "U", 30, group="u2")
    store.resize("upload", 70)  # its archive unpacked: 40 + 70 > 100, the older one leaves
    assert not store.holds("older") and store.holds("upload")
    assert (store.stats().used, store.stats().evicted) == (70, 1)
    store.resize("upload", 20)
    assert store.stats().used == 20
    store.resize("missing", 50)  # gone meanwhile: nothing to count
    assert store.stats().used == 20


def test_dropping_an_upload_drops_what_derives_from_it() -> None:
    store = Store(100, idle_seconds=60)
    store.put(("bytes", "d1"), b"x", 30, group="d1")
    store.put(("volume", "d1", "s"), "v", 30, group="d1")
    store.put(("bytes", "d2"), b"y", 30, group="d2")
    assert store.drop_group("d1") == 60
    assert store.get(("bytes", "d2")) == b"y" and store.stats().used == 30


def test_the_budget_comes_from_the_environment_or_half_the_memory() -> None:
    assert memory_budget({"DICOMVIZ_MEMORY_MB": "1500"}) == 1500 * 1024 * 1024
    with pytest.raises(ValueError, match="must be a number of MB"):
        memory_budget({"DICOMVIZ_MEMORY_MB": "lots"})
    with pytest.raises(ValueError, match="must be positive"):
        memory_budget({"DICOMVIZ_MEMORY_MB": "0"})
    default = memory_budget({})
    assert 64 * 1024 * 1024 < default < 1 << 50


def test_the_line_is_fair_and_says_where_each_one_stands() -> None:
    line = FairQueue(slots=1)
    order: list[int] = []
    places: dict[int, list[int]] = {1: [], 2: []}
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with line.turn():
            order.append(0)
            first_in.set()
            release.wait(5)

    def later(k: int) -> None:
        with line.turn(places[k].append, poll=0.01):
            order.append(k)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    first_in.wait(5)
    for k in (1, 2):
        threads.append(threading.Thread(target=later, args=(k,)))
        threads[-1].start()
        time.sleep(0.1)  # 1 arrives before 2
    assert line.ahead() == 3
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2]
    assert places[1][0] == 1 and places[2][0] == 2  # one ahead of 1; two ahead of 2
    assert line.ahead() == 0


def test_as_many_jobs_as_slots_run_at_once() -> None:
    line = FairQueue(slots=2)
    running, most = [0], [0]
    lock = threading.Lock()

    def job() -> None:
        with line.turn(poll=0.01):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2


def test_the_allocator_is_tuned_and_trimmed_on_glibc() -> None:
    import platform

    from dicomviz.hosting import memory

    if platform.libc_ver()[0] != "glibc":  # musl and macOS have no mallopt: a no-op there
        assert memory.tune_allocator() is False
        return
    assert memory.tune_allocator() is True
    block = bytearray(64 * 1024 * 1024)
    del block
    assert isinstance(memory.give_back(), bool)


def test_room_is_made_before_work_without_evicting_what_the_work_reads() -> None:
    store = Store(100, idle_seconds=60)
    store.put("old", "O", 30, group="u1")
    store.put("upload", "U", 40, group="u2")
    store.put("newer", "N", 20, group="u3")
    store.make_room(60, keep="upload")  # 90 + 60 > 100: the oldest go first, never "upload"
    assert not store.holds("old") and not store.holds("newer") and store.holds("upload")
    store.make_room(500, keep="upload")  # cannot fit: everything else goes, the upload stays
    assert store.holds("upload") and store.stats().used == 40


def test_background_work_waits_for_every_foreground_job() -> None:
    line = FairQueue(slots=1)
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with line.turn():
            first_in.set()
            release.wait(5)
            order.append("first view")

    def job(name: str, background: bool) -> None:
        with line.turn(poll=0.01, background=background):
            order.append(name)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    first_in.wait(5)
    for name, background in (("payload", True), ("second view", False), ("third view", False)):
        threads.append(threading.Thread(target=job, args=(name, background)))
        threads[-1].start()
        time.sleep(0.1)  # the payload arrived before both views
    assert line.ahead() == 3  # a newcomer waits for the foreground only
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first view", "second view", "third view", "payload"]
