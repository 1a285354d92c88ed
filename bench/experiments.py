"""Proposed library changes, tried by monkeypatching inside bench processes only.

Nothing here edits ``dicomviz/``. Each patch is the smallest faithful stand-in for a change
described in RESULTS.md, so its measured gain is what the real change would give:

- ``int-rescale``: volume._put_slice adds an integer intercept in int16 (range checked on the
  slice's stored min/max) instead of going through float32, rint and two range reductions.
- ``lean-headers``: reading.parse_dataset reads only the elements the engine uses (about 40
  top-level keywords; sequences in full) when it defers pixel data; the full header would be
  parsed on demand for the header panel (one file at a time).
- ``scan-headers``: a prototype (not a proposal to ship as is) of how fast the header read can
  get while keeping pydicom's Dataset: element headers walked with struct, only the lean tags
  kept as raw elements, converted lazily by pydicom; anything unusual falls back to pydicom.
- ``pool-decode``: compressed frames (slow codecs: not RLE) are decoded in a pool of worker
  processes (one per core), submitted up front and consumed in slice order; the parent keeps
  copying and rescaling. The pool lives as long as the process (a page keeps it).
  A worker that dies (a decoder's SIGABRT) would surface as BrokenProcessPool, i.e. the
  isolation that TRAPS.md asks for comes with it.
- ``decode-from-input``: pixels.frame_values decodes a compressed frame with
  ``pydicom.pixels.pixel_array(io.BytesIO(dicom.data), index=...)`` instead of from the
  Dataset, which would load (and keep) a second copy of the encapsulated pixel data.
- ``int-mean``: views._project sums integer volumes in int32 (exact up to 65,536 slices of
  int16) and divides once, instead of a float32-accumulating mean.
- ``threaded-mean``: the same int32 sum, split in two halves along an axis that is not reduced
  and run in one thread per core (numpy releases the GIL in reductions).
"""

from __future__ import annotations

import io
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

_INT16 = np.iinfo(np.int16)

# Every keyword the engine reads during load + build_volume (grep of reading, frames, series,
# volume, pixels, geometry), plus what pydicom's decoders and get_expected_length consult.
LEAN_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PatientOrientation",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "InstanceNumber",
    "EchoNumbers",
    "TemporalPositionIdentifier",
    "PixelPaddingValue",
    "WindowCenter",
    "WindowWidth",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "DirectoryRecordSequence",
    "SpecificCharacterSet",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PixelData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
)


# ---------- int-rescale ----------


def _put_slice_int(array: np.ndarray, k: int, frame) -> np.ndarray:
    import dicomviz.volume as volume

    values = volume.frame_values(frame)
    intercept = frame.intercept
    if (
        array.dtype == np.int16
        and values.shape == array.shape[1:]
        and values.dtype.kind in "iu"
        and values.dtype.itemsize <= 2
        and frame.slope == 1.0
        and intercept == int(intercept)
    ):
        low, high = int(values.min()), int(values.max())
        fits = _INT16.min <= low and high <= _INT16.max
        if fits and _INT16.min <= low + intercept and high + intercept <= _INT16.max:
            target = array[k]
            np.copyto(target, values, casting="unsafe")  # range checked just above
            if intercept:
                target += np.int16(intercept)
            return array
    return _ORIGINAL["put_slice"](array, k, frame)


# ---------- lean-headers ----------


_LEAN_TAGS: list | None = None


def _lean_tags() -> list:
    """Keywords resolved to tags once (pydicom would look each keyword up on every read)."""
    global _LEAN_TAGS
    if _LEAN_TAGS is None:
        from pydicom.datadict import tag_for_keyword
        from pydicom.tag import Tag

        _LEAN_TAGS = [Tag(tag_for_keyword(k)) for k in LEAN_KEYWORDS]
    return _LEAN_TAGS


def _lean_parse_dataset(source, limits=None, *, defer: bool = False):
    import pydicom

    import dicomviz.reading as reading

    if not defer:
        return _ORIGINAL["parse_dataset"](source, limits, defer=defer)
    limits = limits or reading.Limits()
    data = source.data
    if not reading.looks_like_dicom(data):
        raise reading.InputFileError(source.name, reading.describe_non_dicom(data))
    deflated = reading._check_inflation(source.name, data, limits)
    ds = pydicom.dcmread(
        io.BytesIO(data),
        force=True,
        defer_size=None if deflated else 4096,
        specific_tags=_lean_tags(),
    )
    if not reading._has_any_element(ds):
        raise reading.InputFileError(source.name, "not DICOM (no readable elements)")
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            pydicom.uid.ImplicitVRLittleEndian
            if implicit
            else pydicom.uid.ExplicitVRLittleEndian
            if little
            else pydicom.uid.ExplicitVRBigEndian
        )
    return ds


# ---------- scan-headers ----------
#
# A prototype of the fastest header read that stays on pydicom's data model: walk the element
# headers of an Explicit VR Little Endian file with struct.unpack_from (skipping values, and
# nested undefined-length sequences), keep RawDataElements for the LEAN_KEYWORDS tags only, and
# hand pydicom a FileDataset built from them (values convert lazily, as in dcmread). Anything
# unusual (implicit VR, big endian, deflate, a wanted sequence, no DICM) falls back to pydicom.

_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"SV",
    b"UV",
}
_WANTED_SEQUENCES = {0x52009229, 0x52009230, 0x00041220}  # functional groups, DICOMDIR records


class _Fallback(Exception):
    pass


def _skip_element(data: bytes, pos: int, unpack) -> int:
    vr = data[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        (length,) = unpack("<I", data, pos + 8)
        pos += 12
        if length == _UNDEFINED:
            return _skip_undefined(data, pos, unpack)
        return pos + length
    (length,) = unpack("<H", data, pos + 6)
    return pos + 8 + length


def _skip_undefined(data: bytes, pos: int, unpack) -> int:
    """Past an undefined-length sequence (items of elements) or encapsulated value."""
    while True:
        group, element, length = unpack("<HHI", data, pos)
        pos += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos
        if (group, element) != (0xFFFE, 0xE000):
            raise _Fallback("not an item")
        if length != _UNDEFINED:
            pos += length
            continue
        while True:  # an undefined-length item: elements up to its delimiter
            if unpack("<HH", data, pos) == (0xFFFE, 0xE00D):
                pos += 8
                break
            pos = _skip_element(data, pos, unpack)


def _scan_dataset(source):
    import struct

    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.tag import Tag

    data = source.data
    if data[128:132] != b"DICM":
        raise _Fallback("no preamble")
    unpack = struct.unpack_from
    wanted = {int(t) for t in _lean_tags()}
    meta: dict = {}
    body: dict = {}
    pos, end = 132, len(data)
    checked = False
    while pos < end:
        if end - pos < 8:
            raise _Fallback("truncated")
        group, element = unpack("<HH", data, pos)
        tag = group << 16 | element
        if group != 2 and not checked:
            checked = True
            syntax = meta[0x00020010].value.rstrip(b"\x00 ").decode() if 0x00020010 in meta else ""
            if syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", ""):
                raise _Fallback("implicit VR, big endian or deflated")
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = unpack("<I", data, pos + 8)
            value_at = pos + 12
        else:
            (length,) = unpack("<H", data, pos + 6)
            value_at = pos + 8
        if tag == 0x7FE00010:
            value = None  # deferred: pydicom reads it from the file object when asked
            body[tag] = RawDataElement(Tag(tag), vr.decode(), length, value, value_at, False, True)
            break
        if length == _UNDEFINED:
            if tag in wanted or tag in _WANTED_SEQUENCES:
                raise _Fallback("a wanted sequence")
            pos = _skip_undefined(data, value_at, unpack)
            continue
        if group == 2 or tag in wanted:
            if tag in _WANTED_SEQUENCES:
                raise _Fallback("a wanted sequence")
            raw = RawDataElement(
                Tag(tag),
                vr.decode(),
                length,
                data[value_at : value_at + length],
                value_at,
                False,
                True,
            )
            (meta if group == 2 else body)[tag] = raw
        pos = value_at + length
    file_meta = FileMetaDataset(meta)
    dataset = Dataset(body)
    ds = FileDataset(io.BytesIO(data), dataset, data[:128], file_meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds


def _scan_parse_dataset(source, limits=None, *, defer: bool = False):
    if defer:
        try:
            return _scan_dataset(source)
        except (_Fallback, KeyError, IndexError, ValueError, UnicodeDecodeError):
            pass
    return _ORIGINAL["parse_dataset_scan"](source, limits, defer=defer)


# ---------- pool-decode ----------

_POOL: ProcessPoolExecutor | None = None
_PENDING: dict[int, Future] = {}


def _decode_in_worker(data: bytes, index: int | None) -> np.ndarray:
    import pydicom
    import pydicom.pixels

    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    return pydicom.pixels.pixel_array(ds, index=index)


def pool() -> ProcessPoolExecutor:
    """One pool per process, started once (a page keeps it for its lifetime)."""
    global _POOL
    if _POOL is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["numpy", "pydicom", "pydicom.pixels", "openjpeg", "rle"])
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
        _POOL = ProcessPoolExecutor(max(1, workers), mp_context=context)
    return _POOL


def _pooled_build_volume(stack, limits=None, progress=None):
    from dicomviz.reading import number_of_frames

    # RLE decodes in about 2 ms a frame: shipping it to a worker costs more than it saves.
    compressed = [
        f
        for f in stack.frames
        if f.file.pixel_offset is None and f.file.transfer_syntax != "1.2.840.10008.1.2.5"
    ]
    if len(compressed) >= 2:
        executor = pool()
        for frame in compressed:
            multi = number_of_frames(frame.file.dataset) > 1
            _PENDING[id(frame)] = executor.submit(
                _decode_in_worker, frame.file.data, frame.index if multi else None
            )
    try:
        return _ORIGINAL["build_volume"](stack, limits, progress)
    finally:
        _PENDING.clear()


def _pooled_frame_values(frame) -> np.ndarray:
    future = _PENDING.pop(id(frame), None)
    if future is None:
        return _ORIGINAL["frame_values"](frame)
    values = future.result()
    if values.ndim == 3 or frame.file.dataset.get("PhotometricInterpretation") == "PALETTE COLOR":
        return _ORIGINAL["frame_values"](frame)  # colour: keep the library's own handling
    return values


# ---------- decode-from-input ----------


def _frame_values_from_input(frame) -> np.ndarray:
    """Compressed frames decoded from the input bytes (pydicom reads just that frame from a
    file-like), so the dataset never loads a second copy of the encapsulated pixel data."""
    import pydicom.pixels

    from dicomviz.pixels import is_colour

    dicom = frame.file
    if dicom.pixel_offset is not None or is_colour(dicom):
        return _ORIGINAL["frame_values_input"](frame)
    return pydicom.pixels.pixel_array(io.BytesIO(dicom.data), index=frame.index)


# ---------- int-mean ----------


def _project_int_mean(block: np.ndarray, mode: str, axis: int) -> np.ndarray:
    if mode == "mean" and block.dtype.kind in "iu" and block.dtype.itemsize <= 2:
        depth = block.shape[axis]
        if depth <= 65536:
            total = block.sum(axis=axis, dtype=np.int32)
            return total.astype(np.float32) / np.float32(depth)
    return _ORIGINAL["project"](block, mode, axis)


_THREADS = None


def _project_threaded_mean(block: np.ndarray, mode: str, axis: int) -> np.ndarray:
    """int32 sums of two halves (split along an axis that is not reduced) in two threads:
    numpy releases the GIL inside the reduction, and int16 -> int32 casting is compute bound."""
    global _THREADS
    if not (mode == "mean" and block.dtype.kind in "iu" and block.dtype.itemsize <= 2):
        return _ORIGINAL["project"](block, mode, axis)
    from concurrent.futures import ThreadPoolExecutor

    if _THREADS is None:
        _THREADS = ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0))))
    split = 1 if axis == 0 else 0
    out_shape = [n for i, n in enumerate(block.shape) if i != axis]
    total = np.empty(out_shape, dtype=np.int32)
    out_split = split if split < axis else split - 1
    parts = _THREADS._max_workers
    step = -(-block.shape[split] // parts)

    def work(start: int) -> None:
        where = [slice(None)] * 3
        where[split] = slice(start, start + step)
        out_where = [slice(None)] * 2
        out_where[out_split] = slice(start, start + step)
        np.add.reduce(block[tuple(where)], axis=axis, dtype=np.int32, out=total[tuple(out_where)])

    list(_THREADS.map(work, range(0, block.shape[split], step)))
    return total.astype(np.float32) / np.float32(block.shape[axis])


_ORIGINAL: dict[str, object] = {}


def apply(name: str) -> None:
    """Monkeypatch one experiment into the imported library (this process only)."""
    import dicomviz
    import dicomviz.reading as reading
    import dicomviz.views as views
    import dicomviz.volume as volume

    if name == "int-rescale":
        _ORIGINAL.setdefault("put_slice", volume._put_slice)
        volume._put_slice = _put_slice_int
    elif name == "lean-headers":
        _ORIGINAL.setdefault("parse_dataset", reading.parse_dataset)
        reading.parse_dataset = _lean_parse_dataset
    elif name == "scan-headers":
        _ORIGINAL.setdefault("parse_dataset_scan", reading.parse_dataset)
        reading.parse_dataset = _scan_parse_dataset
    elif name == "pool-decode":
        _ORIGINAL.setdefault("build_volume", volume.build_volume)
        _ORIGINAL.setdefault("frame_values", volume.frame_values)
        volume.build_volume = _pooled_build_volume
        dicomviz.build_volume = _pooled_build_volume
        volume.frame_values = _pooled_frame_values
    elif name == "decode-from-input":
        _ORIGINAL.setdefault("frame_values_input", volume.frame_values)
        volume.frame_values = _frame_values_from_input
    elif name == "int-mean":
        _ORIGINAL.setdefault("project", views._project)
        views._project = _project_int_mean
    elif name == "threaded-mean":
        _ORIGINAL.setdefault("project", views._project)
        views._project = _project_threaded_mean
    else:
        raise ValueError(f"unknown experiment {name!r}")


NAMES = (
    "int-rescale",
    "lean-headers",
    "scan-headers",
    "pool-decode",
    "decode-from-input",
    "int-mean",
    "threaded-mean",
)
