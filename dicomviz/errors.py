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


@dataclass(frozen=True)
class Skipped:
    """An input that did not become part of an image series, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"
