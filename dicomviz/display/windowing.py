"""Window/level: presets, defaults, and the mapping of values to display grey levels.

A window is (center, width) in the image's physical units (HU for CT). It only decides colours,
so changing it never recomputes a view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dicomviz.errors import UsageError


@dataclass(frozen=True)
class Window:
    center: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"window width must be positive, got {self.width}")

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2

    def __str__(self) -> str:
        return f"C {self.center:g} / W {self.width:g}"


# Common CT presets (center, width) in HU, as in clinical viewers and Radiopaedia's tables.
CT_PRESETS: dict[str, Window] = {
    "brain": Window(40, 80),
    "subdural": Window(75, 215),
    "stroke": Window(40, 40),
    "lung": Window(-600, 1500),
    "mediastinum": Window(50, 350),
    "abdomen": Window(50, 400),
    "liver": Window(30, 150),
    "bone": Window(400, 1800),
}
CT_DEFAULT = "abdomen"
PRESET_HELP = {
    "brain": "brain tissue: grey and white matter, fresh bleeding",
    "subdural": "blood collected next to the skull",
    "stroke": "very narrow: the first signs of a stroke",
    "lung": "air-filled lung: airways, vessels and nodules in the lung",
    "mediastinum": "the chest's soft tissue: heart, large vessels, lymph nodes",
    "abdomen": "the belly's soft tissue: liver, kidneys, bowel",
    "liver": "narrow: small differences inside the liver",
    "bone": "bone detail: fractures, the inner ear",
}
"""One line of plain help per CT preset, for tooltips."""


def presets_for(modality: str) -> dict[str, Window]:
    """Named presets that make sense for a modality (CT only: others have no absolute scale)."""
    return dict(CT_PRESETS) if modality.upper() == "CT" else {}


def percentile_window(
    values: np.ndarray, *, padding_value: float | None = None, sample: int = 1_000_000
) -> Window:
    """1st-99th percentile of the values (padding outside the field of view left out)."""
    flat = values.reshape(-1)
    if flat.size > sample:
        flat = flat[:: flat.size // sample + 1]
    if padding_value is not None:
        flat = flat[flat != padding_value]
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        return Window(0.5, 1.0)
    low, high = np.percentile(flat, [1, 99])
    if high <= low:
        low, high = float(flat.min()), float(flat.max())
    if high <= low:
        return Window(float(low), 1.0)
    return Window(float(low + high) / 2, float(high - low))


def default_window(
    values: np.ndarray,
    *,
    modality: str = "",
    file_window: tuple[float, float] | None = None,
    padding_value: float | None = None,
) -> Window:
    """The file's own window when it has one, else a CT soft-tissue preset, else percentiles."""
    if file_window is not None:
        return Window(*file_window)
    if modality.upper() == "CT":
        return CT_PRESETS[CT_DEFAULT]
    return percentile_window(values, padding_value=padding_value)


def to_grey(image: np.ndarray, window: Window) -> np.ndarray:
    """8-bit grey levels by the DICOM linear VOI function (PS3.3 C.11.2.1.2.1)."""
    scale = 255.0 / max(window.width - 1, 1e-6)
    offset = (window.center - 0.5) - (window.width - 1) / 2
    grey = (np.asarray(image, dtype=np.float32) - np.float32(offset)) * np.float32(scale)
    np.clip(grey, 0, 255, out=grey)
    if grey.dtype.kind == "f":
        np.nan_to_num(grey, copy=False, nan=0.0)  # no data (between distant slices): black
    return grey.astype(np.uint8)


def parse_window(text: str) -> Window:
    """'C,W' from the command line, e.g. '40,400' or '-600,1500'."""
    try:
        center, width = (float(v) for v in text.split(","))
        return Window(center, width)
    except ValueError:
        raise UsageError(f"window {text!r} must be CENTER,WIDTH with a positive width") from None
