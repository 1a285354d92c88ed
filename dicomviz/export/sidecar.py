"""The JSON sidecar of a NIfTI export: the acquisition facts a NIfTI header cannot hold.

Plain data (strings, numbers, lists), named as BIDS and dcm2niix name them where a name
exists: ``Modality``, ``SeriesDescription``, ``ProtocolName``, ``SeriesNumber``, ``ImageType``,
``BodyPartExamined``, ``Manufacturer``, ``ManufacturersModelName``, ``SoftwareVersions``,
``MagneticFieldStrength`` (T), ``PatientPosition``, ``SliceThickness`` and
``SpacingBetweenSlices`` (mm), ``EchoTime``, ``RepetitionTime``, ``InversionTime`` (seconds, as
BIDS has them, not DICOM's ms), ``FlipAngle`` (degrees), ``EchoNumber``, ``ConvolutionKernel``,
``ImageOrientationPatientDICOM``, ``ConversionSoftware(Version)``. Where BIDS has no name, the
DICOM keyword: ``PixelSpacing`` ([between rows, between columns] mm), ``GantryDetectorTilt``
(degrees, as the file says it), ``RescaleSlope``, ``RescaleIntercept``, ``RescaleType``. And
dicomviz's own: ``GantryTilt`` (degrees between the slice step and the slice normal, measured
from the positions), ``Units`` (of the values written: HU for CT), ``Grid`` ("acquired" or
"patient"), ``Volume`` (which volume of a 4-D series) and ``NoDataVoxels`` / ``NoDataValue``.

``SpacingBetweenSlices`` is measured from the positions along the slice normal (the spacing
the volume uses), not copied from the DICOM element of that name. The rescale is reported as
the first image has it; it is already applied to the values written.

No patient identifiers unless asked (``with_identifiers``): no names, IDs, dates, UIDs,
institution or station; descriptions are cleaned of every identifier the header holds (as the
page's pickers are), and left out when the header cannot be read to clean them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomviz.errors import DicomvizError
from dicomviz.export.nifti import no_data
from dicomviz.geometry import slice_normal
from dicomviz.io.header import Values
from dicomviz.pixels.volume import Volume
from dicomviz.series.stacks import Stack
from dicomviz.tables.privacy import clean_text, identifiers_of

IDENTIFIERS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "AccessionNumber",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "InstitutionName",
    "StationName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
)
"""Written only with ``with_identifiers``."""
_BIDS_NAMES = {"ManufacturerModelName": "ManufacturersModelName", "EchoNumbers": "EchoNumber"}
_SECONDS = ("EchoTime", "RepetitionTime", "InversionTime")
"""DICOM gives them in ms, BIDS in s."""
_DESCRIPTIONS = ("SeriesDescription", "ProtocolName")


def sidecar(stack: Stack, volume: Volume, *, with_identifiers: bool = False) -> dict[str, Any]:
    """The sidecar of ``volume`` (built from ``stack``, as acquired or on patient axes). Facts
    the header record holds come from it; the rest from the first image's whole header."""
    header = stack.header
    dataset = _dataset(stack)
    found: dict[str, Any] = {
        **_take(header, ("Modality", "SeriesDescription")),
        **_read_all(dataset, ("ProtocolName",)),
        **_take(header, ("SeriesNumber", "ImageType", "BodyPartExamined")),
        **_read_all(
            dataset,
            (
                "Manufacturer",
                "ManufacturerModelName",
                "SoftwareVersions",
                "MagneticFieldStrength",
                "PatientPosition",
            ),
        ),
        **_geometry(stack, volume),
        **_read_all(dataset, ("GantryDetectorTilt",)),
        **_take(header, ("EchoTime", "EchoNumbers")),
        **_read_all(dataset, ("RepetitionTime", "InversionTime", "FlipAngle", "ConvolutionKernel")),
        **_take(header, ("RescaleSlope", "RescaleIntercept", "RescaleType")),
        "Units": "" if volume.units == "US" else volume.units,  # US: DICOM's "unspecified"
        "Volume": stack.label,
    }
    count, value = no_data(volume)
    if count:
        found |= {"NoDataVoxels": count, "NoDataValue": value}
    if with_identifiers:
        found |= _read_all(dataset, IDENTIFIERS)
    else:
        found = _cleaned(found, dataset)
    found["ConversionSoftware"] = "dicomviz"
    found["ConversionSoftwareVersion"] = _our_version()
    return {_BIDS_NAMES.get(k, k): _seconds(k, v) for k, v in found.items() if _kept(v)}


def sidecar_json(stack: Stack, volume: Volume, *, with_identifiers: bool = False) -> str:
    """The sidecar as JSON text (indented, one fact a line, as dcm2niix writes it)."""
    return json.dumps(sidecar(stack, volume, with_identifiers=with_identifiers), indent=2) + "\n"


def _geometry(stack: Stack, volume: Volume) -> dict[str, Any]:
    normal = slice_normal(stack.orientation)
    step = np.asarray(stack.slice_step, dtype=float)
    length = float(np.linalg.norm(step))
    # Under gantry tilt the positions step along a line leaning off the normal; spacing is
    # measured along the normal (stack.slice_spacing), the tilt is the lean.
    cosine = abs(float(step @ normal)) / length if length else 1.0
    tilt = float(np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0))))
    return {
        "SliceThickness": stack.header.get("SliceThickness"),
        "SpacingBetweenSlices": round(stack.slice_spacing, 6),
        "PixelSpacing": [round(v, 6) for v in stack.pixel_spacing],
        "ImageOrientationPatientDICOM": [round(v, 8) for v in stack.orientation],
        "GantryTilt": round(tilt, 2),
        # A resampled volume's planes are no file's slices (volume.slice_names is empty).
        "Grid": "acquired" if volume.slice_names else "patient",
    }


def _dataset(stack: Stack) -> Dataset | None:
    """The first image's whole header, or None when it cannot be parsed (its facts are then
    left out; the header record's are still written)."""
    try:
        return stack.first_dataset()
    except DicomvizError:
        return None


def _take(header: Values, keywords: Iterable[str]) -> dict[str, Any]:
    return {keyword: _plain(header.get(keyword)) for keyword in keywords}


def _read_all(dataset: Dataset | None, keywords: Iterable[str]) -> dict[str, Any]:
    if dataset is None:
        return {}
    return {keyword: _read(dataset, keyword) for keyword in keywords}


def _read(dataset: Dataset, keyword: str) -> Any:
    """One value as plain data; None when absent or when pydicom cannot convert it (a fact
    left out of a sidecar, not a reason to refuse the export)."""
    try:
        return _plain(dataset.get(keyword))
    except Exception:  # any failure of pydicom's value conversion
        return None


def _plain(value: Any) -> Any:
    """pydicom's values (DSfloat, IS, PersonName, MultiValue) as JSON's."""
    if value is None or isinstance(value, bytes | Dataset):
        return None
    if isinstance(value, MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value).strip()  # str, PersonName, UID


def _seconds(keyword: str, value: Any) -> Any:
    value = _plain(value)
    if keyword in _SECONDS and isinstance(value, int | float):
        return round(value / 1000, 9)
    return value


def _kept(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _cleaned(found: dict[str, Any], dataset: Dataset | None) -> dict[str, Any]:
    """Descriptions with every identifier the header holds hidden; left out without a header
    to clean them with."""
    out = dict(found)
    identifiers = identifiers_of(dataset) if dataset is not None else None
    for keyword in _DESCRIPTIONS:
        text = out.get(keyword)
        if identifiers is None:
            out.pop(keyword, None)
        elif text:
            out[keyword] = clean_text(str(text), identifiers)
    return out


def _our_version() -> str:
    try:
        return version("dicomviz")
    except PackageNotFoundError:
        return "unknown"
