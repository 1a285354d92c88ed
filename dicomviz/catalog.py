"""What an upload holds, as a person picks from it: studies, their series, a series' parts (one
grid each, e.g. the three planes of a localizer), and a part's volumes (one, or those of a 4-D
series, told apart by what they are: "TE 92 ms").

Plain functions on a Study, shared by the page's pickers and tested without a browser. Labels
never show a patient identifier: descriptions are cleaned with the identifiers given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dicomviz.loading import Study
from dicomviz.series.stacks import Stack
from dicomviz.tables.privacy import clean_text


@dataclass(frozen=True)
class ImageSet:
    """The stacks of one series on one grid: a single volume, or the volumes of a 4-D series
    (echoes, time points, diffusion directions...) in acquisition order."""

    stacks: tuple[Stack, ...]

    @property
    def first(self) -> Stack:
        return self.stacks[0]

    @property
    def key(self) -> str:
        """Stable id of the set: its first stack's id."""
        return self.first.id

    @property
    def is_4d(self) -> bool:
        return len(self.stacks) > 1

    def find(self, stack_id: str) -> Stack | None:
        return next((s for s in self.stacks if s.id == stack_id), None)


def image_sets(study: Study) -> list[ImageSet]:
    """The study's image sets, in the study's stack order."""
    sets: dict[tuple[str, int], list[Stack]] = {}
    for stack in study.stacks:
        sets.setdefault((stack.series_uid, stack.grid), []).append(stack)
    return [ImageSet(tuple(stacks)) for stacks in sets.values()]


def set_of(sets: list[ImageSet], stack: Stack) -> ImageSet:
    """The set holding ``stack``."""
    return next(s for s in sets if any(member.id == stack.id for member in s.stacks))


def set_label(image_set: ImageSet) -> str:
    """One line for a picker: what the set is, without any patient identifier."""
    stack = image_set.first
    parts = [stack.modality or "no modality", stack.description or "no description"]
    images = sum(len(s.frames) for s in image_set.stacks)
    if image_set.is_4d:
        parts.append(f"{len(image_set.stacks)} volumes of {len(stack.frames)} images")
    else:
        parts.append(f"{images} image{'s' if images != 1 else ''}")
    parts.append(stack.plane)
    return " · ".join(parts)


@dataclass(frozen=True)
class SeriesEntry:
    """One series as the scanner made it: its parts (grids), largest first."""

    uid: str
    parts: tuple[ImageSet, ...]

    @property
    def first(self) -> Stack:
        return self.parts[0].first

    @property
    def stacks(self) -> int:
        return sum(len(part.stacks) for part in self.parts)


@dataclass(frozen=True)
class StudyEntry:
    """One study (StudyInstanceUID) and its series, in series-number order."""

    key: str
    series: tuple[SeriesEntry, ...]

    @property
    def first(self) -> Stack:
        return self.series[0].first


def browse(study: Study) -> list[StudyEntry]:
    """The upload as studies of series of parts of volumes, in the study's stack order."""
    studies: dict[str, dict[str, list[ImageSet]]] = {}
    for image_set in image_sets(study):
        key = _study_key(image_set.first)
        studies.setdefault(key, {}).setdefault(image_set.first.series_uid, []).append(image_set)
    return [
        StudyEntry(key, tuple(SeriesEntry(uid, tuple(parts)) for uid, parts in series.items()))
        for key, series in studies.items()
    ]


def counts(study: Study) -> tuple[int, int]:
    """(series, stacks): a split series or a 4-D one is one series of several stacks."""
    return len({s.series_uid for s in study.stacks}), len(study.stacks)


def study_label(entry: StudyEntry, identifiers: Iterable[str] = ()) -> str:
    """'2024-01-01 12:00 · CT ABDOMEN · 3 series'."""
    header = entry.first.header
    when = _when(header.get("StudyDate"), header.get("StudyTime"))
    description = clean_text(str(header.get("StudyDescription") or ""), identifiers)
    parts = [when or "no date", description or "no study description"]
    count = len(entry.series)
    parts.append(f"{count} series")
    return " · ".join(parts)


def series_label(entry: SeriesEntry, identifiers: Iterable[str] = ()) -> str:
    """'#3 · CT Body 3.0 · CT · 11:34 · 20 images · axial'."""
    stack = entry.first
    header = stack.header
    number = header.get("SeriesNumber")
    parts = [f"#{number}"] if number not in (None, "") else []
    description = clean_text(stack.description, identifiers)
    parts.append(description or "no description")
    parts.append(stack.modality or "no modality")
    time = _when(None, header.get("SeriesTime"))
    if time:
        parts.append(time)
    images = sum(len(s.frames) for part in entry.parts for s in part.stacks)
    parts.append(f"{images} image{'s' if images != 1 else ''}")
    if len(entry.parts) > 1:
        parts.append(f"{len(entry.parts)} parts")
    elif entry.parts[0].is_4d:
        parts.append(f"{len(entry.parts[0].stacks)} volumes")
    parts.append(_plane(stack))
    return " · ".join(parts)


def part_label(image_set: ImageSet) -> str:
    """'7 images · coronal · 256 x 256'."""
    stack = image_set.first
    images = sum(len(s.frames) for s in image_set.stacks)
    size = f"{stack.rows} x {stack.columns}"
    return f"{images} image{'s' if images != 1 else ''} · {_plane(stack)} · {size}"


def _plane(stack: Stack) -> str:
    return stack.plane if stack.frames[0].orientation is not None else "orientation unknown"


def _study_key(stack: Stack) -> str:
    header = stack.header
    uid = str(header.get("StudyInstanceUID") or "").strip()
    if uid:
        return uid
    return f"{header.get('StudyID') or ''}|{header.get('StudyDate') or ''}"


def _when(date: object, time: object) -> str:
    """DICOM DA/TM as '2024-01-01 12:34' (what is present of it)."""
    text = []
    d = str(date or "").strip()
    if len(d) >= 8 and d[:8].isdigit():
        text.append(f"{d[:4]}-{d[4:6]}-{d[6:8]}")
    t = str(time or "").strip()
    if len(t) >= 4 and t[:4].isdigit():
        text.append(f"{t[:2]}:{t[2:4]}")
    return " ".join(text)
