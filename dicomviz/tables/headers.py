"""Header tables: every element of a dataset as rows, what varies across a series, and a filter.

Headers come from real scanners, so nothing here trusts them: a value pydicom cannot convert
becomes ``<unreadable: ...>`` text, bulk binary data is summarised by its size, and sequences
are walked with an explicit stack and cut off at a depth bound (pydicom's own recursion fails
near 1,000 levels). A table for one frame of an enhanced multi-frame file shows only that
frame's item of the per-frame functional groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
from pydicom import Dataset
from pydicom.datadict import dictionary_description, dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from dicomviz.errors import UsageError
from dicomviz.io.tags import DOUBLE_PIXEL_DATA, FLOAT_PIXEL_DATA, PIXEL_DATA, UNDEFINED_LENGTH

_ELEMENT_COLUMNS = ("tag", "keyword", "name", "VR", "value", "path", "depth", "private_creator")
HEADER_COLUMNS = (*_ELEMENT_COLUMNS, "per_frame")  # True inside a frame's functional groups
VARYING_COLUMNS = ("tag", "keyword", "name", "VR", "distinct", "range")
ABSENT = "(absent)"
PER_FRAME_TAG = 0x52009230  # PerFrameFunctionalGroupsSequence
SHARED_TAG = 0x52009229  # SharedFunctionalGroupsSequence

_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_NUMERIC_VRS = frozenset({"DS", "IS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
_ORDERED_TEXT_VRS = frozenset({"DA", "TM", "DT"})  # their text sorts chronologically
_PIXEL_TAGS = frozenset({FLOAT_PIXEL_DATA, DOUBLE_PIXEL_DATA, PIXEL_DATA})
_UNDEFINED_LENGTH = UNDEFINED_LENGTH
_HEX_PREVIEW_BYTES = 16
_EXAMPLES = 3
# Control characters would break a table cell; LT/ST/UT line breaks stay visible as a symbol.
_CLEAN = {i: "\ufffd" for i in (*range(32), 127)} | {9: " ", 10: "↵", 13: ""}

_Element = DataElement | RawDataElement
_Row = tuple[Any, ...]
_Lists = (MultiValue, list, tuple)


def header_table(
    ds: Dataset, *, frame: int | None = None, max_depth: int = 16, max_value_chars: int = 200
) -> pd.DataFrame:
    """Every element of ``ds`` as one row, file meta first, sequence items flattened in order.

    Never raises on odd values: an element pydicom cannot convert keeps its row, with the value
    ``<unreadable: reason>``. Deferred binary values are summarised from their length, not read.
    Items nested deeper than ``max_depth`` are replaced by one marker row (at depth
    ``max_depth + 1``), so a hostile file cannot exhaust the stack or the screen.

    ``frame`` (from 0, as ``Frame.index``) keeps only that item of PerFrameFunctionalGroupsSequence:
    96 items would bury the one frame looked at. Rows in per-frame items have ``per_frame`` True.
    A frame outside the file raises :class:`UsageError`.
    """
    if max_depth < 0 or max_value_chars < 1:
        raise UsageError(
            f"max_depth must be >= 0 and max_value_chars >= 1, not {max_depth} and "
            f"{max_value_chars}"
        )
    if frame is not None:  # both functional groups are read, so a deferred one is shown too
        check_frame(ds, frame)
        sequence_items(ds, SHARED_TAG)
    rows: list[_Row] = []
    for part in (getattr(ds, "file_meta", None), ds):
        if isinstance(part, Dataset):
            _walk(part, rows, max_depth, max_value_chars, frame if part is ds else None)
    types = {"depth": "int64", "per_frame": "bool"}
    return pd.DataFrame.from_records(rows, columns=HEADER_COLUMNS).astype(types)


def check_frame(ds: Dataset, frame: int) -> None:
    """Raise :class:`UsageError` unless ``frame`` is a frame index of ``ds`` (from 0)."""
    try:
        declared = int(ds.get("NumberOfFrames") or 1)
    except Exception:  # unreadable: the file still has one frame
        declared = 1
    count = max(declared, len(sequence_items(ds, PER_FRAME_TAG)), 1)
    if not 0 <= frame < count:
        raise UsageError(f"frame index {frame} is out of range: the file has {count} frame(s)")


def sequence_items(ds: Dataset, tag: int) -> Sequence[Any]:
    """A top-level sequence's items, read even if deferred; none if absent, unreadable or not a
    sequence (a damaged VR can turn one into text)."""
    try:
        elem = ds.get(tag)
    except Exception:  # unreadable: no usable items
        return []
    return elem.value if isinstance(elem, DataElement) and elem.VR == "SQ" and elem.value else []


def _walk(ds: Dataset, rows: list[_Row], max_depth: int, max_chars: int, frame: int | None) -> None:
    """Append rows for ``ds`` and its items depth-first, with an explicit stack (no recursion)."""
    stack: list[tuple[Iterator[BaseTag], Dataset, str, int, bool]] = [(_tags(ds), ds, "", 0, False)]
    while stack:
        tags, current, path, depth, per_frame = stack[-1]
        tag = next(tags, None)
        if tag is None:
            stack.pop()
            continue
        elem, value = _read(current, tag, max_chars)
        keyword, name, vr, creator = _describe(elem)
        items = list(elem.value or []) if isinstance(elem, DataElement) and vr == "SQ" else []
        shown = range(len(items))
        frames_row = depth == 0 and tag == PER_FRAME_TAG
        if frames_row and frame is not None and items:
            value, shown = _frame_label(len(items), frame), range(frame, min(frame + 1, len(items)))
        rows.append((str(tag), keyword, name, vr, value, path, depth, creator, per_frame))
        if not items:
            continue
        base = f"{path}.{keyword or tag}" if path else f"{keyword or tag}"
        inner = per_frame or frames_row
        if depth >= max_depth:
            marker = f"<nested deeper than {max_depth} levels, not shown>"
            rows.append(("", "", "", "", marker, f"{base}[*]", depth + 1, "", inner))
            continue
        for index in reversed(shown):  # reversed, so the first item is walked first
            if isinstance(items[index], Dataset):
                item = items[index]
                stack.append((_tags(item), item, f"{base}[{index}]", depth + 1, inner))


def _frame_label(count: int, frame: int) -> str:
    """Frames are named from 1, as DICOM numbers them; items by their index."""
    if frame >= count:
        return f"<{count} items; none for frame {frame + 1}>"
    return f"<{count} items; frame {frame + 1} shown (item [{frame}])>"


def _tags(ds: Dataset) -> Iterator[BaseTag]:
    return iter(sorted(ds.keys()))


def _read(ds: Dataset, tag: BaseTag, max_chars: int) -> tuple[_Element, str]:
    """The element as pydicom converts and charset-decodes it, with its value as text."""
    elem: _Element = ds.get_item(tag, keep_deferred=True)
    if isinstance(elem, RawDataElement) and elem.value is None and elem.length and _is_bulk(elem):
        label = "PixelData" if tag in _PIXEL_TAGS else elem.VR or _dictionary_vr(tag)
        if elem.length == _UNDEFINED_LENGTH:
            return elem, f"<{label}, encapsulated, not read>"
        return elem, f"<{label}, {elem.length} bytes, not read>"
    try:
        elem = ds[tag]
        return elem, _value_text(elem, max_chars)
    except Exception as exc:  # a broken value must not hide the rest of the header
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        reason = (text.splitlines() or [""])[0][:80]  # KeyError's own str() adds quotes
        return elem, f"<unreadable: {type(exc).__name__}{': ' if reason else ''}{reason}>"


def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _describe(elem: _Element) -> tuple[str, str, str, str]:
    """Keyword, name, VR and private creator; from the dictionary if conversion failed."""
    if isinstance(elem, DataElement):
        creator = elem.private_creator or ""
        if elem.tag.is_private_creator:  # pydicom leaves None on the creator element itself
            creator = str(elem.value or "")
        return elem.keyword, elem.name, str(elem.VR or ""), creator
    try:
        name = dictionary_description(elem.tag)
    except KeyError:
        name = "Private tag data" if BaseTag(elem.tag).is_private else ""
    return keyword_for_tag(elem.tag), name, str(elem.VR or _dictionary_vr(elem.tag)), ""


def _value_text(elem: DataElement, max_chars: int) -> str:
    """Readable text for one value: sequences by item count, bytes by size, long text clipped."""
    value = elem.value
    if elem.VR == "SQ":
        count = len(value or [])
        return f"<{count} item{'' if count == 1 else 's'}>"
    if elem.tag in _PIXEL_TAGS or elem.VR in _BINARY_VRS or isinstance(value, bytes | bytearray):
        return _bytes_text(elem, value)
    if value is None:
        return ""
    if isinstance(value, _Lists):
        return _list_text(value, elem.VR, max_chars)
    return _clip(_scalar_text(value, elem.VR), max_chars)


def _bytes_text(elem: DataElement, value: Any) -> str:
    label = "PixelData" if elem.tag in _PIXEL_TAGS else elem.VR
    if not isinstance(value, bytes | bytearray):
        return f"<{label}, {len(value or [])} values>"
    if elem.tag in _PIXEL_TAGS:
        extra = ", encapsulated" if elem.is_undefined_length else ""
        return f"<{label}, {len(value)} bytes{extra}>"
    if 0 < len(value) <= _HEX_PREVIEW_BYTES:  # e.g. FileMetaInformationVersion 00 01
        return f"<{label}, {len(value)} bytes: {value.hex(' ')}>"
    return f"<{label}, {len(value)} bytes>"


def _list_text(values: Sequence[Any], vr: str, max_chars: int) -> str:
    """``[a, b, c]``, formatting only as many values as can be shown (LUTs hold up to 65,536)."""
    parts: list[str] = []
    size = 0
    for value in values:
        if size > max_chars:
            return f"{('[' + ', '.join(parts))[:max_chars]}… ({len(values)} values)"
        parts.append(_scalar_text(value, vr))
        size += len(parts[-1]) + 2
    return _clip("[" + ", ".join(parts) + "]", max_chars)


def _scalar_text(value: Any, vr: str) -> str:
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if vr == "FL" and isinstance(value, float):
        return f"{value:.7g}"  # float32 widened to float64 would print 0.10000000149011612
    text = str(value).translate(_CLEAN)
    if isinstance(value, UID) and value.is_valid and value.name != text:
        return f"{text} ({value.name})"
    return text


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else f"{text[:max_chars]}… ({len(text)} chars)"


def varying_elements(
    datasets: Sequence[Dataset], *, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Top-level elements whose value differs across ``datasets`` (e.g. the slices of a series).

    Sequences and binary data (PixelData, OB/OW/UN...) are left out. An element missing from
    some datasets counts as varying, with ``(absent)`` as one of its values. ``names``, keywords
    such as ``"ImagePositionPatient"`` or tags such as ``"(0020,0032)"``, limits the elements
    looked at; an unknown one raises :class:`UsageError`.
    """
    wanted = None if names is None else {int(_parse_name(name)) for name in names}
    rows = []
    for tag in sorted(_candidates(datasets)):
        if wanted is not None and tag not in wanted:
            continue
        found = [(ds, ds.get_item(tag, keep_deferred=True)) for ds in datasets]
        entries = [(ds, elem) for ds, elem in found if elem is not None]
        if entries and not _is_bulk(entries[0][1]):
            row = _varying_row(tag, entries, len(datasets))
            rows.extend([row] if row else [])
    return pd.DataFrame.from_records(rows, columns=VARYING_COLUMNS).astype({"distinct": "int64"})


def _candidates(datasets: Sequence[Dataset]) -> set[int]:
    """Tags that may differ from the first dataset, found without converting any value.

    Comparing the unread bytes keeps a fresh 600-file series fast; the loop allocates no
    containers, since garbage collection over hundreds of headers doubled its time.
    """
    if not datasets:
        return set()
    first = {int(tag): elem for tag, elem in datasets[0].items()}
    charset = _charset(datasets[0])
    found: set[int] = set()
    for ds in datasets[1:]:
        same_charset = _charset(ds) == charset
        matched = 0
        for tag, elem in ds.items():
            key = int(tag)  # int keys: BaseTag.__eq__ is Python code, slow in dict lookups
            other = first.get(key)
            matched += other is not None
            if other is None or not same_charset or not _same_element(other, elem):
                found.add(key)
        if matched < len(first):
            found.update(first.keys() - set(map(int, ds.keys())))
    return found


def _charset(ds: Dataset) -> Any:
    return getattr(ds.get_item(0x00080005, keep_deferred=True), "value", None)


def _same_element(a: _Element, b: _Element) -> bool:
    """Same unread bytes, or same converted value; sequences are never compared (bulk)."""
    if a.VR == "SQ" or b.VR == "SQ":
        return False
    if isinstance(a, RawDataElement):
        return (
            isinstance(b, RawDataElement)
            and a.value is not None
            and a.value == b.value
            and a.VR == b.VR
            and a.is_little_endian == b.is_little_endian
        )
    return isinstance(b, DataElement) and a.VR == b.VR and _same(a.value, b.value)


def _is_bulk(elem: _Element) -> bool:
    """Sequences and binary data, judged without converting (implicit VR: from the dictionary)."""
    vr = elem.VR if elem.VR not in (None, "UN") else _dictionary_vr(elem.tag)
    return elem.tag in _PIXEL_TAGS or any(p in _BINARY_VRS or p == "SQ" for p in vr.split(" or "))


def _parse_name(name: str) -> BaseTag:
    """A keyword, or a tag written as ``(0020,0032)``, ``0020,0032`` or ``00200032``."""
    tag = tag_for_keyword(name.strip())
    if tag is not None:
        return Tag(tag)
    digits = name.strip().strip("()").replace(",", "").replace(" ", "")
    if len(digits) == 8 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return Tag(int(digits, 16))
    raise UsageError(
        f"{name!r} is not a DICOM keyword or tag; use e.g. 'ImagePositionPatient' or '(0020,0032)'"
    )


def _varying_row(tag: int, entries: list[tuple[Dataset, _Element]], total: int) -> _Row | None:
    values: list[Any] = []
    first, broken = entries[0][1], False
    for ds, elem in entries:
        try:
            converted = elem if isinstance(elem, DataElement) else ds[tag]
        except Exception as exc:  # one broken file must not hide what varies in the rest
            values.append(f"<unreadable: {type(exc).__name__}>")
            broken = True
            continue
        if _is_bulk(converted):  # e.g. a UN element that pydicom decoded as a sequence
            return None
        first = converted if isinstance(first, RawDataElement) else first
        values.append(converted.value)
    absent = total - len(values)
    if not absent and all(_same(value, values[0]) for value in values):
        return None
    texts = [_key(value) for value in values]
    distinct = len(set(texts)) + (1 if absent else 0)
    if distinct < 2:
        return None
    keyword, name, vr, _ = _describe(first)
    text = (not broken and _range_text(values, texts, vr)) or _examples(texts)
    return str(BaseTag(tag)), keyword, name, vr, distinct, f"{text}, {ABSENT}" if absent else text


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. an array someone assigned as a value
        return False


def _key(value: Any) -> str:
    """Comparable text for a value, multi-values as ``[a, b]``. DS and IS keep their file text,
    so ``1.0`` and ``1`` count as different values, as they are in the files."""
    if isinstance(value, _Lists):
        return "[" + ", ".join(_key(part) for part in value) + "]"
    return "" if value is None else str(value)


def _range_text(present: list[Any], texts: list[str], vr: str) -> str:
    """``min … max`` for numbers (per component for multi-values) and dates/times, else ""."""
    if vr in _ORDERED_TEXT_VRS and all(isinstance(v, str) and v for v in present):
        return f"{min(texts)} … {max(texts)}"
    columns = _numeric_columns(present) if vr in _NUMERIC_VRS else []
    spans = [f"{min(column)[1]} … {max(column)[1]}" for column in columns]
    if not spans:
        return ""
    return f"[{', '.join(spans)}]" if isinstance(present[0], _Lists) else spans[0]


def _numeric_columns(present: list[Any]) -> list[list[tuple[float, str]]]:
    """Per-component (number, file text) pairs; [] unless every value is numbers of one length
    (an invalid DS kept as text, an empty value or a changing multiplicity all give [])."""
    columns: list[list[tuple[float, str]]] = []
    for value in present:
        parts = list(value) if isinstance(value, _Lists) else [value]
        try:
            numbers = [(float(part), str(part)) for part in parts]
        except (TypeError, ValueError):
            return []
        columns = columns or [[] for _ in numbers]
        if not numbers or len(numbers) != len(columns):
            return []
        for column, number in zip(columns, numbers, strict=True):
            column.append(number)
    return columns


def _examples(texts: Iterable[str]) -> str:
    unique = list(dict.fromkeys(texts))
    shown = [_clip(text.translate(_CLEAN), 64) or "(empty)" for text in unique[:_EXAMPLES]]
    return ", ".join(shown) + (", …" if len(unique) > _EXAMPLES else "")


def filter_table(df: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows where any column contains ``text``: case-insensitive and literal, so ``(0010`` works."""
    needle = text.strip()
    if not needle:
        return df
    mask = pd.Series(False, index=df.index)
    for column in df.columns:
        if pd.api.types.is_bool_dtype(df[column]):  # "False" would match "a", "se", ...
            continue
        mask |= df[column].astype(str).str.contains(needle, case=False, regex=False)
    return df[mask]
