"""The first picture of a series, as a radiographer would open it.

The middle slice in the plane the stack was acquired in (all three planes for a thin-slice 3-D
acquisition), in a window that shows the anatomy: the files' own window (from the middle of the
stack) when it does, else for CT a preset chosen by body part and slice content, else a window
on the body's own values. Projections get windows that fit them: MinIP the lung window only
where there is lung, MIP and mean a window on their own values.

Shared by the page and the command line, so both show the same picture by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dicomviz.display import modes
from dicomviz.display.views import View
from dicomviz.display.windowing import CT_PRESETS, Window
from dicomviz.geometry import Plane
from dicomviz.pixels.volume import Volume
from dicomviz.series.stacks import Stack

THREE_PLANES_MIN_SLICES = 64
THREE_PLANES_MAX_ANISOTROPY = 2.5
"""A stack of at least 64 slices no more than 2.5 times thicker than its pixels are wide reads
well in all three planes (a 3-D acquisition, thin-slice CT); others in the acquired plane."""
_SAMPLE = 400_000
_HEAD_WORDS = ("HEAD", "BRAIN", "SKULL", "CRAN", "KOPF", "SCHAED", "CEREBR", "NEURO")
_CHEST_WORDS = ("CHEST", "THORAX", "LUNG", "THX")
_LUNG_HU = (-950.0, -500.0)
"""Aerated lung (outside air is about -1000 HU, soft tissue -100 to 100)."""


@dataclass(frozen=True)
class Picture:
    """How a series opens: planes, mode and the window with the reason it was chosen."""

    planes: tuple[Plane, ...]
    mode: str
    window: Window
    why: str
    """Where the window comes from, in plain words (shown on the page)."""


def opening_planes(stack: Stack) -> tuple[Plane, ...]:
    """The acquired plane, or all three for a thin-slice volume."""
    positioned = all(f.position is not None for f in stack.frames)
    finest = min(stack.pixel_spacing)
    thin = stack.slice_spacing <= THREE_PLANES_MAX_ANISOTROPY * max(finest, 1e-6)
    if positioned and stack.depth >= THREE_PLANES_MIN_SLICES and thin:
        return ("axial", "coronal", "sagittal")
    return (acquired_plane(stack),)


def acquired_plane(stack: Stack) -> Plane:
    """The patient plane nearest to the slices (an oblique stack's nearest one)."""
    if stack.plane in ("axial", "coronal", "sagittal"):
        return stack.plane  # type: ignore[return-value]
    from dicomviz.geometry import slice_normal

    axis = int(np.argmax(np.abs(slice_normal(stack.orientation))))
    return ("sagittal", "coronal", "axial")[axis]  # type: ignore[return-value]


def opening(stack: Stack, volume: Volume) -> Picture:
    """The first picture of ``stack``: middle slices of its opening planes, windowed."""
    window, why = initial_window(volume, "slice")
    return Picture(opening_planes(stack), "slice", window, why)


def initial_window(volume: Volume, mode: str, view: View | None = None) -> tuple[Window, str]:
    """The window a view of ``mode`` starts with, and why: the one both the page and the
    command line use, so they show the same picture. ``volume`` is the volume as built (its
    middle stored slice is the opening picture's); ``view`` the view to be shown.

    By the mode's ``opening_window`` rule (``dicomviz.display.modes``): ``picture``, the files'
    window if it shows the middle slice well, else a CT preset by body part and content, else
    the body's 1st-99.5th percentiles; ``projection``, the view's own values, which differ from
    a slice's; ``lung``, the lung window for a CT with lung, else as ``projection``.
    """
    rule = modes.get(mode).opening_window
    if rule == "lung" and volume.modality == "CT" and has_lung(volume):
        return CT_PRESETS["lung"], "lung window (MinIP shows air in the lungs)"
    if rule in ("projection", "lung") and view is not None:
        window = body_window(view.image, padding=volume.padding_value)
        return window, "from this projection's values"
    return picture_window(volume)


def picture_window(volume: Volume) -> tuple[Window, str]:
    """The opening picture's window, and why (see :func:`initial_window`)."""
    middle = _middle(volume)
    if volume.file_window is not None:
        window = Window(*volume.file_window)
        if shows_well(middle, window, padding=volume.padding_value):
            return window, "the files' own window"
    if volume.modality == "CT":
        name = ct_preset(volume)
        return CT_PRESETS[name], f"{name} window"
    return body_window(middle, padding=volume.padding_value), "from the image's values"


def ct_preset(volume: Volume) -> str:
    """'brain' for a head, 'lung' never for a slice (soft tissue first: mediastinum for a
    chest, abdomen otherwise), by BodyPartExamined and the description, else by content."""
    said = f"{volume.body_part} {volume.description}".upper()
    if any(word in said for word in _HEAD_WORDS):
        return "brain"
    if any(word in said for word in _CHEST_WORDS):
        return "mediastinum"
    middle = _middle(volume)
    if _looks_like_head(middle, volume.spacing[1:]):
        return "brain"
    return "mediastinum" if has_lung(volume) else "abdomen"


def has_lung(volume: Volume) -> bool:
    """Whether a CT holds aerated lung: a tenth of the body voxels (above -500 HU or lung
    density) between -950 and -500 HU, in the middle half of the slices."""
    depth = volume.shape[0]
    block = volume.array[depth // 4 : max(depth // 4 + 1, 3 * depth // 4)]
    values = _sample(block)
    lung = np.count_nonzero((values > _LUNG_HU[0]) & (values < _LUNG_HU[1]))
    body = np.count_nonzero(values > _LUNG_HU[0])
    return body > 0 and lung / body > 0.1


def body_window(image: np.ndarray, *, padding: float | None = None) -> Window:
    """A window on the body: from the darkest values (background stays black) to the 99.5th
    percentile of the body's voxels, so bright tissue is not washed out."""
    values = _sample(image, padding)
    if values.size == 0:
        return Window(0.5, 1.0)
    body = values[values > _body_threshold(values)]
    if body.size < 16:
        body = values
    low = float(np.percentile(values, 1))
    high = float(np.percentile(body, 99.5))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        return Window(low, 1.0)
    return Window((low + high) / 2, high - low)


@dataclass(frozen=True)
class Quality:
    """What a person sees of a windowed picture, as fractions."""

    white: float
    """Share of the body's pixels clipped to white (a white blob when high)."""
    black: float
    """Share of the body's pixels clipped to black (lungs in a soft-tissue window are meant to)."""
    contrast: float
    """Spread between the 5th and 95th percentile grey levels, of the body or of the whole
    picture, whichever is larger (near 0: a blank picture)."""

    @property
    def saturated(self) -> bool:
        return self.white > 0.25

    @property
    def blank(self) -> bool:
        return self.contrast < 0.1


def picture_quality(image: np.ndarray, window: Window, *, padding: float | None = None) -> Quality:
    """How ``image`` looks in ``window``: clipped shares inside the body, and contrast."""
    values = _sample(image, padding)
    if values.size == 0:
        return Quality(0.0, 1.0, 0.0)
    body = values[values > _body_threshold(values)]
    if body.size < 16:
        body = values

    def grey(v: np.ndarray) -> np.ndarray:
        return np.clip((v - window.low) / window.width, 0.0, 1.0)

    spreads = [np.subtract(*np.percentile(grey(v), [95, 5])) for v in (body, values)]
    return Quality(  # clipped: beyond the window (a value at its very end is shown as it is)
        white=float(np.mean(body > window.high)),
        black=float(np.mean(body < window.low)),
        contrast=float(max(spreads)),
    )


def shows_well(image: np.ndarray, window: Window, *, padding: float | None = None) -> bool:
    """Neither saturated (a quarter of the body white) nor blank (no contrast)."""
    quality = picture_quality(image, window, padding=padding)
    return not quality.saturated and not quality.blank


def _middle(volume: Volume) -> np.ndarray:
    """The middle plane with data (a resampled stack may have empty planes: NaN throughout, so
    their first voxel tells)."""
    depth = volume.shape[0]
    for offset in range(depth):
        for k in (depth // 2 + offset, depth // 2 - offset):
            if 0 <= k < depth and not np.isnan(volume.array[k].flat[0:1]).all():
                return volume.array[k]
    return volume.array[depth // 2]


def _sample(values: np.ndarray, padding: float | None = None) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE + 1]
    flat = flat.astype(np.float32, copy=False)
    keep = np.isfinite(flat)
    if padding is not None:
        keep &= flat != padding
    return flat[keep]


def _body_threshold(values: np.ndarray) -> float:
    """Between background and body: Otsu's threshold on a 256-bin histogram (outside air in CT,
    noise around an MR head), so windows and quality look at the patient, not at the air."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low - 1
    counts, edges = np.histogram(values, bins=256, range=(low, high))
    centers = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    mean = np.cumsum(counts * centers)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1)
    return float(centers[int(np.argmax(between[:-1]))])


def _looks_like_head(image: np.ndarray, pixel_spacing: tuple[float, float]) -> bool:
    """A head CT slice: a body narrower than 22 cm, with air all around it (not a field of view
    cut to the spine, say), holding a good share of bone (the skull)."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=-1000.0)
    body = values > -300
    if not body.any():
        return False
    edges = np.concatenate([body[0], body[-1], body[:, 0], body[:, -1]])
    if edges.mean() > 0.05:
        return False
    columns = np.flatnonzero(body.any(axis=0))
    width_mm = (columns[-1] - columns[0] + 1) * pixel_spacing[1]
    bone = np.count_nonzero(values > 300) / np.count_nonzero(body)
    return width_mm < 220 and bone > 0.05
