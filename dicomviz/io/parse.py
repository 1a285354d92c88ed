"""pydicom's parse of a file, guarded before and translated after.

Before: bytes that are not DICOM are refused with what they look like, and a deflated data set
(inflated whole by pydicom) is bounded first. After: pydicom's ways of failing on a cut or
hostile file (EOFError, struct.error, OSError, RecursionError, ...) become the file's
InputFileError with a plain reason, so every caller, not only ``load``, can report them.
"""

from __future__ import annotations

import io
import struct
import zlib

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomviz.errors import BudgetError, InputFileError, describe
from dicomviz.io.inputs import InputFile
from dicomviz.io.sniff import describe_non_dicom, looks_like_dicom
from dicomviz.io.truncation import meta_truncation, truncation
from dicomviz.limits import Limits


def parse_dataset(
    source: InputFile, limits: Limits | None = None, *, defer: bool = False
) -> Dataset:
    """Parse any DICOM object (image or not); ``defer`` leaves large values in ``source.data``
    until they are used."""
    limits = limits or Limits()
    data = source.data
    if not looks_like_dicom(data):
        raise InputFileError(source.name, describe_non_dicom(data))
    deflated = _check_inflation(source.name, data, limits)
    # Deferred elements are re-read by offset, which a deflated stream does not have.
    defer_size = 4096 if defer and not deflated else None
    ds = dcmread(source.name, data, defer_size)
    if not _has_any_element(ds):
        raise InputFileError(
            source.name, truncation(ds, data) or "not DICOM (no readable elements)"
        )
    if "TransferSyntaxUID" not in ds.file_meta:
        # A bare dataset (no meta group): pixel decoding needs the syntax it was read with.
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else ExplicitVRLittleEndian
            if little
            else ExplicitVRBigEndian
        )
    return ds


def dcmread(name: str, data: bytes | str, defer_size: int | None) -> Dataset:
    """pydicom's parse of bytes or of a file on disk, with running out of bytes reported as
    truncation and runaway nesting as a bad file.

    pydicom reads past the end of a cut file in several ways: it warns and keeps what it has
    (see ``truncation``), or fails to unpack an element header, or finds no item tag.
    """
    source = data if isinstance(data, str) else io.BytesIO(data)
    try:
        return pydicom.dcmread(source, force=True, defer_size=defer_size)
    except RecursionError:  # pydicom reads nested sequences recursively
        raise InputFileError(name, "sequences nested too deeply to read") from None
    except EOFError as exc:
        raise InputFileError(name, f"the file is truncated ({describe(exc)})") from None
    except struct.error:
        raise InputFileError(
            name, "the file is truncated: it ends inside an element's tag or length"
        ) from None
    except OSError as exc:
        if "No tag to read" not in str(exc):
            raise
        raise InputFileError(name, "the file is truncated: it ends inside a sequence") from None
    except Exception:
        # E.g. pydicom's BytesLengthException for a group length cut in half.
        problem = meta_truncation(data) if isinstance(data, bytes) else None
        if problem is None:
            raise
        raise InputFileError(name, problem) from None


def _has_any_element(ds: Dataset) -> bool:
    return len(ds) > 0 or len(getattr(ds, "file_meta", None) or ()) > 0


def _check_inflation(name: str, data: bytes, limits: Limits) -> bool:
    """A deflated dataset is inflated whole by pydicom: bound it first (decompression bombs).

    Returns whether the file is deflated."""
    if data[128:132] != b"DICM" or DeflatedExplicitVRLittleEndian.encode() not in data[132:1024]:
        return False
    try:
        (group_length,) = struct.unpack("<I", data[140:144])
        start = 144 + group_length
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(data[start:], limits.volume_bytes)
    except (struct.error, zlib.error) as exc:
        reason = f"deflated data set cannot be inflated ({describe(exc)})"
        raise InputFileError(name, reason) from None
    if inflater.unconsumed_tail:
        raise BudgetError(
            name, f"deflated data set inflates past {limits.describe('volume_bytes')}"
        )
    return True
