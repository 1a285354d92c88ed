"""A frame that cannot be decoded leaves its slice blank, and says which frame it was.

"Blank" is checked, not assumed: the slice holds the volume's lowest value (the lowest of the
slices that did decode), every other slice holds exactly what its file stores, and a note of
kind "decode" names the file (and the frame, in a multi-frame file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless
from synth import Marker, make_series, undecodable

import dicomviz
from dicomviz.notes import kind_of

# 5 slices of 6 x 5, background 50, a marker of 7 in slice 0 (the lowest value of the volume)
# and one of 900 in slice 3; RLE, so that one frame's codestream can be damaged.
SERIES = dict(
    slices=5,
    rows=6,
    columns=5,
    background=50,
    markers=[Marker((-12.0, -16.0, -20.0), 7), Marker((-10.0, -13.0, -14.0), 900)],
    transfer_syntax=RLELossless,
)


def _decode_notes(volume: dicomviz.Volume) -> list[str]:
    return [w for w in volume.warnings if kind_of(w) == "decode"]


def test_an_undecodable_slice_is_blank_at_the_lowest_value_and_named() -> None:
    files = make_series(**SERIES)
    intact = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    expected = intact.array
    assert expected.min() == 7 and not _decode_notes(intact)
    files[2] = (files[2][0], undecodable(files[2][1]))  # IM0003: slice 2 in space
    stack = dicomviz.load(files).stacks[0]
    volume = dicomviz.build_volume(stack)
    assert [f.name for f in stack.frames][2] == "IM0003"
    assert (volume.array[2] == 7).all()  # blank: the volume's lowest value, everywhere
    assert volume.array.min() == 7
    for k in (0, 1, 3, 4):
        np.testing.assert_array_equal(volume.array[k], expected[k])
    (note,) = _decode_notes(volume)
    assert note.startswith("IM0003: pixel data could not be decoded (")
    assert "its slice is left blank" in note and "(IM0003)" in note.plain


def test_a_bad_frame_of_a_multiframe_file_is_named_with_its_frame_number() -> None:
    ((name, data),) = make_series(**SERIES, enhanced=True, names="enhanced.dcm")
    expected = dicomviz.build_volume(dicomviz.load([(name, data)]).stacks[0]).array
    stack = dicomviz.load([(name, undecodable(data, frame=4))]).stacks[0]
    volume = dicomviz.build_volume(stack)
    (note,) = _decode_notes(volume)
    assert note.startswith("enhanced.dcm [frame 5]: pixel data could not be decoded (")
    k = [f.index for f in stack.frames].index(4)  # where stored frame 5 lies in space
    assert (volume.array[k] == expected.min()).all()
    others = [i for i in range(5) if i != k]
    np.testing.assert_array_equal(volume.array[others], expected[others])


def test_when_no_slice_decodes_the_volume_is_zero_and_every_frame_is_named() -> None:
    files = [(name, undecodable(data)) for name, data in make_series(**SERIES)]
    volume = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    assert (volume.array == 0).all()
    notes = _decode_notes(volume)
    assert [n.split(":")[0] for n in notes] == [f"IM{k:04d}" for k in range(1, 6)]


def test_a_real_lossy_jpeg_that_cannot_be_decoded_is_blank_and_named() -> None:
    """pydicom's JPEG-lossy.dcm (12-bit lossy JPEG: no installed decoder reads it). Its one
    slice has no decoded neighbour to take a lowest value from: it is all zero."""
    path = Path(get_testdata_file("JPEG-lossy.dcm"))
    volume = dicomviz.build_volume(dicomviz.load([path]).stacks[0])
    (note,) = _decode_notes(volume)
    assert f"{path.name}: pixel data could not be decoded (" in note
    assert volume.shape[0] == 1 and (volume.array == 0).all()
