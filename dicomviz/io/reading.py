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
from functools import cached_property

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from dicomviz.errors import BudgetError, InputFileError
from dicomviz.io.inputs import InputFile
from dicomviz.io.scan import LeanHeader, NeedMore, Unsupported, scan
from dicomviz.io.truncation import (
    DEFLATED,
    UNDEFINED_LENGTH,
    element_name,
    meta_truncation,
    truncation,
)
from dicomviz.limits import Limits, bytes_text

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_PIXEL_DATA = 0x7FE00009
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


Header = Dataset | LeanHeader
"""What the engine reads header values from: a scanned LeanHeader for plain files, pydicom's
Dataset for everything else. Both answer ``get(keyword)``."""


@dataclass(frozen=True, eq=False)
class DicomFile:
    """A DICOM image's header values, with where its pixel data sits in its source.

    ``pixel_offset``/``pixel_length`` are set for natively encoded (uncompressed) pixel data,
    ``pixel_offset`` alone for encapsulated (compressed) data read by the scanner; encapsulated
    data of files pydicom read stays inside ``dataset``.
    """

    name: str
    header: Header = field(repr=False)
    source: InputFile = field(repr=False)
    pixel_offset: int | None = None
    pixel_length: int | None = None
    transfer_syntax: str = pydicom.uid.ImplicitVRLittleEndian

    @property
    def data(self) -> bytes:
        """All of the file's bytes (read from disk on first use for a file there)."""
        return self.source.data

    @property
    def scanned(self) -> bool:
        """Whether the header was scanned (a plain file) rather than parsed by pydicom."""
        return isinstance(self.header, LeanHeader)

    @cached_property
    def dataset(self) -> Dataset:
        """The whole header as pydicom reads it, for header tables: parsed on first use for a
        scanned file (loading and building a volume never need it)."""
        if isinstance(self.header, Dataset):
            return self.header
        try:
            if not self.source.in_memory:
                return _dcmread(self.name, self.source.path, 4096)  # type: ignore[arg-type]
            return parse_dataset(self.source, defer=True)
        except InputFileError:
            raise
        except Exception as exc:  # the scanner needed less of the file than pydicom reads
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise InputFileError(self.name, f"its whole header cannot be read ({detail})") from None


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
    limits = limits or Limits()
    scanned = _read_scanned(source, limits)
    if scanned is not None:
        return scanned
    ds = parse_dataset(source, limits, defer=True)
    data = source.data
    # Judged before any value is converted (conversion replaces the raw elements it reads).
    problem = truncation(ds, data)
    try:
        _check_is_image(source.name, ds)
    except Exception:
        # A file cut short often loses its pixel data, or even its SOP class, or ends in a
        # value that cannot be converted: say what really happened instead.
        if problem:
            raise InputFileError(source.name, problem) from None
        raise
    _check_budget(source.name, ds, limits)
    offset, length = _native_pixel_span(source.name, ds, data)
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    return DicomFile(source.name, ds, source, offset, length, syntax)


def _read_scanned(source: InputFile, limits: Limits) -> DicomFile | None:
    """A plain file read by the scanner, or None to let pydicom read it (see scan.py).

    Only what passes every check here takes this path; a file that fails one is read again by
    pydicom, whose path explains the problem, so both paths give the same reasons.
    """
    try:
        try:
            found = scan(source.head, source.length)
        except NeedMore:
            if source.complete:
                return None
            found = scan(source.data, source.length)  # a long header, or compressed pixels
    except (Unsupported, NeedMore):
        return None
    header, name = found.header, source.name
    sop_class = header.get("SOPClassUID") or header.media_class
    photometric = header.get("PhotometricInterpretation")
    if not sop_class or sop_class == DICOMDIR_CLASS or photometric in ("PALETTE COLOR", None):
        return None
    if "MOSAIC" in _words(header.get("ImageType")):
        return None  # a Siemens mosaic: its layout is in private elements the scanner skips
    try:
        _check_pixel_module(name, header)
    except InputFileError:
        return None
    _check_budget(name, header, limits)
    syntax = UID(header.transfer_syntax)
    if found.pixel_length is None:
        _check_decoder(name, syntax)
        if _fragment_count(source.data, found.pixel_offset) < number_of_frames(header):
            return None
        return DicomFile(name, header, source, found.pixel_offset, None, syntax)
    if header.BitsAllocated not in (8, 16, 32, 64):
        return None  # bit-packed: pydicom checks its length
    if found.pixel_length < declared_pixel_bytes(header):
        return None
    return DicomFile(
        name, header, source.without_head(), found.pixel_offset, found.pixel_length, syntax
    )


def _words(value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip().upper() for part in value.split("\\")]
    if isinstance(value, list | tuple):
        return [str(part).strip().upper() for part in value]
    return []


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
    ds = _dcmread(source.name, data, defer_size)
    if not _has_any_element(ds):
        raise InputFileError(
            source.name, truncation(ds, data) or "not DICOM (no readable elements)"
        )
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


def _dcmread(name: str, data: bytes | str, defer_size: int | None) -> Dataset:
    """pydicom's parse, with running out of bytes reported as truncation and runaway nesting
    as a bad file (both are InputFileError, so every caller, not only load, can report them).

    pydicom reads past the end of a cut file in several ways: it warns and keeps what it has
    (see ``truncation``), or fails to unpack an element header, or finds no item tag.
    """
    source = data if isinstance(data, str) else io.BytesIO(data)
    try:
        return pydicom.dcmread(source, force=True, defer_size=defer_size)
    except RecursionError:  # pydicom reads nested sequences recursively
        raise InputFileError(name, "sequences nested too deeply to read") from None
    except EOFError as exc:
        raise InputFileError(name, f"the file is truncated ({exc})") from None
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
    _check_pixel_module(name, ds)
    _convert_used_elements(name, ds)


def _check_pixel_module(name: str, ds: Dataset) -> None:
    """The integers every later step relies on, checked once here, so that nothing downstream
    meets a string, a list or an impossible bit depth in place of a number."""
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        value = ds.get(keyword)
        if not isinstance(value, int) or value <= 0:
            raise InputFileError(name, f"pixel data without a valid {keyword} ({value!r})")
    allocated = int(ds.BitsAllocated)
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
        value = ds.get(keyword)
        if value is not None and (not isinstance(value, int) or not low <= value <= high):
            raise InputFileError(
                name, f"{keyword} is {value!r}, not a whole number from {low} to {high}"
            )


# Elements read after the per-file guard in loading.load (grouping, volume, summaries). pydicom
# converts values on first access; converting these here makes a broken one this file's skipped
# reason instead of an exception in a later step that has no file to blame.
_USED_LATER = (
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "SliceThickness",
    "SpacingBetweenSlices",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "HighBit",
    "PixelPaddingValue",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
)


def _convert_used_elements(name: str, ds: Dataset) -> None:
    for keyword in _USED_LATER:
        _convert(name, ds, keyword)
    # The window an enhanced multi-frame file suggests sits in a functional group.
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        group = first_item(_convert(name, ds, keyword))
        voi = first_item(_convert(name, group, "FrameVOILUTSequence")) if group else None
        if voi is not None:
            _convert(name, voi, "WindowCenter")
            _convert(name, voi, "WindowWidth")


def _convert(name: str, ds: Dataset, keyword: str) -> object:
    try:
        return ds.get(keyword)
    except Exception as exc:  # any failure of pydicom's value conversion
        tag = tag_for_keyword(keyword) or 0
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise InputFileError(name, f"{element_name(tag)} cannot be read ({detail})") from None


def first_item(value: object) -> Dataset | None:
    """The first item of a sequence value; None when it is empty or not a sequence at all (a
    damaged VR can turn a sequence into text)."""
    if isinstance(value, DicomSequence) and len(value) and isinstance(value[0], Dataset):
        return value[0]
    return None


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
        _check_decoder(
            name, UID(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian))
        )
        _check_fragments(name, ds, raw, data)
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


def _check_fragments(name: str, ds: Dataset, raw: object, data: bytes) -> None:
    """Each frame of compressed pixel data needs at least one fragment of its own (PS3.5 A.4).

    Checked from the header alone so that a small file declaring thousands of frames is
    refused here, instead of failing to decode each of them in turn.
    """
    if not isinstance(raw, RawDataElement):
        return
    if raw.value is not None:
        buffer, start = raw.value, 0
    elif ds.file_meta.get("TransferSyntaxUID", "") != DEFLATED:
        buffer, start = data, raw.value_tell
    else:
        return  # offsets refer to the inflated stream, not to `data`
    frames = number_of_frames(ds)
    fragments = _fragment_count(buffer, start)
    if fragments < frames:
        raise InputFileError(
            name,
            f"declares {frames} frame{'s' if frames > 1 else ''} but its compressed pixel data "
            f"holds {fragments} fragment{'' if fragments == 1 else 's'} (each frame needs one)",
        )


def _fragment_count(buffer: bytes, start: int) -> int:
    """Items after the basic offset table, up to the sequence delimiter or the buffer's end."""
    count, at = -1, start  # the first item is the basic offset table
    while at + 8 <= len(buffer):
        tag, length = struct.unpack_from("<II", buffer, at)
        if tag != 0xE000FFFE or length == UNDEFINED_LENGTH:  # (FFFE,E000) Item
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


def _check_decoder(name: str, syntax: UID) -> None:
    from pydicom.pixels import get_decoder

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
