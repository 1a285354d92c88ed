"""Every real file of pydicom-data and pydicom's own tests either loads or is named with a reason,
and compressed twins decode to exactly the pixels of their uncompressed originals."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import dicomviz
from dicomviz.display.views import MODES, make_view

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _all_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def corpus(pydicom_data_dir: Path, pydicom_test_dir: Path) -> tuple[dicomviz.Study, list[Path]]:
    files = _all_files(pydicom_data_dir, pydicom_test_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dicomviz.load([pydicom_data_dir, pydicom_test_dir]), files


def test_every_file_is_accounted_for(corpus: tuple[dicomviz.Study, list[Path]]) -> None:
    study, files = corpus
    used = {frame.file.name for stack in study.stacks for frame in stack.frames}
    skipped = {item.name for item in study.skipped}
    assert study.files_read == len(files)
    unaccounted = {str(p) for p in files} - used - skipped
    assert not unaccounted
    assert len(used) > 60
    assert all(item.reason.strip() for item in study.skipped)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("rtplan.dcm", "RT Plan has no pixel data"),
        ("test-SR.dcm", "Comprehensive SR has no pixel data"),
        ("DICOMDIR", "DICOMDIR"),
        ("rtplan.dump", "text file"),
        ("zipMR.gz", "gzip archive"),
    ],
)
def test_non_images_get_a_plain_reason(
    corpus: tuple[dicomviz.Study, list[Path]], name: str, reason: str
) -> None:
    study, _ = corpus
    reasons = [item.reason for item in study.skipped if Path(item.name).name == name]
    assert reasons and all(reason in r for r in reasons), reasons


def test_every_stack_builds_and_projects(corpus: tuple[dicomviz.Study, list[Path]]) -> None:
    study, _ = corpus
    for stack in study.stacks:
        volume = dicomviz.build_volume(stack)
        assert volume.shape == (stack.depth, stack.rows, stack.columns)
        for plane in ("axial", "coronal", "sagittal"):
            for mode in MODES:
                view = make_view(volume, plane, mode)
                assert view.image.ndim == 2 and view.image.size > 0


def _pixels(name: str) -> np.ndarray:
    study = dicomviz.load([get_testdata_file(name)])
    assert len(study.stacks) == 1, study.skipped
    volume = dicomviz.build_volume(study.stacks[0])
    assert not [w for w in volume.warnings if "decoded" in w], volume.warnings
    return volume.array


@pytest.mark.parametrize(
    ("original", "twin"),
    [
        ("MR_small.dcm", "MR_small_RLE.dcm"),
        ("MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm"),
        ("MR_small.dcm", "MR_small_jp2klossless.dcm"),
        ("MR_small.dcm", "MR_small_bigendian.dcm"),
        ("MR_small.dcm", "MR_small_implicit.dcm"),
        ("emri_small.dcm", "emri_small_RLE.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm"),
        ("emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm"),
        ("emri_small.dcm", "emri_small_big_endian.dcm"),
        ("693_UNCR.dcm", "693_J2KR.dcm"),
        ("MR2_UNCR.dcm", "MR2_J2KR.dcm"),
        ("RG1_UNCR.dcm", "RG1_J2KR.dcm"),
        ("US1_UNCR.dcm", "US1_J2KR.dcm"),
        ("OBXXXX1A.dcm", "OBXXXX1A_rle.dcm"),
        ("SC_rgb.dcm", "SC_rgb_rle.dcm"),
    ],
)
def test_lossless_twins_decode_identically(original: str, twin: str) -> None:
    expected = _pixels(original)
    got = _pixels(twin)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_ct_small_is_in_hounsfield_units() -> None:
    study = dicomviz.load([get_testdata_file("CT_small.dcm")])
    volume = dicomviz.build_volume(study.stacks[0])
    ds = study.stacks[0].first_dataset()
    raw = ds.pixel_array.astype(float)
    expected = raw * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(volume.array[0], expected)
    assert volume.units == "HU" and volume.array.dtype == np.int16


def test_truncated_pixel_data_is_named(pydicom_data_dir: Path) -> None:
    study = dicomviz.load([pydicom_data_dir / "emri_small_jpeg_2k_lossless_too_short.dcm"])
    assert not study.stacks
    assert study.skipped[0].name.endswith("too_short.dcm")
