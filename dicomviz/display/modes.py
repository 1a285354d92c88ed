"""The display modes, one record each: what a mode is called, what it computes and how it opens.

Everything that differs between a slice, a MIP, a MinIP and a mean projection lives here, so a
new mode is one more record in ``REGISTRY``: views compute with its reducer, the page and the
command line list it by name and label, and the opening picture takes its slab and window rule
(``dicomviz.display.opening.initial_window`` interprets the rule).

>>> [mode.label for mode in REGISTRY]
['Slice', 'MIP', 'MinIP', 'Mean (AIP)']
>>> get("MIP").name, get("minip").name, get("average").name
('max', 'min', 'mean')
>>> get("min").opening_slab(180, 2.0)  # 40 mm around the middle of 180 slices of 2 mm
(80, 100)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dicomviz.errors import UsageError
from dicomviz.pixels.parallel import int_sum

ModeName = Literal["slice", "max", "min", "mean"]
OpeningWindow = Literal["picture", "projection", "lung"]
"""How a mode's first window is chosen (``opening.initial_window``):

- ``picture``: the series' opening window (the files' own when it shows the middle slice well,
  else a CT preset by body part and content, else the body's own values);
- ``projection``: fitted to the view's own values, which differ from a slice's;
- ``lung``: the lung window for a CT that holds lung, else as ``projection``.
"""
Reducer = Callable[[np.ndarray, int], np.ndarray]
"""(block, axis) -> the block reduced along ``axis``; NaN voxels (no data) left out."""


@dataclass(frozen=True)
class Mode:
    """One way of turning a stack of slices into one picture."""

    name: ModeName
    """What the library and the command line call it."""
    label: str
    """What the page calls it (its choice, the radio button)."""
    title: str
    """Its word in a view's title: 'Coronal MIP 104-153 · 40 mm'."""
    help: str
    """One line of plain help, for tooltips."""
    reduce: Reducer | None = None
    """The projection along the plane's normal; None shows one slice."""
    aliases: tuple[str, ...] = ()
    opening_slab_mm: float | None = None
    """A projection starts on a central slab this thick (mm); None: the whole depth."""
    opening_window: OpeningWindow = "picture"

    @property
    def projects(self) -> bool:
        return self.reduce is not None

    def opening_slab(self, depth: int, spacing_mm: float) -> tuple[int, int]:
        """[start, stop) slices a view of this mode starts with: the whole depth, or a central
        slab of ``opening_slab_mm`` (at least one slice each side of the middle)."""
        if self.opening_slab_mm is None:
            return 0, depth
        half = self.opening_slab_mm / 2
        half_slices = max(1, round(half / spacing_mm)) if spacing_mm > 0 else 1
        middle = depth // 2
        return max(0, middle - half_slices), min(depth, middle + half_slices)


def _maximum(block: np.ndarray, axis: int) -> np.ndarray:
    if block.dtype.kind == "f":
        return np.fmax.reduce(block, axis=axis)  # fmax skips NaN; all-NaN rays stay NaN
    return block.max(axis=axis)


def _minimum(block: np.ndarray, axis: int) -> np.ndarray:
    if block.dtype.kind == "f":
        return np.fmin.reduce(block, axis=axis)
    return block.min(axis=axis)


def _mean(block: np.ndarray, axis: int) -> np.ndarray:
    """float32 mean; a ray through no data only is NaN."""
    if block.dtype.kind == "f":
        found = ~np.isnan(block)
        count = found.sum(axis=axis, dtype=np.int32)
        total = np.where(found, block, np.float32(0)).sum(axis=axis, dtype=np.float32)
        mean = np.full(total.shape, np.nan, dtype=np.float32)
        np.divide(total, count, out=mean, where=count > 0)
        return mean
    if block.dtype.kind in "iu" and block.dtype.itemsize <= 2:
        # An int32 sum is exact (up to 65,536 slices) and faster than a float32 mean, which
        # casts every voxel in buffered chunks; it runs on both cores for a large block.
        total = int_sum(block, axis)
        return (total / np.float32(block.shape[axis])).astype(np.float32)
    return block.mean(axis=axis, dtype=np.float32)


MINIP_SLAB_MM = 40.0
"""Through the whole body every ray meets the air around it, so MinIP starts on a central slab
of about 40 mm, where the airways show."""

REGISTRY: tuple[Mode, ...] = (
    Mode("slice", "Slice", "slice", "one slice, as the scanner measured it"),
    Mode(
        "max",
        "MIP",
        "MIP",
        "the brightest value along each line of sight: contrast-filled vessels, bone, "
        "nodules in lung",
        _maximum,
        aliases=("mip",),
        opening_window="projection",
    ),
    Mode(
        "min",
        "MinIP",
        "MinIP",
        "the darkest value along each line of sight: air in the airways and lungs",
        _minimum,
        aliases=("minip",),
        opening_slab_mm=MINIP_SLAB_MM,
        opening_window="lung",
    ),
    Mode(
        "mean",
        "Mean (AIP)",
        "Mean",
        "the average along each line of sight: like one very thick slice, or an X-ray",
        _mean,
        aliases=("aip", "avg", "average"),
        opening_window="projection",
    ),
)
"""Every mode, in the order the page offers them."""
MODES: tuple[ModeName, ...] = tuple(mode.name for mode in REGISTRY)
_BY_NAME = {key: mode for mode in REGISTRY for key in (mode.name, *mode.aliases)}


def get(name: str) -> Mode:
    """The mode called ``name`` or one of its aliases, in any case."""
    found = _BY_NAME.get(name.lower())
    if found is None:
        raise UsageError(f"unknown mode {name.lower()!r}; choose one of {', '.join(MODES)}")
    return found
