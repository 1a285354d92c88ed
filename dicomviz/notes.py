"""Notes about a series: the exact sentence for the command line, plain words for the page.

A Note is a ``str`` (the technical sentence, as ``info`` prints it and as tests read it) that
also carries a machine-readable ``kind`` and a ``plain`` sentence saying what it means for what
a person sees, with the numbers. Being a str, a Note goes wherever a warning string went.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal[
    "split",
    "4d",
    "no-uid",
    "orientation",
    "pixel-spacing",
    "order",
    "gaps",
    "tilt",
    "oblique",
    "rescale",
    "mosaic",
    "decode",
    "colour",
    "other",
]


class Note(str):
    """A warning sentence with its kind and a plain-words version."""

    kind: Kind
    plain: str

    def __new__(cls, text: str, kind: Kind = "other", plain: str = "") -> Note:
        note = super().__new__(cls, text)
        note.kind = kind
        note.plain = plain or text
        return note

    def __reduce__(self) -> tuple:
        return (Note, (str(self), self.kind, self.plain))


def kind_of(warning: str) -> Kind:
    return warning.kind if isinstance(warning, Note) else "other"


def plain_of(warning: str) -> str:
    return warning.plain if isinstance(warning, Note) else warning
