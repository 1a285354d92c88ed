"""8-bit pictures of a view: windowed, coloured, in physical aspect, optionally labelled.

Physical aspect means a pixel on screen is as wide and tall as it is in mm: the axis with the
coarser spacing is stretched (bilinear) to the finer one.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import plotly.colors
from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError
from .views import View
from .windowing import Window, to_grey

COLORMAPS: tuple[str, ...] = ("gray", "bone", "hot", "viridis", "inferno", "ice")
_BONE = [
    [0.0, "rgb(0,0,0)"],
    [0.375, "rgb(84,84,116)"],
    [0.75, "rgb(169,200,200)"],
    [1.0, "rgb(255,255,255)"],
]
# Plotly's own "gray" is not linear; a grey ramp must be, or the window would lie.
_LINEAR = {"gray": [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]], "bone": _BONE}


def plotly_colorscale(name: str) -> list:
    """A Plotly colorscale for one of COLORMAPS."""
    if name not in COLORMAPS:
        raise UsageError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return _LINEAR.get(name) or plotly.colors.get_colorscale(name)


@cache
def colour_table(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table sampled from the colormap."""
    samples = plotly.colors.sample_colorscale(plotly_colorscale(name), np.linspace(0, 1, 256))
    rgb = [
        plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(c)[0][0])
        for c in samples
    ]
    return np.clip(np.rint(np.array(rgb)), 0, 255).astype(np.uint8)


def physical_size(view: View, *, min_size: int = 0) -> tuple[int, int]:
    """(width, height) in screen pixels so that both axes share the finer mm-per-pixel."""
    rows, cols = view.image.shape
    finest = min(view.spacing)
    width = cols * view.spacing[1] / finest
    height = rows * view.spacing[0] / finest
    zoom = max(1.0, min_size / max(width, height)) if min_size else 1.0
    return max(1, round(width * zoom)), max(1, round(height * zoom))


def view_image(
    view: View, window: Window, *, colormap: str = "gray", labels: bool = False, min_size: int = 0
) -> Image.Image:
    """The view as a Pillow image: windowed, coloured, stretched to physical aspect."""
    grey = to_grey(view.image, window)
    mode_image = (
        Image.fromarray(grey, "L")
        if colormap == "gray"
        else Image.fromarray(colour_table(colormap)[grey], "RGB")
    )
    size = physical_size(view, min_size=min_size)
    if size != (grey.shape[1], grey.shape[0]):
        mode_image = mode_image.resize(size, Image.Resampling.BILINEAR)
    if labels:
        mode_image = _draw_labels(mode_image.convert("RGB"), view)
    return mode_image


def view_png(
    view: View, window: Window, *, colormap: str = "gray", labels: bool = False, min_size: int = 0
) -> bytes:
    """PNG bytes of :func:`view_image`."""
    buffer = io.BytesIO()
    view_image(view, window, colormap=colormap, labels=labels, min_size=min_size).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def _draw_labels(image: Image.Image, view: View) -> Image.Image:
    draw = ImageDraw.Draw(image)
    size = max(12, min(image.size) // 24)
    font = ImageFont.load_default(size=size)
    width, height = image.size
    margin = size // 3
    spots = {
        view.labels.top: (width / 2, margin, "mt"),
        view.labels.bottom: (width / 2, height - margin, "mb"),
        view.labels.left: (margin, height / 2, "lm"),
        view.labels.right: (width - margin, height / 2, "rm"),
    }
    for text, (x, y, anchor) in spots.items():
        draw.text(
            (x, y),
            text,
            fill=(255, 210, 0),
            font=font,
            anchor=anchor,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return image
