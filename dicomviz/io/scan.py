"""The header values the engine needs, read straight from the bytes of a plain file.

pydicom builds an object for every one of the ~200 elements of a scanner's header, and converts
values on each access; the engine needs about 50 (the fields of the header record). Walking the
element headers with struct and converting only those values makes reading a CT series several
times faster (bench/).

Only plain files take this path: a preamble and file meta information, little-endian explicit or
implicit VR, no functional groups, no palette, and every length consistent up to the end of the
pixel data, which must end the file. Anything else (truncated, damaged, deflated, big endian,
enhanced multi-frame, odd VRs) raises Unsupported, and pydicom reads the file instead,
so unusual and hostile files keep the careful path and its messages.
"""

from __future__ import annotations

import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomviz.io.header import DATASET_KEYWORDS, META_KEYWORDS, HeaderRecord
from dicomviz.io.tags import (
    DOUBLE_PIXEL_DATA,
    FLOAT_PIXEL_DATA,
    ITEM,
    ITEM_END,
    PIXEL_DATA,
    SEQUENCE_END,
    UNDEFINED_LENGTH,
    as_read,
)

_MAX_DEPTH = 12
_NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

# Present in a file, these send it to pydicom: functional groups (enhanced multi-frame, shared
# and per frame), DICOMDIR records, palette colour tables (red, green and blue descriptors, data
# and segmented data) and float pixel data.
_REFUSED = frozenset(
    {0x52009229, 0x52009230, 0x00041220, FLOAT_PIXEL_DATA, DOUBLE_PIXEL_DATA}
    | {0x00281101, 0x00281102, 0x00281103, 0x00281201, 0x00281202, 0x00281203}
    | {0x00281221, 0x00281222, 0x00281223}
)

_WANTED: dict[int, tuple[str, str]] = {
    as_read(tag_for_keyword(k)): (k, dictionary_VR(tag_for_keyword(k))) for k in DATASET_KEYWORDS
}
_META_WANTED = {as_read(tag_for_keyword(k)): k for k in META_KEYWORDS}
_TRANSFER_SYNTAX = as_read(tag_for_keyword("TransferSyntaxUID"))
_REFUSED_LE = frozenset(as_read(t) for t in _REFUSED)
_PIXEL_LE = as_read(PIXEL_DATA)
_LONG_VRS = frozenset(
    b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split()
)  # 4-byte length after 2 reserved bytes (PS3.5 7.1.2)
_VRS = _LONG_VRS | frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split()
)
_HEADER_SIZE = {vr: 12 if vr in _LONG_VRS else 8 for vr in _VRS}
_ROLE_WANTED, _ROLE_REFUSED, _ROLE_PIXELS = 1, 2, 3
_SPECIAL = {
    **{tag: _ROLE_WANTED for tag in _WANTED},
    **{tag: _ROLE_REFUSED for tag in _REFUSED_LE},
    _PIXEL_LE: _ROLE_PIXELS,
}
_ITEM, _ITEM_END, _SEQUENCE_END = as_read(ITEM), as_read(ITEM_END), as_read(SEQUENCE_END)
_TEXT_VRS = frozenset(("AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI"))

_HEAD = struct.Struct("<I2sH")  # tag, VR, short length (explicit VR)
_TAG_LENGTH = struct.Struct("<II")  # tag, length (implicit VR; items)
_U32 = struct.Struct("<I")


class Unsupported(Exception):
    """Not a plain file: pydicom reads it instead."""


class NeedMore(Exception):
    """The header runs past the bytes at hand (only the start of a file on disk was read)."""


@dataclass(frozen=True)
class Scanned:
    header: HeaderRecord
    transfer_syntax: str
    pixel_offset: int
    """Where the pixel data's value starts (for encapsulated data: its first item)."""
    pixel_length: int | None
    """Its length, or None when encapsulated (undefined length, fragments up to a delimiter)."""


def scan(head: bytes, size: int) -> Scanned:
    """Walk a plain file's elements up to the end of its pixel data.

    ``head`` is the whole file, or (``len(head) < size``) its start: NeedMore says the walk ran
    past it. Raises Unsupported for anything that is not a plain file.
    """
    if head[128:132] != b"DICM":
        raise Unsupported("no preamble")
    meta, pos = _meta(head)
    syntax = meta.get(_TRANSFER_SYNTAX, b"").rstrip(b"\0 ").decode("ascii", "replace")
    if syntax not in _NATIVE and not _encapsulated_syntax(syntax):
        raise Unsupported("transfer syntax")
    explicit = syntax != ImplicitVRLittleEndian
    raw: dict[int, tuple[str, bytes]] = {}
    pixel_offset, pixel_length = _body(head, pos, size, explicit, raw)
    if pixel_length is None and not _encapsulated_syntax(syntax):
        raise Unsupported("undefined-length pixel data in a native syntax")
    if pixel_length is not None and _encapsulated_syntax(syntax):
        raise Unsupported("native pixel data in an encapsulated syntax")
    values = _convert(raw)
    for tag, keyword in _META_WANTED.items():
        if tag in meta:
            values[keyword] = _value("UI", meta[tag])
    return Scanned(HeaderRecord.from_values(values), syntax, pixel_offset, pixel_length)


def _encapsulated_syntax(syntax: str) -> bool:
    """Compressed syntaxes (all little endian with encapsulated pixel data), but not deflate."""
    return syntax.startswith("1.2.840.10008.1.2.") and syntax not in (
        ExplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
    )


def _meta(head: bytes) -> tuple[dict[int, bytes], int]:
    """File meta elements (always explicit VR little endian) and where the data set starts."""
    values: dict[int, bytes] = {}
    pos, end = 132, len(head)
    while pos + 8 <= end:
        if _U32.unpack_from(head, pos)[0] & 0xFFFF != 0x0002:
            return values, pos  # the first element of the data set
        tag, _vr, length, pos = _explicit_element(head, pos)
        if length == UNDEFINED_LENGTH or pos + length > end:
            raise Unsupported("meta length")
        values[tag] = head[pos : pos + length]
        pos += length
    raise NeedMore


def _body(
    head: bytes, pos: int, size: int, explicit: bool, raw: dict[int, tuple[str, bytes]]
) -> tuple[int, int | None]:
    """Top-level elements up to the pixel data; the wanted ones go into ``raw``.

    The hot loop of reading a series (about 200 elements a file): one unpack and two dict
    lookups for an element that is skipped.
    """
    end = len(head)
    unpack_head, unpack_tag_length, unpack_u32 = (
        _HEAD.unpack_from,
        _TAG_LENGTH.unpack_from,
        _U32.unpack_from,
    )
    header_sizes, special = _HEADER_SIZE, _SPECIAL
    while True:
        if pos + 12 > end:
            raise NeedMore
        if explicit:
            tag, vr_bytes, length = unpack_head(head, pos)
            header_size = header_sizes.get(vr_bytes)
            if header_size is None:
                raise Unsupported("unknown VR")
            if header_size == 12:
                (length,) = unpack_u32(head, pos + 8)
        else:
            tag, length = unpack_tag_length(head, pos)
            vr_bytes, header_size = b"", 8
        pos += header_size
        role = special.get(tag)
        if role is None:
            if length == UNDEFINED_LENGTH:
                pos = _sequence(head, pos, vr_bytes, explicit)
            else:
                pos += length
            continue
        if role == _ROLE_PIXELS:
            return _pixel_data(vr_bytes, explicit, pos, length, head, size)
        if role == _ROLE_REFUSED or length == UNDEFINED_LENGTH or tag in raw:
            raise Unsupported("needs pydicom: functional groups, palette, a repeated value...")
        if pos + length > end:
            raise NeedMore
        raw[tag] = (_value_vr(tag, vr_bytes, explicit), head[pos : pos + length])
        pos += length


def _sequence(head: bytes, pos: int, vr: bytes, explicit: bool) -> int:
    """Past an undefined-length top-level sequence."""
    if explicit and vr != b"SQ":
        raise Unsupported("undefined length outside a sequence")
    return _skip_items(head, pos, explicit, 1)


def _pixel_data(
    vr: bytes, explicit: bool, pos: int, length: int, head: bytes, size: int
) -> tuple[int, int | None]:
    """(value offset, length or None when encapsulated) of the pixel data, checked to end the
    file."""
    if explicit and vr not in (b"OB", b"OW"):
        raise Unsupported("pixel data VR")
    if length == UNDEFINED_LENGTH:
        _check_fragments(head, pos, size)
        return pos, None
    if pos + length > size:
        raise Unsupported("truncated inside the pixel data")
    if pos + length != size:
        raise Unsupported("elements after the pixel data")
    return pos, length


def _value_vr(tag: int, vr_bytes: bytes, explicit: bool) -> str:
    """The VR to convert a wanted value with: the file's own, if it is the dictionary's."""
    expected = _WANTED[tag][1]
    if not explicit:
        return expected
    vr = vr_bytes.decode()
    if vr != expected and not (vr in ("US", "SS") and "or" in expected):
        raise Unsupported("unexpected VR")
    return vr


def _skip_items(head: bytes, pos: int, explicit: bool, depth: int) -> int:
    """Past the items of an undefined-length sequence; returns where its delimiter ends."""
    if depth > _MAX_DEPTH:
        raise Unsupported("sequences nested too deeply")
    end = len(head)
    while True:
        if pos + 8 > end:
            raise NeedMore
        tag, length = _TAG_LENGTH.unpack_from(head, pos)
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise Unsupported("not an item")
        if length != UNDEFINED_LENGTH:
            pos += length
            continue
        while True:  # an undefined-length item: elements up to its delimiter
            if pos + 8 > end:
                raise NeedMore
            tag, length = _TAG_LENGTH.unpack_from(head, pos)
            if tag == _ITEM_END:
                pos += 8
                break
            pos = _skip_element(head, pos, explicit, depth)


def _explicit_element(head: bytes, pos: int) -> tuple[int, bytes, int, int]:
    """(tag, VR, length, where the value starts) of an explicit VR element header.

    The same steps as the hot loop in _body, which inlines them for speed."""
    if pos + 12 > len(head):
        raise NeedMore
    tag, vr, length = _HEAD.unpack_from(head, pos)
    if vr in _LONG_VRS:
        (length,) = _U32.unpack_from(head, pos + 8)
        return tag, vr, length, pos + 12
    if vr in _VRS:
        return tag, vr, length, pos + 8
    raise Unsupported("unknown VR")


def _skip_element(head: bytes, pos: int, explicit: bool, depth: int) -> int:
    if explicit:
        _tag, vr, length, pos = _explicit_element(head, pos)
        if length == UNDEFINED_LENGTH and vr != b"SQ":
            raise Unsupported("undefined length outside a sequence")
    else:
        _tag, length = _TAG_LENGTH.unpack_from(head, pos)
        pos += 8
    if length == UNDEFINED_LENGTH:
        return _skip_items(head, pos, explicit, depth + 1)
    return pos + length


def _check_fragments(head: bytes, pos: int, size: int) -> None:
    """Encapsulated pixel data: items up to its delimiter, which must end the file."""
    if len(head) < size:
        raise NeedMore  # fragments are checked against the whole file
    end = len(head)
    while pos + 8 <= end:
        tag, length = _TAG_LENGTH.unpack_from(head, pos)
        pos += 8
        if tag == _SEQUENCE_END:
            if pos != end:
                raise Unsupported("elements after the pixel data")
            return
        if tag != _ITEM or length == UNDEFINED_LENGTH or pos + length > end:
            raise Unsupported("damaged fragments")
        pos += length
    raise Unsupported("pixel data without its delimiter (truncated)")


def _convert(raw: dict[int, tuple[str, bytes]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    pending = []
    for tag, (vr, data) in raw.items():
        keyword = _WANTED[tag][0]
        if "or" in vr or (vr in _CHARSET_VRS and _NOT_PLAIN_TEXT.search(data.rstrip(b"\0"))):
            pending.append((keyword, vr, data))  # needs a value read later in the file
            continue
        values[keyword] = _value(vr, data)
    for keyword, vr, data in pending:
        if "or" in vr:  # implicit VR PixelPaddingValue: US or SS by PixelRepresentation
            signed = values.get("PixelRepresentation") == 1
            values[keyword] = _value("SS" if signed else "US", data)
        else:
            values[keyword] = _international(vr, data, values.get("SpecificCharacterSet"))
    return values


_NOT_PLAIN_TEXT = re.compile(rb"[^\x20-\x7e]")
_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}
_CHARSET_VRS = frozenset(("LO", "LT", "SH", "ST", "UC"))
"""Text whose bytes depend on SpecificCharacterSet (PS3.5 6.1.2.3); the rest is ASCII."""


def _value(vr: str, data: bytes) -> Any:
    """pydicom's value for these VRs: one value or a list; None or '' when empty.

    Text is trimmed as pydicom trims it: trailing spaces and nulls only (leading spaces stay).
    """
    if vr == "DS" or vr == "IS":
        return _numbers(data, float if vr == "DS" else int)
    if vr in _BINARY:
        code = _BINARY[vr]
        count, left = divmod(len(data), struct.calcsize(code))
        if left:
            raise Unsupported("binary value of odd length")
        items = struct.unpack(f"<{count}{code}", data)
        return None if not items else items[0] if count == 1 else list(items)
    if vr in ("OB", "OW", "OV"):
        return data or None
    if vr not in _TEXT_VRS:
        raise Unsupported(f"VR {vr}")
    if vr == "LT" or vr == "ST":  # one value, backslashes included
        return _ascii(data).rstrip("\0 ")
    if vr in _CHARSET_VRS:  # each value trimmed
        parts = [part.rstrip("\0 ") for part in _ascii(data).split("\\")]
    else:  # the whole trimmed, then split
        parts = _ascii(data).rstrip("\0 ").split("\\")
    return parts[0] if len(parts) == 1 else parts


def _international(vr: str, data: bytes, charsets: Any) -> Any:
    """Text in the file's character sets, decoded by pydicom's own functions (so the values are
    pydicom's); a character set pydicom would warn about sends the file to pydicom."""
    from pydicom.charset import convert_encodings
    from pydicom.values import convert_single_string, convert_text

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            encodings = convert_encodings(charsets)
            if vr == "LT" or vr == "ST":
                return convert_single_string(data, encodings)
            value = convert_text(data, encodings)
        except Exception as exc:  # unknown character set, bytes that do not decode, warnings
            raise Unsupported(f"text in character set {charsets!r}") from exc
    return value if isinstance(value, str) else list(value)


def _numbers(data: bytes, kind: type[float] | type[int]) -> Any:
    """DS and IS: numbers as text, several separated by backslashes."""
    text = _ascii(data).rstrip("\0 ")
    if "_" in text:
        raise Unsupported("number with underscores")  # Python reads them, DICOM does not
    try:
        if "\\" not in text:
            return kind(text) if text.strip() else None
        return [kind(part) for part in text.split("\\")]
    except ValueError:
        raise Unsupported("number that does not read") from None


def _ascii(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise Unsupported("non-ASCII text") from None
