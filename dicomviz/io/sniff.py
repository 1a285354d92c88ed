"""Tell DICOM by its first bytes, and say what a file that is not DICOM looks like instead.

``dcmread(force=True)`` takes almost any bytes for a data set, so nothing is parsed before these
bytes say DICOM: the ``DICM`` marker after the preamble, or a bare data set starting with a
plausible group.
"""

from __future__ import annotations

import struct

# Known non-DICOM formats, so the message can say what the file is instead.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\xb3", "an MPEG video"),
)


def looks_like_dicom(data: bytes) -> bool:
    """DICOM with a preamble, or a bare dataset starting with a plausible group (0002 or 0008)."""
    if data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    group_le, elem_le = struct.unpack("<HH", data[:4])
    group_be = struct.unpack(">H", data[:2])[0]
    return (group_le in (0x0002, 0x0008) and elem_le < 0x0100) or group_be == 0x0008


def describe_non_dicom(data: bytes) -> str:
    """Say what a non-DICOM file looks like, for the skipped-file list."""
    if not data:
        return "empty file"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"{what}, not DICOM"
    sample = data[:512]
    if all(32 <= b < 127 or b in b"\r\n\t" for b in sample):
        return "a text file, not DICOM"
    if len(data) < 132:
        return (
            f"not DICOM: only {len(data)} bytes, too short even for the 128-byte preamble "
            "and DICM marker (truncated?)"
        )
    return "not DICOM (no DICM marker and no DICOM header at the start)"
