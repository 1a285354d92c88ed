"""Slices and projections along the anatomical planes, in radiological display convention.

The volume is first brought onto patient axes by a permutation and flips derived from its affine
(numpy views, no copy): canonical axes are (S, P, L), i.e. index 0 runs inferior -> superior,
index 1 anterior -> posterior, index 2 right -> left. Then, as every clinical viewer shows them:

- axial: seen from the feet; top = anterior, image left = patient right;
- coronal: seen from the front; top = superior, image left = patient right;
- sagittal: seen from the patient's left; top = superior, image left = anterior.

An oblique stack is shown on its nearest axes without resampling, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dicomviz.errors import UsageError
from dicomviz.geometry import PLANES, Plane, nearest_patient_axes, obliquity_degrees
from dicomviz.notes import Note
from dicomviz.pixels.parallel import int_sum
from dicomviz.pixels.volume import Volume

Mode = Literal["slice", "max", "min", "mean"]
MODES: tuple[Mode, ...] = ("slice", "max", "min", "mean")
MODE_ALIASES = {"mip": "max", "minip": "min", "aip": "mean", "avg": "mean", "average": "mean"}
MODE_LABELS = {"slice": "Slice", "max": "MIP", "min": "MinIP", "mean": "Mean (AIP)"}
MODE_HELP = {
    "slice": "one slice, as the scanner measured it",
    "max": "the brightest value along each line of sight: contrast-filled vessels, bone, "
    "nodules in lung",
    "min": "the darkest value along each line of sight: air in the airways and lungs",
    "mean": "the average along each line of sight: like one very thick slice, or an X-ray",
}
"""One line of plain help per mode, for tooltips."""
OBLIQUE_WARN_DEG = 1.0

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
class Canonical:
    """A volume's array seen on patient axes (S, P, L), with its voxel size in mm."""

    array: np.ndarray = field(repr=False)
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(repr=False)
    """Maps canonical indices to LPS mm."""
    obliquity: float
    """Degrees between the stored axes and the patient axes they are shown along."""
    oriented: bool = True
    """False when the volume's orientation is not known (then no direction labels)."""


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
    mode: Mode
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
        if self.mode == "slice":
            return f"{self.plane.capitalize()} slice {start + 1}"
        thick = (stop - start) * self.depth_spacing
        mode = MODE_LABELS[self.mode].split()[0]
        return f"{self.plane.capitalize()} {mode} {start + 1}-{stop} · {thick:.0f} mm"


def canonical(volume: Volume) -> Canonical:
    """Permute and flip the volume onto patient axes (S, P, L) as numpy views."""
    axes, signs = nearest_patient_axes(volume.affine)
    # array axis i runs along patient axis axes[i] (0=x L, 1=y P, 2=z S) with sign signs[i].
    order = [axes.index(patient) for patient in (2, 1, 0)]
    array = np.transpose(volume.array, order)
    spacing = tuple(volume.spacing[i] for i in order)
    affine = volume.affine.copy()
    affine[:3, :3] = volume.affine[:3, order]
    flips = []
    for canon_axis, stored_axis in enumerate(order):
        if signs[stored_axis] < 0:
            flips.append(canon_axis)
            n = array.shape[canon_axis]
            affine[:3, 3] += affine[:3, canon_axis] * (n - 1)
            affine[:3, canon_axis] *= -1
    if flips:
        array = np.flip(array, axis=tuple(flips))
    obliquity = obliquity_degrees(volume.affine)
    return Canonical(array, spacing, affine, obliquity, volume.oriented)  # type: ignore[arg-type]


def plane_depth(volume: Volume | Canonical, plane: Plane) -> int:
    """Number of slices along a plane's normal."""
    canon = volume if isinstance(volume, Canonical) else canonical(volume)
    return canon.array.shape[_PLANE_AXIS[check_plane(plane)]]


def plane_spacing(canon: Canonical, plane: Plane) -> float:
    """mm between slices along a plane's normal."""
    return canon.spacing[_PLANE_AXIS[check_plane(plane)]]


def check_plane(plane: str) -> Plane:
    if plane not in PLANES:
        raise UsageError(f"unknown plane {plane!r}; choose one of {', '.join(PLANES)}")
    return plane  # type: ignore[return-value]


def check_mode(mode: str) -> Mode:
    mode = MODE_ALIASES.get(mode.lower(), mode.lower())
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def make_view(
    volume: Volume | Canonical,
    plane: str,
    mode: str = "slice",
    *,
    index: int | None = None,
    slab: tuple[int | None, int | None] | None = None,
    units: str = "",
) -> View:
    """One view of the volume.

    ``index`` picks the slice in slice mode (default: the middle); ``slab`` = (start, stop)
    limits a projection to those slices (Python slice semantics, default: the whole volume).
    Indices count along the plane's normal: from inferior (axial), anterior (coronal) or the
    patient's right (sagittal).
    """
    plane, mode = check_plane(plane), check_mode(mode)
    canon = volume if isinstance(volume, Canonical) else canonical(volume)
    if isinstance(volume, Volume):
        units = units or volume.units
    axis = _PLANE_AXIS[plane]
    depth = canon.array.shape[axis]
    start, stop = _resolve_range(depth, mode, index, slab)
    if mode == "slice":
        image = canon.array[_along(axis, start)]
    else:
        # A basic slice is a view: projecting a slab copies nothing.
        block = canon.array[_along(axis, slice(start, stop))]
        image = _project(block, mode, axis)
    row_axis, col_axis, flip_rows = _VIEW_AXES[plane]
    if flip_rows:
        image = image[::-1]
    rows, columns = _screen_coordinates(canon, row_axis, col_axis, flip_rows)
    return View(
        rows=rows,
        columns=columns,
        image=np.ascontiguousarray(image),
        spacing=(canon.spacing[row_axis], canon.spacing[col_axis]),
        labels=EdgeLabels(*_LABELS[plane]) if canon.oriented else NO_LABELS,
        plane=plane,
        mode=mode,
        slab=(start, stop),
        depth_spacing=canon.spacing[axis],
        units=units,
    )


def _screen_coordinates(
    canon: Canonical, row_axis: int, col_axis: int, flip_rows: bool
) -> tuple[Coordinate, Coordinate]:
    """LPS coordinates along the view's rows and columns, from the canonical affine.

    Canonical axes 0, 1, 2 run along patient z, y, x. Steps keep the voxel size (an oblique
    stack is shown on its nearest axes, so its coordinates are approximate, as warned).
    """
    coordinates = []
    for axis, flip in ((row_axis, flip_rows), (col_axis, False)):
        patient = 2 - axis
        start = float(canon.affine[patient, 3])
        step = float(np.copysign(canon.spacing[axis], canon.affine[patient, axis]))
        if flip:
            start += (canon.array.shape[axis] - 1) * step
            step = -step
        coordinates.append(Coordinate("zyx"[axis], start, step))
    return coordinates[0], coordinates[1]


def _along(axis: int, where: int | slice) -> tuple:
    """Index that picks ``where`` along one axis of a 3-D array and keeps the others whole."""
    index: list[int | slice] = [slice(None)] * 3
    index[axis] = where
    return tuple(index)


def _resolve_range(
    depth: int, mode: Mode, index: int | None, slab: tuple[int | None, int | None] | None
) -> tuple[int, int]:
    if mode == "slice":
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


def _project(block: np.ndarray, mode: Mode, axis: int) -> np.ndarray:
    """MIP, MinIP or mean along ``axis``. Voxels of no data (NaN: planes between slices
    further apart than their thickness) are left out; a ray that meets only those is NaN."""
    if block.dtype.kind == "f":
        return _project_skipping_nan(block, mode, axis)
    if mode == "max":
        return block.max(axis=axis)
    if mode == "min":
        return block.min(axis=axis)
    if block.dtype.kind in "iu" and block.dtype.itemsize <= 2:
        # An int32 sum is exact (up to 65,536 slices) and faster than a float32 mean, which
        # casts every voxel in buffered chunks; it runs on both cores for a large block.
        total = int_sum(block, axis)
        return (total / np.float32(block.shape[axis])).astype(np.float32)
    return block.mean(axis=axis, dtype=np.float32)


def _project_skipping_nan(block: np.ndarray, mode: Mode, axis: int) -> np.ndarray:
    if mode == "max":
        return np.fmax.reduce(block, axis=axis)
    if mode == "min":
        return np.fmin.reduce(block, axis=axis)
    found = ~np.isnan(block)
    count = found.sum(axis=axis, dtype=np.int32)
    total = np.where(found, block, np.float32(0)).sum(axis=axis, dtype=np.float32)
    mean = np.full(total.shape, np.nan, dtype=np.float32)
    np.divide(total, count, out=mean, where=count > 0)
    return mean


def oblique_warning(canon: Canonical) -> Note | None:
    if canon.obliquity < OBLIQUE_WARN_DEG:
        return None
    return Note(
        f"the stack is oblique ({canon.obliquity:.1f} degrees from the patient axes): views "
        "are shown on its nearest axes without resampling, so labels are approximate",
        "oblique",
        f"The slices were taken {canon.obliquity:.1f}° off the patient's axes; views are shown "
        "on the nearest axes without turning them, so direction labels are approximate.",
    )


def stored_slice(volume: Volume, plane: Plane, index: int) -> int | None:
    """The volume's own slice (array index 0) that a view of ``plane`` at ``index`` shows,
    when ``plane`` is the one the slices were acquired in; None for the other planes."""
    axes, signs = nearest_patient_axes(volume.affine)
    if axes[0] != 2 - _PLANE_AXIS[check_plane(plane)]:  # canonical axes run z, y, x
        return None
    depth = volume.shape[0]
    if not 0 <= index < depth:
        return None
    return index if signs[0] > 0 else depth - 1 - index


def linked_indices(plane: Plane, row: int, col: int, shape: tuple[int, int, int]) -> dict:
    """Slice indices of the other two planes that pass through pixel (row, col) of a view of
    ``plane``, for a canonical volume of ``shape`` (linked views)."""
    depth_s = shape[0]
    if plane == "axial":
        return {"coronal": row, "sagittal": col}
    if plane == "coronal":
        return {"axial": depth_s - 1 - row, "sagittal": col}
    return {"axial": depth_s - 1 - row, "coronal": col}


def crosshair_pixel(
    plane: Plane, indices: dict[str, int], shape: tuple[int, int, int]
) -> tuple[int, int]:
    """(row, col) in a view of ``plane`` where the other planes' current slices cross."""
    if plane == "axial":
        return indices["coronal"], indices["sagittal"]
    if plane == "coronal":
        return shape[0] - 1 - indices["axial"], indices["sagittal"]
    return shape[0] - 1 - indices["axial"], indices["coronal"]
