"""Decode one frame's stored values, without copies where the data is uncompressed.

Uncompressed little-endian data is viewed straight from the input bytes (the fast path that
every CT and MR series takes); everything else goes through pydicom's decoders (pylibjpeg for
JPEG, JPEG-LS, JPEG 2000 and RLE). Colour images become luminance.
"""

from __future__ import annotations

import numpy as np
import pydicom.pixels

from .frames import Frame
from .reading import DicomFile, number_of_frames

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
    values = pydicom.pixels.pixel_array(ds, index=index)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        values = pydicom.pixels.apply_color_lut(values, ds)
    if values.ndim == 3:  # (rows, columns, samples): colour
        return values[..., :3].astype(np.float32) @ LUMA
    return values


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
