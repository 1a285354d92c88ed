"""The header record: the values the engine reads from a file, converted once where it is read.

Both readers produce one. The scanner (scan.py) converts them from the bytes of a plain file;
``HeaderRecord.from_dataset`` takes them from pydicom's parse of any other file. The record's
fields are the one list of keywords the engine uses: the scanner collects exactly these
(``DATASET_KEYWORDS``), and ``from_dataset`` converts exactly these, so that a value pydicom
cannot convert becomes this file's InputFileError here, not an exception in a later step that
has no file to blame.

In the record: the top-level values of the image pixel, image plane, series and study modules,
rescale, window and padding, what tells 4-D volumes apart (echo, time, standard diffusion
attributes), the extended offset table, and the file meta's SOP class and instance UIDs.

Fetched from the whole pydicom Dataset instead (``DicomFile.dataset``, ``Stack.first_dataset()``;
parsed on first use for a scanned file): the functional groups of enhanced multi-frame files,
Siemens CSA headers and mosaic layouts, vendors' private diffusion elements, palette colour
tables, and every element for header tables. The scanner never takes a file that has
functional groups, a palette or ``MOSAIC`` in its ImageType, so for those files the Dataset is
the one already parsed.

Values are pydicom's: one value or several (a list from the scanner, pydicom's MultiValue from
a parse; the two compare equal), None when absent or empty; numbers as numbers (pydicom's
DSfloat and IS also keep the text they were written as, and print it). pydicom keeps a
malformed number as text rather than fail, so readers of numbers stay defensive. What pydicom
cannot convert at all (a damaged VR, a binary value of the wrong length) refuses the file,
except in the optional fields: labels, stand-ins for a missing value and the extended offset
table, which the image loads without and which then read as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicomviz.errors import InputFileError, describe
from dicomviz.io.tags import element_name

Text = str | Sequence[str] | None
Numbers = float | Sequence[float] | None
Whole = int | Sequence[int] | None
Binary = bytes | None


class Values(Protocol):
    """What values are read from by keyword: a header record, or an item of an enhanced file's
    functional groups (a pydicom Dataset), which hold the same attributes per frame."""

    def get(self, keyword: str, default: Any = None) -> Any: ...


_OPTIONAL = {"optional": True}
"""Metadata of a value that only labels a series, stands in for a missing one or speeds
decoding: one pydicom cannot convert is taken as absent, instead of refusing an image that
loads without it."""


@dataclass(frozen=True)
class HeaderRecord:
    """The header values of one file that loading, grouping and building a volume read.

    Field names are DICOM keywords (in tag order); see the module docstring for what is
    fetched from the whole Dataset instead. A value pydicom cannot convert refuses the file,
    except in the optional fields (see ``_OPTIONAL``).
    """

    MediaStorageSOPClassUID: Text = None
    MediaStorageSOPInstanceUID: Text = field(default=None, metadata=_OPTIONAL)
    SpecificCharacterSet: Text = field(default=None, metadata=_OPTIONAL)
    ImageType: Text = None
    SOPClassUID: Text = field(default=None, metadata=_OPTIONAL)
    SOPInstanceUID: Text = None
    StudyDate: Text = field(default=None, metadata=_OPTIONAL)
    SeriesDate: Text = field(default=None, metadata=_OPTIONAL)
    StudyTime: Text = field(default=None, metadata=_OPTIONAL)
    SeriesTime: Text = field(default=None, metadata=_OPTIONAL)
    Modality: Text = None
    StudyDescription: Text = field(default=None, metadata=_OPTIONAL)
    SeriesDescription: Text = None
    BodyPartExamined: Text = field(default=None, metadata=_OPTIONAL)
    SliceThickness: Numbers = None
    EchoTime: Numbers = None
    EchoNumbers: Whole = None
    SpacingBetweenSlices: Numbers = None
    TriggerTime: Numbers = None
    ImagerPixelSpacing: Numbers = field(default=None, metadata=_OPTIONAL)
    NominalScannedPixelSpacing: Numbers = field(default=None, metadata=_OPTIONAL)
    DiffusionBValue: Numbers = None
    DiffusionGradientOrientation: Numbers = None
    StudyInstanceUID: Text = field(default=None, metadata=_OPTIONAL)
    SeriesInstanceUID: Text = None
    StudyID: Text = field(default=None, metadata=_OPTIONAL)
    SeriesNumber: Whole = None
    AcquisitionNumber: Whole = None
    InstanceNumber: Whole = None
    PatientOrientation: Text = field(default=None, metadata=_OPTIONAL)
    ImagePositionPatient: Numbers = None
    ImageOrientationPatient: Numbers = None
    FrameOfReferenceUID: Text = field(default=None, metadata=_OPTIONAL)
    TemporalPositionIdentifier: Whole = None
    ImageComments: Text = None
    SamplesPerPixel: Whole = None
    PhotometricInterpretation: Text = None
    PlanarConfiguration: Whole = None
    NumberOfFrames: Whole = None
    Rows: Whole = None
    Columns: Whole = None
    PixelSpacing: Numbers = None
    BitsAllocated: Whole = None
    BitsStored: Whole = None
    HighBit: Whole = None
    PixelRepresentation: Whole = None
    PixelPaddingValue: Whole = None
    WindowCenter: Numbers = None
    WindowWidth: Numbers = None
    RescaleIntercept: Numbers = None
    RescaleSlope: Numbers = None
    RescaleType: Text = None
    ExtendedOffsetTable: Binary = field(default=None, metadata=_OPTIONAL)
    ExtendedOffsetTableLengths: Binary = field(default=None, metadata=_OPTIONAL)

    def get(self, keyword: str, default: Any = None) -> Any:
        """A value by keyword (``default`` when absent), for code that reads a functional
        group item or the record alike. A keyword the record does not hold raises KeyError:
        read it from the whole Dataset instead."""
        try:
            value = self.__dict__[keyword]  # the fields only (about 4x faster than getattr)
        except KeyError:
            message = f"{keyword} is not in the header record; read it from the Dataset"
            raise KeyError(message) from None
        return default if value is None else value

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> HeaderRecord:
        """A record of values converted already (the scanner's), keyed by keyword.

        Set without the frozen ``__init__``, which assigns each of the ~50 fields through
        ``object.__setattr__``: about 2 instead of 11 microseconds a file."""
        if not _FIELDS.issuperset(values):
            raise TypeError(f"not header record fields: {sorted(set(values) - _FIELDS)}")
        record = object.__new__(cls)
        record.__dict__.update(_ABSENT)
        record.__dict__.update(values)
        return record

    @classmethod
    def from_dataset(cls, name: str, ds: Dataset) -> HeaderRecord:
        """The record of a file pydicom parsed; a value pydicom cannot convert raises the
        file's InputFileError, naming the element."""
        values = _present(name, getattr(ds, "file_meta", None), _META_TAGS)
        values.update(_present(name, ds, _DATASET_TAGS))
        _convert_frame_windows(name, ds)
        return cls.from_values(values)


KEYWORDS: tuple[str, ...] = tuple(f.name for f in fields(HeaderRecord))
"""Every element the engine reads while loading and building a volume."""
META_KEYWORDS = tuple(k for k in KEYWORDS if tag_for_keyword(k) >> 16 == 0x0002)
"""Those of the file meta information (group 0002)."""
DATASET_KEYWORDS = tuple(k for k in KEYWORDS if k not in META_KEYWORDS)
"""Those of the data set proper, the scanner's list."""
OPTIONAL = frozenset(f.name for f in fields(HeaderRecord) if f.metadata.get("optional"))
"""Those read as absent when pydicom cannot convert them."""
_FIELDS = frozenset(KEYWORDS)
_ABSENT = dict.fromkeys(KEYWORDS)
_META_TAGS = {tag_for_keyword(k): k for k in META_KEYWORDS}
_DATASET_TAGS = {tag_for_keyword(k): k for k in DATASET_KEYWORDS}


def _present(name: str, ds: Dataset | None, wanted: dict[int, str]) -> dict[str, Any]:
    """The wanted elements that ``ds`` holds, converted in tag order (the rest stay None)."""
    if ds is None:
        return {}
    values = {}
    for tag in sorted(ds.keys() & wanted.keys()):
        keyword = wanted[tag]
        try:
            values[keyword] = ds[tag].value  # pydicom converts a raw value on first access
        except Exception as exc:  # any failure of that conversion
            values[keyword] = _unreadable(name, keyword, exc)
    return values


def _convert(name: str, ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception as exc:  # any failure of pydicom's value conversion
        return _unreadable(name, keyword, exc)


def _unreadable(name: str, keyword: str, exc: Exception) -> None:
    """None for an optional value pydicom cannot convert; else the file's InputFileError."""
    if keyword in OPTIONAL:
        return None
    tag = tag_for_keyword(keyword) or 0
    reason = f"{element_name(tag)} cannot be read ({describe(exc, 120)})"
    raise InputFileError(name, reason) from None


def _convert_frame_windows(name: str, ds: Dataset) -> None:
    """The window an enhanced multi-frame file suggests sits in a functional group, read later
    from the Dataset: converted here so that a broken one is this file's reason too."""
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        group = first_item(_convert(name, ds, keyword))
        voi = first_item(_convert(name, group, "FrameVOILUTSequence")) if group else None
        if voi is not None:
            _convert(name, voi, "WindowCenter")
            _convert(name, voi, "WindowWidth")


def first_item(value: object) -> Dataset | None:
    """The first item of a sequence value; None when it is empty or not a sequence at all (a
    damaged VR can turn a sequence into text)."""
    if isinstance(value, DicomSequence) and len(value) and isinstance(value[0], Dataset):
        return value[0]
    return None


def number_of_frames(header: HeaderRecord) -> int:
    """NumberOfFrames, 1 when absent or not a positive whole number."""
    try:
        frames = int(header.NumberOfFrames or 1)
    except (TypeError, ValueError):
        return 1
    return max(frames, 1)


def words(value: Any) -> tuple[str, ...]:
    """The values of a multi-valued code string (ImageType), stripped and in upper case."""
    if isinstance(value, str):
        return tuple(part.strip().upper() for part in value.split("\\"))
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return tuple(str(part).strip().upper() for part in value)
    return ()
