"""Real scanner series that broke grouping and placement (see tests/data/README.md): each is
described as a person would count it, and no image with pixels of its own is dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dicomviz
from dicomviz.cli import main

DATA = Path(__file__).parent / "data"


def _load(name: str) -> dicomviz.Study:
    return dicomviz.load([DATA / name])


def test_canon_diffusion_is_thirteen_volumes_named_by_b_value_and_direction() -> None:
    study = _load("canon_dti_three_positions.zip")
    assert not study.skipped
    assert len(study.stacks) == 13 and all(len(s.frames) == 3 for s in study.stacks)
    labels = [s.label for s in study.stacks]
    assert labels == ["b=0"] + [f"b=1500, direction {k}" for k in range(1, 13)]
    assert all(s.plane == "oblique" for s in study.stacks)
    b0, first = (dicomviz.build_volume(s).array for s in study.stacks[:2])
    assert b0.mean() > first.mean()  # diffusion weighting darkens the brain


def test_philips_field_map_frames_are_their_own_volume_in_hertz() -> None:
    study = _load("philips_enhanced_b0map.zip")
    assert not study.skipped
    assert [(len(s.frames), s.label) for s in study.stacks] == [
        (32, "magnitude"),
        (32, "field map (Hz)"),
    ]
    field_map = dicomviz.build_volume(study.stacks[1]).array
    # slope 0.2442, intercept -500 per frame: a field map of a few hundred Hz around 0.
    assert float(field_map.min()) >= -500 and float(field_map.max()) <= 500
    magnitude = dicomviz.build_volume(study.stacks[0]).array
    assert float(magnitude.min()) >= 0


def test_siemens_mosaic_unpacks_into_slices_and_its_copies_are_duplicates() -> None:
    study = _load("siemens_mosaic_three_syntaxes.zip")
    (stack,) = study.stacks
    assert (len(stack.frames), stack.rows, stack.columns) == (35, 64, 64)
    assert stack.slice_spacing == pytest.approx(3.6)
    assert sorted(Path(s.name).name for s in study.skipped) == ["3.dcm", "9.dcm"]
    assert all("its 35 images are the same as those of" in s.reason for s in study.skipped)
    volume = dicomviz.build_volume(stack)
    # Slices hold anatomy (a tiled image would show 36 heads in one slice, or blanks).
    assert all(volume.array[k].max() > 0 for k in range(5, 30))
    np.testing.assert_allclose(
        volume.affine[:3, 3], (-104.0, -144.8681, -62.6852), atol=1e-3
    )  # nibabel's position of slice 0


def test_ct_with_blank_uids_is_one_series(tmp_path: Path, capsys) -> None:
    study = _load("ct_blank_uids_two_slices.zip")
    assert not study.skipped
    (stack,) = study.stacks
    assert len(stack.frames) == 2 and stack.modality == "CT"
    assert any("no SeriesInstanceUID" in w for w in stack.warnings)
    assert main(["info", str(DATA / "ct_blank_uids_two_slices.zip"), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["slices"] == 2 and record["spacing"][0] == pytest.approx(2.0)
