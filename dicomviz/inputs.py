"""Turn whatever the user handed over (paths, folders, zips, uploaded bytes) into named byte blobs.

Nothing here knows DICOM beyond its magic bytes: DICOM is told by content, never by extension,
since real exports often have none. Archives are read entry by entry into memory, never
extracted to disk, so names like ``../../etc/passwd`` or symlink entries cannot escape.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Skipped
from .limits import Limits, bytes_text

InputItem = str | os.PathLike[str] | tuple[str, bytes]

_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
BOMB_MIN_BYTES = 8 * 1024**2
"""Entries (and archives) smaller than this expanded are not judged by compression ratio."""


@dataclass(frozen=True)
class InputFile:
    """One candidate file: a display name and its bytes."""

    name: str
    data: bytes = field(repr=False)


@dataclass
class Gathered:
    """The files to look at, plus every input already known to be unusable."""

    files: list[InputFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def display_name(name: str | bytes) -> str:
    """A printable name even when the file system gave bytes that are not valid UTF-8."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "replace")
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def is_zip(data: bytes) -> bool:
    """A zip archive, told by its local-header or empty-archive magic (a DICOM preamble may
    hold anything, so a file with ``DICM`` at byte 128 is never taken for a zip)."""
    if data[128:132] == b"DICM":
        return False
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def gather(items: Iterable[InputItem], limits: Limits | None = None) -> Gathered:
    """Collect every file below the given items, recursing into folders and zip archives.

    Folder and archive members come in sorted name order; the order carries no meaning, since
    slices are later ordered by their position in the patient.
    """
    limits = limits or Limits()
    out = Gathered()
    for item in items:
        if isinstance(item, tuple):
            name, data = item
            _add_blob(out, display_name(name), data, limits, depth=0)
        else:
            _add_path(out, Path(item), limits)
        if len(out.files) > limits.files:
            extra = out.files[limits.files :]
            del out.files[limits.files :]
            reason = f"not read: more files than {limits.describe('files')}"
            out.skipped.extend(Skipped(f.name, reason) for f in extra)
    return out


def _add_path(out: Gathered, path: Path, limits: Limits) -> None:
    name = display_name(str(path))
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        out.skipped.append(Skipped(name, f"cannot be opened ({exc.strerror or exc})"))
        return
    if stat.S_ISDIR(mode):
        for sub in _walk(path):
            _add_path(out, sub, limits)
        return
    if not stat.S_ISREG(mode):
        out.skipped.append(Skipped(name, "not a regular file"))
        return
    if path.stat().st_size > limits.volume_bytes + limits.archive_bytes:
        out.skipped.append(Skipped(name, "larger than " + limits.describe("volume_bytes")))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        out.skipped.append(Skipped(name, f"cannot be read ({exc.strerror or exc})"))
        return
    _add_blob(out, name, data, limits, depth=0)


def _walk(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        yield Path(entry.path)


def _add_blob(out: Gathered, name: str, data: bytes, limits: Limits, depth: int) -> None:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in _JUNK_NAMES or base.startswith("._") or "__MACOSX/" in name:
        out.skipped.append(Skipped(name, "operating-system metadata, not an image"))
    elif is_zip(data):
        _add_zip(out, name, data, limits, depth)
    else:
        out.files.append(InputFile(name, data))


def _add_zip(out: Gathered, name: str, data: bytes, limits: Limits, depth: int) -> None:
    if depth >= limits.archive_depth:
        reason = f"archive nested too deep ({limits.describe('archive_depth')})"
        out.skipped.append(Skipped(name, reason))
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except UnicodeDecodeError:
        # zipfile decodes every name up front and gives up on the whole archive.
        reason = "zip archive names an entry in bytes that are not valid UTF-8, though it says so"
        out.skipped.append(Skipped(name, f"{reason}; it cannot be listed"))
        return
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        out.skipped.append(Skipped(name, f"damaged zip archive ({exc})"))
        return
    problem = _zip_budget_problem(members, limits)
    if problem:
        out.skipped.append(Skipped(name, problem))
        return
    if not any(not m.is_dir() for m in members):
        out.skipped.append(Skipped(name, "empty zip archive"))
        return
    for member in sorted(members, key=lambda m: m.filename):
        _add_zip_member(out, name, archive, member, limits, depth)


def _zip_budget_problem(members: list[zipfile.ZipInfo], limits: Limits) -> str | None:
    """Check the central directory before reading a byte of content (zip bombs, huge listings)."""
    if len(members) > limits.files:
        return f"zip archive lists {len(members)} entries, over {limits.describe('files')}"
    total = sum(m.file_size for m in members)
    if total > limits.archive_bytes:
        return (
            f"zip archive would expand to {bytes_text(total)}, "
            f"over {limits.describe('archive_bytes')}"
        )
    packed = sum(m.compress_size for m in members)
    if total > BOMB_MIN_BYTES and total > limits.archive_ratio * max(packed, 1):
        return (
            f"zip archive is compressed {total / max(packed, 1):.0f}:1 overall (a zip bomb?), "
            f"over {limits.describe('archive_ratio')}"
        )
    return None


def _entry_bomb_problem(member: zipfile.ZipInfo, limits: Limits) -> str | None:
    """One suspicious entry is skipped alone: real exports hold small files that compress
    200:1 (synthetic test images, blank frames), so only large ones are judged by ratio."""
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > BOMB_MIN_BYTES and ratio > limits.archive_ratio:
        return (
            f"archive entry is compressed {ratio:.0f}:1 (a zip bomb?), "
            f"over {limits.describe('archive_ratio')}"
        )
    return None


def _add_zip_member(
    out: Gathered,
    archive_name: str,
    archive: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    limits: Limits,
    depth: int,
) -> None:
    if member.is_dir():
        return
    name = f"{archive_name}/{display_name(member.filename)}"
    if stat.S_ISLNK(member.external_attr >> 16):
        out.skipped.append(Skipped(name, "symbolic link inside the archive, not followed"))
        return
    bomb = _entry_bomb_problem(member, limits)
    if bomb:
        out.skipped.append(Skipped(name, bomb))
        return
    try:
        with archive.open(member) as handle:
            # Read one byte past the declared size: a lying header cannot inflate further.
            data = handle.read(member.file_size + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        out.skipped.append(Skipped(name, f"cannot be read from the archive ({exc})"))
        return
    if len(data) > member.file_size:
        out.skipped.append(Skipped(name, "archive entry is larger than its header declares"))
        return
    _add_blob(out, name, data, limits, depth + 1)
