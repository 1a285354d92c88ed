"""Any mix of paths, folders, zips and uploaded bytes; DICOM told by content, junk named."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synth import make_series, make_slice_dataset, to_bytes, zip_bytes

import dicomviz
from dicomviz.io.inputs import gather
from dicomviz.limits import Limits


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_folder_is_read_recursively_without_extensions(tmp_path: Path) -> None:
    files = make_series(slices=6, names="img{index}")
    for i, (name, data) in enumerate(files):
        folder = tmp_path / f"level{i % 3}" / "deeper"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    study = dicomviz.load([tmp_path])
    assert len(study.stacks[0].frames) == 6 and not study.skipped


@pytest.mark.parametrize("as_given", [str, Path])
def test_one_folder_given_alone_is_read_as_one_folder(tmp_path: Path, as_given: type) -> None:
    """``load("/data/ct")``: the folder, not each character of its name (a '/' among them
    walked the whole disk and read every archive on it)."""
    for name, data in make_series(slices=4, names="img{index}"):
        (tmp_path / name).write_bytes(data)
    study = dicomviz.load(as_given(tmp_path))
    assert len(study.stacks[0].frames) == 4 and not study.skipped


def test_a_folder_walk_stops_at_the_files_limit(tmp_path: Path) -> None:
    for part in range(3):
        folder = tmp_path / f"part{part}"
        folder.mkdir()
        for k in range(5):
            (folder / f"f{k}").write_bytes(b"not dicom")
    gathered = gather(tmp_path, Limits(files=4))
    assert len(gathered.files) == 4
    # the walk stopped: the later folders were never opened; the folder it stopped in and
    # the file beyond the limit are named, with the reason
    seen = [f.name for f in gathered.files + gathered.skipped]
    assert not any("part1/" in name or "part2/" in name for name in seen)
    stopped = {s.name: s.reason for s in gathered.skipped}
    assert set(stopped) == {str(tmp_path), str(tmp_path / "part0" / "f4")}
    assert all("Limits(files=...)" in reason for reason in stopped.values())


def test_zip_with_junk_loads_the_series_and_names_the_junk() -> None:
    study = dicomviz.load([("export.zip", zip_bytes(make_series(slices=5)))])
    assert len(study.stacks[0].frames) == 5
    reasons = {Path(s.name).name: s.reason for s in study.skipped}
    assert reasons[".DS_Store"] == "operating-system metadata, not an image"
    assert reasons["._IM0001"] == "operating-system metadata, not an image"
    assert reasons["README.txt"] == "a text file, not DICOM"
    assert study.files_read == 8


def test_mixed_inputs_and_a_dataset_without_preamble(tmp_path: Path) -> None:
    first, *rest = make_series(slices=4)
    bare = make_series(slices=4)[1][1][128 + 4 :]  # strip preamble + DICM
    (tmp_path / "one").write_bytes(first[1])
    inner = _zip({"a/b/" + name: data for name, data in rest[1:]})
    study = dicomviz.load(
        [tmp_path / "one", ("upload.bin", bare), ("outer.zip", _zip({"inner.zip": inner}))]
    )
    assert len(study.stacks[0].frames) == 4, study.skipped


def test_bare_dataset_without_meta_decodes() -> None:
    ds = make_slice_dataset(
        np.full((4, 4), 7, "int16"),
        position=(0, 0, 0),
        row_cosine=(1, 0, 0),
        col_cosine=(0, 1, 0),
        pixel_spacing=(1, 1),
        instance_number=1,
        series_uid="1.2.3",
    )
    study = dicomviz.load([("bare", to_bytes(ds, preamble=False, file_meta=False))])
    volume = dicomviz.build_volume(study.stacks[0])
    assert int(volume.array.max()) == 7


def test_highly_compressible_small_real_files_in_a_zip_still_load(pydicom_data_dir: Path) -> None:
    names = ["SC_rgb_32bit_2frame.dcm", "SC_rgb_expb_32bit_2frame.dcm"]  # about 200:1 each
    archive = _zip({name: (pydicom_data_dir / name).read_bytes() for name in names})
    study = dicomviz.load([("real.zip", archive)])
    assert sum(len(s.frames) for s in study.stacks) >= 2, study.skipped


def test_zip_bomb_is_refused_before_it_expands() -> None:
    bomb = _zip({"zeros": b"\0" * 50_000_000})
    assert len(bomb) < 100_000
    study = dicomviz.load([("bomb.zip", bomb)])
    assert not study.stacks
    assert "compressed" in study.skipped[0].reason and "archive ratio" in study.skipped[0].reason


def test_zip_total_size_and_entry_count_limits_name_the_limit() -> None:
    archive = _zip({f"f{i}": os.urandom(2000) for i in range(30)}, zipfile.ZIP_STORED)
    few = gather([("many.zip", archive)], Limits(files=10))
    assert "30 entries" in few.skipped[0].reason and "Limits(files=...)" in few.skipped[0].reason
    small = gather([("big.zip", archive)], Limits(archive_bytes=10_000))
    assert "archive bytes limit" in small.skipped[0].reason


def test_traversal_names_symlinks_and_empty_zips_never_touch_disk(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape", make_series(slices=1)[0][1])
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    before = set(tmp_path.parent.iterdir())
    study = dicomviz.load([("evil.zip", buffer.getvalue()), ("empty.zip", _zip({}))])
    assert set(tmp_path.parent.iterdir()) == before
    assert len(study.stacks) == 1  # the entry is read by name, in memory
    reasons = {s.name: s.reason for s in study.skipped}
    assert "symbolic link" in reasons["evil.zip/link"]
    assert reasons["empty.zip"] == "empty zip archive"


def test_names_that_are_not_utf8_are_shown_safely(tmp_path: Path) -> None:
    bad = os.fsdecode(b"caf\xe9")
    (tmp_path / bad).write_bytes(b"hello")
    study = dicomviz.load([tmp_path])
    assert study.skipped[0].name.endswith("caf\ufffd")
    study.skipped[0].name.encode("utf-8")  # printable


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "a PNG image, not DICOM"),
        (b"\xff\xd8\xff\xe0" + bytes(100), "a JPEG image, not DICOM"),
        (b"%PDF-1.4\n" + bytes(100), "a PDF document, not DICOM"),
        (bytes(range(256)) * 4, "not DICOM"),
    ],
)
def test_non_dicom_files_are_named(data: bytes, reason: str) -> None:
    study = dicomviz.load([("scan.dcm", data)])
    assert study.skipped[0].reason.startswith(reason)


def test_huge_declared_image_is_refused_before_allocation() -> None:
    ds = make_slice_dataset(
        np.zeros((4, 4), "int16"),
        position=(0, 0, 0),
        row_cosine=(1, 0, 0),
        col_cosine=(0, 1, 0),
        pixel_spacing=(1, 1),
        instance_number=1,
        series_uid="1.2.3",
        Rows=65535,
        Columns=65535,
        NumberOfFrames=100000,
    )
    study = dicomviz.load([("liar.dcm", to_bytes(ds))])
    assert "over the volume bytes limit" in study.skipped[0].reason


def test_one_bomb_entry_is_skipped_alone_and_the_rest_loads() -> None:
    entries = {name: data for name, data in make_series(slices=3)}
    entries["noise.bin"] = os.urandom(9 * 1024**2)  # keeps the archive's overall ratio low
    entries["zeros.dcm"] = b"\0" * 20_000_000
    study = dicomviz.load([("mixed.zip", _zip(entries))])
    assert len(study.stacks[0].frames) == 3
    reasons = {s.name: s.reason for s in study.skipped}
    assert "zip bomb" in reasons["mixed.zip/zeros.dcm"]
    assert "noise.bin" in "".join(reasons)
