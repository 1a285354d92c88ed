"""NIfTI export (dicomviz.export): equal to dcm2niix's, and where not, different on purpose.

The comparisons run the pip ``dcm2niix`` binary installed next to this Python on the same
folder dicomviz reads, bring both images to their closest canonical orientation and require
the same voxel grid (affines within 0.01 mm and 0.01 degrees) and the same values: exactly for
integer data, to float32 precision (at the data's scale) for rescaled data stored as floats.
Without dcm2niix these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from scipy import ndimage
from synth import make_series

import dicomviz
from dicomviz.cli import main
from dicomviz.errors import InputFileError
from dicomviz.export import nifti_gz, nifti_image, no_data, sidecar, sidecar_json
from dicomviz.export.nifti import is_sheared, nifti_affine, unsheared
from dicomviz.pixels.resample import on_grid
from dicomviz.pixels.volume import Volume
from dicomviz.series.stacks import Stack

DATA = Path(__file__).parent / "data"
MM = 0.01
DEGREES = 0.01


# ---------- helpers ----------


@pytest.fixture(scope="session")
def dcm2niix() -> str:
    """The dcm2niix binary of ``pip install dcm2niix`` (requirements-dev.txt)."""
    found = shutil.which("dcm2niix", path=str(Path(sys.executable).parent))
    if found is None:
        message = (
            f"dcm2niix is not installed in {Path(sys.executable).parent}: pip install dcm2niix"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run_dcm2niix(exe: str, source: Path, out: Path, *options: str) -> list[Path]:
    """dcm2niix's .nii.gz files for the DICOM files in ``source`` (no sidecars)."""
    out.mkdir()
    command = [exe, "-z", "y", "-b", "n", "-f", "dcm2niix", *options, "-o", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted(out.glob("*.nii.gz"))


def _folder(path: Path, files: list[tuple[str, bytes]]) -> Path:
    path.mkdir()
    for name, data in files:
        (path / name).write_bytes(data)
    return path


def _painted(files: list[tuple[str, bytes]], *, smooth: bool = False) -> list[tuple[str, bytes]]:
    """The same files with new pixels: random values seeded by the image's UID (any voxel put
    in the wrong place shows), or with ``smooth`` a smooth function of each pixel's LPS
    position (what two different resamplings can agree on)."""
    out = []
    for name, data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        frames = int(ds.get("NumberOfFrames") or 1)
        shape = (frames, ds.Rows, ds.Columns) if frames > 1 else (ds.Rows, ds.Columns)
        if smooth:
            values = _field(_pixel_positions(ds))
        else:
            seed = int.from_bytes(hashlib.sha256(ds.SOPInstanceUID.encode()).digest()[:8], "big")
            low = -1000 if ds.PixelRepresentation else 0
            values = np.random.default_rng(seed).integers(low, low + 4000, shape)
        ds.PixelData = values.astype(np.int16 if ds.PixelRepresentation else np.uint16).tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((name, buffer.getvalue()))
    return out


def _pixel_positions(ds: pydicom.Dataset) -> np.ndarray:
    """LPS mm of every pixel of a single-frame image, shape (rows, columns, 3)."""
    orientation = np.array(ds.ImageOrientationPatient, dtype=float)
    row, col = orientation[:3], orientation[3:]
    spacing = np.array(ds.PixelSpacing, dtype=float)
    r, c = np.mgrid[: ds.Rows, : ds.Columns].astype(float)
    origin = np.array(ds.ImagePositionPatient, dtype=float)
    return origin + c[..., None] * spacing[1] * row + r[..., None] * spacing[0] * col


def _field(where: np.ndarray) -> np.ndarray:
    x, y, z = where[..., 0], where[..., 1], where[..., 2]
    return np.rint(800 * np.sin(x / 9) * np.cos(y / 11) + 400 * np.cos(z / 7))


def _ours(source: Path, grid: str = "acquired") -> tuple[Stack, Volume, nib.Nifti1Image]:
    stack = dicomviz.load([source]).largest()
    volume = on_grid(dicomviz.build_volume(stack), grid)
    return stack, volume, nifti_image(volume)


def _assert_same_affine(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Same origin within 0.01 mm; each axis the same length within 0.01 mm and direction
    within 0.01 degrees."""
    np.testing.assert_allclose(ours[:3, 3], theirs[:3, 3], atol=MM, rtol=0)
    for axis in range(3):
        a, b = ours[:3, axis], theirs[:3, axis]
        assert abs(np.linalg.norm(a) - np.linalg.norm(b)) < MM, (axis, a, b)
        cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert np.degrees(np.arccos(np.clip(cosine, -1, 1))) < DEGREES, (axis, a, b)


def _canonical(image: nib.Nifti1Image, volume: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values and affine of ``image`` (one volume of a 4-D one) in closest canonical order."""
    if volume is not None:
        image = image.slicer[..., volume]
    canonical = nib.as_closest_canonical(image)
    return canonical.get_fdata(), canonical.affine


def _assert_same_image(ours: nib.Nifti1Image, theirs: nib.Nifti1Image) -> None:
    a, a_affine = _canonical(ours)
    b, b_affine = _canonical(theirs)
    assert a.shape == b.shape
    _assert_same_affine(a_affine, b_affine)
    if ours.get_data_dtype() == np.int16:
        np.testing.assert_array_equal(a, b)
    else:  # ours rescaled in float32 arithmetic, dcm2niix's in double on reading: the same
        # to float32 precision at the data's scale (e.g. 2048 * 0.2442 - 500 Hz near 0)
        scale = float(np.abs(b).max())
        np.testing.assert_allclose(a, b, rtol=0, atol=4 * np.finfo(np.float32).eps * scale)


def _extract(archive: Path, folder: Path) -> Path:
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder)
    return folder


# ---------- equal to dcm2niix: synthetic series of known geometry ----------

_C, _S = np.cos(0.3), np.sin(0.3)
SYNTHETIC = {
    "axial": {},
    "coronal": {"row_cosine": (1, 0, 0), "col_cosine": (0, 0, -1)},
    "sagittal": {"row_cosine": (0, 1, 0), "col_cosine": (0, 0, -1)},
    "oblique": {"row_cosine": (_C, _S, 0), "col_cosine": (-_S * 0.8, _C * 0.8, 0.6)},
    "reversed": {"reverse": True},
    "shuffled": {"shuffle_seed": 7, "row_cosine": (0, 1, 0), "col_cosine": (0, 0, -1)},
    "anisotropic": {"pixel_spacing": (0.7, 0.8), "slice_spacing": 3.0, "rows": 40},
    "ct-intercept": {"intercept": -1024.0},
    "mr-fractional-rescale": {"modality": "MR", "slope": 0.5, "intercept": 0.25},
    "mr-uint16": {"modality": "MR", "dtype": np.uint16},
    "enhanced": {"enhanced": True, "row_cosine": (1, 0, 0), "col_cosine": (0, 0, -1)},
    "one-slice": {"slices": 1},
}


@pytest.mark.parametrize("case", SYNTHETIC)
def test_synthetic_series_equal_dcm2niix(dcm2niix: str, tmp_path: Path, case: str) -> None:
    source = _folder(tmp_path / "dicom", _painted(make_series(**SYNTHETIC[case])))
    (theirs,) = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    _, _, ours = _ours(source)
    _assert_same_image(ours, nib.load(theirs))
    expected = np.float32 if case == "mr-fractional-rescale" else np.int16
    assert ours.get_data_dtype() == expected


# ---------- equal to dcm2niix: real files ----------

REAL = [
    ("pydicom-data", "693_UNCR.dcm"),  # CT
    ("pydicom-data", "MR2_UNCR.dcm"),  # MR, fractional rescale slope (float32)
    ("pydicom-data", "MR2_J2KR.dcm"),  # the same, JPEG 2000 lossless
    ("pydicom-data", "eCT_Supplemental.dcm"),  # enhanced CT, 2 frames
    ("pydicom-data", "liver.dcm"),  # 3 frames of 1-bit pixels
    ("pydicom", "CT_small.dcm"),
    ("pydicom", "MR_small.dcm"),
    ("tests", "siemens_mosaic_three_syntaxes.zip"),  # a mosaic, saved three ways
    ("tests", "ct_blank_uids_two_slices.zip"),
]


@pytest.mark.parametrize(("where", "name"), REAL, ids=[n for _, n in REAL])
def test_real_series_equal_dcm2niix(
    dcm2niix: str,
    tmp_path: Path,
    pydicom_data_dir: Path,
    pydicom_test_dir: Path,
    where: str,
    name: str,
) -> None:
    source = tmp_path / "dicom"
    if where == "tests":
        _extract(DATA / name, source)
    else:
        folder = pydicom_data_dir if where == "pydicom-data" else pydicom_test_dir / "test_files"
        source.mkdir()
        shutil.copy(folder / name, source / name)
    found = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    _, _, ours = _ours(source)
    assert found
    for theirs in found:  # the mosaic's three copies: one stack here, three files there
        _assert_same_image(ours, nib.load(theirs))


# ---------- gantry tilt: on patient axes against dcm2niix's tilt correction ----------


def _tilted(kind: str) -> dict:
    """A tilted stack, 30 slices of 48 x 48 1 mm pixels. "sheared": axial images whose
    positions shift 0.7 mm a slice towards posterior (as make_series tilts). "tilted-images":
    images tilted 18.5 degrees about the x axis while the table steps 2 mm along z, as on a
    scanner, columns running posterior and inferior; "tilted-the-other-way": the same tilt
    with columns running posterior and superior."""
    common = {"rows": 48, "columns": 48, "slices": 30, "origin": (-24.0, -24.0, -30.0)}
    if kind == "sheared":
        return {**common, "tilt_mm_per_slice": (0.0, 0.7, 0.0)}
    angle = np.radians(18.5 if kind == "tilted-the-other-way" else -18.5)
    c, s = np.cos(angle), np.sin(angle)
    return {
        **common,
        "col_cosine": (0.0, c, s),
        "slice_spacing": 2 * c,  # the table's 2 mm along z, measured along the normal
        "tilt_mm_per_slice": (0.0, 2 * c * s, 2 * s * s),  # the rest of it, in-plane
    }


def _data_voxels(volume: Volume) -> np.ndarray:
    """NIfTI indices (as our export lays them out) of the voxels that hold data."""
    missing = nifti_image(replace(volume, array=np.isnan(volume.array).astype(np.float32)))
    return np.argwhere(np.asarray(missing.dataobj) == 0)


def _lps(image: nib.Nifti1Image, index: np.ndarray) -> np.ndarray:
    ras = index @ image.affine[:3, :3].T + image.affine[:3, 3]
    return ras * [-1, -1, 1]


def _correlation_over_shared_field(volume: Volume, theirs: nib.Nifti1Image) -> tuple[float, int]:
    """Pearson correlation between our export and ``theirs`` (trilinear at our voxel centres)
    over the voxels both have data for, and how many those are."""
    ours = nifti_image(volume)
    index = _data_voxels(volume)
    world = index @ ours.affine[:3, :3].T + ours.affine[:3, 3]
    inverse = np.linalg.inv(theirs.affine)
    at = world @ inverse[:3, :3].T + inverse[:3, 3]
    sampled = ndimage.map_coordinates(theirs.get_fdata(), at.T, order=1, cval=np.nan)
    shared = np.isfinite(sampled)
    values = np.asarray(ours.dataobj)[tuple(index.T)][shared]
    return float(np.corrcoef(values, sampled[shared])[0, 1]), int(shared.sum())


def _correlation_with_truth(image: nib.Nifti1Image, index: np.ndarray) -> float:
    """How well the values at ``index`` follow the field painted at the files' positions."""
    values = np.asarray(image.dataobj)[tuple(index.T)]
    return float(np.corrcoef(values, _field(_lps(image, index)))[0, 1])


@pytest.mark.parametrize("kind", ["sheared", "tilted-images"])
def test_tilted_ct_on_patient_axes_matches_dcm2niix_tilt_correction(
    dcm2niix: str, tmp_path: Path, kind: str
) -> None:
    source = _folder(tmp_path / "dicom", _painted(make_series(**_tilted(kind)), smooth=True))
    found = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    (corrected,) = [p for p in found if "_Tilt_" in p.name]
    stack, volume, ours = _ours(source, "patient")
    correlation, shared = _correlation_over_shared_field(volume, nib.load(corrected))
    assert correlation >= 0.99
    assert shared >= 0.8 * np.count_nonzero(~np.isnan(volume.array))
    assert _correlation_with_truth(ours, _data_voxels(volume)) >= 0.999
    facts = sidecar(stack, volume)
    assert facts["Grid"] == "patient" and facts["NoDataVoxels"] > 0
    assert facts["GantryTilt"] == pytest.approx(19.29 if kind == "sheared" else 18.5, abs=0.01)


def test_tilted_the_other_way_dcm2niix_misplaces_its_correction(
    dcm2niix: str, tmp_path: Path
) -> None:
    """Deliberate: tilted the other way (columns running superior), dcm2niix's "_Tilt_" file
    (v1.0.20260724) no longer follows the files' positions, while its uncorrected file and
    our export on patient axes do: dicomviz resamples from the positions, whatever the
    tilt's direction."""
    source = _folder(
        tmp_path / "dicom", _painted(make_series(**_tilted("tilted-the-other-way")), smooth=True)
    )
    found = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    (corrected,) = [nib.load(p) for p in found if "_Tilt_" in p.name]
    (uncorrected,) = [nib.load(p) for p in found if "_Tilt_" not in p.name]
    _, volume, ours = _ours(source, "patient")
    assert _correlation_with_truth(ours, _data_voxels(volume)) >= 0.999
    filled = np.asarray(corrected.dataobj)
    measured = np.argwhere(filled > filled.min())  # dcm2niix fills with the lowest value
    assert _correlation_with_truth(corrected, measured) < 0.5
    everywhere = np.argwhere(np.ones(uncorrected.shape, dtype=bool))
    assert _correlation_with_truth(uncorrected, everywhere) > 0.98


def test_tilted_ct_as_acquired_keeps_its_shear_where_dcm2niix_drops_it(
    dcm2niix: str, tmp_path: Path
) -> None:
    """Deliberate: as acquired, our sform keeps every voxel at its true position (the shear);
    dcm2niix's uncorrected file drops the shear (its affine places only the first slice
    right). Our qform is the same unsheared affine as theirs; the values are the same."""
    source = _folder(tmp_path / "dicom", _painted(make_series(**_tilted("sheared"))))
    (uncorrected,) = [
        p for p in _run_dcm2niix(dcm2niix, source, tmp_path / "out") if "_Tilt_" not in p.name
    ]
    _, _, ours = _ours(source, "acquired")
    theirs = nib.load(uncorrected)
    np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
    _assert_same_affine(ours.get_qform(), theirs.affine)
    sform = ours.get_sform()
    assert is_sheared(sform) and not is_sheared(theirs.affine)
    # RAS: the 0.7 mm a slice towards posterior is -0.7 along y.
    np.testing.assert_allclose(sform[:3, 2] - theirs.affine[:3, 2], [0, -0.7, 0], atol=MM)


# ---------- deliberate differences ----------


def test_a_missing_slice_is_no_data_where_dcm2niix_interpolates(
    dcm2niix: str, tmp_path: Path
) -> None:
    """Deliberate: slices 4 mm apart in a 2 mm stack of 2 mm slices. Both resample along the
    normal onto the 2 mm grid (dcm2niix's "_Eq_" file); where nothing was measured dcm2niix
    interpolates its neighbours, dicomviz writes no data (the lowest value, counted in the
    sidecar). dcm2niix's other file stacks the 19 slices as if evenly spaced."""
    source = _folder(tmp_path / "dicom", _painted(make_series(gap_after=5)))
    found = {p.name: p for p in _run_dcm2niix(dcm2niix, source, tmp_path / "out")}
    stack, volume, ours = _ours(source)
    assert nib.load(found["dcm2niix.nii.gz"]).shape == (24, 32, 19)
    a, a_affine = _canonical(ours)
    b, b_affine = _canonical(nib.load(found["dcm2niix_Eq_1.nii.gz"]))
    _assert_same_affine(a_affine, b_affine)
    gap = 6  # the plane where slice 6 was left out
    others = [k for k in range(20) if k != gap]
    np.testing.assert_array_equal(a[..., others], b[..., others])
    count, value = no_data(volume)
    assert count == 24 * 32 and (a[..., gap] == value).all()
    assert value == np.nanmin(volume.array)
    np.testing.assert_allclose(b[..., gap], (b[..., gap - 1] + b[..., gap + 1]) / 2, atol=0.5)
    facts = sidecar(stack, volume)
    assert (facts["NoDataVoxels"], facts["NoDataValue"]) == (count, value)


def test_a_4d_series_is_one_file_per_volume_here_one_4d_file_there(
    dcm2niix: str, tmp_path: Path
) -> None:
    """Deliberate: dcm2niix writes a 4-D series (here 13 diffusion volumes of 3 slices) as one
    4-D NIfTI; dicomviz exports the volume chosen (a stack, UID#n), equal to that volume."""
    source = _extract(DATA / "canon_dti_three_positions.zip", tmp_path / "dicom")
    (theirs,) = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    four_d = nib.load(theirs)
    stacks = dicomviz.load([source]).stacks
    assert four_d.shape == (80, 80, 3, 13) and len(stacks) == 13
    for number, stack in enumerate(stacks):
        ours = nifti_image(dicomviz.build_volume(stack))
        a, a_affine = _canonical(ours)
        b, b_affine = _canonical(four_d, volume=number)
        _assert_same_affine(a_affine, b_affine)
        np.testing.assert_array_equal(a, b)
        assert sidecar(stack, dicomviz.build_volume(stack))["Volume"] == stack.label


def test_philips_values_are_the_standard_rescale_not_philips_private_scaling(
    dcm2niix: str, tmp_path: Path
) -> None:
    """Deliberate: dicomviz applies RescaleSlope/Intercept, as the standard says (Philips's
    "displayed values"); dcm2niix by default applies Philips's private floating-point scale
    (its -p y). With -p n the files are equal. By default the magnitude differs by a factor,
    and the field map (in Hz either way) by under 0.01 Hz: dcm2niix rebuilds its scaling from
    the private scale's single-precision value."""
    source = _extract(DATA / "philips_enhanced_b0map.zip", tmp_path / "dicom")
    plain = _run_dcm2niix(dcm2niix, source, tmp_path / "plain", "-p", "n")
    precise = _run_dcm2niix(dcm2niix, source, tmp_path / "precise")
    stacks = dicomviz.load([source]).stacks
    magnitude, field_map = (nifti_image(dicomviz.build_volume(s)) for s in stacks)
    assert [p.name for p in plain] == ["dcm2niix_e1.nii.gz", "dcm2niix_e2_fieldmaphz.nii.gz"]
    _assert_same_image(magnitude, nib.load(plain[0]))
    _assert_same_image(field_map, nib.load(plain[1]))
    ours, theirs = _canonical(field_map)[0], _canonical(nib.load(precise[1]))[0]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.01)
    ours, theirs = _canonical(magnitude)[0], _canonical(nib.load(precise[0]))[0]
    assert not np.allclose(ours, theirs)
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.9999  # one scale apart


def test_without_geometry_dcm2niix_keeps_rows_as_stored(
    dcm2niix: str, tmp_path: Path, pydicom_data_dir: Path
) -> None:
    """Deliberate: an image with no orientation, position or pixel spacing (emri_small) has no
    true geometry. dicomviz places it as if axial (1 mm pixels, first voxel at 0) and lays it
    out as every other axial image; dcm2niix skips its row flip for such images and centres
    them. Same values, rows reversed."""
    source = tmp_path / "dicom"
    source.mkdir()
    shutil.copy(pydicom_data_dir / "emri_small.dcm", source)
    (theirs,) = _run_dcm2niix(dcm2niix, source, tmp_path / "out")
    _, _, ours = _ours(source)
    np.testing.assert_array_equal(
        np.asarray(ours.dataobj), np.asarray(nib.load(theirs).dataobj)[:, ::-1, :]
    )


# ---------- the image itself (no dcm2niix needed) ----------


def _volume(affine: np.ndarray, array: np.ndarray | None = None, **fields) -> Volume:
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) if array is None else array
    return Volume(array=array, affine=affine, spacing=(1.0, 1.0, 1.0), stack_id="1.2.3", **fields)


def _oblique() -> np.ndarray:
    """3 mm slices along the normal of an oblique plane (0.5 x 0.7 mm pixels)."""
    along_row = np.array([_C, _S, 0.0])  # direction of increasing column index
    along_col = np.array([-_S * 0.8, _C * 0.8, 0.6])  # of increasing row index
    affine = np.eye(4)
    affine[:3, 0] = 3 * np.cross(along_row, along_col)
    affine[:3, 1], affine[:3, 2], affine[:3, 3] = 0.5 * along_col, 0.7 * along_row, (5, -7, 11)
    return affine


AFFINES = {
    "axial": np.diag([2.0, 0.5, 0.7, 1.0]),
    "oblique": _oblique(),
    "sheared": np.array([[0, 0, 1, 0], [0.7, 1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1]], float),
}


@pytest.mark.parametrize("name", AFFINES)
def test_every_voxel_keeps_its_position_in_mm(name: str) -> None:
    volume = _volume(AFFINES[name])
    image = nifti_image(volume)
    data = np.asarray(image.dataobj)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    for index in np.ndindex(volume.shape):
        value = volume.array[index]
        (where,) = np.argwhere(data == value)  # values are unique: np.arange
        ras = image.affine @ [*where, 1]
        np.testing.assert_allclose(ras, lps_to_ras @ volume.affine @ [*index, 1], atol=1e-9)


def test_header_codes_units_scaling_and_display_range() -> None:
    volume = _volume(AFFINES["oblique"], file_window=(40.0, 400.0))
    raw = nib.Nifti1Header.from_fileobj(io.BytesIO(gzip.decompress(nifti_gz(volume))))
    assert (int(raw["sform_code"]), int(raw["qform_code"])) == (1, 1)  # scanner, both
    assert raw.get_xyzt_units() == ("mm", "sec")
    assert (float(raw["scl_slope"]), float(raw["scl_inter"])) == (1.0, 0.0)  # identity
    assert (float(raw["cal_min"]), float(raw["cal_max"])) == (-160.0, 240.0)
    assert raw.get_data_dtype() == np.int16
    image = nib.Nifti1Image.from_bytes(gzip.decompress(nifti_gz(volume)))
    _assert_same_affine(image.get_qform(), image.get_sform())  # the same unless sheared


def test_the_bytes_are_the_same_each_time() -> None:
    volume = _volume(AFFINES["axial"])
    assert nifti_gz(volume) == nifti_gz(volume)


def test_a_sheared_stack_gets_its_unsheared_twin_as_qform() -> None:
    image = nifti_image(_volume(AFFINES["sheared"]))
    sform, qform = image.get_sform(), image.get_qform()
    assert is_sheared(sform) and not is_sheared(qform)
    np.testing.assert_allclose(qform, unsheared(sform), atol=1e-5)
    np.testing.assert_allclose(qform[:3, 3], sform[:3, 3], atol=1e-5)  # first slice in place


def test_no_data_is_the_lowest_value_and_int16_when_whole() -> None:
    array = np.arange(120, dtype=np.float32).reshape(4, 5, 6) - 50
    array[2] = np.nan
    volume = _volume(AFFINES["axial"], array)
    image = nifti_image(volume)
    assert image.get_data_dtype() == np.int16
    assert no_data(volume) == (30, -50.0)
    data = np.asarray(image.dataobj)
    assert (data[:, :, 2] == -50).all() and not np.isnan(image.get_fdata()).any()


def test_fractional_values_stay_float32() -> None:
    array = np.full((4, 5, 6), 0.5, dtype=np.float32)
    assert nifti_image(_volume(AFFINES["axial"], array)).get_data_dtype() == np.float32
    large = np.full((4, 5, 6), 40000.0, dtype=np.float32)
    assert nifti_image(_volume(AFFINES["axial"], large)).get_data_dtype() == np.float32


def test_nifti_affine_doctest_layout() -> None:
    affine = nifti_affine(np.diag([2.0, 0.5, 0.5, 1.0]), rows=100)
    np.testing.assert_allclose(affine[:3, 3], [0, -49.5, 0])


# ---------- the sidecar ----------


def _mr_series(tmp_path: Path, **attributes) -> Path:
    """An MR series whose files also carry ``attributes`` (DICOM keywords)."""
    files = []
    for name, data in make_series(modality="MR", slices=4):
        ds = pydicom.dcmread(io.BytesIO(data))
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append((name, buffer.getvalue()))
    return _folder(tmp_path / "mr", files)


MR_FACTS = {
    "Manufacturer": "SIEMENS",
    "ManufacturerModelName": "Prisma",
    "MagneticFieldStrength": 3,
    "EchoTime": 12.5,
    "RepetitionTime": 2000,
    "InversionTime": 900,
    "FlipAngle": 9,
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711",
    "SeriesDescription": "T1 MPRAGE Doe",
    "InstitutionName": "General Hospital",
}


def test_sidecar_has_the_acquisition_facts_in_bids_names_and_units(tmp_path: Path) -> None:
    stack, volume, _ = _ours(_mr_series(tmp_path, **MR_FACTS))
    facts = sidecar(stack, volume)
    assert facts["Modality"] == "MR" and facts["Manufacturer"] == "SIEMENS"
    assert facts["ManufacturersModelName"] == "Prisma"
    assert facts["MagneticFieldStrength"] == 3
    assert (facts["EchoTime"], facts["RepetitionTime"], facts["InversionTime"]) == (
        0.0125,
        2.0,
        0.9,
    )  # seconds, as BIDS
    assert facts["FlipAngle"] == 9
    assert facts["PixelSpacing"] == [1.0, 1.0] and facts["SpacingBetweenSlices"] == 2.0
    assert facts["SliceThickness"] == 2.0 and facts["GantryTilt"] == 0.0
    assert (facts["RescaleSlope"], facts["RescaleIntercept"]) == (1.0, 0.0)
    assert facts["Grid"] == "acquired" and "NoDataVoxels" not in facts
    assert json.loads(sidecar_json(stack, volume)) == facts  # plain data


def test_sidecar_names_the_patient_only_when_asked(tmp_path: Path) -> None:
    stack, volume, _ = _ours(_mr_series(tmp_path, **MR_FACTS))
    text = sidecar_json(stack, volume)
    for secret in ("Doe", "Jane", "PID-4711", "General Hospital", stack.series_uid):
        assert secret not in text
    assert json.loads(text)["SeriesDescription"] == "T1 MPRAGE (hidden)"
    named = sidecar(stack, volume, with_identifiers=True)
    assert named["PatientName"] == "Doe^Jane" and named["PatientID"] == "PID-4711"
    assert named["SeriesInstanceUID"] == stack.series_uid
    assert named["SeriesDescription"] == "T1 MPRAGE Doe"


def test_sidecar_without_a_readable_header_leaves_descriptions_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, volume, _ = _ours(_mr_series(tmp_path, **MR_FACTS))

    def unreadable(self: Stack) -> pydicom.Dataset:
        raise InputFileError("IM0001", "cannot be parsed")

    monkeypatch.setattr(Stack, "first_dataset", unreadable)
    facts = sidecar(stack, volume)
    assert "SeriesDescription" not in facts and "Manufacturer" not in facts
    assert facts["Modality"] == "MR" and facts["EchoTime"] == 0.0125  # the header record's


# ---------- the command line ----------


def test_convert_writes_the_image_and_its_sidecar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _folder(tmp_path / "dicom", _painted(make_series(intercept=-1024.0)))
    out = tmp_path / "result" / "ct.nii.gz"
    out.parent.mkdir()
    assert main(["convert", str(source), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out} (24 x 32 x 20, int16, as acquired) and ct.json" in err
    image = nib.load(out)
    _, _, ours = _ours(source)
    np.testing.assert_array_equal(image.get_fdata(), ours.get_fdata())
    np.testing.assert_allclose(image.affine, ours.affine)
    facts = json.loads((out.parent / "ct.json").read_text())
    assert facts["Modality"] == "CT" and facts["RescaleIntercept"] == -1024.0
    assert "PatientName" not in facts
    assert (
        main(["convert", str(source), "-o", str(tmp_path / "plain.nii"), "--with-identifiers"]) == 0
    )
    assert nib.load(tmp_path / "plain.nii").shape == (24, 32, 20)
    assert json.loads((tmp_path / "plain.json").read_text())["PatientID"] == "SYNTH0001"


def test_convert_puts_a_tilted_ct_on_patient_axes_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _folder(tmp_path / "dicom", make_series(**_tilted("sheared")))
    assert main(["convert", str(source), "-o", str(tmp_path / "default.nii.gz")]) == 0
    assert "on patient axes" in capsys.readouterr().err
    assert json.loads((tmp_path / "default.json").read_text())["Grid"] == "patient"
    assert not is_sheared(nib.load(tmp_path / "default.nii.gz").affine)
    argv = ["convert", str(source), "--grid", "acquired", "-o", str(tmp_path / "acq.nii.gz")]
    assert main(argv) == 0
    assert is_sheared(nib.load(tmp_path / "acq.nii.gz").get_sform())


@pytest.mark.parametrize(
    ("output", "options", "said"),
    [
        ("out.gz", [], "must be a file name ending in .nii.gz or .nii"),
        (".nii.gz", [], "must be a file name ending in .nii.gz or .nii"),
        ("x.nii.gz", ["--series", "1.2.3"], "series '1.2.3' not found"),
        ("x.nii.gz", ["--grid", "sideways"], "invalid choice"),
    ],
)
def test_convert_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output: str,
    options: list[str],
    said: str,
) -> None:
    source = _folder(tmp_path / "dicom", make_series(slices=3))
    assert main(["convert", str(source), "-o", str(tmp_path / output), *options]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.is_file()]


# ---------- the page ----------


def test_the_page_offers_the_shown_stack_as_nifti_and_sidecar(offered: dict) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Download NIfTI (.nii.gz)", "Download NIfTI sidecar (.json)"} <= set(labels)
    made = offered["dicomviz_series.nii.gz"]
    assert callable(made)  # made only when clicked
    image = nib.Nifti1Image.from_bytes(gzip.decompress(made()))
    facts = json.loads(offered["dicomviz_series.json"]())
    assert image.ndim == 3 and facts["Grid"] == "acquired"
    assert "PatientName" not in facts
