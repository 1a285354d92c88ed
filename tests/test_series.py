"""Messy real-world series: every irregularity is reported with numbers, nothing silently lost."""

from __future__ import annotations

import numpy as np
import pytest
from synth import Marker, make_series, make_slice_dataset, to_bytes

import dicomviz


def _load(files: list[tuple[str, bytes]]) -> dicomviz.Study:
    return dicomviz.load(files)


def _only_stack(files: list[tuple[str, bytes]]) -> dicomviz.Stack:
    study = _load(files)
    assert len(study.stacks) == 1, study.stacks
    return study.stacks[0]


def _slice(k: int, *, uid: str = "1.2.3.4", position=(0.0, 0.0, 0.0), size=(8, 8), **extra):
    pixels = np.full(size, k, dtype=np.int16)
    ds = make_slice_dataset(
        pixels,
        position=position,
        row_cosine=(1, 0, 0),
        col_cosine=(0, 1, 0),
        pixel_spacing=(1, 1),
        instance_number=k + 1,
        series_uid=uid,
        **extra,
    )
    return (f"S{k:03d}", to_bytes(ds))


def test_missing_slice_shows_as_a_plane_of_no_data() -> None:
    stack = _only_stack(make_series(slices=12, slice_spacing=2.5, gap_after=5))
    assert len(stack.frames) == 11 and stack.depth == 12
    assert stack.slice_spacing == pytest.approx(2.5)
    assert stack.planes == (0, 1, 2, 3, 4, 5, -1, 6, 7, 8, 9, 10)
    (gap,) = [w for w in stack.warnings if "uneven" in w]
    assert "9 gaps of 2.5 mm, 1 of 5.0 mm" in gap and "2.50 mm grid" in gap
    assert "show no data" in gap
    volume = dicomviz.build_volume(stack)
    assert np.isnan(volume.array[6]).all() and not np.isnan(volume.array[7]).any()
    assert volume.slice_names[6] == "(no data)"
    # The plane after the gap is where its slice really is.
    position = np.asarray(stack.frames[6].position)
    np.testing.assert_allclose((volume.affine @ [7, 0, 0, 1])[:3], position, atol=1e-6)


def test_slightly_uneven_spacing_is_not_resampled() -> None:
    """Positions rounded in the header (0.6/0.7 mm steps of 0.65) are one even stack."""
    zs = np.round(np.arange(12) * 0.65, 1)
    stack = _only_stack([_slice(k, position=(0, 0, float(z))) for k, z in enumerate(zs)])
    assert stack.planes is None and stack.depth == 12
    assert stack.slice_spacing == pytest.approx((zs[-1] - zs[0]) / 11)
    assert not [w for w in stack.warnings if "uneven" in w]


def test_gantry_tilt_is_reported_and_kept_in_the_affine() -> None:
    files = make_series(
        slices=10,
        slice_spacing=2.0,
        tilt_mm_per_slice=(0.0, 0.5, 0.0),
        markers=[Marker((-2.0, -6.0 + 0.5 * 7, -20.0 + 14.0), 99)],
    )
    stack = _only_stack(files)
    (tilt,) = [w for w in stack.warnings if "tilt" in w]
    assert "14.0 degrees" in tilt and "2.06 mm" in tilt and "(2.00 mm)" in tilt
    volume = dicomviz.build_volume(stack)
    (voxel,) = np.argwhere(volume.array == 99)
    np.testing.assert_allclose((volume.affine @ [*voxel, 1])[:3], (-2.0, -2.5, -6.0), atol=1e-6)
    assert dicomviz.canonical(volume).obliquity == pytest.approx(0.0)  # the planes are not oblique


def test_same_position_and_same_pixels_is_a_duplicate_said_and_used_once() -> None:
    files = [_slice(k, position=(0, 0, float(k))) for k in range(5)]
    files.append(("S009", to_bytes(make_slice_dataset(
        np.full((8, 8), 2, np.int16), position=(0, 0, 2.0), row_cosine=(1, 0, 0),
        col_cosine=(0, 1, 0), pixel_spacing=(1, 1), instance_number=10, series_uid="1.2.3.4",
    ))))  # fmt: skip
    study = _load(files)
    (stack,) = study.stacks
    assert len(stack.frames) == 5
    assert [s.name for s in study.skipped] == ["S009"]
    assert "the same image as S002" in study.skipped[0].reason


def test_same_position_with_other_pixels_is_never_dropped() -> None:
    files = [_slice(k, position=(0, 0, float(k))) for k in range(5)]
    files.append(_slice(9, position=(0, 0, 2.0)))  # pixels 9, not 2
    study = _load(files)
    assert not study.skipped
    assert [len(s.frames) for s in study.stacks] == [5, 1]
    assert [s.label for s in study.stacks] == [
        "volume 1 in acquisition order",
        "volume 2 in acquisition order",
    ]
    assert "2 volumes at the same 5 positions" in study.stacks[0].warnings[0]


def test_echoes_at_the_same_positions_become_separate_stacks() -> None:
    files = [
        _slice(k, position=(0, 0, float(k % 4)), EchoNumbers=1 + k // 4, EchoTime=[11, 92][k // 4])
        for k in range(8)
    ]
    study = _load(files)
    assert [len(s.frames) for s in study.stacks] == [4, 4]
    assert [s.id for s in study.stacks] == ["1.2.3.4", "1.2.3.4#2"]
    assert [s.label for s in study.stacks] == ["TE 11 ms", "TE 92 ms"]
    assert not study.skipped


def test_repeated_sop_instance_counts_once() -> None:
    files = make_series(slices=4)
    study = _load([*files, ("copy/" + files[0][0], files[0][1])])
    assert len(study.stacks[0].frames) == 4
    assert "same SOPInstanceUID" in study.skipped[0].reason


def test_series_with_two_orientations_or_sizes_is_split_and_says_so() -> None:
    axial = [_slice(k, position=(0, 0, float(k))) for k in range(6)]
    other_size = [_slice(10 + k, position=(0, 0, float(k)), size=(4, 4)) for k in range(2)]
    coronal = [
        (
            f"C{k}",
            to_bytes(
                make_slice_dataset(
                    np.zeros((8, 8), np.int16),
                    position=(0, k, 0),
                    row_cosine=(1, 0, 0),
                    col_cosine=(0, 0, -1),
                    pixel_spacing=(1, 1),
                    instance_number=20 + k,
                    series_uid="1.2.3.4",
                )
            ),
        )
        for k in range(3)
    ]
    study = _load(axial + other_size + coronal)
    assert [(len(s.frames), s.plane) for s in study.stacks] == [
        (6, "axial"),
        (3, "coronal"),
        (2, "axial"),
    ]
    assert all("split into 3 stacks" in s.warnings[0] for s in study.stacks)
    assert study.largest() is study.stacks[0]
    assert study.find("1.2.3.4") is study.stacks[0]
    assert study.find("1.2.3.4#3") is study.stacks[2]


def test_without_positions_instance_number_orders_with_a_warning() -> None:
    files = [_slice(k, position=None, SliceThickness=3.0) for k in (3, 0, 2, 1)]
    stack = _only_stack(files)
    assert [f.instance_number for f in stack.frames] == [1, 2, 3, 4]
    assert stack.slice_spacing == 3.0
    assert any("ordered by InstanceNumber" in w for w in stack.warnings)


def test_some_positions_missing_skips_just_those_files() -> None:
    files = [_slice(k, position=(0, 0, float(k))) for k in range(5)]
    files.append(_slice(7, position=None))
    study = _load(files)
    assert len(study.stacks[0].frames) == 5
    assert study.skipped[0].name == "S007"
    assert "no ImagePositionPatient" in study.skipped[0].reason


def test_varying_rescale_is_applied_per_slice_and_reported() -> None:
    files = [
        _slice(k, position=(0, 0, float(k)), slope=1 + k % 2, intercept=-100 * k) for k in range(4)
    ]
    stack = _only_stack(files)
    assert any("RescaleSlope 1 to 2" in w and "-300 to 0" in w for w in stack.warnings)
    volume = dicomviz.build_volume(stack)
    expected = [k * (1 + k % 2) - 100 * k for k in range(4)]
    assert [int(volume.array[k, 0, 0]) for k in range(4)] == expected
    assert volume.array.dtype == np.int16


def test_fractional_rescale_gives_float32() -> None:
    volume = dicomviz.build_volume(_only_stack(make_series(slices=3, slope=0.5, intercept=1.25)))
    assert volume.array.dtype == np.float32
    assert float(volume.array[0, 0, 0]) == 1.25


def test_oblique_stack_is_named_oblique_and_warned() -> None:
    angle = np.radians(40)
    row = (np.cos(angle), np.sin(angle), 0.0)
    stack = _only_stack(make_series(row_cosine=row, col_cosine=(0, 0, -1), slices=4))
    assert stack.plane == "oblique"
    volume = dicomviz.build_volume(stack)
    canon = dicomviz.canonical(volume)
    assert canon.obliquity == pytest.approx(40, abs=0.01)
    from dicomviz.display.views import oblique_warning

    assert "40.0 degrees" in oblique_warning(canon)


def test_slightly_tilted_axial_is_still_axial() -> None:
    angle = np.radians(12)
    col = (0.0, np.cos(angle), np.sin(angle))
    stack = _only_stack(make_series(col_cosine=col, slices=4))
    assert stack.plane == "axial"
