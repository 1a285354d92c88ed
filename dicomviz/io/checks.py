"""Checks that a file is an image the engine can try, made from its header before any pixel
is touched: what kind of object it is, the pixel module's integers, the memory budget, and
whether a decoder for its compression is installed."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID, MediaStorageDirectoryStorage

from dicomviz.errors import BudgetError, InputFileError
from dicomviz.io.header import HeaderRecord, number_of_frames
from dicomviz.io.tags import DOUBLE_PIXEL_DATA, FLOAT_PIXEL_DATA, PIXEL_DATA
from dicomviz.limits import Limits, bytes_text


def check_is_image(name: str, ds: Dataset) -> None:
    """A parsed object is an image with pixel data we show, else a reason saying what it is."""
    meta = getattr(ds, "file_meta", None)
    media_class = getattr(meta, "MediaStorageSOPClassUID", None) if meta is not None else None
    if media_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        raise InputFileError(name, "a DICOMDIR (an index of the files on a disc), not an image")
    if "SOPClassUID" not in ds and not media_class:
        raise InputFileError(name, "not a DICOM object (no SOP Class UID)")
    if FLOAT_PIXEL_DATA in ds or DOUBLE_PIXEL_DATA in ds:
        raise InputFileError(
            name, f"{sop_class_name(ds)} holds floating-point pixel data, not shown yet"
        )
    if PIXEL_DATA not in ds:
        raise InputFileError(name, f"{sop_class_name(ds)} has no pixel data (not an image)")


def sop_class_name(ds: Dataset) -> str:
    """'CT Image' style name of the object's SOP class, for messages."""
    uid = ds.get("SOPClassUID") or getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", None)
    if not uid:
        return "object"
    name = UID(str(uid)).name
    return name.removesuffix(" Storage") if name != str(uid) else f"SOP class {uid}"


def check_pixel_module(name: str, header: HeaderRecord) -> None:
    """The integers every later step relies on, checked once here, so that nothing downstream
    meets a string, a list or an impossible bit depth in place of a number."""
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        value = header.get(keyword)
        if not isinstance(value, int) or value <= 0:
            raise InputFileError(name, f"pixel data without a valid {keyword} ({value!r})")
    allocated = int(header.BitsAllocated)
    if allocated != 1 and (allocated % 8 or allocated > 64):
        raise InputFileError(
            name, f"(0028,0100) Bits Allocated is {allocated}; DICOM allows 1 or 8, 16, 32, 64"
        )
    # Absent or empty values take their defaults later (BitsStored 0 is read as "all bits").
    for keyword, low, high in (
        ("BitsStored", 0, allocated),
        ("PixelRepresentation", 0, 1),
        ("SamplesPerPixel", 1, 4),
    ):
        value = header.get(keyword)
        if value is not None and (not isinstance(value, int) or not low <= value <= high):
            raise InputFileError(
                name, f"{keyword} is {value!r}, not a whole number from {low} to {high}"
            )


def declared_pixel_bytes(header: HeaderRecord) -> int:
    """Bytes the decoded pixels will take, from the header alone (before any decode).

    Call after check_pixel_module, which makes Rows, Columns and BitsAllocated integers."""
    frames = number_of_frames(header)
    samples = int(header.SamplesPerPixel or 1)
    bits = int(header.BitsAllocated)
    item_bytes = max(bits, 8) // 8 if bits != 1 else 1
    return int(header.Rows) * int(header.Columns) * frames * samples * item_bytes


def check_budget(name: str, header: HeaderRecord, limits: Limits) -> None:
    need = declared_pixel_bytes(header)
    if need > limits.volume_bytes:
        raise BudgetError(
            name,
            f"declares {header.Rows} x {header.Columns} pixels x {number_of_frames(header)} "
            f"frames ({bytes_text(need)}), over {limits.describe('volume_bytes')}",
        )


def check_decoder(name: str, syntax: UID) -> None:
    """Compressed pixel data is only worth reading when an installed plugin decodes it."""
    from pydicom.pixels import get_decoder

    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise InputFileError(
            name, f"pixel data compressed as {syntax.name}, which no installed decoder reads"
        )
