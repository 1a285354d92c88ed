"""The hosted page's data plumbing (page/data.py), without a browser: uploads kept in the
bounded store under their digest, refused in words when they cannot fit, read once in the line,
views owning their pixels, and a clear "gone" when the server dropped an upload."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from synth import make_series, zip_bytes

import dicomviz
from dicomviz.hosting.queue import FairQueue
from dicomviz.hosting.store import Store
from page import data


class FakeUpload:
    """What st.file_uploader hands over: a name, the bytes, Streamlit's file id."""

    def __init__(self, name: str, payload: bytes) -> None:
        self.name, self._payload, self.file_id = name, payload, f"id-{name}"

    def getvalue(self) -> bytes:
        return self._payload


@pytest.fixture
def hosting(monkeypatch: pytest.MonkeyPatch) -> data.Hosting:
    made = data.Hosting(Store(64 * 1024 * 1024, idle_seconds=60), FairQueue(slots=1))
    monkeypatch.setattr(data, "hosting", lambda: made)
    return made


def _uploads(slices: int = 6) -> list[FakeUpload]:
    return [FakeUpload(n, b) for n, b in make_series(slices=slices, rows=32, columns=24)]


def test_an_upload_is_kept_once_under_its_digest(hosting: data.Hosting) -> None:
    source = data.keep_upload(_uploads())
    assert isinstance(source, data.Source) and source.count == 6
    again = data.keep_upload(_uploads())
    assert again == source  # the same files: the same digest, one entry
    assert hosting.store.stats().entries == 1
    study = data.read_study(source, lambda ahead: None)
    assert len(study.stacks[0].frames) == 6
    assert data.read_study(source, lambda ahead: None) is study  # read once


def test_an_upload_larger_than_the_budget_is_refused_in_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = data.Hosting(Store(20_000, idle_seconds=60), FairQueue(slots=1))
    monkeypatch.setattr(data, "hosting", lambda: tiny)
    said = data.keep_upload(_uploads())
    assert isinstance(said, str)
    assert "larger than this server holds for all its visitors together" in said
    assert tiny.store.stats().entries == 0


def test_a_volume_that_cannot_fit_is_refused_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    small = data.Hosting(Store(200_000, idle_seconds=60), FairQueue(slots=1))
    monkeypatch.setattr(data, "hosting", lambda: small)
    # A zip of blank slices: a small upload that unpacks into a 640 KiB volume.
    archive = zip_bytes(make_series(slices=40, rows=64, columns=64))
    source = data.keep_upload([FakeUpload("study.zip", archive)])
    assert isinstance(source, data.Source), source
    study = data.read_study(source, lambda ahead: None)
    with pytest.raises(dicomviz.BudgetError, match="more than this server holds"):
        data.read_volume(source, study.stacks[0], lambda ahead: None)


def test_heavy_work_waits_its_turn_and_says_where_it_stands(hosting: data.Hosting) -> None:
    source = data.keep_upload(_uploads())
    places: list[int] = []
    holding = threading.Event()
    release = threading.Event()

    def someone_else() -> None:
        with hosting.line.turn():
            holding.set()
            release.wait(5)

    other = threading.Thread(target=someone_else)
    other.start()
    holding.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    study = data.read_study(source, places.append)
    other.join(5)
    assert places and places[0] == 1  # one study ahead
    assert time.monotonic() - started >= 0.25 and study.stacks


def test_cached_views_own_their_pixels(hosting: data.Hosting) -> None:
    source = data.keep_upload(_uploads())
    study = data.read_study(source, lambda ahead: None)
    built = data.read_volume(source, study.stacks[0], lambda ahead: None)
    view = data.view(source, study.stacks[0].id, built.canon, "axial", "slice", 2, (2, 3))
    assert view.image.flags.owndata and not np.shares_memory(view.image, built.canon.array)
    assert data.view(source, study.stacks[0].id, built.canon, "axial", "slice", 2, (2, 3)) is view


def test_a_dropped_upload_is_said_to_be_gone(hosting: data.Hosting) -> None:
    source = data.keep_upload(_uploads())
    hosting.store.drop_group(source.digest)
    with pytest.raises(data.Gone):
        data.read_study(source, lambda ahead: None)


def test_a_read_archive_is_counted_at_what_its_study_holds(hosting: data.Hosting) -> None:
    archive = zip_bytes(make_series(slices=8, rows=32, columns=24))
    source = data.keep_upload([FakeUpload("study.zip", archive)])
    assert isinstance(source, data.Source)
    study = data.read_study(source, lambda ahead: None)
    upload = hosting.store.get(("upload", source.digest))
    assert upload.files == ()  # the archive's bytes are let go once its entries are read
    files = {id(f.file.source): len(f.file.source.head) for f in study.stacks[0].frames}
    assert len(files) == 8
    expected = sum(files.values()) + data.PARSED_BYTES_PER_FILE * 8
    assert data.held_bytes(study) == expected == hosting.store.stats().used


def test_a_deferred_download_does_not_keep_a_volume_alive(hosting: data.Hosting) -> None:
    import gc

    source = data.keep_upload(_uploads())
    study = data.read_study(source, lambda ahead: None)
    built = data.read_volume(source, study.stacks[0], lambda ahead: None)
    download = data.while_held(lambda volume, *, scale: volume.array.size * scale, built.volume,
                               scale=2)  # fmt: skip
    assert download() == 2 * built.volume.array.size
    hosting.store.drop_group(source.digest)
    del built
    gc.collect()
    with pytest.raises(data.Gone, match="no longer held on the server"):
        download()


def test_a_sweep_forgets_gone_sessions_and_their_data(
    hosting: data.Hosting, monkeypatch: pytest.MonkeyPatch
) -> None:
    forgotten: list[set[str]] = []
    monkeypatch.setattr(data.internals, "forget_sessions", lambda ids: forgotten.append(set(ids)))
    monkeypatch.setattr(data.internals, "session_id", lambda: "tab-1")
    source = data.keep_upload(_uploads())
    data.read_study(source, lambda ahead: None)
    hosting.lock(("study", source.digest))
    assert hosting.sessions == {"tab-1"}
    assert data.sweep(hosting, {"tab-1"}) == 0 and forgotten[-1] == set()
    hosting.store.idle_seconds = 0  # the tab is closed and its data has sat idle
    used = hosting.store.stats().used
    assert data.sweep(hosting, set()) == used > 0
    assert forgotten[-1] == {"tab-1"} and hosting.sessions == set()
    assert hosting.store.stats().entries == 0 and not hosting.locks


def test_a_value_made_later_waits_behind_heavy_work_and_is_then_kept(
    hosting: data.Hosting,
) -> None:
    """The series' identifiers: made in the background, never ahead of someone's reading."""
    source = data.keep_upload(_uploads())
    made: list[str] = []
    reading = threading.Event()
    release = threading.Event()

    def read_slowly() -> None:
        with hosting.line.turn():  # another visitor's heavy work, in the line first
            reading.set()
            release.wait(10)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    reading.wait(10)
    try:
        assert data.remembered_later(source, "ids", lambda: made.append("ids") or "value") is None
        time.sleep(0.3)
        assert made == []  # behind the heavy work
    finally:
        release.set()
        reader.join(10)
    for _ in range(100):
        if data.remembered_later(source, "ids", lambda: made.append("again") or "other"):
            break
        time.sleep(0.05)
    assert data.remembered_later(source, "ids", lambda: "other") == "value"
    assert made == ["ids"]  # made once, asked for three times or more
