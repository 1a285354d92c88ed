"""Group frames into series and geometrically consistent stacks, ordered by patient position.

A series is what the scanner called one (SeriesInstanceUID); a stack is what can share one grid:
same orientation and matrix size. Slices are ordered by their position along the slice normal,
never by file name or InstanceNumber, unless no positions exist at all.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from dicomviz.errors import Skipped
from dicomviz.geometry import plane_name, slice_normal
from dicomviz.io.header import HeaderRecord
from dicomviz.limits import Limits
from dicomviz.notes import Note
from dicomviz.series.frames import Frame
from dicomviz.series.repeats import Digest, Volume4D, split_volumes
from dicomviz.series.slice_grid import slice_grid

ASSUMED_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_COSINE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Stack:
    """Frames that fit on one grid, in spatial order, with the facts needed to place them."""

    series_uid: str
    number: int
    """1 unless the series was split; then 1, 2, ... by size."""
    frames: tuple[Frame, ...] = field(repr=False)
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, float]
    slice_spacing: float
    """Distance between slices along the normal (mm), from the positions when they exist."""
    slice_step: tuple[float, float, float]
    """Vector from one slice position to the next; not parallel to the normal under tilt."""
    origin: tuple[float, float, float]
    warnings: tuple[str, ...] = ()
    planes: tuple[int, ...] | None = None
    """For each plane of the volume, the index of the frame shown there (-1: no data); None
    when the planes are the frames themselves. Set when uneven gaps were resampled."""
    label: str = ""
    """What this volume of a 4-D series is ("TE 92 ms", "b=1500, direction 7"); "" otherwise."""
    grid: int = 1
    """Which grid (orientation and matrix) of its series this stack is on; the volumes of one
    4-D series share it."""

    @property
    def id(self) -> str:
        """Series UID, with '#n' when the series was split into several stacks."""
        return self.series_uid if self.number == 1 else f"{self.series_uid}#{self.number}"

    @property
    def plane(self) -> str:
        return plane_name(self.orientation)

    @property
    def depth(self) -> int:
        """Planes in the volume: the frames, or the resampled grid's planes."""
        return len(self.frames) if self.planes is None else len(self.planes)

    @property
    def rows(self) -> int:
        return self.frames[0].rows

    @property
    def columns(self) -> int:
        return self.frames[0].columns

    def first_dataset(self) -> Dataset:
        """The first frame's file's whole header as pydicom reads it, for header tables and
        identifiers: parsed now for a scanned file; raises its InputFileError if it cannot be."""
        return self.frames[0].file.dataset

    @property
    def header(self) -> HeaderRecord:
        """The first frame's file's header record, for modality, description and the like."""
        return self.frames[0].file.header

    @property
    def modality(self) -> str:
        return str(self.header.Modality or "")

    @property
    def description(self) -> str:
        return str(self.header.SeriesDescription or "")


def build_stacks(
    frames: Iterable[Frame], limits: Limits | None = None, digest: Digest | None = None
) -> tuple[list[Stack], list[Skipped]]:
    """Group frames into stacks; frames that cannot be placed come back as Skipped records.

    A series is split by grid (orientation and matrix), then each grid into the volumes of a
    4-D series where images share positions; stacks are numbered in that order. ``digest``
    (a frame's pixel digest) lets identical images at one position count as duplicates.
    """
    limits = limits or Limits()
    skipped: list[Skipped] = []
    by_series: dict[str, list[Frame]] = defaultdict(list)
    notes: dict[str, str | None] = {}
    for frame in _drop_repeated_instances(frames, skipped):
        uid, note = _series_key(frame)
        by_series[uid].append(frame)
        notes[uid] = note
    stacks: list[Stack] = []
    for uid, members in by_series.items():
        grids = _split_by_grid(members)
        grids.sort(key=len, reverse=True)
        common = [notes[uid]] if notes[uid] else []
        if len(grids) > 1:
            common.append(_split_note(grids))
        number = 0
        for grid_number, grid in enumerate(grids, start=1):
            volumes, note = _volumes(grid, skipped, digest)
            for volume in volumes:
                number += 1
                said = [*common, _this_volume(note, volume.label)] if note else common
                stacks.append(
                    _make_stack(
                        uid, number, grid_number, volume, said, skipped, limits.volume_bytes
                    )
                )
    stacks.sort(key=lambda s: (_series_number(s), s.series_uid, s.number))
    return stacks, skipped


def _series_key(frame: Frame) -> tuple[str, str | None]:
    """The series UID; without one (some exports blank it, keeping it only in file meta that
    does not hold it), an id made from what the files still share, and a note saying so."""
    header = frame.file.header
    uid = str(header.get("SeriesInstanceUID") or "").strip()
    if uid:
        return uid, None
    facts = {keyword: str(header.get(keyword) or "").strip() for keyword in _SERIES_FACTS}
    digest = hashlib.sha256(repr(sorted(facts.items())).encode()).digest()[:16]
    made = f"2.25.{int.from_bytes(digest, 'big')}"
    known = ", ".join(f"{_SERIES_FACTS[k]} {v!r}" for k, v in facts.items() if v)
    text = (
        "no SeriesInstanceUID in these files: grouped by what they share "
        f"({known or 'nothing else either'}); {made} is an id made up here to select them"
    )
    plain = (
        "These files do not say which series they belong to (their series UID is blank), so "
        f"they were grouped by what they have in common ({known or 'nothing else'})."
    )
    return made, Note(text, "no-uid", plain)


_SERIES_FACTS = {
    "StudyInstanceUID": "study",
    "StudyID": "study ID",
    "SeriesNumber": "series number",
    "SeriesDescription": "description",
    "FrameOfReferenceUID": "frame of reference",
    "Modality": "modality",
}
"""What groups images into a series when the SeriesInstanceUID is blank (orientation and
matrix size split it further, as in any series)."""


def _series_number(stack: Stack) -> int:
    try:
        return int(stack.header.SeriesNumber or 0)
    except (TypeError, ValueError):
        return 0


def _drop_repeated_instances(frames: Iterable[Frame], skipped: list[Skipped]) -> list[Frame]:
    """The same SOP instance given twice (a file copied into two folders) counts once."""
    seen: dict[tuple[str, int], str] = {}
    kept = []
    for frame in frames:
        uid = _instance_uid(frame.file.header)
        key = (uid, frame.index)
        if uid and key in seen and seen[key] != frame.file.name:
            if frame.index == 0:
                reason = f"same SOPInstanceUID as {seen[key]} (a duplicate copy); used once"
                skipped.append(Skipped(frame.file.name, reason))
            continue
        seen.setdefault(key, frame.file.name)
        kept.append(frame)
    return kept


def _instance_uid(header: HeaderRecord) -> str:
    """SOPInstanceUID, else the file meta's copy of it (some exports blank the former)."""
    uid = str(header.SOPInstanceUID or "").strip()
    return uid or str(header.MediaStorageSOPInstanceUID or "").strip()


def _grid_key(frame: Frame) -> tuple[int, int, tuple[float, ...]]:
    return (frame.rows, frame.columns, frame.orientation or ASSUMED_ORIENTATION)


def _split_by_grid(frames: list[Frame]) -> list[list[Frame]]:
    """Partition by matrix size and (within a tolerance) orientation: e.g. 3-plane localizers."""
    groups: list[tuple[tuple[int, int, tuple[float, ...]], list[Frame]]] = []
    for frame in frames:
        rows, cols, cosines = _grid_key(frame)
        for (g_rows, g_cols, g_cosines), members in groups:
            close = np.max(np.abs(np.subtract(cosines, g_cosines))) < _COSINE_TOLERANCE
            if (rows, cols) == (g_rows, g_cols) and close:
                members.append(frame)
                break
        else:
            groups.append(((rows, cols, cosines), [frame]))
    return [members for _, members in groups]


def _volumes(
    grid: list[Frame], skipped: list[Skipped], digest: Digest | None
) -> tuple[list[Volume4D], str | None]:
    """The volumes of one grid. Frames without a position cannot be placed among positioned
    ones (skipped, said why); without positions at all, one stack in InstanceNumber order."""
    placed = [f for f in grid if f.position is not None]
    if not (len(placed) >= 2 or (placed and len(grid) == 1)):
        return [Volume4D(tuple(grid), "")], None
    for frame in grid:
        if frame.position is None:
            skipped.append(
                Skipped(
                    frame.name,
                    "no ImagePositionPatient, so it cannot be "
                    "placed among the other slices of its series",
                )
            )
    normal = slice_normal(grid[0].orientation or ASSUMED_ORIENTATION)
    return split_volumes(placed, normal, skipped, digest)


def _this_volume(note: str, label: str) -> Note:
    """The 4-D note, with which volume this stack is."""
    plain = note.plain if isinstance(note, Note) else note
    return Note(f"{note}; this one: {label}", "4d", f"{plain} This one is {label}.")


def _split_note(groups: list[list[Frame]]) -> str:
    parts = ", ".join(
        f"{len(g)} x {g[0].rows}x{g[0].columns} "
        f"{plane_name(g[0].orientation or ASSUMED_ORIENTATION)}"
        for g in groups
    )
    text = f"series split into {len(groups)} stacks that do not share one grid: {parts}"
    plain = (
        f"This series holds {len(groups)} sets of images that cannot be stacked together "
        f"(different orientation or size: {parts}); each is shown on its own."
    )
    return Note(text, "split", plain)


def _make_stack(
    uid: str,
    number: int,
    grid: int,
    volume: Volume4D,
    notes: list[str],
    skipped: list[Skipped],
    budget_bytes: int,
) -> Stack:
    frames = list(volume.frames)
    warnings: list[str] = list(notes)
    first = frames[0]
    orientation = first.orientation or ASSUMED_ORIENTATION
    warnings += _orientation_warnings(first)
    if first.mosaic is not None and first.mosaic.normal_source == "assumed":
        warnings.append(
            Note(
                "Siemens mosaic without a slice normal in its CSA header: slice order along "
                "the normal assumed (it may be reversed)",
                "mosaic",
                "The order of this mosaic's slices is assumed: head and feet may be swapped.",
            )
        )
    spacing = first.pixel_spacing
    if spacing is None:
        spacing = (1.0, 1.0)
        warnings.append(
            Note(
                "no PixelSpacing: 1 mm pixels assumed, distances are not real",
                "pixel-spacing",
                "The files do not give the pixel size: 1 mm is assumed, so sizes and distances "
                "shown are not real.",
            )
        )
    elif any(f.pixel_spacing != first.pixel_spacing for f in frames):
        found = sorted({f.pixel_spacing for f in frames if f.pixel_spacing})
        warnings.append(
            Note(
                f"PixelSpacing differs between images ({found[0]} to {found[-1]}); {spacing} used",
                "pixel-spacing",
                f"Pixel sizes differ between images ({found[0]} to {found[-1]} mm); all are shown "
                f"at {spacing} mm, so some sizes are off.",
            )
        )
    normal = slice_normal(orientation)
    most_planes = max(1, budget_bytes // max(1, 4 * first.rows * first.columns))
    if all(f.position is not None for f in frames):
        ordered, depth, step, planes, more = _order_by_position(frames, normal, most_planes)
    else:
        ordered, depth, step, more = _order_by_instance(frames, normal)
        planes = None
    warnings += more
    warnings += _rescale_warnings(ordered)
    origin = ordered[0].position or (0.0, 0.0, 0.0)
    return Stack(
        series_uid=uid,
        number=number,
        frames=tuple(ordered),
        orientation=orientation,
        pixel_spacing=spacing,
        slice_spacing=depth,
        slice_step=tuple(float(v) for v in step),
        origin=tuple(float(v) for v in origin),
        warnings=tuple(warnings),
        planes=planes,
        label=volume.label,
        grid=grid,
    )


def _orientation_warnings(frame: Frame) -> list[str]:
    if frame.orientation_source == "PatientOrientation":
        return [
            Note(
                "no ImageOrientationPatient: directions taken from PatientOrientation "
                "(approximate)",
                "orientation",
                "The images only roughly say which way they face: direction labels are "
                "approximate.",
            )
        ]
    if frame.orientation is None:
        return [
            Note(
                "no ImageOrientationPatient: shown as if axial; left/right and "
                "front/back labels are not known",
                "orientation",
                "The images do not say which way they face (no orientation), so no direction "
                "labels are shown and the plane names are only nominal.",
            )
        ]
    return []


def _nominal_spacing(frame: Frame) -> float:
    ds = frame.file.header
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = abs(float(ds.get(keyword) or 0))
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return 1.0


def _order_by_instance(
    frames: list[Frame], normal: np.ndarray
) -> tuple[list[Frame], float, np.ndarray, list[str]]:
    ordered = sorted(
        frames,
        key=lambda f: (f.instance_number is None, f.instance_number or 0, f.file.name, f.index),
    )
    depth = _nominal_spacing(frames[0])
    warnings = []
    if len(frames) > 1:
        warnings.append(
            Note(
                f"no ImagePositionPatient: slices ordered by InstanceNumber and "
                f"{depth:g} mm apart (from the header); positions are approximate",
                "order",
                f"The images do not say where they are: they are shown in their numbered "
                f"order, {depth:g} mm apart, so distances across them are approximate.",
            )
        )
    return ordered, depth, normal * depth, warnings


def _order_by_position(
    frames: list[Frame], normal: np.ndarray, most_planes: int
) -> tuple[list[Frame], float, np.ndarray, tuple[int, ...] | None, list[str]]:
    """Sort along the normal (positions are distinct: see repeats.split_volumes) and lay the
    slices on a regular grid, resampled where the gaps between them differ."""
    ordered = sorted(frames, key=lambda f: float(np.dot(f.position, normal)))
    if len(ordered) == 1:
        depth = _nominal_spacing(ordered[0])
        return ordered, depth, normal * depth, None, []
    distances = np.array([np.dot(f.position, normal) for f in ordered])
    grid = slice_grid(distances, [f.thickness for f in ordered], max_planes=most_planes)
    warnings = [grid.warning] if grid.warning else []
    positions = np.array([f.position for f in ordered])
    travel = (positions[-1] - positions[0]) / (distances[-1] - distances[0])
    step = travel * grid.step
    warnings += _tilt_warnings(step, normal, grid.step)
    return ordered, grid.step, step, grid.planes, warnings


def _tilt_warnings(step: np.ndarray, normal: np.ndarray, depth: float) -> list[str]:
    length = float(np.linalg.norm(step))
    angle = float(np.degrees(np.arccos(np.clip(abs(np.dot(step, normal)) / length, 0, 1))))
    if angle < 0.5:
        return []
    return [
        Note(
            f"gantry tilt or sheared stack: positions step {length:.2f} mm along a line "
            f"{angle:.1f} degrees from the slice normal; spacing is reported along the normal "
            f"({depth:.2f} mm), and views show the slices unsheared",
            "tilt",
            f"The scanner was tilted by {angle:.1f}°: each slice is shifted a little against "
            f"the last, so side and front views show the head or body leaning "
            f"(slices {depth:.2f} mm apart).",
        )
    ]


def _rescale_warnings(frames: list[Frame]) -> list[str]:
    slopes = {f.slope for f in frames}
    intercepts = {f.intercept for f in frames}
    if len(slopes) == 1 and len(intercepts) == 1:
        return []
    return [
        Note(
            f"rescale varies across slices (RescaleSlope {min(slopes):g} to {max(slopes):g}, "
            f"RescaleIntercept {min(intercepts):g} to {max(intercepts):g}); applied per slice",
            "rescale",
            "Slices store their values on different scales; each was converted with its own, "
            "so values compare across slices.",
        )
    ]
