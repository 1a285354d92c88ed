"""Decode one frame's stored values, without copies where the data is uncompressed.

Uncompressed little-endian data is viewed straight from the input bytes (the fast path that
every CT and MR series takes); everything else goes through pydicom's decoders (pylibjpeg for
JPEG, JPEG-LS, JPEG 2000 and RLE). Colour images become luminance. The pixel module is read from
the file's header record; the whole Dataset is fetched only for what the record does not hold:
a palette, encapsulated data that stayed inside a parsed file, and unusual native layouts.
"""

from __future__ import annotations

import hashlib
import io
import struct

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from dicomviz.io.header import number_of_frames
from dicomviz.io.reading import DicomFile
from dicomviz.io.tags import PIXEL_DATA, UNDEFINED_LENGTH
from dicomviz.series.frames import Frame

# JPEG start-of-frame markers (ITU T.81 B.1.1.3; 0xF7 is JPEG-LS SOF55): not DHT, JPG, DAC.
_SOF_MARKERS = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7})
_JPEG_FAMILY = frozenset({*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes})
_MOST_TILES = 4096

PIXEL_KEYWORDS = (
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
)  # fmt: skip
"""What a decoder reads besides the pixel data (from the header record)."""
PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
)  # fmt: skip
"""What a PALETTE COLOR decoder reads besides (from the whole Dataset, with the file's VRs)."""

# ITU-R BT.601 luma weights, as used for a grey rendering of RGB photographs and ultrasound.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def stored_range(dicom: DicomFile) -> tuple[float, float]:
    """Smallest and largest stored value the header allows (BitsStored, PixelRepresentation)."""
    ds = dicom.header
    bits = int(ds.BitsStored or ds.BitsAllocated)
    if int(ds.BitsAllocated) == 1:
        return 0.0, 1.0
    if int(ds.PixelRepresentation or 0):
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def is_colour(dicom: DicomFile) -> bool:
    ds = dicom.header
    samples = int(ds.SamplesPerPixel or 1)
    return samples > 1 or ds.PhotometricInterpretation in ("PALETTE COLOR",)


def frame_values(frame: Frame) -> np.ndarray:
    """Stored values of one frame, shape (rows, columns), before rescale.

    May be a read-only view into the input bytes; callers copy out of it.
    """
    dicom = frame.file
    layout = _native_layout(dicom)
    if layout is not None:
        return _fix_stored_bits(dicom, _native_frame(dicom, layout, frame.index))
    small = frame_dataset(frame)
    if small is None:  # native but unusual (big endian, bit-packed, colour): pydicom's way
        several = number_of_frames(dicom.header) > 1
        return decode(dicom.dataset, frame.index if several else None)
    return decode(small)


def frame_digest(frame: Frame) -> bytes | None:
    """A hash of a stored frame's decoded values (for telling true duplicates), in one canonical
    type so big-endian, signed and unsigned copies of one image compare equal; None when the
    pixels cannot be read."""
    try:
        values = frame_values(frame)
        common = np.dtype("<i8") if values.dtype.kind in "iub" else np.dtype("<f8")
        values = np.ascontiguousarray(values, dtype=common)
        return hashlib.blake2b(values.tobytes(), digest_size=16).digest()
    except Exception:
        return None
    except BaseException as exc:  # a Rust decoder's PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return None


def decode(ds: Dataset, index: int | None = None) -> np.ndarray:
    """Decode one frame of (compressed or unusual) pixel data through pydicom's decoders,
    colour reduced to luminance. Runs in worker processes too (see decode_pool)."""
    import pydicom.pixels  # imports Pillow and every codec plugin: only when decoding

    values = pydicom.pixels.pixel_array(ds, index=index)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        values = pydicom.pixels.apply_color_lut(values, ds)
    if values.ndim == 3:  # (rows, columns, samples): colour
        return values[..., :3].astype(np.float32) @ LUMA
    return values


def read_stored_into(frame: Frame, target: np.ndarray) -> bool:
    """Read a frame's stored values straight into ``target`` (an int16 slice of the volume),
    when they are exactly int16 values: no copy of the pixel data on the way.

    Returns False, with ``target`` untouched, when the frame needs another path (compressed,
    other bit depths, unsigned 16-bit values that may not fit).
    """
    dicom = frame.file
    layout = _native_layout(dicom)
    if layout is None or target.dtype != np.int16 or layout[0].itemsize != 2:
        return False
    ds = dicom.header
    stored = int(ds.BitsStored or 16)
    signed = bool(int(ds.PixelRepresentation or 0))
    if stored > 16 or (stored == 16 and not signed):
        return False
    _read_frame(dicom, frame.index, memoryview(target).cast("B"))
    _fix_stored_bits(dicom, target, out=target)  # unsigned 15 bits or fewer stay exact in int16
    return True


def _native_frame(
    dicom: DicomFile, layout: tuple[np.dtype, int, int, int], index: int
) -> np.ndarray:
    dtype, _frames, rows, cols = layout
    if dicom.source.in_memory:
        offset = dicom.pixel_offset + index * rows * cols * dtype.itemsize  # type: ignore[operator]
        values = np.frombuffer(dicom.data, dtype=dtype, count=rows * cols, offset=offset)
        return values.reshape(rows, cols)
    values = np.empty((rows, cols), dtype=dtype)
    _read_frame(dicom, index, memoryview(values).cast("B"))
    return values


def _read_frame(dicom: DicomFile, index: int, target: memoryview) -> None:
    offset = dicom.pixel_offset + index * len(target)  # type: ignore[operator]
    got = dicom.source.read_into(offset, target)
    if got != len(target):
        raise ValueError(
            f"only {got} of {len(target)} bytes of pixel data could be read "
            "(the file changed or shrank since it was opened)"
        )


def _native_layout(dicom: DicomFile) -> tuple[np.dtype, int, int, int] | None:
    """(dtype, frames, rows, columns) of uncompressed single-sample little-endian pixel data,
    or None when the layout needs pydicom (bit-packed, colour, big endian, odd bit depths)."""
    ds = dicom.header
    if dicom.pixel_offset is None or dicom.pixel_length is None or is_colour(dicom):
        return None
    if not dicom.little_endian:
        return None
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        return None
    signed = bool(int(ds.PixelRepresentation or 0))
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    return dtype, number_of_frames(ds), int(ds.Rows), int(ds.Columns)


def _fix_stored_bits(
    dicom: DicomFile, values: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Honour BitsStored < BitsAllocated: mask unused high bits, sign-extend signed values
    (into ``out`` when given, e.g. in place)."""
    ds = dicom.header
    allocated = int(ds.BitsAllocated)
    stored = int(ds.BitsStored or allocated)
    if stored >= allocated or stored <= 0:
        return values
    unused = allocated - stored
    if int(ds.PixelRepresentation or 0):  # arithmetic shifts restore the sign
        shifted = np.left_shift(values, unused, out=out)
        return np.right_shift(shifted, unused, out=shifted)
    return np.bitwise_and(values, np.array((1 << stored) - 1, dtype=values.dtype), out=out)


def frame_dataset(frame: Frame) -> Dataset | None:
    """A small data set holding one compressed frame and the pixel module, for the decoder.

    The frame's codestream is taken from the input bytes, so the parsed header never holds a
    second copy of the compressed pixel data (only this frame, while it is decoded). The
    codestream is checked against the header first. None when the pixel data is not
    encapsulated.
    """
    codestream = _codestream(frame)
    if codestream is None:
        return None
    _check_codestream(frame.file, codestream)
    header = frame.file.header
    small = Dataset()
    small.file_meta = FileMetaDataset()
    small.file_meta.TransferSyntaxUID = frame.file.transfer_syntax
    for keyword in PIXEL_KEYWORDS:
        value = getattr(header, keyword)
        if value is not None:
            setattr(small, keyword, value)
    if header.PhotometricInterpretation == "PALETTE COLOR":
        whole = frame.file.dataset
        for keyword in PALETTE_KEYWORDS:
            if keyword in whole:
                small[keyword] = whole[keyword]  # keeps the file's VR (US or SS descriptors)
    small.NumberOfFrames = 1
    small["PixelData"] = DataElement(
        PIXEL_DATA, "OB", encapsulate([codestream]), is_undefined_length=True
    )
    return small


def _codestream(frame: Frame) -> bytes | None:
    """One frame's compressed bytes, or None when the pixel data is not encapsulated.

    Taken from the input bytes where the reader located the data (``pixel_offset`` without a
    length), else from the element of the parsed Dataset (deflated, or read by pydicom)."""
    dicom = frame.file
    if dicom.pixel_offset is not None:
        if dicom.pixel_length is not None:
            return None
        buffer: io.BytesIO | bytes = io.BytesIO(dicom.data)  # shares the bytes, no copy
        buffer.seek(dicom.pixel_offset)
    else:
        element = dicom.dataset.get_item(PIXEL_DATA, keep_deferred=True)
        undefined = getattr(element, "is_undefined_length", False) or (
            getattr(element, "length", 0) == UNDEFINED_LENGTH
        )
        if element is None or not undefined:
            return None
        buffer = element.value if element.value is not None else dicom.dataset.PixelData
    ds = dicom.header
    offsets = None
    if ds.ExtendedOffsetTable is not None and ds.ExtendedOffsetTableLengths is not None:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    count = number_of_frames(ds)
    return get_frame(buffer, frame.index, number_of_frames=count, extended_offsets=offsets)


def _check_codestream(dicom: DicomFile, data: bytes) -> None:
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
    found = reader(data)
    if found is None:
        return  # no header to read: the decoder fails on its own, without allocating
    ds = dicom.header
    rows, columns, samples, tiles = found
    expected = (int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel or 1))
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
