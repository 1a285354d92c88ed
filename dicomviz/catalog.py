"""What a study holds, as a person picks from it: image sets (one grid of one series), each one
volume or the volumes of a 4-D series, told apart by what they are ("TE 92 ms").

Plain functions on a Study, shared by the page's pickers and tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from .loading import Study
from .series import Stack


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
