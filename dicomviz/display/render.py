"""8-bit pictures of views: windowed, coloured, in physical aspect, optionally labelled.

Physical aspect means a pixel on screen is as wide and tall as it is in mm: the axis with the
coarser spacing is stretched (bilinear) to the finer one. Labels, a scale bar and a title go on a
black border around the image, never over the anatomy.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import plotly.colors
from PIL import Image, ImageDraw, ImageFont

from dicomviz.display.views import View
from dicomviz.display.windowing import Window, to_grey
from dicomviz.errors import UsageError

LABEL_COLOUR = (255, 210, 0)
"""Edge labels (A/P, R/L, S/I): yellow on the black border, as in the figures."""
BORDER_COLOUR = (0, 0, 0)
TEXT_COLOUR = (235, 235, 235)
"""Title and scale bar on the border."""
GAP_COLOUR = (64, 64, 64)
"""Between views side by side: lighter than their black borders, so each reads as one panel."""

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


def scale_bar_mm(width_mm: float) -> float:
    """A round length (1, 2 or 5 times a power of ten, in mm) nearest a fifth of ``width_mm``.

    Nearest on a log scale, so the bar is 1/8 to 1/3 of the width: long enough to read, short
    enough to fit beside a centred edge label.
    """
    if not width_mm > 0:
        raise UsageError(f"an image width must be positive to scale a bar, got {width_mm} mm")
    target = width_mm / 5
    power = math.floor(math.log10(target))
    lengths = [m * 10.0**p for p in (power, power + 1) for m in (1, 2, 5)]
    return min(lengths, key=lambda length: abs(math.log(length / target)))


def scale_bar_text(length_mm: float) -> str:
    """'50 mm', '0.5 mm': the length written beside a scale bar."""
    return f"{length_mm:g} mm"


def view_image(
    view: View,
    window: Window,
    *,
    colormap: str = "gray",
    labels: bool = False,
    min_size: int = 0,
    title: str | None = None,
) -> Image.Image:
    """The view as a Pillow image: windowed, coloured, stretched to physical aspect.

    With ``labels`` the image sits on a black border holding the edge labels, a scale bar and
    ``title`` (if given), so none of them covers the anatomy; without, it is the image alone.
    """
    picture = _picture(view, window, colormap, physical_size(view, min_size=min_size))
    if not labels:
        return picture
    return _framed(picture, view, font_size=_font_size(picture.size), title=title)


def view_png(
    view: View,
    window: Window,
    *,
    colormap: str = "gray",
    labels: bool = False,
    min_size: int = 0,
    title: str | None = None,
) -> bytes:
    """PNG bytes of :func:`view_image`."""
    image = view_image(
        view, window, colormap=colormap, labels=labels, min_size=min_size, title=title
    )
    return _png(image)


def views_image(
    views: Sequence[View],
    window: Window,
    *,
    colormap: str = "gray",
    labels: bool = True,
    min_size: int = 0,
    titles: Sequence[str] | None = None,
) -> Image.Image:
    """Several views side by side at one mm-per-pixel, so their sizes compare.

    The common scale is the finest spacing of all views (nothing is shrunk), enlarged until the
    largest view's longer side is ``min_size`` pixels. With ``labels`` each view gets its border
    (labels, scale bar, title: ``titles`` or the views' own); a gap separates the views.
    """
    if not views:
        raise UsageError("no views to put side by side")
    if titles is not None and len(titles) != len(views):
        raise UsageError(f"{len(titles)} titles given for {len(views)} views")
    mm_per_pixel = min(min(view.spacing) for view in views)
    largest = max(max(_extent_mm(view)) for view in views) / mm_per_pixel
    if min_size and largest < min_size:
        mm_per_pixel *= largest / min_size
    sizes = [_size_at(view, mm_per_pixel) for view in views]
    pictures = [_picture(v, window, colormap, size) for v, size in zip(views, sizes, strict=True)]
    font_size = max(_font_size(size) for size in sizes)  # one lettering for all
    if labels:
        names = titles if titles is not None else [view.title for view in views]
        pictures = [
            _framed(picture, view, font_size=font_size, title=name)
            for picture, view, name in zip(pictures, views, names, strict=True)
        ]
    gap = max(8, font_size // 2)
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    canvas = Image.new("RGB", (width, max(p.height for p in pictures)), GAP_COLOUR)
    x = 0
    for picture in pictures:
        canvas.paste(picture.convert("RGB"), (x, 0))  # top-aligned: titles on one line
        x += picture.width + gap
    return canvas


def views_png(
    views: Sequence[View],
    window: Window,
    *,
    colormap: str = "gray",
    labels: bool = True,
    min_size: int = 0,
    titles: Sequence[str] | None = None,
) -> bytes:
    """PNG bytes of :func:`views_image`: e.g. the three planes of 'All three' in one file."""
    image = views_image(
        views, window, colormap=colormap, labels=labels, min_size=min_size, titles=titles
    )
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _extent_mm(view: View) -> tuple[float, float]:
    """(width, height) of the view in mm."""
    rows, cols = view.image.shape
    return cols * view.spacing[1], rows * view.spacing[0]


def _size_at(view: View, mm_per_pixel: float) -> tuple[int, int]:
    width, height = _extent_mm(view)
    return max(1, round(width / mm_per_pixel)), max(1, round(height / mm_per_pixel))


def _picture(view: View, window: Window, colormap: str, size: tuple[int, int]) -> Image.Image:
    """Windowed and coloured, resized to ``size`` (bilinear) when it differs."""
    grey = to_grey(view.image, window)
    picture = (
        Image.fromarray(grey, "L")
        if colormap == "gray"
        else Image.fromarray(colour_table(colormap)[grey], "RGB")
    )
    if size != (grey.shape[1], grey.shape[0]):
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    return picture


def _font_size(size: tuple[int, int]) -> int:
    """Lettering that grows with the picture: 16 px for 512, never under 12."""
    return max(12, max(size) // 32)


def _framed(picture: Image.Image, view: View, *, font_size: int, title: str | None) -> Image.Image:
    """The picture on a black border: edge labels centred on each side, the scale bar in the
    bottom border at the right, the title above."""
    band = round(font_size * 1.5)
    small = max(10, round(font_size * 0.75))
    bar = max(2, font_size // 8)
    bottom = max(band, small + 6 * bar)  # the scale bar's text, a gap, the bar, a margin
    heading = round(font_size * 1.7) if title else 0
    width, height = picture.size
    framed = Image.new("RGB", (width + 2 * band, heading + band + height + bottom), BORDER_COLOUR)
    left, top = band, heading + band
    framed.paste(picture.convert("RGB"), (left, top))
    draw = ImageDraw.Draw(framed)
    middle_x, middle_y = left + width / 2, top + height / 2
    spots = (
        (view.labels.top, (middle_x, heading + band / 2)),
        (view.labels.bottom, (middle_x, top + height + band / 2)),
        (view.labels.left, (band / 2, middle_y)),
        (view.labels.right, (left + width + band / 2, middle_y)),
    )
    for text, spot in spots:
        if text:  # none when the orientation is unknown
            draw.text(spot, text, fill=LABEL_COLOUR, font=_font(font_size), anchor="mm")
    if title:
        title_font = _fitting_font(draw, title, font_size, framed.width - 4)
        draw.text((framed.width / 2, heading / 2), title, TEXT_COLOUR, title_font, anchor="mm")
    _draw_scale_bar(
        draw,
        view,
        pixels_wide=width,
        right=left + width - max(4, width // 30),
        baseline=top + height + bar + small,
        font_size=small,
        thickness=bar,
    )
    return framed


def _draw_scale_bar(
    draw: ImageDraw.ImageDraw,
    view: View,
    *,
    pixels_wide: int,
    right: int,
    baseline: int,
    font_size: int,
    thickness: int,
) -> None:
    """A bar of a round length ending at ``right``, its length written above it (text
    baseline at ``baseline``), in the bottom border."""
    width_mm = _extent_mm(view)[0]
    length = scale_bar_mm(width_mm)
    pixels = max(1, round(length * pixels_wide / width_mm))
    y = baseline + 2 * thickness
    draw.rectangle((right - pixels, y, right - 1, y + thickness - 1), fill=TEXT_COLOUR)
    text = scale_bar_text(length)
    draw.text((right - pixels / 2, baseline), text, TEXT_COLOUR, _font(font_size), anchor="ms")


def _fitting_font(
    draw: ImageDraw.ImageDraw, text: str, size: int, width: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font at ``size``, smaller if ``text`` would not fit in ``width`` pixels."""
    while size > 8 and draw.textlength(text, font=_font(size)) > width:
        size -= 1
    return _font(size)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)
