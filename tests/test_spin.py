"""The spinning MIP: quarter turns checked exactly against make_view, the angles between by
where a point lands and against rotating each slice with scipy.ndimage, no data never taken as
0, boxes and previews, the animation and the GIF, the command line and the page's panel."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dicomviz.display.spin import Spin, spin, spin_figure, spin_gif
from dicomviz.display.views import canonical, make_view
from dicomviz.display.windowing import Window
from dicomviz.errors import UsageError
from dicomviz.pixels.resample import on_patient_axes
from dicomviz.pixels.volume import Volume


def _stored(array: np.ndarray, spacing: tuple[float, float, float]) -> Volume:
    """A feet-first axial stack (slices towards inferior, rows towards anterior): canonical()
    has to flip two axes, as for many real stacks."""
    sz, sy, sx = spacing
    affine = np.zeros((4, 4))
    affine[:3, 0] = (0, 0, -sz)
    affine[:3, 1] = (0, -sy, 0)
    affine[:3, 2] = (sx, 0, 0)
    affine[:, 3] = (0, 0, 0, 1)
    return Volume(array, affine, spacing, "test", modality="CT", units="HU")


def _canonical_volume(array: np.ndarray, spacing: tuple[float, float, float]) -> Volume:
    """A volume whose array is already on the canonical axes (S, P, L)."""
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2], affine[3, 3] = (*spacing, 1)
    return Volume(array, affine, spacing, "test", modality="CT", units="HU")


def _random(shape=(14, 18, 22), spacing=(1.0, 1.0, 1.0), seed=0) -> Volume:
    values = np.random.default_rng(seed).integers(-1000, 1500, shape, dtype=np.int16)
    return _stored(values, spacing)


def _centred(frame: np.ndarray, size: int, along: int) -> np.ndarray:
    """The ``size`` pixels at the middle of a frame's turning axis (1: columns, 0: rows);
    outside them no ray meets the volume at a quarter turn."""
    margin = (frame.shape[along] - size) // 2
    keep = [slice(None), slice(None)]
    keep[along] = slice(margin, margin + size)
    outside = np.delete(frame, np.r_[margin : margin + size], axis=along)
    assert np.isnan(outside).all()
    return frame[tuple(keep)]


def _mip(volume: Volume, plane: str) -> np.ndarray:
    return make_view(canonical(volume), plane, "max").image.astype(np.float32)


# ---------- angle conventions ----------


def test_turning_about_s_i_shows_front_left_back_right_exactly() -> None:
    """0°: the coronal MIP seen from the front (patient right on screen left); 90°: the sagittal
    seen from the patient's left (anterior on the left); 180°: the coronal mirrored (from
    behind); 270°: the sagittal mirrored (from the right). No interpolation at quarter turns."""
    volume = _random()
    frames = spin(volume, axis="si", frames=36).frames
    coronal, sagittal = _mip(volume, "coronal"), _mip(volume, "sagittal")
    np.testing.assert_array_equal(_centred(frames[0], coronal.shape[1], 1), coronal)
    np.testing.assert_array_equal(_centred(frames[9], sagittal.shape[1], 1), sagittal)
    np.testing.assert_array_equal(_centred(frames[18], coronal.shape[1], 1), coronal[:, ::-1])
    np.testing.assert_array_equal(_centred(frames[27], sagittal.shape[1], 1), sagittal[:, ::-1])


def test_turning_about_l_r_tips_the_head_towards_the_viewer_exactly() -> None:
    """0°: coronal; 90°: from above the head, the axial MIP upside down (posterior at the top);
    180°: from behind upside down, the coronal flipped top to bottom; 270°: from the feet, the
    axial MIP as every viewer shows it (anterior at the top, patient right on the left)."""
    volume = _random(shape=(16, 18, 22))
    frames = spin(volume, axis="lr", frames=36).frames
    coronal, axial = _mip(volume, "coronal"), _mip(volume, "axial")
    np.testing.assert_array_equal(_centred(frames[0], coronal.shape[0], 0), coronal)
    np.testing.assert_array_equal(_centred(frames[9], axial.shape[0], 0), axial[::-1])
    np.testing.assert_array_equal(_centred(frames[18], coronal.shape[0], 0), coronal[::-1])
    np.testing.assert_array_equal(_centred(frames[27], axial.shape[0], 0), axial)


@pytest.mark.parametrize("axis", ["si", "lr"])
def test_half_a_turn_later_the_frame_is_mirrored(axis: str) -> None:
    result = spin(_random(), axis=axis, frames=36)
    flip = (slice(None), slice(None, None, -1)) if axis == "si" else (slice(None, None, -1),)
    for k in range(18):
        np.testing.assert_array_equal(result.frames[k + 18], result.frames[k][flip])


def _one_bright_voxel(shape, spacing, where) -> Volume:
    array = np.full(shape, -1000, dtype=np.int16)
    array[where] = 2000
    return _canonical_volume(array, spacing)


@pytest.mark.parametrize("angle", [30, 60, 120, 210, 330])
def test_a_point_turns_about_s_i_where_the_viewer_sees_it(angle: int) -> None:
    """Seen from angle θ (0 front, 90 the patient's left) the screen's left-to-right axis runs
    along (x, y) = (cos θ, sin θ) in LPS: a point's column is its position along it."""
    shape, spacing, where = (9, 30, 40), (2.0, 1.0, 1.0), (6, 8, 31)
    result = spin(_one_bright_voxel(shape, spacing, where), axis="si", frames=12)
    frame = result.frames[angle // 30]
    row, column = np.unravel_index(np.nanargmax(frame), frame.shape)
    x, y = where[2] - (shape[2] - 1) / 2, where[1] - (shape[1] - 1) / 2  # mm (1 mm voxels)
    theta = np.radians(angle)
    expected = (frame.shape[1] - 1) / 2 + x * np.cos(theta) + y * np.sin(theta)
    assert row == shape[0] - 1 - where[0]  # superior at the top
    assert abs(column - expected) <= 0.5


@pytest.mark.parametrize("angle", [30, 60, 150, 240])
def test_a_point_turns_about_l_r_where_the_viewer_sees_it(angle: int) -> None:
    """Seen from angle φ the screen's top-to-bottom axis runs along (y, z) = (-sin φ, -cos φ):
    at 90° the head points at the viewer and anterior is at the bottom. Slices 2 mm apart, the
    frame's rows 1 mm: the turning plane is resampled to square pixels."""
    shape, spacing, where = (15, 30, 11), (2.0, 1.0, 1.0), (12, 7, 3)
    result = spin(_one_bright_voxel(shape, spacing, where), axis="lr", frames=12)
    frame = result.frames[angle // 30]
    assert result.spacing == (1.0, 1.0)
    row, column = np.unravel_index(np.nanargmax(frame), frame.shape)
    z = (where[0] - (shape[0] - 1) / 2) * 2.0
    y = where[1] - (shape[1] - 1) / 2
    phi = np.radians(angle)
    expected = (frame.shape[0] - 1) / 2 - y * np.sin(phi) - z * np.cos(phi)
    assert column == where[2]  # patient right on the left, at every angle
    assert abs(row - expected) <= 0.5


def test_between_quarter_turns_it_agrees_with_rotating_each_slice_with_ndimage() -> None:
    """On a smooth volume, the rays agree with the obvious (ten times slower) way: each axial
    slice rotated by scipy.ndimage (order 1), then the maximum along the line of sight."""
    s, p, x = np.meshgrid(np.arange(6), np.arange(40), np.arange(48), indexing="ij")
    values = 1000 * np.exp(-((p - 14) ** 2 + (x - 30) ** 2) / 40.0) + 20 * s
    values += 600 * np.exp(-((p - 28) ** 2 + (x - 12) ** 2) / 15.0)
    volume = _canonical_volume(values.astype(np.float32), (1.0, 1.0, 1.0))
    result = spin(volume, axis="si", frames=12)
    theta = np.radians(30)
    along = np.array([np.sin(theta), np.cos(theta)])  # screen axis in (P, L)
    ray = np.array([-along[1], along[0]])
    width = result.frames.shape[2]
    depth = width
    centre, middle = (np.array([40, 48]) - 1) / 2, (width - 1) / 2
    matrix = np.stack([ray, along], axis=1)  # output (depth, column) -> input (P, L)
    offset = centre - matrix @ [middle, middle]
    for k in range(6):
        turned = ndimage.affine_transform(
            values[k].astype(np.float32),
            matrix,
            offset=offset,
            output_shape=(depth, width),
            order=1,
            mode="constant",
            cval=np.nan,
        )
        expected = np.fmax.reduce(turned, axis=0)
        got = result.frames[1][5 - k]
        both = np.isfinite(expected) & np.isfinite(got)
        assert both.sum() > 40
        np.testing.assert_allclose(got[both], expected[both], atol=15.0)


# ---------- no data, boxes, previews ----------


def test_no_data_and_outside_the_volume_are_never_a_0_hu_maximum() -> None:
    """Air (-1000) with a denser core, planes without data (NaN) and the space around the
    volume at every angle: no frame holds 0, and a ray through nothing is NaN, not 0."""
    array = np.full((8, 20, 26), -1000.0, dtype=np.float32)
    array[:, 8:12, 10:16] = -500.0
    array[3] = np.nan
    result = spin(_canonical_volume(array, (1.0, 1.0, 1.0)), axis="si", frames=24)
    assert np.nanmax(result.frames) == -500.0
    assert not (result.frames == 0).any()
    assert np.isnan(result.frames[:, 8 - 1 - 3]).all()  # the no-data plane, superior at the top
    assert np.isnan(result.frames[0][:, :3]).all()  # beside the volume, seen from the front
    lr = spin(_canonical_volume(array, (1.0, 1.0, 1.0)), axis="lr", frames=24)
    assert np.nanmax(lr.frames) == -500.0 and not (lr.frames == 0).any()


def test_a_box_spins_only_that_part_of_the_patient() -> None:
    volume = _random(shape=(12, 16, 20))
    canon = canonical(volume)
    box = ((2, 10), None, (3, None))
    cropped = _canonical_volume(np.array(canon.array[2:10, :, 3:]), canon.spacing)
    for axis in ("si", "lr"):
        np.testing.assert_array_equal(
            spin(volume, axis=axis, frames=8, box=box).frames,
            spin(cropped, axis=axis, frames=8).frames,
        )
    with pytest.raises(UsageError, match="box's P range"):
        spin(volume, box=(None, (5, 5), None))


def test_a_preview_is_small_and_keeps_the_brightest_voxels() -> None:
    """Maxima of cubes of voxels: the preview's front view is the full one's in blocks."""
    volume = _random(shape=(20, 30, 33))
    preview = spin(volume, axis="si", frames=4, max_size=11)
    assert preview.frames.shape == (4, 7, 11)
    assert preview.spacing == (3.0, 3.0)
    coronal = _mip(volume, "coronal")[::-1]  # inferior first, as the blocks are counted
    rows, columns = np.arange(0, 20, 3), np.arange(0, 33, 3)
    blocks = np.maximum.reduceat(np.maximum.reduceat(coronal, rows, 0), columns, 1)
    np.testing.assert_array_equal(preview.frames[0], blocks[::-1])
    assert np.nanmax(preview.frames) == np.nanmax(volume.array)


def test_threads_and_progress_do_not_change_the_frames() -> None:
    volume = _random(shape=(70, 20, 24))
    said: list[float] = []
    one = spin(volume, axis="lr", frames=12, workers=1)
    two = spin(volume, axis="lr", frames=12, workers=2, progress=lambda done, _: said.append(done))
    np.testing.assert_array_equal(one.frames, two.frames)
    assert said and said[-1] == 1.0 and said == sorted(said)


def test_an_oblique_stack_is_spun_on_the_patients_axes() -> None:
    turn = np.radians(12)
    affine = np.eye(4)
    affine[:3, :3] = [
        [np.cos(turn), -np.sin(turn), 0],
        [np.sin(turn), np.cos(turn), 0],
        [0, 0, 1],
    ]
    array = np.random.default_rng(3).integers(0, 1000, (16, 16, 6), dtype=np.int16)
    volume = Volume(array, affine, (1.0, 1.0, 1.0), "oblique")
    np.testing.assert_array_equal(
        spin(volume, frames=4).frames, spin(on_patient_axes(volume), frames=4).frames
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"axis": "ap"}, "unknown spin axis 'ap'; choose one of si, lr"),
        ({"frames": 0}, "frames must be 1 to 720, got 0"),
        ({"frames": 1000}, "frames must be 1 to 720"),
        ({"max_size": 2}, "at least 8 voxels"),
        ({"box": ((0, 2), None)}, "3 ranges"),
    ],
)
def test_wrong_choices_are_said(options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        spin(_random(), **options)


def test_edges_and_titles_name_where_the_viewer_stands() -> None:
    si = spin(_random(), axis="si", frames=12)
    assert (si.labels(0).left, si.labels(0).right, si.labels(0).top) == ("R", "L", "S")
    assert (si.labels(3).left, si.labels(3).right) == ("A", "P")
    assert (si.labels(1).left, si.labels(1).right) == ("RA", "LP")  # 30°: mostly R-L
    assert si.title(3) == "MIP about S-I · 90° from the patient's left"
    lr = spin(_random(), axis="lr", frames=4)
    assert (lr.labels(1).top, lr.labels(1).bottom, lr.labels(1).left) == ("P", "A", "R")
    assert lr.title(3).endswith("270° from the feet")
    assert lr.view(1).plane == "axial" and si.view(3).plane == "sagittal"


# ---------- the animation and the GIF ----------


def _bench_like(frames: int = 36) -> Spin:
    values = np.random.default_rng(5).normal(0, 300, (frames, 120, 160)).astype(np.float32)
    return Spin(values, tuple(k * 360 / frames for k in range(frames)), "si", (2.0, 1.0), "HU")


def test_the_figure_plays_pauses_and_scrubs_in_the_browser() -> None:
    result = spin(_random(), axis="si", frames=12)
    figure = spin_figure(result, Window(200, 2000))
    spec = json.loads(figure.to_json())
    assert len(spec["frames"]) == 12
    assert all(f["data"][0]["source"].startswith("data:image/png;base64,") for f in spec["frames"])
    (menu,) = spec["layout"]["updatemenus"]
    assert [b["label"] for b in menu["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert all(b["method"] == "animate" for b in menu["buttons"])
    (slider,) = spec["layout"]["sliders"]
    assert [s["label"] for s in slider["steps"]][:4] == ["0°", "30°", "60°", "90°"]
    assert slider["steps"][3]["args"][0] == ["3"]
    labels = {a["text"] for a in spec["frames"][3]["layout"]["annotations"]}
    assert labels == {"S", "I", "A", "P"}
    # Physical aspect: mm on both axes, rows 1 mm here as columns are.
    image = spec["data"][0]
    assert image["dx"] == pytest.approx(result.spacing[1])


def test_the_figure_shrinks_its_pictures_to_stay_within_its_budget() -> None:
    noisy = _bench_like()
    for budget in (3_000_000, 400_000):
        size = len(spin_figure(noisy, Window(0, 1000), max_bytes=budget).to_json())
        assert size <= budget
    small = json.loads(spin_figure(noisy, Window(0, 1000), max_bytes=400_000).to_json())
    picture = small["data"][0]
    assert picture["dx"] * 160 / 1.0 > 160  # fewer, larger pixels: the same mm across
    assert small["layout"]["xaxis"]["range"] == [0, 160.0]


def test_a_colour_map_travels_as_a_palette_png() -> None:
    """The colour table itself, not RGB: a third of the bytes, every level exact."""
    figure = spin_figure(_bench_like(frames=2), Window(0, 1000), colormap="hot")
    source = figure.frames[1].data[0].source
    png = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    assert png.mode == "P" and png.size == (160, 120)


def test_the_gif_loops_every_frame_in_physical_aspect() -> None:
    result = _bench_like(frames=6)
    gif = Image.open(io.BytesIO(spin_gif(result, Window(0, 1000), labels=False)))
    assert gif.n_frames == 6 and gif.info["loop"] == 0
    assert gif.size == (160, 240)  # rows 2 mm: stretched to 1 mm pixels
    labelled = Image.open(io.BytesIO(spin_gif(result, Window(0, 1000), colormap="hot")))
    assert labelled.n_frames == 6 and labelled.size[0] > 160


# ---------- the command line ----------


@pytest.fixture
def ct_dir(tmp_path: Path) -> Path:
    from synth import Marker, make_series

    files = make_series(
        rows=40,
        columns=30,
        slices=12,
        pixel_spacing=(0.5, 0.5),
        slice_spacing=2.0,
        intercept=-1024.0,
        origin=(-7.5, -10.0, 0.0),
        markers=[Marker((0.0, 0.0, 10.0), 3000)],
    )
    folder = tmp_path / "ct"
    folder.mkdir()
    for name, data in files:
        (folder / name).write_bytes(data)
    return folder


def test_the_command_writes_the_frames_and_a_gif(ct_dir: Path, tmp_path: Path, capsys) -> None:
    from dicomviz.cli import main

    out = tmp_path / "spin"
    assert main(["spin", str(ct_dir), "--frames", "12", "-o", str(out)]) == 0
    frames = np.load(tmp_path / "spin.npy")
    volume = _volume_of(ct_dir)
    coronal = _mip(volume, "coronal")
    assert frames.shape[:2] == (12, coronal.shape[0])
    np.testing.assert_array_equal(_centred(frames[0], coronal.shape[1], 1), coronal)
    with Image.open(tmp_path / "spin.gif") as gif:
        assert gif.n_frames == 12
    err = capsys.readouterr().err
    assert "12 frames about S-I" in err and "window" in err


def test_the_command_takes_axis_window_and_box(ct_dir: Path, tmp_path: Path) -> None:
    from dicomviz.cli import main

    args = ["spin", str(ct_dir), "--axis", "lr", "--frames", "4", "--window", "40,400"]
    assert main([*args, "--box", "2:10,:,5:25", "-o", str(tmp_path / "a.gif")]) == 0
    frames = np.load(tmp_path / "a.npy")
    assert frames.shape[0] == 4 and frames.shape[2] == 20  # columns: L 5..24
    assert main(["spin", str(ct_dir), "--frames", "0", "-o", str(tmp_path / "b")]) == 2
    assert main(["spin", str(ct_dir), "--box", "1:2", "-o", str(tmp_path / "c")]) == 2


def _volume_of(folder: Path) -> Volume:
    from dicomviz.loading import load
    from dicomviz.pixels.volume import build_volume

    return build_volume(load([str(folder)]).largest())


# ---------- the page ----------


def test_the_page_makes_a_preview_only_when_asked() -> None:
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parents[1] / "app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    charts = len(at.get("plotly_chart"))
    (panel,) = [e for e in at.expander if "3-D MIP" in e.label]
    assert len(panel.get("plotly_chart")) == 0
    at.button(key="spin_preview").click().run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == charts + 1
    animation = next(s for s in specs if s.get("frames"))
    assert len(animation["frames"]) == 36
    assert len(json.dumps(animation)) <= 3_000_000
    at.radio(key="spin_axis").set_value("lr").run()  # not made yet: nothing shown for it
    assert not any(json.loads(c.proto.spec).get("frames") for c in at.get("plotly_chart"))


def test_the_page_turns_a_tilted_ct_on_patient_axes_even_when_shown_as_acquired() -> None:
    """The views may show the stack as acquired; the spin is always on the patient's axes (the
    resampled volume the page keeps), and "Only the views' slabs" is then not offered: the
    views' slice numbers do not count along those axes."""
    from streamlit.testing.v1 import AppTest
    from synth import zip_bytes
    from test_resample import _files

    files = _files((1, 0, 0), (0, 1, 0), tilt=(0.0, 1.5 * np.tan(np.radians(18.5)), 0.0))
    app = str(Path(__file__).resolve().parents[1] / "app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    at.file_uploader(key="files").set_value([("tilted.zip", zip_bytes(files), "application/zip")])
    at.run()
    (grid,) = [r for r in at.sidebar.radio if r.key.startswith("grid-")]
    grid.set_value("As acquired").run()
    assert at.checkbox(key="spin_box").disabled
    at.button(key="spin_preview").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    animation = next(s for s in specs if s.get("frames"))
    assert len(animation["frames"]) == 36
