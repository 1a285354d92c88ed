"""Turn whatever the user handed over (paths, folders, zips, uploaded bytes) into named byte blobs.

Nothing here knows DICOM beyond its magic bytes: DICOM is told by content, never by extension,
since real exports often have none. Archives are read entry by entry into memory, never
extracted to disk, so names like ``../../etc/passwd`` or symlink entries cannot escape.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dicomviz.errors import Skipped, describe
from dicomviz.limits import Limits, bytes_text

InputItem = str | os.PathLike[str] | tuple[str, bytes]

_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
BOMB_MIN_BYTES = 8 * 1024**2
"""Entries (and archives) smaller than this expanded are not judged by compression ratio."""
HEAD_BYTES = 32 * 1024
"""How much of a file on disk is read up front: scanners' CT and MR headers (private blocks
included) fit, and the pixel data is then read straight into the volume instead of into a copy
of the whole file. A longer header makes the reader read the whole file."""
WHOLE_BELOW = 2 * HEAD_BYTES
"""Files on disk up to this size are read whole at once (one read costs less than two)."""


@dataclass(frozen=True, eq=False)
class InputFile:
    """One candidate file: a display name and its bytes.

    In-memory inputs (uploads, archive entries) hold all their bytes in ``head``. A large file
    on disk holds only its first bytes there, with ``path`` and ``size`` to read the rest on
    demand: a volume's pixels are then read once, into the volume.
    """

    name: str
    head: bytes = field(repr=False)
    path: str | None = None
    size: int = -1
    """Size of the whole file; -1 means ``len(head)``."""

    @property
    def complete(self) -> bool:
        """Whether ``head`` is the whole file."""
        return self.size < 0 or len(self.head) >= self.size

    @property
    def length(self) -> int:
        return len(self.head) if self.size < 0 else self.size

    @property
    def in_memory(self) -> bool:
        """Whether all the bytes are at hand (given whole, or read whole already)."""
        return self.complete or self.path is None or "data" in self.__dict__

    @cached_property
    def data(self) -> bytes:
        """All the bytes; a file on disk is read (once) on first use."""
        if self.complete or self.path is None:
            return self.head
        with open(self.path, "rb") as handle:
            return handle.read()

    def without_head(self) -> InputFile:
        """The same file on disk, holding none of its bytes (once its header has been read)."""
        if self.complete or self.path is None:
            return self
        return InputFile(self.name, b"", self.path, self.size)

    def read_into(self, offset: int, target: memoryview) -> int:
        """Copy bytes from ``offset`` into ``target``; returns how many there were."""
        if self.in_memory:
            chunk = memoryview(self.data)[offset : offset + len(target)]
            target[: len(chunk)] = chunk
            return len(chunk)
        with open(self.path, "rb", buffering=0) as handle:
            handle.seek(offset)
            done = 0
            while done < len(target):
                got = handle.readinto(target[done:])
                if not got:
                    break
                done += got
            return done


@dataclass
class Gathered:
    """The files to look at, plus every input already known to be unusable."""

    files: list[InputFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def content_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 of names and bytes: the key of an upload's cached study, the same for the same
    files (so one user's upload is never served to another who did not send the same bytes)."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode("utf-8", "replace") + b"\0")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


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


def gather(
    items: Iterable[InputItem] | str | os.PathLike[str], limits: Limits | None = None
) -> Gathered:
    """Collect every file below the given items, recursing into folders and zip archives.

    Folder and archive members come in sorted name order; the order carries no meaning, since
    slices are later ordered by their position in the patient.
    """
    limits = limits or Limits()
    out = Gathered()
    if isinstance(items, str | os.PathLike):
        # One folder or file, not the characters of its name ('/' would walk the whole disk).
        items = [items]
    for item in items:
        if isinstance(item, tuple):
            name, data = item
            _add_blob(out, display_name(name), data, limits, depth=0)
        else:
            _add_path(out, Path(item), limits)
        if len(out.files) > limits.files:
            extra = out.files[limits.files :]
            del out.files[limits.files :]
            out.skipped.extend(Skipped(f.name, _files_beyond(limits)) for f in extra)
    return out


def _files_beyond(limits: Limits) -> str:
    return f"not read: more files than {limits.describe('files')}"


def _add_path(out: Gathered, path: Path, limits: Limits) -> None:
    name = display_name(str(path))
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        out.skipped.append(Skipped(name, f"cannot be opened ({exc.strerror or exc})"))
        return
    if stat.S_ISDIR(mode):
        for sub in _walk(path):
            if len(out.files) > limits.files:  # a folder far too big: stop reading it
                out.skipped.append(Skipped(name, _files_beyond(limits)))
                return
            _add_path(out, sub, limits)
        return
    if not stat.S_ISREG(mode):
        out.skipped.append(Skipped(name, "not a regular file"))
        return
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.volume_bytes + limits.archive_bytes:
                out.skipped.append(Skipped(name, "larger than " + limits.describe("volume_bytes")))
                return
            head = handle.read(size if size <= WHOLE_BELOW else HEAD_BYTES)
            if len(head) < size and is_zip(head):
                head += handle.read()  # archives are read whole
    except OSError as exc:
        out.skipped.append(Skipped(name, f"cannot be read ({exc.strerror or exc})"))
        return
    if len(head) >= size:
        _add_blob(out, name, head, limits, depth=0)
    elif not _is_junk(out, name):
        out.files.append(InputFile(name, head, str(path), size))


def _walk(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        yield Path(entry.path)


def _is_junk(out: Gathered, name: str) -> bool:
    """Operating-system metadata files (listed as skipped, with the reason)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in _JUNK_NAMES or base.startswith("._") or "__MACOSX/" in name:
        out.skipped.append(Skipped(name, "operating-system metadata, not an image"))
        return True
    return False


def _add_blob(out: Gathered, name: str, data: bytes, limits: Limits, depth: int) -> None:
    if _is_junk(out, name):
        return
    if is_zip(data):
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
        out.skipped.append(Skipped(name, f"damaged zip archive ({describe(exc)})"))
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
        out.skipped.append(Skipped(name, f"cannot be read from the archive ({describe(exc)})"))
        return
    if len(data) > member.file_size:
        out.skipped.append(Skipped(name, "archive entry is larger than its header declares"))
        return
    _add_blob(out, name, data, limits, depth + 1)
