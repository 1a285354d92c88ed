"""Several images at one position: duplicates said and skipped, the rest made into volumes.

Only a true duplicate is dropped: the same image given twice (same pixels and the same values
that describe it, e.g. one image saved in nine transfer syntaxes). Images at one position with
different pixels are volumes of a 4-D series, told apart by what differs between them (echo,
time point, diffusion b-value and direction, image type, stack, acquisition, trigger time) or,
when nothing says, by acquisition order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from dicomviz.errors import Skipped
from dicomviz.notes import Note
from dicomviz.series.frames import Frame
from dicomviz.series.variants import (
    FACETS,
    Facet,
    Variant,
    labels,
    with_vendor_diffusion,
)

Digest = Callable[[Frame], bytes | None]
"""A frame's pixel digest, or None when its pixels cannot be read."""
SAME_POSITION_MM = 0.01
"""Two images closer than this (in 3-D) are at the same position."""
_MOST_FACETS = 3


@dataclass(frozen=True)
class Volume4D:
    """One volume of a 4-D series: its images (at distinct positions) and what it is."""

    frames: tuple[Frame, ...]
    label: str


def position_slots(frames: Sequence[Frame], normal: np.ndarray) -> list[list[Frame]]:
    """Frames grouped by position (within SAME_POSITION_MM), slots ordered along the normal.

    The one definition of "same position" in the engine."""
    ordered = sorted(frames, key=lambda f: (float(np.dot(f.position, normal)), *f.variant.order))
    slots: list[list[Frame]] = []
    for frame in ordered:
        for slot in reversed(slots[-8:]):  # images at one position sort next to each other
            if np.linalg.norm(np.subtract(frame.position, slot[0].position)) < SAME_POSITION_MM:
                slot.append(frame)
                break
        else:
            slots.append([frame])
    return slots


def split_volumes(
    frames: Sequence[Frame],
    normal: np.ndarray,
    skipped: list[Skipped],
    digest: Digest | None = None,
) -> tuple[list[Volume4D], Note | None]:
    """The volumes among ``frames`` (one grid, all with positions) and a note saying how they
    were told apart; duplicates are appended to ``skipped``. ``digest`` gives a frame's pixel
    digest (the pixel layer's ``frame_digest``); without it no image counts as a duplicate."""
    digests: dict[tuple[int, int], bytes | None] = {}
    twins: list[tuple[Frame, Frame]] = []
    slots = [
        _without_duplicates(slot, twins, digests, digest) for slot in position_slots(frames, normal)
    ]
    skipped.extend(_said_once_per_file(twins))
    depth = max(len(slot) for slot in slots)
    kept = [f for slot in slots for f in slot]
    if depth == 1:
        return [Volume4D(tuple(kept), "")], None
    variants = _variants(kept)
    facets = _facets_that_split(slots, variants, depth)
    groups = _group(kept, variants, facets)
    groups.sort(key=lambda g: min(variants[id(f)].order for f in g))
    by_order = [part for g in groups for part in _by_acquisition_order(g, variants, normal)]
    names = labels(facets, [[variants[id(f)] for f in g] for g, _ in by_order])
    volumes = [
        Volume4D(tuple(frames_), _join(name, repeat))
        for (frames_, repeat), name in zip(by_order, names, strict=True)
    ]
    return volumes, _note(volumes, len(slots), facets)


def _join(name: str, repeat: int | None) -> str:
    if repeat is None:
        return name
    said = f"volume {repeat} in acquisition order"
    return f"{name}, {said}" if name else said


def _note(volumes: list[Volume4D], positions: int, facets: Sequence[Facet]) -> Note:
    told = (
        " and ".join(f.name for f in facets) + " (then acquisition order where they repeat)"
        if facets and any("acquisition order" in v.label for v in volumes)
        else " and ".join(f.name for f in facets)
        if facets
        else "acquisition order only (no attribute tells them apart)"
    )
    text = (
        f"{len(volumes)} volumes at the same {positions} positions (a 4-D series), "
        f"told apart by {told}"
    )
    plain = (
        f"This series holds {len(volumes)} volumes of the same {positions} positions "
        f"({' and '.join(f.name for f in facets) or 'taken one after another'}): pick one "
        "with the Volume slider."
    )
    return Note(text, "4d", plain)


def _variants(frames: Sequence[Frame]) -> dict[int, Variant]:
    """Each frame's variant; diffusion values from vendors' private elements are read (by
    parsing the whole header) only when no standard attribute gives a b-value."""
    variants = {id(f): f.variant for f in frames}
    if any(v.has_diffusion for v in variants.values()):
        return variants
    for frame in frames:
        try:
            variants[id(frame)] = with_vendor_diffusion(frame.variant, frame.file.dataset)
        except Exception:  # a header that only the scanner could read: no vendor values
            continue
    return variants


def _facets_that_split(
    slots: list[list[Frame]], variants: dict[int, Variant], depth: int
) -> tuple[Facet, ...]:
    """The fewest facets (most telling first) that put at most one image of each position in
    each volume, making no more volumes than the most images at one position. Else the
    combination making the most volumes, left to acquisition order to finish."""
    frames = [f for slot in slots for f in slot]
    varying = [f for f in FACETS if len({f.key(variants[id(x)]) for x in frames}) > 1]
    best: tuple[Facet, ...] = ()
    best_count = 1
    for size in range(1, min(_MOST_FACETS, len(varying)) + 1):
        for combo in combinations(varying, size):
            count, clean = _try(slots, variants, combo)
            if count > depth:
                continue
            if clean:
                return combo
            if count > best_count:
                best, best_count = combo, count
    return best


def _try(
    slots: list[list[Frame]], variants: dict[int, Variant], facets: Sequence[Facet]
) -> tuple[int, bool]:
    """(number of volumes these facets make, whether no volume holds two images of a slot)."""
    keys: set[tuple] = set()
    clean = True
    for slot in slots:
        seen = set()
        for frame in slot:
            key = tuple(f.key(variants[id(frame)]) for f in facets)
            keys.add(key)
            clean = clean and key not in seen
            seen.add(key)
    return len(keys), clean


def _group(
    frames: Sequence[Frame], variants: dict[int, Variant], facets: Sequence[Facet]
) -> list[list[Frame]]:
    groups: dict[tuple, list[Frame]] = defaultdict(list)
    for frame in frames:
        groups[tuple(f.key(variants[id(frame)]) for f in facets)].append(frame)
    return list(groups.values())


def _by_acquisition_order(
    group: list[Frame], variants: dict[int, Variant], normal: np.ndarray
) -> list[tuple[list[Frame], int | None]]:
    """The k-th image (in acquisition order) at each position goes into volume k."""
    slots = position_slots(group, normal)
    if max(len(s) for s in slots) == 1:
        return [(group, None)]
    parts: list[list[Frame]] = []
    for slot in slots:
        for k, frame in enumerate(sorted(slot, key=lambda f: variants[id(f)].order)):
            if k == len(parts):
                parts.append([])
            parts[k].append(frame)
    return [(part, k + 1) for k, part in enumerate(parts)]


def _without_duplicates(
    slot: list[Frame],
    twins: list[tuple[Frame, Frame]],
    digests: dict[tuple[int, int], bytes | None],
    digest: Digest | None,
) -> list[Frame]:
    """Images that repeat another one of this position exactly (same describing values, same
    pixels) are left out, each with its twin in ``twins``; the first in acquisition order is
    kept."""
    if len(slot) == 1:
        return slot
    kept: list[Frame] = []
    for frame in sorted(slot, key=lambda f: f.variant.order):
        twin = next((k for k in kept if _same_image(k, frame, digests, digest)), None)
        if twin is None:
            kept.append(frame)
        else:
            twins.append((frame, twin))
    return kept


def _said_once_per_file(twins: list[tuple[Frame, Frame]]) -> list[Skipped]:
    """One skipped record per duplicate image, or per file when several images of one file
    (a mosaic's slices, a multi-frame file's frames) repeat those of another file."""
    by_files: dict[tuple[int, int], list[tuple[Frame, Frame]]] = defaultdict(list)
    for frame, twin in twins:
        by_files[(id(frame.file), id(twin.file))].append((frame, twin))
    said = []
    why = "same pixels: a duplicate, e.g. saved again in another transfer syntax"
    for pairs in by_files.values():
        frame, twin = pairs[0]
        if len(pairs) == 1:
            said.append(
                Skipped(
                    frame.name, f"the same image as {twin.name} (same position, {why}); used once"
                )
            )
        else:
            said.append(
                Skipped(
                    frame.file.name,
                    f"its {len(pairs)} images are the same as those of {twin.file.name} "
                    f"(same positions, {why}); used once",
                )
            )
    return said


def _same_image(
    a: Frame, b: Frame, digests: dict[tuple[int, int], bytes | None], digest: Digest | None
) -> bool:
    if _describing(a) != _describing(b):
        return False
    first, second = _digest(a, digests, digest), _digest(b, digests, digest)
    return first is not None and first == second


def _describing(frame: Frame) -> tuple:
    """What describes an image besides its pixels; the acquisition order is not part of it."""
    v = frame.variant
    return (
        frame.rows,
        frame.columns,
        frame.slope,
        frame.intercept,
        frame.pixel_spacing,
        frame.orientation,
        v.echo_number,
        v.echo_time,
        v.temporal,
        v.trigger_time,
        v.image_type,
        v.b_value,
        v.direction,
        v.stack_id,
    )


def _digest(
    frame: Frame, digests: dict[tuple[int, int], bytes | None], digest: Digest | None
) -> bytes | None:
    """The stored frame's pixel digest (a whole mosaic for its tiles), once per stored frame;
    None without a digest function or when the pixels cannot be read (the image is then kept:
    nothing is dropped on a guess)."""
    key = (id(frame.file), frame.index)
    if key not in digests:
        digests[key] = digest(frame) if digest is not None else None
    return digests[key]
