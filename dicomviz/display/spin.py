"""A spinning MIP: maximum intensity projections of a volume seen from angles around one axis.

The volume is taken on the patient's own axes (resampled first when it is oblique or tilted,
``resample.on_grid``), canonical (S, P, L), and the viewer circles it:

- about the S-I axis (``"si"``), superior up: 0° from the front (the coronal MIP, patient right
  on screen left), 90° from the patient's left (the sagittal MIP, anterior on the left), 180°
  from behind (the coronal MIP mirrored), 270° from the patient's right;
- about the L-R axis (``"lr"``), patient right on screen left, the head turning towards the
  viewer: 0° from the front (coronal), 90° from above the head (the axial MIP upside down:
  posterior at the top), 180° from behind, upside down (coronal flipped top to bottom), 270°
  from the feet (the axial MIP as shown: anterior at the top).

Frame k is at k * 360 / N degrees. Multiples of 90° are exact projections (make_view's reducer,
transposes and flips, no interpolation) when the turning plane's voxels are square. Other angles
cast parallel rays through each slice across the axis: where a ray crosses a row of voxels it
takes the value linearly interpolated between the two voxels it passes (order 1), and keeps the
largest. Rotating every slice with scipy.ndimage instead costs 12 ms per 512x512 slice and
angle, 30 s of CPU for 36 frames of a 300-slice CT; the rays touch each voxel once per viewing
line and are about ten times faster (bench/spin.py). Voxels without data (NaN) and space outside
the volume are left out (``fmax``), never taken as 0. A ray and its reverse meet the same
maximum, so the frame at θ + 180° is the one at θ mirrored, computed once.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from dicomviz.display import modes
from dicomviz.display.render import LABEL_COLOUR, TEXT_COLOUR, colour_table, view_image
from dicomviz.display.views import NO_LABELS, EdgeLabels, View, canonical
from dicomviz.display.windowing import Window, to_grey
from dicomviz.errors import UsageError
from dicomviz.limits import Limits
from dicomviz.pixels.parallel import default_workers
from dicomviz.pixels.resample import on_grid
from dicomviz.pixels.volume import Progress, Volume

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["AXES", "MAX_FRAMES", "Axis", "Box", "Spin", "spin", "spin_figure", "spin_gif"]

Axis = Literal["si", "lr"]
AXES: tuple[Axis, ...] = ("si", "lr")
Box = Sequence[tuple[int | None, int | None] | None]
"""(start, stop) along the canonical axes (S, P, L), Python slice semantics, None for all:
counted from the patient's inferior, anterior and right sides, as make_view's slabs are."""
MAX_FRAMES = 720
_SLAB = 32
"""Slices along the axis per task: 32 int16 values are one cache line of a row."""
_CHUNK = 2
"""Slices interpolated at once: their gathered samples stay in cache."""
_LINES_AT_ONCE = 18
"""Viewing lines planned at once, all of a 36-frame turn: a plan is about 3 MB for a 512x512
slice, and every group copies the volume's slabs once more."""


@dataclass(frozen=True)
class _Turn:
    """How a spin axis lies in the canonical volume: the axis turned about, the two axes of the
    turning plane (the block's axes 1 and 2) and their (negative, positive) patient letters."""

    axis: int
    plane: tuple[int, int]
    letters: tuple[tuple[str, str], tuple[str, str]]
    label: str
    views: dict[int, str]


_TURNS = {
    "si": _Turn(
        0,
        (1, 2),
        (("A", "P"), ("R", "L")),
        "S-I",
        {0: "from the front", 90: "from the patient's left", 180: "from behind",
         270: "from the patient's right"},
    ),
    "lr": _Turn(
        2,
        (0, 1),
        (("I", "S"), ("A", "P")),
        "L-R",
        {0: "from the front", 90: "from above the head", 180: "from behind, upside down",
         270: "from the feet"},
    ),
}  # fmt: skip


def _cos_sin(degrees: float) -> tuple[float, float]:
    """Exact at multiples of 90° (np.cos(pi / 2) is 6e-17, which would tilt an exact frame)."""
    quarter, rest = divmod(degrees, 90.0)
    if rest == 0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter) % 4]
    radians = np.radians(degrees)
    return float(np.cos(radians)), float(np.sin(radians))


def _screen(axis: Axis, degrees: float) -> np.ndarray:
    """The turning plane's direction (block axes 1, 2) along a frame's in-plane screen axis:
    left to right for S-I, top to bottom for L-R."""
    cos, sin = _cos_sin(degrees)
    return np.array([sin, cos]) if axis == "si" else np.array([-cos, -sin])


@dataclass(frozen=True, eq=False)
class Spin:
    """The frames of a spin, in the volume's units: (frames, rows, columns), NaN where a ray
    met no data. Frame k is seen from ``angles[k]`` degrees (module docstring)."""

    frames: np.ndarray
    angles: tuple[float, ...]
    axis: Axis
    spacing: tuple[float, float]
    """mm per row and per column."""
    units: str = ""
    oriented: bool = True

    def labels(self, k: int) -> EdgeLabels:
        """Patient directions at the frame's edges; two letters, the stronger first, when the
        screen axis runs between two of them (more than 22.5° off each)."""
        if not self.oriented:
            return NO_LABELS
        turn = _TURNS[self.axis]
        along = _screen(self.axis, self.angles[k])
        ahead, back = _letters(along, turn), _letters(-along, turn)
        if self.axis == "si":
            return EdgeLabels("S", "I", back, ahead)
        return EdgeLabels(back, ahead, "R", "L")

    def title(self, k: int) -> str:
        angle = self.angles[k]
        seen = _TURNS[self.axis].views.get(round(angle)) if angle == round(angle) else None
        return f"MIP about {_TURNS[self.axis].label} · {angle:g}°" + (f" {seen}" if seen else "")

    def view(self, k: int) -> View:
        """Frame k as a View, for what takes one (windows, PNG); its plane is the standard
        plane nearest to it."""
        quarter = round(self.angles[k] / 90) % 2
        plane = "coronal" if quarter == 0 else ("sagittal" if self.axis == "si" else "axial")
        return View(
            image=self.frames[k],
            spacing=self.spacing,
            labels=self.labels(k),
            plane=plane,
            mode="max",
            slab=(0, 0),
            depth_spacing=min(self.spacing),
            units=self.units,
        )


def _letters(direction: np.ndarray, turn: _Turn) -> str:
    strong = [i for i in np.argsort(-np.abs(direction)) if abs(direction[i]) > 0.3827]
    return "".join(turn.letters[i][int(direction[i] > 0)] for i in strong)


def spin(
    volume: Volume,
    *,
    axis: str = "si",
    frames: int = 36,
    box: Box | None = None,
    max_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> Spin:
    """MIPs of ``volume`` from ``frames`` angles evenly around ``axis`` (see the module).

    ``box`` restricts it to a sub-range of the patient axes; ``max_size`` makes a preview: the
    volume reduced by maxima of cubes (thin bright vessels stay) to at most that many voxels
    along each axis. ``workers`` threads share the work (default: the cores, at most 2);
    ``progress(done, what)`` is called from the calling thread.
    """
    if axis not in AXES:
        raise UsageError(f"unknown spin axis {axis!r}; choose one of {', '.join(AXES)}")
    if not 1 <= frames <= MAX_FRAMES:
        raise UsageError(f"frames must be 1 to {MAX_FRAMES}, got {frames}")
    if max_size is not None and max_size < 8:
        raise UsageError(f"a preview needs at least 8 voxels a side, got {max_size}")
    canon = canonical(on_grid(volume, "patient", limits=limits))
    array, spacing = _boxed(canon.array, canon.spacing, box)
    if max_size is not None:
        array, spacing = _block_max(array, spacing, max_size)
    turn = _TURNS[axis]
    order = (turn.axis, *turn.plane)
    block = np.transpose(array, order)
    h = np.array([spacing[turn.plane[0]], spacing[turn.plane[1]]])
    angles = tuple(k * 360 / frames for k in range(frames))
    lines = sorted({a % 180 for a in angles})
    step = float(h.min())
    square = bool(np.isclose(h[0], h[1], rtol=1e-6))
    width = _width(axis, lines, block.shape[1:], h, step)
    plans = [_line(axis, a, block.shape[1:], h, step, width, square) for a in lines]
    profiles = np.full((len(lines), block.shape[0], width), np.nan, dtype=np.float32)
    _project(block, plans, profiles, workers or default_workers(), progress)
    shown = np.empty((frames, block.shape[0], width), dtype=np.float32)
    for k, angle in enumerate(angles):
        line = profiles[lines.index(angle % 180)]
        shown[k] = line[:, ::-1] if angle >= 180 else line
    if axis == "si":  # rows: superior at the top
        shown, row_mm, col_mm = shown[:, ::-1, :], float(spacing[0]), step
    else:  # columns: the patient's right on the left
        shown, row_mm, col_mm = shown.transpose(0, 2, 1), step, float(spacing[2])
    return Spin(
        frames=np.ascontiguousarray(shown),
        angles=angles,
        axis=axis,  # type: ignore[arg-type]
        spacing=(row_mm, col_mm),
        units=canon.units,
        oriented=canon.oriented,
    )


def _boxed(
    array: np.ndarray, spacing: tuple[float, float, float], box: Box | None
) -> tuple[np.ndarray, tuple[float, float, float]]:
    if box is None:
        return array, spacing
    if len(box) != 3:
        raise UsageError(f"a box gives 3 ranges (S, P, L), got {len(box)}")
    index = []
    for name, depth, wanted in zip("SPL", array.shape, box, strict=True):
        start, stop, _ = slice(*(wanted or (None, None))).indices(depth)
        if stop <= start:
            raise UsageError(f"the box's {name} range {wanted} selects nothing out of {depth}")
        index.append(slice(start, stop))
    return array[tuple(index)], spacing


def _block_max(
    array: np.ndarray, spacing: tuple[float, float, float], size: int
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Maxima of cubes of voxels, at most ``size`` along each axis: the MIP of the result is
    the MIP of the volume in blocks, so nothing bright is lost to a coarser grid, and square
    pixels stay square."""
    factor = -(-max(array.shape) // size)
    if factor == 1:
        return array, spacing
    for axis in range(3):
        array = _pool(array, axis, factor)
    return array, tuple(s * factor for s in spacing)  # type: ignore[return-value]


def _pool(array: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Maxima of runs of ``factor`` along one axis (the last run may be shorter), elementwise
    between strided views: ``reduceat`` or a reduction over a short axis is 10-50 times slower."""
    larger = np.fmax if array.dtype.kind == "f" else np.maximum
    n = array.shape[axis]
    whole = n - n % factor

    def every(start: int, stop: int, step: int) -> np.ndarray:
        index = [slice(None)] * 3
        index[axis] = slice(start, stop, step)
        return array[tuple(index)]

    pooled = larger(every(0, whole, factor), every(1, whole, factor))
    for start in range(2, factor):
        larger(pooled, every(start, whole, factor), out=pooled)
    if whole < n:
        rest = larger.reduce(every(whole, n, 1), axis=axis, keepdims=True)
        pooled = np.concatenate([pooled, rest], axis=axis)
    return pooled


def _width(
    axis: Axis, lines: list[float], shape: tuple[int, int], h: np.ndarray, step: float
) -> int:
    """Screen pixels across every frame: the widest extent of the turning plane, with the
    parity of the 0° frame's so that frame lies on whole pixels."""
    extent = np.array(shape[:2]) - 1
    widths = [
        int(np.floor(np.abs(_screen(axis, a)) @ (extent * h) / step + 1e-6)) + 1 for a in lines
    ]
    width = max(*widths, *shape[:2])
    first = int(np.argmax(np.abs(_screen(axis, 0.0))))
    return width + (width - shape[first]) % 2


@dataclass(frozen=True)
class _Exact:
    """A line along a block axis of square voxels: the reducer along ``across``; its result
    (reversed when ``reverse``) lies at ``offset`` in the frame."""

    across: int
    reverse: bool
    offset: int


@dataclass(frozen=True)
class _Rays:
    """Where the rays of one viewing line cross the voxel rows of a slice: flat indices into the
    slice of the lower voxel (``step`` further: the upper one), the upper one's weight, and the
    crossings grouped by screen column (``starts`` of the groups, their ``columns``)."""

    first: np.ndarray
    step: int
    weight: np.ndarray
    starts: np.ndarray
    columns: np.ndarray


def _line(
    axis: Axis,
    angle: float,
    shape: tuple[int, int],
    h: np.ndarray,
    step: float,
    width: int,
    square: bool,
) -> _Exact | _Rays:
    """How to project one viewing line (angle mod 180) of a slice of ``shape`` voxels."""
    along = _screen(axis, angle)
    if square and 1.0 in np.abs(along):
        k = int(np.argmax(np.abs(along)))
        return _Exact(2 - k, bool(along[k] < 0), (width - shape[k]) // 2)
    ray = np.array([-along[1], along[0]])
    n, centre = np.array(shape), (np.array(shape) - 1) / 2
    k = 0 if abs(ray[0] / h[0]) >= abs(ray[1] / h[1]) else 1  # one crossing per row of k
    o = 1 - k
    # Column t, crossing row p of axis k, lies at index a * t + b * p + c along axis o.
    a = step * (along[o] - along[k] * ray[o] / ray[k]) / h[o]
    b = h[k] * ray[o] / (ray[k] * h[o])
    c = centre[o] - a * (width - 1) / 2 - b * centre[k]
    at = a * np.arange(width) + c
    if abs(b) < 1e-12:
        inside = (at >= -1e-9) & (at <= n[o] - 1 + 1e-9)
        low, high = np.where(inside, 0, 1), np.where(inside, n[k] - 1, 0)
    else:
        ends = np.stack([-at / b, (n[o] - 1 - at) / b])
        low = np.maximum(np.ceil(ends.min(axis=0) - 1e-9), 0).astype(np.intp)
        high = np.minimum(np.floor(ends.max(axis=0) + 1e-9), n[k] - 1).astype(np.intp)
    counts = np.maximum(high - low + 1, 0)
    columns = np.flatnonzero(counts)
    counts, low = counts[columns], low[columns]
    starts = (np.cumsum(counts) - counts).astype(np.intp)
    rows = np.arange(counts.sum()) - np.repeat(starts - low, counts)
    q = np.clip(a * np.repeat(columns, counts) + b * rows + c, 0, n[o] - 1)
    lower = np.minimum(np.floor(q).astype(np.intp), max(n[o] - 2, 0))
    strides = (shape[1], 1)
    return _Rays(
        first=rows * strides[k] + lower * strides[o],
        step=strides[o] if n[o] > 1 else 0,
        weight=(q - lower).astype(np.float32) if n[o] > 1 else np.zeros(len(q), np.float32),
        starts=starts,
        columns=columns,
    )


def _project(
    block: np.ndarray,
    plans: list[_Exact | _Rays],
    profiles: np.ndarray,
    workers: int,
    progress: Progress | None,
) -> None:
    """Fill ``profiles`` (line, slice, column), slabs of slices shared out to ``workers``
    threads (numpy's gathers and reductions release the GIL)."""
    depth = block.shape[0]
    slabs = [(s, min(s + _SLAB, depth)) for s in range(0, depth, _SLAB)]
    count = len(plans)
    groups = [range(g, min(g + _LINES_AT_ONCE, count)) for g in range(0, count, _LINES_AT_ONCE)]
    tasks = [(group, slab) for group in groups for slab in slabs]

    def run(group: range, slab: tuple[int, int]) -> None:
        start, stop = slab
        part = np.ascontiguousarray(block[start:stop], dtype=np.float32)  # exact for int16
        for first in range(0, stop - start, _CHUNK):
            chunk = part[first : first + _CHUNK]
            rows = slice(start + first, start + first + len(chunk))
            for line in group:
                _fill(chunk, plans[line], profiles[line, rows])

    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [pool.submit(run, *task) for task in tasks]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            if progress is not None:
                progress(done / len(tasks), f"turned {done} of {len(tasks)} parts")


def _fill(chunk: np.ndarray, plan: _Exact | _Rays, out: np.ndarray) -> None:
    """Project a few slices along one line into ``out`` (slice, column)."""
    if isinstance(plan, _Exact):
        image = modes.get("max").reduce(chunk, plan.across)  # type: ignore[misc]
        stop = plan.offset + image.shape[1]
        out[:, plan.offset : stop] = image[:, ::-1] if plan.reverse else image
        return
    if not len(plan.columns):
        return
    flat = chunk.reshape(len(chunk), -1)
    lower = flat.take(plan.first, axis=1)
    upper = flat.take(plan.first + plan.step, axis=1)
    upper -= lower
    upper *= plan.weight
    upper += lower
    out[:, plan.columns] = np.fmax.reduceat(upper, plan.starts, axis=1)


# ---------- pictures: the animation and the GIF ----------


def _picture(image: np.ndarray, window: Window, colormap: str, scale: float = 1.0) -> Image.Image:
    """8-bit, in the window, shrunk by ``scale``; a palette image for a colour map (exact, a
    third of the bytes of RGB)."""
    picture = Image.fromarray(to_grey(image, window), "L")
    if scale < 1:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    if colormap != "gray":
        picture = picture.convert("P")
        picture.putpalette(colour_table(colormap).tobytes())
    return picture


def _png_uris(
    spin: Spin, window: Window, colormap: str, scale: float, *, every: int = 1
) -> list[str]:
    uris = []
    for frame in spin.frames[::every]:
        buffer = io.BytesIO()
        _picture(frame, window, colormap, scale).save(buffer, format="PNG", compress_level=3)
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return uris


def spin_figure(
    spin: Spin,
    window: Window,
    *,
    colormap: str = "gray",
    max_bytes: int = 3_000_000,
    height: int = 560,
    frame_ms: int = 100,
) -> go.Figure:
    """A Plotly animation of the frames in the window: play, pause and a slider to scrub, all
    in the browser. Each frame is a PNG in physical aspect (mm on both axes), shrunk when all
    of them would exceed ``max_bytes`` of figure. (Plotly's figures are imported here: the
    command line does not need them.)"""
    import plotly.graph_objects as go

    count = len(spin.frames)
    budget = (max_bytes - 20_000 - 1_500 * count) * count / (count + 1)  # frame 0 sent twice
    sample = _png_uris(spin, window, colormap, 1.0, every=max(1, count // 6))
    scale = min(1.0, 0.97 * (budget / (np.mean(list(map(len, sample))) * count)) ** 0.5)
    uris = _png_uris(spin, window, colormap, scale)
    for _ in range(4):  # smaller pictures compress less well than the estimate says
        total = sum(map(len, uris))
        if total <= budget:
            break
        scale *= 0.97 * (budget / total) ** 0.5
        uris = _png_uris(spin, window, colormap, scale)
    rows, cols = spin.frames.shape[1:]
    dx = spin.spacing[1] * cols / max(1, round(cols * scale))
    dy = spin.spacing[0] * rows / max(1, round(rows * scale))

    def image(k: int) -> go.Image:
        return go.Image(source=uris[k], x0=dx / 2, dx=dx, y0=dy / 2, dy=dy, hoverinfo="skip")

    figure = go.Figure(
        data=[image(0)],
        frames=[
            go.Frame(data=[image(k)], name=str(k), layout={"annotations": _labels(spin, k)})
            for k in range(count)
        ],
    )
    step = {"mode": "immediate", "transition": {"duration": 0}}
    play = {**step, "frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True}
    pause = {**step, "frame": {"duration": 0, "redraw": False}}
    figure.update_xaxes(range=[0, cols * spin.spacing[1]], visible=False, constrain="domain")
    figure.update_yaxes(
        range=[rows * spin.spacing[0], 0], visible=False, scaleanchor="x", constrain="domain"
    )
    figure.update_layout(
        height=height,
        margin={"l": 24, "r": 24, "t": 40, "b": 90},
        plot_bgcolor="black",
        paper_bgcolor="rgba(0,0,0,0)",
        title={"text": f"MIP turning about {_TURNS[spin.axis].label}", "x": 0.5},
        annotations=_labels(spin, 0),
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "y": 0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 40, "r": 10},
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.22,
                "len": 0.78,
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 30},
                "currentvalue": {"prefix": "Angle "},
                "steps": [
                    {
                        "label": f"{angle:g}°",
                        "method": "animate",
                        "args": [[str(k)], {**step, "frame": {"duration": 0, "redraw": True}}],
                    }
                    for k, angle in enumerate(spin.angles)
                ],
            }
        ],
    )
    return figure


def _labels(spin: Spin, k: int) -> list[dict]:
    """Edge labels on the image's own domain, outside each edge (as the views' figures)."""
    labels = spin.labels(k)
    style = {
        "showarrow": False,
        "font": {"color": "rgb({}, {}, {})".format(*LABEL_COLOUR), "size": 14},
        "xref": "x domain",
        "yref": "y domain",
    }
    spots = (
        (labels.top, {"x": 0.5, "y": 1.0, "yanchor": "bottom"}),
        (labels.bottom, {"x": 0.5, "y": 0.0, "yanchor": "top"}),
        (labels.left, {"x": 0.0, "y": 0.5, "xanchor": "right"}),
        (labels.right, {"x": 1.0, "y": 0.5, "xanchor": "left"}),
    )
    return [{**style, **spot, "text": text} for text, spot in spots if text]


def spin_gif(
    spin: Spin,
    window: Window,
    *,
    colormap: str = "gray",
    labels: bool = True,
    frame_ms: int = 100,
) -> bytes:
    """An animated GIF of the frames in the window, looping, in physical aspect; with
    ``labels`` each frame on a black border with its edge labels, scale bar and angle."""
    palette = _gif_palette(colormap)
    pictures = []
    for k in range(len(spin.frames)):
        picture = view_image(
            spin.view(k),
            window,
            colormap=colormap,
            labels=labels,
            title=spin.title(k) if labels else None,
        )
        pictures.append(picture.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE))
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=frame_ms,
        loop=0,
    )
    return buffer.getvalue()


def _gif_palette(colormap: str) -> Image.Image:
    """254 levels of the colour map, and the labels' and titles' colours."""
    table = colour_table(colormap)[np.linspace(0, 255, 254).round().astype(int)]
    colours = np.vstack([table, [LABEL_COLOUR, TEXT_COLOUR]]).astype(np.uint8)
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours.tobytes())
    return palette
