"""Group frames into series and geometrically consistent stacks, ordered by patient position.

A series is what the scanner called one (SeriesInstanceUID); a stack is what can share one grid:
same orientation and matrix size. Slices are ordered by their position along the slice normal,
never by file name or InstanceNumber, unless no positions exist at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from .errors import Skipped
from .frames import Frame
from .geometry import plane_name, slice_normal
from .reading import Header

ASSUMED_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_COSINE_TOLERANCE = 1e-3
_DUPLICATE_MM = 1e-3


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

    @property
    def id(self) -> str:
        """Series UID, with '#n' when the series was split into several stacks."""
        return self.series_uid if self.number == 1 else f"{self.series_uid}#{self.number}"

    @property
    def plane(self) -> str:
        return plane_name(self.orientation)

    @property
    def rows(self) -> int:
        return self.frames[0].rows

    @property
    def columns(self) -> int:
        return self.frames[0].columns

    @property
    def first(self) -> Dataset:
        """The first frame's file's whole header, as pydicom reads it (for header tables)."""
        return self.frames[0].file.dataset

    @property
    def header(self) -> Header:
        """Header values of the first frame's file, for modality, description and the like."""
        return self.frames[0].file.header

    @property
    def modality(self) -> str:
        return str(self.header.get("Modality", "") or "")

    @property
    def description(self) -> str:
        return str(self.header.get("SeriesDescription", "") or "")


def build_stacks(frames: Iterable[Frame]) -> tuple[list[Stack], list[Skipped]]:
    """Group frames into stacks; frames that cannot be placed come back as Skipped records."""
    skipped: list[Skipped] = []
    by_series: dict[str, list[Frame]] = defaultdict(list)
    for frame in _drop_repeated_instances(frames, skipped):
        uid = str(frame.file.header.get("SeriesInstanceUID", "") or "")
        by_series[uid or f"(no SeriesInstanceUID: {frame.file.name})"].append(frame)
    stacks: list[Stack] = []
    for uid, members in by_series.items():
        groups = _split_by_grid(members)
        groups = [g for group in groups for g in _split_repeated_positions(group)]
        groups.sort(key=len, reverse=True)
        note = _split_note(groups) if len(groups) > 1 else None
        for number, group in enumerate(groups, start=1):
            stacks.append(_make_stack(uid, number, group, note, skipped))
    stacks.sort(key=lambda s: (_series_number(s), s.series_uid, s.number))
    return stacks, skipped


def _series_number(stack: Stack) -> int:
    try:
        return int(stack.header.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        return 0


def _drop_repeated_instances(frames: Iterable[Frame], skipped: list[Skipped]) -> list[Frame]:
    """The same SOP instance given twice (a file copied into two folders) counts once."""
    seen: dict[tuple[str, int], str] = {}
    kept = []
    for frame in frames:
        uid = str(frame.file.header.get("SOPInstanceUID", "") or "")
        key = (uid, frame.index)
        if uid and key in seen and seen[key] != frame.file.name:
            if frame.index == 0:
                reason = f"same SOPInstanceUID as {seen[key]} (a duplicate copy); used once"
                skipped.append(Skipped(frame.file.name, reason))
            continue
        seen.setdefault(key, frame.file.name)
        kept.append(frame)
    return kept


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


def _split_repeated_positions(frames: list[Frame]) -> list[list[Frame]]:
    """Several images at each position (echoes, phases) become one stack each when an
    attribute (StackID, temporal position, echo number) tells them apart."""
    if not _has_duplicate_positions(frames):
        return [frames]
    by_key: dict[tuple, list[Frame]] = defaultdict(list)
    for frame in frames:
        by_key[frame.stack_key].append(frame)
    parts = list(by_key.values())
    if len(parts) > 1 and not any(_has_duplicate_positions(p) for p in parts):
        return parts
    return [frames]


def _has_duplicate_positions(frames: list[Frame]) -> bool:
    positions = [f.position for f in frames if f.position is not None]
    rounded = {tuple(np.round(p, 3)) for p in positions}
    return len(rounded) < len(positions)


def _split_note(groups: list[list[Frame]]) -> str:
    parts = ", ".join(
        f"{len(g)} x {g[0].rows}x{g[0].columns} "
        f"{plane_name(g[0].orientation or ASSUMED_ORIENTATION)}"
        for g in groups
    )
    return f"series split into {len(groups)} stacks that do not share one grid: {parts}"


def _make_stack(
    uid: str, number: int, frames: list[Frame], note: str | None, skipped: list[Skipped]
) -> Stack:
    warnings: list[str] = [note] if note else []
    first = frames[0]
    orientation = first.orientation or ASSUMED_ORIENTATION
    warnings += _orientation_warnings(first)
    spacing = first.pixel_spacing
    if spacing is None:
        spacing = (1.0, 1.0)
        warnings.append("no PixelSpacing: 1 mm pixels assumed, distances are not real")
    elif any(f.pixel_spacing != first.pixel_spacing for f in frames):
        found = sorted({f.pixel_spacing for f in frames if f.pixel_spacing})
        warnings.append(
            f"PixelSpacing differs between images ({found[0]} to {found[-1]}); {spacing} used"
        )
    normal = slice_normal(orientation)
    placed = [f for f in frames if f.position is not None]
    if len(placed) >= 2 or (placed and len(frames) == 1):
        for frame in frames:
            if frame.position is None:
                skipped.append(
                    Skipped(
                        frame.name,
                        "no ImagePositionPatient, so it cannot be "
                        "placed among the other slices of its series",
                    )
                )
        ordered, depth, step, more = _order_by_position(placed, normal, skipped)
    else:
        ordered, depth, step, more = _order_by_instance(frames, normal)
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
        slice_step=tuple(float(v) for v in step),  # type: ignore[arg-type]
        origin=tuple(float(v) for v in origin),  # type: ignore[arg-type]
        warnings=tuple(warnings),
    )


def _orientation_warnings(frame: Frame) -> list[str]:
    if frame.orientation_source == "PatientOrientation":
        return [
            "no ImageOrientationPatient: directions taken from PatientOrientation (approximate)"
        ]
    if frame.orientation is None:
        return [
            "no ImageOrientationPatient: shown as if axial; left/right and "
            "front/back labels are not known"
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
            f"no ImagePositionPatient: slices ordered by InstanceNumber and "
            f"{depth:g} mm apart (from the header); positions are approximate"
        )
    return ordered, depth, normal * depth, warnings


def _order_by_position(
    frames: list[Frame], normal: np.ndarray, skipped: list[Skipped]
) -> tuple[list[Frame], float, np.ndarray, list[str]]:
    """Sort along the normal, drop repeated positions, and measure the spacing."""
    ordered = sorted(
        frames,
        key=lambda f: (
            float(np.dot(f.position, normal)),
            f.instance_number or 0,
            f.file.name,
            f.index,
        ),
    )
    ordered, warnings = _drop_duplicate_positions(ordered, normal, skipped)
    if len(ordered) == 1:
        depth = _nominal_spacing(ordered[0])
        return ordered, depth, normal * depth, warnings
    distances = np.array([np.dot(f.position, normal) for f in ordered])
    steps = np.diff(distances)
    depth = float(np.median(steps))
    warnings += _spacing_warnings(steps, distances, depth)
    positions = np.array([f.position for f in ordered])
    travel = (positions[-1] - positions[0]) / (distances[-1] - distances[0])
    step = travel * depth
    warnings += _tilt_warnings(step, normal, depth)
    return ordered, depth, step, warnings


def _drop_duplicate_positions(
    ordered: list[Frame], normal: np.ndarray, skipped: list[Skipped]
) -> tuple[list[Frame], list[str]]:
    kept: list[Frame] = [ordered[0]]
    dropped: list[tuple[Frame, Frame]] = []
    for frame in ordered[1:]:
        if np.linalg.norm(np.subtract(frame.position, kept[-1].position)) < _DUPLICATE_MM:
            dropped.append((frame, kept[-1]))
        else:
            kept.append(frame)
    for frame, twin in dropped:
        skipped.append(
            Skipped(
                frame.name,
                f"same position as {twin.name} (duplicate slice); the first one was kept",
            )
        )
    if not dropped:
        return kept, []
    frame, twin = dropped[0]
    at = float(np.dot(twin.position, normal))
    return kept, [
        f"{len(dropped)} duplicate slice positions (e.g. {frame.name} and {twin.name} "
        f"both at {at:.2f} mm along the normal); the first of each was kept"
    ]


def _spacing_warnings(steps: np.ndarray, distances: np.ndarray, depth: float) -> list[str]:
    warnings = []
    gaps = np.flatnonzero(steps > 1.5 * depth)
    for k in gaps[:5]:
        warnings.append(
            f"missing slices? gap of {steps[k]:.2f} mm between slices {k} and {k + 1} "
            f"(at {distances[k]:.2f} and {distances[k + 1]:.2f} mm) where the spacing is "
            f"{depth:.2f} mm; the volume shows the gap as one step"
        )
    if len(gaps) > 5:
        warnings.append(f"... and {len(gaps) - 5} more gaps")
    regular = np.delete(steps, gaps)
    if len(regular) and (regular.max() - regular.min()) > 0.01 * depth + 1e-3:
        warnings.append(
            f"uneven slice spacing: steps from {regular.min():.3f} to {regular.max():.3f} mm; "
            f"the volume uses the median, {depth:.3f} mm"
        )
    return warnings


def _tilt_warnings(step: np.ndarray, normal: np.ndarray, depth: float) -> list[str]:
    length = float(np.linalg.norm(step))
    angle = float(np.degrees(np.arccos(np.clip(abs(np.dot(step, normal)) / length, 0, 1))))
    if angle < 0.5:
        return []
    return [
        f"gantry tilt or sheared stack: positions step {length:.2f} mm along a line "
        f"{angle:.1f} degrees from the slice normal; spacing is reported along the normal "
        f"({depth:.2f} mm), and views show the slices unsheared"
    ]


def _rescale_warnings(frames: list[Frame]) -> list[str]:
    slopes = {f.slope for f in frames}
    intercepts = {f.intercept for f in frames}
    if len(slopes) == 1 and len(intercepts) == 1:
        return []
    return [
        f"rescale varies across slices (RescaleSlope {min(slopes):g} to {max(slopes):g}, "
        f"RescaleIntercept {min(intercepts):g} to {max(intercepts):g}); applied per slice"
    ]
