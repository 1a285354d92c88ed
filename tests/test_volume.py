"""Building volumes: units, types, colour, decode failures and peak memory."""

from __future__ import annotations

import io
import os
import tracemalloc

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from synth import make_series

import dicomviz
from dicomviz.display.render import physical_size, view_png
from dicomviz.display.windowing import (
    CT_PRESETS,
    Window,
    default_window,
    percentile_window,
    to_grey,
)


def test_peak_memory_is_about_one_volume_beyond_the_inputs() -> None:
    files = make_series(rows=256, columns=256, slices=60, intercept=-1024.0)
    study = dicomviz.load(files)
    volume_bytes = 60 * 256 * 256 * 2
    tracemalloc.start()
    try:
        volume = dicomviz.build_volume(study.stacks[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert volume.array.nbytes == volume_bytes and volume.array.dtype == np.int16
    assert peak < 1.2 * volume_bytes, peak / volume_bytes


def test_volume_is_read_only() -> None:
    volume = dicomviz.build_volume(dicomviz.load(make_series(slices=2)).stacks[0])
    with pytest.raises(ValueError, match="read-only"):
        volume.array[0, 0, 0] = 1


def test_rgb_becomes_luminance_with_a_note() -> None:
    path = get_testdata_file("SC_rgb.dcm")
    volume = dicomviz.build_volume(dicomviz.load([path]).stacks[0])
    rgb = pydicom.dcmread(path).pixel_array.astype(np.float32)
    expected = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(volume.array[0], expected, rtol=1e-6)
    assert any("luminance" in w for w in volume.warnings)


def _group(ds: pydicom.Dataset, index: int, keyword: str) -> pydicom.Dataset:
    own = ds.PerFrameFunctionalGroupsSequence[index]
    source = own if keyword in own else ds.SharedFunctionalGroupsSequence[0]
    return source[keyword][0]


@pytest.mark.parametrize("source", ["eCT_Supplemental.dcm", "synthetic"])
def test_enhanced_multiframe_orders_frames_and_applies_their_rescale(source: str) -> None:
    if source == "synthetic":  # frames stored shuffled, each with its own intercept
        ((_, data),) = make_series(slices=6, enhanced=True, shuffle_seed=2)
        ds = pydicom.dcmread(io.BytesIO(data))
        for i, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
            item.PixelValueTransformationSequence[0].RescaleIntercept = -10 * i
        buffer = io.BytesIO()
        ds.save_as(buffer)
        inputs = [("enhanced", buffer.getvalue())]
    else:
        inputs = [get_testdata_file(source)]
        ds = pydicom.dcmread(inputs[0])
    volume = dicomviz.build_volume(dicomviz.load(inputs).stacks[0])
    assert volume.shape[0] == int(ds.NumberOfFrames)
    cosines = _group(ds, 0, "PlaneOrientationSequence").ImageOrientationPatient
    normal = np.cross(cosines[:3], cosines[3:])
    along = [
        np.dot(_group(ds, i, "PlanePositionSequence").ImagePositionPatient, normal)
        for i in range(int(ds.NumberOfFrames))
    ]
    frames = ds.pixel_array
    for k, index in enumerate(np.argsort(along)):
        rescale = _group(ds, index, "PixelValueTransformationSequence")
        expected = frames[index] * float(rescale.RescaleSlope) + float(rescale.RescaleIntercept)
        np.testing.assert_array_equal(volume.array[k], expected)


def test_windows_presets_and_defaults() -> None:
    assert CT_PRESETS["lung"] == Window(-600, 1500) and CT_PRESETS["brain"] == Window(40, 80)
    data = np.arange(1000, dtype=np.float32)
    assert default_window(data, file_window=(10, 20)) == Window(10, 20)
    assert default_window(data, modality="CT") == CT_PRESETS["abdomen"]
    mr = default_window(data, modality="MR")
    assert mr.low == pytest.approx(9.99, abs=0.1) and mr.high == pytest.approx(989.01, abs=0.1)
    padded = np.concatenate([data, np.full(5000, -3024, np.float32)])
    assert percentile_window(padded, padding_value=-3024) == mr


def test_to_grey_follows_the_dicom_linear_function() -> None:
    grey = to_grey(np.array([-200.0, -161.0, 40.0, 240.0, 500.0]), Window(40, 400))
    assert grey.tolist()[0] == 0 and grey.tolist()[-1] == 255
    assert grey[2] in (127, 128)


def test_png_has_physical_aspect() -> None:
    files = make_series(rows=20, columns=10, slices=8, pixel_spacing=(0.5, 0.5), slice_spacing=3)
    volume = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    view = dicomviz.make_view(volume, "sagittal", "max")
    assert view.spacing == (3.0, 0.5)
    assert physical_size(view) == (20, 48)
    assert view_png(view, Window(0, 10)).startswith(b"\x89PNG")


def test_integer_rescale_stays_exact_in_int16_even_past_its_range_midway() -> None:
    from synth import Marker

    files = make_series(slices=3, dtype=np.uint16, intercept=-10000.0,
                        markers=[Marker((-12.0, -16.0, -20.0), 40000)])  # fmt: skip
    volume = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    assert volume.array.dtype == np.int16
    assert int(volume.array.max()) == 30000 and int(volume.array.min()) == -10000


def test_display_values_halve_the_payload_only_where_faithful() -> None:
    from dicomviz.display.figures import display_values

    hu = np.linspace(-1000.4, 1500.4, 100, dtype=np.float32).reshape(10, 10)
    assert display_values(hu).dtype == np.int16
    assert np.abs(display_values(hu) - hu).max() <= 0.5
    fraction = np.linspace(0, 1, 100, dtype=np.float64).reshape(10, 10)
    np.testing.assert_array_equal(display_values(fraction), fraction.astype(np.float32))


def test_slow_codec_series_decode_in_worker_processes_to_the_same_pixels() -> None:
    from pydicom.uid import JPEG2000Lossless

    from dicomviz.pixels import pool as decode_pool

    geometry = dict(rows=40, columns=36, slices=20, intercept=-1024.0, shuffle_seed=3)
    plain = dicomviz.load(make_series(**geometry)).stacks[0]
    j2k = dicomviz.load(make_series(**geometry, transfer_syntax=JPEG2000Lossless)).stacks[0]
    assert decode_pool.worth_pooling(j2k.frames) and not decode_pool.worth_pooling(plain.frames)
    expected = dicomviz.build_volume(plain).array
    volume = dicomviz.build_volume(j2k)
    assert decode_pool._pool is not None  # the workers did the decoding
    np.testing.assert_array_equal(volume.array, expected)
    assert not [w for w in volume.warnings if "decod" in w]


def _abort(_: object) -> None:
    """Stands in for a decoder that aborts the process (python-gdcm did, TRAPS.md)."""
    os._exit(1)


def test_a_worker_that_dies_blanks_its_slices_and_the_next_build_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydicom.uid import JPEG2000Lossless

    from dicomviz.pixels import pool as decode_pool

    files = make_series(rows=40, columns=36, slices=18, transfer_syntax=JPEG2000Lossless)
    stack = dicomviz.load(files).stacks[0]
    monkeypatch.setattr(decode_pool, "decode", _abort)
    volume = dicomviz.build_volume(stack)
    assert any("decoder crashed" in w for w in volume.warnings)
    monkeypatch.undo()
    assert not [w for w in dicomviz.build_volume(stack).warnings if "decod" in w]
