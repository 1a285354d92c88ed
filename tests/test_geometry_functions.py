"""geometry's pure functions, in nibabel's style: every one of the 48 axis orientations a stack
can have, a volume filled with ``np.arange`` so each voxel is its own label, and every voxel
checked to keep its position in mm.

Expected values come from the DICOM definitions (LPS patient axes; ImageOrientationPatient =
row cosines, the direction of increasing column index, then column cosines, that of increasing
row index), computed here independently of the module under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dicomviz.geometry import (
    OBLIQUE_LIMIT_DEG,
    axis_directions,
    make_affine,
    nearest_patient_axes,
    obliquity_degrees,
    plane_name,
    slice_normal,
)

SHAPE = (3, 4, 5)  # (slice, row, col): all different, so a swapped axis cannot go unnoticed
SPACING = (2.5, 0.5, 0.75)  # mm between slices, rows, columns: all different too
ORIGIN = np.array([-10.0, 20.0, 35.0])


def _signed_permutations() -> list[np.ndarray]:
    """The 48 matrices whose columns are the (slice, row, col) directions of a stack along
    the patient axes: 6 assignments of axes times 8 choices of sign."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            matrix = np.zeros((3, 3))
            for array_axis, (patient_axis, sign) in enumerate(zip(perm, signs, strict=True)):
                matrix[patient_axis, array_axis] = sign
            out.append(matrix)
    return out


ORIENTATIONS = _signed_permutations()


def _label(matrix: np.ndarray) -> str:
    """'+z-y+x': the patient axis each array axis (slice, row, col) runs along."""
    return "".join(
        f"{'+' if matrix[:, i].sum() > 0 else '-'}{'xyz'[int(np.argmax(np.abs(matrix[:, i])))]}"
        for i in range(3)
    )


def _stack(directions: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
    """ImageOrientationPatient and slice step of a stack whose axes run along ``directions``."""
    slice_dir, row_dir, col_dir = directions.T
    orientation = (*col_dir.tolist(), *row_dir.tolist())  # row cosines first: along a row
    return orientation, SPACING[0] * slice_dir


def _position(directions: np.ndarray, k: int, r: int, c: int) -> np.ndarray:
    """Where voxel (k, r, c) is, by the definition: origin plus whole steps along each axis."""
    slice_dir, row_dir, col_dir = directions.T
    return ORIGIN + k * SPACING[0] * slice_dir + r * SPACING[1] * row_dir + c * SPACING[2] * col_dir


def _reorient(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute and flip ``array`` so axis i runs along +patient axis (2 - i): (z, y, x), as a
    nibabel user would with ``io_orientation``; the affine follows every step."""
    axes, signs = nearest_patient_axes(affine)
    order = [axes.index(2 - i) for i in range(3)]
    array = np.transpose(array, order)
    transform = np.eye(4)[:, [*order, 3]]  # new index -> old index
    for i, old in enumerate(order):
        if signs[old] < 0:
            array = np.flip(array, axis=i)
            flip = np.eye(4)
            flip[i, i], flip[i, 3] = -1, array.shape[i] - 1
            transform = transform @ flip
    return array, affine @ transform


@pytest.mark.parametrize("directions", ORIENTATIONS, ids=map(_label, ORIENTATIONS))
def test_every_voxel_keeps_its_position_in_all_48_orientations(directions: np.ndarray) -> None:
    orientation, step = _stack(directions)
    affine = make_affine(orientation, ORIGIN, SPACING[1:], step)
    volume = np.arange(np.prod(SHAPE)).reshape(SHAPE)
    for k, r, c in np.ndindex(*SHAPE):
        np.testing.assert_allclose(affine @ [k, r, c, 1], [*_position(directions, k, r, c), 1])
    canonical, moved = _reorient(volume, affine)
    assert canonical.shape == tuple(
        SHAPE[int(np.argmax(np.abs(directions[2 - i])))] for i in range(3)
    )
    for index in np.ndindex(*canonical.shape):
        label = canonical[index]
        original = np.unravel_index(label, SHAPE)
        np.testing.assert_allclose(moved @ [*index, 1], affine @ [*original, 1], atol=1e-9)
    # Reoriented, each array axis runs along +z, +y, +x: the affine's columns say so.
    np.testing.assert_allclose(np.sign(moved[:3, :3]), np.fliplr(np.eye(3)), atol=0)


@pytest.mark.parametrize("directions", ORIENTATIONS, ids=map(_label, ORIENTATIONS))
def test_axis_functions_name_the_axes_of_all_48_orientations(directions: np.ndarray) -> None:
    orientation, step = _stack(directions)
    affine = make_affine(orientation, ORIGIN, SPACING[1:], step)
    normal = np.cross(orientation[:3], orientation[3:])
    np.testing.assert_allclose(slice_normal(orientation), normal)
    assert (
        plane_name(orientation) == ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]
    )
    np.testing.assert_allclose(axis_directions(affine), directions, atol=1e-12)
    axes, signs = nearest_patient_axes(affine)
    assert axes == tuple(int(np.argmax(np.abs(directions[:, i]))) for i in range(3))
    assert signs == tuple(int(directions[axes[i], i]) for i in range(3))
    assert obliquity_degrees(affine) == pytest.approx(0.0, abs=1e-6)


def test_slice_normal_is_a_unit_vector_even_for_unnormalised_cosines() -> None:
    normal = slice_normal((2.0, 0.0, 0.0, 0.0, 0.0, -3.0))  # a coronal stack, sloppy lengths
    np.testing.assert_allclose(normal, [0.0, 1.0, 0.0])  # x cross -z = +y (posterior)


def _tilted(degrees: float) -> tuple[float, ...]:
    """An axial stack turned ``degrees`` about the left-right axis (a nodding head)."""
    a = np.radians(degrees)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(a)), float(np.sin(a)))


@pytest.mark.parametrize(
    ("degrees", "name"),
    [(0.0, "axial"), (20.0, "axial"), (OBLIQUE_LIMIT_DEG + 1, "oblique"), (70.0, "coronal")],
)
def test_plane_name_calls_a_stack_oblique_only_past_the_limit(degrees: float, name: str) -> None:
    assert plane_name(_tilted(degrees)) == name


@pytest.mark.parametrize("degrees", [0.0, 5.0, 17.5, 30.0, 44.0])
def test_obliquity_is_the_angle_the_stack_was_turned(degrees: float) -> None:
    orientation = _tilted(degrees)
    affine = make_affine(orientation, ORIGIN, (1.0, 1.0), 2.0 * slice_normal(orientation))
    assert obliquity_degrees(affine) == pytest.approx(degrees, abs=1e-9)
    axes, signs = nearest_patient_axes(affine)
    assert (axes, signs) == ((2, 1, 0), (1, 1, 1))  # still shown as axial: z, y, x


def test_a_stack_at_45_degrees_still_gets_three_distinct_axes() -> None:
    c = np.sqrt(0.5)
    orientation = (c, c, 0.0, -c, c, 0.0)  # turned 45 degrees about z
    affine = make_affine(orientation, ORIGIN, (1.0, 1.0), slice_normal(orientation))
    axes, _ = nearest_patient_axes(affine)
    assert sorted(axes) == [0, 1, 2] and axes[0] == 2
    assert obliquity_degrees(affine) == pytest.approx(45.0)


def test_gantry_tilt_shears_the_affine_but_not_the_axis_directions() -> None:
    """CT with gantry tilt: each slice position steps 2 mm along z and 0.5 mm along y. Voxels
    stay where they were acquired (the affine is sheared); the slice axis still points along
    the normal, so the stack is axial and not oblique."""
    orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    step = np.array([0.0, 0.5, 2.0])
    affine = make_affine(orientation, ORIGIN, (0.7, 0.8), step)
    for k in range(4):
        np.testing.assert_allclose(affine @ [k, 3, 2, 1], [*(ORIGIN + k * step + [1.6, 2.1, 0]), 1])
    np.testing.assert_allclose(axis_directions(affine), np.fliplr(np.eye(3)))  # z, y, x
    assert nearest_patient_axes(affine) == ((2, 1, 0), (1, 1, 1))
    assert obliquity_degrees(affine) == pytest.approx(0.0)


def test_a_slice_step_against_the_normal_flips_the_slice_axis() -> None:
    """Slices stored feet-last (positions decreasing along the normal): the slice axis runs
    along -normal, and nearest_patient_axes says so with its sign."""
    orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    affine = make_affine(orientation, ORIGIN, (1.0, 1.0), np.array([0.0, 0.0, -3.0]))
    np.testing.assert_allclose(axis_directions(affine)[:, 0], [0.0, 0.0, -1.0])
    assert nearest_patient_axes(affine) == ((2, 1, 0), (-1, 1, 1))
