"""DICOM PS3.15 Table E.1-1, the basic application level confidentiality profile, as data.

The table ships as ``data/basic_profile.csv``: every row of the standard's edition
(:attr:`Profile.edition`), made from the standard's DocBook source by
``tools/build_basic_profile.py``. Nothing is fetched at run time. :func:`profile` reads it once
and tells, for any tag, the row that governs it: the tag's own row, a repeating group such as
``(60xx,4000)``, or the private-attributes row for odd groups.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

KEEP = "K"
CLEAN_DESCRIPTORS = "Clean Desc. Opt."
PATIENT_CHARACTERISTICS = "Rtn. Pat. Chars. Opt."
_PRIVATE_ROW = "(gggg,eeee) where gggg is odd"
_FIRST_OPTION = 5  # columns before it: name, tag, retired, in a standard IOD, basic profile


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1: ``action`` is its "Basic Prof." code (``X``, ``Z``, ``D``,
    ``U``, ``X/Z/D``, ``X/Z/U*`` ...); ``options`` holds the option columns that have a code."""

    name: str
    tag: str
    action: str
    options: Mapping[str, str]

    @property
    def keeps(self) -> bool:
        return self.action == KEEP


@dataclass(frozen=True)
class Profile:
    """Table E.1-1 indexed by tag."""

    edition: str
    rules: tuple[Rule, ...]
    exact: Mapping[int, Rule]
    masked: tuple[tuple[int, int, Rule], ...]  # (mask, value, rule): tag & mask == value
    private: Rule | None

    def rule(self, tag: int) -> Rule | None:
        """The row for ``tag``, or None when the table does not list it (the profile keeps it).

        A tag's own row wins over a repeating group; any element of an odd group falls under
        the private-attributes row.
        """
        found = self.exact.get(tag)
        if found is not None:
            return found
        for mask, value, rule in self.masked:
            if tag & mask == value:
                return rule
        return self.private if (tag >> 16) & 1 else None


@functools.cache
def profile() -> Profile:
    """The table shipped with the package, read on first use."""
    text = resources.files("dicomviz.tables").joinpath("data/basic_profile.csv").read_text("utf-8")
    return parse_profile(text)


def parse_profile(text: str) -> Profile:
    """Read the CSV written by ``tools/build_basic_profile.py`` (``#`` lines: provenance)."""
    edition = re.search(r"^# DICOM PS3\.15 (\d{4}[a-z])\b", text)
    reader = csv.reader(line for line in text.splitlines() if not line.startswith("#"))
    head = next(reader)
    rules = tuple(
        Rule(row[0], row[1], row[4], MappingProxyType(_options(head, row))) for row in reader
    )
    exact: dict[int, Rule] = {}
    masked: list[tuple[int, int, Rule]] = []
    private = None
    for rule in rules:
        if rule.tag == _PRIVATE_ROW:
            private = rule
            continue
        digits = rule.tag.strip("()").replace(",", "")
        if "x" in digits:
            mask = int("".join("0" if c == "x" else "F" for c in digits), 16)
            masked.append((mask, int(digits.replace("x", "0"), 16), rule))
        else:
            exact[int(digits, 16)] = rule
    return Profile(
        edition.group(1) if edition else "unknown",
        rules,
        MappingProxyType(exact),
        tuple(masked),
        private,
    )


def _options(head: list[str], row: list[str]) -> dict[str, str]:
    pairs = list(zip(head, row, strict=True))[_FIRST_OPTION:]
    return {name: code for name, code in pairs if code}
