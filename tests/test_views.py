"""One volume type: reorienting returns a Volume that keeps its array and affine together, and
what the views derive (linked slices, crosshair, the stored slice) comes from the affine, in all
48 axis orientations; one registry of modes read by views, the page and the command line."""

from __future__ import annotations

import doctest
from itertools import permutations, product

import numpy as np
import pytest
from synth import make_series

import dicomviz
from dicomviz.display import modes, views
from dicomviz.display.views import canonical, crosshair_pixel, linked_indices, make_view
from dicomviz.geometry import PLANES
from dicomviz.pixels.volume import Volume

CANONICAL_SHAPE = (3, 4, 5)
"""The reference scan on patient axes (S, P, L): 3 slices of 2 mm from inferior, 4 rows of
0.5 mm from anterior, 5 columns of 1 mm from the right."""
CANONICAL_AFFINE = np.array([[0, 0, 1.0, -7.0], [0, 0.5, 0, 11.0], [2.0, 0, 0, 40.0], [0, 0, 0, 1]])
ORIENTATIONS = [
    (perm, signs) for perm in permutations(range(3)) for signs in product((1, -1), repeat=3)
]


def _reference() -> np.ndarray:
    """Values count voxels (np.arange), so each is found again wherever it moves."""
    return np.arange(np.prod(CANONICAL_SHAPE), dtype=np.int16).reshape(CANONICAL_SHAPE)


def _stored(perm: tuple[int, ...], signs: tuple[int, ...], **fields: object) -> Volume:
    """The reference scan stored another way: array axis i is its axis perm[i], reversed when
    signs[i] is -1, with the affine that keeps every voxel where it was."""
    array = np.transpose(_reference(), perm)
    affine = np.eye(4)
    affine[:, 3] = CANONICAL_AFFINE[:, 3]
    for i, (axis, sign) in enumerate(zip(perm, signs, strict=True)):
        affine[:3, i] = sign * CANONICAL_AFFINE[:3, axis]
        if sign < 0:
            array = np.flip(array, axis=i)
            affine[:3, 3] += CANONICAL_AFFINE[:3, axis] * (CANONICAL_SHAPE[axis] - 1)
    spacing = tuple(float(np.abs(CANONICAL_AFFINE[:3, axis]).sum()) for axis in perm)
    return Volume(array, affine, spacing, "s", **fields)  # type: ignore[arg-type]


def _mm(volume: Volume) -> np.ndarray:
    """LPS mm of every voxel, indexed by its value."""
    index = np.indices(volume.shape).reshape(3, -1)
    mm = volume.affine[:3, :3] @ index + volume.affine[:3, 3:]
    found = np.empty_like(mm)
    found[:, volume.array.reshape(-1)] = mm
    return found


@pytest.mark.parametrize(("perm", "signs"), ORIENTATIONS)
def test_canonical_keeps_every_voxel_at_its_position_in_all_48_orientations(perm, signs) -> None:
    volume = _stored(perm, signs)
    np.testing.assert_allclose(_mm(volume), _mm(_stored((0, 1, 2), (1, 1, 1))))  # one scan
    canon = canonical(volume)
    assert isinstance(canon, Volume) and np.shares_memory(canon.array, volume.array)
    np.testing.assert_allclose(_mm(canon), _mm(volume))
    # However it was stored, the scan comes back on patient axes as the reference.
    np.testing.assert_array_equal(canon.array, _reference())
    np.testing.assert_allclose(canon.affine, CANONICAL_AFFINE)
    assert canon.spacing == (2.0, 0.5, 1.0)
    assert canon.patient_axes == ((2, 1, 0), (1, 1, 1))  # S, P, L, each growing
    assert canon.slice_axis == perm[0]
    assert canonical(canon) is canon


def test_canonical_keeps_every_other_field_and_the_slice_names_on_their_slices() -> None:
    fields = dict(
        modality="CT", units="HU", description="chest", file_window=(40.0, 400.0),
        padding_value=-2000.0, warnings=("a note",), oriented=False, body_part="CHEST",
        slice_names=("first", "second", "third", "fourth"),
    )  # fmt: skip
    volume = _stored((1, 0, 2), (-1, 1, -1), **fields)  # slices along P, stored from posterior
    canon = canonical(volume)
    for name, value in fields.items():
        if name != "slice_names":
            assert getattr(canon, name) == value, name
    assert canon.slice_axis == 1  # y is canonical axis 1, flipped: names reversed with it
    assert canon.slice_names == ("fourth", "third", "second", "first")
    for k, name in enumerate(canon.slice_names):
        stored = volume.slice_names.index(name)
        np.testing.assert_array_equal(
            np.sort(canon.array[:, k].ravel()), np.sort(volume.array[stored].ravel())
        )


def test_a_volume_is_checked_once_when_made() -> None:
    array, spacing = np.zeros(CANONICAL_SHAPE, np.int16), (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="slice_axis"):
        Volume(array, np.eye(4), spacing, "s", slice_axis=3)
    with pytest.raises(ValueError, match="one slice name per slice"):
        Volume(array, np.eye(4), spacing, "s", slice_names=("a", "b", "c"), slice_axis=1)
    assert Volume(array, np.eye(4), spacing, "s", slice_names=tuple("abcd"), slice_axis=1)


@pytest.mark.parametrize(("perm", "signs"), ORIENTATIONS)
def test_linked_slices_crosshair_and_stored_slice_from_the_affine(perm, signs) -> None:
    volume = _stored(perm, signs)
    acquired = PLANES[perm[0]]  # canonical axes 0, 1, 2 are the normals of axial, coronal...
    for plane in PLANES:
        view = make_view(volume, plane, "slice", index=1)
        for row, col in product(range(view.image.shape[0]), range(view.image.shape[1])):
            indices = {plane: 1, **linked_indices(volume, plane, row, col)}
            for other in set(PLANES) - {plane}:
                seen = make_view(volume, other, "slice", index=indices[other])
                # The voxel clicked is in each linked slice, where the crosshair points.
                where = crosshair_pixel(volume, other, indices)
                assert seen.image[where] == view.image[row, col]
            assert crosshair_pixel(volume, plane, indices) == (row, col)
        stored = views.stored_slice(volume, plane, 1)
        if plane != acquired:
            assert stored is None
        else:
            np.testing.assert_array_equal(np.sort(view.image, axis=None),
                                          np.sort(volume.array[stored], axis=None))  # fmt: skip


def test_obliquity_is_the_volumes_own_and_gantry_tilt_is_not_obliquity() -> None:
    tilted = make_series(
        slices=6, col_cosine=(0, 0, -1), tilt_mm_per_slice=(0.0, 0.0, 0.5)
    )  # coronal, stacked along y, each slice 0.5 mm higher than the one before
    volume = dicomviz.build_volume(dicomviz.load(tilted).largest())
    canon = canonical(volume)
    assert canon.slice_axis == 1  # the stacking axis (y) is canonical axis 1
    assert volume.obliquity == pytest.approx(0.0) and canon.obliquity == pytest.approx(0.0)
    assert views.oblique_warning(canon) is None


def test_a_view_carries_the_volumes_units() -> None:
    volume = _stored((2, 1, 0), (1, 1, 1), units="HU")
    assert {make_view(volume, p, m.name).units for p in PLANES for m in modes.REGISTRY} == {"HU"}


def test_the_registry_names_each_mode_once_and_its_aliases() -> None:
    names = [m.name for m in modes.REGISTRY]
    labels = [m.label for m in modes.REGISTRY]
    assert tuple(names) == modes.MODES == views.MODES == ("slice", "max", "min", "mean")
    assert len(set(labels)) == len(labels)
    assert [modes.get(a).name for a in ("MIP", "minip", "AIP", "avg", "Average")] == [
        "max", "min", "mean", "mean", "mean"
    ]  # fmt: skip
    with pytest.raises(dicomviz.UsageError, match="unknown mode 'median'; choose one of slice"):
        modes.get("median")
    assert not modes.get("slice").projects and all(m.projects for m in modes.REGISTRY[1:])


def test_the_command_line_offers_the_registrys_modes_and_the_librarys_planes() -> None:
    from dicomviz.cli import _parser

    project = _parser()._subparsers._group_actions[0].choices["project"]  # type: ignore[union-attr]
    choices = {a.dest: tuple(a.choices) for a in project._actions if a.choices}
    assert choices["plane"] == PLANES and choices["mode"] == modes.MODES


def test_titles_take_the_modes_word() -> None:
    volume = _stored((0, 1, 2), (1, 1, 1))
    assert make_view(volume, "axial", "slice", index=0).title == "Axial slice 1"
    assert make_view(volume, "coronal", "mean").title == "Coronal Mean 1-4 · 2 mm"
    assert make_view(volume, "sagittal", "min").title.startswith("Sagittal MinIP 1-5")


@pytest.mark.parametrize("module", [modes, views])
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("perm", "signs"), ORIENTATIONS[::7])
def test_a_volume_without_pixels_links_and_reorients_as_the_volume_does(perm, signs) -> None:
    volume = _stored(perm, signs, units="HU")
    shell = volume.geometry()  # what the page's click callbacks keep
    assert shell.shape == volume.shape and shell.array.strides == (0, 0, 0)
    assert not np.shares_memory(shell.array, volume.array) and shell.units == "HU"
    np.testing.assert_array_equal(canonical(shell).affine, canonical(volume).affine)
    for plane in PLANES:
        view = make_view(volume, plane, "slice", index=1)
        for row, col in product(range(view.image.shape[0]), range(view.image.shape[1])):
            assert linked_indices(shell, plane, row, col) == linked_indices(volume, plane, row, col)
