"""Decode one frame's stored values, without copies where the data is uncompressed.

Uncompressed little-endian data is viewed straight from the input bytes (the fast path that
every CT and MR series takes); everything else goes through pydicom's decoders (pylibjpeg for
JPEG, JPEG-LS, JPEG 2000 and RLE). Colour images become luminance.
"""

from __future__ import annotations

import struct

import numpy as np
import pydicom.pixels
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from .frames import Frame
from .reading import DicomFile, number_of_frames

# JPEG start-of-frame markers (ITU T.81 B.1.1.3; 0xF7 is JPEG-LS SOF55): not DHT, JPG, DAC.
_SOF_MARKERS = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7})
_JPEG_FAMILY = frozenset({*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes})
_MOST_TILES = 4096

# ITU-R BT.601 luma weights, as used for a grey rendering of RGB photographs and ultrasound.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def stored_range(dicom: DicomFile) -> tuple[float, float]:
    """Smallest and largest stored value the header allows (BitsStored, PixelRepresentation)."""
    ds = dicom.dataset
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    if int(ds.BitsAllocated) == 1:
        return 0.0, 1.0
    if int(ds.get("PixelRepresentation") or 0):
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def is_colour(dicom: DicomFile) -> bool:
    ds = dicom.dataset
    return int(ds.get("SamplesPerPixel") or 1) > 1 or ds.get("PhotometricInterpretation") in (
        "PALETTE COLOR",
    )


def frame_values(frame: Frame) -> np.ndarray:
    """Stored values of one frame, shape (rows, columns), before rescale.

    May be a read-only view into the input bytes; callers copy out of it.
    """
    dicom = frame.file
    fast = _native_view(dicom)
    if fast is not None:
        return _fix_stored_bits(dicom, fast[frame.index])
    ds = dicom.dataset
    index = frame.index if number_of_frames(ds) > 1 else None
    _check_codestream(dicom, frame.index)
    return decode(ds, index)


def decode(ds: Dataset, index: int | None = None) -> np.ndarray:
    """Decode one frame of (compressed or unusual) pixel data through pydicom's decoders,
    colour reduced to luminance. Runs in worker processes too (see decode_pool)."""
    values = pydicom.pixels.pixel_array(ds, index=index)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        values = pydicom.pixels.apply_color_lut(values, ds)
    if values.ndim == 3:  # (rows, columns, samples): colour
        return values[..., :3].astype(np.float32) @ LUMA
    return values


def check_frame(frame: Frame) -> None:
    """Refuse a compressed frame whose codestream disagrees with the header, before decoding."""
    _check_codestream(frame.file, frame.index)


def _native_view(dicom: DicomFile) -> np.ndarray | None:
    """(frames, rows, columns) view of uncompressed single-sample pixel data, or None when the
    layout needs pydicom (bit-packed, colour, big endian, odd bit depths)."""
    ds = dicom.dataset
    if dicom.pixel_offset is None or is_colour(dicom):
        return None
    if not ds.original_encoding[1]:  # big endian
        return None
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        return None
    signed = bool(int(ds.get("PixelRepresentation") or 0))
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    frames, rows, cols = number_of_frames(ds), int(ds.Rows), int(ds.Columns)
    count = frames * rows * cols
    values = np.frombuffer(dicom.data, dtype=dtype, count=count, offset=dicom.pixel_offset)
    return values.reshape(frames, rows, cols)


def _fix_stored_bits(dicom: DicomFile, values: np.ndarray) -> np.ndarray:
    """Honour BitsStored < BitsAllocated: mask unused high bits, sign-extend signed values."""
    ds = dicom.dataset
    allocated = int(ds.BitsAllocated)
    stored = int(ds.get("BitsStored") or allocated)
    if stored >= allocated or stored <= 0:
        return values
    unused = allocated - stored
    if int(ds.get("PixelRepresentation") or 0):
        return (values << unused) >> unused  # arithmetic shift restores the sign
    return values & np.array((1 << stored) - 1, dtype=values.dtype)


def _check_codestream(dicom: DicomFile, index: int) -> None:
    """Refuse a compressed frame whose own header disagrees with the DICOM header.

    Decoders size their output from the codestream (JPEG SOF, JPEG 2000 SIZ), not from Rows
    and Columns: a few damaged bytes can make them allocate gigabytes before anything fails.
    """
    syntax = dicom.transfer_syntax
    if syntax in JPEG2000TransferSyntaxes:
        reader = _jpeg2000_header
    elif syntax in _JPEG_FAMILY:
        reader = _jpeg_header
    else:
        return
    ds = dicom.dataset
    offsets = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:
        data = get_frame(
            ds.PixelData, index, number_of_frames=number_of_frames(ds), extended_offsets=offsets
        )
    except (ValueError, TypeError, KeyError):
        return  # no frame to find: pydicom's decoder fails the same way, before decoding
    found = reader(data)
    if found is None:
        return  # no header to read: the decoder fails on its own, without allocating
    rows, columns, samples, tiles = found
    expected = (int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel") or 1))
    if rows == 0 and reader is _jpeg_header:
        rows = expected[0]  # JPEG may give the height later, in a DNL segment
    if (rows, columns, samples) != expected:
        raise ValueError(
            f"the compressed frame declares {rows} x {columns} pixels x {samples} samples, "
            f"the DICOM header {expected[0]} x {expected[1]} x {expected[2]}; not decoded"
        )
    if tiles > _MOST_TILES:
        raise ValueError(f"the compressed frame is cut into {tiles} tiles; not decoded")


def _jpeg_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(rows, columns, components, 1) from a JPEG or JPEG-LS start-of-frame segment."""
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _SOF_MARKERS:
            if at + 10 > len(data):
                return None
            lines, samples = struct.unpack_from(">HH", data, at + 5)
            return lines, samples, data[at + 9], 1
        if marker == 0xDA:  # start of scan before any frame header
            return None
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
    return None


def _jpeg2000_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(rows, columns, components, tiles) from a JPEG 2000 SIZ segment (ISO 15444-1 A.5.1)."""
    at = data.find(b"\xff\x4f\xff\x51")  # SOC then SIZ; JP2 boxes may come first
    if at < 0 or at + 42 > len(data):
        return None
    width, height, x0, y0, tile_w, tile_h, tile_x0, tile_y0 = struct.unpack_from(
        ">8I", data, at + 8
    )
    (components,) = struct.unpack_from(">H", data, at + 40)
    if not tile_w or not tile_h:
        return height - y0, width - x0, components, _MOST_TILES + 1
    tiles = -(-(width - tile_x0) // tile_w) * -(-(height - tile_y0) // tile_h)
    return height - y0, width - x0, components, tiles
