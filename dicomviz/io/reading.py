"""Bytes to a checked header record, or a plain-language reason why these bytes are no image.

Two readers, one result. A plain file is scanned (scan.py): its header record is converted
straight from the bytes and pydicom never parses it while loading, which is several times
faster. Anything else, and any plain file that fails a check here, is parsed by pydicom
(parse.py), checked (checks.py) and given the record converted from its Dataset (header.py),
so both paths give the same record and the same reasons. Pixel data is located, not read
(pixel_data.py): pixels are later copied straight from the input bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pydicom.dataset import Dataset
from pydicom.uid import UID, ImplicitVRLittleEndian, MediaStorageDirectoryStorage

from dicomviz.errors import InputFileError, describe
from dicomviz.io.checks import (
    check_budget,
    check_decoder,
    check_is_image,
    check_pixel_module,
    declared_pixel_bytes,
)
from dicomviz.io.header import HeaderRecord, number_of_frames, words
from dicomviz.io.inputs import InputFile
from dicomviz.io.parse import dcmread, parse_dataset
from dicomviz.io.pixel_data import fragment_count, native_pixel_span
from dicomviz.io.scan import NeedMore, Unsupported, scan
from dicomviz.io.truncation import truncation
from dicomviz.limits import Limits


@dataclass(frozen=True, eq=False)
class DicomFile:
    """A DICOM image's header record, with where its pixel data sits in its source.

    ``pixel_offset``/``pixel_length`` are set for natively encoded (uncompressed) pixel data,
    ``pixel_offset`` alone for encapsulated (compressed) data read by the scanner; encapsulated
    data of files pydicom read stays inside ``dataset``.
    """

    name: str
    header: HeaderRecord = field(repr=False)
    source: InputFile = field(repr=False)
    pixel_offset: int | None = None
    pixel_length: int | None = None
    transfer_syntax: str = ImplicitVRLittleEndian
    little_endian: bool = True
    """The byte order the data set was read in (pixel data shares it)."""
    functional_groups: bool = False
    """Whether the header holds functional groups (an enhanced multi-frame file), whose values
    are read from ``dataset``."""
    parsed: Dataset | None = field(default=None, repr=False)
    """pydicom's parse, when pydicom read the header; None for a scanned file."""

    @property
    def data(self) -> bytes:
        """All of the file's bytes (read from disk on first use for a file there)."""
        return self.source.data

    @property
    def scanned(self) -> bool:
        """Whether the scanner read the header (a plain file) rather than pydicom."""
        return self.parsed is None

    @cached_property
    def dataset(self) -> Dataset:
        """The whole header as pydicom reads it, for what the record does not hold (see
        header.py): parsed on first use for a scanned file, which loading and building a
        plain volume never need. Raises the file's InputFileError when it cannot be parsed."""
        if self.parsed is not None:
            return self.parsed
        try:
            if not self.source.in_memory:
                return dcmread(self.name, self.source.path, 4096)  # type: ignore[arg-type]
            return parse_dataset(self.source, defer=True)
        except InputFileError:
            raise
        except Exception as exc:  # the scanner needed less of the file than pydicom reads
            reason = f"its whole header cannot be read ({describe(exc)})"
            raise InputFileError(self.name, reason) from None


def read_dicom(source: InputFile, limits: Limits | None = None) -> DicomFile:
    """Read a file's header record and check its pixel data is all there and within budget.

    Raises InputFileError (with the file name and a plain reason) for anything that is not a
    usable image; never returns a DicomFile that the volume builder cannot at least try.
    """
    limits = limits or Limits()
    scanned = _read_scanned(source, limits)
    if scanned is not None:
        return scanned
    return _read_parsed(source, limits)


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
    sop_class = header.SOPClassUID or header.MediaStorageSOPClassUID
    if not sop_class or sop_class == MediaStorageDirectoryStorage:
        return None
    if header.PhotometricInterpretation in ("PALETTE COLOR", None):
        return None
    if "MOSAIC" in words(header.ImageType):
        return None  # a Siemens mosaic: its layout is in private elements the scanner skips
    try:
        check_pixel_module(name, header)
    except InputFileError:
        return None
    check_budget(name, header, limits)
    syntax = UID(found.transfer_syntax)
    if found.pixel_length is None:
        check_decoder(name, syntax)
        if fragment_count(source.data, found.pixel_offset) < number_of_frames(header):
            return None
        return DicomFile(name, header, source, found.pixel_offset, None, syntax)
    if header.BitsAllocated not in (8, 16, 32, 64):
        return None  # bit-packed: pydicom checks its length
    if found.pixel_length < declared_pixel_bytes(header):
        return None
    return DicomFile(
        name, header, source.without_head(), found.pixel_offset, found.pixel_length, syntax
    )


def _read_parsed(source: InputFile, limits: Limits) -> DicomFile:
    """Any file the scanner does not take: pydicom's parse, checked, and its record."""
    name = source.name
    ds = parse_dataset(source, limits, defer=True)
    data = source.data
    # Judged before any value is converted (conversion replaces the raw elements it reads).
    problem = truncation(ds, data)
    try:
        check_is_image(name, ds)
        header = HeaderRecord.from_dataset(name, ds)
        check_pixel_module(name, header)
    except Exception:
        # A file cut short often loses its pixel data, or even its SOP class, or ends in a
        # value that cannot be converted: say what really happened instead.
        if problem:
            raise InputFileError(name, problem) from None
        raise
    check_budget(name, header, limits)
    offset, length = native_pixel_span(name, ds, header, data)
    return DicomFile(
        name,
        header,
        source,
        offset,
        length,
        UID(ds.file_meta.TransferSyntaxUID),
        little_endian=bool(ds.original_encoding[1]),
        functional_groups=_has_functional_groups(ds),
        parsed=ds,
    )


def _has_functional_groups(ds: Dataset) -> bool:
    return "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds
