"""Realistic synthetic CT series for the benchmarks, generated once into a cache folder.

Each slice is a smooth body (fat, soft tissue, lungs, vessels, spine, table) plus spatially
correlated noise, stored GE-style: signed 16-bit, RescaleIntercept -1024, PixelPaddingValue -2000
outside the reconstruction circle, and a header of about 210 top-level elements (private groups and
sequences included) so parsing costs what it costs on scanner output. Compression ratios are then
close to real CT (RLE about 2.3:1, JPEG 2000 lossless about 3.1:1), unlike random bytes.

Positions run head first, feet to head along +z, 375 mm long whatever the slice count (100 slices
are 3.75 mm apart, 300 are 1.25 mm, 600 are 0.625 mm), 0.7 mm pixels, axial orientation.

Files are written through ``dicomviz.sample.writer`` (UIDs, common attributes, Part 10), like the
sample and the test series; the repository root must be on ``sys.path`` (``run.py`` puts it).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from dicomviz.sample.writer import (
    image_dataset,
    part10_bytes,
    set_pixel_data,
    set_pixel_module,
    uid,
)

ROWS = COLS = 512
PIXEL_MM = 0.7
LENGTH_MM = 375.0
INTERCEPT = -1024
PADDING = -2000  # stored value outside the reconstruction circle (GE)
VERSION = "4"  # bump when the bytes written change, so caches regenerate
NOISE_SEED = 3  # the noise of version 3, kept so pixel values (and compression) stay comparable

SYNTAXES = {"unc": ExplicitVRLittleEndian, "rle": RLELossless, "j2k": JPEG2000Lossless}


@dataclass(frozen=True)
class SeriesSpec:
    kind: str  # "unc", "rle" or "j2k"
    slices: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.slices}"


def _uid(*parts: object) -> str:
    return uid("dicomviz.bench", *parts)


class _Grid:
    """Pixel-centre coordinates in mm (LPS), shaped to broadcast over one slice."""

    def __init__(self) -> None:
        half = (COLS - 1) / 2 * PIXEL_MM
        self.x = (np.arange(COLS, dtype=np.float32) * PIXEL_MM - half)[None, :]
        self.y = (np.arange(ROWS, dtype=np.float32) * PIXEL_MM - half)[:, None]
        self.fov = self.x**2 + self.y**2 > (COLS / 2 * PIXEL_MM) ** 2


def _ellipse(g: _Grid, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    return ((g.x - cx) / ax) ** 2 + ((g.y - cy) / ay) ** 2 <= 1.0


def slice_hu(g: _Grid, t: float, rng: np.random.Generator) -> np.ndarray:
    """HU of one axial slice at fraction ``t`` of the scan (0 = pelvis, 1 = neck)."""
    hu = np.full((ROWS, COLS), -1000.0, dtype=np.float32)
    ax = 160.0 + 12.0 * np.sin(2.2 * t) - 40.0 * max(0.0, t - 0.9) * 10
    ay = 110.0 + 8.0 * np.cos(3.0 * t)
    body = _ellipse(g, 0, 5, ax, ay)
    hu[body] = -100.0  # subcutaneous fat
    inner = _ellipse(g, 0, 5, ax - 14, ay - 12)
    # soft tissue with gentle low-frequency variation (organs)
    tissue = 40.0 + 15.0 * np.sin(g.x / 37.0 + 5 * t) * np.cos(g.y / 29.0 - 3 * t)
    hu = np.where(inner, tissue, hu)
    if 0.45 < t < 0.92:  # chest: lungs with vessels
        size = np.sin(np.pi * (t - 0.45) / 0.47) ** 0.6
        for side in (-1, 1):
            lung = _ellipse(g, side * 68, 0, 52 * size + 8, 80 * size + 8)
            hu[lung] = -860.0
            for k in range(6):
                cx = side * (50 + 18 * np.sin(k * 1.7 + 6 * t))
                cy = -40 + 15 * k + 6 * np.cos(k + 9 * t)
                vessel = _ellipse(g, cx, cy, 3.0 + k % 3, 3.0 + k % 2)
                hu[vessel & lung] = 40.0 + 20 * k
        heart = _ellipse(g, 15, -20, 55 * size, 45 * size) if t < 0.75 else None
        if heart is not None:
            hu[heart] = 50.0
    else:  # abdomen: liver and kidneys
        hu[_ellipse(g, -60, -10, 70, 55)] = 60.0
        for side in (-1, 1):
            hu[_ellipse(g, side * 70, 55, 22, 30)] = 150.0
    hu[_ellipse(g, 18, 35, 13, 13)] = 300.0  # contrast-filled aorta
    spine_r = 20.0
    spine = _ellipse(g, 0, 75, spine_r, spine_r)
    hu[spine] = 1100.0
    hu[_ellipse(g, 0, 75, spine_r - 3, spine_r - 3)] = 250.0
    hu[(g.y > 135) & (g.y < 142) & (np.abs(g.x) < 170)] = 200.0  # table
    # correlated noise (a reconstruction kernel smooths white noise)
    white = rng.standard_normal((ROWS + 2, COLS + 2), dtype=np.float32)
    noise = (
        white[1:-1, 1:-1] * 2
        + white[:-2, 1:-1]
        + white[2:, 1:-1]
        + white[1:-1, :-2]
        + white[1:-1, 2:]
    ) / 2.45
    hu += noise * np.where(hu > -950, 14.0, 5.0).astype(np.float32)
    hu = np.maximum(hu, -1024.0)
    stored = np.rint(hu - INTERCEPT).astype(np.int16)
    stored[g.fov] = PADDING
    return stored


def _header(spec: SeriesSpec, k: int, z: float, spacing: float) -> Dataset:
    """A CT Image header close to a GE export: about 210 elements with private groups."""
    ds = image_dataset(
        sop_class_uid=CTImageStorage,
        sop_instance_uid=_uid("sop", spec.name, VERSION, k),
        study_uid=_uid("study", VERSION),
        series_uid=_uid("series", spec.name, VERSION),
        frame_of_reference_uid=_uid("for", VERSION),
        modality="CT",
        instance_number=spec.slices - k,  # head first: instance 1 is the top slice
        patient_name="BENCH^SYNTHETIC",
        patient_id="BENCH0001",
        series_number={"unc": 2, "rle": 3, "j2k": 4}[spec.kind],
        series_description=f"BENCH {spec.name.upper()} STANDARD",
        manufacturer="GE MEDICAL SYSTEMS",
        study_date="20260301",
        study_time="101000",
        study_id="1234",
    )
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate, ds.InstanceCreationTime = "20260301", "101500"
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20260301"
    ds.SeriesTime = "101200"
    ds.AcquisitionTime = ds.ContentTime = f"1012{k % 60:02d}.{k:06d}"
    ds.AccessionNumber = "A0001234"
    ds.InstitutionName = "Synthetic Hospital"
    ds.InstitutionAddress = "1 Nowhere Road"
    ds.ReferringPhysicianName = "REFERRER^SYNTHETIC"
    ds.StationName = "CT01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS"
    ds.ProcedureCodeSequence = Sequence([_code("IMG1234", "L", "CT CHEST ABD PELVIS W")])
    ds.InstitutionalDepartmentName = "Radiology"
    ds.OperatorsName = "TECH^A"
    ds.ManufacturerModelName = "Revolution CT"
    ds.ReferencedImageSequence = Sequence([_ref(_uid("scout", spec.name, i)) for i in range(2)])
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "O"
    ds.PatientAge = "066Y"
    ds.PatientWeight = "72"
    ds.ContrastBolusAgent = "OMNIPAQUE 350"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = f"{spacing:g}"
    ds.KVP = "120"
    ds.SpacingBetweenSlices = f"{spacing:g}"
    ds.DataCollectionDiameter = "500.000000"
    ds.SoftwareVersions = "revo_ct_22mw.40"
    ds.ProtocolName = "5.1 CAP"
    ds.ReconstructionDiameter = f"{COLS * PIXEL_MM:.6f}"
    ds.DistanceSourceToDetector = "946.746000"
    ds.DistanceSourceToPatient = "538.520000"
    ds.GantryDetectorTilt = "0.000000"
    ds.TableHeight = "151.500000"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "490"
    ds.XRayTubeCurrent = "230"
    ds.Exposure = "11"
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = "28000"
    ds.FocalSpots = "0.700000"
    ds.ConvolutionKernel = "STANDARD"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.625
    ds.TotalCollimationWidth = 40.0
    ds.TableSpeed = 78.75
    ds.TableFeedPerRotation = 39.375
    ds.SpiralPitchFactor = 0.984375
    ds.CTDIvol = 9.87
    ds.CTDIPhantomTypeCodeSequence = Sequence(
        [_code("113691", "DCM", "IEC Body Dosimetry Phantom")]
    )
    ds.AcquisitionNumber = 1
    ds.ImagePositionPatient = [
        f"{-(COLS - 1) / 2 * PIXEL_MM:.4f}",
        f"{-(ROWS - 1) / 2 * PIXEL_MM:.4f}",
        f"{z:.4f}",
    ]
    ds.ImageOrientationPatient = [
        "1.000000",
        "0.000000",
        "0.000000",
        "0.000000",
        "1.000000",
        "-0.000000",
    ]
    ds.PositionReferenceIndicator = "XY"
    ds.SliceLocation = f"{z:.4f}"
    ds.ImagesInAcquisition = spec.slices
    set_pixel_module(ds, (ROWS, COLS), np.int16)
    ds.PixelSpacing = [f"{PIXEL_MM:g}", f"{PIXEL_MM:g}"]
    ds.PixelPaddingValue = PADDING
    ds.WindowCenter, ds.WindowWidth = ["40", "-600"], ["400", "1500"]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]
    ds.LossyImageCompression = "00"
    ds.RequestAttributesSequence = Sequence([_request(_uid("req", VERSION), "CT CHEST ABD PELVIS")])
    ds.PerformedProcedureStepStartDate = "20260301"
    ds.PerformedProcedureStepID = "PPS1234"
    _private_groups(ds, k, z)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _ref(uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = CTImageStorage, uid
    return item


def _request(uid: str, description: str) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = "RP1234"
    item.RequestedProcedureDescription = description
    item.ScheduledProcedureStepID = "SPS1234"
    item.StudyInstanceUID = uid
    return item


def _private_groups(ds: Dataset, k: int, z: float) -> None:
    """GE-like private blocks: acquisition, image and series details nobody reads."""
    for group, creator, count in (
        (0x0009, "GEMS_IDEN_01", 6),
        (0x0019, "GEMS_ACQU_01", 40),
        (0x0021, "GEMS_RELA_01", 12),
        (0x0027, "GEMS_IMAG_01", 10),
        (0x0043, "GEMS_PARM_01", 30),
        (0x0045, "GEMS_HELIOS_01", 8),
    ):
        block = ds.private_block(group, creator, create=True)
        for element in range(count):
            if element % 3 == 0:
                block.add_new(0x10 + element, "DS", f"{z + element * 0.5:.6f}")
            elif element % 3 == 1:
                block.add_new(0x10 + element, "SS", (element * 7 + k) % 30000)
            else:
                block.add_new(0x10 + element, "LO", f"GE PRIVATE VALUE {element:02d}")


def _write_slice(args: tuple[SeriesSpec, int, str]) -> int:
    spec, k, folder = args
    spacing = LENGTH_MM / spec.slices
    z = -LENGTH_MM / 2 + (k + 0.5) * spacing
    rng = np.random.default_rng([NOISE_SEED, spec.slices, k])
    stored = slice_hu(_grid(), k / max(spec.slices - 1, 1), rng)
    ds = _header(spec, k, z, spacing)
    plugin = "pylibjpeg" if spec.kind == "rle" else ""  # pydicom's own RLE encoder is slow
    set_pixel_data(ds, stored, SYNTAXES[spec.kind], plugin=plugin)
    # File names follow the instance number, as most exports do; slices are not in z order.
    path = Path(folder) / f"IM-0001-{ds.InstanceNumber:04d}.dcm"
    data = part10_bytes(ds, version_name="DICOMVIZ_BENCH")
    path.write_bytes(data)
    return len(data)


_GRID: _Grid | None = None


def _grid() -> _Grid:
    global _GRID
    if _GRID is None:
        _GRID = _Grid()
    return _GRID


def ensure_series(root: Path, spec: SeriesSpec, log=print) -> Path:
    """The series folder, generated (in parallel) unless a complete copy is already cached."""
    folder = root / f"{spec.name}-v{VERSION}"
    done = root / f"{folder.name}.complete"  # beside, not inside: load() reads every file
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.dcm"):
        stale.unlink()
    start = time.perf_counter()
    jobs = [(spec, k, str(folder)) for k in range(spec.slices)]
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        total = sum(pool.map(_write_slice, jobs, chunksize=8))
    done.write_text(f"{total}\n")
    log(
        f"  generated {spec.name}: {spec.slices} files, {total / 2**20:.1f} MiB "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return folder


def series_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in series_files(folder))
