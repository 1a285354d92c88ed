"""Plotly figures of views: physical aspect, radiological labels, values and mm on hover.

Built here (no streamlit) so they can be tested alone. The image is a Heatmap whose colour range
is the window, so a new window only restyles; an invisible point grid over it makes clicks
selectable, since plotly.js gives no selection events for heatmaps (plotly.js #170).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .render import plotly_colorscale
from .views import View
from .windowing import Window

CLICK_GRID_MAX = 128
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
) -> go.Figure:
    """A heatmap of ``view`` on patient coordinates (LPS mm) in physical aspect.

    ``crosshair`` = (row, col) draws linked-view guide lines; ``clickable`` adds the selectable
    point grid, which then also carries the hover text (value and position).
    """
    rows, cols = view.image.shape
    values = display_values(view.image)
    x_name, y_name = view.columns.name, view.rows.name
    units = f" {view.units}" if view.units else ""
    where = f"{x_name} %{{x:.1f}}, {y_name} %{{y:.1f}} mm"
    heatmap = go.Heatmap(
        z=values,
        x0=view.columns.start,
        dx=view.columns.step,
        y0=view.rows.start,
        dy=view.rows.step,
        zmin=window.low,
        zmax=window.high,
        colorscale=plotly_colorscale(colormap),
        showscale=False,
        hoverongaps=False,
        hovertemplate=f"%{{z}}{units}<br>{where}<extra></extra>",
    )
    figure = go.Figure(heatmap)
    if clickable:
        figure.add_trace(_click_grid(view, values, f"%{{customdata}}{units}<br>{where}"))
    half_x, half_y = view.columns.step / 2, view.rows.step / 2
    x_range = sorted([view.columns.at(0) - half_x, view.columns.at(cols - 1) + half_x])
    figure.update_xaxes(range=x_range, visible=False, constrain="domain")
    figure.update_yaxes(
        # Plotly puts range[0] at the bottom: the last row's coordinate goes there.
        range=[view.rows.at(rows - 1) + half_y, view.rows.at(0) - half_y],
        visible=False,
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    figure.update_layout(
        title={"text": view.title, "x": 0.5, "font": {"size": 12}},
        height=height,
        margin={"l": 6, "r": 6, "t": 36, "b": 6},
        plot_bgcolor="black",
        paper_bgcolor="rgba(0,0,0,0)",
        dragmode="pan",
        showlegend=False,
        hovermode="closest",
        annotations=_edge_labels(view),
        shapes=_crosshair(view, crosshair) if crosshair else [],
    )
    return figure


def _click_grid(view: View, values: np.ndarray, hover: str) -> go.Scattergl:
    rows, cols = values.shape
    step = max(1, -(-max(rows, cols) // CLICK_GRID_MAX))
    r, c = np.meshgrid(np.arange(0, rows, step), np.arange(0, cols, step), indexing="ij")
    return go.Scattergl(
        x=np.float32(view.columns.start) + c.ravel().astype(np.float32) * view.columns.step,
        y=np.float32(view.rows.start) + r.ravel().astype(np.float32) * view.rows.step,
        customdata=values[::step, ::step].ravel(),
        mode="markers",
        marker={"size": max(4, step * 3), "opacity": 0},
        hovertemplate=hover + "<extra></extra>",
        showlegend=False,
    )


def _edge_labels(view: View) -> list[dict]:
    style = {
        "showarrow": False,
        "font": {"color": "#ffd200", "size": 16},
        "xref": "x domain",
        "yref": "y domain",
    }
    labels = view.labels
    return [
        {**style, "text": labels.top, "x": 0.5, "y": 1.0, "yanchor": "top"},
        {**style, "text": labels.bottom, "x": 0.5, "y": 0.0, "yanchor": "bottom"},
        {**style, "text": labels.left, "x": 0.0, "y": 0.5, "xanchor": "left"},
        {**style, "text": labels.right, "x": 1.0, "y": 0.5, "xanchor": "right"},
    ]


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
