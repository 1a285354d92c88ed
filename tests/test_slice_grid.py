"""Slices placed at their true positions along the normal (dicomviz.slice_grid), and what a
volume, `info` and `project` make of a series with uneven gaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synth import make_slice_dataset, to_bytes

import dicomviz
from dicomviz.cli import main
from dicomviz.series.slice_grid import slice_grid

# A head CT as the issue saw it: 13 steps of 4 mm, one of 1.1 mm, then 13 of 7 mm (144.1 mm).
HEAD = np.concatenate([np.arange(14) * 4.0, 53.1 + np.arange(14) * 7.0])


def test_even_slices_are_not_resampled() -> None:
    grid = slice_grid(np.arange(10) * 2.5 - 40)
    assert grid.planes is None and grid.step == pytest.approx(2.5) and grid.warning is None


def test_uneven_steps_are_said_in_one_plain_sentence() -> None:
    grid = slice_grid(HEAD, [4.0] * len(HEAD))
    assert grid.warning.startswith(
        "uneven slice spacing: 13 gaps of 4.0 mm, 13 of 7.0 mm, 1 of 1.1"
    )
    assert "missing" not in grid.warning


def test_every_slice_is_shown_at_its_true_position() -> None:
    grid = slice_grid(HEAD, [4.0] * len(HEAD))
    assert grid.step == pytest.approx(1.1, abs=0.01)
    planes = np.asarray(grid.planes)
    depth = HEAD[0] + grid.step * np.arange(len(planes))
    assert depth[-1] == pytest.approx(HEAD[-1])  # the whole 144.1 mm, not 27 x 4 mm
    shown = planes >= 0
    # Each plane shows its nearest slice, which covers it (within half its 4 mm thickness)...
    assert np.all(np.abs(depth[shown] - HEAD[planes[shown]]) <= 2.0 + 0.01)
    # ...every slice appears somewhere, and at the plane nearest its own position.
    for k, d in enumerate(HEAD):
        assert planes[int(np.argmin(np.abs(depth - d)))] == k


def test_gaps_wider_than_the_slices_show_no_data() -> None:
    grid = slice_grid(HEAD, [4.0] * len(HEAD))
    planes = np.asarray(grid.planes)
    depth = HEAD[0] + grid.step * np.arange(len(planes))
    # Between 7 mm-spaced slices 4 mm thick, about 3 mm of each gap is not covered.
    empty = depth[planes < 0]
    assert len(empty) > 0 and np.all(empty > HEAD[13])
    assert "show no data" in grid.warning and "13 stretches" in grid.warning
    # With thick slices (7 mm) every plane is covered.
    assert slice_grid(HEAD, [7.0] * len(HEAD)).empty_planes == 0


def test_a_missing_slice_leaves_one_empty_plane_on_the_usual_spacing() -> None:
    distances = np.delete(np.arange(12) * 2.5, 6)
    grid = slice_grid(distances, [2.5] * 11)
    assert grid.step == pytest.approx(2.5)
    assert grid.planes == (0, 1, 2, 3, 4, 5, -1, 6, 7, 8, 9, 10)
    assert "9 gaps of 2.5 mm, 1 of 5.0 mm" in grid.warning


def test_the_grid_stays_within_the_plane_budget_and_says_what_it_drops() -> None:
    distances = [0.0, 0.01, 0.02, 100.0]  # 0.01 mm steps would ask for 10,000 planes
    grid = slice_grid(distances, max_planes=50)
    assert len(grid.planes) <= 50
    assert "fall between planes" in grid.warning


def test_distances_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        slice_grid([0.0, 2.0, 2.0])


def _head_ct() -> list[tuple[str, bytes]]:
    """An axial CT along HEAD, 4 mm thick slices; slice k holds the value 100 + k."""
    files = []
    for k, z in enumerate(HEAD):
        ds = make_slice_dataset(
            np.full((16, 12), 100 + k, np.int16),
            position=(-6.0, -8.0, float(z)),
            row_cosine=(1, 0, 0),
            col_cosine=(0, 1, 0),
            pixel_spacing=(1.0, 1.0),
            instance_number=k + 1,
            series_uid="1.2.826.0.1.3680043.8.498.144",
            slice_thickness=4.0,
        )
        files.append((f"HEAD{k:02d}", to_bytes(ds)))
    return files


def test_the_volume_is_physically_true_along_the_normal() -> None:
    (stack,) = dicomviz.load(_head_ct()).stacks
    volume = dicomviz.build_volume(stack)
    assert volume.array.dtype == np.float32
    extent = (volume.affine @ [volume.shape[0] - 1, 0, 0, 1])[2] - volume.affine[2, 3]
    assert extent == pytest.approx(144.1)
    for k, z in enumerate(HEAD):  # each slice's values sit at its own position
        plane = round((z - volume.affine[2, 3]) / volume.spacing[0])
        assert volume.array[plane, 0, 0] == 100 + k
    assert np.isnan(volume.array).any()
    view = dicomviz.make_view(volume, "coronal", "max")
    assert np.isnan(view.image).any(axis=1).sum() > 0  # rows of no data, not stretched anatomy
    assert np.nanmax(view.image) == 100 + len(HEAD) - 1
    axial_mip = dicomviz.make_view(volume, "axial", "max")
    assert not np.isnan(axial_mip.image).any() and axial_mip.image.max() == 127
    assert dicomviz.make_view(volume, "axial", "min").image.min() == 100
    mean = dicomviz.make_view(volume, "axial", "mean").image
    assert not np.isnan(mean).any()


def test_info_and_project_follow_the_true_geometry(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "head"
    folder.mkdir()
    for name, data in _head_ct():
        (folder / name).write_bytes(data)
    assert main(["info", str(folder), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["slices"] == len(HEAD)
    assert record["spacing"][0] == pytest.approx(144.1 / 131, abs=1e-3)
    assert any("13 gaps of 4.0 mm" in w for w in record["warnings"])
    out = tmp_path / "coronal"
    assert (
        main(["project", str(folder), "--plane", "coronal", "--mode", "max", "-o", str(out)]) == 0
    )
    image = np.load(tmp_path / "coronal.npy")
    assert image.shape == (132, 12)
    with Image.open(tmp_path / "coronal.png") as png:
        width, height = png.size
    # Physical aspect: 144.1 mm tall for 12 mm wide, as the head really is.
    assert height / width == pytest.approx(145.2 / 12, rel=0.05)
