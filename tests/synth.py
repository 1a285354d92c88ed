"""Synthetic DICOM series with known geometry, for testing the volume loader.

Everything is deterministic: the same call gives the same bytes. The ground truth comes from one
formula (DICOM LPS patient coordinates, mm), never from reading the files back:

    normal = cross(row_cosine, col_cosine)
    IPP_k  = origin + k * (slice_spacing * normal + tilt)          slice k, 0-based, spatial order
    x(k, r, c) = IPP_k + c * pixel_spacing[1] * row_cosine + r * pixel_spacing[0] * col_cosine

``row_cosine`` is the direction of increasing column index, ``col_cosine`` that of increasing row
index, and ``pixel_spacing`` is (between rows, between columns), as in the DICOM attributes.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
)
from pydicom.valuerep import format_number_as_ds

from dicomviz.sample.writer import (
    image_dataset,
    part10_bytes,
    set_pixel_data,
    set_pixel_module,
    uid,
)

__all__ = [
    "DEFAULT_STUDY_UID",
    "Marker",
    "make_rgb_file",
    "make_series",
    "make_slice_dataset",
    "normal_of",
    "slice_positions",
    "to_bytes",
    "undecodable",
    "voxel_of",
    "zip_bytes",
]

Vec3 = tuple[float, float, float]
Modality = Literal["CT", "MR"]

_SOP_CLASSES: dict[str, tuple[UID, UID]] = {
    "CT": (CTImageStorage, EnhancedCTImageStorage),
    "MR": (MRImageStorage, EnhancedMRImageStorage),
}
_RESCALE_TYPES = {"CT": "HU", "MR": "US"}
_NATIVE_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
# Lossless only: a lossy codec would move the markers' stored values.
_COMPRESSED_SYNTAXES = (RLELossless, JPEG2000Lossless, JPEGLSLossless)
_DTYPES = (np.dtype(np.int16), np.dtype(np.uint16))

_NAMESPACE = "dicomviz.synth"
"""First part of every UID made here (see ``dicomviz.sample.writer.uid``)."""
DEFAULT_STUDY_UID = uid(_NAMESPACE, "study")


@dataclass(frozen=True)
class Marker:
    """A stored pixel value painted into the voxel whose centre is nearest ``position``."""

    position: Vec3  # patient LPS, mm
    value: int  # stored value (before RescaleSlope/Intercept)

    def __post_init__(self) -> None:
        if len(self.position) != 3:
            raise ValueError(f"Marker position must have 3 coordinates, got {self.position!r}")


# --- geometry: the ground truth -------------------------------------------------------------


def normal_of(row_cosine: Sequence[float], col_cosine: Sequence[float]) -> Vec3:
    """Slice normal ``cross(row, col)``, after checking the cosines are orthonormal."""
    return _vec3(_frame(row_cosine, col_cosine)[2])


def slice_positions(
    *,
    row_cosine: Sequence[float] = (1.0, 0.0, 0.0),
    col_cosine: Sequence[float] = (0.0, 1.0, 0.0),
    slices: int = 20,
    slice_spacing: float = 2.0,
    origin: Sequence[float] = (-12.0, -16.0, -20.0),
    tilt_mm_per_slice: Sequence[float] | None = None,
) -> np.ndarray:
    """ImagePositionPatient of every slice of the full grid, shape (slices, 3), spatial order."""
    steps = _grid_steps(row_cosine, col_cosine, (1.0, 1.0), slice_spacing, tilt_mm_per_slice)
    return np.asarray(origin, dtype=float) + np.arange(slices)[:, None] * steps[:, 0]


def voxel_of(
    position: Sequence[float],
    *,
    row_cosine: Sequence[float] = (1.0, 0.0, 0.0),
    col_cosine: Sequence[float] = (0.0, 1.0, 0.0),
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slice_spacing: float = 2.0,
    origin: Sequence[float] = (-12.0, -16.0, -20.0),
    tilt_mm_per_slice: Sequence[float] | None = None,
) -> tuple[int, int, int]:
    """(slice k, row r, col c) of the voxel centre nearest ``position``, k in spatial order.

    The grid is unbounded here (indices may be negative or past the end); ``k`` counts slices
    of the full grid, including one left out by ``gap_after``.
    """
    steps = _grid_steps(row_cosine, col_cosine, pixel_spacing, slice_spacing, tilt_mm_per_slice)
    voxel, _ = _nearest_voxel(position, steps, origin)
    return voxel


def _frame(
    row_cosine: Sequence[float], col_cosine: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row = np.asarray(row_cosine, dtype=float)
    col = np.asarray(col_cosine, dtype=float)
    if row.shape != (3,) or col.shape != (3,):
        raise ValueError(f"cosines must have 3 components, got {row_cosine!r}, {col_cosine!r}")
    unit = abs(row @ row - 1) < 1e-6 and abs(col @ col - 1) < 1e-6
    if not unit or abs(row @ col) > 1e-6:
        raise ValueError(
            f"row cosine {row_cosine!r} and column cosine {col_cosine!r} are not orthonormal"
        )
    return row, col, np.cross(row, col)


def _grid_steps(
    row_cosine: Sequence[float],
    col_cosine: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_spacing: float,
    tilt_mm_per_slice: Sequence[float] | None,
) -> np.ndarray:
    """3x3 matrix whose columns are the mm steps of one slice, one row, one column."""
    row, col, normal = _frame(row_cosine, col_cosine)
    if slice_spacing <= 0 or min(pixel_spacing) <= 0:
        raise ValueError(
            f"spacings must be positive, got slice_spacing={slice_spacing!r}, "
            f"pixel_spacing={tuple(pixel_spacing)!r}"
        )
    tilt = np.zeros(3) if tilt_mm_per_slice is None else np.asarray(tilt_mm_per_slice, float)
    if tilt.shape != (3,) or abs(tilt @ normal) > 1e-6:
        raise ValueError(f"tilt_mm_per_slice {tilt_mm_per_slice!r} must be a 3-vector in-plane")
    step_k = slice_spacing * normal + tilt
    return np.column_stack([step_k, pixel_spacing[0] * col, pixel_spacing[1] * row])


def _nearest_voxel(
    position: Sequence[float], steps: np.ndarray, origin: Sequence[float]
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Nearest voxel centre (exact in mm, also on a sheared grid) and the continuous index."""
    offset = np.asarray(position, dtype=float) - np.asarray(origin, dtype=float)
    continuous = np.linalg.solve(steps, offset)
    best = np.floor(continuous + 0.5)
    best_distance = np.linalg.norm(steps @ best - offset)
    base = best.copy()
    for delta in itertools.product((-1, 0, 1), repeat=3):
        candidate = base + delta
        distance = np.linalg.norm(steps @ candidate - offset)
        if distance < best_distance - 1e-9:
            best, best_distance = candidate, distance
    return (int(best[0]), int(best[1]), int(best[2])), continuous


# --- series -------------------------------------------------------------------------------


def make_series(
    *,
    row_cosine: Sequence[float] = (1.0, 0.0, 0.0),
    col_cosine: Sequence[float] = (0.0, 1.0, 0.0),
    rows: int = 32,
    columns: int = 24,
    slices: int = 20,
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slice_spacing: float = 2.0,
    origin: Sequence[float] = (-12.0, -16.0, -20.0),
    markers: Sequence[Marker] = (),
    background: int = 0,
    reverse: bool = False,
    shuffle_seed: int | None = None,
    enhanced: bool = False,
    modality: Modality = "CT",
    slope: float = 1.0,
    intercept: float = 0.0,
    series_uid: str | None = None,
    gap_after: int | None = None,
    tilt_mm_per_slice: Sequence[float] | None = None,
    dtype: npt.DTypeLike = np.int16,
    transfer_syntax: str = ExplicitVRLittleEndian,
    names: str = "IM{index:04d}",
    study_uid: str = DEFAULT_STUDY_UID,
    slice_thickness: float | None = None,
    series_description: str = "Synthetic phantom",
    series_number: int = 1,
) -> list[tuple[str, bytes]]:
    """A series as ``(file name, Part 10 bytes)`` pairs, in the order a loader would meet them.

    Slices are written in increasing spatial order (k = 0, 1, ...), decreasing with ``reverse``,
    or shuffled with ``shuffle_seed`` (file order and InstanceNumber then say nothing about
    position). ``gap_after=g`` leaves out slice ``g + 1``; ``tilt_mm_per_slice`` shears the
    stack in-plane; ``enhanced`` gives one Enhanced CT/MR multi-frame file instead. File names
    are ``names.format(index=i)`` with ``i`` counting files from 1 in written order.
    SliceThickness defaults to ``slice_spacing``.
    """
    params = dict(locals())  # every argument, as entropy for the default UIDs
    steps = _grid_steps(row_cosine, col_cosine, pixel_spacing, slice_spacing, tilt_mm_per_slice)
    missing = _missing_slice(gap_after, slices)
    shape = (slices, rows, columns)
    volume = _paint(markers, shape, steps, origin, background, np.dtype(dtype), missing)
    positions = np.asarray(origin, dtype=float) + np.arange(slices)[:, None] * steps[:, 0]
    present = [k for k in range(slices) if k != missing]
    order, instance_numbers = _file_order(present, reverse=reverse, shuffle_seed=shuffle_seed)
    header = _Header(
        row_cosine=_vec3(row_cosine),
        col_cosine=_vec3(col_cosine),
        pixel_spacing=(float(pixel_spacing[0]), float(pixel_spacing[1])),
        slice_thickness=slice_spacing if slice_thickness is None else slice_thickness,
        series_uid=series_uid or _uid("dicomviz.synth.series", params),
        study_uid=study_uid,
        modality=modality,
        slope=slope,
        intercept=intercept,
        series_description=series_description,
        series_number=series_number,
        transfer_syntax=_check_transfer_syntax(transfer_syntax),
    )
    if enhanced:
        stack_numbers = {k: rank + 1 for rank, k in enumerate(present)}
        ds = _enhanced_dataset(
            volume[order], positions[order], [stack_numbers[k] for k in order], header
        )
        return [(names.format(index=1), to_bytes(ds))]
    file_names = [names.format(index=i + 1) for i in range(len(order))]
    if len(set(file_names)) != len(file_names):
        raise ValueError(f"names={names!r} must give each file its own name, e.g. via {{index}}")
    files = []
    for name, k, number in zip(file_names, order, instance_numbers, strict=True):
        sop_uid = _uid(header.series_uid, "slice", k)
        ds = _slice_dataset(volume[k], header, positions[k], number, sop_uid)
        files.append((name, to_bytes(ds)))
    return files


def _missing_slice(gap_after: int | None, slices: int) -> int | None:
    if gap_after is None:
        return None
    if not 0 <= gap_after <= slices - 3:
        raise ValueError(
            f"gap_after={gap_after} must leave out an inner slice: 0 <= gap_after <= {slices - 3}"
        )
    return gap_after + 1


def _paint(
    markers: Sequence[Marker],
    shape: tuple[int, int, int],
    steps: np.ndarray,
    origin: Sequence[float],
    background: int,
    dtype: np.dtype,
    missing: int | None,
) -> np.ndarray:
    """Stored values in spatial order (slice, row, col): background plus one voxel per marker."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be int16 or uint16, got {dtype}")
    _check_fits(background, dtype, "background")
    volume = np.full(shape, background, dtype=dtype)
    painted: set[tuple[int, int, int]] = set()
    for marker in markers:
        voxel, continuous = _nearest_voxel(marker.position, steps, origin)
        inside = np.all(continuous >= -0.5) and np.all(continuous <= np.asarray(shape) - 0.5)
        if not inside or not all(0 <= i < n for i, n in zip(voxel, shape, strict=True)):
            raise ValueError(
                f"marker at {marker.position} lies outside the {shape} grid "
                f"(fractional index {np.round(continuous, 3).tolist()})"
            )
        if voxel[0] == missing:
            raise ValueError(f"marker at {marker.position} falls in slice {missing}, left out")
        if voxel in painted:
            raise ValueError(f"marker at {marker.position} shares voxel {voxel} with another")
        _check_fits(marker.value, dtype, f"marker value at {marker.position}")
        volume[voxel] = marker.value
        painted.add(voxel)
    return volume


def _check_fits(value: int, dtype: np.dtype, what: str) -> None:
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise ValueError(f"{what} {value} does not fit {dtype} [{info.min}, {info.max}]")


def _file_order(
    present: list[int], *, reverse: bool, shuffle_seed: int | None
) -> tuple[list[int], list[int]]:
    """Spatial index of each file in written order, and each file's InstanceNumber."""
    order = present[::-1] if reverse else list(present)
    numbers = list(range(1, len(order) + 1))
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        order = [order[i] for i in rng.permutation(len(order))]
        numbers = [int(i) + 1 for i in rng.permutation(len(order))]
    return order, numbers


# --- datasets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    """What every image of one series shares."""

    row_cosine: Vec3
    col_cosine: Vec3
    pixel_spacing: tuple[float, float]
    slice_thickness: float
    series_uid: str
    study_uid: str
    modality: Modality
    slope: float
    intercept: float
    series_description: str
    series_number: int
    transfer_syntax: UID


def make_slice_dataset(
    pixels: np.ndarray,
    *,
    position: Sequence[float] | None,
    row_cosine: Sequence[float],
    col_cosine: Sequence[float],
    pixel_spacing: Sequence[float],
    instance_number: int,
    series_uid: str,
    modality: Modality = "CT",
    slope: float = 1.0,
    intercept: float = 0.0,
    study_uid: str = DEFAULT_STUDY_UID,
    sop_instance_uid: str | None = None,
    slice_thickness: float = 1.0,
    series_description: str = "Synthetic phantom",
    series_number: int = 1,
    transfer_syntax: str = ExplicitVRLittleEndian,
    **extra_attributes: Any,
) -> Dataset:
    """One single-frame CT/MR image with the given geometry, ready for :func:`to_bytes`.

    ``extra_attributes`` are DICOM keywords set last, after the pixel data is encoded, so they
    can make deliberately inconsistent files; a value of ``None`` removes the element
    (e.g. ``ImagePositionPatient=None``). ``position=None`` leaves ImagePositionPatient out.
    """
    header = _Header(
        row_cosine=_vec3(row_cosine),
        col_cosine=_vec3(col_cosine),
        pixel_spacing=(float(pixel_spacing[0]), float(pixel_spacing[1])),
        slice_thickness=slice_thickness,
        series_uid=series_uid,
        study_uid=study_uid,
        modality=modality,
        slope=slope,
        intercept=intercept,
        series_description=series_description,
        series_number=series_number,
        transfer_syntax=_check_transfer_syntax(transfer_syntax),
    )
    if sop_instance_uid is None:
        where = () if position is None else _ds(position)
        sop_instance_uid = _uid(series_uid, "slice", instance_number, where)
    ds = _slice_dataset(pixels, header, position, instance_number, sop_instance_uid)
    for keyword, value in extra_attributes.items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword")
        if value is None:
            if keyword in ds:
                del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def _slice_dataset(
    pixels: np.ndarray,
    header: _Header,
    position: Sequence[float] | None,
    instance_number: int,
    sop_instance_uid: str,
) -> Dataset:
    pixels = _check_pixels(pixels, ndim=2)
    ds = _base_dataset(pixels, header, sop_instance_uid, instance_number, enhanced=False)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PixelSpacing = _ds(header.pixel_spacing)
    ds.SliceThickness = _ds([header.slice_thickness])[0]
    ds.ImageOrientationPatient = _ds([*header.row_cosine, *header.col_cosine])
    if position is not None:
        ds.ImagePositionPatient = _ds(position)
    ds.RescaleIntercept = _ds([header.intercept])[0]
    ds.RescaleSlope = _ds([header.slope])[0]
    ds.RescaleType = _RESCALE_TYPES[header.modality]
    _set_pixel_data(ds, pixels, header.transfer_syntax)
    return ds


def _enhanced_dataset(
    frames: np.ndarray, positions: np.ndarray, stack_numbers: list[int], header: _Header
) -> Dataset:
    """One Enhanced CT/MR image: geometry in the functional groups, frames in given order."""
    sop_uid = _uid(header.series_uid, "enhanced")
    ds = _base_dataset(frames, header, sop_uid, instance_number=1, enhanced=True)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.NumberOfFrames = len(frames)
    orientation = Dataset()
    orientation.ImageOrientationPatient = _ds([*header.row_cosine, *header.col_cosine])
    measures = Dataset()
    measures.PixelSpacing = _ds(header.pixel_spacing)
    measures.SliceThickness = _ds([header.slice_thickness])[0]
    shared = Dataset()
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [
            _frame_group(position, number, header)
            for position, number in zip(positions, stack_numbers, strict=True)
        ]
    )
    _set_pixel_data(ds, frames, header.transfer_syntax)
    return ds


def _frame_group(position: np.ndarray, stack_number: int, header: _Header) -> Dataset:
    plane = Dataset()
    plane.ImagePositionPatient = _ds(position)
    transform = Dataset()
    transform.RescaleIntercept = _ds([header.intercept])[0]
    transform.RescaleSlope = _ds([header.slope])[0]
    transform.RescaleType = _RESCALE_TYPES[header.modality]
    content = Dataset()
    content.StackID = "1"
    content.InStackPositionNumber = stack_number
    group = Dataset()
    group.FrameContentSequence = DicomSequence([content])
    group.PlanePositionSequence = DicomSequence([plane])
    group.PixelValueTransformationSequence = DicomSequence([transform])
    return group


def _base_dataset(
    pixels: np.ndarray,
    header: _Header,
    sop_instance_uid: str,
    instance_number: int,
    *,
    enhanced: bool,
) -> Dataset:
    """Patient, study, series, frame of reference, SOP and image pixel attributes."""
    if header.modality not in _SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASSES)}, got {header.modality!r}")
    ds = image_dataset(
        sop_class_uid=_SOP_CLASSES[header.modality][enhanced],
        sop_instance_uid=sop_instance_uid,
        study_uid=header.study_uid,
        series_uid=header.series_uid,
        # One frame of reference per study: series of one study share patient space.
        frame_of_reference_uid=_uid(header.study_uid, "frame of reference"),
        modality=header.modality,
        instance_number=instance_number,
        patient_name="Synthetic^Phantom",
        patient_id="SYNTH0001",
        series_number=header.series_number,
        series_description=header.series_description,
        manufacturer="dicomviz synth",
    )
    set_pixel_module(ds, pixels.shape, pixels.dtype)
    return ds


def to_bytes(ds: Dataset, *, preamble: bool = True, file_meta: bool = True) -> bytes:
    """Encode ``ds`` as a DICOM Part 10 file, or as some old exports do.

    ``preamble=False`` leaves out the 128-byte preamble and ``b"DICM"`` (readers then need
    ``force=True``); ``file_meta=False`` also leaves out the (0002,eeee) group, giving the bare
    dataset (little-endian, uncompressed transfer syntaxes only, as nothing names the encoding).
    """
    if preamble and not file_meta:
        raise ValueError("a file with a preamble must have file meta information")
    data = part10_bytes(ds, version_name="DICOMVIZ_SYNTH")
    if preamble:
        return data
    body = data[128 + 4 :]
    if file_meta:
        return body
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        raise ValueError(f"file_meta=False needs a little-endian native syntax, not {syntax.name}")
    # The meta group is explicit VR little endian and opens with (0002,0000) UL group length:
    # tag (4 bytes), VR (2), value length (2), value (4).
    group_length = int.from_bytes(body[8:12], "little")
    return body[12 + group_length :]


def zip_bytes(files: list[tuple[str, bytes]], *, folder: str = "study/") -> bytes:
    """A .zip with the files under ``{folder}DICOM/``, directory entries, and macOS junk.

    Junk entries: ``__MACOSX/._<first file name>`` (an AppleDouble stub, ``__MACOSX/._IM0001``
    for default names), ``.DS_Store`` and ``README.txt``.
    """
    names = [name for name, _ in files]
    if len(set(names)) != len(names):
        raise ValueError("file names in a zip must be unique")
    first = names[0].rsplit("/", 1)[-1] if names else "IM0001"
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"Mac OS X        " + bytes(58)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for directory in _parent_dirs([f"{folder}DICOM/{name}" for name in names]):
            _write_entry(archive, directory, b"")
        for name, data in files:
            _write_entry(archive, f"{folder}DICOM/{name}", data)
        _write_entry(archive, f"__MACOSX/._{first}", apple_double)
        _write_entry(archive, ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(24))
        _write_entry(archive, "README.txt", b"Synthetic DICOM study made by tests/synth.py\n")
    return buffer.getvalue()


def _parent_dirs(paths: list[str]) -> list[str]:
    dirs: dict[str, None] = {}
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs["/".join(parts[:i]) + "/"] = None
    return list(dirs)


def _write_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 12, 0, 0))  # fixed: same bytes each run
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
    archive.writestr(info, data)


def _set_pixel_data(ds: Dataset, pixels: np.ndarray, transfer_syntax: str) -> None:
    """Encode ``pixels`` into (7FE0,0010) Pixel Data and set the file meta transfer syntax."""
    syntax = _check_transfer_syntax(transfer_syntax)
    if syntax == JPEG2000Lossless and min(pixels.shape[-2:]) < 32:
        # pylibjpeg-openjpeg always uses 6 wavelet resolutions: 2**5 pixels at least.
        raise ValueError(
            f"cannot encode {syntax.name}: the openjpeg encoder needs Rows and Columns "
            f">= 32, got {pixels.shape[-2:]}"
        )
    try:
        set_pixel_data(ds, pixels, syntax)
    except RuntimeError as exc:
        raise ValueError(f"cannot encode {syntax.name}: {exc}") from exc


def _check_transfer_syntax(transfer_syntax: str) -> UID:
    syntax = UID(transfer_syntax)
    if syntax in _NATIVE_SYNTAXES:
        return syntax
    if syntax not in _COMPRESSED_SYNTAXES:
        supported = ", ".join(uid.name for uid in (*_NATIVE_SYNTAXES, *_COMPRESSED_SYNTAXES))
        raise ValueError(
            f"transfer syntax {syntax} ({syntax.name}) is not supported; use one of: {supported}"
        )
    encoder = get_encoder(syntax)
    if not encoder.is_available:
        missing = "; ".join(encoder.missing_dependencies)
        raise ValueError(f"cannot encode {syntax.name} here: pydicom lacks a plugin ({missing})")
    return syntax


def _check_pixels(pixels: np.ndarray, *, ndim: int) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.dtype not in _DTYPES or pixels.ndim != ndim:
        raise ValueError(
            f"pixels must be a {ndim}-D int16 or uint16 array, got {pixels.ndim}-D {pixels.dtype}"
        )
    return pixels


def _uid(*parts: object) -> UID:
    """A UID that depends only on ``parts`` (their reprs, so "a/b" and ("a", "b") differ)."""
    return UID(uid(_NAMESPACE, *map(repr, parts)))


def _ds(values: Sequence[float]) -> list[str]:
    """Decimal String values of at most 16 characters; tiny rounding noise becomes 0."""
    return [format_number_as_ds(0.0 if abs(v) < 1e-12 else float(v) + 0.0) for v in values]


def _vec3(values: Sequence[float]) -> Vec3:
    return (float(values[0]), float(values[1]), float(values[2]))


def undecodable(data: bytes, frame: int = 0) -> bytes:
    """The same RLE Lossless file with one frame's RLE header pointing its second segment past
    the end of the frame: the header reads and checks out, every decoder refuses the frame."""
    ds = pydicom.dcmread(io.BytesIO(data))
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax != RLELossless:
        raise ValueError(f"undecodable() damages RLE Lossless files, not {syntax.name}")
    count = int(ds.get("NumberOfFrames") or 1)
    frames = list(generate_frames(ds.PixelData, number_of_frames=count))
    damaged = bytearray(frames[frame])
    damaged[8:12] = (len(damaged) + 1000).to_bytes(4, "little")  # RLE header: offset 2
    frames[frame] = bytes(damaged)
    ds.PixelData = encapsulate(frames)
    return to_bytes(ds)


def make_rgb_file(
    rgb: np.ndarray, *, position: Sequence[float] = (0.0, 0.0, 0.0), instance_number: int = 1
) -> bytes:
    """A Secondary Capture RGB image (8 bits a sample, interleaved), axial, 1 mm pixels: the
    photographs, screenshots and ultrasound frames that arrive among grey images."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (rows, columns, 3) uint8, got {rgb.shape} {rgb.dtype}")
    ds = image_dataset(
        sop_class_uid=SecondaryCaptureImageStorage,
        sop_instance_uid=_uid("rgb", rgb.tobytes(), tuple(position), instance_number),
        study_uid=DEFAULT_STUDY_UID,
        series_uid=_uid("rgb series"),
        frame_of_reference_uid=_uid(DEFAULT_STUDY_UID, "frame of reference"),
        modality="OT",
        instance_number=instance_number,
        patient_name="Synthetic^Phantom",
        patient_id="SYNTH0001",
        manufacturer="dicomviz synth",
    )
    ds.ImageOrientationPatient = _ds([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    ds.ImagePositionPatient = _ds(position)
    ds.PixelSpacing = _ds([1.0, 1.0])
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    set_pixel_data(ds, rgb, ExplicitVRLittleEndian)
    return to_bytes(ds)


TINY_PIXELS = (np.arange(12, dtype=np.int16) - 5).reshape(3, 4)
"""A 3 x 4 int16 image with negative and positive values, for reading tests."""


def tiny_slice(**changes: Any) -> Dataset:
    """One small axial slice with fixed geometry (``changes`` override any keyword of
    make_slice_dataset, or set data elements)."""
    arguments: dict[str, Any] = {
        "position": (1.0, 2.0, 3.0),
        "row_cosine": (1.0, 0.0, 0.0),
        "col_cosine": (0.0, 1.0, 0.0),
        "pixel_spacing": (0.5, 0.75),
        "instance_number": 3,
        "series_uid": "1.2.826.0.1.3680043.8.498.5150",
    }
    return make_slice_dataset(TINY_PIXELS, **(arguments | changes))
