"""Tag numbers and markers that more than one reader needs, defined once.

Transfer syntaxes and SOP classes are not repeated here: pydicom names them in ``pydicom.uid``
(``DeflatedExplicitVRLittleEndian``, ``MediaStorageDirectoryStorage``, ...).
"""

from __future__ import annotations

from pydicom.datadict import dictionary_description
from pydicom.tag import Tag

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_PIXEL_DATA = 0x7FE00009
ITEM = 0xFFFEE000
"""(FFFE,E000): an item of a sequence, or a fragment of encapsulated pixel data."""
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
"""The length of a value that runs to a delimiter (sequences, encapsulated pixel data)."""


def as_read(tag: int) -> int:
    """A tag as its four bytes in a little-endian file read as one integer (group, then
    element), so that readers can compare tags without unpacking them in two halves."""
    return (tag >> 16) | (tag & 0xFFFF) << 16


def element_name(tag: int) -> str:
    """``(0008,1140) Referenced Image Sequence`` style, for messages."""
    try:
        return f"{Tag(tag)} {dictionary_description(tag)}"
    except KeyError:
        return f"element {Tag(tag)}"
