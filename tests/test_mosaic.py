"""Siemens mosaics: layout, slice positions and tiles, checked three ways.

1. A synthetic mosaic whose truth comes from one formula (below), never from reading it back.
2. nibabel's Siemens mosaics (shipped in its wheel), compared with nibabel's own unpacking.
3. Hostile headers: every one gives MosaicError with a plain message, never another exception.

How nibabel's answer maps onto ours (nibabel.nicom.dicomwrappers.MosaicWrapper):
``w.get_data()`` is indexed (i, j, k) = (row, column, tile); it is *not* transposed, so
``w.get_data()[:, :, k]`` is our ``tile(pixels, mosaic, k)``. ``w.affine`` maps (i, j, k, 1) to
DICOM LPS mm (nibabel converts to RAS only when it writes NIfTI): column 0 is the column cosine
times PixelSpacing[0] (moving down a row), column 1 the row cosine times PixelSpacing[1] (moving
along a row), column 2 the CSA-signed slice normal times SpacingBetweenSlices, and the translation
is tile 0's first pixel (``w.image_position``). So ``positions[k] == w.affine @ (0, 0, k, 1)``,
and a dicomviz volume (slice, row, col) is ``w.get_data().transpose(2, 0, 1)``.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from dicomviz.errors import UsageError
from dicomviz.series.mosaic import MAX_MOSAIC_SLICES, Mosaic, MosaicError, mosaic_of, tile

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The DICOM readers are highly experimental", UserWarning)
    from nibabel.nicom import dicomwrappers

NIBABEL_DATA = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
TOLERANCE_MM = 1e-3

# --- the synthetic mosaic -------------------------------------------------------------------
# Truth, in DICOM LPS mm:  pixel (r, c) of tile k lies at
#     FIRST + k * SPACING * NORMAL + r * PIXEL[0] * COL + c * PIXEL[1] * ROW
# Everything is chosen so a mistake shows: an oblique plane, unequal pixel spacings, tiles that
# are not square, a grid with blank tiles, and SliceThickness different from the slice step.
ROW = np.array([0.6, 0.8, 0.0])  # direction of increasing column index
COL = np.array([0.0, 0.0, -1.0])  # direction of increasing row index
NORMAL = np.cross(ROW, COL)  # (-0.8, 0.6, 0), the DICOM slice normal
PIXEL = (2.0, 3.0)  # (between rows, between columns)
TILE = (4, 6)  # (rows, columns) of one tile
COUNT = 5  # a 3 x 3 grid: tiles 5 to 8 are blank
GRID = 3
SPACING = 5.0  # SpacingBetweenSlices; SliceThickness is 4
FIRST = np.array([10.0, 20.0, 30.0])  # first pixel of slice 0
BLANK = -1


def painted(k: int) -> np.ndarray:
    """Tile k's pixels: 100 k + 10 row + column, so tile, row and column can all be read back."""
    rows, cols = np.indices(TILE)
    return (100 * k + 10 * rows + cols).astype(np.int16)


def mosaic_pixels(count: int = COUNT) -> np.ndarray:
    """The stored mosaic image: tiles row by row from the top left, the rest blank."""
    image = np.full((GRID * TILE[0], GRID * TILE[1]), BLANK, dtype=np.int16)
    for k in range(count):
        top, left = (k // GRID) * TILE[0], (k % GRID) * TILE[1]
        image[top : top + TILE[0], left : left + TILE[1]] = painted(k)
    return image


def csa2(tags: dict[str, tuple[str, list[str]]]) -> bytes:
    """A minimal CSA2 ('SV10') header in the layout nibabel's csareader parses."""
    out = [b"SV10", b"\x04\x03\x02\x01", struct.pack("<2I", len(tags), 77)]
    for name, (vr, items) in tags.items():
        head = (name.encode(), len(items), vr.encode(), 0, len(items), 77)
        out.append(struct.pack("<64si4s3i", *head))
        for item in items:
            data = item.encode() + b"\0"
            out.append(struct.pack("<4i", len(data), len(data), 77, len(data)))
            out.append(data + b"\0" * (-len(data) % 4))
    return b"".join(out)


def csa_for(count: int, normal: np.ndarray) -> bytes:
    return csa2(
        {
            "NumberOfImagesInMosaic": ("US", [str(count)]),
            "SliceNormalVector": ("FD", [f"{v:.8f}" for v in normal]),
            "AcquisitionMatrixText": ("SH", [f"{TILE[1]}*{TILE[0]}"]),
        }
    )


def synthetic(
    mr_count: Any = COUNT,
    *,
    mr_vr: str = "US",
    csa: bytes | None = None,
    shape: tuple[int, int] | None = None,
    **attrs: Any,
) -> Dataset:
    """The synthetic mosaic written to bytes and read back, as a loader would see it.

    ``mr_count`` goes in (0019,100A) (None leaves it out); ``csa`` in (0029,1010); ``attrs``
    override or (with None) remove standard attributes.
    """
    rows, cols = shape or (GRID * TILE[0], GRID * TILE[1])
    # Siemens' ImagePositionPatient: the corner of a mosaic-sized image around the same centre.
    corner = FIRST - COL * PIXEL[0] * (rows - TILE[0]) / 2 - ROW * PIXEL[1] * (cols - TILE[1]) / 2
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.ImageOrientationPatient = [*ROW, *COL]
    ds.ImagePositionPatient = [round(float(v), 6) for v in corner]
    ds.PixelSpacing = list(PIXEL)
    ds.SpacingBetweenSlices = SPACING
    ds.SliceThickness = 4.0
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    pixels = mosaic_pixels() if shape is None else np.zeros(shape, np.int16)
    ds.PixelData = pixels.tobytes()
    if mr_count is not None:
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0A, mr_vr, mr_count)
    if csa is not None:
        ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", csa)
    for keyword, value in attrs.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return reread(ds)


def reread(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def expected_positions(normal: np.ndarray, count: int = COUNT) -> np.ndarray:
    return np.array([FIRST + k * SPACING * normal for k in range(count)])


def test_synthetic_mosaic_from_the_mr_header_places_every_tile() -> None:
    mosaic = mosaic_of(synthetic())
    assert mosaic is not None
    assert (mosaic.count, mosaic.tiles_per_row) == (COUNT, GRID)
    assert (mosaic.tile_rows, mosaic.tile_columns) == TILE
    assert mosaic.count_source == "(0019,100A) NumberOfImagesInMosaic"
    # No CSA header: the DICOM normal is assumed, and the mosaic says so.
    assert (mosaic.normal_source, mosaic.normal_sign) == ("assumed", 1)
    assert mosaic.spacing == SPACING  # SpacingBetweenSlices, not SliceThickness
    np.testing.assert_allclose(mosaic.normal, NORMAL, atol=1e-12)
    np.testing.assert_allclose(mosaic.positions, expected_positions(NORMAL), atol=1e-5)


def test_tile_k_is_the_painted_tile_k_as_a_view() -> None:
    pixels = synthetic().pixel_array
    mosaic = mosaic_of(synthetic())
    assert mosaic is not None and pixels.shape == (mosaic.rows, mosaic.columns)
    for k in range(COUNT):
        got = tile(pixels, mosaic, k)
        np.testing.assert_array_equal(got, painted(k))
        assert np.shares_memory(got, pixels)
    with pytest.raises(UsageError, match="tiles 0 to 4"):
        tile(pixels, mosaic, COUNT)  # tile 5 exists in the grid but is blank padding
    with pytest.raises(UsageError, match="12 x 18 pixels, but the array given is 18 x 12"):
        tile(pixels.T, mosaic, 0)


@pytest.mark.parametrize("sign", [1, -1])
def test_csa_header_gives_count_and_the_direction_of_the_slices(sign: int) -> None:
    # The CSA count wins over a different (0019,100A); the CSA normal may oppose cross(row, col).
    ds = synthetic(mr_count=7, csa=csa_for(COUNT, sign * NORMAL))
    mosaic = mosaic_of(ds)
    assert mosaic is not None
    assert mosaic.count == COUNT
    assert mosaic.count_source == "CSA image header (0029,1010) NumberOfImagesInMosaic"
    assert (mosaic.normal_source, mosaic.normal_sign) == ("csa", sign)
    np.testing.assert_allclose(mosaic.positions, expected_positions(sign * NORMAL), atol=1e-5)
    # nibabel reads the same synthetic file the same way.
    wrapper = nibabel_wrapper(ds)
    assert wrapper.n_mosaic == COUNT
    np.testing.assert_allclose(mosaic.positions, nibabel_positions(wrapper), atol=TOLERANCE_MM)


def test_ordinary_images_are_not_mosaics() -> None:
    assert mosaic_of(synthetic(ImageType=["ORIGINAL", "PRIMARY", "M", "ND"])) is None
    assert mosaic_of(synthetic(ImageType=None)) is None
    assert mosaic_of(synthetic(ImageType="MOSAIC")) is not None  # a single value is enough


def test_one_slice_mosaic_needs_no_spacing() -> None:
    mosaic = mosaic_of(
        synthetic(mr_count=1, shape=TILE, SpacingBetweenSlices=None, SliceThickness=None)
    )
    assert mosaic is not None
    assert (mosaic.count, mosaic.tiles_per_row, mosaic.spacing) == (1, 1, None)
    np.testing.assert_allclose(mosaic.positions, [FIRST], atol=1e-5)


def test_a_header_without_private_elements_is_a_usage_error() -> None:
    # The lean scanner's header answers get() but keeps no private elements.
    with pytest.raises(UsageError, match="needs a pydicom Dataset"):
        mosaic_of({"ImageType": ["ORIGINAL", "PRIMARY", "MOSAIC"]})  # type: ignore[arg-type]


# --- hostile headers ------------------------------------------------------------------------

HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "count 0": ({"mr_count": 0}, r"\(0019,100A\) NumberOfImagesInMosaic is 0; a mosaic holds"),
    "count 100 in a 2x2 layout": (
        {"mr_count": 100, "shape": (8, 8)},
        r"is 100, which needs a 10 x 10 grid of tiles, but the 8 x 8 image does not divide",
    ),
    "count far too large": (
        {"mr_count": "4000000000", "mr_vr": "IS"},
        r"is 4000000000; a mosaic holds between 1 and 1024 slices",
    ),
    "non-numeric count": ({"mr_count": "many", "mr_vr": "LO"}, r"is 'many', not a whole number"),
    "no count anywhere": ({"mr_count": None}, r"number of slices in it is missing"),
    "truncated CSA and no fallback": (
        {"mr_count": None, "csa": csa_for(COUNT, NORMAL)[:150]},
        r"number of slices in it is missing",
    ),
    "non-numeric CSA count": (
        {"csa": csa2({"NumberOfImagesInMosaic": ("LO", ["lots"])})},
        r"CSA image header \(0029,1010\) NumberOfImagesInMosaic is 'lots', not a whole number",
    ),
    "CSA normal in the image plane": (
        {"csa": csa_for(COUNT, ROW)},
        r"SliceNormalVector \[0.6, 0.8, 0.0\] is not perpendicular to the image plane",
    ),
    "missing orientation": (
        {"ImageOrientationPatient": None},
        r"\(0020,0037\) Image Orientation \(Patient\) is missing",
    ),
    "orientation not orthogonal": (
        {"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]},
        r"not two perpendicular unit directions",
    ),
    "orientation of five numbers": (
        {"ImageOrientationPatient": [1, 0, 0, 0, 1]},
        r"Image Orientation \(Patient\) is .*not 6 numbers",
    ),
    "missing position": (
        {"ImagePositionPatient": None},
        r"\(0020,0032\) Image Position \(Patient\) is missing",
    ),
    "infinite position": (
        {"ImagePositionPatient": ["0", "inf", "0"]},
        r"\(0020,0032\) Image Position \(Patient\) is .*not 3 numbers",
    ),
    "negative pixel spacing": (
        {"PixelSpacing": [-2, 3]},
        r"\(0028,0030\) Pixel Spacing is \[-2.0, 3.0\]; it must be positive",
    ),
    "no slice spacing": (
        {"SpacingBetweenSlices": None, "SliceThickness": None},
        r"neither \(0018,0088\) Spacing Between Slices nor \(0018,0050\) Slice Thickness",
    ),
    "zero rows": ({"Rows": 0, "shape": (0, 18)}, r"\(0028,0010\) Rows is 0"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_mosaic_headers_give_a_plain_mosaic_error(case: str) -> None:
    kwargs, message = HOSTILE[case]
    with pytest.raises(MosaicError, match=message):
        mosaic_of(synthetic(**kwargs))


def test_unreadable_csa_header_falls_back_to_the_mr_header() -> None:
    mosaic = mosaic_of(synthetic(csa=csa_for(COUNT, -NORMAL)[:150]))
    assert mosaic is not None
    assert (mosaic.count, mosaic.count_source) == (COUNT, "(0019,100A) NumberOfImagesInMosaic")
    assert mosaic.normal_source == "assumed"


def test_mangled_real_csa_headers_raise_only_mosaic_error() -> None:
    """Truncate and overwrite bytes of a real CSA header: only Mosaic or MosaicError come out."""
    ds = nibabel_file("siemens_dwi_0.dcm.gz", pixels=False)
    element = ds.private_block(0x0029, "SIEMENS CSA HEADER")[0x10]
    original = element.value
    del ds[ds.private_block(0x0019, "SIEMENS MR HEADER").get_tag(0x0A)]  # no fallback count
    rng = np.random.default_rng(20260110)
    outcomes: set[str] = set()
    for attempt in range(300):
        keep = len(original) if attempt % 2 else int(rng.integers(0, len(original)))
        data = bytearray(original[:keep])
        for at in rng.integers(0, max(len(data), 1), size=int(rng.integers(0, 8))):
            if data:
                data[at] = int(rng.integers(0, 256))
        element.value = bytes(data)
        try:
            outcomes.add(type(mosaic_of(ds)).__name__)
        except MosaicError as exc:
            assert str(exc) and "Traceback" not in str(exc)
            outcomes.add("MosaicError")
    assert outcomes == {"Mosaic", "MosaicError"}


# --- real Siemens mosaics from nibabel's wheel -----------------------------------------------


def nibabel_file(name: str, *, pixels: bool = True) -> Dataset:
    path = NIBABEL_DATA / name
    assert path.exists(), f"nibabel's test data is missing: {path}"
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=not pixels)


def nibabel_wrapper(ds: Dataset) -> Any:
    wrapper = dicomwrappers.wrapper_from_data(ds)
    assert isinstance(wrapper, dicomwrappers.MosaicWrapper)
    return wrapper


def nibabel_positions(wrapper: Any) -> np.ndarray:
    """First pixel of each tile from nibabel's affine (see the module docstring)."""
    return np.array([(wrapper.affine @ [0, 0, k, 1])[:3] for k in range(wrapper.n_mosaic)])


@pytest.mark.parametrize("name", ["siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"])
def test_real_mosaics_match_nibabel(name: str) -> None:
    ds = nibabel_file(name)
    mosaic = mosaic_of(ds)
    wrapper = nibabel_wrapper(ds)
    assert mosaic is not None
    # 48 slices of 128 x 128 in a 7 x 7 grid of an 896 x 896 image; TrioTim, 0.3 degrees oblique.
    assert (mosaic.tile_rows, mosaic.tile_columns, mosaic.count) == wrapper.image_shape
    assert (mosaic.count, mosaic.tiles_per_row) == (48, 7)
    assert (mosaic.normal_source, mosaic.normal_sign) == ("csa", 1)
    np.testing.assert_allclose(mosaic.positions[0], wrapper.image_position, atol=TOLERANCE_MM)
    np.testing.assert_allclose(mosaic.positions, nibabel_positions(wrapper), atol=TOLERANCE_MM)
    # Every pixel: nibabel's affine and ours agree on where pixel (r, c) of tile k lies.
    row, col = np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:])
    spacing = [float(v) for v in ds.PixelSpacing]
    for k, r, c in [(0, 0, 0), (5, 127, 0), (47, 0, 127), (30, 64, 100)]:
        ours = np.array(mosaic.positions[k]) + r * spacing[0] * col + c * spacing[1] * row
        np.testing.assert_allclose(ours, (wrapper.affine @ [r, c, k, 1])[:3], atol=TOLERANCE_MM)
    data = wrapper.get_data()  # (row, column, tile); no rescale in these files, so exact
    pixels = ds.pixel_array
    for k in range(mosaic.count):
        np.testing.assert_array_equal(tile(pixels, mosaic, k), data[:, :, k])


def test_slice_centres_match_the_scanner_protocol() -> None:
    """Independent of nibabel: the protocol (ASCCONV in the CSA series header) lists each
    slice's centre in spatial order; Siemens puts it at pixel (rows/2, columns/2) of the slice.
    This file was acquired descending (MosaicRefAcqTimes run backwards), yet tile k is still
    asSlice[k]: tiles are in spatial order along the normal."""
    ds = nibabel_file("siemens_dwi_0.dcm.gz", pixels=False)
    mosaic = mosaic_of(ds)
    assert mosaic is not None
    protocol = ds.private_block(0x0029, "SIEMENS CSA HEADER")[0x20].value.decode("latin-1")
    centres: dict[int, list[float]] = {}
    pattern = r"sSliceArray\.asSlice\[(\d+)\]\.sPosition\.d(Sag|Cor|Tra)\s*=\s*(\S+)"
    for index, axis, value in re.findall(pattern, protocol):
        centres.setdefault(int(index), [0.0, 0.0, 0.0])["SCT".index(axis[0])] = float(value)
    assert len(centres) == mosaic.count
    row, col = np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:])
    spacing = [float(v) for v in ds.PixelSpacing]
    for k, first in enumerate(mosaic.positions):
        centre = (
            np.array(first)
            + mosaic.tile_rows / 2 * spacing[0] * col
            + mosaic.tile_columns / 2 * spacing[1] * row
        )
        np.testing.assert_allclose(centre, centres[k], atol=TOLERANCE_MM)


def test_slightly_non_orthogonal_csa_normal_matches_nibabel() -> None:
    # nibabel keeps this header-only file because its CSA normal and cross(row, col) differ in
    # the 6th decimal; 32 slices of 64 x 64, 26 degrees oblique.
    ds = nibabel_file("csa_slice_norm.dcm")
    mosaic = mosaic_of(ds)
    assert mosaic is not None
    assert (mosaic.count, mosaic.tile_rows, mosaic.tile_columns) == (32, 64, 64)
    np.testing.assert_allclose(
        mosaic.positions, nibabel_positions(nibabel_wrapper(ds)), atol=TOLERANCE_MM
    )


@pytest.mark.parametrize("name", ["0.dcm", "1.dcm"])
def test_shrunken_mosaic_that_nibabel_cannot_unpack_is_refused(name: str) -> None:
    """nibabel's 0.dcm/1.dcm keep the 48-slice header but were shrunk to 256 x 256 pixels:
    nibabel reports 36 x 36 tiles and then fails to reshape the pixels; we say why up front."""
    ds = nibabel_file(name)
    assert nibabel_wrapper(ds).image_shape == (36, 36, 48)
    with pytest.raises(MosaicError, match="256 x 256 image does not divide into 7 tiles per side"):
        mosaic_of(ds)


def test_limits_are_consistent() -> None:
    assert math.isqrt(MAX_MOSAIC_SLICES) ** 2 == MAX_MOSAIC_SLICES  # a full square grid
    with pytest.raises(UsageError):
        Mosaic(2, 4, 4, 1, ((0.0, 0.0, 0.0),) * 2, (0.0, 0.0, 1.0), 1, "csa", 1.0, "test")
