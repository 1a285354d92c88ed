"""The header scanner (dicomviz/io/scan.py) against pydicom, and the two-pass read of files on
disk.

The scanner is a second reader of the same bytes: the header record it gives must be the record
pydicom's parse gives, value for value, and every volume must be the same whichever reader read
the headers.
"""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless
from synth import make_series

import dicomviz
from dicomviz.io import reading
from dicomviz.io.header import KEYWORDS, HeaderRecord
from dicomviz.io.inputs import WHOLE_BELOW, InputFile
from dicomviz.io.scan import NeedMore, Unsupported, scan

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _plain(value: Any) -> Any:
    """pydicom's value in plain Python types, as the scanner gives them."""
    if isinstance(value, MultiValue | list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if value is None:
        return None
    return str(value)


def _corpus_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


def _scanned(data: bytes) -> Any:
    try:
        return scan(data, len(data))
    except (Unsupported, NeedMore):
        return None


def test_scanned_values_are_pydicoms_values(pydicom_data_dir: Path, pydicom_test_dir: Path) -> None:
    """Every value of every real file the scanner accepts, compared with the record of
    pydicom's reading: value for value in plain types, and as whole records."""
    compared = files = 0
    for path in _corpus_files(pydicom_data_dir, pydicom_test_dir):
        data = path.read_bytes()
        found = _scanned(data)
        if found is None:
            continue
        files += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, defer_size=256)
            parsed = HeaderRecord.from_dataset(path.name, ds)
            for keyword in KEYWORDS:
                scanned = found.header.get(keyword)
                assert scanned == _plain(parsed.get(keyword)), (path.name, keyword)
                assert type(scanned) is type(_plain(parsed.get(keyword))), (path.name, keyword)
                compared += keyword in ds or keyword in ds.file_meta
        assert found.header == parsed, path.name
        pixel = ds.get_item(0x7FE00010, keep_deferred=True)
        if found.pixel_length is not None:
            assert (found.pixel_offset, found.pixel_length) == (pixel.value_tell, pixel.length)
        assert found.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert files >= 40 and compared >= 800, (files, compared)


def _scanner_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(head: bytes, size: int) -> None:
        raise Unsupported("switched off for this test")

    monkeypatch.setattr(reading, "scan", refuse)


def _volumes(items: list[Any]) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = dicomviz.load(items)
        built = {}
        for stack in study.stacks:
            volume = dicomviz.build_volume(stack)
            built[stack.id] = (volume.array, volume.affine, volume.warnings)
    return built


def test_every_real_volume_is_the_same_whichever_reader_read_the_headers(
    pydicom_data_dir: Path, pydicom_test_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [pydicom_data_dir, pydicom_test_dir]
    scanned = _volumes(folders)
    _scanner_off(monkeypatch)
    parsed = _volumes(folders)
    assert scanned.keys() == parsed.keys() and len(scanned) > 60
    for stack_id, (array, affine, notes) in parsed.items():
        np.testing.assert_array_equal(scanned[stack_id][0], array, err_msg=stack_id)
        assert scanned[stack_id][0].dtype == array.dtype, stack_id
        np.testing.assert_array_equal(scanned[stack_id][1], affine, err_msg=stack_id)
        assert scanned[stack_id][2] == notes, stack_id


@pytest.mark.parametrize(
    ("syntax", "scanned"),
    [
        ("1.2.840.10008.1.2.1", True),
        (ImplicitVRLittleEndian, True),
        (RLELossless, True),
        (ExplicitVRBigEndian, False),
    ],
)
def test_plain_files_are_scanned_and_others_parsed_with_the_same_volume(
    syntax: str, scanned: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_series(
        slices=6, transfer_syntax=syntax, shuffle_seed=3, intercept=-1024, dtype=np.uint16
    )
    study = dicomviz.load(files)
    assert {f.file.scanned for f in study.stacks[0].frames} == {scanned}
    fast = dicomviz.build_volume(study.stacks[0])
    _scanner_off(monkeypatch)
    slow = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    np.testing.assert_array_equal(fast.array, slow.array)
    assert fast.array.dtype == slow.array.dtype == np.int16


def test_signed_padding_in_implicit_vr_reads_as_pydicom_does() -> None:
    """PixelPaddingValue is US or SS by PixelRepresentation when the file does not say."""
    files = make_series(slices=2, transfer_syntax=ImplicitVRLittleEndian, dtype=np.int16)
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(files[0][1]), force=True)
    ds.add_new(0x00280120, "SS", -2000)  # PixelPaddingValue
    raw = pydicom.filebase.DicomBytesIO()
    ds.save_as(raw, implicit_vr=True, little_endian=True, enforce_file_format=True)
    found = scan(raw.getvalue(), len(raw.getvalue()))
    assert found.header.get("PixelPaddingValue") == -2000
    assert found.header.get("PixelRepresentation") == 1


def _write(folder: Path, files: list[tuple[str, bytes]]) -> None:
    folder.mkdir()
    for name, data in files:
        (folder / name).write_bytes(data)


def test_files_on_disk_are_read_in_two_passes_without_parsing_whole_headers(
    tmp_path: Path,
) -> None:
    """Headers from the first bytes of each file, pixels read straight into the volume; the
    file's bytes are never held, and pydicom never parses a whole header on the way."""
    files = make_series(rows=192, columns=200, slices=8, shuffle_seed=5, intercept=-1024)
    assert all(len(data) > WHOLE_BELOW for _, data in files)
    _write(tmp_path / "series", files)
    study = dicomviz.load([tmp_path / "series"])
    dicoms = [frame.file for frame in study.stacks[0].frames]
    assert all(d.scanned and d.source.head == b"" for d in dicoms)
    volume = dicomviz.build_volume(study.stacks[0])
    assert not any("data" in d.source.__dict__ or "dataset" in d.__dict__ for d in dicoms)
    from_bytes = dicomviz.build_volume(dicomviz.load(files).stacks[0])
    np.testing.assert_array_equal(volume.array, from_bytes.array)
    # The whole header is still there for the header table, parsed on demand.
    first = study.stacks[0].first_dataset()
    assert first.SeriesDescription == "Synthetic phantom" and "PixelData" in first


def test_a_file_that_shrinks_between_the_two_passes_is_named(tmp_path: Path) -> None:
    files = make_series(rows=192, columns=200, slices=5, intercept=-1024)
    _write(tmp_path / "series", files)
    study = dicomviz.load([tmp_path / "series"])
    victim = tmp_path / "series" / files[2][0]
    victim.write_bytes(victim.read_bytes()[:-1000])
    volume = dicomviz.build_volume(study.stacks[0])
    assert [w for w in volume.warnings if files[2][0] in w and "could be read" in w]
    assert len(volume.warnings) == 1


def _noisy_rle_series(slices: int) -> list[tuple[str, bytes]]:
    """RLE files of random values: the compressed data is as large as the pixels."""
    rng = np.random.default_rng(7)
    out = []
    for name, data in make_series(rows=128, columns=128, slices=slices):
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        values = rng.integers(-1000, 1000, (128, 128)).astype(np.int16)
        ds.compress(RLELossless, values)
        raw = pydicom.filebase.DicomBytesIO()
        ds.save_as(raw, enforce_file_format=True)
        out.append((name, raw.getvalue()))
    return out


def test_compressed_pixels_are_decoded_from_the_input_bytes_without_a_second_copy() -> None:
    """Loading and building keep one copy of the compressed data (the input) plus the volume:
    the header does not keep its own copy of the pixel data."""
    files = _noisy_rle_series(24)
    dicomviz.build_volume(dicomviz.load(files[:2]).stacks[0])  # imports and decoder set-up
    input_bytes = sum(len(data) for _, data in files)
    tracemalloc.start()
    try:
        volume = dicomviz.build_volume(dicomviz.load(files).stacks[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert input_bytes > volume.array.nbytes
    assert peak < volume.array.nbytes + 0.5 * input_bytes, (peak, input_bytes)


def test_a_long_header_is_read_whole(tmp_path: Path) -> None:
    """A header longer than the first bytes read (big private blocks) still loads."""
    files = make_series(rows=192, columns=200, slices=3)
    long = []
    for name, data in files:
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
        block = ds.private_block(0x0029, "DICOMVIZ TEST", create=True)
        block.add_new(0x10, "OB", bytes(40_000))
        out = pydicom.filebase.DicomBytesIO()
        ds.save_as(out, enforce_file_format=True)
        long.append((name, out.getvalue()))
    _write(tmp_path / "series", long)
    study = dicomviz.load([tmp_path / "series"])
    assert len(study.stacks) == 1 and not study.skipped
    assert all(f.file.scanned for f in study.stacks[0].frames)
    np.testing.assert_array_equal(
        dicomviz.build_volume(study.stacks[0]).array,
        dicomviz.build_volume(dicomviz.load(files).stacks[0]).array,
    )


def test_input_file_reads_the_rest_of_a_file_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    source = InputFile("f.bin", path.read_bytes()[:100], str(path), 256_000)
    assert not source.complete and source.length == 256_000
    target = bytearray(10)
    assert source.read_into(1000, memoryview(target)) == 10 and target == bytes(range(232, 242))
    assert source.read_into(255_995, memoryview(target)) == 5
    assert source.data == path.read_bytes()


def test_damaged_files_on_disk_get_the_reasons_they_get_in_memory(tmp_path: Path) -> None:
    """Only the start of a large file on disk is read at first; a cut one still gets its reason."""
    files = make_series(rows=192, columns=200, slices=4)
    damaged = [
        files[0],
        (files[1][0], files[1][1][: len(files[1][1]) // 2]),  # cut inside the pixel data
        (files[2][0], files[2][1][:3000]),  # cut inside the header
        (files[3][0], files[3][1] + b"\x00" * 5),  # junk after the pixel data: still loads
    ]
    _write(tmp_path / "series", damaged)
    on_disk = dicomviz.load([tmp_path / "series"])
    in_memory = dicomviz.load(damaged)
    reasons = {Path(s.name).name: s.reason for s in on_disk.skipped}
    assert reasons == {s.name: s.reason for s in in_memory.skipped}
    assert set(reasons) == {files[1][0], files[2][0]}
    assert all("truncated" in reason for reason in reasons.values())
    assert [f.file.name for f in on_disk.stacks[0].frames][-1].endswith(files[3][0])


@pytest.mark.parametrize(
    ("charset", "description"),
    [
        ("ISO_IR 100", "Schädel nativ"),
        ("ISO_IR 192", "Тело 头部 Ωμέγα"),
        (["", "ISO 2022 IR 87"], "頭部 単純"),
        ("ISO_IR 100", "  leading spaces stay, trailing go  "),
    ],
)
def test_text_in_other_character_sets_is_scanned_as_pydicom_reads_it(
    charset: Any, description: str
) -> None:
    """A series description in the file's character set keeps the fast path, with pydicom's
    own value (pydicom's decoder reads it)."""
    (name, data), *_ = make_series(slices=1)
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    ds.SpecificCharacterSet = charset
    ds.SeriesDescription = description
    raw = pydicom.filebase.DicomBytesIO()
    ds.save_as(raw, enforce_file_format=True)
    encoded = raw.getvalue()
    found = scan(encoded, len(encoded))
    expected = pydicom.dcmread(pydicom.filebase.DicomBytesIO(encoded)).SeriesDescription
    assert found.header.get("SeriesDescription") == expected == description.rstrip()
    study = dicomviz.load([(name, encoded)])
    assert study.stacks[0].frames[0].file.scanned
    assert study.stacks[0].description == description.rstrip()


def test_a_header_record_copies_and_pickles() -> None:
    import copy
    import pickle

    (_, data), *_ = make_series(slices=1, intercept=-1024)
    header = scan(data, len(data)).header
    for twin in (copy.deepcopy(header), pickle.loads(pickle.dumps(header))):
        assert twin == header and twin.RescaleIntercept == -1024.0
    with pytest.raises(AttributeError):
        _ = header.PatientName  # type: ignore[attr-defined]  # not a value the engine reads


def test_a_whole_header_that_cannot_be_parsed_is_named_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scanner reads less than pydicom: if pydicom later fails on the rest (only asked for
    by the header table), the error names the file in words."""
    study = dicomviz.load(make_series(slices=2))
    dicom = study.stacks[0].frames[0].file
    assert dicom.scanned

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected end of a sequence item\nsecond line")

    monkeypatch.setattr(reading, "parse_dataset", broken)
    with pytest.raises(dicomviz.DicomvizError) as caught:
        _ = dicom.dataset
    assert str(caught.value) == (
        f"{dicom.name}: its whole header cannot be read (unexpected end of a sequence item)"
    )
