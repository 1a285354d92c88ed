"""Budgets checked before any allocation, so one hostile or oversized upload cannot exhaust memory.

Every limit can be raised by the caller (``Limits(volume_bytes=...)``), and every message that
refuses an input names the limit and how to raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one load; the defaults suit a hosted page on a 24 GiB machine."""

    volume_bytes: int = 4 * GIB
    """Largest decoded pixel array of one file or one volume."""
    files: int = 20_000
    """Most inputs (files, archive entries) read in one load."""
    frames: int = 50_000
    """Most images (all frames of all files) in one load: each costs time however small."""
    archive_bytes: int = 8 * GIB
    """Largest total uncompressed size of the entries of one archive."""
    archive_ratio: float = 200.0
    """Highest compression ratio of one archive entry (a zip bomb has thousands)."""
    archive_depth: int = 2
    """How deep archives nested in archives are opened."""

    def describe(self, field: str) -> str:
        """Name a limit the way a message to the user should: its value and how to raise it."""
        value = getattr(self, field)
        shown = bytes_text(value) if field.endswith("bytes") else f"{value:g}"
        return f"the {field.replace('_', ' ')} limit of {shown} (raise it with Limits({field}=...))"


def bytes_text(count: float) -> str:
    """Human-readable size, e.g. ``'1.5 GiB'``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
