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
"""At most this many clickable points per image axis (every 2nd-4th pixel of a 512 image)."""


def display_values(image: np.ndarray) -> np.ndarray:
    """Smallest lossless-enough array for the browser: int16 when values are whole and fit,
    else float32 rounded to 0.1 (a tenth of a HU is below any display's resolution)."""
    if image.dtype.kind in "iu" and image.dtype.itemsize <= 2 and image.dtype != np.uint16:
        return image
    rounded = np.round(image.astype(np.float32), 1)
    if np.all(rounded == np.round(rounded)) and rounded.min() >= -32768 and rounded.max() < 32768:
        return rounded.astype(np.int16)
    return rounded


def view_figure(
    view: View,
    window: Window,
    *,
    colormap: str = "gray",
    clickable: bool = False,
    crosshair: tuple[float, float] | None = None,
    height: int = 560,
) -> go.Figure:
    """A heatmap of ``view`` with x, y in mm from the top-left pixel centre.

    ``crosshair`` = (x_mm, y_mm) draws linked-view guide lines; ``clickable`` adds the
    selectable point grid (points carry (row, col) in ``customdata``).
    """
    rows, cols = view.image.shape
    row_mm, col_mm = view.spacing
    units = f" {view.units}" if view.units else ""
    heatmap = go.Heatmap(
        z=display_values(view.image),
        x0=0.0,
        dx=col_mm,
        y0=0.0,
        dy=row_mm,
        zmin=window.low,
        zmax=window.high,
        colorscale=plotly_colorscale(colormap),
        showscale=False,
        hovertemplate=f"%{{z}}{units}<br>%{{x:.1f}}, %{{y:.1f}} mm<extra></extra>",
    )
    figure = go.Figure(heatmap)
    if clickable:
        figure.add_trace(_click_grid(rows, cols, row_mm, col_mm))
    width_mm, height_mm = cols * col_mm, rows * row_mm
    figure.update_xaxes(
        range=[-col_mm / 2, width_mm - col_mm / 2], visible=False, constrain="domain"
    )
    figure.update_yaxes(
        range=[height_mm - row_mm / 2, -row_mm / 2],
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
        annotations=_edge_labels(view),
        shapes=_crosshair(crosshair, width_mm, height_mm, row_mm, col_mm) if crosshair else [],
    )
    return figure


def _click_grid(rows: int, cols: int, row_mm: float, col_mm: float) -> go.Scattergl:
    step = max(1, -(-max(rows, cols) // CLICK_GRID_MAX))
    r, c = np.meshgrid(np.arange(0, rows, step), np.arange(0, cols, step), indexing="ij")
    return go.Scattergl(
        x=(c.ravel() * col_mm).astype(np.float32),
        y=(r.ravel() * row_mm).astype(np.float32),
        customdata=np.stack([r.ravel(), c.ravel()], axis=1).astype(np.int16),
        mode="markers",
        marker={"size": max(4, step * 3), "opacity": 0},
        hoverinfo="none",
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


def _crosshair(
    point: tuple[float, float], width_mm: float, height_mm: float, row_mm: float, col_mm: float
) -> list[dict]:
    x, y = point
    line = {"color": "rgba(0, 200, 255, 0.6)", "width": 1, "dash": "dot"}
    return [
        {
            "type": "line",
            "x0": x,
            "x1": x,
            "y0": -row_mm / 2,
            "y1": height_mm - row_mm / 2,
            "line": line,
        },
        {
            "type": "line",
            "y0": y,
            "y1": y,
            "x0": -col_mm / 2,
            "x1": width_mm - col_mm / 2,
            "line": line,
        },
    ]
