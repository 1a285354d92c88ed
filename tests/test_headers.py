"""Header tables on pydicom's own test files and on small datasets built in memory."""

from __future__ import annotations

import io

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from dicomviz.errors import UsageError
from dicomviz.tables.headers import (
    HEADER_COLUMNS,
    VARYING_COLUMNS,
    filter_table,
    header_table,
    varying_elements,
)


def _ct_small(**kwargs: object) -> Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"), **kwargs)


def _row(df: pd.DataFrame, tag: str, path: str = "") -> pd.Series:
    rows = df[(df["tag"] == tag) & (df["path"] == path)]
    assert len(rows) == 1, f"{tag} at {path!r}: {len(rows)} rows"
    return rows.iloc[0]


@pytest.fixture(scope="module")
def ct_table() -> pd.DataFrame:
    return header_table(_ct_small())


def test_columns_and_file_meta_first(ct_table: pd.DataFrame) -> None:
    assert list(ct_table.columns) == list(HEADER_COLUMNS)
    assert ct_table["depth"].dtype == "int64"
    assert ct_table["tag"].iloc[0] == "(0002,0000)"
    meta = ct_table[ct_table["tag"].str.startswith("(0002,")]
    assert list(meta.index) == list(range(len(meta)))  # the whole group comes first
    syntax = _row(ct_table, "(0002,0010)")
    assert syntax["keyword"] == "TransferSyntaxUID"
    assert syntax["value"] == "1.2.840.10008.1.2.1 (Explicit VR Little Endian)"
    assert _row(ct_table, "(0002,0001)")["value"] == "<OB, 2 bytes: 00 01>"


def test_top_level_values(ct_table: pd.DataFrame) -> None:
    name = _row(ct_table, "(0010,0010)")
    assert (name["keyword"], name["name"], name["VR"]) == ("PatientName", "Patient's Name", "PN")
    assert "CompressedSamples^CT1" in name["value"]
    assert (name["depth"], name["private_creator"]) == (0, "")
    spacing = _row(ct_table, "(0028,0030)")
    assert spacing["keyword"] == "PixelSpacing"
    assert spacing["value"] == "[0.661468, 0.661468]"
    assert _row(ct_table, "(0008,0008)")["value"] == "[ORIGINAL, PRIMARY, AXIAL]"


def test_sequence_items_follow_their_sequence(ct_table: pd.DataFrame) -> None:
    seq = _row(ct_table, "(0010,1002)")
    assert (seq["keyword"], seq["VR"], seq["value"]) == (
        "OtherPatientIDsSequence",
        "SQ",
        "<2 items>",
    )
    after = ct_table.loc[seq.name + 1 : seq.name + 4]
    assert (
        list(after["path"])
        == ["OtherPatientIDsSequence[0]"] * 2 + ["OtherPatientIDsSequence[1]"] * 2
    )
    assert list(after["depth"]) == [1, 1, 1, 1]
    assert list(after["keyword"]) == ["PatientID", "TypeOfPatientID"] * 2
    assert list(after["value"]) == ["ABCD1234", "TEXT", "1234ABCD", "TEXT"]
    # the top-level PatientID is still its own row
    assert _row(ct_table, "(0010,0020)")["value"] == "1CT1"


def test_private_elements_carry_their_creator(ct_table: pd.DataFrame) -> None:
    fidelity = _row(ct_table, "(0009,1001)")
    assert fidelity["name"] == "[Full fidelity]"
    assert fidelity["keyword"] == ""
    assert fidelity["private_creator"] == "GEMS_IDEN_01"
    assert fidelity["value"] == "GE_GENESIS_FF"
    creator = _row(ct_table, "(0009,0010)")
    assert (creator["name"], creator["private_creator"]) == ("Private Creator", "GEMS_IDEN_01")
    acquisition = ct_table[ct_table["tag"].str.startswith("(0019,10")]
    assert len(acquisition) > 40
    assert set(acquisition["private_creator"]) == {"GEMS_ACQU_01"}


def test_bulk_data_summarised_never_dumped(ct_table: pd.DataFrame) -> None:
    assert _row(ct_table, "(7FE0,0010)")["value"] == "<PixelData, 32768 bytes>"
    assert _row(ct_table, "(FFFC,FFFC)")["value"] == "<OB, 126 bytes>"
    values = ct_table["value"]
    assert not values.str.contains("b'", regex=False).any()
    assert not values.str.contains("\\x", regex=False).any()
    assert values.str.len().max() <= 200 + len("… (99999 chars)")


def test_deferred_pixel_data_is_not_read() -> None:
    ds = _ct_small(defer_size=1024)
    row = _row(header_table(ds), "(7FE0,0010)")
    assert row["value"] == "<PixelData, 32768 bytes, not read>"
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    assert isinstance(raw, RawDataElement)
    assert raw.value is None


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("chrH31.dcm", "Yamada^Tarou=山田^太郎=やまだ^たろう"),  # ISO 2022 IR 87
        ("chrFren.dcm", "Buc^Jérôme"),  # ISO_IR 100
        ("chrGerm.dcm", "Äneas^Rüdiger"),  # ISO_IR 100
        ("chrX1.dcm", "Wang^XiaoDong=王^小東"),  # ISO_IR 192 (UTF-8)
        ("chrRuss.dcm", "Люкceмбypг"),  # ISO_IR 144
    ],
)
def test_character_sets_decode(file_name: str, expected: str) -> None:
    # pydicom keeps these under data/charset_files: get_testdata_file does not find them
    ds = pydicom.dcmread(get_charset_files(file_name)[0])
    assert _row(header_table(ds), "(0010,0010)")["value"] == expected


def test_sequence_item_with_its_own_character_set() -> None:
    ds = pydicom.dcmread(get_charset_files("chrSQEncoding.dcm")[0])  # item differs from dataset
    row = _row(header_table(ds), "(0010,0010)", "RequestedProcedureCodeSequence[0]")
    assert "山田^太郎" in row["value"]
    assert row["depth"] == 1


def _nested(levels: int) -> Dataset:
    root = item = Dataset()
    for level in range(levels):
        child = Dataset()
        child.PatientID = f"level {level + 1}"
        item.ReferencedImageSequence = Sequence([child])
        item = child
    return root


def test_depth_bound_replaces_deeper_items_by_one_marker() -> None:
    df = header_table(_nested(40))
    markers = df[df["value"].str.startswith("<nested deeper than")]
    assert list(markers["value"]) == ["<nested deeper than 16 levels, not shown>"]
    assert markers["depth"].iloc[0] == 17
    assert markers["path"].iloc[0].endswith(".ReferencedImageSequence[*]")
    elements = df.drop(markers.index)
    assert elements["depth"].max() == 16
    assert sorted(elements["depth"]) == sorted([*range(17), *range(1, 17)])  # SQ + PatientID
    assert "level 16" in set(df["value"])
    assert "level 17" not in set(df["value"])


def test_walk_uses_no_recursion() -> None:
    # deeper than Python's default recursion limit (1,000): a recursive walk would fail here
    df = header_table(_nested(1200), max_depth=2000)
    assert len(df) == 2 * 1200
    assert df["depth"].max() == 1200


def test_max_depth_zero_keeps_only_top_level() -> None:
    df = header_table(_nested(3), max_depth=0)
    assert list(df["depth"]) == [0, 1]
    assert df["path"].iloc[1] == "ReferencedImageSequence[*]"


def test_unreadable_value_keeps_its_row() -> None:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds[0x00280010] = RawDataElement(Tag(0x00280010), "US", 3, b"\x01\x02\x03", 0, False, True)
    df = header_table(ds)
    rows = _row(df, "(0028,0010)")
    assert (rows["keyword"], rows["name"], rows["VR"]) == ("Rows", "Rows", "US")
    assert rows["value"].startswith("<unreadable: BytesLengthException")
    assert len(rows["value"]) < 120
    assert _row(df, "(0010,0010)")["value"] == "Doe^Jane"


def test_long_text_and_long_lists_are_clipped() -> None:
    ds = Dataset()
    ds.ImageComments = "x" * 500
    ds.StudyComments = "first line\r\nsecond line"
    ds.ReferencedFrameNumber = list(range(1, 5001))
    df = header_table(ds, max_value_chars=50)
    assert _row(df, "(0020,4000)")["value"] == "x" * 50 + "… (500 chars)"
    assert _row(df, "(0032,4000)")["value"] == "first line↵second line"
    frames = _row(df, "(0008,1160)")["value"]
    assert frames.startswith("[1, 2, 3, ")
    assert frames.endswith("… (5000 values)")
    assert len(frames) < 80


def test_plain_dataset_without_file_meta() -> None:
    assert list(header_table(Dataset()).columns) == list(HEADER_COLUMNS)
    assert header_table(Dataset()).empty


def test_bad_arguments_raise_usage_error() -> None:
    with pytest.raises(UsageError, match="max_depth must be >= 0"):
        header_table(Dataset(), max_depth=-1)
    with pytest.raises(UsageError, match="max_value_chars >= 1"):
        header_table(Dataset(), max_value_chars=0)


def _series() -> list[Dataset]:
    """Five slices: positions and (shuffled) instance numbers vary, slice 2 lacks a window."""
    datasets = []
    for index, z in enumerate(["-100", "-60.5", "-21", "18.5", "58"]):
        ds = Dataset()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = f"1.2.3.{index + 1}"
        ds.Modality = "CT"
        ds.AcquisitionTime = f"12000{index}"
        ds.InstanceNumber = [3, 1, 2, 5, 4][index]
        ds.ImagePositionPatient = ["-125", "-125", z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        if index != 2:
            ds.WindowCenter = "40"
        ds.ReferencedImageSequence = Sequence([Dataset()])
        ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = f"9.{index}"
        ds.Rows = ds.Columns = 2
        ds.BitsAllocated = 16
        ds.PixelData = bytes([index]) * 8
        datasets.append(ds)
    return datasets


_EXPECTED_VARYING = [
    ("(0008,0018)", "SOPInstanceUID", 5, "1.2.3.1, 1.2.3.2, 1.2.3.3, …"),
    ("(0008,0032)", "AcquisitionTime", 5, "120000 … 120004"),
    ("(0020,0013)", "InstanceNumber", 5, "1 … 5"),
    ("(0020,0032)", "ImagePositionPatient", 5, "[-125 … -125, -125 … -125, -100 … 58]"),
    ("(0028,1050)", "WindowCenter", 2, "40 … 40, (absent)"),
]


def _as_tuples(df: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(df[["tag", "keyword", "distinct", "range"]].itertuples(index=False, name=None))


def test_varying_elements_in_memory() -> None:
    df = varying_elements(_series())
    assert list(df.columns) == list(VARYING_COLUMNS)
    assert df["distinct"].dtype == "int64"
    assert _as_tuples(df) == _EXPECTED_VARYING  # no Modality, sequence or PixelData
    position = df[df["keyword"] == "ImagePositionPatient"].iloc[0]
    assert (position["name"], position["VR"]) == ("Image Position (Patient)", "DS")


def test_varying_elements_read_from_files_match_in_memory() -> None:
    datasets = []
    for ds in _series():
        buffer = io.BytesIO()
        ds.save_as(buffer, implicit_vr=False, little_endian=True)
        datasets.append(pydicom.dcmread(io.BytesIO(buffer.getvalue()), force=True))
    assert _as_tuples(varying_elements(datasets)) == _EXPECTED_VARYING


def test_varying_elements_names_limit_and_validate() -> None:
    df = varying_elements(_series(), names=["InstanceNumber", "(0020,0032)", "00080060"])
    assert list(df["keyword"]) == ["InstanceNumber", "ImagePositionPatient"]
    with pytest.raises(UsageError, match=r"'slice_1\.dcm' is not a DICOM keyword or tag"):
        varying_elements(_series(), names=["slice_1.dcm"])


def test_varying_elements_nothing_to_compare() -> None:
    assert varying_elements([]).empty
    assert list(varying_elements([]).columns) == list(VARYING_COLUMNS)
    assert varying_elements(_series()[:1]).empty


def test_varying_elements_reports_an_unreadable_value() -> None:
    datasets = _series()
    datasets[1][0x00280010] = RawDataElement(Tag(0x00280010), "US", 3, b"\0\0\0", 0, False, True)
    rows = varying_elements(datasets)
    broken = rows[rows["keyword"] == "Rows"].iloc[0]
    assert broken["distinct"] == 2
    assert broken["range"] == "2, <unreadable: BytesLengthException>"


def test_filter_table(ct_table: pd.DataFrame) -> None:
    by_tag = filter_table(ct_table, "(0010")
    assert "PatientName" in set(by_tag["keyword"])
    assert len(by_tag) < len(ct_table) / 4
    assert list(filter_table(ct_table, "pixelspacing")["keyword"]) == ["PixelSpacing"]
    upper = filter_table(ct_table, "PATIENTNAME")
    assert upper.equals(filter_table(ct_table, "patientname"))
    assert list(filter_table(ct_table, "gems_acqu")["private_creator"].unique()) == ["GEMS_ACQU_01"]
    items = filter_table(ct_table, "Sequence[1")  # literal text, not a regular expression
    assert list(items["value"]) == ["1234ABCD", "TEXT"]


def test_filter_table_no_match_and_blank_text(ct_table: pd.DataFrame) -> None:
    none = filter_table(ct_table, "no such text anywhere")
    assert none.empty
    assert list(none.columns) == list(HEADER_COLUMNS)
    assert filter_table(ct_table, "   ") is ct_table
    assert filter_table(ct_table, "") is ct_table
