"""Oblique and tilted stacks on the patient's axes (dicomviz.pixels.resample): every structure
lands at its true LPS position, outside the scan is no data, and views work on the result."""

from __future__ import annotations

import numpy as np
import pytest
from synth import make_slice_dataset, to_bytes

import dicomviz
from dicomviz.display import views
from dicomviz.limits import Limits
from dicomviz.pixels.resample import needs_patient_axes, off_patient_axes, on_patient_axes

CENTRE = np.array([4.0, -6.0, 10.0])  # LPS mm
RADIUS = 9.0


def _stack(row, col, **kwargs) -> dicomviz.Volume:
    return dicomviz.build_volume(dicomviz.load(_files(row, col, **kwargs)).stacks[0])


def _files(row, col, *, tilt=(0.0, 0.0, 0.0), slices=30, size=48, spacing=1.5):
    """A ball (1000) of RADIUS mm at CENTRE in a slab of tissue (100), painted at each pixel's
    true LPS position, in a stack whose slices step ``spacing`` along the normal plus ``tilt``."""
    row, col = np.asarray(row, float), np.asarray(col, float)
    normal = np.cross(row, col)
    step = spacing * normal + np.asarray(tilt, float)
    origin = CENTRE - row * size / 2 - col * size / 2 - step * slices / 2
    r, c = np.mgrid[:size, :size].astype(float)
    files = []
    for k in range(slices):
        corner = origin + k * step
        where = corner + c[..., None] * row + r[..., None] * col  # 1 mm pixels
        inside = np.linalg.norm(where - CENTRE, axis=-1) <= RADIUS
        pixels = np.where(inside, 1000, 100).astype(np.int16)
        ds = make_slice_dataset(
            pixels,
            position=tuple(corner),
            row_cosine=tuple(row),
            col_cosine=tuple(col),
            pixel_spacing=(1.0, 1.0),
            instance_number=k + 1,
            series_uid="1.2.826.0.1.3680043.8.498.1515",
            slice_thickness=spacing,
        )
        files.append((f"R{k:03d}", to_bytes(ds)))
    return files


def _ball_centre(volume: dicomviz.Volume) -> np.ndarray:
    """LPS mm of the ball's centroid (voxels above 550, halfway between tissue and ball)."""
    index = np.argwhere(np.nan_to_num(volume.array, nan=0) > 550).mean(axis=0)
    return (volume.affine @ [*index, 1])[:3]


def _rotated(degrees: float):
    a = np.radians(degrees)
    return (np.cos(a), np.sin(a), 0.0), (0.0, 0.0, -1.0)  # a coronal-ish stack turned about z


def test_a_square_stack_needs_no_resampling() -> None:
    volume = _stack((1, 0, 0), (0, 1, 0))
    assert off_patient_axes(volume) == pytest.approx(0.0, abs=1e-6)
    assert not needs_patient_axes(volume)


@pytest.mark.parametrize("degrees", [13.0, 36.0])
def test_an_oblique_stack_lands_on_its_true_positions(degrees: float) -> None:
    volume = _stack(*_rotated(degrees))
    assert off_patient_axes(volume) == pytest.approx(degrees, abs=0.01)
    resampled = on_patient_axes(volume)
    assert resampled.spacing == (1.0, 1.0, 1.0)
    assert off_patient_axes(resampled) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(_ball_centre(resampled), CENTRE, atol=0.5)
    np.testing.assert_allclose(_ball_centre(volume), CENTRE, atol=0.5)  # the source agrees
    assert np.isnan(resampled.array).any()  # the corners outside the turned stack
    assert any("resampled onto patient axes" in w for w in resampled.warnings)


def test_a_tilted_ct_is_unsheared() -> None:
    """Gantry tilt: slices step 18.5 degrees off their normal; on patient axes the ball is round
    and in place, and an axial MIP through it shows a disk, not a smear."""
    angle = np.radians(18.5)
    tilt = (0.0, 1.5 * np.tan(angle), 0.0)
    volume = _stack((1, 0, 0), (0, 1, 0), tilt=tilt)
    assert volume.obliquity == pytest.approx(0.0, abs=1e-6)  # the planes are not oblique...
    assert off_patient_axes(volume) == pytest.approx(18.5, abs=0.1)  # ...the stack is sheared
    resampled = on_patient_axes(volume)
    np.testing.assert_allclose(_ball_centre(resampled), CENTRE, atol=0.5)
    mip = dicomviz.make_view(views.canonical(resampled), "axial", "max")
    disk = np.nan_to_num(mip.image, nan=0) > 550
    area_mm2 = disk.sum() * mip.spacing[0] * mip.spacing[1]
    assert area_mm2 == pytest.approx(np.pi * RADIUS**2, rel=0.15)


def test_views_and_projections_skip_outside_voxels() -> None:
    resampled = on_patient_axes(_stack(*_rotated(30.0)))
    canon = views.canonical(resampled)
    assert canon is resampled  # already on (S, P, L)
    for mode in ("max", "min", "mean"):
        image = dicomviz.make_view(canon, "coronal", mode).image
        finite = image[np.isfinite(image)]
        assert finite.min() >= 100 - 1e-3  # no ray picked up a silent 0 from outside
    assert dicomviz.make_view(canon, "axial", "min").image[np.isfinite(
        dicomviz.make_view(canon, "axial", "min").image
    )].max() <= 1000  # fmt: skip


def test_the_budget_coarsens_the_grid_or_refuses() -> None:
    volume = _stack(*_rotated(20.0))
    fine = on_patient_axes(volume)
    small = Limits(volume_bytes=fine.array.nbytes // 4)
    coarse = on_patient_axes(volume, limits=small)
    assert coarse.spacing[0] > 1.5 and coarse.array.nbytes <= small.volume_bytes
    np.testing.assert_allclose(_ball_centre(coarse), CENTRE, atol=1.5)


def test_a_tilted_ct_opens_on_patient_axes_an_oblique_mr_as_acquired() -> None:
    from dicomviz.pixels.resample import default_grid

    angle = np.radians(18.5)
    volume = _stack((1, 0, 0), (0, 1, 0), tilt=(0.0, 1.5 * np.tan(angle), 0.0))
    assert default_grid(volume) == "patient"
    assert default_grid(_stack(*_rotated(13.0))) == "acquired"  # oblique MR-like: offered only


@pytest.mark.parametrize("grid", ["acquired", "patient"])
def test_project_takes_a_grid(tmp_path, grid: str, capsys) -> None:
    from dicomviz.cli import main

    folder = tmp_path / "oblique"
    folder.mkdir()
    for name, data in _files(*_rotated(20.0)):
        (folder / name).write_bytes(data)
    out = tmp_path / "mip"
    args = ["project", str(folder), "--plane", "coronal", "--mode", "max", "--grid", grid]
    assert main([*args, "-o", str(out)]) == 0
    image = np.load(tmp_path / "mip.npy")
    acquired = _stack(*_rotated(20.0))
    expected = on_patient_axes(acquired) if grid == "patient" else acquired
    wanted = dicomviz.make_view(views.canonical(expected), "coronal", "max").image
    np.testing.assert_array_equal(image, wanted)
    said = capsys.readouterr().err
    assert ("resampled onto patient axes" in said) == (grid == "patient")
