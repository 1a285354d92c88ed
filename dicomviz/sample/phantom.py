"""A synthetic chest CT phantom, written as real DICOM files so it takes the user-data path.

Anatomy is drawn in patient millimetres (DICOM LPS: +x patient left, +y posterior, +z head) and
then sampled on the voxel grid, so the same body appears at any ``size`` or ``slices``. Output is
deterministic (fixed UIDs and dates, one seeded generator): the same call gives the same bytes,
so tests and caches can rely on it. The files are shuffled by name, as real exports are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomviz.errors import UsageError
from dicomviz.sample.writer import (
    image_dataset,
    part10_bytes,
    set_pixel_data,
    set_pixel_module,
    uid,
)

__all__ = ["SAMPLE_DESCRIPTION", "sample_series"]

SAMPLE_DESCRIPTION = "Synthetic chest CT phantom (not patient data)"

_SEED = 20240101
_FOV_MM = 204.8  # 256 columns x 0.8 mm; other sizes keep the field of view
_LENGTH_MM = 360.0  # 180 slices x 2.0 mm; other slice counts keep the covered length
_INTERCEPT = -1024.0

# Hounsfield units of each tissue.
AIR, LUNG, FAT, MEDIASTINUM, SOFT, MUSCLE = -1000.0, -850.0, -100.0, -70.0, 40.0, 45.0
WALL, LIVER, SPLEEN, STOMACH, KIDNEY, CORD, DISC = 30.0, 60.0, 50.0, 25.0, 150.0, 30.0, 80.0
MYOCARDIUM, AORTA, PULMONARY, LEFT_HEART, RIGHT_HEART = 50.0, 300.0, 260.0, 290.0, 250.0
CORTEX, CANCELLOUS, CARTILAGE, NOISE_SD = 700.0, 250.0, 150.0, 10.0

Point = tuple[float, float, float]
Vec = Point | np.ndarray
Segment = tuple[np.ndarray, np.ndarray, float, float]
Box = tuple[slice, slice, slice]
Mask = np.ndarray | None  # boolean, shaped like the volume

# Lobar regions each airway and pulmonary-artery tree fans out towards, per lung.
_LOBES = {
    -1: ((-45, 0, 125), (-55, -30, 45), (-60, 5, 0), (-40, 32, 5)),
    1: ((45, 0, 122), (55, -25, 40), (60, 5, -5), (40, 32, -5)),
}
_BRONCHUS_END = {-1: (-30.0, 0.0, 68.0), 1: (32.0, 2.0, 64.0)}
_HILUM = {-1: (-38.0, -14.0, 74.0), 1: (40.0, -12.0, 80.0)}


@dataclass(frozen=True)
class _Canvas:
    """A HU volume (slice, row, col) and its voxel-centre coordinates in mm, shaped to broadcast.

    Shapes are drawn only over their bounding box, which keeps hundreds of branches cheap.
    """

    vol: np.ndarray
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @classmethod
    def empty(cls, slices: int, size: int, pixel: float, step: float) -> _Canvas:
        """Air, with x = y = 0 mid-image and z centred on the volume, increasing upwards."""
        col = (np.arange(size, dtype=np.float32) - (size - 1) / 2) * pixel
        z = (np.arange(slices, dtype=np.float32) - (slices - 1) / 2) * step
        vol = np.full((slices, size, size), AIR, dtype=np.float32)
        return cls(vol, z.reshape(-1, 1, 1), col.reshape(1, -1, 1), col.reshape(1, 1, -1))

    def span(self, axis: int, lo: float, hi: float) -> slice:
        """The index range along ``axis`` whose voxel centres lie within [lo, hi] mm."""
        c = (self.z, self.y, self.x)[axis].ravel()
        step = float(c[1] - c[0]) if c.size > 1 else 1.0
        start = max(int(np.ceil((lo - c[0]) / step)), 0)
        stop = min(int(np.floor((hi - c[0]) / step)) + 1, c.size)
        return slice(start, max(stop, start))

    def box(self, lo: np.ndarray, hi: np.ndarray) -> Box:
        """The voxel box covering the (x, y, z) mm corners ``lo`` to ``hi``."""
        return (self.span(0, lo[2], hi[2]), self.span(1, lo[1], hi[1]), self.span(2, lo[0], hi[0]))

    def coords(self, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, z) coordinates inside ``box``, still broadcastable."""
        return self.x[:, :, box[2]], self.y[:, box[1]], self.z[box[0]]

    def tubes(
        self, segments: list[Segment], value: float, *, grow: float = 0.0, within: Mask = None
    ) -> None:
        """Set the voxels within each segment's tapering radius (plus ``grow`` mm) to ``value``,
        only where ``within`` holds if given."""
        for a, b, ra, rb in segments:
            pad = max(ra, rb) + grow
            box = self.box(np.minimum(a, b) - pad, np.maximum(a, b) + pad)
            x, y, z = self.coords(box)
            d = b - a
            t = ((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / max(d @ d, 1e-9)
            t = np.clip(t, 0.0, 1.0)
            dist2 = (x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2
            dist2 += (z - a[2] - t * d[2]) ** 2
            mask = dist2 <= (ra + grow + t * (rb - ra)) ** 2
            self.vol[box][mask if within is None else mask & within[box]] = value

    def ellipsoid(
        self, center: Point, axes: Point, value: float, within: Mask = None
    ) -> tuple[Box, np.ndarray]:
        """Set an axis-aligned ellipsoid (centre and semi-axes in mm, x, y, z) to ``value``,
        only where ``within`` holds if given; returns its box and mask."""
        c, r = np.asarray(center), np.asarray(axes)
        box = self.box(c - r, c + r)
        x, y, z = self.coords(box)
        mask = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2 <= 1
        if within is not None:
            mask &= within[box]
        self.vol[box][mask] = value
        return box, mask


def _polyline(points: list[Point], radii: list[float]) -> list[Segment]:
    """Consecutive segments of a tube through ``points`` with a radius per point."""
    pts = np.asarray(points, dtype=np.float64)
    return [(pts[i], pts[i + 1], radii[i], radii[i + 1]) for i in range(len(pts) - 1)]


def _tree(
    rng: np.random.Generator, start: Vec, target: Vec, radius: float, depth: int
) -> list[Segment]:
    """A branch heading for ``target`` that splits in two ``depth`` times.

    Each child aims at the parent's target shifted sideways by about half the remaining
    distance, so the tree fans out over the region around ``target`` while narrowing.
    """
    a, goal = np.asarray(start, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if depth == 0:
        return [(a, goal, radius, radius * 0.7)]
    end = a + 0.45 * (goal - a)
    rest = goal - end
    side = np.cross(rest, rng.normal(size=3))
    side *= 0.55 * np.linalg.norm(rest) / max(float(np.linalg.norm(side)), 1e-9)
    out: list[Segment] = [(a, end, radius, radius * 0.85)]
    for sign in (1.0, -1.0):
        child = end + rest + sign * side + rng.normal(scale=3.0, size=3)
        out += _tree(rng, end, child, radius * 0.75, depth - 1)
    return out


def _body(c: _Canvas) -> None:
    """Skin, a subcutaneous fat layer and muscle, narrowing from chest to neck at the top."""
    t = np.clip((c.z - 130.0) / 35.0, 0.0, 1.0)
    neck = t * t * (3 - 2 * t)  # smooth shoulders
    a, b = 96.0 - 38.0 * neck, 74.0 - 19.0 * neck
    for inset, value in ((0.0, SOFT), (2.0, FAT), (10.0, MUSCLE)):
        c.vol[(c.x / (a - inset)) ** 2 + (c.y / (b - inset)) ** 2 <= 1] = value


def _dome(c: _Canvas) -> np.ndarray:
    """Height (mm) of the diaphragm over each (row, col): two domes, the right one higher."""
    bulge = 1 - ((np.abs(c.x) - 35) / 42) ** 2 - (c.y / 60) ** 2
    return -45.0 - 5.0 * np.tanh(c.x / 15) + 45.0 * np.clip(bulge, -1.0, 1.0)


def _apex(z: np.ndarray) -> np.ndarray:
    """Scale of each lung's cross-section with height: 1 up to z = 95 mm, rounding off to 0 at
    the apex (z = 150 mm)."""
    return np.sqrt(1 - np.clip((z - 95.0) / 55.0, 0.0, 1.0) ** 2)


def _thorax(c: _Canvas, above: np.ndarray) -> np.ndarray:
    """Mediastinal fat, both lungs and the heart; returns the lung mask (heart excluded)."""
    widen = 1.0 - 0.1 * np.clip(c.z / 120.0, 0.0, 1.0)  # lungs are widest at the base
    cavity = ((c.x / (74 * widen)) ** 2 + (c.y / 52) ** 2 <= 1) & above & (c.z < 150)
    c.vol[cavity] = MEDIASTINUM
    # Lens-shaped mediastinum: the lungs nearly meet in front and wrap round the spine behind.
    lung = cavity & ((c.x / 22) ** 2 + ((c.y + 5) / 60) ** 2 > 1)
    lung &= ((np.abs(c.x) - 40) / 36) ** 2 + ((c.y - 5) / 48) ** 2 <= _apex(c.z) ** 2
    c.vol[lung] = LUNG
    box, heart = c.ellipsoid((8, -22, 15), (40, 30, 34), MYOCARDIUM, above)
    lung[box] &= ~heart
    for center, axes, value in (
        ((20, -16, 11), (15, 13, 20), LEFT_HEART),
        ((-4, -36, 17), (16, 9, 18), RIGHT_HEART),
        ((6, -4, 35), (14, 9, 10), LEFT_HEART),
    ):
        c.ellipsoid(center, axes, value, above)
    return lung


def _abdomen(c: _Canvas, below: np.ndarray) -> None:
    """Liver on the patient's right (negative x), stomach with an air-fluid level, spleen and
    kidneys, all under the diaphragm."""
    c.ellipsoid((-30, -5, -45), (62, 58, 62), LIVER, below)
    box, stomach = c.ellipsoid((40, -20, -55), (26, 20, 30), STOMACH, below)
    # Supine: gas floats to the anterior (negative y) side of the stomach.
    c.vol[box][stomach & (c.coords(box)[1] < -32)] = AIR
    c.ellipsoid((60, 30, -50), (16, 24, 30), SPLEEN, below)
    for side in (-1, 1):
        c.ellipsoid((45 * side, 38, -120), (16, 14, 32), KIDNEY, below)


def _spine(c: _Canvas) -> None:
    """Vertebrae every 24 mm (cortical shell, cancellous core, end plates), discs between, a
    posterior arch with spinous process around the cord, from neck to lumbar spine."""
    box = (slice(None), c.span(1, 10.0, 66.0), c.span(2, -22.0, 22.0))
    sub = c.vol[box]
    x, y, z = c.coords(box)
    r_body, r_canal = np.hypot(x, y - 26), np.hypot(x, y - 47)
    phase = (z - 2.0) % 24.0
    disc, body = phase < 4, phase >= 4
    plate = body & ((phase < 5.5) | (phase > 22.5))
    arch = (phase > 6) & (phase < 20)
    sub[disc & (r_body <= 12)] = DISC
    sub[body & (r_body <= 12)] = CORTEX
    sub[body & ~plate & (r_body <= 10.5)] = CANCELLOUS
    sub[np.broadcast_to(r_canal <= 6, sub.shape)] = CORD
    process = (np.abs(x) <= 2.5) & (y >= 55) & (y <= 62)
    sub[arch & (((r_canal > 6) & (r_canal <= 9.5)) | process)] = CORTEX


def _ribs(c: _Canvas) -> None:
    """Seven rib pairs following the chest wall, sloping down towards the front, joined to the
    sternum by cartilage."""
    theta = np.radians(np.linspace(14.0, 150.0, 10))
    drop = 30.0 * ((theta - theta[0]) / (theta[-1] - theta[0])) ** 1.5
    for level in (118.0, 94.0, 70.0, 46.0, 22.0, -2.0, -26.0):
        scale = float(_apex(np.float32(level)))
        for side in (-1, 1):
            arc = [
                (side * 81 * scale * np.sin(t), 59 * scale * np.cos(t), level - d)
                for t, d in zip(theta, drop, strict=True)
            ]
            rib = _polyline([(side * 12.0, 36.0, level), *arc], [3.5] * (len(arc) + 1))
            c.tubes(rib, CORTEX)
            c.tubes(rib, CANCELLOUS, grow=-1.8)
            end = arc[-1]
            joint = [end, (side * 9.0, -56.0, end[2] - 6.0)]
            c.tubes(_polyline(joint, [2.5, 2.5]), CARTILAGE)
    c.ellipsoid((0, -57, 53), (11, 4, 72), CORTEX)  # sternum
    c.ellipsoid((0, -57, 53), (9.5, 2.5, 70), CANCELLOUS)


def _vessels(c: _Canvas, rng: np.random.Generator, lung: np.ndarray) -> None:
    """Contrast-filled aorta (ascending, arch with neck branches, descending) and pulmonary
    arteries branching from each hilum into four lobar trees."""
    arch = [(-2, -24, 40), (-14, -30, 72), (-8, -28, 98), (14, -22, 114), (23, 0, 110)]
    descending = [(19, 15, 94), (19, 15, -60), (15, 12, -190)]
    aorta = _polyline([*arch, *descending], [11, 11, 10.5, 9.5, 9, 8.5, 8.5, 7.5])
    aorta += _polyline([(4, -24, 112), (-14, -20, 140), (-20, -16, 185)], [4.5, 4.5, 4])
    aorta += _polyline([(14, -22, 113), (16, -18, 140), (20, -16, 185)], [3.5, 3.5, 3.5])
    c.tubes(aorta, AORTA)
    trunk = _polyline([(4, -38, 38), (8, -36, 60), (10, -26, 74)], [8, 8, 7.5])
    trunk += _polyline([(10, -26, 74), (24, -10, 84), _HILUM[1]], [7, 6.5, 6])
    trunk += _polyline([(10, -26, 74), (-6, -14, 72), _HILUM[-1]], [7, 6.5, 6])
    c.tubes(trunk, PULMONARY)
    for side, targets in _LOBES.items():
        for target in targets:
            tree = _tree(rng, _HILUM[side], target, 4.5, 4)
            c.tubes(tree[:1], PULMONARY)
            c.tubes(tree[1:], PULMONARY, within=lung)


def _airways(rng: np.random.Generator) -> tuple[list[Segment], list[Segment]]:
    """Trachea, main bronchi and lobar trees: (central tubes, peripheral tubes in the lungs)."""
    central = _polyline([(0, -14, 190), (0, -12, 130), (0, -6, 84)], [7.5, 7.5, 6.5])
    peripheral: list[Segment] = []
    for side, targets in _LOBES.items():
        central += _polyline([(0, -6, 84), _BRONCHUS_END[side]], [5.5, 5.0])
        for target in targets:
            tree = _tree(rng, _BRONCHUS_END[side], target, 4.0, 3)
            central += tree[:1]
            peripheral += tree[1:]
    return central, peripheral


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], cells: int) -> np.ndarray:
    """Unit-scale noise varying over about ``shape / cells`` voxels (coarse noise upsampled
    linearly along each axis)."""
    out = rng.standard_normal(tuple(cells for _ in shape)).astype(np.float32)
    for axis, n in enumerate(shape):
        pos = np.linspace(0.0, cells - 1.0, n, dtype=np.float32)
        i0 = np.minimum(pos.astype(np.intp), cells - 2)
        frac = (pos - i0).reshape([n if k == axis else 1 for k in range(len(shape))])
        out = np.take(out, i0, axis) * (1 - frac) + np.take(out, i0 + 1, axis) * frac
    return out


def _phantom(c: _Canvas, rng: np.random.Generator) -> None:
    """Draw the phantom in Hounsfield units, back to front so later structures win."""
    _body(c)
    above = c.z > _dome(c)
    lung = _thorax(c, above)
    _abdomen(c, ~above)
    _spine(c)
    _ribs(c)
    central, peripheral = _airways(rng)
    c.tubes(central, WALL, grow=1.2)
    c.tubes(peripheral, WALL, grow=0.9, within=lung)
    _vessels(c, rng, lung)
    c.tubes(central, AIR)
    c.tubes(peripheral, AIR, within=lung)
    parenchyma = c.vol == LUNG
    texture = _smooth_noise(rng, c.vol.shape, 48)
    c.vol[parenchyma] += 20.0 * texture[parenchyma]
    c.vol[...] += rng.standard_normal(c.vol.shape, dtype=np.float32) * NOISE_SD


_NAMESPACE = "dicomviz synthetic chest phantom"
"""First part of every UID of the sample (see ``writer.uid``)."""

# Attributes shared by every slice besides those every synthetic image carries (see
# ``writer.image_dataset``); dates are fixed so the bytes never change.
_HEADER = {
    "SpecificCharacterSet": "ISO_IR 100",
    "ImageType": ["DERIVED", "SECONDARY", "AXIAL"],
    **{
        f"{kind}{part}": value
        for kind in ("Series", "Acquisition", "Content")
        for part, value in (("Date", "20240101"), ("Time", "120000"))
    },
    "AccessionNumber": "",
    "ManufacturerModelName": "synthetic phantom",
    "ReferringPhysicianName": "",
    "StudyDescription": "dicomviz sample",
    "PatientBirthDate": "",
    "PatientSex": "O",
    "BodyPartExamined": "CHEST",
    "AcquisitionNumber": 1,
    "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
    "PositionReferenceIndicator": "",
    "ImageComments": "Generated by dicomviz from code; not patient data.",
}


def _slice_file(
    pixels: np.ndarray, number: int, z: float, pixel: float, step: float, key: str
) -> bytes:
    """One CT Image Storage Part-10 file (preamble, file meta, Explicit VR Little Endian)."""
    rows, cols = pixels.shape
    ds = image_dataset(
        sop_class_uid=CTImageStorage,
        sop_instance_uid=uid(_NAMESPACE, key, "instance", number),
        study_uid=uid(_NAMESPACE, "study"),
        series_uid=uid(_NAMESPACE, key, "series"),
        frame_of_reference_uid=uid(_NAMESPACE, key, "frame of reference"),
        modality="CT",
        instance_number=number,
        patient_name="DOE^JANE",  # a stand-in name that no description of the sample holds
        patient_id="SAMPLE-0001",
        series_description=SAMPLE_DESCRIPTION,
    )
    for keyword, value in _HEADER.items():
        setattr(ds, keyword, value)
    ds.SliceThickness = ds.SpacingBetweenSlices = step
    # Centred field of view: the middle of the middle row and column is x = y = 0.
    corner = [round(-(cols - 1) / 2 * pixel, 4), round(-(rows - 1) / 2 * pixel, 4)]
    ds.ImagePositionPatient = [*corner, round(z, 4)]
    ds.SliceLocation = round(z, 4)
    ds.PixelSpacing = [pixel, pixel]
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = _INTERCEPT, 1, "HU"
    stored = pixels.astype(np.int16)
    set_pixel_module(ds, stored.shape, stored.dtype)
    set_pixel_data(ds, stored, ExplicitVRLittleEndian)
    return part10_bytes(ds, version_name="DICOMVIZ_SAMPLE")


def sample_series(*, slices: int = 180, size: int = 256) -> list[tuple[str, bytes]]:
    """A synthetic chest CT as (file name, DICOM bytes) pairs, one axial slice per file.

    At the defaults the grid is 0.8 mm in-plane and 2.0 mm between slices; other ``size`` and
    ``slices`` resample the same 204.8 mm x 360 mm body. Names are shuffled, not in z order.
    """
    if slices < 2 or size < 16:
        raise UsageError(f"the sample needs slices >= 2 and size >= 16, not {slices} and {size}")
    pixel, step = round(_FOV_MM / size, 6), round(_LENGTH_MM / slices, 6)
    canvas = _Canvas.empty(slices, size, pixel, step)
    _phantom(canvas, np.random.default_rng(_SEED))
    stored = np.clip(np.rint(canvas.vol - _INTERCEPT), 0, 4095).astype(np.int16)
    names = np.random.default_rng(_SEED + 1).permutation(slices) + 1
    key = f"{slices}x{size}"
    files = [
        (
            f"IM_{int(names[k]):04d}",
            _slice_file(stored[k], k + 1, float(canvas.z.flat[k]), pixel, step, key),
        )
        for k in range(slices)
    ]
    return sorted(files)
