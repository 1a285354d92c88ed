"""Where a file's pixel data sits in its bytes, and whether it is all there.

Uncompressed pixel data is located by offset and length so that pixels can later be copied
straight from the input, and so that short or truncated data is caught before any array is
allocated; compressed data must hold a fragment for every frame it declares.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomviz.errors import InputFileError
from dicomviz.io.checks import check_decoder
from dicomviz.io.header import HeaderRecord, number_of_frames
from dicomviz.io.tags import ITEM, PIXEL_DATA, UNDEFINED_LENGTH, as_read

_ITEM_AS_READ = as_read(ITEM)


def native_pixel_span(
    name: str, ds: Dataset, header: HeaderRecord, data: bytes
) -> tuple[int | None, int | None]:
    """Offset and length in ``data`` of a parsed file's uncompressed pixel data, after checking
    it is all present; (None, None) for compressed data (checked for a decoder and fragments)
    and for a deflated file (whose offsets refer to the inflated stream)."""
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)  # the deferred element, not yet read
    deflated = ds.file_meta.get("TransferSyntaxUID", "") == DeflatedExplicitVRLittleEndian
    if not isinstance(raw, RawDataElement) or raw.length == UNDEFINED_LENGTH:
        check_decoder(name, UID(ds.file_meta.get("TransferSyntaxUID", ImplicitVRLittleEndian)))
        _check_fragments(name, header, raw, data, deflated=deflated)
        return None, None
    if deflated:
        return None, None
    expected = _expected_native_length(ds)
    present = min(raw.length, len(data) - raw.value_tell)
    if present < raw.length:
        raise InputFileError(
            name, f"file is truncated inside the pixel data ({present} of {raw.length} bytes)"
        )
    if expected is not None and raw.length < expected:
        raise InputFileError(
            name,
            f"pixel data is shorter than declared: {raw.length} bytes, but Rows x Columns x "
            f"Frames x bytes per pixel needs {expected}",
        )
    return raw.value_tell, raw.length


def _check_fragments(
    name: str, header: HeaderRecord, raw: object, data: bytes, *, deflated: bool
) -> None:
    """Each frame of compressed pixel data needs at least one fragment of its own (PS3.5 A.4).

    Checked from the header alone so that a small file declaring thousands of frames is
    refused here, instead of failing to decode each of them in turn.
    """
    if not isinstance(raw, RawDataElement):
        return
    if raw.value is not None:
        buffer, start = raw.value, 0
    elif not deflated:
        buffer, start = data, raw.value_tell
    else:
        return  # offsets refer to the inflated stream, not to `data`
    frames = number_of_frames(header)
    fragments = fragment_count(buffer, start)
    if fragments < frames:
        raise InputFileError(
            name,
            f"declares {frames} frame{'s' if frames > 1 else ''} but its compressed pixel data "
            f"holds {fragments} fragment{'' if fragments == 1 else 's'} (each frame needs one)",
        )


def fragment_count(buffer: bytes, start: int) -> int:
    """Items after the basic offset table, up to the sequence delimiter or the buffer's end."""
    count, at = -1, start  # the first item is the basic offset table
    while at + 8 <= len(buffer):
        tag, length = struct.unpack_from("<II", buffer, at)
        if tag != _ITEM_AS_READ or length == UNDEFINED_LENGTH:
            break
        count += 1
        at += 8 + length
    return max(count, 0)


def _expected_native_length(ds: Dataset) -> int | None:
    try:
        from pydicom.pixels.utils import get_expected_length

        return int(get_expected_length(ds))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
