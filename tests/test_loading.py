"""load(): every input is read inside its own guard, so one bad file is a Skipped record with a
reason and the rest still load; Study answers which stack to show first and finds stacks by id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from synth import make_series, make_slice_dataset, to_bytes, zip_bytes

import dicomviz
from dicomviz import loading
from dicomviz.errors import Skipped
from dicomviz.limits import Limits

CHEST = "1.2.826.0.1.3680043.8.498.9001"
SCOUT = "1.2.826.0.1.3680043.8.498.9002"


def _chest(**changes: object) -> list[tuple[str, bytes]]:
    arguments = {"slices": 6, "series_uid": CHEST, "names": "CHEST{index:02d}"}
    return make_series(**(arguments | changes))  # type: ignore[arg-type]


def _scout() -> list[tuple[str, bytes]]:
    return make_series(slices=3, series_uid=SCOUT, series_number=2, names="SCOUT{index:02d}")


def test_good_files_load_and_bad_ones_are_said_with_reasons() -> None:
    sr = Path(get_testdata_file("test-SR.dcm")).read_bytes()
    inputs = [*_chest(), ("notes.txt", b"exported by PACS\n"), ("empty", b""), ("report", sr)]
    study = dicomviz.load(inputs)
    assert [(s.series_uid, len(s.frames)) for s in study.stacks] == [(CHEST, 6)]
    assert study.skipped == (
        Skipped("notes.txt", "a text file, not DICOM"),
        Skipped("empty", "empty file"),
        Skipped("report", "Comprehensive SR has no pixel data (not an image)"),
    )
    assert study.files_read == 9


def test_inputs_in_a_zip_count_as_files_read() -> None:
    study = dicomviz.load([("study.zip", zip_bytes(_chest()))])
    assert len(study.stacks[0].frames) == 6
    # Six images, plus README.txt read and refused; the macOS junk is skipped by the archive
    # reader before any DICOM reading, and counted too.
    reasons = {item.name.rsplit("/", 1)[-1]: item.reason for item in study.skipped}
    assert reasons["README.txt"] == "a text file, not DICOM"
    assert study.files_read == 6 + len(study.skipped)


def test_a_reader_crash_on_one_file_skips_only_that_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one broad guard: an unexpected exception while reading a file becomes that file's
    skipped reason, with the exception's type and first line."""
    original = loading.frames_of

    def fragile(dicom):
        if dicom.name == "CHEST03":
            raise RuntimeError("boom\nsecond line not shown")
        return original(dicom)

    monkeypatch.setattr(loading, "frames_of", fragile)
    study = dicomviz.load(_chest())
    assert len(study.stacks[0].frames) == 5
    assert study.skipped == (Skipped("CHEST03", "could not be read as DICOM (RuntimeError: boom)"),)


def test_an_interrupt_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(dicom):
        raise KeyboardInterrupt

    monkeypatch.setattr(loading, "frames_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dicomviz.load(_chest())


def test_the_frame_budget_stops_reading_files_past_it() -> None:
    """Six one-frame files under a budget of four frames: the first four load, the last two
    are skipped saying which limit and how to raise it."""
    study = dicomviz.load(_chest(), Limits(frames=4))
    assert len(study.stacks[0].frames) == 4
    assert [item.name for item in study.skipped] == ["CHEST05", "CHEST06"]
    assert study.skipped[0].reason == (
        "not read: its 1 images would bring this load past the frames limit of 4 "
        "(raise it with Limits(frames=...))"
    )


def test_progress_is_reported_up_to_the_last_file() -> None:
    calls: list[tuple[float, str]] = []
    files = make_series(slices=20, series_uid=CHEST)
    dicomviz.load(files, progress=lambda fraction, text: calls.append((fraction, text)))
    assert calls[0] == (16 / 20, "read 16 of 20 files")
    assert calls[-1] == (1.0, "read 20 of 20 files")
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)


def test_largest_and_find() -> None:
    study = dicomviz.load([*_scout(), *_chest()])
    assert [s.series_uid for s in study.stacks] == [CHEST, SCOUT]  # series-number order
    largest = study.largest()
    assert largest is not None and largest.series_uid == CHEST
    assert study.find(SCOUT) is study.stacks[1]
    assert study.find("1.2.3.no.such.series") is None
    assert dicomviz.load([]).largest() is None


def test_find_by_the_id_of_each_part_of_a_split_series() -> None:
    """A series of two grids (a localizer's planes) is two stacks, 'UID' and 'UID#2'; the
    bare UID finds the larger."""
    axial = make_series(slices=5, series_uid=CHEST, names="AX{index}")
    coronal = [
        (
            f"COR{k}",
            to_bytes(
                make_slice_dataset(
                    np.zeros((32, 24), np.int16),
                    position=(0.0, 2.0 * k, 0.0),
                    row_cosine=(1.0, 0.0, 0.0),
                    col_cosine=(0.0, 0.0, -1.0),
                    pixel_spacing=(1.0, 1.0),
                    instance_number=10 + k,
                    series_uid=CHEST,
                )
            ),
        )
        for k in range(3)
    ]
    study = dicomviz.load([*coronal, *axial])
    assert [(s.id, len(s.frames)) for s in study.stacks] == [(CHEST, 5), (f"{CHEST}#2", 3)]
    assert study.find(f"{CHEST}#2") is study.stacks[1]
    assert study.find(CHEST) is study.stacks[0]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            EOFError("unexpected end of file"),
            "the file ends early (truncated): unexpected end of file",
        ),
        (EOFError(), "the file ends early (truncated)"),
        (
            ValueError("data truncated at byte 12"),
            "the file ends early (truncated): data truncated at byte 12",
        ),
        (MemoryError(), "too large to read into memory"),
        (KeyError("x"), "could not be read as DICOM (KeyError: 'x')"),
        (RuntimeError(""), "could not be read as DICOM (RuntimeError)"),
        (ValueError("a" * 300), f"could not be read as DICOM (ValueError: {'a' * 160})"),
    ],
    ids=["eof", "eof-bare", "truncated", "memory", "other", "no-text", "long"],
)
def test_plain_reason_turns_an_exception_into_one_sentence(exc: BaseException, reason: str) -> None:
    assert loading.plain_reason(exc) == reason


def test_the_loaded_stack_holds_the_files_values() -> None:
    """load() hands the volume builder what the files say: a round trip through both."""
    study = dicomviz.load(_chest(intercept=-1024.0, background=1000))
    volume = dicomviz.build_volume(study.stacks[0])
    assert volume.shape == (6, 32, 24)
    assert np.all(volume.array == 1000 - 1024)
