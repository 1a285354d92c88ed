"""One header record at the input boundary: both readers give it, the engine reads only it.

The record's fields are the one list of keywords (the scanner's list is derived from it);
pydicom's conversion errors become the file's InputFileError where the file is read; the whole
Dataset is fetched only for what the record does not hold (functional groups, mosaics,
palettes, header tables), and never while a plain series is loaded and built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless
from synth import make_series, tiny_slice, to_bytes

import dicomviz
from dicomviz.errors import InputFileError, describe
from dicomviz.io import reading, scan
from dicomviz.io.header import (
    DATASET_KEYWORDS,
    KEYWORDS,
    META_KEYWORDS,
    HeaderRecord,
    number_of_frames,
    words,
)
from dicomviz.io.inputs import InputFile
from dicomviz.io.tags import PIXEL_DATA, as_read


def _read(data: bytes) -> reading.DicomFile:
    return reading.read_dicom(InputFile("IM0001", data))


def _parsed(data: bytes, monkeypatch: pytest.MonkeyPatch) -> reading.DicomFile:
    def refuse(head: bytes, size: int) -> None:
        raise scan.Unsupported("switched off for this test")

    with monkeypatch.context() as patch:
        patch.setattr(reading, "scan", refuse)
        return _read(data)


# --- one list of keywords ---------------------------------------------------------------------


def test_the_fields_are_dicom_keywords_in_tag_order() -> None:
    tags = [tag_for_keyword(keyword) for keyword in KEYWORDS]
    assert None not in tags and tags == sorted(tags)  # type: ignore[type-var]
    assert tuple(field.name for field in dataclasses.fields(HeaderRecord)) == KEYWORDS
    assert set(META_KEYWORDS) == {"MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"}
    assert tuple(k for k in KEYWORDS if k not in META_KEYWORDS) == DATASET_KEYWORDS


def test_the_scanner_collects_exactly_the_record_s_data_set_keywords() -> None:
    assert sorted(keyword for keyword, _vr in scan._WANTED.values()) == sorted(DATASET_KEYWORDS)
    assert {as_read(tag_for_keyword(k)) for k in DATASET_KEYWORDS} == set(scan._WANTED)
    assert all(vr == dictionary_VR(tag_for_keyword(k)) for k, vr in scan._WANTED.values())


def test_get_reads_a_field_and_refuses_what_the_record_does_not_hold() -> None:
    record = HeaderRecord(Rows=3, Modality="CT")
    assert record.get("Rows") == 3 and record.get("Columns") is None
    assert record.get("Columns", 7) == 7
    with pytest.raises(KeyError, match="PatientName is not in the header record"):
        record.get("PatientName")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.Rows = 4  # type: ignore[misc]


def test_a_record_of_converted_values_equals_one_built_field_by_field() -> None:
    values = {"Rows": 3, "PixelSpacing": [0.5, 0.75], "Modality": "MR"}
    assert HeaderRecord.from_values(values) == HeaderRecord(**values)
    with pytest.raises(TypeError, match="not header record fields: \\['PatientName'\\]"):
        HeaderRecord.from_values({"Rows": 3, "PatientName": "Doe^Jane"})


@pytest.mark.parametrize(("value", "frames"), [(None, 1), (5, 5), (0, 1), ("abc", 1), ([2, 3], 1)])
def test_number_of_frames_is_one_unless_the_file_says_more(value: Any, frames: int) -> None:
    assert number_of_frames(HeaderRecord(NumberOfFrames=value)) == frames


def test_words_of_a_code_string() -> None:
    assert words("ORIGINAL\\PRIMARY\\ mosaic ") == ("ORIGINAL", "PRIMARY", "MOSAIC")
    assert words(["DERIVED", "secondary"]) == ("DERIVED", "SECONDARY")
    assert words(None) == () and words(b"MOSAIC") == () and words(3) == ()


# --- both readers, one record -------------------------------------------------------------------


@pytest.mark.parametrize(
    "syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless],
    ids=["explicit", "implicit", "rle"],
)
def test_the_scanner_and_pydicom_give_the_same_record(
    syntax: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = to_bytes(tiny_slice(transfer_syntax=syntax, ImageComments="b=1000", EchoTime=12.5))
    scanned, parsed = _read(data), _parsed(data, monkeypatch)
    assert scanned.scanned and not parsed.scanned
    assert scanned.header == parsed.header
    assert scanned.header.ImagePositionPatient == [1.0, 2.0, 3.0]
    assert (
        scanned.header.MediaStorageSOPClassUID == parsed.dataset.file_meta.MediaStorageSOPClassUID
    )
    assert (scanned.transfer_syntax, scanned.little_endian) == (syntax, True)
    assert (parsed.transfer_syntax, parsed.little_endian) == (syntax, True)


def test_a_big_endian_file_says_so() -> None:
    dicom = _read(to_bytes(tiny_slice(transfer_syntax=pydicom.uid.ExplicitVRBigEndian)))
    assert not dicom.scanned and not dicom.little_endian
    assert dicom.header.Rows == 3 and dicom.header.PixelSpacing == [0.5, 0.75]


# --- conversion errors at the boundary ------------------------------------------------------


def test_a_value_pydicom_cannot_convert_is_the_file_s_reason() -> None:
    """An FD value of 4 bytes (pydicom keeps malformed text as text, but cannot unpack this):
    the file is skipped with the element named, not with a parser's exception later."""
    data = to_bytes(tiny_slice(DiffusionBValue=1000.0))
    at = data.index(b"\x18\x00\x87\x90FD\x08\x00")  # (0018,9087) FD, 8 bytes
    data = data[: at + 6] + b"\x04\x00" + data[at + 8 : at + 12] + data[at + 16 :]
    with pytest.raises(InputFileError) as caught:
        _read(data)
    assert caught.value.name == "IM0001"
    assert caught.value.reason.startswith(
        "(0018,9087) Diffusion b-value cannot be read (Expected total bytes"
    )
    study = dicomviz.load([("IM0001", data)])
    assert [s.reason for s in study.skipped] == [caught.value.reason] and not study.stacks


def test_from_dataset_names_the_element() -> None:
    ds = tiny_slice()
    tag = pydicom.tag.Tag(0x00280010)
    ds[tag] = pydicom.dataelem.RawDataElement(tag, "US", 3, b"abc", 0, False, True)
    with pytest.raises(InputFileError, match=r"^f\.dcm: \(0028,0010\) Rows cannot be read \("):
        HeaderRecord.from_dataset("f.dcm", ds)


# --- what is fetched from the whole Dataset -----------------------------------------------------


def test_a_plain_series_is_loaded_and_built_without_the_whole_dataset() -> None:
    study = dicomviz.load(make_series(slices=4, intercept=-1024))
    stack = study.stacks[0]
    dicomviz.build_volume(stack)
    assert all(f.file.scanned and "dataset" not in f.file.__dict__ for f in stack.frames)
    assert isinstance(stack.header, HeaderRecord) and stack.modality == "CT"
    whole = stack.first_dataset()
    assert isinstance(whole, Dataset) and whole.SeriesDescription == stack.description
    assert PIXEL_DATA in whole


def test_an_enhanced_file_reads_its_functional_groups_from_its_dataset() -> None:
    study = dicomviz.load(make_series(slices=5, enhanced=True))
    (stack,) = study.stacks
    dicom = stack.frames[0].file
    assert dicom.functional_groups and not dicom.scanned
    assert dicom.dataset is dicom.parsed  # parsed once, while it was read
    assert len(stack.frames) == 5 and len({f.position for f in stack.frames}) == 5


@pytest.mark.parametrize("compressed", [False, True], ids=["native", "rle"])
def test_a_palette_is_decoded_with_its_table_from_the_dataset(compressed: bool) -> None:
    """The palette is not in the record: the decoder gets it from the whole Dataset, with
    the file's VRs, whether the frame is decoded from the file or from a small data set."""
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("examples_palette.dcm"))
    expected = pydicom.pixels.apply_color_lut(ds.pixel_array, ds)[..., :3].astype(np.float32)
    if compressed:
        ds.compress(RLELossless)
    raw = pydicom.filebase.DicomBytesIO()
    ds.save_as(raw, enforce_file_format=True)
    study = dicomviz.load([("palette.dcm", raw.getvalue())])
    volume = dicomviz.build_volume(study.stacks[0])
    luma = expected @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(volume.array[0], luma, rtol=1e-5)


# --- one way to quote an exception ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "limit", "expected"),
    [
        (ValueError("  first line\nsecond"), 160, "first line"),
        (ValueError("x" * 200), 120, "x" * 120),
        (RuntimeError(""), 160, "RuntimeError"),
        (KeyError("Rows"), 160, "'Rows'"),
    ],
)
def test_describe_quotes_one_line(exc: BaseException, limit: int, expected: str) -> None:
    assert describe(exc, limit) == expected
