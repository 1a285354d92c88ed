"""Hide patient identifiers wherever header values are shown or downloaded: DICOM PS3.15
Annex E, the basic application level confidentiality profile (:mod:`dicomviz.basic_profile`).

With identifiers hidden, a header table shows ``(hidden)`` as the value of

- every element the profile does not keep: any action but K in Table E.1-1 (D, Z, X, U and
  their combinations), at any depth, repeating groups such as ``(60xx,4000)`` included;
- every private element (odd group), except the private creator rows that name a block;
- everything nested in a sequence that is itself hidden.

The rows stay, so a user still sees that an element is there. Kept text, and the descriptions
a viewer needs to tell series apart (:data:`READABLE_DESCRIPTORS`), are shown *cleaned*: each
identifier the header holds (names and their parts, IDs, dates in the usual spellings,
institution, station, addresses, UIDs, ...) becomes ``(hidden)`` inside the text.

Cleaning can only remove what the header itself names; a stranger's name typed into a comment
stays. That is why the patient's narrative (history, comments, diagnoses, reasons for the
study) is hidden whole, as the basic profile says, rather than cleaned.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.multival import MultiValue

from dicomviz.tables.basic_profile import CLEAN_DESCRIPTORS, PATIENT_CHARACTERISTICS, profile

REDACTED = "(hidden)"

# Removed by the basic profile (X or X/D) but listed for the Clean Descriptors Option (C): they
# say what was acquired and how, which a viewer needs to pick and read a series, and they come
# from protocol templates and technologists, not from the patient's story. Shown cleaned.
READABLE_DESCRIPTORS: frozenset[int] = frozenset(
    tag_for_keyword(keyword) or 0
    for keyword in (
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "PerformedProcedureStepDescription",
        "ImageComments",
        "FrameComments",
        "AcquisitionDeviceProcessingDescription",
        "AcquisitionProtocolDescription",
        "ContrastBolusAgent",
        "DerivationDescription",
    )
)
# File meta elements that Table E.1-1 (written for the data set) does not list: the AE titles
# name stations, as Station AE Title (0008,0055) does (X); Private Information is private data.
_ALSO_HIDDEN = frozenset({0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102})

_TEXT_VRS = frozenset({"AE", "LO", "LT", "SH", "ST", "UC", "UR", "UT"})
_DATE_VRS = frozenset({"DA", "DT"})
# Values never cleaned: numbers (an ID "512" must not blank Rows), binary summaries, tags, and
# UIDs (kept ones are registered class and syntax UIDs; instance UIDs are U, hence hidden).
_UNCLEANED_VRS = frozenset(
    {"DS", "IS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT", "SQ", "UI"}
    | {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
)
_SPLIT_LINES = re.compile(r"[\x00-\x1f\x7f\\↵\ufffd]+")  # line breaks, controls, value separator
_SPLIT_PARTS = re.compile(r"\s*[,;]\s*")
_LONGEST = 200  # identifiers are looked for by their first 200 characters, as tables clip them
_CUT = re.compile(r"… \(\d+ (?:chars|values)\)")  # how headers.py marks a clipped value
_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July", "August"),
    *("September", "October", "November", "December"),
)


def redact_table(table: pd.DataFrame, *, identifiers: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of a :func:`~dicomviz.tables.headers.header_table` or
    :func:`~dicomviz.tables.headers.varying_elements` table with identifiers hidden (module
    docstring).

    Text is cleaned of ``identifiers`` (give :func:`identifiers_of` the datasets shown) and of
    those read from the table's own hidden rows, which a clipped or summarised table may not
    hold in full.
    """
    columns = [c for c in ("value", "range") if c in table]
    if table.empty or "tag" not in table or not columns:
        return table
    codes, uniques = pd.factorize(table["tag"].astype(str))
    tags = np.array([_tag_number(text) for text in uniques], dtype=np.int64)[codes]
    hidden = _per_unique(tags, _hides)
    if "path" in table:
        hidden |= _per_unique(table["path"].astype(str).to_numpy(), _path_hidden)
    vrs = table["VR"].astype(str).to_numpy() if "VR" in table else np.full(len(table), "")
    given = {identifiers} if isinstance(identifiers, str) else identifiers
    own = _table_identifiers(table, tags, vrs, columns)
    out = table.copy()
    out.loc[hidden, columns] = REDACTED
    if isinstance(given, Identifiers) and own <= given:
        pattern, cut = given.matcher
    else:
        pattern, cut = _matcher(set(given) | own)
    if pattern is None:
        return out
    for column in columns:
        text = out[column].astype(str)
        cleaned = ~hidden & (~np.isin(vrs, list(_UNCLEANED_VRS)) | text.str.startswith("<unread"))
        out.loc[cleaned, column] = _clean(text[cleaned], pattern, cut)
    if "private_creator" in out:
        creators = out["private_creator"].astype(str)
        named = creators != ""
        out.loc[named, "private_creator"] = _clean(creators[named], pattern, cut)
    return out


def clean_text(text: str, identifiers: Iterable[str]) -> str:
    """``text`` with every identifier in it replaced by "(hidden)" (e.g. a study description
    shown in a picker)."""
    pattern = _pattern(identifiers)
    return text if pattern is None else pattern.sub(REDACTED, text)


def identifiers_of(*datasets: Dataset, max_depth: int = 16) -> frozenset[str]:
    """Every identifying string the datasets hold, for cleaning text (see :func:`redact_table`).

    Walks sequences (as deep as header tables show them), never private elements. Values that
    cannot be read are passed over: their rows are hidden anyway.
    """
    values: set[tuple[str, str]] = set()  # (VR, text): a series repeats its dates and names
    for ds in datasets:
        stack = [(ds, 0)]
        while stack:
            current, depth = stack.pop()
            for tag in list(current.keys()):
                if (tag >> 16) & 1:
                    continue
                raw = current.get_item(tag, keep_deferred=True)
                vr = raw.VR if raw.VR not in (None, "UN") else _dictionary_vr(tag)
                if vr == "SQ" and depth < max_depth:
                    items = _value(current, tag) or []
                    stack.extend((item, depth + 1) for item in items if isinstance(item, Dataset))
                elif vr != "SQ" and is_identifier_source(tag, vr):
                    values.update((vr, text) for text in _texts(_value(current, tag)))
    return Identifiers(frozenset().union(*(_pieces(vr, text) for vr, text in values)))


def is_identifier_source(tag: int, vr: str) -> bool:
    """Whether an element's value identifies someone: any person name (PN), and the IDs,
    names, addresses, dates and UIDs of the profile's non-kept elements.

    Not descriptors (cleaned or hidden themselves), nor patient characteristics such as sex,
    age or ethnic group, whose common values would blank unrelated text, nor private elements.
    """
    if (tag >> 16) & 1:
        return False
    if vr == "PN":
        return True
    rule = profile().rule(tag)
    if (
        rule is None
        or rule.keeps
        or rule.options.keys() & {CLEAN_DESCRIPTORS, PATIENT_CHARACTERISTICS}
    ):
        return False
    return vr in _TEXT_VRS or vr in _DATE_VRS or vr == "UI"


def pieces(vr: str, texts: Iterable[str]) -> set[str]:
    """The strings to look for in other text, from one element's values: each line and each
    comma-separated part; a name's components of 2+ letters; a date in its usual spellings."""
    return set().union(*(_pieces(vr, text) for text in set(texts)))


def _pieces(vr: str, text: str) -> set[str]:
    # No cache here: a process-wide one would keep visitors' identifiers after they leave.
    found: set[str] = set()
    for line in _SPLIT_LINES.split(text):
        line = " ".join(line.split())
        if vr == "PN":
            found |= _name_pieces(line)
            continue
        # A date-time by its date: the times of a thousand frames are not worth looking for.
        parts = _date_spellings(line[:8]) if vr in _DATE_VRS else {line, *_SPLIT_PARTS.split(line)}
        found.update(p for p in parts if len(p) >= 3 and any(c.isalnum() for c in p))
    return found


def _name_pieces(name: str) -> set[str]:
    """The whole name, each of its groups (alphabetic, ideographic, phonetic), and the family,
    given and middle names and their words; prefixes and suffixes (Dr, Jr) identify no one."""
    found = {name}
    for group in name.split("="):
        parts = [part.strip() for part in group.split("^")]
        found |= {group, " ".join(part for part in parts if part)}
        for part in parts[:3]:
            found.update([part, *part.split()] if sum(c.isalpha() for c in part) >= 2 else [])
    return {p for p in found if (len(p) >= 3 and any(c.isalnum() for c in p)) or _short_name(p)}


def _short_name(text: str) -> bool:
    return len(text) == 2 and text.isalpha()


def _date_spellings(text: str) -> set[str]:
    """``19700101`` as 1970-01-01, 01.01.1970, 1/1/70, 1 Jan 1970, January 1, 1970, ..."""
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return {text}
    year = f"{day.year:04d}"
    days, months = {f"{day.day:02d}", str(day.day)}, {f"{day.month:02d}", str(day.month)}
    found = {text, f"{year}{day.month:02d}{day.day:02d}"}
    for d in days:
        for m in months:
            for sep in "-./ ":
                found |= {f"{year}{sep}{m}{sep}{d}", f"{d}{sep}{m}{sep}{year}"}
                found |= {f"{m}{sep}{d}{sep}{year}", f"{d}{sep}{m}{sep}{year[2:]}"}
                found.add(f"{m}{sep}{d}{sep}{year[2:]}")
        for month in (_MONTHS[day.month - 1], _MONTHS[day.month - 1][:3]):
            found |= {f"{d} {month} {year}", f"{month} {d}, {year}", f"{month} {d} {year}"}
            found |= {f"{d}-{month}-{year}", f"{d}{month}{year}"}
    return found


class Identifiers(frozenset):
    """What :func:`identifiers_of` finds, with its regex made once: a series' identifiers cover
    each of its tables' own, so the next table of the series reuses it (building it takes tens
    of ms for a few hundred names, dates and UIDs). It lives as long as the set, no longer."""

    @functools.cached_property
    def matcher(self) -> tuple[re.Pattern[str] | None, _Beginnings]:
        return _matcher(self)


def _matcher(identifiers: Iterable[str]) -> tuple[re.Pattern[str] | None, _Beginnings]:
    return _pattern(identifiers), _Beginnings.of(identifiers)


def _pattern(identifiers: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for all identifiers, preferring the longest (a whole name
    before its parts). Digits may not run on (the ID 1234 is not in 51234); a 2-letter name
    part must stand alone; any other text matches wherever it occurs, even inside a word.

    The identifiers are merged into a trie, so the regex reads each character once instead of
    trying hundreds of alternatives (date spellings share most of their prefixes).
    """
    words = {" ".join(text.split()).lower()[:_LONGEST].strip() for text in identifiers}
    trie: dict[str, Any] = {}
    for word in {word for word in words if len(word) > 1}:
        if not _short_name(word):
            node = trie
            for char in word:
                node = node.setdefault(char, {})
            node[""] = {}  # a word ends here
    short = sorted(word for word in words if _short_name(word))
    parts = [_trie_regex(trie, "")] if trie else []
    if short:
        names = "|".join(map(re.escape, short))
        parts.append(rf"(?:{names})(?<![^\W\d_]..)(?![^\W\d_])")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _trie_regex(node: dict[str, Any], char: str) -> str:
    """The regex for the words below ``node``, reached by ``char`` ("" at the root)."""
    branches = []
    for following, child in sorted(node.items()):
        if following:
            step = r"\s+" if following == " " else re.escape(following)
            if not char and following.isdigit():
                step += r"(?<!\d.)"  # no digit before the first: as (?<!\d) in front, but the
                # regex then starts with literals, which lets re skip to where one occurs
            branches.append(step + _trie_regex(child, following))
    if "" in node:  # a word may end here, after any longer one failed (regex backtracking)
        branches.append(r"(?!\d)" if char.isdigit() else "")
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


class _Beginnings(NamedTuple):
    """The beginnings (2 characters or more, not whole) of the identifiers, casefolded, and
    every pair of characters in them: a clipped value can only end inside an identifier with
    one such pair, which rules out almost every value at once."""

    beginnings: frozenset[str]
    pairs: frozenset[str]
    longest: int

    @classmethod
    def of(cls, identifiers: Iterable[str]) -> _Beginnings:
        folded = {" ".join(text.split()).casefold()[:_LONGEST] for text in identifiers}
        beginnings = frozenset(t[:size] for t in folded for size in range(2, len(t)))
        pairs = frozenset(t[i : i + 2] for t in folded for i in range(len(t) - 1))
        return cls(beginnings, pairs, max(map(len, beginnings), default=0))


def _clean(text: pd.Series, pattern: re.Pattern[str], cut: _Beginnings) -> pd.Series:
    cleaned = text.str.replace(pattern, REDACTED, regex=True)
    clipped = cleaned.str.contains("… (", regex=False)
    if clipped.any():
        cleaned[clipped] = [_hide_cut_tail(value, cut) for value in cleaned[clipped]]
    return cleaned


def _hide_cut_tail(text: str, cut: _Beginnings) -> str:
    """A value clipped for display may end inside an identifier: hide that beginning too."""
    for match in reversed(list(_CUT.finditer(text))):
        end = match.start()
        if text[end - 2 : end].casefold() not in cut.pairs:
            continue
        for size in range(min(cut.longest, end), 1, -1):  # the longest beginning first
            if text[end - size : end].casefold() in cut.beginnings:
                text = text[: end - size] + REDACTED + text[end:]
                break
    return text


def _table_identifiers(
    table: pd.DataFrame, tags: np.ndarray, vrs: np.ndarray, columns: list[str]
) -> set[str]:
    """Identifiers read from the table's own source rows (summaries in ``<...>`` skipped)."""
    sources = np.zeros(len(table), dtype=bool)
    for vr in np.unique(vrs):  # a few VRs; tags repeat across items and frames
        rows = vrs == vr
        sources[rows] = _per_unique(tags[rows], functools.partial(is_identifier_source, vr=vr))
    values = {
        (str(vr), _CUT.sub("", str(value)))
        for column in columns
        for vr, value in zip(vrs[sources], table[column].to_numpy()[sources], strict=True)
    }
    found: set[str] = set()
    for vr, text in values:
        if text != REDACTED and not text.startswith("<"):  # not hidden already, nor a summary
            texts = re.split(r", | … ", text.removeprefix("[").removesuffix("]"))
            found |= pieces(vr, [t for t in texts if t not in ("(absent)", "(empty)", "…")])
    return found


def _per_unique(values: np.ndarray, judge: Any) -> np.ndarray:
    """``judge`` of every value, computed once per distinct value (tables repeat them)."""
    codes, uniques = pd.factorize(values)
    return np.array([bool(judge(value)) for value in uniques], dtype=bool)[codes]


def _hides(tag: int) -> bool:
    """Whether a value under this tag is hidden (not cleaned)."""
    if tag < 0:
        return False
    if tag in _ALSO_HIDDEN:
        return True
    if (tag >> 16) & 1:
        return not 0x0010 <= tag & 0xFFFF <= 0x00FF  # private creators name a block: shown
    rule = profile().rule(tag)
    return rule is not None and not rule.keeps and tag not in READABLE_DESCRIPTORS


def _path_hidden(path: str) -> bool:
    """Whether a row sits inside a hidden sequence: ``A[0].(0029,1010)[2]`` names each one."""
    for part in path.split(".") if path else ():
        name = part.split("[", 1)[0]
        tag = _tag_number(name) if name.startswith("(") else tag_for_keyword(name)
        if tag is not None and tag >= 0 and _hides(tag):
            return True
    return False


def _tag_number(text: str) -> int:
    """``(0010,0010)`` as a number; -1 for anything else (e.g. a marker row's empty tag)."""
    digits = text.strip("()").replace(",", "")
    try:
        return int(digits, 16) if len(digits) == 8 else -1
    except ValueError:
        return -1


def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _value(ds: Dataset, tag: int) -> Any:
    try:
        return ds[tag].value
    except Exception:  # a broken value: its row is hidden or unreadable, never a source
        return None


def _texts(value: Any) -> list[str]:
    if value is None or isinstance(value, bytes | bytearray):
        return []
    values = value if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v) for v in values if v is not None and str(v)]
