"""What to show first: the plane a stack opens on, and the slab a projection starts with.

Plain policy on plain data, shared by the page and tested without a browser.
"""

from __future__ import annotations

from dicomviz.display import modes
from dicomviz.geometry import Plane
from dicomviz.series.stacks import Stack

VOLUME_MIN_IMAGES = 32
"""From this many positioned images, a stack is a volume worth opening on coronal."""


def first_plane(stack: Stack) -> Plane:
    """Coronal for a real volume (the view that shows it is one); for a few images, or frames
    without positions (a cine loop, a radiograph), the plane they were acquired in."""
    has_positions = all(f.position is not None for f in stack.frames)
    if len(stack.frames) >= VOLUME_MIN_IMAGES and has_positions:
        return "coronal"
    return stack.plane if stack.plane != "oblique" else "axial"  # type: ignore[return-value]


def default_slab(depth: int, spacing_mm: float, mode: str) -> tuple[int, int]:
    """[start, stop) slices a view of ``mode`` starts with: the whole depth, except for a mode
    that opens on a central slab (MinIP: through the whole body every ray meets the air
    around it, so it starts on about 40 mm, where the airways show). See ``modes``."""
    return modes.get(mode).opening_slab(depth, spacing_mm)
