"""Decoding one frame's stored values: every encoding gives the same values, uncompressed data
is viewed without a copy, unused high bits are dropped, colour becomes luminance, and a
compressed frame whose own header disagrees with the DICOM header is refused before decoding.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.pixels
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import get_encoder
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)
from synth import Marker, make_rgb_file, make_series, make_slice_dataset, to_bytes, undecodable

from dicomviz.io.inputs import InputFile
from dicomviz.io.reading import read_dicom
from dicomviz.pixels.decode import (
    LUMA,
    decode,
    frame_dataset,
    frame_digest,
    frame_values,
    is_colour,
    read_stored_into,
    stored_range,
)
from dicomviz.series.frames import Frame, frames_of

RNG = np.random.default_rng(11)
PIXELS = RNG.integers(-1024, 3000, (32, 36), dtype=np.int16)  # JPEG 2000 needs 32 x 32 at least


def _frames(data: bytes, name: str = "IM0001") -> list[Frame]:
    return frames_of(read_dicom(InputFile(name, data)))


def _file(pixels: np.ndarray = PIXELS, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "position": (0.0, 0.0, 0.0),
        "row_cosine": (1.0, 0.0, 0.0),
        "col_cosine": (0.0, 1.0, 0.0),
        "pixel_spacing": (1.0, 1.0),
        "instance_number": 1,
        "series_uid": "1.2.826.0.1.3680043.8.498.8001",
    }
    return to_bytes(make_slice_dataset(pixels, **(arguments | changes)))


def _available(syntax: str) -> bool:
    return get_encoder(syntax).is_available


SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    pytest.param(
        JPEG2000Lossless,
        marks=pytest.mark.skipif(not _available(JPEG2000Lossless), reason="no J2K encoder"),
    ),
]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_every_encoding_gives_the_stored_values(syntax: str) -> None:
    (frame,) = _frames(_file(transfer_syntax=syntax))
    np.testing.assert_array_equal(frame_values(frame), PIXELS)


def test_the_digest_is_the_same_for_one_image_in_any_encoding() -> None:
    """A digest tells true duplicates apart: one image saved in several syntaxes is one image,
    and one changed pixel makes another."""
    digests = {frame_digest(_frames(_file(transfer_syntax=s))[0]) for s in
               (ExplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless)}  # fmt: skip
    assert len(digests) == 1 and None not in digests
    positive = np.abs(PIXELS)  # the same values stored signed and unsigned: the same image
    signed, unsigned = (_frames(_file(positive.astype(t)))[0] for t in (np.int16, np.uint16))
    assert frame_digest(signed) == frame_digest(unsigned)
    changed = PIXELS.copy()
    changed[5, 7] += 1
    assert frame_digest(_frames(_file(changed))[0]) != frame_digest(_frames(_file())[0])


def test_a_frame_that_cannot_be_decoded_has_no_digest() -> None:
    (frame,) = _frames(undecodable(_file(transfer_syntax=RLELossless)))
    assert frame_digest(frame) is None
    with pytest.raises(RuntimeError, match="Invalid segment offset"):
        frame_values(frame)


def test_uncompressed_values_are_a_view_of_the_input_bytes() -> None:
    (frame,) = _frames(_file())
    values = frame_values(frame)
    assert not values.flags.owndata and not values.flags.writeable  # no copy, read-only
    assert values.dtype == np.dtype("<i2")


@pytest.mark.parametrize(
    ("dtype", "stored", "expected"),
    [
        # 12 of 16 bits: high bits are garbage to ignore; signed values are sign-extended.
        (np.int16, [[0x5FFB, 0x0005], [0x7800, 0x0801]], [[-5, 5], [-2048, -2047]]),
        (np.uint16, [[0xF123, 0x0005], [0x7800, 0x0801]], [[0x123, 5], [0x800, 0x801]]),
    ],
    ids=["signed", "unsigned"],
)
def test_bits_above_bits_stored_are_dropped(dtype: type, stored: list, expected: list) -> None:
    raw = np.array(stored, dtype=np.uint16).view(dtype)
    (frame,) = _frames(_file(raw, BitsStored=12, HighBit=11))
    np.testing.assert_array_equal(frame_values(frame), expected)
    target = np.full((2, 2), 99, np.int16)
    assert read_stored_into(frame, target)
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize(
    ("dtype", "bits", "expected"),
    [
        (np.int16, 16, (-32768.0, 32767.0)),
        (np.int16, 12, (-2048.0, 2047.0)),
        (np.uint16, 12, (0.0, 4095.0)),
        (np.uint16, 16, (0.0, 65535.0)),
    ],
)
def test_stored_range_follows_bits_stored_and_sign(dtype: type, bits: int, expected: tuple) -> None:
    (frame,) = _frames(_file(np.zeros((2, 2), dtype), BitsStored=bits, HighBit=bits - 1))
    assert stored_range(frame.file) == expected


def test_read_stored_into_takes_only_what_stays_exact_in_int16() -> None:
    (signed,) = _frames(_file())
    target = np.zeros(PIXELS.shape, np.int16)
    assert read_stored_into(signed, target)
    np.testing.assert_array_equal(target, PIXELS)
    # Unsigned 16-bit values may pass 32767, and compressed data needs decoding: both refused,
    # and the target is left as it was.
    for data in (_file(PIXELS.view(np.uint16)), _file(transfer_syntax=RLELossless)):
        (frame,) = _frames(data)
        untouched = np.full(PIXELS.shape, 7, np.int16)
        assert not read_stored_into(frame, untouched)
        assert (untouched == 7).all()


def test_frame_dataset_holds_one_compressed_frame_for_the_decoder() -> None:
    markers = [Marker((-12.0 + k, -16.0 + k, -20.0 + 2 * k), 100 + k) for k in range(4)]
    ((_, data),) = make_series(
        enhanced=True, slices=4, rows=8, columns=6, markers=markers, transfer_syntax=RLELossless
    )
    reference = pydicom.dcmread(io.BytesIO(data)).pixel_array
    assert len({int(frame.max()) for frame in reference}) == 4  # each frame is its own
    for k, frame in enumerate(_frames(data)):
        small = frame_dataset(frame)
        assert isinstance(small, Dataset) and small.NumberOfFrames == 1
        assert small.file_meta.TransferSyntaxUID == RLELossless
        np.testing.assert_array_equal(decode(small), reference[k])
    assert frame_dataset(_frames(_file())[0]) is None  # uncompressed: nothing to hand over


@pytest.mark.skipif(not _available(JPEG2000Lossless), reason="no J2K encoder")
def test_a_codestream_that_disagrees_with_the_header_is_not_decoded() -> None:
    """Decoders size their output from the codestream: a header saying otherwise is refused
    before any allocation, with both sizes in the message."""
    (frame,) = _frames(_file(transfer_syntax=JPEG2000Lossless, Columns=40))
    with pytest.raises(ValueError) as caught:
        frame_values(frame)
    assert str(caught.value) == (
        "the compressed frame declares 32 x 36 pixels x 1 samples, the DICOM header "
        "32 x 40 x 1; not decoded"
    )


def test_colour_becomes_luminance() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[1] = 200
    (frame,) = _frames(make_rgb_file(rgb))
    assert is_colour(frame.file)
    values = frame_values(frame)
    np.testing.assert_allclose(values[0], 255 * LUMA, rtol=1e-6)
    np.testing.assert_allclose(values[1], 200.0, rtol=1e-6)  # grey stays grey


def test_palette_colour_is_looked_up_then_made_luminance() -> None:
    path = get_testdata_file("OBXXXX1A.dcm")
    (frame,) = _frames(Path(path).read_bytes())
    assert is_colour(frame.file)
    reference = pydicom.dcmread(path)
    rgb = pydicom.pixels.apply_color_lut(reference.pixel_array, reference)
    expected = rgb[..., :3].astype(np.float32) @ LUMA
    np.testing.assert_allclose(frame_values(frame), expected, rtol=1e-6)
    assert not is_colour(_frames(_file())[0].file)
