"""Where each acquired slice goes along the normal, so that distances stay true.

Most stacks are evenly spaced and are stored as acquired. Real series are not always: a head CT
may step 4 mm, then 7 mm; a slice may be missing. Stacking such slices at one spacing squashes
every reformatted view (a head measured 112 mm instead of 144 mm). Such a stack is resampled
along the normal onto a regular grid instead: each grid plane shows the nearest acquired slice
when that slice covers it (within half its thickness), and no data otherwise. Nearest, not
linear, so every value shown is a value the scanner measured.

Pure functions on distances along the normal (mm); they never see a DICOM dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from dicomviz.notes import Note

REGULAR_TOLERANCE = 0.15
"""Slices within this fraction of the spacing (plus 0.005 mm) of one regular grid count as
evenly spaced: shown on that grid, none is further from its true position than that (nearest
resampling could move one by half a step)."""
NOTED_TOLERANCE = 0.01
"""Above this fraction, an even stack still gets a note saying how far slices were moved."""
_ABSOLUTE_TOLERANCE_MM = 0.005
MAX_PLANES_PER_SLICE = 16
MAX_PLANES = 1024
"""A grid has at most MAX_PLANES, or MAX_PLANES_PER_SLICE times the slices if that is more:
two slices 0.01 mm apart must not ask for tens of thousands of planes."""


@dataclass(frozen=True)
class SliceGrid:
    """A regular grid of planes along the normal and which acquired slice each one shows."""

    step: float
    """mm between planes."""
    planes: tuple[int, ...] | None
    """For each plane, the index of the acquired slice shown there, or -1 for no data; None
    when the planes are the acquired slices themselves (evenly spaced)."""
    warning: Note | None = None
    """One plain sentence on the steps that occur and what the grid does about them."""

    def count(self, slices: int) -> int:
        """Number of planes for a stack of ``slices`` acquired slices."""
        return slices if self.planes is None else len(self.planes)

    @property
    def empty_planes(self) -> int:
        return 0 if self.planes is None else sum(1 for p in self.planes if p < 0)


def slice_grid(
    distances: Sequence[float],
    thickness: Sequence[float | None] = (),
    *,
    max_planes: int | None = None,
) -> SliceGrid:
    """The grid for slices at ``distances`` (mm along the normal, strictly increasing).

    ``thickness`` (mm, per slice, None when unknown) decides how far a slice reaches: a gap
    wider than the slices shows as no data. ``max_planes`` bounds the grid (the volume budget).
    """
    d = np.asarray(distances, dtype=float)
    if len(d) < 2:
        return SliceGrid(1.0, None)
    steps = np.diff(d)
    if np.any(steps <= 0):
        raise ValueError("distances must be strictly increasing")
    median = float(np.median(steps))
    if _is_even(d, median):
        spacing = float((d[-1] - d[0]) / (len(d) - 1))
        return SliceGrid(spacing, None, _note_on_even(d, steps, spacing))
    limit = max(len(d) * MAX_PLANES_PER_SLICE, MAX_PLANES)
    if max_planes is not None:
        limit = max(len(d), min(limit, max_planes))
    step = _grid_step(d, steps, median, limit)
    count = round((d[-1] - d[0]) / step) + 1
    step = float((d[-1] - d[0]) / (count - 1))
    reach = _reach(thickness, len(d), median, step)
    planes = _nearest_covering(d, reach, step, count)
    return SliceGrid(step, planes, _warning(steps, step, planes, d[0]))


def _is_even(d: np.ndarray, median: float) -> bool:
    """Every slice within tolerance of one regular grid through the first and last slice (so
    positions rounded in the header, e.g. 0.6/0.7 mm steps of 0.65, still count as even)."""
    spacing = (d[-1] - d[0]) / (len(d) - 1)
    if abs(spacing - median) > 0.25 * median:
        return False  # e.g. a missing slice: the mean step is not the usual one
    expected = d[0] + spacing * np.arange(len(d))
    tolerance = REGULAR_TOLERANCE * spacing + _ABSOLUTE_TOLERANCE_MM
    return bool(np.max(np.abs(d - expected)) <= tolerance)


def _note_on_even(d: np.ndarray, steps: np.ndarray, spacing: float) -> Note | None:
    moved = float(np.max(np.abs(d - (d[0] + spacing * np.arange(len(d))))))
    if moved <= NOTED_TOLERANCE * spacing + _ABSOLUTE_TOLERANCE_MM:
        return None
    text = (
        f"slice spacing varies a little (steps from {steps.min():.2f} to {steps.max():.2f} mm): "
        f"slices are shown {spacing:.3f} mm apart, none more than {moved:.2f} mm from its true "
        "position"
    )
    plain = (
        f"The gaps between slices vary a little ({steps.min():.2f} to {steps.max():.2f} mm); "
        f"they are shown evenly, none more than {moved:.2f} mm off."
    )
    return Note(text, "gaps", plain)


def _grid_step(d: np.ndarray, steps: np.ndarray, median: float, limit: int) -> float:
    """The median step when every slice sits on its lattice (missing slices only), else the
    smallest step; never so small that the grid passes ``limit`` planes."""
    extent = float(d[-1] - d[0])
    lattice = np.rint((d - d[0]) / median)
    fitted = extent / lattice[-1] if lattice[-1] > 0 else median
    on_lattice = np.max(np.abs(d - d[0] - lattice * fitted)) <= (
        REGULAR_TOLERANCE * fitted + _ABSOLUTE_TOLERANCE_MM
    )
    step = fitted if on_lattice and np.all(np.diff(lattice) > 0) else float(steps.min())
    return max(step, extent / (limit - 1))


def _reach(thickness: Sequence[float | None], count: int, median: float, step: float) -> np.ndarray:
    """How far each slice's data reaches from its centre: half its thickness (else half the
    usual step), and never less than half a grid step, so every slice shows somewhere."""
    known = [t if t is not None and t > 0 else None for t in thickness]
    known += [None] * (count - len(known))
    halves = np.array([(t if t is not None else median) / 2 for t in known[:count]])
    return np.maximum(halves, step / 2) + _ABSOLUTE_TOLERANCE_MM


def _nearest_covering(d: np.ndarray, reach: np.ndarray, step: float, count: int) -> tuple[int, ...]:
    grid = d[0] + step * np.arange(count)
    right = np.clip(np.searchsorted(d, grid), 1, len(d) - 1)
    left = right - 1
    nearest = np.where(grid - d[left] <= d[right] - grid, left, right)
    covered = np.abs(grid - d[nearest]) <= reach[nearest]
    return tuple(int(k) for k in np.where(covered, nearest, -1))


def _warning(steps: np.ndarray, step: float, planes: tuple[int, ...], start: float) -> Note:
    counts = Counter(round(float(s), 1 if s >= 0.95 else 2) for s in steps)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    first, *rest = ordered
    said = ", ".join(
        [_gaps(first[1], first[0], "gap" if first[1] == 1 else "gaps")]
        + [_gaps(n, size, "") for size, n in rest]
    )
    empty = [k for k, p in enumerate(planes) if p < 0]
    text = (
        f"uneven slice spacing: {said}; slices are shown at their true positions on a "
        f"{step:.2f} mm grid"
    )
    plain = (
        f"The gaps between slices are uneven ({said}). Each slice is shown at its true "
        "position, so sizes in side and front views are right"
    )
    unshown = len(steps) + 1 - len(set(planes) - {-1})
    if unshown:
        text += f" (as fine as the volume budget allows: {unshown} slices fall between planes)"
        plain += f"; {unshown} slices fall between the planes shown and are not seen"
    if not empty:
        return Note(text, "gaps", plain + ".")
    stretches = 1 + sum(1 for a, b in pairwise(empty) if b != a + 1)
    text += (
        f", and the {len(empty) * step:.1f} mm where a gap is wider than the slices "
        f"({stretches} stretch{'es' if stretches > 1 else ''}, first at "
        f"{start + empty[0] * step:.1f} mm along the normal) show no data"
    )
    plain += (
        f"; where a gap is wider than the slices are thick ({len(empty) * step:.0f} mm in all) "
        "the picture is left empty rather than stretched."
    )
    return Note(text, "gaps", plain)


def _gaps(count: int, size: float, noun: str) -> str:
    said = f"{size:.1f}" if size >= 0.95 else f"{size:.2f}"
    return f"{count} {noun + ' ' if noun else ''}of {said} mm"
