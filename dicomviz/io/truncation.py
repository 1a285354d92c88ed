"""How a DICOM file was cut short, judged from what pydicom managed to read.

pydicom (with ``force=True``) reads a truncated file without complaint: it keeps a last value
shorter than its declared length, or silently drops an undefined-length value that never meets
its delimiter. A file cut short then looks like an image "without pixel data" or "without a SOP
class". These functions find the cut so that the reason given is the true one.
"""

from __future__ import annotations

import io
import struct

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from dicomviz.io.tags import UNDEFINED_LENGTH, element_name


def truncation(ds: Dataset, data: bytes) -> str | None:
    """Why ``data`` looks cut short, judged from what pydicom managed to read, or None.

    pydicom (with ``force=True``) stops quietly at the end of the bytes: it keeps a last value
    shorter than its declared length, or drops an undefined-length value that never meets its
    delimiter (at the top level, everything read so far goes with it). Only the end of what
    was read is checked, since truncation can only happen there.
    """
    meta_problem = meta_truncation(data)
    if meta_problem:
        return meta_problem
    meta_end = _meta_end(data)
    if ds.file_meta.get("TransferSyntaxUID", "") == DeflatedExplicitVRLittleEndian:
        return None  # positions refer to the inflated stream, not to `data`
    if len(ds):
        last = next(reversed(ds.values()))  # as read: raw unless already converted
        if not isinstance(last, RawDataElement) or last.length == UNDEFINED_LENGTH:
            return None  # a parsed sequence, or an encapsulated value that met its delimiter
        after = element_name(last.tag)
        present = len(last.value) if last.value is not None else len(data) - last.value_tell
        if present < last.length:
            return (
                f"the file is truncated: it ends inside {after} "
                f"({max(present, 0)} of {last.length} bytes present)"
            )
        end = last.value_tell + last.length
    else:
        end, after = meta_end or 0, "the file meta information"
        if len(data) - end >= 8 and _header_reads_before_pixels(data):
            return (
                "the file is truncated inside its compressed pixel data "
                "(the end-of-data marker is missing)"
            )
    left = len(data) - end
    if 0 < left < 8:
        return f"the file is truncated: it ends inside the tag of the element after {after}"
    if left >= 8:
        return (
            f"the file is truncated or damaged after {after}: the last {left} bytes cannot "
            "be read (an element that never ends?)"
        )
    return None


def _header_reads_before_pixels(data: bytes) -> bool:
    """Whether the elements before the pixel data read on their own, so the unreadable end is
    the pixel data (pydicom keeps nothing when a top-level value never meets its delimiter)."""
    try:
        head = pydicom.dcmread(
            io.BytesIO(data), force=True, defer_size=4096, stop_before_pixels=True
        )
    except Exception:  # only refines a message about a file already known to be broken
        return False
    return len(head) > 0


def meta_truncation(data: bytes) -> str | None:
    """Why the file meta information is incomplete, or None; judged from the bytes alone, so it
    also explains a parse that failed outright."""
    meta_end = _meta_end(data)
    if meta_end is None or len(data) >= meta_end:
        return None
    return (
        f"the file is truncated: it ends inside its file meta information "
        f"({len(data)} of at least {meta_end} bytes)"
    )


def _meta_end(data: bytes) -> int | None:
    """Where the file meta information ends, from its (0002,0000) group length, if present."""
    start = 132 if data[128:132] == b"DICM" else 0
    if start and len(data) < start + 12:
        return start + 12
    if data[start : start + 6] != b"\x02\x00\x00\x00UL":
        return None
    (length,) = struct.unpack_from("<I", data, start + 8)
    return start + 12 + length
