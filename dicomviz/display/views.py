"""Slices and projections along the anatomical planes, in radiological display convention.

The volume is first brought onto patient axes by a permutation and flips derived from its affine
(:func:`canonical`: numpy views, no copy, still a ``Volume``): canonical axes are (S, P, L), i.e.
index 0 runs inferior -> superior, index 1 anterior -> posterior, index 2 right -> left. Then, as
every clinical viewer shows them:

- axial: seen from the feet; top = anterior, image left = patient right;
- coronal: seen from the front; top = superior, image left = patient right;
- sagittal: seen from the patient's left; top = superior, image left = anterior.

Where a view's pixel lies in the patient (and so which slices of the other planes pass through
it) is read from the affine, through the views' coordinates (:class:`Coordinate`). An oblique
stack is shown on its nearest axes without resampling, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dicomviz.display import modes
from dicomviz.display.modes import MODES, ModeName
from dicomviz.errors import UsageError
from dicomviz.geometry import PLANES, Plane
from dicomviz.notes import Note
from dicomviz.pixels.volume import Volume

__all__ = [
    "CANONICAL_AXES",
    "MODES",
    "NO_LABELS",
    "OBLIQUE_WARN_DEG",
    "Coordinate",
    "EdgeLabels",
    "View",
    "canonical",
    "check_plane",
    "crosshair_pixel",
    "linked_indices",
    "make_view",
    "oblique_warning",
    "plane_coordinates",
    "plane_depth",
    "plane_spacing",
    "stored_slice",
]

OBLIQUE_WARN_DEG = 1.0
CANONICAL_AXES = ((2, 1, 0), (1, 1, 1))
"""``Volume.patient_axes`` of a canonical volume: array axes along z, y, x (S, P, L), each
growing towards the patient's superior, posterior and left."""

# Canonical axis along each plane's normal; for the view, which canonical axes become rows and
# columns and whether rows are flipped (so that superior is up).
_PLANE_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}
_VIEW_AXES = {"axial": (1, 2, False), "coronal": (0, 2, True), "sagittal": (0, 1, True)}
_LABELS = {
    "axial": ("A", "P", "R", "L"),
    "coronal": ("S", "I", "R", "L"),
    "sagittal": ("S", "I", "A", "P"),
}


@dataclass(frozen=True)
class EdgeLabels:
    top: str
    bottom: str
    left: str
    right: str


NO_LABELS = EdgeLabels("", "", "", "")
"""For images whose orientation is unknown: a label would be a guess."""


@dataclass(frozen=True)
class Coordinate:
    """Patient coordinate (LPS mm) along one screen axis of a view: ``start + index * step``."""

    name: str
    """'x' (right to left), 'y' (anterior to posterior) or 'z' (inferior to superior)."""
    start: float
    step: float

    def at(self, index: float) -> float:
        return self.start + index * self.step

    def index(self, value: float) -> int:
        return round((value - self.start) / self.step)


@dataclass(frozen=True)
class View:
    """A 2-D image ready to display: rows top to bottom, columns left to right on screen."""

    image: np.ndarray = field(repr=False)
    spacing: tuple[float, float]
    """mm per row step and per column step."""
    labels: EdgeLabels
    plane: Plane
    mode: ModeName
    slab: tuple[int, int]
    """Canonical indices [start, stop) along the plane's normal that made this view."""
    depth_spacing: float
    """mm between slices along the plane's normal."""
    units: str = ""
    rows: Coordinate = Coordinate("row", 0.0, 1.0)
    """Patient coordinate down the rows (y for axial, z for coronal and sagittal)."""
    columns: Coordinate = Coordinate("column", 0.0, 1.0)
    """Patient coordinate across the columns (x for axial and coronal, y for sagittal)."""

    @property
    def title(self) -> str:
        """Short enough for a third of a page: 'Coronal MIP 104-153 · 40 mm'."""
        start, stop = self.slab
        mode = modes.get(self.mode)
        if not mode.projects:
            return f"{self.plane.capitalize()} {mode.title} {start + 1}"
        thick = (stop - start) * self.depth_spacing
        return f"{self.plane.capitalize()} {mode.title} {start + 1}-{stop} · {thick:.0f} mm"


def canonical(volume: Volume) -> Volume:
    """The volume on patient axes (S, P, L): its array permuted and flipped as numpy views (no
    copy), the affine and spacing following it, every other field kept. ``slice_axis`` moves
    with the slices' axis and ``slice_names`` are reversed with it when it is flipped, so each
    name stays on its plane. A volume already on those axes is returned as it is.

    >>> affine = np.diag([-2.0, 1.0, 1.0, 1.0])  # slices along x, towards the right
    >>> array = np.arange(24).reshape(2, 3, 4)
    >>> stored = Volume(array, affine, (2.0, 1.0, 1.0), "s", units="HU", slice_names=("a", "b"))
    >>> canon = canonical(stored)
    >>> canon.shape, canon.spacing, canon.slice_axis, canon.slice_names, canon.units
    ((4, 3, 2), (1.0, 1.0, 2.0), 2, ('b', 'a'), 'HU')
    >>> canonical(canon) is canon
    True
    """
    if volume.patient_axes == CANONICAL_AXES:
        return volume
    order, flips = _reorientation(volume)
    array = np.transpose(volume.array, order)
    affine = volume.affine.copy()
    affine[:3, :3] = volume.affine[:3, order]
    for axis in flips:
        affine[:3, 3] += affine[:3, axis] * (array.shape[axis] - 1)
        affine[:3, axis] *= -1
    if flips:
        array = np.flip(array, axis=tuple(flips))
    slice_axis = order.index(volume.slice_axis)
    names = volume.slice_names
    reoriented = replace(
        volume,
        array=array,
        affine=affine,
        spacing=tuple(volume.spacing[i] for i in order),
        slice_axis=slice_axis,
        slice_names=names[::-1] if slice_axis in flips else names,
    )
    # The axes chosen for the stored volume, now in order: at a tie (a stack at exactly 45
    # degrees) the reoriented affine alone might pick the other axis, and turn it again.
    vars(reoriented)["patient_axes"] = CANONICAL_AXES
    return reoriented


def _reorientation(volume: Volume) -> tuple[list[int], list[int]]:
    """(order, flips): canonical axis i is the volume's axis ``order[i]``, reversed when i is
    in ``flips``."""
    axes, signs = volume.patient_axes
    order = [axes.index(patient) for patient in (2, 1, 0)]
    return order, [i for i, stored in enumerate(order) if signs[stored] < 0]


def check_plane(plane: str) -> Plane:
    if plane not in PLANES:
        raise UsageError(f"unknown plane {plane!r}; choose one of {', '.join(PLANES)}")
    return plane  # type: ignore[return-value]


def plane_depth(volume: Volume, plane: str) -> int:
    """Number of slices along a plane's normal."""
    return canonical(volume).shape[_PLANE_AXIS[check_plane(plane)]]


def plane_spacing(volume: Volume, plane: str) -> float:
    """mm between slices along a plane's normal."""
    return canonical(volume).spacing[_PLANE_AXIS[check_plane(plane)]]


def make_view(
    volume: Volume,
    plane: str,
    mode: str = "slice",
    *,
    index: int | None = None,
    slab: tuple[int | None, int | None] | None = None,
) -> View:
    """One view of the volume (as built or already canonical), in its units.

    ``index`` picks the slice of a slice mode (default: the middle); ``slab`` = (start, stop)
    limits a projection to those slices (Python slice semantics, default: the whole volume).
    Indices count along the plane's normal: from inferior (axial), anterior (coronal) or the
    patient's right (sagittal).
    """
    plane, how = check_plane(plane), modes.get(mode)
    canon = canonical(volume)
    axis = _PLANE_AXIS[plane]
    start, stop = _resolve_range(canon.shape[axis], how, index, slab)
    if how.reduce is None:
        image = canon.array[_along(axis, start)]
    else:
        # A basic slice is a view: projecting a slab copies nothing.
        image = how.reduce(canon.array[_along(axis, slice(start, stop))], axis)
    row_axis, col_axis, flip_rows = _VIEW_AXES[plane]
    if flip_rows:
        image = image[::-1]
    rows, columns, _ = plane_coordinates(canon, plane)
    return View(
        rows=rows,
        columns=columns,
        image=np.ascontiguousarray(image),
        spacing=(canon.spacing[row_axis], canon.spacing[col_axis]),
        labels=EdgeLabels(*_LABELS[plane]) if canon.oriented else NO_LABELS,
        plane=plane,
        mode=how.name,
        slab=(start, stop),
        depth_spacing=canon.spacing[axis],
        units=canon.units,
    )


def plane_coordinates(volume: Volume, plane: str) -> tuple[Coordinate, Coordinate, Coordinate]:
    """LPS coordinates down the rows and across the columns of a view of ``plane``, and along
    its normal (by slice index), from the canonical affine; no pixel is read.

    Canonical axes 0, 1, 2 run along patient z, y, x. Steps keep the voxel size (an oblique
    stack is shown on its nearest axes, so its coordinates are approximate, as warned).
    """
    canon = canonical(volume)
    row_axis, col_axis, flip_rows = _VIEW_AXES[check_plane(plane)]
    return (
        _coordinate(canon, row_axis, flip_rows),
        _coordinate(canon, col_axis, False),
        _coordinate(canon, _PLANE_AXIS[plane], False),
    )


def _coordinate(canon: Volume, axis: int, flip: bool) -> Coordinate:
    patient = 2 - axis
    start = float(canon.affine[patient, 3])
    step = float(np.copysign(canon.spacing[axis], canon.affine[patient, axis]))
    if flip:
        start += (canon.shape[axis] - 1) * step
        step = -step
    return Coordinate("zyx"[axis], start, step)


def _along(axis: int, where: int | slice) -> tuple:
    """Index that picks ``where`` along one axis of a 3-D array and keeps the others whole."""
    index: list[int | slice] = [slice(None)] * 3
    index[axis] = where
    return tuple(index)


def _resolve_range(
    depth: int,
    mode: modes.Mode,
    index: int | None,
    slab: tuple[int | None, int | None] | None,
) -> tuple[int, int]:
    if not mode.projects:
        k = depth // 2 if index is None else index
        if not -depth <= k < depth:
            raise UsageError(f"slice index {k} is outside 0..{depth - 1}")
        k %= depth
        return k, k + 1
    start, stop, _ = slice(*(slab or (None, None))).indices(depth)
    if stop <= start:
        shown = ":".join("" if v is None else str(v) for v in (slab or (None, None)))
        raise UsageError(f"slab {shown} selects no slices out of {depth}")
    return start, stop


def oblique_warning(volume: Volume) -> Note | None:
    """The note that a stack's views are shown on its nearest axes, when it is oblique."""
    degrees = volume.obliquity
    if degrees < OBLIQUE_WARN_DEG:
        return None
    return Note(
        f"the stack is oblique ({degrees:.1f} degrees from the patient axes): views "
        "are shown on its nearest axes without resampling, so labels are approximate",
        "oblique",
        f"The slices were taken {degrees:.1f}° off the patient's axes; views are shown "
        "on the nearest axes without turning them, so direction labels are approximate.",
    )


def stored_slice(volume: Volume, plane: str, index: int) -> int | None:
    """The index along ``volume.slice_axis`` (for a volume as built: the stack's plane) of the
    slice a view of ``plane`` at ``index`` shows, when ``plane`` is the one the slices were
    acquired in; None for the other planes. For the header panel: which image is shown."""
    order, flips = _reorientation(volume)
    axis = _PLANE_AXIS[check_plane(plane)]
    if order[axis] != volume.slice_axis:
        return None
    depth = volume.shape[volume.slice_axis]
    if not 0 <= index < depth:
        return None
    return depth - 1 - index if axis in flips else index


def linked_indices(volume: Volume, plane: str, row: int, col: int) -> dict[Plane, int]:
    """Slice indices of the other two planes that pass through pixel (row, col) of a view of
    ``plane`` (linked views): the pixel's position in mm, then each plane's slice there."""
    rows, columns, _ = plane_coordinates(volume, plane)
    mm = {rows.name: rows.at(row), columns.name: columns.at(col)}
    found: dict[Plane, int] = {}
    for other in PLANES:
        if other != plane:
            normal = plane_coordinates(volume, other)[2]
            found[other] = normal.index(mm[normal.name])
    return found


def crosshair_pixel(volume: Volume, plane: str, indices: dict[str, int]) -> tuple[int, int]:
    """(row, col) in a view of ``plane`` where the other planes' current slices (``indices``,
    by plane) cross: each slice's position in mm, then the view's pixel there."""
    rows, columns, _ = plane_coordinates(volume, plane)
    mm = {}
    for other in PLANES:
        if other != plane:
            normal = plane_coordinates(volume, other)[2]
            mm[normal.name] = normal.at(indices[other])
    return rows.index(mm[rows.name]), columns.index(mm[columns.name])
