"""Siemens mosaics: one stored image that holds a whole volume as a grid of tiles.

Siemens EPI, fMRI and DTI series store each volume as one image (ImageType contains ``MOSAIC``):
e.g. 35 slices of 64 x 64 tiled 6 x 6 in a 384 x 384 image, the unused tiles left blank. The
number of slices is only in private attributes: ``NumberOfImagesInMosaic`` in the CSA image
header (0029,xx10, creator ``SIEMENS CSA HEADER``) and in (0019,xx0A) (creator ``SIEMENS MR
HEADER``). This module reads the layout and places every tile in patient space (LPS mm) so the
volume builder can treat tile k as an ordinary slice; it never decodes pixels.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset

from dicomviz.errors import DicomvizError, UsageError, describe

Vector = tuple[float, float, float]

MAX_MOSAIC_SLICES = 1024
"""Most slices accepted in one mosaic (real ones hold up to a few hundred); bounds allocation."""
MAX_CSA_BYTES = 1024**2
"""Largest CSA image header parsed; real ones are 10-30 KB."""
_MAX_SPACING_MM = 10_000.0
_PARALLEL_COS = 0.999
"""|cos| between the CSA slice normal and cross(row, col) above which the two count as parallel
(about 2.6 degrees; real files agree to 1e-5)."""

_CSA_COUNT = "CSA image header (0029,1010) NumberOfImagesInMosaic"
_MR_COUNT = "(0019,100A) NumberOfImagesInMosaic"


class MosaicError(DicomvizError, ValueError):
    """A file marked MOSAIC whose layout cannot be read; ``reason`` says why in plain words.

    It names no file: the loader adds the file name when it records the file as skipped.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Mosaic:
    """Where each tile of a Siemens mosaic lies: tile k is slice k, placed at ``positions[k]``.

    Tiles fill the grid row by row from the top left. They are in spatial order along
    ``normal`` (the scanner's slice direction), whatever the acquisition order was: interleaved
    or descending timing is recorded elsewhere (CSA ``MosaicRefAcqTimes``), not in the tile order.
    Every tile shares the mosaic's ImageOrientationPatient and PixelSpacing.
    """

    count: int
    """Slices in the mosaic (tiles beyond it are blank padding)."""
    tile_rows: int
    tile_columns: int
    tiles_per_row: int
    """Tiles across (and down) the grid: ceil(sqrt(count)), as Siemens lays them out."""
    positions: tuple[Vector, ...]
    """LPS mm of the centre of each slice's first (top-left) pixel; slice k is tile k."""
    normal: Vector
    """Unit LPS direction from one tile's slice to the next."""
    normal_sign: Literal[1, -1]
    """``normal`` relative to cross(row cosine, column cosine): -1 when the scanner stacked the
    tiles against the DICOM normal."""
    normal_source: Literal["csa", "assumed"]
    """'csa': sign taken from the CSA SliceNormalVector; 'assumed': no CSA normal, so the DICOM
    normal cross(row, col) was assumed and the slice order may be reversed (say so to the user)."""
    spacing: float | None
    """mm between consecutive slices (SpacingBetweenSlices, else SliceThickness); None only for
    a one-slice mosaic that gives neither."""
    count_source: str
    """The attribute the slice count came from, for messages."""

    def __post_init__(self) -> None:
        if not 1 <= self.count <= min(self.tiles_per_row**2, MAX_MOSAIC_SLICES):
            raise UsageError(f"{self.count} slices do not fit {self.tiles_per_row}^2 tiles")
        if min(self.tile_rows, self.tile_columns) < 1 or len(self.positions) != self.count:
            raise UsageError("a mosaic needs tiles of at least one pixel and one position each")
        if self.normal_sign not in (1, -1) or (self.count > 1 and not self.spacing):
            raise UsageError("a mosaic needs a normal sign of +-1 and a spacing between slices")

    @property
    def rows(self) -> int:
        """Rows of the whole stored mosaic image."""
        return self.tiles_per_row * self.tile_rows

    @property
    def columns(self) -> int:
        """Columns of the whole stored mosaic image."""
        return self.tiles_per_row * self.tile_columns


def mosaic_of(ds: Dataset) -> Mosaic | None:
    """The tile layout and slice positions of a Siemens mosaic, or None for any other image.

    Raises MosaicError (and nothing else, whatever the file holds) when ImageType says MOSAIC
    but the layout cannot be read. ``ds`` must be a pydicom Dataset that kept the private
    elements (the lean scanner's header keeps neither ImageType nor private tags).
    """
    if not _is_mosaic(ds):
        return None
    if not isinstance(ds, Dataset):
        raise UsageError(
            f"mosaic_of needs a pydicom Dataset with private elements, not {type(ds).__name__}"
        )
    csa = _csa_image_header(ds)
    count, count_source = _count(ds, csa)
    rows, columns = (
        _whole(ds, "Rows", "(0028,0010) Rows"),
        _whole(ds, "Columns", "(0028,0011) Columns"),
    )
    per_row = math.isqrt(count - 1) + 1  # ceil(sqrt(count)), exact for integers
    if rows % per_row or columns % per_row:
        raise MosaicError(
            f"{count_source} is {count}, which needs a {per_row} x {per_row} grid of tiles, but "
            f"the {rows} x {columns} image does not divide into {per_row} tiles per side"
        )
    tile_rows, tile_columns = rows // per_row, columns // per_row
    row_cos, col_cos = _orientation(ds)
    normal, sign, normal_source = _normal(row_cos, col_cos, csa)
    spacing = _spacing(ds, required=count > 1)
    pixel = _floats(ds, "PixelSpacing", "(0028,0030) Pixel Spacing", 2, positive=True)
    corner = np.array(
        _floats(ds, "ImagePositionPatient", "(0020,0032) Image Position (Patient)", 3)
    )
    # Siemens writes ImagePositionPatient for a hypothetical image as large as the whole mosaic
    # (same pixel spacing) centred on slice 0, so slice 0's true top-left pixel is (mosaic size -
    # tile size) / 2 pixels further down and right (nibabel MosaicWrapper, dcm2niix). Slice k
    # follows k steps along the normal. PixelSpacing[0] is the step between rows, along the
    # column cosine.
    first = (
        corner
        + col_cos * pixel[0] * (rows - tile_rows) / 2
        + row_cos * pixel[1] * (columns - tile_columns) / 2
    )
    step = normal * (spacing or 0.0)
    positions = tuple(_vector(first + k * step) for k in range(count))
    return Mosaic(
        count=count,
        tile_rows=tile_rows,
        tile_columns=tile_columns,
        tiles_per_row=per_row,
        positions=positions,
        normal=_vector(normal),
        normal_sign=sign,
        normal_source=normal_source,
        spacing=spacing,
        count_source=count_source,
    )


def tile(values: np.ndarray, mosaic: Mosaic, k: int) -> np.ndarray:
    """Slice k's ``(tile_rows, tile_columns, ...)`` pixels: a view into the decoded mosaic.

    ``values`` is the stored image, shape ``(rows, columns)`` or ``(rows, columns, samples)``.
    Copy the view (e.g. assign it into the volume) before keeping it, or it keeps the whole
    mosaic alive.
    """
    if not 0 <= k < mosaic.count:
        raise UsageError(f"tile {k} does not exist: the mosaic holds tiles 0 to {mosaic.count - 1}")
    if values.shape[:2] != (mosaic.rows, mosaic.columns):
        raise UsageError(
            f"the mosaic image is {mosaic.rows} x {mosaic.columns} pixels, "
            f"but the array given is {' x '.join(map(str, values.shape))}"
        )
    top = (k // mosaic.tiles_per_row) * mosaic.tile_rows
    left = (k % mosaic.tiles_per_row) * mosaic.tile_columns
    return values[top : top + mosaic.tile_rows, left : left + mosaic.tile_columns]


def _csareader() -> Any:
    """nibabel's CSA parser, imported when a mosaic is met (nibabel and scipy take ~0.3 s)."""
    with warnings.catch_warnings():
        # Importing nibabel.nicom warns that its DICOM *readers* are experimental; we use only
        # its CSA parser, which dcmstack, heudiconv and others have relied on for years.
        warnings.filterwarnings("ignore", "The DICOM readers are highly experimental", UserWarning)
        from nibabel.nicom import csareader
    return csareader


def _get(ds: Any, keyword: str) -> Any:
    # pydicom converts raw elements lazily; in a hostile file that conversion can raise almost
    # anything, and this module promises MosaicError only.
    try:
        return ds.get(keyword)
    except Exception as exc:
        raise MosaicError(f"{keyword} cannot be read ({describe(exc)})") from None


def _is_mosaic(ds: Any) -> bool:
    try:
        image_type = ds.get("ImageType")
    except Exception:  # unreadable ImageType: nothing says MOSAIC
        return False
    if image_type is None:
        return False
    values = [image_type] if isinstance(image_type, str | bytes) else image_type
    try:
        return any(str(v).strip().upper() == "MOSAIC" for v in values)
    except TypeError:  # not iterable
        return False


def _csa_image_header(ds: Dataset) -> dict[str, Any] | None:
    """The parsed CSA image header, or None when it is absent or cannot be parsed.

    pydicom finds the block (any xx slot) and nibabel parses the bytes. nibabel's parser bounds
    its counts (1000 tags, 1000 items) and item lengths, but on hostile bytes it can fail in
    many ways (struct.error, AssertionError, ValueError, ...): any failure means "no CSA header",
    and the count falls back to (0019,100A).
    """
    try:
        value = ds.private_block(0x0029, "SIEMENS CSA HEADER")[0x10].value
        if not isinstance(value, bytes) or not 0 < len(value) <= MAX_CSA_BYTES:
            return None
        csa = _csareader().read(value)
    except Exception:
        return None
    return csa if isinstance(csa, dict) and isinstance(csa.get("tags"), dict) else None


def _csa_items(csa: dict[str, Any] | None, name: str) -> list[Any] | None:
    tag = csa["tags"].get(name) if csa else None
    items = tag.get("items") if isinstance(tag, dict) else None
    return items if isinstance(items, list) and items else None


def _count(ds: Dataset, csa: dict[str, Any] | None) -> tuple[int, str]:
    """Slices in the mosaic: from the CSA header, else from (0019,100A)."""
    items = _csa_items(csa, "NumberOfImagesInMosaic")
    if items is not None:
        value, source = items[0], _CSA_COUNT
    else:
        value, source = _mr_header_count(ds), _MR_COUNT
    if value is None:
        raise MosaicError(
            "ImageType says MOSAIC but the number of slices in it is missing: neither the Siemens "
            f"{_CSA_COUNT} nor {_MR_COUNT} could be read"
        )
    count = _as_int(value, source)
    if not 1 <= count <= MAX_MOSAIC_SLICES:
        raise MosaicError(
            f"{source} is {count}; a mosaic holds between 1 and {MAX_MOSAIC_SLICES} slices"
        )
    return count, source


def _mr_header_count(ds: Dataset) -> Any:
    try:
        element = ds.private_block(0x0019, "SIEMENS MR HEADER")[0x0A]
        value = element.value
    except Exception:  # no such block or element, or an unreadable value
        return None
    if isinstance(value, bytes) and element.VR in ("UN", "OB") and len(value) == 2:
        # Explicit-VR files may carry the element as UN: it is a little-endian US (Siemens).
        return int.from_bytes(value, "little")
    return value


def _as_int(value: Any, what: str) -> int:
    """A whole number from an int, an integral float or a short digit string."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str) and len(value.strip()) <= 12:
        with contextlib.suppress(ValueError):  # not a number: reported below
            value = float(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise MosaicError(f"{what} is {shown}, not a whole number")


def _whole(ds: Dataset, keyword: str, what: str) -> int:
    value = _get(ds, keyword)
    if value is None:
        raise MosaicError(f"{what} is missing")
    number = _as_int(value, what)
    if number < 1:
        raise MosaicError(f"{what} is {number}; it must be at least 1")
    return number


def _floats(
    ds: Dataset, keyword: str, what: str, count: int, *, positive: bool = False
) -> tuple[float, ...]:
    """``count`` finite floats of one attribute, or MosaicError quoting the attribute."""
    value = _get(ds, keyword)
    if value is None or value == "":
        raise MosaicError(f"{what} is missing, so the slices of the mosaic cannot be placed")
    items = [value] if isinstance(value, str | bytes | int | float) else value
    try:
        numbers = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != count or not all(map(math.isfinite, numbers)):
        raise MosaicError(f"{what} is {str(value)[:60]!r}, not {count} numbers")
    if positive and not all(0 < v <= _MAX_SPACING_MM for v in numbers):
        raise MosaicError(f"{what} is {list(numbers)}; it must be positive")
    return numbers


def _orientation(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Unit row and column cosines, or MosaicError if they are not (nearly) orthonormal."""
    what = "(0020,0037) Image Orientation (Patient)"
    cosines = np.array(_floats(ds, "ImageOrientationPatient", what, 6))
    row, col = cosines[:3], cosines[3:]
    row_norm, col_norm = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    if min(row_norm, col_norm) < 0.5 or abs(row @ col) / (row_norm * col_norm) > 0.05:
        raise MosaicError(f"{what} is {cosines.tolist()}: not two perpendicular unit directions")
    return row / row_norm, col / col_norm


def _normal(
    row: np.ndarray, col: np.ndarray, csa: dict[str, Any] | None
) -> tuple[np.ndarray, Literal[1, -1], Literal["csa", "assumed"]]:
    """The direction tiles follow: cross(row, col), signed by the CSA SliceNormalVector.

    Siemens records the slice direction in the CSA header; it may point against the DICOM normal
    (e.g. when the protocol reverses image numbering), and then tile 0 is the slice furthest
    along cross(row, col). The cross product is the more precise direction, so only the CSA sign
    is used (as nibabel and dcm2niix do).
    """
    dicom_normal = np.cross(row, col)
    dicom_normal /= np.linalg.norm(dicom_normal)
    items = _csa_items(csa, "SliceNormalVector")
    if items is None:
        return dicom_normal, 1, "assumed"
    what = "CSA image header SliceNormalVector"
    try:
        csa_normal = np.array([float(v) for v in items], dtype=float)
    except (TypeError, ValueError):
        raise MosaicError(f"{what} is {str(items)[:60]}, not 3 numbers") from None
    size = float(np.linalg.norm(csa_normal)) if csa_normal.shape == (3,) else math.nan
    if not 0.5 < size < 2:  # also catches NaN and infinities
        raise MosaicError(f"{what} is {csa_normal.tolist()}, not a direction")
    cosine = float(dicom_normal @ csa_normal) / size
    if abs(cosine) < _PARALLEL_COS:
        raise MosaicError(
            f"{what} {csa_normal.round(5).tolist()} is not perpendicular to the image plane of "
            "(0020,0037) Image Orientation (Patient), so the order of the slices is unknown"
        )
    return (dicom_normal, 1, "csa") if cosine > 0 else (-dicom_normal, -1, "csa")


def _spacing(ds: Dataset, *, required: bool) -> float | None:
    """mm between slice centres: SpacingBetweenSlices (it includes any gap), else
    SliceThickness."""
    for keyword, what in (
        ("SpacingBetweenSlices", "(0018,0088) Spacing Between Slices"),
        ("SliceThickness", "(0018,0050) Slice Thickness"),
    ):
        value = _get(ds, keyword)
        if value is not None and value != "":
            return _floats(ds, keyword, what, 1, positive=True)[0]
    if required:
        raise MosaicError(
            "neither (0018,0088) Spacing Between Slices nor (0018,0050) Slice Thickness is "
            "given, so the slices of the mosaic cannot be placed"
        )
    return None


def _vector(values: np.ndarray) -> Vector:
    return (float(values[0]), float(values[1]), float(values[2]))
