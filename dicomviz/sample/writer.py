"""Write synthetic DICOM the one way: fixed UIDs, the attributes every image shares, Part 10 bytes.

The sample phantom (``dicomviz.sample.phantom``), the test series (``tests/synth.py``) and the
benchmark data (``bench/ctdata.py``) all write through here, so their files agree on how a UID is
made, which patient, study, series and frame-of-reference attributes an image carries, and what
the file meta information holds. Everything is deterministic: the same arguments give the same
bytes, so tests can compare files and caches can be keyed by content.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, RLELossless

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "image_dataset",
    "part10_bytes",
    "set_pixel_data",
    "set_pixel_module",
    "uid",
]

IMPLEMENTATION_CLASS_UID = "2.25.12881834837907567797677856769838413117"
"""(0002,0012) of every file dicomviz writes: ``uid("dicomviz synthetic chest phantom",
"implementation")``, the value the sample carried first, kept so its files keep their bytes."""


def uid(*parts: object) -> str:
    """A UID that depends only on ``parts``: ``2.25.`` and a name-based (SHA-1) UUID of them.

    PS3.5 B.2 allows a UUID as a UID under the 2.25 root; at most 44 characters, under the 64
    allowed. pydicom's ``generate_uid(prefix=None)`` ignores ``entropy_srcs`` and is random,
    hence this. Parts are joined by ``/`` after ``str()``.

    >>> uid("dicomviz", "study") == uid("dicomviz", "study") != uid("dicomviz", "series")
    True
    >>> uid("x").startswith("2.25.") and len(uid("x")) <= 44
    True
    """
    name = "/".join(map(str, parts))
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, name).int}"


def image_dataset(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    study_uid: str,
    series_uid: str,
    frame_of_reference_uid: str,
    modality: str,
    instance_number: int,
    patient_name: str,
    patient_id: str,
    series_number: int = 1,
    series_description: str = "",
    manufacturer: str = "dicomviz",
    patient_position: str = "HFS",
    study_date: str = "20240101",
    study_time: str = "120000",
    study_id: str = "1",
) -> Dataset:
    """An image's SOP common, patient, general study, general series and frame-of-reference
    attributes, with an empty file meta for :func:`part10_bytes` to fill.

    Every writer sets at least these, with its own values; geometry, rescale and pixel data
    are each writer's own (see :func:`set_pixel_module` and :func:`set_pixel_data`).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientPosition = patient_position
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.FrameOfReferenceUID = frame_of_reference_uid
    return ds


def set_pixel_module(ds: Dataset, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
    """The Image Pixel module of monochrome integer pixels of ``shape`` (..., rows, columns):
    every allocated bit stored, signed or not as ``dtype`` is."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"pixels must be integers, not {dtype}")
    bits = 8 * dtype.itemsize
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(shape[-2]), int(shape[-1])
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if dtype.kind == "i" else 0


def set_pixel_data(
    ds: Dataset, pixels: np.ndarray, transfer_syntax: str, *, plugin: str = ""
) -> None:
    """Encode ``pixels`` (rows, columns) or (frames, rows, columns) into (7FE0,0010) in
    ``transfer_syntax`` and name that syntax in the file meta.

    Native syntaxes are written byte for byte in the syntax's byte order; compressed ones go
    through pydicom's encoders (``plugin`` picks one), keeping the SOP Instance UID, which
    ``compress()`` would otherwise replace with a random one.
    """
    syntax = UID(transfer_syntax)
    native = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("="))
    if syntax.is_compressed:
        if syntax == RLELossless and not plugin:
            plugin = "pydicom"  # always installed; the others are optional
        ds.compress(syntax, native, encoding_plugin=plugin, generate_instance_uid=False)
        return
    # pydicom writes native pixel data as given, so big endian needs its bytes swapped here.
    order = "<" if syntax.is_little_endian else ">"
    vr = "OB" if native.dtype.itemsize == 1 else "OW"
    ds.add_new("PixelData", vr, native.astype(native.dtype.newbyteorder(order)).tobytes())
    ds.file_meta.TransferSyntaxUID = syntax


def part10_bytes(ds: Dataset, *, version_name: str = "DICOMVIZ") -> bytes:
    """``ds`` as a DICOM Part 10 file: 128-byte preamble, ``DICM``, file meta, data set.

    File meta elements already set are kept (a data set read back from a file stays as it
    was); the SOP class and instance come from the data set, and the implementation is
    dicomviz's, named ``version_name`` (at most 16 characters, e.g. ``"DICOMVIZ_SAMPLE"``).
    The transfer syntax is the file meta's (:func:`set_pixel_data` sets it).
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    for keyword, value in (
        ("MediaStorageSOPClassUID", ds.get("SOPClassUID")),
        ("MediaStorageSOPInstanceUID", ds.get("SOPInstanceUID")),
        ("ImplementationClassUID", IMPLEMENTATION_CLASS_UID),
        ("ImplementationVersionName", version_name),
    ):
        if keyword not in meta and value:
            setattr(meta, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
