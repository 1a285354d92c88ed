"""One flat record per frame, whatever the file layout: single-frame images, classic multi-frame
files (one position, frames along the normal) and enhanced multi-frame files (functional groups).

Expected geometry is worked out here from the DICOM definitions (normal = cross(row cosines,
column cosines); a classic multi-frame's frames step SpacingBetweenSlices along it), and enhanced
files are read back with pydicom to compare each frame with its own functional group.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from synth import make_series, make_slice_dataset, to_bytes

from dicomviz.io.inputs import InputFile
from dicomviz.io.reading import read_dicom
from dicomviz.sample.writer import (
    image_dataset,
    part10_bytes,
    set_pixel_data,
    set_pixel_module,
    uid,
)
from dicomviz.series.frames import Frame, frames_of

CORONAL = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))  # normal = x cross -z = +y (posterior)


def _frames(data: bytes, name: str = "IM0001") -> list[Frame]:
    return frames_of(read_dicom(InputFile(name, data)))


def _slice(**changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "position": (-10.0, 20.0, 30.5),
        "row_cosine": CORONAL[0],
        "col_cosine": CORONAL[1],
        "pixel_spacing": (0.5, 0.75),
        "instance_number": 4,
        "series_uid": "1.2.826.0.1.3680043.8.498.6001",
        "slope": 2.0,
        "intercept": -1024.0,
        "slice_thickness": 1.5,
    }
    pixels = np.zeros((3, 4), np.int16)
    return to_bytes(make_slice_dataset(pixels, **(arguments | changes)))


def test_a_single_frame_image_is_one_frame_with_its_own_values() -> None:
    (frame,) = _frames(_slice(WindowCenter=["40", "-600"], WindowWidth=["400", "1500"]))
    assert (frame.index, frame.rows, frame.columns) == (0, 3, 4)
    assert frame.position == (-10.0, 20.0, 30.5)
    assert frame.orientation == (*CORONAL[0], *CORONAL[1])
    assert frame.orientation_source == "ImageOrientationPatient"
    assert frame.pixel_spacing == (0.5, 0.75)
    assert (frame.slope, frame.intercept) == (2.0, -1024.0)
    assert (frame.instance_number, frame.thickness) == (4, 1.5)
    assert frame.window == (40.0, 400.0)  # the first of the pairs the file suggests
    assert frame.name == "IM0001" and frame.tile is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"RescaleSlope": None, "RescaleIntercept": None}, (1.0, 0.0)),
        ({"RescaleSlope": "nan"}, (1.0, -1024.0)),
    ],
    ids=["absent", "not-finite"],
)
def test_rescale_defaults_to_identity(changes: dict, expected: tuple[float, float]) -> None:
    (frame,) = _frames(_slice(**changes))
    assert (frame.slope, frame.intercept) == expected


@pytest.mark.parametrize(
    ("changes", "window"),
    [
        ({"WindowCenter": "40", "WindowWidth": "0"}, None),  # a width of 0 shows nothing
        ({"WindowCenter": "40"}, None),
        ({"WindowCenter": "-50", "WindowWidth": "350"}, (-50.0, 350.0)),
    ],
)
def test_only_a_usable_window_is_kept(changes: dict, window: tuple | None) -> None:
    (frame,) = _frames(_slice(**changes))
    assert frame.window == window


def test_sloppy_cosines_are_normalised_and_impossible_ones_refused() -> None:
    (scaled,) = _frames(_slice(ImageOrientationPatient=["2", "0", "0", "0", "0", "-3"]))
    assert scaled.orientation == (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    # Cosines 53 degrees apart are no image plane: the orientation is unknown, not guessed.
    (skewed,) = _frames(_slice(ImageOrientationPatient=["1", "0", "0", "0.6", "0.8", "0"]))
    assert (skewed.orientation, skewed.orientation_source) == (None, "assumed")


@pytest.mark.parametrize(
    ("letters", "orientation"),
    [
        (["L", "P"], (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)),  # axial: rows run left, columns back
        (["L", "F"], (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)),  # coronal
        (["LA", "F"], (np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0, 0.0, -1.0)),  # oblique letters
    ],
)
def test_patient_orientation_letters_stand_in_for_missing_cosines(
    letters: list[str], orientation: tuple[float, ...]
) -> None:
    (frame,) = _frames(_slice(ImageOrientationPatient=None, PatientOrientation=letters))
    np.testing.assert_allclose(frame.orientation, orientation)
    assert frame.orientation_source == "PatientOrientation"


def test_without_any_orientation_it_is_assumed() -> None:
    (frame,) = _frames(_slice(ImageOrientationPatient=None, PatientOrientation=["X", "Y"]))
    assert (frame.orientation, frame.orientation_source) == (None, "assumed")


@pytest.mark.parametrize(
    ("changes", "spacing"),
    [
        ({"PixelSpacing": None, "ImagerPixelSpacing": ["0.3", "0.4"]}, (0.3, 0.4)),
        ({"PixelSpacing": ["0", "0"]}, None),
        ({"PixelSpacing": None}, None),
    ],
    ids=["imager", "zero", "absent"],
)
def test_pixel_spacing_falls_back_or_is_unknown(changes: dict, spacing: tuple | None) -> None:
    (frame,) = _frames(_slice(**changes))
    assert frame.pixel_spacing == spacing


def test_a_frame_carries_what_tells_its_volume_apart() -> None:
    (frame,) = _frames(_slice(EchoTime="92", EchoNumbers="2", ImageType=["ORIGINAL", "M"]))
    assert (frame.variant.echo_time, frame.variant.echo_number) == (92.0, 2)
    assert frame.variant.image_type == ("ORIGINAL", "M")
    assert frame.variant.order == (4, 0)  # (InstanceNumber, frame)


# --- classic multi-frame --------------------------------------------------------------------


def _classic(frames: int, **attributes: Any) -> bytes:
    """A classic MR multi-frame file: one position, frames along the normal."""
    pixels = np.arange(frames * 12, dtype=np.int16).reshape(frames, 3, 4)
    ds = image_dataset(
        sop_class_uid=MRImageStorage,
        sop_instance_uid=uid("test_frames", "classic", frames),
        study_uid=uid("test_frames", "study"),
        series_uid=uid("test_frames", "series"),
        frame_of_reference_uid=uid("test_frames", "frame of reference"),
        modality="MR",
        instance_number=1,
        patient_name="Synthetic^Phantom",
        patient_id="SYNTH0001",
    )
    ds.NumberOfFrames = frames
    ds.ImageOrientationPatient = [*CORONAL[0], *CORONAL[1]]
    ds.ImagePositionPatient = [-10.0, 20.0, 30.5]
    ds.PixelSpacing = [0.5, 0.75]
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    set_pixel_module(ds, pixels.shape, pixels.dtype)
    set_pixel_data(ds, pixels, ExplicitVRLittleEndian)
    return part10_bytes(ds)


def test_classic_multiframe_frames_step_along_the_normal() -> None:
    frames = _frames(_classic(4, SpacingBetweenSlices=2.5), name="cine.dcm")
    assert [f.index for f in frames] == [0, 1, 2, 3]
    normal = np.array([0.0, 1.0, 0.0])
    for k, frame in enumerate(frames):
        np.testing.assert_allclose(frame.position, np.array([-10.0, 20.0, 30.5]) + 2.5 * k * normal)
    assert frames[2].name == "cine.dcm [frame 3]"


def test_classic_multiframe_without_a_step_has_no_positions() -> None:
    """Without SpacingBetweenSlices the frames are not a spatial stack (a cine loop, say)."""
    frames = _frames(_classic(3))
    assert [f.position for f in frames] == [None, None, None]


# --- enhanced multi-frame -------------------------------------------------------------------


def _enhanced_groups(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_enhanced_frames_take_their_own_functional_groups() -> None:
    ((_, data),) = make_series(
        enhanced=True, slices=5, shuffle_seed=4, pixel_spacing=(0.7, 0.9), slice_thickness=3.0
    )
    ds = _enhanced_groups(data)
    for i, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        item.PixelValueTransformationSequence[0].RescaleIntercept = -10 * i
    # Frame 3 alone says its own pixel size: the per-frame group replaces the shared one
    # (a functional group is taken whole from one place, PS3.3 C.7.6.16).
    measures = Dataset()
    measures.PixelSpacing = [0.35, 0.45]
    measures.SliceThickness = 3.0
    ds.PerFrameFunctionalGroupsSequence[3].PixelMeasuresSequence = DicomSequence([measures])
    frames = _frames(to_bytes(ds))
    assert len(frames) == 5
    for i, (frame, item) in enumerate(
        zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True)
    ):
        expected = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        assert frame.position == tuple(expected)
        assert (frame.index, frame.slope, frame.intercept) == (i, 1.0, -10.0 * i)
        assert frame.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        assert frame.thickness == 3.0
        assert frame.pixel_spacing == ((0.35, 0.45) if i == 3 else (0.7, 0.9))
        assert frame.variant.stack_id == "1"


def test_enhanced_positions_are_not_those_of_file_order() -> None:
    """Stored shuffled: the frames keep stored order, each with its own position."""
    ((_, data),) = make_series(enhanced=True, slices=6, shuffle_seed=2)
    z = [f.position[2] for f in _frames(data)]
    assert sorted(z) == [-20.0, -18.0, -16.0, -14.0, -12.0, -10.0]
    assert z != sorted(z)
