"""Bytes to a checked DICOM header, or the one plain sentence saying why these bytes are no image.

Tested through the reader's public functions (``read_dicom``, ``looks_like_dicom``,
``describe_non_dicom``, ``parse_dataset``) on synthetic images with one thing wrong at a time,
and on pydicom's own test files. Each refusal is an InputFileError whose message starts with the
file's name; each reason is pinned whole, numbers included.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)
from synth import TINY_PIXELS, tiny_slice, to_bytes

from dicomviz.errors import BudgetError, InputFileError
from dicomviz.io.inputs import InputFile
from dicomviz.io.parse import parse_dataset
from dicomviz.io.reading import read_dicom
from dicomviz.io.sniff import describe_non_dicom, looks_like_dicom
from dicomviz.limits import Limits


def _read(data: bytes, limits: Limits | None = None, name: str = "IM0001"):
    return read_dicom(InputFile(name, data), limits)


def _refusal(data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(InputFileError) as caught:
        _read(data, limits)
    assert str(caught.value).startswith("IM0001: "), "the file's name comes first"
    assert caught.value.name == "IM0001"
    return caught.value.reason


# --- telling DICOM from other files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (to_bytes(tiny_slice()), True),  # preamble and DICM
        (to_bytes(tiny_slice(), preamble=False), True),  # starts with the (0002,0000) meta group
        (to_bytes(tiny_slice(), preamble=False, file_meta=False), True),  # bare, from (0008,0008)
        (b"\x00\x08\x00\x16UI" + bytes(26), True),  # big-endian bare data set, group 0008
        (b"\x89PNG\r\n\x1a\n" + bytes(200), False),
        (b"\x08\x00", False),  # too short to hold one element's tag
        (b"", False),
    ],
    ids=["part10", "no-preamble", "bare", "big-endian", "png", "short", "empty"],
)
def test_looks_like_dicom(data: bytes, expected: bool) -> None:
    assert looks_like_dicom(data) is expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(300), "a PNG image, not DICOM"),
        (b"\xff\xd8\xff\xe0" + bytes(300), "a JPEG image, not DICOM"),
        (b"%PDF-1.7\n" + bytes(300), "a PDF document, not DICOM"),
        (b"\x1f\x8b\x08" + bytes(300), "a gzip archive, not DICOM"),
        (b"Patient notes\r\nexported by PACS\n", "a text file, not DICOM"),
        (
            bytes(range(1, 100)),
            "not DICOM: only 99 bytes, too short even for the 128-byte preamble and DICM "
            "marker (truncated?)",
        ),
        (bytes(range(256)) * 2, "not DICOM (no DICM marker and no DICOM header at the start)"),
    ],
    ids=["empty", "png", "jpeg", "pdf", "gzip", "text", "short", "binary"],
)
def test_describe_non_dicom_says_what_the_file_is(data: bytes, reason: str) -> None:
    assert describe_non_dicom(data) == reason
    assert _refusal(data) == reason  # and the reader gives that reason


# --- reading good files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian], ids=["explicit", "implicit"]
)
def test_native_pixels_are_located_in_the_bytes(syntax: str) -> None:
    """The pixel data's offset and length point at exactly the stored values, so a volume can
    be filled straight from the input bytes."""
    data = to_bytes(tiny_slice(transfer_syntax=syntax))
    dicom = _read(data)
    assert dicom.transfer_syntax == syntax and dicom.name == "IM0001"
    assert dicom.pixel_length == TINY_PIXELS.nbytes
    stored = data[dicom.pixel_offset : dicom.pixel_offset + dicom.pixel_length]
    np.testing.assert_array_equal(np.frombuffer(stored, "<i2").reshape(3, 4), TINY_PIXELS)
    assert (dicom.header.get("Rows"), dicom.header.get("Columns")) == (3, 4)
    assert dicom.header.get("InstanceNumber") == 3


def test_compressed_pixels_have_an_offset_but_no_length() -> None:
    dicom = _read(to_bytes(tiny_slice(transfer_syntax=RLELossless)))
    assert dicom.transfer_syntax == RLELossless
    assert dicom.pixel_length is None


def test_a_scanned_header_still_gives_the_whole_dataset_on_demand() -> None:
    dicom = _read(to_bytes(tiny_slice(ImageComments="kept for the header table")))
    full = dicom.dataset
    assert isinstance(full, Dataset)
    assert full.ImageComments == "kept for the header table"
    assert full.SeriesInstanceUID == "1.2.826.0.1.3680043.8.498.5150"


@pytest.mark.parametrize(
    "syntax",
    [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian],
    ids=["big-endian", "deflated"],
)
def test_unusual_encodings_are_read_by_pydicom(syntax: str) -> None:
    dicom = _read(to_bytes(tiny_slice(transfer_syntax=syntax)))
    assert not dicom.scanned and dicom.transfer_syntax == syntax
    np.testing.assert_array_equal(dicom.dataset.pixel_array, TINY_PIXELS)


def test_a_real_ct_file_reads() -> None:
    path = get_testdata_file("CT_small.dcm")
    dicom = read_dicom(InputFile("CT_small.dcm", Path(path).read_bytes()))
    reference = pydicom.dcmread(path)
    assert (dicom.header.get("Rows"), dicom.header.get("Columns")) == (128, 128)
    assert dicom.pixel_length == 128 * 128 * 2
    stored = dicom.data[dicom.pixel_offset : dicom.pixel_offset + dicom.pixel_length]
    assert stored == reference.PixelData


# --- refusals, each with its reason ----------------------------------------------------------


def _bare(ds: Dataset) -> bytes:
    """``ds`` without preamble or meta group, little endian explicit VR."""
    ds.file_meta = FileMetaDataset()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def _without(keyword: str, ds: Dataset) -> Dataset:
    del ds[keyword]
    return ds


def _float_pixels() -> Dataset:
    ds = _without("PixelData", tiny_slice())
    ds.FloatPixelData = np.zeros(12, np.float32).tobytes()
    return ds


def _unknown_codec() -> Dataset:
    ds = tiny_slice(transfer_syntax=RLELossless)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: nothing decodes it
    return ds


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            to_bytes(tiny_slice())[:-5],
            "file is truncated inside the pixel data (19 of 24 bytes)",
        ),
        (
            to_bytes(tiny_slice(Columns=5)),
            "pixel data is shorter than declared: 24 bytes, but Rows x Columns x Frames x "
            "bytes per pixel needs 30",
        ),
        (
            to_bytes(tiny_slice(BitsAllocated=12)),
            "(0028,0100) Bits Allocated is 12; DICOM allows 1 or 8, 16, 32, 64",
        ),
        (
            to_bytes(tiny_slice(PixelRepresentation=2)),
            "PixelRepresentation is 2, not a whole number from 0 to 1",
        ),
        (to_bytes(tiny_slice(Rows=0)), "pixel data without a valid Rows (0)"),
        (
            to_bytes(_without("PixelData", tiny_slice())),
            "CT Image has no pixel data (not an image)",
        ),
        (
            to_bytes(_float_pixels()),
            "CT Image holds floating-point pixel data, not shown yet",
        ),
        (_bare(_without("SOPClassUID", tiny_slice())), "not a DICOM object (no SOP Class UID)"),
        (
            to_bytes(_unknown_codec()),
            "pixel data compressed as MPEG2 Main Profile / Main Level, which no installed "
            "decoder reads",
        ),
        (
            to_bytes(tiny_slice(transfer_syntax=RLELossless, NumberOfFrames=3)),
            "declares 3 frames but its compressed pixel data holds 1 fragment (each frame "
            "needs one)",
        ),
    ],
    ids=[
        "truncated",
        "short-pixels",
        "bits-allocated",
        "pixel-representation",
        "no-rows",
        "no-pixels",
        "float-pixels",
        "no-sop-class",
        "no-decoder",
        "missing-fragments",
    ],
)
def test_each_unusable_file_gets_its_own_reason(data: bytes, reason: str) -> None:
    assert _refusal(data) == reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("test-SR.dcm", "Comprehensive SR has no pixel data (not an image)"),
        ("DICOMDIR", "a DICOMDIR (an index of the files on a disc), not an image"),
    ],
)
def test_real_objects_that_are_not_images(name: str, reason: str) -> None:
    assert _refusal(Path(get_testdata_file(name)).read_bytes()) == reason


def test_a_header_declaring_too_many_pixels_is_refused_before_reading_them() -> None:
    limits = Limits(volume_bytes=10)
    with pytest.raises(BudgetError) as caught:
        _read(to_bytes(tiny_slice()), limits)
    assert caught.value.reason == (
        "declares 3 x 4 pixels x 1 frames (24 bytes), over the volume bytes limit of 10 bytes "
        "(raise it with Limits(volume_bytes=...))"
    )


def test_a_deflated_file_is_bounded_before_it_is_inflated() -> None:
    data = to_bytes(tiny_slice(transfer_syntax=DeflatedExplicitVRLittleEndian))
    with pytest.raises(BudgetError) as caught:
        _read(data, Limits(volume_bytes=100))
    assert caught.value.reason == (
        "deflated data set inflates past the volume bytes limit of 100 bytes "
        "(raise it with Limits(volume_bytes=...))"
    )


# --- parse_dataset: any DICOM object, image or not -------------------------------------------


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_a_bare_dataset_gets_the_syntax_it_was_read_with(syntax: str) -> None:
    data = to_bytes(tiny_slice(transfer_syntax=syntax), preamble=False, file_meta=False)
    ds = parse_dataset(InputFile("bare", data))
    assert ds.file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(ds.pixel_array, TINY_PIXELS)  # decodable as is


def test_parse_dataset_reads_objects_that_are_not_images() -> None:
    ds = parse_dataset(InputFile("sr", Path(get_testdata_file("test-SR.dcm")).read_bytes()))
    assert ds.Modality == "SR" and "PixelData" not in ds


def test_parse_dataset_refuses_non_dicom_with_the_reason() -> None:
    with pytest.raises(InputFileError, match=r"^notes\.txt: a text file, not DICOM$"):
        parse_dataset(InputFile("notes.txt", b"exported by PACS\n"))
