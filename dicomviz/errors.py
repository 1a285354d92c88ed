"""One small family of errors and the record of a file that was left out.

Every error a user can cause carries a sentence a non-programmer understands; where one file is
at fault, its name comes first. Each class also subclasses the builtin it refines, so callers that
already catch ``ValueError`` keep working.
"""

from __future__ import annotations

from dataclasses import dataclass


class DicomvizError(Exception):
    """Base of every error dicomviz raises on purpose."""


class InputFileError(DicomvizError, ValueError):
    """One input cannot be used; ``name`` says which, ``reason`` says why in plain words."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class BudgetError(InputFileError):
    """An input would need more memory, entries or bytes than the configured limit allows."""


class UsageError(DicomvizError, ValueError):
    """A request the library cannot honour: unknown plane, series, slab out of range, ..."""


def describe(exc: BaseException, limit: int = 160, *, every_line: bool = False) -> str:
    """One line to quote from a library's exception in a message about a file: the first line
    of what it says (parsers append context on further lines), at most ``limit`` characters,
    or its type's name when it says nothing. ``every_line`` joins all its lines instead
    (pydicom lists each decoder plugin's failure on a line of its own)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if every_line:
        return "; ".join(lines)[:limit] or type(exc).__name__
    return lines[0][:limit] if lines else type(exc).__name__


@dataclass(frozen=True)
class Skipped:
    """An input that did not become part of an image series, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"
