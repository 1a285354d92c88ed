"""Markers at known patient positions land where radiological convention puts them, in every
view, whatever the acquisition plane, storage order, file names or multi-frame layout."""

from __future__ import annotations

import numpy as np
import pytest
from synth import Marker, make_series

import dicomviz
from dicomviz.display.views import canonical, make_view

HALF = np.array([20.0, 16.0, 24.0])  # half extent of the scanned box along x, y, z (mm)
STEP = np.array([1.0, 2.0, 3.0])  # voxel size along x, y, z: anisotropic on purpose
MARKERS = {  # name -> (LPS position, value); no two share a projection in any plane
    "L": ((16.0, 4.0, 3.0), 1000),
    "R": ((-16.0, -6.0, -6.0), 900),
    "A": ((2.0, -14.0, 9.0), 800),
    "P": ((-3.0, 14.0, -12.0), 700),
    "S": ((5.0, -2.0, 21.0), 600),
    "I": ((-5.0, 8.0, -21.0), 500),
}


def _expected_display(plane: str, position: tuple[float, float, float]) -> tuple[int, int]:
    """(row, col) by the display convention alone, written from STYLE.md, not from the code:
    axial rows run anterior->posterior and columns right->left; coronal rows superior->inferior,
    columns right->left; sagittal rows superior->inferior, columns anterior->posterior."""
    x, y, z = position
    from_right = round((x + HALF[0]) / STEP[0])
    from_anterior = round((y + HALF[1]) / STEP[1])
    from_superior = round((HALF[2] - z) / STEP[2])
    return {
        "axial": (from_anterior, from_right),
        "coronal": (from_superior, from_right),
        "sagittal": (from_superior, from_anterior),
    }[plane]


def _axis(vector: tuple[float, float, float]) -> int:
    return int(np.argmax(np.abs(vector)))


def _acquisition(row: tuple, col: tuple, **options: object) -> list[tuple[str, bytes]]:
    """A series covering the box, acquired with the given cosines."""
    normal = tuple(np.cross(row, col))
    counts = {}
    origin = np.zeros(3)
    for name, vector in (("columns", row), ("rows", col), ("slices", normal)):
        axis = _axis(vector)
        counts[name] = round(2 * HALF[axis] / STEP[axis]) + 1
        origin[axis] = -np.sign(vector[axis]) * HALF[axis]
    return make_series(
        row_cosine=row,
        col_cosine=col,
        rows=counts["rows"],
        columns=counts["columns"],
        slices=counts["slices"],
        pixel_spacing=(STEP[_axis(col)], STEP[_axis(row)]),
        slice_spacing=STEP[_axis(normal)],
        origin=tuple(origin),
        markers=[Marker(pos, value) for pos, value in MARKERS.values()],
        **options,
    )


ACQUISITIONS = {
    "axial": ((1, 0, 0), (0, 1, 0)),
    "coronal": ((1, 0, 0), (0, 0, -1)),
    "sagittal": ((0, 1, 0), (0, 0, -1)),
    "axial-mirrored": ((-1, 0, 0), (0, 1, 0)),
    "axial-from-below": ((1, 0, 0), (0, -1, 0)),
    "coronal-mirrored": ((-1, 0, 0), (0, 0, 1)),
    "sagittal-mirrored": ((0, -1, 0), (0, 0, 1)),
    "transposed-axial": ((0, 1, 0), (1, 0, 0)),
}
LAYOUTS = {
    "plain": {},
    "reversed": {"reverse": True},
    "shuffled": {"shuffle_seed": 7},
    "enhanced-shuffled": {"enhanced": True, "shuffle_seed": 3},
}


def _volume(files: list[tuple[str, bytes]]) -> dicomviz.Volume:
    study = dicomviz.load(files)
    assert len(study.stacks) == 1, study.skipped
    return dicomviz.build_volume(study.stacks[0])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_markers_land_on_the_right_side_of_every_view(acquisition: str, layout: str) -> None:
    row, col = ACQUISITIONS[acquisition]
    volume = _volume(_acquisition(row, col, **LAYOUTS[layout]))
    for plane in ("axial", "coronal", "sagittal"):
        view = make_view(volume, plane, "max")
        for name, (position, value) in MARKERS.items():
            found = np.argwhere(view.image == value)
            assert len(found) == 1, (plane, name)
            assert tuple(found[0]) == _expected_display(plane, position), (plane, name)
        expected_spacing = {"axial": (2.0, 1.0), "coronal": (3.0, 1.0), "sagittal": (3.0, 2.0)}
        assert view.spacing == expected_spacing[plane]


@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_affine_maps_each_marker_voxel_to_its_position(acquisition: str) -> None:
    row, col = ACQUISITIONS[acquisition]
    volume = _volume(_acquisition(row, col, shuffle_seed=11))
    for position, value in MARKERS.values():
        (voxel,) = np.argwhere(volume.array == value)
        mm = volume.affine @ np.array([*voxel, 1.0])
        np.testing.assert_allclose(mm[:3], position, atol=1e-6)


@pytest.mark.parametrize("acquisition", ["axial", "coronal", "sagittal"])
def test_slice_index_counts_from_inferior_anterior_and_right(acquisition: str) -> None:
    row, col = ACQUISITIONS[acquisition]
    volume = _volume(_acquisition(row, col, reverse=True))
    for name in ("S", "A", "L"):
        position, value = MARKERS[name]
        x, y, z = position
        index = {
            "axial": round((z + HALF[2]) / STEP[2]),
            "coronal": round((y + HALF[1]) / STEP[1]),
            "sagittal": round((x + HALF[0]) / STEP[0]),
        }
        for plane, k in index.items():
            view = make_view(volume, plane, "slice", index=k)
            assert (view.image == value).sum() == 1, (plane, name)
            assert view.slab == (k, k + 1)


def test_edge_labels_follow_radiological_convention() -> None:
    volume = _volume(_acquisition(*ACQUISITIONS["axial"]))
    labels = {p: make_view(volume, p).labels for p in ("axial", "coronal", "sagittal")}
    assert (labels["axial"].top, labels["axial"].left, labels["axial"].right) == ("A", "R", "L")
    assert (labels["coronal"].top, labels["coronal"].bottom, labels["coronal"].left) == (
        "S",
        "I",
        "R",
    )
    assert (labels["sagittal"].top, labels["sagittal"].left, labels["sagittal"].right) == (
        "S",
        "A",
        "P",
    )


def test_spacing_orientation_and_order_are_reported() -> None:
    files = _acquisition(*ACQUISITIONS["coronal"], shuffle_seed=5)
    study = dicomviz.load(files)
    (stack,) = study.stacks
    assert stack.plane == "coronal"
    assert (stack.slice_spacing, *stack.pixel_spacing) == (2.0, 3.0, 1.0)
    positions = [np.dot(f.position, (0, 1, 0)) for f in stack.frames]
    assert positions == sorted(positions)
    assert not stack.warnings


def test_projection_modes_and_slab() -> None:
    volume = _volume(_acquisition(*ACQUISITIONS["axial"]))
    data = canonical(volume).array.astype(float)
    np.testing.assert_array_equal(make_view(volume, "axial", "max").image, data.max(axis=0))
    np.testing.assert_array_equal(make_view(volume, "axial", "min").image, data.min(axis=0))
    np.testing.assert_allclose(
        make_view(volume, "axial", "mean").image, data.mean(axis=0), rtol=1e-5
    )
    slab = make_view(volume, "coronal", "max", slab=(0, 4))
    np.testing.assert_array_equal(slab.image, data[:, 0:4, :].max(axis=1)[::-1])
    assert slab.slab == (0, 4)
    # The slab excludes the anterior marker's slice (y=-14 is index 1) only when it starts after it.
    later = make_view(volume, "coronal", "max", slab=(2, None))
    assert not (later.image == MARKERS["A"][1]).any()


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_clicking_a_marker_moves_the_other_planes_onto_it(plane: str) -> None:
    from dicomviz.display.views import crosshair_pixel, linked_indices

    volume = _volume(_acquisition(*ACQUISITIONS["sagittal"], reverse=True))
    position, value = MARKERS["P"]
    row, col = _expected_display(plane, position)
    indices = {plane: 0, **linked_indices(volume, plane, row, col)}
    for other, index in indices.items():
        if other != plane:
            image = make_view(volume, other, "slice", index=index).image
            assert (image == value).sum() == 1, other
    assert crosshair_pixel(volume, plane, indices) == (row, col)
    assert crosshair_pixel(canonical(volume), plane, indices) == (row, col)


@pytest.mark.parametrize("acquisition", ["axial", "coronal-mirrored", "sagittal"])
def test_view_coordinates_are_patient_mm(acquisition: str) -> None:
    volume = _volume(_acquisition(*ACQUISITIONS[acquisition], shuffle_seed=4))
    names = {"axial": ("y", "x"), "coronal": ("z", "x"), "sagittal": ("z", "y")}
    for plane, (row_name, col_name) in names.items():
        view = make_view(volume, plane, "max")
        assert (view.rows.name, view.columns.name) == (row_name, col_name)
        for position, value in MARKERS.values():
            (row, col) = np.argwhere(view.image == value)[0]
            mm = dict(zip("xyz", position, strict=True))
            assert view.rows.at(row) == pytest.approx(mm[row_name])
            assert view.columns.at(col) == pytest.approx(mm[col_name])
            assert (view.rows.index(mm[row_name]), view.columns.index(mm[col_name])) == (row, col)
