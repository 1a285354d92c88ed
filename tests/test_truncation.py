"""Finding where a DICOM file was cut short, from what pydicom managed to read of it.

Each file is a synthetic image cut at a known byte, so the message's numbers are checked against
offsets worked out here from the file's own layout.
"""

from __future__ import annotations

import io
import struct

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless
from synth import make_series

from dicomviz.io.tags import element_name
from dicomviz.io.truncation import meta_truncation, truncation

ROWS, COLUMNS = 4, 3
PIXEL_BYTES = ROWS * COLUMNS * 2


def _file(**kwargs: object) -> bytes:
    ((_, data),) = make_series(slices=1, rows=ROWS, columns=COLUMNS, **kwargs)
    return data


def _read(data: bytes) -> pydicom.Dataset:
    """As the reader parses a file: forced, large values left in the bytes."""
    return pydicom.dcmread(io.BytesIO(data), force=True, defer_size=4096)


def _meta_end(data: bytes) -> int:
    """End of the file meta: preamble, DICM, (0002,0000) element, then its group length."""
    (length,) = struct.unpack_from("<I", data, 132 + 8)
    return 132 + 12 + length


def _pixel_value_start(data: bytes) -> int:
    return _read(data)._dict[0x7FE00010].value_tell


def test_a_whole_file_is_not_truncated() -> None:
    data = _file()
    assert truncation(_read(data), data) is None
    assert meta_truncation(data) is None


@pytest.mark.parametrize("missing", [1, 5, PIXEL_BYTES])
def test_a_cut_in_the_pixel_data_says_how_many_bytes_are_there(missing: int) -> None:
    data = _file()
    assert len(data) == _pixel_value_start(data) + PIXEL_BYTES  # pixel data comes last
    cut = data[:-missing]
    present = PIXEL_BYTES - missing
    assert truncation(_read(cut), cut) == (
        f"the file is truncated: it ends inside (7FE0,0010) Pixel Data "
        f"({present} of {PIXEL_BYTES} bytes present)"
    )


@pytest.mark.parametrize("into_tag", [1, 3, 7])
def test_a_cut_inside_an_elements_tag_names_the_element_before(into_tag: int) -> None:
    data = _file()
    header_start = _pixel_value_start(data) - 12  # explicit VR OW: tag, VR, 2 reserved, length
    cut = data[: header_start + into_tag]
    ds = _read(cut)
    before = [tag for tag in ds._dict if tag < 0x7FE00010][-1]
    assert truncation(ds, cut) == (
        f"the file is truncated: it ends inside the tag of the element after {element_name(before)}"
    )
    assert element_name(before) == "(0028,1054) Rescale Type"  # the last element before pixels


@pytest.mark.parametrize("kept", [133, 140, 150, 300])
def test_a_cut_in_the_file_meta_says_how_long_it_should_be(kept: int) -> None:
    data = _file()
    cut = data[:kept]
    least = 144 if kept < 144 else _meta_end(data)  # the group length itself, once readable
    expected = (
        f"the file is truncated: it ends inside its file meta information "
        f"({kept} of at least {least} bytes)"
    )
    assert meta_truncation(cut) == expected
    if kept >= 144:
        assert truncation(_read(cut), cut) == expected


def test_compressed_pixel_data_without_its_end_marker_is_named() -> None:
    """pydicom keeps nothing of a top-level data set whose last, undefined-length value never
    meets its delimiter; the header before it still reads, so the cut is in the pixel data."""
    data = _file(transfer_syntax=RLELossless)
    cut = data[: _pixel_value_start(data) + 4]
    assert len(_read(cut)) == 0
    assert truncation(_read(cut), cut) == (
        "the file is truncated inside its compressed pixel data (the end-of-data marker is missing)"
    )


def test_deflated_files_are_not_judged_by_offsets() -> None:
    """Positions in a deflated data set refer to the inflated stream, not to the bytes."""
    data = _file(transfer_syntax=DeflatedExplicitVRLittleEndian)
    assert truncation(_read(data), data) is None


def test_meta_truncation_needs_a_group_length_to_judge() -> None:
    """A bare data set (no preamble, no meta group) has no stated length to fall short of."""
    assert meta_truncation(b"\x08\x00\x08\x00CS\x04\x00ORIG") is None


def test_element_names_for_messages() -> None:
    assert element_name(0x00081140) == "(0008,1140) Referenced Image Sequence"
    assert element_name(0x7FE00010) == "(7FE0,0010) Pixel Data"
    assert element_name(0x00091010) == "element (0009,1010)"  # private: no dictionary name
