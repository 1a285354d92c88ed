"""The whole front half of the chain: inputs -> DICOM headers -> frames -> stacks.

This is the one place where a broad exception is caught: each file is read inside its own
guard, so one broken or hostile file becomes a Skipped record and the rest still load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dicomviz.errors import BudgetError, InputFileError, Skipped, describe
from dicomviz.io.header import number_of_frames
from dicomviz.io.inputs import InputItem, gather
from dicomviz.io.reading import DicomFile, read_dicom
from dicomviz.limits import Limits
from dicomviz.pixels.decode import frame_digest
from dicomviz.series.frames import Frame, frames_of
from dicomviz.series.stacks import Stack, build_stacks

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Study:
    """Everything found in one load: stacks to show and every file left out, with reasons."""

    stacks: tuple[Stack, ...]
    skipped: tuple[Skipped, ...]
    files_read: int
    """Inputs looked at (files and archive entries), whether used or skipped."""

    def largest(self) -> Stack | None:
        """The stack with the most images: what a user most likely wants to see first."""
        return max(self.stacks, key=lambda s: len(s.frames), default=None)

    def find(self, stack_id: str) -> Stack | None:
        """A stack by its id ('UID' or 'UID#n'); a bare UID of a split series gives its largest
        stack."""
        for stack in self.stacks:
            if stack.id == stack_id:
                return stack
        matching = [s for s in self.stacks if s.series_uid == stack_id]
        return max(matching, key=lambda s: len(s.frames), default=None)


def load(
    items: Iterable[InputItem] | str | os.PathLike[str],
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> Study:
    """Read every input (paths, folders, zips, ``(name, bytes)`` pairs; or one path) into
    stacks."""
    limits = limits or Limits()
    gathered = gather(items, limits)
    skipped = list(gathered.skipped)
    frames: list[Frame] = []
    total = len(gathered.files)
    for n, source in enumerate(gathered.files, start=1):
        try:
            dicom = read_dicom(source, limits)
            _check_frame_budget(dicom, len(frames), limits)
            file_frames = frames_of(dicom)
        except InputFileError as exc:
            skipped.append(Skipped(exc.name, exc.reason))
            continue
        except RecursionError:
            skipped.append(Skipped(source.name, "sequences nested too deeply to read"))
            continue
        except Exception as exc:
            skipped.append(Skipped(source.name, plain_reason(exc)))
            continue
        except BaseException as exc:  # a Rust decoder's PanicException derives from this
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            skipped.append(Skipped(source.name, "the reader crashed on this file"))
            continue
        frames.extend(file_frames)
        if progress and (n % 16 == 0 or n == total):
            progress(n / max(total, 1), f"read {n} of {total} files")
    stacks, unplaced = build_stacks(frames, limits, frame_digest)
    skipped.extend(unplaced)
    files_read = total + len(gathered.skipped)
    return Study(tuple(stacks), tuple(skipped), files_read)


def _check_frame_budget(dicom: DicomFile, so_far: int, limits: Limits) -> None:
    """Grouping and decoding take time per frame, however few bytes each holds: a 2 MB file
    of a million 1 x 1 frames would pass every byte budget."""
    count = number_of_frames(dicom.header)
    if so_far + count > limits.frames:
        raise BudgetError(
            dicom.name,
            f"not read: its {count} images would bring this load past {limits.describe('frames')}",
        )


def plain_reason(exc: BaseException) -> str:
    """A sentence for the skipped list from a parser's exception."""
    text = describe(exc) if str(exc).strip() else ""
    if isinstance(exc, EOFError) or "end of file" in text.lower() or "truncat" in text.lower():
        return "the file ends early (truncated)" + (f": {text}" if text else "")
    if isinstance(exc, MemoryError):
        return "too large to read into memory"
    return (
        f"could not be read as DICOM ({type(exc).__name__}: {text})"
        if text
        else (f"could not be read as DICOM ({type(exc).__name__})")
    )
