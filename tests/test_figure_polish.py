"""Figures and PNGs around the image: centred titles, labels and scale bar outside the anatomy,
patient directions on hover, slice positions in mm, several views in one PNG (issue 11.7)."""

from __future__ import annotations

import doctest
import io
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from synth import make_series

import dicomviz
import dicomviz.display.figures
from dicomviz.display import figures, render
from dicomviz.display.views import EdgeLabels, View, canonical, crosshair_pixel
from dicomviz.display.windowing import Window, to_grey

WINDOW = Window(40, 400)
PLANES = ("axial", "coronal", "sagittal")


def _volume(**kwargs) -> dicomviz.Volume:
    series = {"rows": 32, "columns": 24, "slices": 20, "background": 100, **kwargs}
    return dicomviz.build_volume(dicomviz.load(make_series(**series)).stacks[0])


@pytest.fixture(scope="module")
def volume() -> dicomviz.Volume:
    """Anisotropic (0.5 mm in-plane, 3 mm between slices) and off-centre."""
    return _volume(pixel_spacing=(0.5, 0.5), slice_spacing=3.0, origin=(-7.0, 11.0, 40.0))


@pytest.fixture(scope="module")
def downward() -> dicomviz.Volume:
    """Stored head first with rows running anterior: the slice normal points to the feet
    (cross((1,0,0), (0,-1,0)) = -z), so every canonical axis but x is flipped."""
    return _volume(col_cosine=(0.0, -1.0, 0.0), slice_spacing=2.5, origin=(-12.0, 30.0, 60.0))


def _annotations(figure, name: str) -> list[dict]:
    return [a.to_plotly_json() for a in figure.layout.annotations if a.name == name]


def _title(figure) -> dict:
    (title,) = _annotations(figure, "title")
    return title


def _figure(view: View, **kwargs):
    return figures.view_figure(view, WINDOW, clickable=True, **kwargs)


@pytest.mark.parametrize("plane", PLANES)
def test_title_is_centred_over_the_image_not_the_figure(volume, plane: str) -> None:
    view = dicomviz.make_view(volume, plane, "max")
    figure = _figure(view)
    title = _title(figure)
    assert title["text"].startswith(view.title)
    assert (title["xref"], title["x"], title["xanchor"]) == ("x domain", 0.5, "center")
    # Above the image and its top border, not on it.
    assert (title["yref"], title["y"], title["yanchor"]) == ("y domain", 1.0, "bottom")
    assert title["yshift"] > 0
    assert not figure.layout.title.text  # Plotly's own title is centred on the whole figure


@pytest.mark.parametrize("plane", PLANES)
def test_edge_labels_sit_outside_the_image_on_a_black_border(volume, plane: str) -> None:
    view = dicomviz.make_view(volume, plane, "slice")
    figure = _figure(view)
    top, bottom, left, right = (_annotations(figure, f"label-{side}")[0] for side in (
        "top", "bottom", "left", "right"))  # fmt: skip
    assert [top["text"], bottom["text"], left["text"], right["text"]] == [
        view.labels.top, view.labels.bottom, view.labels.left, view.labels.right
    ]  # fmt: skip
    for label in (top, bottom, left, right):
        assert (label["xref"], label["yref"]) == ("x domain", "y domain")
    # Each label is anchored on the far side of an image edge and shifted away from it.
    assert top["y"] >= 1 and top["yanchor"] == "bottom" and top["yshift"] > 0
    assert bottom["y"] <= 0 and bottom["yanchor"] == "top" and bottom["yshift"] < 0
    assert left["x"] <= 0 and left["xanchor"] == "right" and left["xshift"] < 0
    assert right["x"] >= 1 and right["xanchor"] == "left" and right["xshift"] > 0
    # The black border under them lies outside the image (at most 1 px under it, drawn below
    # the heatmap) and leaves room for them: readable on a light or a dark page.
    bands = [s for s in figure.layout.shapes if s.type == "rect" and s.fillcolor == "black"]
    assert len(bands) == 8
    for band in bands:
        for axis in ("x", "y"):
            if getattr(band, f"{axis}sizemode") == "pixel":
                low, high = sorted((getattr(band, f"{axis}0"), getattr(band, f"{axis}1")))
                inward = high if getattr(band, f"{axis}anchor") == 0 else -low
                assert inward <= 1 and high - low >= 20
        assert band.layer == "below"
    margin = figure.layout.margin
    assert min(margin.l, margin.r, margin.t, margin.b) >= 20


def test_a_view_of_unknown_orientation_gets_no_labels_and_no_direction_names(volume) -> None:
    view = replace(dicomviz.make_view(volume, "axial"), labels=EdgeLabels("", "", "", ""))
    figure = _figure(view)
    assert not [a for a in figure.layout.annotations if (a.name or "").startswith("label-")]
    assert "x %{x:.1f}, y %{y:.1f} mm" in figure.data[0].hovertemplate
    assert figures.figure_title(view, ("S", 1.0, 1.0)) == view.title  # 'S' would be a guess
    labelled = np.asarray(render.view_image(view, WINDOW, labels=True))
    assert not (labelled == render.LABEL_COLOUR).all(axis=-1).any()


@pytest.mark.parametrize(
    ("plane", "where"),
    [
        ("axial", "L %{x:.1f}, P %{y:.1f} mm"),
        ("coronal", "L %{x:.1f}, S %{y:.1f} mm"),
        ("sagittal", "P %{x:.1f}, S %{y:.1f} mm"),
    ],
)
def test_hover_names_patient_directions(volume, plane: str, where: str) -> None:
    view = dicomviz.make_view(volume, plane, "slice")
    assert view.units == volume.units == "HU"  # the volume's own units, in its every view
    figure = _figure(view)
    heatmap, grid = figure.data
    assert heatmap.hovertemplate == f"%{{z}} HU<br>{where}<extra></extra>"
    assert grid.hovertemplate == f"%{{customdata}} HU<br>{where}<extra></extra>"
    assert " mm" in where and "x " not in heatmap.hovertemplate


def test_hover_over_no_data_says_so_instead_of_nan() -> None:
    # Slice 6 is missing: the coronal view has a row of NaN (no data) between slices 5 and 7.
    gapped = _volume(slices=12, gap_after=5, slice_spacing=3.0)
    view = dicomviz.make_view(gapped, "coronal", "slice")
    assert np.isnan(view.image).any()
    figure = _figure(view)
    heatmap, valued, empty = figure.data
    assert heatmap.hoverongaps is False
    assert not np.isnan(np.asarray(valued.customdata, dtype=float)).any()
    assert valued.hovertemplate.startswith("%{customdata} HU<br>")
    assert empty.hovertemplate.startswith("no data<br>L %{x:.1f}, S %{y:.1f} mm")
    assert empty.customdata is None
    # Together they still cover the whole click grid, every point clickable.
    assert len(valued.x) + len(empty.x) == view.image.size
    assert "nan" not in json.dumps([valued.hovertemplate, empty.hovertemplate]).lower()
    # A view without gaps keeps one grid trace.
    assert len(_figure(dicomviz.make_view(gapped, "axial", index=0)).data) == 2


def _positions_along(volume: dicomviz.Volume, patient: int) -> np.ndarray:
    """Independent of views.canonical: the LPS coordinate ``patient`` (0 x, 1 y, 2 z) of each
    index of the stored array axis that runs along it, in increasing order."""
    stored = int(np.argmax(np.abs(volume.affine[patient, :3])))
    steps = np.arange(volume.shape[stored]) * volume.affine[patient, stored]
    return np.sort(volume.affine[patient, 3] + steps)


@pytest.mark.parametrize("which", ["volume", "downward"])
@pytest.mark.parametrize(
    ("plane", "direction", "patient"),
    [("axial", "S", 2), ("coronal", "P", 1), ("sagittal", "L", 0)],
)
def test_slab_position_matches_the_volume_affine(
    request, which: str, plane: str, direction: str, patient: int
) -> None:
    volume = request.getfixturevalue(which)
    canon = canonical(volume)
    expected = _positions_along(volume, patient)
    depth = len(expected)
    for slab in [(0, 1), (depth - 1, depth), (2, depth - 3), (0, depth)]:
        assert figures.slab_position(canon.affine, plane, slab) == pytest.approx(
            (direction, expected[slab[0]], expected[slab[1] - 1])
        )
    # The title gives it: a slice its position, a slab its range.
    k = depth // 3
    view = dicomviz.make_view(canon, plane, "slice", index=k)
    where = figures.slab_position(canon.affine, plane, view.slab)
    text = _title(_figure(view, depth=where))["text"]
    assert text == f"{view.title} · {direction} {expected[k]:.1f} mm"
    slab = dicomviz.make_view(canon, plane, "max", slab=(1, depth - 1))
    where = figures.slab_position(canon.affine, plane, slab.slab)
    text = _title(_figure(slab, depth=where))["text"]
    assert text.endswith(f"({direction} {expected[1]:.1f} to {expected[depth - 2]:.1f})")


@pytest.mark.parametrize("which", ["volume", "downward"])
def test_slice_position_agrees_with_the_crosshair_in_the_other_views(request, which) -> None:
    """The axial title's S is the S that hover shows on the axial line in coronal/sagittal."""
    canon = canonical(request.getfixturevalue(which))
    indices = {"axial": 7, "coronal": 5, "sagittal": 9}
    for plane, letter in (("axial", "S"), ("coronal", "P"), ("sagittal", "L")):
        view = dicomviz.make_view(canon, plane, index=indices[plane])
        _, mm, _ = figures.slab_position(canon.affine, plane, view.slab)
        for other in set(PLANES) - {plane}:
            seen = dicomviz.make_view(canon, other)
            row, col = crosshair_pixel(canon, other, indices)
            for coordinate, index in ((seen.rows, row), (seen.columns, col)):
                if figures.PATIENT_DIRECTIONS[coordinate.name] == letter:
                    assert coordinate.at(index) == pytest.approx(mm)


def test_figure_title_without_depth_is_the_views_own(volume) -> None:
    view = dicomviz.make_view(volume, "coronal", "mean", slab=(3, 9))
    assert figures.figure_title(view) == view.title
    assert _title(_figure(view))["text"] == view.title


@pytest.mark.parametrize("width", [0.8, 3.0, 24.0, 99.0, 240.0, 480.0, 1234.5])
def test_scale_bar_is_a_round_length_near_a_fifth_of_the_width(width: float) -> None:
    length = render.scale_bar_mm(width)
    mantissa = length / 10 ** math.floor(math.log10(length) + 1e-9)
    assert round(mantissa, 6) in (1, 2, 5)
    assert 1 / 8 <= length / width <= 1 / 3


def test_scale_bar_lengths() -> None:
    assert [render.scale_bar_mm(w) for w in (24, 100, 240, 500)] == [5, 20, 50, 100]
    assert render.scale_bar_text(0.5) == "0.5 mm" and render.scale_bar_text(50.0) == "50 mm"
    with pytest.raises(dicomviz.UsageError, match="positive"):
        render.scale_bar_mm(0)


@pytest.mark.parametrize("plane", PLANES)
def test_figure_scale_bar_spans_its_length_of_the_image_width(volume, plane: str) -> None:
    view = dicomviz.make_view(volume, plane, "max")
    figure = _figure(view)
    width_mm = view.image.shape[1] * view.spacing[1]
    (bar,) = [s for s in figure.layout.shapes if s.name == "scale-bar"]
    (text,) = _annotations(figure, "scale-bar")
    length = render.scale_bar_mm(width_mm)
    assert bar.xref == "x domain" and bar.x1 - bar.x0 == pytest.approx(length / width_mm)
    assert 0 <= bar.x0 < bar.x1 <= 1
    assert text["text"] == f"{length:g} mm"
    # Both in the bottom border, below the image.
    assert bar.yanchor == 0 and bar.y0 == bar.y1 < 0
    assert text["y"] == 0 and text["yanchor"] == "top" and text["yshift"] < 0


def test_window_change_only_restyles_and_crosshair_and_aspect_stay(volume) -> None:
    view = dicomviz.make_view(volume, "sagittal", "max")
    one = _figure(view, crosshair=(3, 4)).to_plotly_json()
    other = _figure(view, crosshair=(3, 4)).to_plotly_json()
    other_window = figures.view_figure(view, Window(-600, 1500), clickable=True, crosshair=(3, 4))
    changed = other_window.to_plotly_json()
    for figure in (one, changed):
        figure["data"][0].pop("zmin"), figure["data"][0].pop("zmax")
    assert json.dumps(one, default=str, sort_keys=True) == json.dumps(
        changed, default=str, sort_keys=True
    )
    layout = other["layout"]
    assert layout["yaxis"]["scaleanchor"] == "x" and layout["yaxis"]["scaleratio"] == 1
    x_range, y_range = layout["xaxis"]["range"], layout["yaxis"]["range"]
    assert abs(x_range[1] - x_range[0]) == pytest.approx(view.image.shape[1] * view.spacing[1])
    assert abs(y_range[1] - y_range[0]) == pytest.approx(view.image.shape[0] * view.spacing[0])
    dotted = [s for s in layout["shapes"] if s.get("line", {}).get("dash") == "dot"]
    assert len(dotted) == 2
    assert layout["modebar"]["orientation"] == "v"
    assert layout["margin"]["r"] >= layout["margin"]["l"] + 24  # room for the toolbar


def test_a_512_figure_stays_within_its_budget() -> None:
    rng = np.random.default_rng(0)
    view = replace(
        dicomviz.make_view(_volume(rows=8, columns=8, slices=3), "axial"),
        image=rng.integers(-1024, 2000, (512, 512)).astype(np.int16),
    )
    figure = figures.view_figure(view, WINDOW, clickable=True, crosshair=(9, 9))
    assert len(figure.to_json()) < 1_300_000
    assert figure.data[0].text is None and figure.data[0].customdata is None


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _drawn_in(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels of ``colour`` drawn on black, anti-aliased edges included (at least half
    coverage, which scales the colour)."""
    rgb = pixels.astype(float)
    coverage = rgb[..., 0] / colour[0]
    expected = coverage[..., None] * np.asarray(colour, float)
    return (coverage >= 0.5) & (np.abs(rgb - expected) <= 2).all(axis=-1)


def _where(inner: np.ndarray, outer: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) where ``inner`` appears whole inside ``outer``."""
    h, w = inner.shape[:2]
    return [
        (y, x)
        for y in range(outer.shape[0] - h + 1)
        for x in range(outer.shape[1] - w + 1)
        if np.array_equal(outer[y : y + h, x : x + w], inner)
    ]


@pytest.mark.parametrize("plane", PLANES)
def test_labelled_png_puts_labels_and_scale_bar_on_a_border_around_the_clean_image(
    volume, plane: str
) -> None:
    view = dicomviz.make_view(volume, plane, "max")
    plain = np.asarray(render.view_image(view, WINDOW).convert("RGB"))
    labelled = _pixels(render.view_png(view, WINDOW, labels=True, title="A title"))
    ((top, left),) = _where(plain, labelled)  # the image, untouched, exactly once
    outside = np.ones(labelled.shape[:2], bool)
    outside[top : top + plain.shape[0], left : left + plain.shape[1]] = False
    assert top > 0 and left > 0
    assert labelled.shape[0] > top + plain.shape[0] and labelled.shape[1] > left + plain.shape[1]
    is_label = _drawn_in(labelled, render.LABEL_COLOUR)
    is_text = _drawn_in(labelled, render.TEXT_COLOUR)
    assert is_label[outside].sum() > 20 and is_text[outside].sum() > 20
    assert not is_label[~outside].any()
    # Left and right labels beside the image, top above, bottom below; scale bar below too.
    rows, cols = np.nonzero(is_label)
    assert cols.min() < left and cols.max() >= left + plain.shape[1]
    assert rows.min() < top and rows.max() >= top + plain.shape[0]
    below = is_text[top + plain.shape[0] :]
    assert below.any()


def test_labelled_png_keeps_physical_aspect_and_grey_levels(volume) -> None:
    view = dicomviz.make_view(volume, "coronal", "slice")
    plain = render.view_image(view, WINDOW, min_size=128)
    assert plain.size == render.physical_size(view, min_size=128)
    grey = to_grey(view.image, WINDOW)
    same = render.view_image(replace(view, spacing=(0.5, 0.5)), WINDOW)  # no stretch needed
    assert np.array_equal(np.asarray(same), grey[:, : same.size[0]])


def test_views_png_puts_views_side_by_side_at_one_scale(volume) -> None:
    shown = [dicomviz.make_view(volume, plane, "max") for plane in PLANES]
    finest = min(min(v.spacing) for v in shown)
    widths = [v.image.shape[1] * v.spacing[1] / finest for v in shown]
    heights = [v.image.shape[0] * v.spacing[0] / finest for v in shown]
    bare = _pixels(render.views_png(shown, WINDOW, labels=False))
    gap = (bare.shape[1] - round(sum(widths))) / 2
    assert gap == int(gap) and 4 <= gap <= 32
    assert bare.shape[0] == round(max(heights))
    # Each view at its place, at the common scale: axial and coronal are as wide (both span x).
    x = 0
    for view, width in zip(shown, widths, strict=True):
        panel = np.asarray(render.view_image(view, WINDOW).convert("RGB"))
        assert panel.shape[1] == round(width)
        assert np.array_equal(bare[: panel.shape[0], x : x + panel.shape[1]], panel)
        x += panel.shape[1] + int(gap)
    # Labelled, views of a page-like size: borders add a little, the widths still rule.
    cube = _volume(rows=64, columns=48, slices=20, pixel_spacing=(0.75, 0.75), slice_spacing=2.5)
    shown = [dicomviz.make_view(cube, plane, "max") for plane in PLANES]
    widths = [v.image.shape[1] * v.spacing[1] / 0.75 for v in shown]  # 48, 48, 64 px
    heights = [v.image.shape[0] * v.spacing[0] / 0.75 for v in shown]  # 64, 66.7, 66.7 px
    labelled = _pixels(render.views_png(shown, WINDOW, min_size=400))
    zoom = 400 / max(*widths, *heights)
    assert sum(widths) * zoom < labelled.shape[1] < 1.2 * sum(widths) * zoom
    assert _drawn_in(labelled, render.LABEL_COLOUR).sum() > 60  # 3 views x 4 labels


def test_views_png_min_size_and_titles(volume) -> None:
    shown = [dicomviz.make_view(volume, plane, "slice") for plane in PLANES]
    bare = _pixels(render.views_png(shown, WINDOW, labels=False, min_size=300))
    assert bare.shape[0] == 300  # the tallest view's longer side
    titled = _pixels(render.views_png(shown, WINDOW, titles=["one", "two", "three"]))
    untitled = _pixels(render.views_png(shown, WINDOW, labels=True, titles=None))
    assert titled.shape == untitled.shape  # own titles by default
    with pytest.raises(dicomviz.UsageError, match="2 titles given for 3 views"):
        render.views_png(shown, WINDOW, titles=["one", "two"])
    with pytest.raises(dicomviz.UsageError, match="no views"):
        render.views_png([], WINDOW)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(dicomviz.display.figures).failed == 0


def test_a_picture_figure_is_the_windowed_view_and_hovers_true_values() -> None:
    """The page's light figure: the picture is exactly the windowed view (one image pixel per
    view pixel), hover values come from the view itself, and it weighs a fraction of a heatmap."""
    import base64

    from dicomviz.display.windowing import to_grey as grey_of

    files = make_series(slices=20, rows=64, columns=48)
    volume = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    view = dicomviz.make_view(volume, "coronal", "slice")
    window = Window(20, 300)
    figure = figures.view_figure(view, window, picture=True)
    source = figure.data[0].source
    assert source.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    np.testing.assert_array_equal(np.asarray(png), grey_of(view.image, window))
    grid = figure.data[1]
    step = max(1, -(-max(view.image.shape) // figures.PICTURE_GRID_MAX))
    np.testing.assert_array_equal(grid.customdata, view.image[::step, ::step].ravel())
    heavy = len(figures.view_figure(view, window, clickable=True).to_json())
    assert len(figure.to_json()) < heavy


@pytest.mark.parametrize("plane", PLANES)
@pytest.mark.parametrize(
    "options",
    [{}, {"clickable": True}, {"picture": True}, {"picture": True, "colormap": "viridis"}],
)
def test_figures_built_without_validation_are_what_plotly_validates(
    volume, plane: str, options: dict
) -> None:
    """Figures are built as plain values (Plotly's validators cost 20-40 ms a figure): each
    must pass them unchanged, so a misspelt property cannot slip through to the browser."""
    import plotly.graph_objects as go
    import plotly.io

    view = dicomviz.make_view(volume, plane, "slice")
    figure = figures.view_figure(view, WINDOW, crosshair=(3, 4), depth=("S", 1.0, 1.0), **options)
    validated = go.Figure(figure.to_dict())  # raises on an unknown property or a bad value
    as_sent = json.loads(plotly.io.to_json(figure, validate=False))
    assert json.loads(plotly.io.to_json(validated, validate=False)) == as_sent
