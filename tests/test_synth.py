"""The synthetic series generator writes what its geometry formula says.

Expected positions here are recomputed from the formula in the module docstring of ``synth``,
and the files are read back with pydicom and stacked by dot(ImagePositionPatient, normal), so
these tests do not trust the generator's own bookkeeping.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_encoder
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
)
from synth import (
    Marker,
    make_series,
    normal_of,
    slice_positions,
    tiny_slice,
    to_bytes,
    voxel_of,
    zip_bytes,
)


def _rotation(z_degrees: float, x_degrees: float) -> np.ndarray:
    a, b = np.radians(z_degrees), np.radians(x_degrees)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


_OBLIQUE = _rotation(25.0, 35.0)
ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "oblique": (tuple(_OBLIQUE[:, 0].tolist()), tuple(_OBLIQUE[:, 1].tolist())),
}
SHAPE = (12, 20, 16)  # (slices, rows, columns): all different, so a transpose shows


def _geometry(orientation: str) -> dict[str, Any]:
    row, col = ORIENTATIONS[orientation]
    return {
        "row_cosine": row,
        "col_cosine": col,
        "pixel_spacing": (0.7, 0.9),
        "slice_spacing": 2.5,
        "origin": (-5.5, 10.25, 30.0),
    }


def _centre(geometry: dict[str, Any], k: float, r: float, c: float) -> np.ndarray:
    """The formula: where voxel (k, r, c) sits in patient space, in mm."""
    row = np.asarray(geometry["row_cosine"])
    col = np.asarray(geometry["col_cosine"])
    normal = np.cross(row, col)
    ps_rows, ps_cols = geometry["pixel_spacing"]
    return (
        np.asarray(geometry["origin"])
        + k * geometry["slice_spacing"] * normal
        + c * ps_cols * row
        + r * ps_rows * col
    )


def _series(orientation: str, **kwargs: Any) -> list[tuple[str, bytes]]:
    slices, rows, columns = SHAPE
    return make_series(
        **_geometry(orientation), slices=slices, rows=rows, columns=columns, **kwargs
    )


def _read(files: list[tuple[str, bytes]]) -> list[Dataset]:
    return [pydicom.dcmread(io.BytesIO(data)) for _, data in files]


def _normal(ds: Dataset) -> np.ndarray:
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    return np.cross(iop[:3], iop[3:])


def _stack(datasets: list[Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """Stored volume (slice, row, col) and positions, sorted by dot(IPP, normal)."""
    normal = _normal(datasets[0])

    def distance(ds: Dataset) -> float:
        return float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal)

    ordered = sorted(datasets, key=distance)
    volume = np.stack([ds.pixel_array for ds in ordered])
    positions = np.array([ds.ImagePositionPatient for ds in ordered], dtype=float)
    return volume, positions


def _frame_positions(ds: Dataset) -> np.ndarray:
    return np.array(
        [
            item.PlanePositionSequence[0].ImagePositionPatient
            for item in ds.PerFrameFunctionalGroupsSequence
        ],
        dtype=float,
    )


# --- files and headers ----------------------------------------------------------------------


def test_default_series_parses_with_the_documented_header() -> None:
    files = make_series()
    assert [name for name, _ in files] == [f"IM{i:04d}" for i in range(1, 21)]
    datasets = _read(files)
    for (_, data), ds in zip(files, datasets, strict=True):
        assert data[128:132] == b"DICM"
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == CTImageStorage
        assert ds.Modality == "CT"
        assert (ds.Rows, ds.Columns) == (32, 24)
        assert [ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation] == [
            16,
            16,
            15,
            1,
        ]
        assert ds.SamplesPerPixel == 1
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.PixelSpacing == [1.0, 1.0]
        assert ds.SliceThickness == 2.0
        assert ds.ImageOrientationPatient == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        assert (ds.RescaleSlope, ds.RescaleIntercept) == (1.0, 0.0)
        assert ds.SeriesDescription
        assert ds.pixel_array.shape == (32, 24)
        assert ds.pixel_array.dtype == np.int16
    assert [ds.InstanceNumber for ds in datasets] == list(range(1, 21))
    for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert len({ds[keyword].value for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == 20


def test_same_call_gives_same_bytes_and_other_calls_other_series() -> None:
    assert make_series(markers=[Marker((0.0, 0.0, 0.0), 7)]) == make_series(
        markers=[Marker((0.0, 0.0, 0.0), 7)]
    )
    assert make_series(enhanced=True, shuffle_seed=3) == make_series(enhanced=True, shuffle_seed=3)
    uids = {
        _read(files[:1])[0].SeriesInstanceUID
        for files in (make_series(), make_series(slice_spacing=3.0), make_series(enhanced=True))
    }
    assert len(uids) == 3
    (ds,) = _read(make_series(series_uid="1.2.3.4", slices=1))
    assert ds.SeriesInstanceUID == "1.2.3.4"


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_positions_follow_the_formula(orientation: str) -> None:
    geometry = _geometry(orientation)
    datasets = _read(_series(orientation))
    expected_normal = np.cross(geometry["row_cosine"], geometry["col_cosine"])
    for k, ds in enumerate(datasets):  # written in spatial order by default
        np.testing.assert_allclose(ds.ImagePositionPatient, _centre(geometry, k, 0, 0), atol=1e-9)
        np.testing.assert_allclose(
            ds.ImageOrientationPatient,
            [*geometry["row_cosine"], *geometry["col_cosine"]],
            atol=1e-13,
        )
        np.testing.assert_allclose(_normal(ds), expected_normal, atol=1e-13)
        assert ds.PixelSpacing == [0.7, 0.9]
        assert ds.SliceThickness == 2.5
    np.testing.assert_allclose(
        normal_of(geometry["row_cosine"], geometry["col_cosine"]), expected_normal
    )
    helper = slice_positions(
        row_cosine=geometry["row_cosine"],
        col_cosine=geometry["col_cosine"],
        slices=SHAPE[0],
        slice_spacing=geometry["slice_spacing"],
        origin=geometry["origin"],
    )
    np.testing.assert_allclose(helper, [_centre(geometry, k, 0, 0) for k in range(SHAPE[0])])


def test_reverse_and_shuffle_change_file_order_but_not_positions() -> None:
    plain, backwards, shuffled = (
        _read(_series("oblique", **kwargs))
        for kwargs in ({}, {"reverse": True}, {"shuffle_seed": 7})
    )

    def positions(datasets: list[Dataset]) -> list[tuple[float, ...]]:
        return [tuple(ds.ImagePositionPatient) for ds in datasets]

    assert positions(backwards) == positions(plain)[::-1]
    assert positions(shuffled) != positions(plain)
    assert sorted(positions(shuffled)) == sorted(positions(plain))
    numbers = [ds.InstanceNumber for ds in shuffled]
    assert sorted(numbers) == list(range(1, SHAPE[0] + 1))
    assert numbers != list(range(1, SHAPE[0] + 1))
    normal = _normal(shuffled[0])
    by_position = [
        ds.InstanceNumber
        for ds in sorted(shuffled, key=lambda ds: np.asarray(ds.ImagePositionPatient) @ normal)
    ]
    assert by_position not in (sorted(numbers), sorted(numbers)[::-1])
    assert make_series(shuffle_seed=7)[0][0] == "IM0001"  # names count files, not slices


# --- markers --------------------------------------------------------------------------------


def _markers(geometry: dict[str, Any]) -> dict[tuple[int, int, int], Marker]:
    """Markers near voxel centres, off by less than half a voxel, keyed by their voxel."""
    slices, rows, columns = SHAPE
    voxels = [(0, 0, 0), (slices - 1, rows - 1, columns - 1), (5, 3, 11), (2, 17, 1)]
    return {
        (k, r, c): Marker(tuple(_centre(geometry, k + 0.3, r - 0.4, c + 0.45).tolist()), 100 + i)
        for i, (k, r, c) in enumerate(voxels)
    }


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("order", [{}, {"reverse": True}, {"shuffle_seed": 11}])
def test_marker_is_found_where_voxel_of_predicts(orientation: str, order: dict[str, Any]) -> None:
    geometry = _geometry(orientation)
    markers = _markers(geometry)
    datasets = _read(_series(orientation, markers=list(markers.values()), background=-5, **order))
    volume, positions = _stack(datasets)
    assert volume.shape == SHAPE
    assert np.count_nonzero(volume != -5) == len(markers)
    row = np.asarray(geometry["row_cosine"])
    col = np.asarray(geometry["col_cosine"])
    ps_rows, ps_cols = geometry["pixel_spacing"]
    for voxel, marker in markers.items():
        assert voxel_of(marker.position, **geometry) == voxel
        assert volume[voxel] == marker.value
        # The voxel's centre, from the header it was read with, is within half a voxel.
        k, r, c = voxel
        centre = positions[k] + c * ps_cols * row + r * ps_rows * col
        offset = np.asarray(marker.position) - centre
        assert abs(offset @ row) <= ps_cols / 2
        assert abs(offset @ col) <= ps_rows / 2
        assert abs(offset @ _normal(datasets[0])) <= geometry["slice_spacing"] / 2


def test_marker_checks() -> None:
    geometry = _geometry("axial")
    _, rows, columns = SHAPE
    just_inside = Marker(tuple(_centre(geometry, -0.49, rows - 0.51, 0).tolist()), 1)
    volume, _ = _stack(_read(_series("axial", markers=[just_inside])))
    assert volume[0, rows - 1, 0] == 1
    outside = Marker(tuple(_centre(geometry, 0, 0, columns - 0.4).tolist()), 1)
    with pytest.raises(ValueError, match="outside"):
        _series("axial", markers=[outside])
    with pytest.raises(ValueError, match="does not fit"):
        _series("axial", markers=[Marker(tuple(_centre(geometry, 1, 1, 1).tolist()), 40000)])
    same = [Marker(tuple(_centre(geometry, 1, 1, 1 + d).tolist()), 1) for d in (0.0, 0.2)]
    with pytest.raises(ValueError, match="shares voxel"):
        _series("axial", markers=same)


def test_tilt_shears_positions_and_markers_follow() -> None:
    geometry = _geometry("axial")
    tilt = (0.0, 0.4, 0.0)  # gantry tilt: each slice moves 0.4 mm posterior
    voxel = (9, 4, 7)
    shift = 9 * np.asarray(tilt)
    marker = Marker(tuple((_centre(geometry, *voxel) + shift).tolist()), 55)
    files = _series("axial", tilt_mm_per_slice=tilt, markers=[marker])
    volume, positions = _stack(_read(files))
    expected = [_centre(geometry, k, 0, 0) + k * np.asarray(tilt) for k in range(SHAPE[0])]
    np.testing.assert_allclose(positions, expected, atol=1e-9)
    assert voxel_of(marker.position, tilt_mm_per_slice=tilt, **geometry) == voxel
    assert volume[voxel] == 55
    with pytest.raises(ValueError, match="in-plane"):
        _series("axial", tilt_mm_per_slice=(0.0, 0.0, 0.4))


def test_gap_after_removes_exactlytiny_slice() -> None:
    geometry = _geometry("coronal")
    datasets = _read(_series("coronal", gap_after=3))
    assert len(datasets) == SHAPE[0] - 1
    _, positions = _stack(datasets)
    expected = [_centre(geometry, k, 0, 0) for k in range(SHAPE[0]) if k != 4]
    np.testing.assert_allclose(positions, expected, atol=1e-9)
    with pytest.raises(ValueError, match="left out"):
        _series("coronal", gap_after=3, markers=[Marker(tuple(_centre(geometry, 4, 0, 0)), 1)])
    with pytest.raises(ValueError, match="gap_after"):
        _series("coronal", gap_after=SHAPE[0] - 2)


# --- enhanced multi-frame -------------------------------------------------------------------


@pytest.mark.parametrize("order", [{}, {"shuffle_seed": 5}])
def test_enhanced_file_has_frames_in_functional_groups(order: dict[str, Any]) -> None:
    geometry = _geometry("sagittal")
    markers = _markers(geometry)
    files = _series(
        "sagittal",
        enhanced=True,
        markers=list(markers.values()),
        slope=2.0,
        intercept=-1024.0,
        **order,
    )
    assert [name for name, _ in files] == ["IM0001"]
    (ds,) = _read(files)
    assert ds.SOPClassUID == EnhancedCTImageStorage
    assert ds.NumberOfFrames == SHAPE[0]
    assert "ImagePositionPatient" not in ds
    shared = ds.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        shared.PlaneOrientationSequence[0].ImageOrientationPatient,
        [*geometry["row_cosine"], *geometry["col_cosine"]],
    )
    assert shared.PixelMeasuresSequence[0].PixelSpacing == [0.7, 0.9]
    assert shared.PixelMeasuresSequence[0].SliceThickness == 2.5
    frames = ds.PerFrameFunctionalGroupsSequence
    assert len(frames) == SHAPE[0]
    for item in frames:
        transform = item.PixelValueTransformationSequence[0]
        assert (transform.RescaleSlope, transform.RescaleIntercept) == (2.0, -1024.0)
        assert transform.RescaleType == "HU"

    positions = _frame_positions(ds)
    normal = np.cross(geometry["row_cosine"], geometry["col_cosine"])
    rank = np.argsort(positions @ normal)
    expected = [_centre(geometry, k, 0, 0) for k in range(SHAPE[0])]
    np.testing.assert_allclose(positions[rank], expected, atol=1e-9)
    assert (rank == np.arange(SHAPE[0])).all() == (not order)
    stack_numbers = [item.FrameContentSequence[0].InStackPositionNumber for item in frames]
    assert [stack_numbers[i] for i in rank] == list(range(1, SHAPE[0] + 1))
    volume = ds.pixel_array[rank]
    for voxel, marker in markers.items():
        assert volume[voxel] == marker.value


def test_enhanced_mr_with_gap() -> None:
    (ds,) = _read(make_series(enhanced=True, modality="MR", gap_after=0))
    assert ds.SOPClassUID == EnhancedMRImageStorage
    assert ds.NumberOfFrames == 19
    assert ds.pixel_array.shape == (19, 32, 24)
    assert (
        ds.PerFrameFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleType
        == "US"
    )
    np.testing.assert_allclose(_frame_positions(ds)[:2, 2], [-20.0, -16.0])


# --- value types, modalities, transfer syntaxes ---------------------------------------------


def test_mr_uint16_and_rescale() -> None:
    files = make_series(modality="MR", dtype=np.uint16, background=500, slope=0.5, intercept=3.0)
    ds = _read(files)[0]
    assert ds.SOPClassUID == MRImageStorage
    assert ds.PixelRepresentation == 0
    assert ds.pixel_array.dtype == np.uint16
    assert (ds.pixel_array == 500).all()
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (0.5, 3.0)
    with pytest.raises(ValueError, match="int16 or uint16"):
        make_series(dtype=np.float32)
    with pytest.raises(ValueError, match="modality"):
        make_series(modality="US")  # type: ignore[arg-type]


def _available(syntax: str) -> bool:
    return get_encoder(syntax).is_available


@pytest.mark.parametrize(
    "syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        RLELossless,
        pytest.param(
            JPEG2000Lossless,
            marks=pytest.mark.skipif(
                not _available(JPEG2000Lossless), reason="no JPEG 2000 encoder installed"
            ),
        ),
    ],
)
@pytest.mark.parametrize("enhanced", [False, True])
def test_transfer_syntaxes_keep_stored_values(syntax: str, enhanced: bool) -> None:
    markers = [Marker((0.0, 0.0, 0.0), -1000), Marker((3.0, -5.0, 10.0), 2000)]
    kwargs = {"rows": 32, "columns": 40, "slices": 16, "markers": markers, "enhanced": enhanced}
    reference = make_series(**kwargs)
    files = make_series(transfer_syntax=syntax, shuffle_seed=2, **kwargs)
    datasets = _read(files)
    assert all(ds.file_meta.TransferSyntaxUID == syntax for ds in datasets)
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in datasets)
    if enhanced:
        (ds,) = datasets
        volume = ds.pixel_array[np.argsort(_frame_positions(ds)[:, 2])]
        (ref,) = _read(reference)
        expected = ref.pixel_array
    else:
        volume, _ = _stack(datasets)
        expected, _ = _stack(_read(reference))
    np.testing.assert_array_equal(volume, expected)
    assert volume[10, 16, 12] == -1000
    assert volume[15, 11, 15] == 2000
    assert files == make_series(transfer_syntax=syntax, shuffle_seed=2, **kwargs)


def test_unsupported_transfer_syntaxes_say_why() -> None:
    for syntax in (JPEGBaseline8Bit, JPEG2000):
        with pytest.raises(ValueError, match="not supported"):
            make_series(transfer_syntax=syntax)
    if _available(JPEG2000Lossless):
        with pytest.raises(ValueError, match="Rows and Columns >= 32"):
            make_series(transfer_syntax=JPEG2000Lossless, columns=24)
    if not _available(JPEGLSLossless):
        with pytest.raises(ValueError, match=r"cannot encode JPEG-LS Lossless.*pyjpegls"):
            make_series(transfer_syntax=JPEGLSLossless)


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(ValueError, match="orthonormal"):
        make_series(row_cosine=(1.0, 0.0, 0.0), col_cosine=(0.6, 0.8, 0.0))
    with pytest.raises(ValueError, match="positive"):
        make_series(slice_spacing=0.0)


# --- single datasets and odd encodings ------------------------------------------------------


def test_without_preamble_needs_force() -> None:
    data = to_bytes(tiny_slice(), preamble=False)
    assert data[128:132] != b"DICM"
    assert data[:4] == b"\x02\x00\x00\x00"  # starts straight with (0002,0000)
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(io.BytesIO(data))
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    assert ds.ImagePositionPatient == [1.0, 2.0, 3.0]
    assert ds.PixelSpacing == [0.5, 0.75]
    assert ds.pixel_array.tolist() == [[-5, -4, -3, -2], [-1, 0, 1, 2], [3, 4, 5, 6]]


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_bare_dataset_without_file_meta(syntax: str) -> None:
    data = to_bytes(tiny_slice(transfer_syntax=syntax), preamble=False, file_meta=False)
    assert data[:4] == b"\x08\x00\x08\x00"  # (0008,0008) Image Type
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    assert "TransferSyntaxUID" not in ds.file_meta
    assert ds.InstanceNumber == 3
    # pydicom 3 will not decode pixels without a transfer syntax; a reader must supply one.
    ds.file_meta.TransferSyntaxUID = syntax
    assert ds.pixel_array[2, 3] == 6
    with pytest.raises(ValueError, match="file meta"):
        to_bytes(tiny_slice(), file_meta=False)
    with pytest.raises(ValueError, match="little-endian native"):
        to_bytes(tiny_slice(transfer_syntax=RLELossless), preamble=False, file_meta=False)


def test_extra_attributes_override_or_remove() -> None:
    ds = tiny_slice(ImagePositionPatient=None, SliceLocation="7.5", Columns=5)
    assert "ImagePositionPatient" not in ds
    assert ds.SliceLocation == 7.5
    assert ds.Columns == 5  # deliberately inconsistent with the 4-column pixel data
    assert "ImagePositionPatient" not in tiny_slice(position=None)
    assert pydicom.dcmread(io.BytesIO(to_bytes(ds))).SliceLocation == 7.5
    with pytest.raises(ValueError, match="not a DICOM keyword"):
        tiny_slice(SliceLocaton=1)


# --- zip ------------------------------------------------------------------------------------


def test_zip_holds_series_and_junk() -> None:
    files = make_series(slices=3)
    data = zip_bytes(files)
    assert data == zip_bytes(files)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert {"__MACOSX/._IM0001", ".DS_Store", "README.txt"} <= set(names)
        assert "study/" in names and "study/DICOM/" in names
        for name, content in files:
            assert archive.read(f"study/DICOM/{name}") == content
        junk = archive.read("__MACOSX/._IM0001")
    assert len([n for n in names if not n.endswith("/")]) == len(files) + 3
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(io.BytesIO(junk))
    with zipfile.ZipFile(io.BytesIO(zip_bytes(files, folder=""))) as archive:
        assert f"DICOM/{files[0][0]}" in archive.namelist()
    with pytest.raises(ValueError, match="unique"):
        zip_bytes(files + files[:1])
