"""The one writer of synthetic DICOM (dicomviz.sample.writer) and the three generators on it.

Files are read back with pydicom, so nothing here trusts the writer's own bookkeeping.
"""

from __future__ import annotations

import doctest
import importlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

from dicomviz.sample.phantom import sample_series
from dicomviz.sample.writer import (
    IMPLEMENTATION_CLASS_UID,
    image_dataset,
    part10_bytes,
    set_pixel_data,
    set_pixel_module,
    uid,
)

UID_SYNTAX = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")  # PS3.5 9.1


def _identity(**changes: object) -> dict:
    return {
        "sop_class_uid": MRImageStorage,
        "sop_instance_uid": uid("test", "instance"),
        "study_uid": uid("test", "study"),
        "series_uid": uid("test", "series"),
        "frame_of_reference_uid": uid("test", "frame of reference"),
        "modality": "MR",
        "instance_number": 7,
        "patient_name": "ROE^RICHARD",
        "patient_id": "TEST-7",
        **changes,
    }


def _file(pixels: np.ndarray, syntax: str = ExplicitVRLittleEndian, **changes: object) -> bytes:
    ds = image_dataset(**_identity(**changes))
    if pixels.ndim == 3:
        ds.NumberOfFrames = len(pixels)
    set_pixel_module(ds, pixels.shape, pixels.dtype)
    set_pixel_data(ds, pixels, syntax)
    return part10_bytes(ds, version_name="TEST_WRITER")


def test_uid_depends_only_on_its_parts_and_is_a_valid_uid() -> None:
    made = uid("dicomviz", "series", 3)
    assert made == uid("dicomviz", "series", 3)
    assert len({made, uid("dicomviz", "series", 4), uid("dicomviz", "study", 3)}) == 3
    for value in (made, uid(""), uid("x" * 500), IMPLEMENTATION_CLASS_UID):
        assert value.startswith("2.25.") and UID_SYNTAX.match(value), value
        assert len(value) <= 64, value
    # The implementation UID is the one the sample phantom always carried.
    assert uid("dicomviz synthetic chest phantom", "implementation") == IMPLEMENTATION_CLASS_UID


def test_a_written_image_reads_back_with_every_common_attribute() -> None:
    pixels = (np.arange(12, dtype=np.int16) - 6).reshape(3, 4)
    data = _file(pixels, series_number=5, series_description="Test", manufacturer="ACME")
    assert data[:128] == bytes(128) and data[128:132] == b"DICM"
    ds = pydicom.dcmread(io.BytesIO(data))
    expected = _identity()
    assert ds.SOPClassUID == MRImageStorage and ds.Modality == "MR"
    assert ds.SOPInstanceUID == expected["sop_instance_uid"]
    assert ds.StudyInstanceUID == expected["study_uid"]
    assert ds.SeriesInstanceUID == expected["series_uid"]
    assert ds.FrameOfReferenceUID == expected["frame_of_reference_uid"]
    assert (ds.InstanceNumber, ds.SeriesNumber, ds.StudyID) == (7, 5, "1")
    assert (str(ds.PatientName), ds.PatientID, ds.PatientPosition) == (
        "ROE^RICHARD",
        "TEST-7",
        "HFS",
    )
    assert (ds.StudyDate, ds.StudyTime) == ("20240101", "120000")
    assert (ds.SeriesDescription, ds.Manufacturer) == ("Test", "ACME")
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (3, 4, 1)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 16, 15, 1)
    meta = ds.file_meta
    assert meta.MediaStorageSOPClassUID == MRImageStorage
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.ImplementationVersionName == "TEST_WRITER"
    np.testing.assert_array_equal(ds.pixel_array, pixels)


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless]
)
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8])
def test_pixels_survive_every_syntax_and_type(syntax: str, dtype: type) -> None:
    info = np.iinfo(dtype)
    pixels = np.linspace(info.min, info.max, 2 * 5 * 6).astype(dtype).reshape(2, 5, 6)
    ds = pydicom.dcmread(io.BytesIO(_file(pixels, syntax)))
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert (ds.BitsAllocated, ds.PixelRepresentation) == (info.bits, int(info.min < 0))
    np.testing.assert_array_equal(ds.pixel_array, pixels)


def test_same_arguments_give_the_same_bytes() -> None:
    pixels = np.arange(20, dtype=np.uint16).reshape(4, 5)
    assert _file(pixels) == _file(pixels)
    assert _file(pixels) != _file(pixels, instance_number=8)


def test_file_meta_already_set_is_kept() -> None:
    """A data set read back from someone else's file keeps its implementation and SOP
    instance in the meta: only what is missing is filled in."""
    ds = pydicom.dcmread(io.BytesIO(_file(np.zeros((2, 2), np.int16))))
    ds.file_meta.ImplementationVersionName = "OTHER_WRITER"
    ds.PatientID = "CHANGED"
    again = pydicom.dcmread(io.BytesIO(part10_bytes(ds, version_name="IGNORED")))
    assert again.file_meta.ImplementationVersionName == "OTHER_WRITER"
    assert again.PatientID == "CHANGED"


def test_pixel_module_refuses_what_it_cannot_describe() -> None:
    with pytest.raises(ValueError, match="pixels must be integers, not float32"):
        set_pixel_module(image_dataset(**_identity()), (2, 2), np.float32)


def _bench_ctdata():
    bench = str(Path(__file__).resolve().parents[1] / "bench")
    sys.path.insert(0, bench)
    try:
        return importlib.import_module("ctdata")
    finally:
        sys.path.remove(bench)


def test_the_three_generators_write_through_the_writer(tmp_path: Path) -> None:
    """Sample, test series and benchmark data: UIDs made by ``uid`` with each generator's own
    first part, dicomviz's implementation UID, and each generator's version name."""
    from synth import make_series

    phantom = pydicom.dcmread(io.BytesIO(sample_series(slices=2, size=16)[0][1]))
    assert phantom.StudyInstanceUID == uid("dicomviz synthetic chest phantom", "study")
    test_series = pydicom.dcmread(io.BytesIO(make_series(slices=2)[0][1]))
    assert test_series.StudyInstanceUID == uid("dicomviz.synth", "study")
    ctdata = _bench_ctdata()
    ctdata._write_slice((ctdata.SeriesSpec("unc", 2), 0, str(tmp_path)))
    (path,) = tmp_path.glob("*.dcm")
    bench = pydicom.dcmread(path)
    assert bench.StudyInstanceUID == uid("dicomviz.bench", "study", ctdata.VERSION)
    names = {"DICOMVIZ_SAMPLE": phantom, "DICOMVIZ_SYNTH": test_series, "DICOMVIZ_BENCH": bench}
    for name, ds in names.items():
        assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID, name
        assert ds.file_meta.ImplementationVersionName == name
        assert ds.SOPClassUID == CTImageStorage and ds.PhotometricInterpretation == "MONOCHROME2"


def test_the_docstring_examples_run() -> None:
    from dicomviz.sample import writer

    result = doctest.testmod(writer)
    assert result.attempted > 0 and result.failed == 0
