"""Bytes to a parsed DICOM header, or a plain-language reason why these bytes are no image.

Headers are parsed once with the pixel data deferred: its offset and length are recorded so that
pixels can later be copied straight from the input bytes, and so that truncated or short pixel
data is caught before any array is allocated.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from .errors import BudgetError, InputFileError
from .inputs import InputFile
from .limits import Limits, bytes_text

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_PIXEL_DATA = 0x7FE00009
UNDEFINED_LENGTH = 0xFFFFFFFF
DEFLATED = "1.2.840.10008.1.2.1.99"
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

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


@dataclass(frozen=True)
class DicomFile:
    """A DICOM image header with where its pixel data sits in ``data``.

    ``pixel_offset``/``pixel_length`` are set for natively encoded (uncompressed) pixel data;
    encapsulated (compressed) data is kept inside ``dataset`` as read.
    """

    name: str
    dataset: Dataset = field(repr=False)
    data: bytes = field(repr=False)
    pixel_offset: int | None = None
    pixel_length: int | None = None

    @property
    def transfer_syntax(self) -> UID:
        meta = getattr(self.dataset, "file_meta", None)
        uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        return UID(uid or pydicom.uid.ImplicitVRLittleEndian)


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
    return "not DICOM (no DICM marker and no DICOM header at the start)"


def looks_like_dicom(data: bytes) -> bool:
    """DICOM with a preamble, or a bare dataset starting with a plausible group (0002 or 0008)."""
    if data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    group_le, elem_le = struct.unpack("<HH", data[:4])
    group_be = struct.unpack(">H", data[:2])[0]
    return (group_le in (0x0002, 0x0008) and elem_le < 0x0100) or group_be == 0x0008


def read_dicom(source: InputFile, limits: Limits | None = None) -> DicomFile:
    """Parse a file's header and check its pixel data is all there and within budget.

    Raises InputFileError (with the file name and a plain reason) for anything that is not a
    usable image; never returns a DicomFile that the volume builder cannot at least try.
    """
    ds = parse_dataset(source, limits, defer=True)
    data = source.data
    _check_is_image(source.name, ds)
    _check_budget(source.name, ds, limits)
    offset, length = _native_pixel_span(source.name, ds, data)
    return DicomFile(source.name, ds, data, offset, length)


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
    ds = pydicom.dcmread(io.BytesIO(data), force=True, defer_size=defer_size)
    if not _has_any_element(ds):
        raise InputFileError(source.name, "not DICOM (no readable elements)")
    if "TransferSyntaxUID" not in ds.file_meta:
        # A bare dataset (no meta group): pixel decoding needs the syntax it was read with.
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            pydicom.uid.ImplicitVRLittleEndian
            if implicit
            else pydicom.uid.ExplicitVRLittleEndian
            if little
            else pydicom.uid.ExplicitVRBigEndian
        )
    return ds


def _has_any_element(ds: Dataset) -> bool:
    return len(ds) > 0 or len(getattr(ds, "file_meta", None) or ()) > 0


def sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", None)
    if not uid:
        return "object"
    name = UID(str(uid)).name
    return name.removesuffix(" Storage") if name != str(uid) else f"SOP class {uid}"


def _check_is_image(name: str, ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    media_class = getattr(meta, "MediaStorageSOPClassUID", None) if meta is not None else None
    if media_class == DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        raise InputFileError(name, "a DICOMDIR (an index of the files on a disc), not an image")
    if "SOPClassUID" not in ds and not media_class:
        raise InputFileError(name, "not a DICOM object (no SOP Class UID)")
    if FLOAT_PIXEL_DATA in ds or DOUBLE_PIXEL_DATA in ds:
        raise InputFileError(
            name, f"{sop_class_name(ds)} holds floating-point pixel data, not shown yet"
        )
    if PIXEL_DATA not in ds:
        raise InputFileError(name, f"{sop_class_name(ds)} has no pixel data (not an image)")
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        value = ds.get(keyword)
        if not isinstance(value, int) or value <= 0:
            raise InputFileError(name, f"pixel data without a valid {keyword} ({value!r})")


def declared_pixel_bytes(ds: Dataset) -> int:
    """Bytes the decoded pixels will take, from the header alone (before any decode)."""
    frames = number_of_frames(ds)
    samples = int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.BitsAllocated)
    item_bytes = max(bits, 8) // 8 if bits != 1 else 1
    return int(ds.Rows) * int(ds.Columns) * frames * samples * item_bytes


def number_of_frames(ds: Dataset) -> int:
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return 1
    return max(frames, 1)


def _check_budget(name: str, ds: Dataset, limits: Limits) -> None:
    need = declared_pixel_bytes(ds)
    if need > limits.volume_bytes:
        raise BudgetError(
            name,
            f"declares {ds.Rows} x {ds.Columns} pixels x {number_of_frames(ds)} frames "
            f"({bytes_text(need)}), over {limits.describe('volume_bytes')}",
        )


def _native_pixel_span(name: str, ds: Dataset, data: bytes) -> tuple[int | None, int | None]:
    """Offset and length of uncompressed pixel data, after checking it is all present."""
    raw = ds._dict.get(PIXEL_DATA)  # the deferred element, not yet read
    if not isinstance(raw, RawDataElement) or raw.length == UNDEFINED_LENGTH:
        _check_decoder(name, ds)
        return None, None
    if ds.file_meta.get("TransferSyntaxUID", "") == DEFLATED:
        return None, None  # offsets refer to the inflated stream, not to `data`
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


def _expected_native_length(ds: Dataset) -> int | None:
    try:
        from pydicom.pixels.utils import get_expected_length

        return int(get_expected_length(ds))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _check_decoder(name: str, ds: Dataset) -> None:
    from pydicom.pixels import get_decoder

    syntax = UID(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian))
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise InputFileError(
            name, f"pixel data compressed as {syntax.name}, which no installed decoder reads"
        )


def _check_inflation(name: str, data: bytes, limits: Limits) -> bool:
    """A deflated dataset is inflated whole by pydicom: bound it first (decompression bombs).

    Returns whether the file is deflated."""
    if data[128:132] != b"DICM" or DEFLATED.encode() not in data[132:1024]:
        return False
    try:
        (group_length,) = struct.unpack("<I", data[140:144])
        start = 144 + group_length
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(data[start:], limits.volume_bytes)
    except (struct.error, zlib.error) as exc:
        raise InputFileError(name, f"deflated data set cannot be inflated ({exc})") from None
    if inflater.unconsumed_tail:
        raise BudgetError(
            name, f"deflated data set inflates past {limits.describe('volume_bytes')}"
        )
    return True
