"""The synthetic chest phantom: real, deterministic DICOM whose anatomy each projection reveals."""

from __future__ import annotations

import time
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomviz.sample.phantom import SAMPLE_DESCRIPTION, sample_series


@dataclass(frozen=True)
class Phantom:
    """The parsed series: HU volume (slice, row, col) in z order and voxel-centre mm per axis."""

    hu: np.ndarray
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    def rows(self, lo: float, hi: float) -> np.ndarray:
        return (self.y >= lo) & (self.y <= hi)


@pytest.fixture(scope="module")
def series() -> list[tuple[str, bytes]]:
    start = time.perf_counter()
    files = sample_series()
    print(f"sample_series() made {len(files)} files in {time.perf_counter() - start:.2f} s")
    return files


@pytest.fixture(scope="module")
def datasets(series: list[tuple[str, bytes]]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(BytesIO(data)) for _, data in series]


@pytest.fixture(scope="module")
def phantom(datasets: list[pydicom.Dataset]) -> Phantom:
    ordered = sorted(datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    hu = np.stack([ds.pixel_array * float(ds.RescaleSlope) for ds in ordered])
    hu += float(ordered[0].RescaleIntercept)
    x0, y0, _ = (float(v) for v in ordered[0].ImagePositionPatient)
    row_mm, col_mm = (float(v) for v in ordered[0].PixelSpacing)
    return Phantom(
        hu=hu,
        z=np.array([float(ds.ImagePositionPatient[2]) for ds in ordered]),
        y=y0 + row_mm * np.arange(hu.shape[1]),
        x=x0 + col_mm * np.arange(hu.shape[2]),
    )


def test_same_call_gives_identical_bytes(series: list[tuple[str, bytes]]) -> None:
    assert sample_series() == series
    assert sample_series(slices=6, size=32) == sample_series(slices=6, size=32)
    assert sample_series(slices=6, size=32) != sample_series(slices=6, size=48)


def test_every_file_is_a_part10_ct_slice(
    series: list[tuple[str, bytes]], datasets: list[pydicom.Dataset]
) -> None:
    assert len(series) >= 160
    for (name, data), ds in zip(series, datasets, strict=True):
        assert data[:128] == bytes(128) and data[128:132] == b"DICM", name
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == CTImageStorage and ds.Modality == "CT"
        assert (ds.Rows, ds.Columns) == (256, 256)
        assert ds.pixel_array.shape == (256, 256) and ds.pixel_array.dtype == np.int16
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == [0.8, 0.8]
        assert float(ds.SliceThickness) == float(ds.SpacingBetweenSlices) == 2.0
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16,
            16,
            15,
            1,
        )
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
        assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
        # Centred field of view: the column and row through the middle sit at x = y = 0.
        assert [float(v) for v in ds.ImagePositionPatient[:2]] == [-102.0, -102.0]
        assert str(ds.PatientName) == "DOE^JANE"
        assert (
            ds.SeriesDescription == SAMPLE_DESCRIPTION
            and "not patient data" in ds.SeriesDescription
        )
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({ds[keyword].value for ds in datasets}) == 1, keyword


def test_positions_step_two_mm_and_names_are_not_in_z_order(
    series: list[tuple[str, bytes]], datasets: list[pydicom.Dataset]
) -> None:
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in datasets])
    numbers = np.array([int(ds.InstanceNumber) for ds in datasets])
    np.testing.assert_allclose(np.diff(np.sort(z)), 2.0)
    assert sorted(numbers) == list(range(1, len(datasets) + 1))
    assert (np.diff(numbers[np.argsort(z)]) > 0).all()
    names = [name for name, _ in series]
    by_z = [names[i] for i in np.argsort(z)]
    assert len(set(names)) == len(names)
    assert by_z != sorted(names) and by_z != sorted(names, reverse=True)


def test_other_sizes_resample_the_same_body() -> None:
    small = [pydicom.dcmread(BytesIO(data)) for _, data in sample_series(slices=30, size=64)]
    assert len(small) == 30 and (small[0].Rows, small[0].Columns) == (64, 64)
    assert [float(v) for v in small[0].PixelSpacing] == [3.2, 3.2]
    z = sorted(float(ds.ImagePositionPatient[2]) for ds in small)
    np.testing.assert_allclose(np.diff(z), 12.0)
    assert z[-1] - z[0] == pytest.approx(348.0)


def test_volume_holds_air_lung_bone_and_contrast(phantom: Phantom) -> None:
    hu, x, z = phantom.hu, phantom.x, phantom.z
    corners = hu[:, :12, :12]
    assert abs(corners.mean() + 1000) < 3 and 5 < corners.std() < 15  # air plus ~10 HU noise
    chest = hu[(z > 20) & (z < 100)][:, phantom.rows(-45, 45)][:, :, np.abs(x) < 75]
    assert (chest < -700).mean() > 0.3  # inside the body, so the air around it does not count
    assert (hu > 500).sum() > 20_000  # spine, ribs, sternum
    for side in (-1, 1):
        cols = (side * x > 25) & (side * x < 65)
        lung_block = hu[(z > 40) & (z < 120)][:, phantom.rows(-35, 35)][:, :, cols]
        assert ((lung_block > 200) & (lung_block < 500)).sum() > 500, side  # vessels, not bone


def test_liver_is_on_the_patients_right(phantom: Phantom) -> None:
    """LPS: the patient's right is negative x, so the liver sits at negative x."""
    hu, x, z = phantom.hu, phantom.x, phantom.z
    block = hu[(z > -100) & (z < -70)][:, phantom.rows(-10, 10)]
    right, left = block[:, :, (x > -60) & (x < -40)], block[:, :, (x > 40) & (x < 60)]
    assert 50 < right.mean() < 70
    assert right.mean() > left.mean() + 8


def _component(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """Pixels of ``mask`` 4-connected to ``seed`` (grown one step at a time)."""
    comp = np.zeros_like(mask)
    comp[seed] = mask[seed]
    while True:
        grown = comp.copy()
        grown[1:] |= comp[:-1]
        grown[:-1] |= comp[1:]
        grown[:, 1:] |= comp[:, :-1]
        grown[:, :-1] |= comp[:, 1:]
        grown &= mask
        if (grown == comp).all():
            return comp
        comp = grown


def _runs(row: np.ndarray) -> int:
    """Number of separate True runs in a 1-D boolean array."""
    return int(np.count_nonzero(np.diff(row.astype(np.int8)) == 1) + row[0])


def test_coronal_minip_shows_a_branching_airway_tree(phantom: Phantom) -> None:
    hu, x, z = phantom.hu, phantom.x, phantom.z
    # A slab through the lungs: a full-depth MinIP is all air from in front of the chest.
    minip = hu[:, phantom.rows(-35, 25)].min(axis=1)  # (z, x)
    air = (minip < -950) & (np.abs(x) <= 80)
    top, mid = len(z) - 1, int(np.argmin(np.abs(x)))
    assert air[top, mid], "the trachea should reach the top of the volume"
    tree = _component(air, (top, mid))
    chest = ((z > -10) & (z < 135))[:, None] & (np.abs(x) <= 80)  # no neck, no stomach gas
    lungs = (minip < -700) & chest
    assert (air & chest & ~tree).sum() < 0.02 * lungs.sum()  # lung tissue itself is not air
    assert (tree & chest).sum() < 0.5 * lungs.sum()  # a tree of tubes, not the whole lung
    assert tree[:, x < -40].any() and tree[:, x > 40].any()  # into both lungs
    carina = z[tree[:, np.abs(x) < 2].any(axis=1)].min()
    assert z[tree.any(axis=1)].min() < carina - 40
    below = tree[(z < carina - 10) & (z > carina - 60)]
    assert max(_runs(row) for row in below) >= 4  # several branches side by side, not two tubes


def test_coronal_mip_shows_lung_vessels_a_slice_misses(phantom: Phantom) -> None:
    hu, x, z = phantom.hu, phantom.x, phantom.z
    slab = hu[:, phantom.rows(-30, 30)]
    mip = slab.max(axis=1)
    mid_slice = hu[:, int(np.argmin(np.abs(phantom.y)))]
    upper = (z > 60) & (z < 140)
    for side in (-1, 1):
        cols = (side * x > 25) & (side * x < 60)
        in_mip = ((mip[upper][:, cols] > 200) & (mip[upper][:, cols] < 500)).mean()
        in_slice = (mid_slice[upper][:, cols] > 200).mean()
        assert in_mip > 0.1, side
        assert in_slice < in_mip / 3, side


def test_mip_minip_and_slice_differ(phantom: Phantom) -> None:
    hu, x, z = phantom.hu, phantom.x, phantom.z
    slab = hu[:, phantom.rows(-30, 30)]
    region = ((z > 0) & (z < 140))[:, None] & (np.abs(x) < 70)[None, :]
    images = {
        "mip": slab.max(axis=1)[region],
        "minip": slab.min(axis=1)[region],
        "slice": hu[:, int(np.argmin(np.abs(phantom.y)))][region],
    }
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(images[a] - images[b]).mean() > 50, (a, b)
