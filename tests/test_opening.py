"""The first picture a person gets (dicomviz.opening): the acquired plane's middle slice in a
window that shows the anatomy, never a white blob or a black screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from synth import make_series, make_slice_dataset, to_bytes

import dicomviz
from dicomviz.cli import main
from dicomviz.display import opening
from dicomviz.display.windowing import CT_PRESETS, Window
from dicomviz.sample.phantom import sample_series

DATA = Path(__file__).parent / "data"


def _stack(files: list[tuple[str, bytes]]) -> tuple[dicomviz.Stack, dicomviz.Volume]:
    stack = dicomviz.load(files).largest()
    return stack, dicomviz.build_volume(stack)


def _head(slices: int = 6, *, body_part: str | None = None, **extra: object) -> list:
    """An axial head CT: brain (35 HU) in a 6 mm skull (1000 HU), air around, 0.5 mm pixels."""
    r, c = np.mgrid[:320, :320]
    radius = np.hypot(r - 160, c - 160) * 0.5  # mm
    hu = np.where(radius < 70, 35, -1000)
    hu = np.where((radius >= 64) & (radius < 70), 1000, hu)
    hu = hu + (r % 7) * 3  # some texture
    files = []
    for k in range(slices):
        attributes = dict(extra, BodyPartExamined=body_part) if body_part else dict(extra)
        ds = make_slice_dataset(
            (hu + 1024).astype(np.int16),
            position=(0.0, 0.0, 5.0 * k),
            row_cosine=(1, 0, 0),
            col_cosine=(0, 1, 0),
            pixel_spacing=(0.5, 0.5),
            instance_number=k + 1,
            series_uid="1.2.826.0.1.3680043.8.498.7001",
            intercept=-1024.0,
            slice_thickness=5.0,
            **attributes,
        )
        files.append((f"H{k}", to_bytes(ds)))
    return files


def test_a_2d_stack_opens_on_its_own_plane_and_a_thin_volume_on_all_three() -> None:
    sagittal = make_series(slices=35, row_cosine=(0, 1, 0), col_cosine=(0, 0, -1))
    stack, _ = _stack(sagittal)
    assert opening.opening_planes(stack) == ("sagittal",)
    thin = make_series(slices=70, slice_spacing=1.0, pixel_spacing=(0.8, 0.8))
    stack, _ = _stack(thin)
    assert opening.opening_planes(stack) == ("axial", "coronal", "sagittal")
    thick = make_series(slices=70, slice_spacing=5.0, pixel_spacing=(0.8, 0.8))
    assert opening.opening_planes(_stack(thick)[0]) == ("axial",)


def test_an_oblique_stack_opens_on_its_nearest_plane() -> None:
    angle = np.radians(40)
    files = make_series(row_cosine=(np.cos(angle), np.sin(angle), 0), col_cosine=(0, 0, -1))
    stack, _ = _stack(files)
    assert stack.plane == "oblique"
    assert opening.acquired_plane(stack) == "coronal"  # its normal is 40 degrees from y


def _with_windows(windows: list[tuple[float, float]]) -> list[tuple[str, bytes]]:
    """An MR-like series of ellipses (values 200-1000 inside) whose slices carry ``windows``."""
    r, c = np.mgrid[:48, :48]
    inside = ((r - 24) / 20) ** 2 + ((c - 24) / 14) ** 2 < 1
    files = []
    for k, (center, width) in enumerate(windows):
        pixels = np.where(inside, 200 + (r * 16 + c) % 800, 5).astype(np.int16)
        ds = make_slice_dataset(
            pixels,
            position=(0.0, 0.0, 3.0 * k),
            row_cosine=(1, 0, 0),
            col_cosine=(0, 1, 0),
            pixel_spacing=(1, 1),
            instance_number=k + 1,
            series_uid="1.2.826.0.1.3680043.8.498.7002",
            modality="MR",
            WindowCenter=center,
            WindowWidth=width,
        )
        files.append((f"W{k}", to_bytes(ds)))
    return files


def test_the_file_window_comes_from_the_middle_slice_not_an_edge_one() -> None:
    """As a Philips MR: the first slice carries 594/1033, the middle ones 1070/1860."""
    windows = [(594, 1033), (590, 1020), (1070, 1860), (1070, 1860), (1069, 1858)]
    _, volume = _stack(_with_windows(windows))
    assert volume.file_window == (1070, 1860)
    window, why = opening.initial_window(volume, "slice")
    assert (window.center, window.width) == (1070, 1860) and "files' own" in why


def test_a_degenerate_file_window_is_ignored() -> None:
    """As a Siemens series whose slice 1 carries 4/9: a white screen; the body's values win."""
    _, volume = _stack(_with_windows([(4, 9)] * 5))
    window, why = opening.initial_window(volume, "slice")
    assert (window.center, window.width) != (4, 9) and "image's values" in why
    quality = opening.picture_quality(volume.array[2], window)
    assert not quality.saturated and not quality.blank


def test_ct_preset_by_body_part_and_by_what_the_slices_hold() -> None:
    head = _stack(_head(body_part="HEAD"))[1]
    assert opening.ct_preset(head) == "brain"
    unnamed = _stack(_head())[1]
    assert opening.ct_preset(unnamed) == "brain"  # narrow, with a ring of bone
    chest = _stack(sample_series(slices=40, size=96))[1]
    assert opening.has_lung(chest) and not opening.has_lung(head)
    assert opening.ct_preset(chest) == "mediastinum"


def test_minip_takes_the_lung_window_only_where_there_is_lung() -> None:
    chest = _stack(sample_series(slices=40, size=96))[1]
    view = dicomviz.make_view(chest, "coronal", "min")
    assert opening.initial_window(chest, "min", view)[0] == CT_PRESETS["lung"]
    head = _stack(_head())[1]
    view = dicomviz.make_view(head, "axial", "min")
    window, _ = opening.initial_window(head, "min", view)
    assert window != CT_PRESETS["lung"]
    assert not opening.picture_quality(view.image, window).blank


def test_a_mean_projection_is_windowed_on_its_own_values() -> None:
    chest = _stack(sample_series(slices=40, size=96))[1]
    view = dicomviz.make_view(chest, "coronal", "mean")
    window, why = opening.initial_window(chest, "mean", view)
    assert "projection" in why
    quality = opening.picture_quality(view.image, window)
    assert not quality.blank and not quality.saturated
    # The slice window on the mean would be far too narrow: almost all of it black or white.
    slice_window = opening.initial_window(chest, "slice")[0]
    assert opening.picture_quality(view.image, slice_window).contrast < quality.contrast


def _real_and_synthetic() -> list[tuple[str, list]]:
    real = [(p.name, [p]) for p in sorted(DATA.glob("*.zip"))]
    for name in ("CT_small.dcm", "MR_small.dcm", "emri_small.dcm"):
        real.append((name, [get_testdata_file(name)]))
    synthetic = [
        ("head CT", _head()),
        ("chest CT phantom", sample_series(slices=40, size=96)),
        ("MR with an edge-slice window", _with_windows([(4, 9), (1070, 1860), (1070, 1860)])),
    ]
    return real + synthetic


@pytest.mark.parametrize(("name", "inputs"), _real_and_synthetic(), ids=lambda v: str(v)[:30])
def test_the_opening_picture_is_neither_saturated_nor_blank(name: str, inputs: list) -> None:
    study = dicomviz.load(inputs)
    assert study.stacks, study.skipped
    for stack in study.stacks:
        volume = dicomviz.build_volume(stack)
        picture = opening.opening(stack, volume)
        for plane in picture.planes:
            view = dicomviz.make_view(volume, plane, picture.mode)
            quality = opening.picture_quality(view.image, picture.window)
            assert not quality.saturated, (name, stack.label, plane, quality, picture)
            assert not quality.blank, (name, stack.label, plane, quality, picture)


def test_the_command_line_shows_the_same_picture_as_the_page(tmp_path: Path) -> None:
    folder = tmp_path / "head"
    folder.mkdir()
    for name, data in _head():
        (folder / name).write_bytes(data)
    out = tmp_path / "view"
    assert (
        main(["project", str(folder), "--plane", "axial", "--mode", "slice", "-o", str(out)]) == 0
    )
    stack, volume = _stack(_head())
    expected = opening.opening(stack, volume).window
    assert expected == CT_PRESETS["brain"]
    from PIL import Image

    with Image.open(tmp_path / "view.png") as png:
        grey = np.asarray(png.convert("L"), dtype=float)
    # Brain at 35 HU in a 40/80 window: mid-grey, not white, not black.
    assert 60 < np.median(grey[grey > 20]) < 200


def test_unknown_orientation_gets_no_direction_labels() -> None:
    files = make_series(slices=3)
    stack, volume = _stack([(n, to_bytes(_without_orientation(d))) for n, d in files])
    view = dicomviz.make_view(volume, "axial", "slice")
    assert (view.labels.top, view.labels.left) == ("", "")
    assert any(w.kind == "orientation" for w in stack.warnings)
    oriented = dicomviz.make_view(_stack(files)[1], "axial", "slice")
    assert oriented.labels.top == "A"


def _without_orientation(data: bytes):
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.ImageOrientationPatient
    return ds


def test_window_quality_tells_a_white_blob_and_a_black_screen() -> None:
    image = np.where(np.hypot(*np.mgrid[-20:20, -20:20]) < 15, 1000.0, 0.0)
    image += np.random.default_rng(0).normal(0, 50, image.shape)
    assert opening.picture_quality(image, Window(4, 9)).saturated
    assert opening.picture_quality(image, Window(-5000, 10)).blank
    assert not opening.picture_quality(image, opening.body_window(image)).blank
