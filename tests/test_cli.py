"""The command-line contract (`python -m dicomviz ...`), run in-process through main(argv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from synth import Marker, make_series, make_slice_dataset, to_bytes, zip_bytes

from dicomviz.cli import main

CT = dict(
    rows=40,
    columns=30,
    slices=12,
    pixel_spacing=(0.5, 0.5),
    slice_spacing=2.0,
    intercept=-1024.0,
    origin=(-7.5, -10.0, 0.0),
)


def _write(folder: Path, files: list[tuple[str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    """Two series in nested folders, files without extension, plus a note and an SR."""
    big = make_series(
        **CT, shuffle_seed=1, markers=[Marker((0.0, 0.0, 10.0), 3000)], series_description="Chest"
    )
    small = make_series(slices=3, series_description="Scout", series_number=2)
    _write(tmp_path / "study" / "a" / "b", big)
    _write(tmp_path / "study" / "scout", small)
    (tmp_path / "study" / "notes.txt").write_text("exported by PACS")
    sr = Path(get_testdata_file("test-SR.dcm")).read_bytes()
    (tmp_path / "study" / "report").write_bytes(sr)
    return tmp_path / "study"


def test_info_json_is_exactly_a_list_of_series(study_dir: Path, capsys) -> None:
    assert main(["info", str(study_dir), "--json"]) == 0
    out, err = capsys.readouterr()
    series = json.loads(out)
    assert [s["slices"] for s in series] == [12, 3]
    chest = series[0]
    assert set(chest) == {
        "series_uid",
        "modality",
        "description",
        "slices",
        "rows",
        "columns",
        "spacing",
        "orientation",
        "warnings",
    }
    assert (chest["modality"], chest["description"]) == ("CT", "Chest")
    assert (chest["rows"], chest["columns"]) == (40, 30)
    assert chest["spacing"] == [2.0, 0.5, 0.5]
    assert chest["orientation"] == "axial" and chest["warnings"] == []
    assert "notes.txt: a text file, not DICOM" in err
    assert "report: Comprehensive SR has no pixel data" in err


def test_info_text_lists_series_and_skipped(study_dir: Path, capsys) -> None:
    assert main(["info", str(study_dir)]) == 0
    out, err = capsys.readouterr()
    assert "12 slices of 40 x 30, axial, spacing 2 x 0.5 x 0.5 mm" in out
    assert "skipped 2 of 17 inputs" in err and "skipped" not in out


def test_project_writes_npy_in_hu_and_png_in_physical_aspect(
    study_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out" / "view"
    out.parent.mkdir()
    assert (
        main(["project", str(study_dir), "--plane", "coronal", "--mode", "max", "-o", str(out)])
        == 0
    )
    err = capsys.readouterr().err
    assert "2 series found; using" in err and "(12 images, 'Chest')" in err
    image = np.load(out.with_suffix(".npy"))
    assert image.shape == (12, 30)  # (slices along S-I, columns along R-L)
    assert image.max() == 3000 - 1024 and image.min() == -1024
    (row, col) = np.argwhere(image == image.max())[0]
    assert row == 12 - 1 - 5 and col == 15  # z=10 mm is slice 5 from the bottom; x=0 mid
    with Image.open(out.with_suffix(".png")) as png:
        assert png.mode == "L"
        assert png.size == (30, 48)  # 15 mm wide, 24 mm tall at 0.5 mm per pixel


def test_project_slice_slab_series_and_window(study_dir: Path, tmp_path: Path, capsys) -> None:
    series = json.loads((main(["info", str(study_dir), "--json"]), capsys.readouterr().out)[1])
    uid = series[1]["series_uid"]
    out = tmp_path / "scout.png"
    code = main(
        [
            "project",
            str(study_dir),
            "--series",
            uid,
            "--plane",
            "axial",
            "--mode",
            "slice",
            "--index",
            "1",
            "--window",
            "0,100",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert np.load(tmp_path / "scout.npy").shape == (32, 24)
    code = main(
        [
            "project",
            str(study_dir),
            "--plane",
            "sagittal",
            "--mode",
            "mean",
            "--slab",
            "10:20",
            "-o",
            str(tmp_path / "slab"),
        ]
    )
    assert code == 0 and np.load(tmp_path / "slab.npy").dtype == np.float32


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project", "{dir}", "--plane", "oblique", "--mode", "max", "-o", "x"], "--plane"),
        (
            ["project", "{dir}", "--plane", "axial", "--mode", "slice", "--index", "99", "-o", "x"],
            "outside 0..11",
        ),
        (
            ["project", "{dir}", "--plane", "axial", "--mode", "max", "--slab", "5:2", "-o", "x"],
            "selects no slices",
        ),
        (
            ["project", "{dir}", "--plane", "axial", "--mode", "max", "--series", "9.9", "-o", "x"],
            "series '9.9' not found",
        ),
        (
            ["project", "/no/such/place", "--plane", "axial", "--mode", "max", "-o", "x"],
            "no such file",
        ),
        (
            ["project", "{dir}/notes.txt", "--plane", "axial", "--mode", "max", "-o", "x"],
            "no image series found",
        ),
        (["info"], "PATH"),
        (["headers", "{dir}/notes.txt"], "not DICOM"),
    ],
)
def test_user_errors_give_one_line_and_no_traceback(
    study_dir: Path, tmp_path: Path, capsys, argv: list[str], message: str, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([a.replace("{dir}", str(study_dir)) for a in argv])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err


def test_zip_input_and_headers(tmp_path: Path, capsys) -> None:
    archive = tmp_path / "export.zip"
    archive.write_bytes(zip_bytes(make_series(slices=5)))
    assert main(["info", str(archive), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["slices"] == 5
    ct = get_testdata_file("CT_small.dcm")
    assert main(["headers", ct, "--search", "patient's name"]) == 0
    assert "CompressedSamples^CT1" in capsys.readouterr().out
    assert main(["headers", ct, "--csv", str(tmp_path / "h.csv")]) == 0
    assert "PixelSpacing" in (tmp_path / "h.csv").read_text()


def test_module_entry_point_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dicomviz", "info", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "no image series found" in done.stderr and not done.stdout


def test_a_split_series_is_one_entry_describing_its_largest_stack(tmp_path: Path, capsys) -> None:
    axial = make_series(slices=8, series_uid="1.2.3.9")
    coronal = [
        (f"COR{k}", to_bytes(make_slice_dataset(
            np.zeros((32, 24), np.int16), position=(0.0, float(k), 0.0), row_cosine=(1, 0, 0),
            col_cosine=(0, 0, -1), pixel_spacing=(1, 1), instance_number=50 + k,
            series_uid="1.2.3.9", sop_instance_uid=f"1.2.3.9.50.{k}")))
        for k in range(3)
    ]  # fmt: skip
    _write(tmp_path / "scouts", axial + coronal)
    assert main(["info", str(tmp_path), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["series_uid"], entry["slices"], entry["orientation"]) == ("1.2.3.9", 8, "axial")
    assert any(
        "stack 1.2.3.9#2: 3 images" in w and "--series '1.2.3.9#2'" in w for w in entry["warnings"]
    )
    assert (
        main(
            [
                "project",
                str(tmp_path),
                "--series",
                "1.2.3.9#2",
                "--plane",
                "coronal",
                "--mode",
                "slice",
                "-o",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "c.npy").shape == (32, 24)
