"""What the page shows first, and the digest that keys an upload's cache."""

from __future__ import annotations

import pytest
from synth import make_series

import dicomviz
from dicomviz.display.defaults import default_slab, first_plane
from dicomviz.io.inputs import content_digest


def _stack(**kwargs) -> dicomviz.Stack:
    (stack,) = dicomviz.load(make_series(rows=8, columns=8, **kwargs)).stacks
    return stack


def test_a_volume_opens_on_coronal_and_a_few_images_on_their_own_plane() -> None:
    assert first_plane(_stack(slices=40)) == "coronal"
    assert first_plane(_stack(slices=9)) == "axial"
    sagittal = {"row_cosine": (0, 1, 0), "col_cosine": (0, 0, -1)}
    assert first_plane(_stack(slices=9, **sagittal)) == "sagittal"
    assert first_plane(_stack(slices=40, **sagittal)) == "coronal"


@pytest.mark.parametrize(
    ("depth", "spacing", "mode", "slab"),
    [
        (180, 2.0, "max", (0, 180)),
        (180, 2.0, "slice", (0, 180)),
        (180, 2.0, "min", (80, 100)),  # 20 slices of 2 mm: 40 mm around the middle
        (180, 0.8, "min", (65, 115)),
        (5, 50.0, "min", (1, 3)),  # at least a slice each side of the middle
        (1, 1.0, "min", (0, 1)),
    ],
)
def test_minip_starts_on_a_central_40_mm_slab(
    depth: int, spacing: float, mode: str, slab: tuple[int, int]
) -> None:
    assert default_slab(depth, spacing, mode) == slab


def test_the_digest_tells_apart_what_concatenation_would_not() -> None:
    # Names end in a NUL; without the lengths, these two uploads would hash the same bytes.
    one = content_digest([("a", b"b\x00c")])
    assert one == content_digest([("a", b"b\x00c")])
    assert one != content_digest([("a", b""), ("b", b"c")])
    assert one != content_digest([("A", b"b\x00c")])
