"""The hostile corpus of tests/hostile.py: every bad input is named with a plain reason, never
takes the good series down with it, and never makes the command line print a traceback;
every valid but unusual encoding loads with exactly its stored values."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import data_store
import numpy as np
import pytest
from hostile import (
    GOOD_SLICES,
    GOOD_UID,
    BadCase,
    UnusualCase,
    bad_cases,
    good_series,
    j2k_bomb,
    unusual_cases,
)
from pydicom.data import get_testdata_file

import dicomviz
from dicomviz.cli import main
from dicomviz.tables.headers import header_table

BAD = bad_cases()
UNUSUAL = unusual_cases()
GOOD = good_series()
# Cases that only break a series: on their own they are a (small) series of their own.
JOINS_GOOD = {"position-missing-on-some-slices", "duplicate-sop-instance-uid",
              "duplicate-position", "different-matrix-size"}  # fmt: skip


def _by_id(cases: list) -> dict:
    return {"argvalues": cases, "ids": [case.id for case in cases]}


def _write(folder: Path, files: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (folder / name).write_bytes(data)
    return folder


def _reasons(study: dicomviz.Study) -> dict[str, str]:
    return {item.name: item.reason for item in study.skipped}


def _check_reasons(case: BadCase, study: dicomviz.Study) -> None:
    reasons = _reasons(study)
    for suffix, words in case.reasons.items():
        found = [reason for name, reason in reasons.items() if name.endswith(suffix)]
        assert found, f"{case.id}: nothing skipped as {suffix!r}; skipped: {reasons}"
        assert all(words in reason for reason in found), f"{case.id}: {found}"


def _check_printed_reasons(case: BadCase, out: str) -> None:
    """`info` lists each skipped input as ``  name: reason``; the words must be in the reason."""
    listed = [line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("  ")]
    for suffix, words in case.reasons.items():
        found = [parts[1] for parts in listed if len(parts) == 2 and parts[0].endswith(suffix)]
        assert found and all(words in reason for reason in found), (case.id, out)


def test_the_corpus_covers_the_issue() -> None:
    """The list of issue 4, section 1, case by case."""
    ids = {case.id for case in BAD} | {case.id for case in UNUSUAL}
    wanted = {
        "empty", "random-bytes", "png-named-dcm", "jpeg-named-dcm", "pdf-named-dcm",
        "truncated-in-preamble", "truncated-in-meta-group", "truncated-in-sequence",
        "truncated-in-pixel-data", "no-preamble", "dicomdir", "structured-report", "rt-plan",
        "pixel-data-shorter-than-declared", "enormous-native", "enormous-compressed",
        "bits-1", "bits-8-unsigned", "bits-12-in-16-signed", "bits-32-signed",
        "mixed-signedness", "different-matrix-size", "position-missing-on-some-slices",
        "duplicate-sop-instance-uid", "duplicate-position", "zip-bomb",
        "zip-traversal-and-symlink", "zip-nested-too-deep", "zip-empty", "zip-name-not-utf8",
        "latin1-name", "japanese-name",
    }  # fmt: skip
    assert wanted <= ids, wanted - ids


@pytest.mark.parametrize("case", **_by_id(BAD))
def test_bad_input_is_named_and_the_good_series_still_loads(case: BadCase) -> None:
    study = dicomviz.load([*GOOD, *case.files])
    _check_reasons(case, study)
    good = study.find(GOOD_UID)
    assert good is not None and len(good.frames) == GOOD_SLICES, study.skipped
    assert {frame.file.name for frame in good.frames} == {name for name, _ in GOOD}
    volume = dicomviz.build_volume(good)
    assert volume.shape == (GOOD_SLICES, 16, 12)
    if case.warning:
        assert any(case.warning in warning for warning in good.warnings), good.warnings


@pytest.mark.parametrize("case", **_by_id([c for c in BAD if c.id not in JOINS_GOOD]))
def test_bad_input_alone_gives_its_reason_and_no_series(case: BadCase) -> None:
    study = dicomviz.load(list(case.files))
    assert not study.stacks
    _check_reasons(case, study)
    assert all(item.reason.strip() and "Traceback" not in item.reason for item in study.skipped)


@pytest.mark.parametrize("case", **_by_id(BAD))
def test_command_line_reports_bad_input_without_traceback(
    case: BadCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write(tmp_path / "upload", [*GOOD, *case.files])
    assert main(["info", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert f"{GOOD_SLICES} slices of 16 x 12" in out and "Traceback" not in err
    _check_printed_reasons(case, err)  # skipped inputs are listed on stderr
    code = main(["project", str(folder), "--series", GOOD_UID, "--plane", "coronal",
                 "--mode", "max", "-o", str(tmp_path / "view")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err
    assert np.load(tmp_path / "view.npy").shape == (GOOD_SLICES, 12)


@pytest.mark.parametrize("case", **_by_id([c for c in BAD if c.id not in JOINS_GOOD]))
def test_command_line_on_bad_input_alone_is_one_line(
    case: BadCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write(tmp_path / "upload", case.files)
    assert main(["info", str(folder)]) == 2  # nothing to show, as project below
    out, err = capsys.readouterr()
    assert "no image series found" in err and not out
    _check_printed_reasons(case, err)
    code = main(["project", str(folder), "--plane", "axial", "--mode", "max",
                 "-o", str(tmp_path / "view")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "no image series found" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", **_by_id(UNUSUAL))
def test_unusual_encodings_load_with_their_stored_values(case: UnusualCase) -> None:
    study = dicomviz.load(list(case.files))
    assert len(study.stacks) == 1 and not study.skipped, study.skipped
    volume = dicomviz.build_volume(study.stacks[0])
    assert not [w for w in volume.warnings if "decoded" in w], volume.warnings
    np.testing.assert_array_equal(volume.array.astype(np.float64), case.expected)


def test_twelve_bit_signed_values_are_sign_extended() -> None:
    """Stored 0xAFFB (junk 0xA in the 4 unused bits): 12-bit two's complement -5."""
    case = next(c for c in UNUSUAL if c.id == "bits-12-in-16-signed")
    volume = dicomviz.build_volume(dicomviz.load(list(case.files)).stacks[0])
    assert volume.array.min() < 0 and volume.array.min() >= -2048
    assert volume.array.max() <= 2047


def test_mixed_signedness_reads_each_slice_by_its_own_representation() -> None:
    case = next(c for c in UNUSUAL if c.id == "mixed-signedness")
    volume = dicomviz.build_volume(dicomviz.load(list(case.files)).stacks[0])
    assert volume.array[:, 0, 0].tolist() == [64536, -1000, 64536, -1000]


@pytest.mark.parametrize("case", **_by_id([c for c in UNUSUAL if c.patient_name]))
def test_patient_names_in_other_character_sets_show_correctly(
    case: UnusualCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = dicomviz.load(list(case.files))
    table = header_table(study.stacks[0].first_dataset())
    assert table.loc[table["keyword"] == "PatientName", "value"].tolist() == [case.patient_name]
    path = _write(tmp_path, case.files) / case.files[0][0]
    assert main(["headers", str(path), "--search", "PatientName"]) == 0
    assert case.patient_name in capsys.readouterr().out  # type: ignore[operator]


@pytest.mark.parametrize("case", **_by_id(UNUSUAL))
def test_command_line_projects_unusual_encodings(
    case: UnusualCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write(tmp_path / "upload", case.files)
    code = main(["project", str(folder), "--plane", "axial", "--mode", "max",
                 "-o", str(tmp_path / "view")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    np.testing.assert_array_equal(np.load(tmp_path / "view.npy"), case.expected.max(axis=0))


def test_folder_and_file_names_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / os.fsdecode(b"Patient \xff\xfe")
    files = [(os.fsdecode(b"IM\xe9" + name.encode()), data) for name, data in GOOD]
    _write(folder, files)
    study = dicomviz.load([tmp_path])
    assert len(study.stacks[0].frames) == GOOD_SLICES and not study.skipped
    names = [frame.name for frame in study.stacks[0].frames]
    assert all("Patient \ufffd\ufffd" in name and "IM\ufffdGOOD" in name for name in names)
    for name in names:
        name.encode("utf-8")  # printable as it is
    assert main(["info", str(tmp_path)]) == 0
    assert f"{GOOD_SLICES} slices" in capsys.readouterr().out


def test_zip_name_in_cp437_loads_under_that_name() -> None:
    case = next(c for c in UNUSUAL if c.id == "zip-name-cp437")
    study = dicomviz.load(list(case.files))
    assert study.stacks[0].frames[0].name == "names.zip/café.dcm"


def test_compressed_frame_claiming_a_huge_image_is_not_decoded() -> None:
    """The DICOM header says 32 x 32, the JPEG 2000 codestream 60000 x 60000: decoding would
    allocate gigabytes before failing, so the frame is refused from its header."""
    study = dicomviz.load([("bomb.dcm", j2k_bomb())])
    tracemalloc.start()
    try:
        volume = dicomviz.build_volume(study.stacks[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2
    assert any("declares 60000 x 60000 pixels" in warning for warning in volume.warnings)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("MR_truncated.dcm", "truncated inside the pixel data"),
        ("rtplan_truncated.dcm", "truncated: it ends inside (300A,00B0) Beam Sequence"),
        ("emri_small_jpeg_2k_lossless_too_short.dcm", "truncated inside its compressed pixel"),
    ],
)
def test_real_truncated_files_are_called_truncated(name: str, words: str) -> None:
    """Not "no pixel data", which is what a file cut short looks like to pydicom."""
    stored = Path(os.path.dirname(data_store.__file__)) / "data" / name
    study = dicomviz.load([stored if stored.exists() else get_testdata_file(name)])
    assert not study.stacks and words in study.skipped[0].reason, study.skipped
