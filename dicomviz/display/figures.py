"""Plotly figures of views: physical aspect, radiological labels, values and mm on hover.

Built here (no streamlit) so they can be tested alone. The image is a Heatmap whose colour range
is the window, so a new window only restyles; an invisible point grid over it makes clicks
selectable, since plotly.js gives no selection events for heatmaps (plotly.js #170).

The image keeps its physical aspect inside a figure of any width, so everything placed around
it (title, edge labels, scale bar, a black border) is positioned on the image's own domain
("x domain"/"y domain" references with pixel offsets), not on the figure.
"""

from __future__ import annotations

import base64
import io
from dataclasses import astuple

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from dicomviz.display.render import (
    LABEL_COLOUR,
    colour_table,
    plotly_colorscale,
    scale_bar_mm,
    scale_bar_text,
)
from dicomviz.display.views import View, check_plane
from dicomviz.display.windowing import Window, to_grey

PATIENT_DIRECTIONS = {"x": "L", "y": "P", "z": "S"}
"""DICOM LPS: a coordinate grows towards the patient's Left (x), Posterior (y), Superior (z);
hover and titles name it so, with its sign ('L -12.3' is 12.3 mm right of the origin)."""

# Canonical axis along each plane's normal (as in views): 0 inferior->superior (z),
# 1 anterior->posterior (y), 2 right->left (x).
_NORMAL_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}

# Pixels around the image, on the figure: a black border holding the labels (the bottom one
# also the scale bar), the title above it, and room right of it for Plotly's vertical toolbar,
# which would otherwise cover the title or the image on hover.
_BORDER = 20
_BOTTOM_BORDER = 30
_TITLE = 22
_TOOLBAR = 32

CLICK_GRID_MAX = 128
PICTURE_GRID_MAX = 48
"""The light (picture) figure's grid: every 11th pixel of a 512 image; hover shows the value
at the nearest grid point, clicks land within half a grid step."""
"""At most this many clickable points per image axis: every 4th pixel of a 512 image keeps
a 512x512 figure under 1.5 MB (bench/RESULTS.md); hover shows the value at that point."""


def display_values(image: np.ndarray) -> np.ndarray:
    """Smallest faithful array for the browser (half the bytes of float32 where it can be).

    Whole numbers that fit go as int16. Values spanning 512 units or more (HU, most MR) go as
    int16 rounded to whole units: half a unit is under 0.1% of their range, below what any
    display or window shows. Narrow-ranged floats (e.g. 0-1 maps) stay float32.
    """
    if image.dtype.kind in "iu" and image.dtype.itemsize <= 2 and image.dtype != np.uint16:
        return image
    if image.dtype.kind == "f" and np.isnan(image).any():
        return image.astype(np.float32)  # NaN (no data) travels as null: a gap on screen
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    fits = low >= -32768 and high < 32767
    if fits and (high - low >= 512 or image.dtype.kind in "iu"):
        return np.rint(image).astype(np.int16)
    return image.astype(np.float32)


def view_figure(
    view: View,
    window: Window,
    *,
    colormap: str = "gray",
    clickable: bool = False,
    crosshair: tuple[int, int] | None = None,
    height: int = 560,
    depth: tuple[str, float, float] | None = None,
    picture: bool = False,
) -> go.Figure:
    """``view`` on patient coordinates (LPS mm) in physical aspect.

    A heatmap of the values by default (a new window only restyles it), or with ``picture`` the
    windowed image as a PNG (a fifth of the bytes on the wire: the page's light figure; a new
    window then rebuilds the picture, never the view). ``crosshair`` = (row, col) draws
    linked-view guide lines; ``clickable`` adds the selectable point grid, which then also
    carries the hover text (value and position); a picture always has it, since its pixels
    hold no values. ``depth`` (from :func:`slab_position`) adds the position along the view's
    normal to the title.
    """
    rows, cols = view.image.shape
    values = display_values(view.image)
    units = f" {view.units}" if view.units else ""
    x_name, y_name = _direction(view, view.columns.name), _direction(view, view.rows.name)
    where = f"{x_name} %{{x:.1f}}, {y_name} %{{y:.1f}} mm"
    placed = {
        "x0": view.columns.start,
        "dx": view.columns.step,
        "y0": view.rows.start,
        "dy": view.rows.step,
    }
    if picture:
        image = {
            "type": "image",
            "source": _png_uri(view, window, colormap),
            **placed,
            "hoverinfo": "skip",
        }
    else:
        image = {
            "type": "heatmap",
            "z": values,
            **placed,
            "zmin": window.low,
            "zmax": window.high,
            "colorscale": plotly_colorscale(colormap),
            "showscale": False,
            "hoverongaps": False,
            "hovertemplate": f"%{{z}}{units}<br>{where}<extra></extra>",
        }
    traces = [image]
    if clickable or picture:
        traces += _click_grid(view, values, f"%{{customdata}}{units}", where, light=picture)
    half_x, half_y = view.columns.step / 2, view.rows.step / 2
    x_range = sorted([view.columns.at(0) - half_x, view.columns.at(cols - 1) + half_x])
    layout = {
        "xaxis": {"range": x_range, "visible": False, "constrain": "domain"},
        "yaxis": {
            # Plotly puts range[0] at the bottom: the last row's coordinate goes there.
            "range": [view.rows.at(rows - 1) + half_y, view.rows.at(0) - half_y],
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1,
            "constrain": "domain",
        },
        "height": height,
        "margin": {
            "l": _BORDER + 4,
            "r": _BORDER + _TOOLBAR,
            "t": _TITLE + _BORDER + 4,
            "b": _BOTTOM_BORDER + 4,
        },
        "plot_bgcolor": "black",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "dragmode": "pan",
        "showlegend": False,
        "hovermode": "closest",
        "modebar": {"orientation": "v"},
        # One dark hover box for every trace (values and 'no data' alike), not trace colours.
        "hoverlabel": {
            "bgcolor": "rgba(20, 20, 20, 0.85)",
            "bordercolor": "rgba(255, 255, 255, 0.6)",
            "font": {"color": "white"},
        },
        "annotations": [_title(figure_title(view, depth)), *_edge_labels(view), _scale_text(view)],
        "shapes": [
            *_border(),
            _scale_bar(view),
            *(_crosshair(view, crosshair) if crosshair else []),
        ],
    }
    # Plain values, checked by tests/test_figure_polish.py rather than by Plotly's validators
    # on every build: they cost 20-40 ms a figure, half of a slice step on the server.
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def _png_uri(view: View, window: Window, colormap: str) -> str:
    """The view windowed and coloured as a PNG data URI, one image pixel per view pixel (the
    axes carry the physical aspect)."""
    grey = to_grey(view.image, window)
    if colormap == "gray":
        picture = Image.fromarray(grey, "L")
    else:
        picture = Image.fromarray(colour_table(colormap)[grey], "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # speed over the last few bytes
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_title(view: View, depth: tuple[str, float, float] | None = None) -> str:
    """The view's title and where it lies along its normal (``depth`` from
    :func:`slab_position`): 'Axial slice 45 · S 12.5 mm', 'Coronal MIP 10-60 · 40 mm
    (P -20.0 to 20.0)'. Without a known orientation (no edge labels) the direction would be a
    guess, and ``depth`` is left out."""
    if depth is None or not _oriented(view):
        return view.title
    direction, first, last = depth
    if view.mode == "slice":
        return f"{view.title} · {direction} {first:.1f} mm"
    return f"{view.title} ({direction} {first:.1f} to {last:.1f})"


def slab_position(
    canon_affine: np.ndarray, plane: str, slab: tuple[int, int]
) -> tuple[str, float, float]:
    """(direction, mm, mm): the patient coordinate along ``plane``'s normal of the first and
    last slice of ``slab`` (canonical [start, stop) indices, as in ``View.slab``).

    ``canon_affine`` is the affine of ``views.canonical(volume)`` (from (S, P, L) indices to
    LPS mm). The coordinate is read at the slice's first row and column; on an oblique stack
    it varies across the slice (the views say so), and with gantry tilt the affine's shear
    keeps it exact.

    >>> affine = np.array(  # canonical axes (S, P, L) run along patient (z, y, x)
    ...     [[0, 0, 0.5, -90], [0, 0.5, 0, -120], [2.5, 0, 0, -300], [0, 0, 0, 1]]
    ... )
    >>> slab_position(affine, "axial", (10, 11))
    ('S', -275.0, -275.0)
    >>> slab_position(affine, "coronal", (0, 101))
    ('P', -120.0, -70.0)
    """
    axis = _NORMAL_AXIS[check_plane(plane)]
    patient = 2 - axis  # canonical axes 0, 1, 2 run along patient z, y, x
    start, stop = slab
    origin, step = float(canon_affine[patient, 3]), float(canon_affine[patient, axis])
    return "LPS"[patient], origin + start * step, origin + (stop - 1) * step


def _direction(view: View, name: str) -> str:
    """'L', 'P' or 'S' for a patient axis; the bare axis name when the orientation is unknown
    (a view without edge labels), where naming a direction would be a guess."""
    return PATIENT_DIRECTIONS.get(name, name) if _oriented(view) else name


def _oriented(view: View) -> bool:
    return any(astuple(view.labels))


def _click_grid(
    view: View, values: np.ndarray, value: str, where: str, *, light: bool = False
) -> list[dict]:
    """Invisible clickable points on every ``step``-th pixel; those over no data (NaN, between
    distant slices) form a second trace whose hover says so instead of 'nan HU'.

    The light figure's grid is sparser and not drawn at all (below): a WebGL scatter costs the
    browser a new WebGL context on every redraw (150-200 ms in Chromium here)."""
    rows, cols = values.shape
    step = max(1, -(-max(rows, cols) // (PICTURE_GRID_MAX if light else CLICK_GRID_MAX)))
    kind = "scatter" if light else "scattergl"
    r, c = np.meshgrid(np.arange(0, rows, step), np.arange(0, cols, step), indexing="ij")
    x = np.float32(view.columns.start) + c.ravel().astype(np.float32) * view.columns.step
    y = np.float32(view.rows.start) + r.ravel().astype(np.float32) * view.rows.step
    sampled = values[::step, ::step].ravel()
    empty = np.isnan(sampled) if sampled.dtype.kind == "f" else np.zeros(sampled.shape, bool)
    if light:
        # Text points that are never drawn: plotly.js hovers and selects points from its data,
        # not from what it drew, so ``maxdisplayed`` keeps the hover and the clicks while the
        # page draws none of them. Drawn, 2,209 empty text points cost 30 ms of each redraw in
        # Chromium here (made and removed one by one), invisible markers 100 ms.
        points = {
            "type": kind,
            "mode": "text",
            "text": "",
            "marker": {"maxdisplayed": 1},
            "showlegend": False,
        }
    else:
        marker = {"size": max(4, step * 3), "opacity": 0}
        points = {"type": kind, "mode": "markers", "marker": marker, "showlegend": False}
    traces = [
        {
            **points,
            "x": x[~empty],
            "y": y[~empty],
            "customdata": sampled[~empty],
            "hovertemplate": f"{value}<br>{where}<extra></extra>",
        }
    ]
    if empty.any():
        traces.append(
            {
                **points,
                "x": x[empty],
                "y": y[empty],
                "hovertemplate": f"no data<br>{where}<extra></extra>",
            }
        )
    return traces


def _title(text: str) -> dict:
    """Centred over the image (not the figure, which may be wider), above its border."""
    return {
        "name": "title",
        "text": text,
        "showarrow": False,
        "font": {"size": 13},
        "xref": "x domain",
        "yref": "y domain",
        "x": 0.5,
        "y": 1.0,
        "xanchor": "center",
        "yanchor": "bottom",
        "yshift": _BORDER + 2,
    }


def _edge_labels(view: View) -> list[dict]:
    """A/P, R/L, S/I on the black border just outside each edge, never over the anatomy."""
    style = {
        "showarrow": False,
        "font": {"color": "rgb({}, {}, {})".format(*LABEL_COLOUR), "size": 14},
        "xref": "x domain",
        "yref": "y domain",
    }
    labels = view.labels
    gap = 3  # pixels between the image edge and the label
    every = [
        {**style, "name": "label-top", "text": labels.top, "x": 0.5, "y": 1.0,
         "yanchor": "bottom", "yshift": gap},
        {**style, "name": "label-bottom", "text": labels.bottom, "x": 0.5, "y": 0.0,
         "yanchor": "top", "yshift": -gap},
        {**style, "name": "label-left", "text": labels.left, "x": 0.0, "y": 0.5,
         "xanchor": "right", "xshift": -gap},
        {**style, "name": "label-right", "text": labels.right, "x": 1.0, "y": 0.5,
         "xanchor": "left", "xshift": gap},
    ]  # fmt: skip
    return [label for label in every if label["text"]]  # none when the orientation is unknown


def _border() -> list[dict]:
    """Black bands around the image (sides sized in pixels, lengths in domain fractions), so the
    labels and scale bar read the same on a dark or a light page.

    Each band reaches 1 px under the image (drawn below the heatmap, so hidden) and the corners
    overlap the bands: abutting edges at fractional pixels would leave a seam of page colour.
    """
    band = {"type": "rect", "fillcolor": "black", "line": {"width": 0}, "layer": "below"}
    across = {"xref": "x domain", "x0": 0, "x1": 1}
    down = {"yref": "y domain", "y0": 0, "y1": 1}
    sides = {  # (anchor, pixels from, pixels to) in x or y
        "top": (1, -1, _BORDER),
        "bottom": (0, -_BOTTOM_BORDER, 1),
        "left": (0, -_BORDER, 1),
        "right": (1, -1, _BORDER),
    }
    shapes = []
    for side in ("top", "bottom"):
        anchor, y0, y1 = sides[side]
        shapes.append({**band, **across, **_pixels("y", anchor, y0, y1)})
        for corner in ("left", "right"):
            x_anchor, x0, x1 = sides[corner]
            shapes.append(
                {**band, **_pixels("x", x_anchor, x0, x1), **_pixels("y", anchor, y0, y1)}
            )
    for side in ("left", "right"):
        anchor, x0, x1 = sides[side]
        shapes.append({**band, **down, **_pixels("x", anchor, x0, x1)})
    return shapes


def _pixels(axis: str, anchor: float, start: int, stop: int) -> dict:
    """A shape's extent along ``axis`` in pixels from ``anchor`` (a fraction of the domain)."""
    return {
        f"{axis}ref": f"{axis} domain",
        f"{axis}sizemode": "pixel",
        f"{axis}anchor": anchor,
        f"{axis}0": start,
        f"{axis}1": stop,
    }


def _scale_fraction(view: View) -> tuple[float, float]:
    """(length in mm, length as a fraction of the image width) of the view's scale bar."""
    width_mm = view.image.shape[1] * view.spacing[1]
    length = scale_bar_mm(width_mm)
    return length, length / width_mm


_SCALE_RIGHT = 0.97
"""The scale bar ends at this fraction of the image width, clear of the corner."""


def _scale_bar(view: View) -> dict:
    """A white line of a round length in the bottom border, at the right."""
    _, fraction = _scale_fraction(view)
    return {
        "type": "line",
        "name": "scale-bar",
        "xref": "x domain",
        "x0": _SCALE_RIGHT - fraction,
        "x1": _SCALE_RIGHT,
        **_pixels("y", 0, -_BOTTOM_BORDER + 7, -_BOTTOM_BORDER + 7),
        "line": {"color": "white", "width": 2},
    }


def _scale_text(view: View) -> dict:
    """The scale bar's length, written just above the bar."""
    length, fraction = _scale_fraction(view)
    return {
        "name": "scale-bar",
        "text": scale_bar_text(length),
        "showarrow": False,
        "font": {"color": "white", "size": 10},
        "xref": "x domain",
        "yref": "y domain",
        "x": _SCALE_RIGHT - fraction / 2,
        "y": 0.0,
        "xanchor": "center",
        "yanchor": "top",
        "yshift": -2,
    }


def _crosshair(view: View, pixel: tuple[int, int]) -> list[dict]:
    rows, cols = view.image.shape
    x, y = view.columns.at(pixel[1]), view.rows.at(pixel[0])
    x_ends = (
        view.columns.at(0) - view.columns.step / 2,
        view.columns.at(cols - 1) + view.columns.step / 2,
    )
    y_ends = (view.rows.at(0) - view.rows.step / 2, view.rows.at(rows - 1) + view.rows.step / 2)
    line = {"color": "rgba(0, 200, 255, 0.6)", "width": 1, "dash": "dot"}
    return [
        {"type": "line", "x0": x, "x1": x, "y0": y_ends[0], "y1": y_ends[1], "line": line},
        {"type": "line", "x0": x_ends[0], "x1": x_ends[1], "y0": y, "y1": y, "line": line},
    ]
