"""Per-frame geometry and rescale, whatever the file layout.

Three layouts carry the same facts in different places: single-frame images (top level),
classic multi-frame files (one position, frames along a vector) and enhanced multi-frame files
(functional groups, per frame or shared). This module reads them all into one flat record per
frame so nothing downstream needs to know which it was.

Top-level values come from the file's header record. An enhanced file's functional groups and
a Siemens mosaic's layout come from its whole Dataset (``DicomFile.dataset``), which pydicom has
parsed already: the scanner takes neither kind of file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicomviz.errors import InputFileError
from dicomviz.io.header import HeaderRecord, Values, first_item, number_of_frames, words
from dicomviz.io.reading import DicomFile
from dicomviz.series.mosaic import Mosaic, MosaicError, mosaic_of
from dicomviz.series.variants import Variant, variant_of, variant_of_groups

Vector = tuple[float, float, float]

# PatientOrientation letters (PS3.3 C.7.6.1.1.1) as LPS unit vectors.
_LETTER_AXES = {
    "L": (1, 0, 0),
    "R": (-1, 0, 0),
    "P": (0, 1, 0),
    "A": (0, -1, 0),
    "H": (0, 0, 1),
    "F": (0, 0, -1),
}


@dataclass(frozen=True)
class Frame:
    """One 2-D image: where it is, how its values map to physical units, where it came from."""

    file: DicomFile = field(repr=False)
    index: int
    """Frame number inside the file (0 for single-frame images)."""
    rows: int
    columns: int
    position: Vector | None
    orientation: tuple[float, ...] | None
    """Six direction cosines (row direction, then column direction), or None."""
    orientation_source: str
    """'ImageOrientationPatient', 'PatientOrientation' (approximate) or 'assumed'."""
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float
    instance_number: int | None
    thickness: float | None = None
    """SliceThickness (mm): how far along the normal this image's data reaches."""
    variant: Variant = field(default_factory=Variant)
    """What tells this image apart from others at its position (echo, time point, b-value)."""
    window: tuple[float, float] | None = None
    """(center, width) the file suggests for this image (the first, when it gives several)."""
    tile: int | None = None
    """For a slice of a Siemens mosaic: which tile of the stored image it is (see ``mosaic``)."""
    mosaic: Mosaic | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """File name, with the frame number for multi-frame files (and the slice of a mosaic)."""
        if self.tile is not None:
            return f"{self.file.name} [mosaic slice {self.tile + 1}]"
        if number_of_frames(self.file.header) > 1:
            return f"{self.file.name} [frame {self.index + 1}]"
        return self.file.name


def frames_of(dicom: DicomFile) -> list[Frame]:
    """Every frame of a file, in stored order, with its own geometry and rescale."""
    count = number_of_frames(dicom.header)
    if dicom.functional_groups:
        ds = dicom.dataset
        shared = _first_item(ds, "SharedFunctionalGroupsSequence")
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
        if shared is not None or per_frame:
            return [_enhanced_frame(dicom, i, shared, per_frame) for i in range(count)]
    frames = _classic_frames(dicom, count)
    if count == 1 and "MOSAIC" in words(dicom.header.ImageType):
        try:
            mosaic = mosaic_of(dicom.dataset)
        except MosaicError as exc:
            reason = f"a Siemens mosaic that cannot be unpacked: {exc.reason}"
            raise InputFileError(dicom.name, reason) from None
        if mosaic is not None:
            return _mosaic_slices(frames[0], mosaic)
    return frames


def _mosaic_slices(frame: Frame, mosaic: Mosaic) -> list[Frame]:
    """A Siemens mosaic is a volume in one image: one frame per tile, each at its position."""
    return [
        replace(
            frame,
            rows=mosaic.tile_rows,
            columns=mosaic.tile_columns,
            position=position,
            tile=k,
            mosaic=mosaic,
        )
        for k, position in enumerate(mosaic.positions)
    ]


def _first_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    return first_item(ds.get(keyword)) if isinstance(ds, Dataset) else None


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    """`count` finite floats from a DICOM multi-value, or None when absent or malformed."""
    if value is None:
        return None
    try:
        items = tuple(
            float(v)
            for v in (
                value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
            )
        )
    except (TypeError, ValueError):
        return None
    if len(items) != count or not all(np.isfinite(items)):
        return None
    return items


def _number(value: Any, default: float) -> float:
    got = _floats(value, 1)
    return got[0] if got else default


def _window(ds: Values) -> tuple[float, float] | None:
    """The first WindowCenter/WindowWidth pair (a file may suggest several), when usable."""
    center = _number(_first_of(ds.get("WindowCenter")), math.nan)
    width = _number(_first_of(ds.get("WindowWidth")), math.nan)
    if not math.isfinite(center) or not math.isfinite(width) or width <= 0:
        return None
    return center, width


def _first_of(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value[0] if len(value) else None
    return value


def _positive(value: Any) -> float | None:
    number = _number(value, 0.0)
    return number if number > 0 else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _valid_orientation(cosines: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """Reject orientations whose two cosines are not (nearly) unit and orthogonal."""
    if cosines is None:
        return None
    row, col = cosines[:3], cosines[3:]
    row_norm, col_norm = math.hypot(*row), math.hypot(*col)
    if min(row_norm, col_norm) < 0.5:
        return None
    if abs(sum(r * c for r, c in zip(row, col, strict=True))) / (row_norm * col_norm) > 0.05:
        return None
    return tuple(float(v) / row_norm for v in row) + tuple(float(v) / col_norm for v in col)


def _orientation(
    ds: HeaderRecord, source: Dataset | None = None
) -> tuple[tuple[float, ...] | None, str]:
    """The frame's own orientation (an enhanced file's plane orientation group), else the
    file's, else the approximate one PatientOrientation gives."""
    cosines = _valid_orientation(_floats((source or ds).get("ImageOrientationPatient"), 6))
    if cosines is not None:
        return cosines, "ImageOrientationPatient"
    letters = ds.PatientOrientation
    if letters and len(letters) == 2:
        axes = [_letters_vector(str(v)) for v in letters]
        if axes[0] is not None and axes[1] is not None:
            cosines = _valid_orientation((*axes[0], *axes[1]))
            if cosines is not None:
                return cosines, "PatientOrientation"
    return None, "assumed"


def _letters_vector(text: str) -> Vector | None:
    """'LF' style PatientOrientation value as a unit vector (oblique letters combine)."""
    vec = np.zeros(3)
    for letter in text.upper():
        if letter not in _LETTER_AXES:
            return None
        vec += _LETTER_AXES[letter]
    norm = np.linalg.norm(vec)
    return tuple(float(v) for v in vec / norm) if norm else None


def _classic_frames(dicom: DicomFile, count: int) -> list[Frame]:
    """Single-frame and classic multi-frame files: every frame shares the file's attributes,
    so they are read once (a small file may declare tens of thousands of frames)."""
    ds = dicom.header
    orientation, source = _orientation(ds)
    position = _floats(ds.ImagePositionPatient, 3)
    positions = _classic_positions(ds, position, orientation, count)
    spacing = _spacing(ds)
    slope = _number(ds.RescaleSlope, 1.0)
    intercept = _number(ds.RescaleIntercept, 0.0)
    instance_number = _int_or_none(ds.InstanceNumber)
    thickness = _positive(ds.SliceThickness)
    window = _window(ds)
    rows, columns = int(ds.Rows), int(ds.Columns)
    return [
        Frame(
            file=dicom,
            index=index,
            rows=rows,
            columns=columns,
            position=positions[index],
            orientation=orientation,
            orientation_source=source,
            pixel_spacing=spacing,
            slope=slope,
            intercept=intercept,
            instance_number=instance_number,
            thickness=thickness,
            window=window,
            variant=variant_of(ds, index),
        )
        for index in range(count)
    ]


def _classic_positions(
    ds: HeaderRecord,
    first: tuple[float, ...] | None,
    orientation: tuple[float, ...] | None,
    count: int,
) -> list[Vector | None]:
    """Classic multi-frame files give one position; frames step along the normal by
    SpacingBetweenSlices. Without that step the frames are not a spatial stack."""
    if first is None or count == 1:
        return [first] * count  # type: ignore[list-item]
    step = _number(ds.SpacingBetweenSlices, 0.0)
    if orientation is None or step == 0.0:
        return [None] * count
    normal = np.cross(orientation[:3], orientation[3:])
    points = np.asarray(first) + (np.arange(count)[:, None] * step) * normal
    return [(x, y, z) for x, y, z in points.tolist()]


def _spacing(ds: Values | None) -> tuple[float, float] | None:
    if ds is None:
        return None
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        spacing = _floats(ds.get(keyword), 2)
        if spacing is not None and min(spacing) > 0:
            return (spacing[0], spacing[1])
    return None


def _enhanced_frame(
    dicom: DicomFile, index: int, shared: Dataset | None, per_frame: Sequence[Dataset]
) -> Frame:
    ds = dicom.header
    own = per_frame[index] if index < len(per_frame) else None

    def group(keyword: str) -> Dataset | None:
        """A functional group: the per-frame one wins over the shared one (PS3.3 C.7.6.16)."""
        return _first_item(own, keyword) or _first_item(shared, keyword)

    plane_position = group("PlanePositionSequence")
    plane_orientation = group("PlaneOrientationSequence")
    transform = group("PixelValueTransformationSequence")
    measures = group("PixelMeasuresSequence")
    orientation, source = _orientation(ds, plane_orientation)
    position = _floats(plane_position.get("ImagePositionPatient"), 3) if plane_position else None
    rescale = transform or ds
    return Frame(
        file=dicom,
        index=index,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        position=position,  # type: ignore[arg-type]
        orientation=orientation,
        orientation_source=source,
        pixel_spacing=_spacing(measures) or _spacing(ds),
        slope=_number(rescale.get("RescaleSlope"), 1.0),
        intercept=_number(rescale.get("RescaleIntercept"), 0.0),
        instance_number=_int_or_none(ds.InstanceNumber),
        thickness=_positive((measures or ds).get("SliceThickness")) or _positive(ds.SliceThickness),
        window=_window(group("FrameVOILUTSequence") or ds),
        variant=variant_of_groups(ds, index, group),
    )
