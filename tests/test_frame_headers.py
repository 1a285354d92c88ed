"""Per-frame header tables and what varies across frames of enhanced multi-frame files."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian
from synth import make_series, to_bytes

import dicomviz
from dicomviz.errors import UsageError
from dicomviz.tables.frame_headers import FRAME_VARYING_COLUMNS, varying_in_frames
from dicomviz.tables.headers import HEADER_COLUMNS, filter_table, header_table, varying_elements

PER_FRAME = "PerFrameFunctionalGroupsSequence"
PLANE = f"{PER_FRAME}[*].PlanePositionSequence[0]"
T1 = ["ORIGINAL", "PRIMARY", "T1", "NONE"]
DERIVED = ["DERIVED", "PRIMARY", "T1", "SUBTRACTION"]


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _seq(**values: object) -> DicomSequence:
    return DicomSequence([_item(**values)])


def _enhanced(
    frames: int = 6,
    *,
    slopes: Sequence[str] | None = None,
    centers: Sequence[str] | None = None,
    frame_types: Sequence[list[str]] | None = None,
    shared_center: str | None = None,
    private: int = 0,
) -> Dataset:
    """An Enhanced MR image header: frame k at z = 5k, with the given per-frame values (constant
    when not given); ``private`` adds that many private elements to every frame's item."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "MR"
    ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = 4
    shared = _item(
        PlaneOrientationSequence=_seq(ImageOrientationPatient=[1, 0, 0, 0, 1, 0]),
        PixelMeasuresSequence=_seq(PixelSpacing=["0.9", "0.9"], SliceThickness="5"),
        MRTimingAndRelatedParametersSequence=_seq(RepetitionTime=8.1, FlipAngle=8),
    )
    if shared_center is not None:
        shared.FrameVOILUTSequence = _seq(WindowCenter=shared_center, WindowWidth="400")
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [_frame_item(k, slopes, centers, frame_types, private) for k in range(frames)]
    )
    return ds


def _frame_item(
    k: int,
    slopes: Sequence[str] | None,
    centers: Sequence[str] | None,
    frame_types: Sequence[list[str]] | None,
    private: int,
) -> Dataset:
    item = _item(
        FrameContentSequence=_seq(
            StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[1, k + 1]
        ),
        PlanePositionSequence=_seq(ImagePositionPatient=["-120", "-100", str(5 * k)]),
        PixelValueTransformationSequence=_seq(
            RescaleIntercept="0", RescaleSlope=slopes[k] if slopes else "1", RescaleType="US"
        ),
        MRImageFrameTypeSequence=_seq(
            FrameType=frame_types[k] if frame_types else T1,
            PixelPresentation="MONOCHROME",
            VolumetricProperties="VOLUME",
            ComplexImageComponent="MAGNITUDE",
        ),
        MREchoSequence=_seq(EffectiveEchoTime=4.6),
    )
    if centers is not None and centers[k]:
        item.FrameVOILUTSequence = _seq(WindowCenter=centers[k], WindowWidth="400")
    if private:
        block = item.private_block(0x2005, "DICOMVIZ TEST", create=True)
        for offset in range(private):
            block.add_new(offset, "LO", f"value {offset}")
    return item


def _read_back(ds: Dataset) -> Dataset:
    """The same header written and read again: elements stay unread until used."""
    return pydicom.dcmread(io.BytesIO(to_bytes(ds)))


def _row(df: pd.DataFrame, keyword: str, path: str) -> pd.Series:
    rows = df[(df["keyword"] == keyword) & (df["path"] == path)]
    assert len(rows) == 1, f"{keyword} at {path!r}: {len(rows)} rows"
    return rows.iloc[0]


def _varying(df: pd.DataFrame) -> dict[str, tuple[int, str]]:
    return {k: (d, r) for k, d, r in zip(df["keyword"], df["distinct"], df["range"], strict=True)}


# --- one frame's table ---------------------------------------------------------------------


@pytest.mark.parametrize("read_back", [False, True], ids=["in_memory", "read_back"])
@pytest.mark.parametrize("k", [0, 3, 5])
def test_frame_table_holds_that_frame_only(k: int, read_back: bool) -> None:
    ds = _enhanced()
    df = header_table(_read_back(ds) if read_back else ds, frame=k)
    assert list(df.columns) == list(HEADER_COLUMNS)
    sequence = _row(df, PER_FRAME, "")
    assert sequence["value"] == f"<6 items; frame {k + 1} shown (item [{k}])>"
    assert not sequence["per_frame"]
    position = _row(df, "ImagePositionPatient", f"{PER_FRAME}[{k}].PlanePositionSequence[0]")
    assert position["value"] == f"[-120, -100, {5 * k}]"
    assert position["depth"] == 2
    assert list(df[df["keyword"] == "ImagePositionPatient"]["value"]) == [position["value"]]
    inside = df["path"].str.startswith(PER_FRAME)
    assert df.loc[inside, "path"].str.startswith(f"{PER_FRAME}[{k}]").all()
    assert list(df.loc[inside].index) == list(range(sequence.name + 1, sequence.name + 1 + 17))
    assert df["per_frame"].tolist() == inside.tolist()
    assert df["per_frame"].dtype == bool
    # the shared groups and the top level stay as they are
    spacing = _row(df, "PixelSpacing", "SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]")
    assert spacing["value"] == "[0.9, 0.9]"
    assert _row(df, "NumberOfFrames", "")["value"] == "6"


def test_without_a_frame_every_item_is_shown_and_marked_per_frame() -> None:
    df = header_table(_enhanced())
    assert _row(df, PER_FRAME, "")["value"] == "<6 items>"
    positions = df[df["keyword"] == "ImagePositionPatient"]
    assert list(positions["value"]) == [f"[-120, -100, {5 * k}]" for k in range(6)]
    assert df["per_frame"].sum() == 6 * 17
    one = header_table(_enhanced(), frame=2)
    assert len(df) - len(one) == 5 * 17


def test_per_frame_column_is_last_and_not_searched() -> None:
    assert HEADER_COLUMNS[-1] == "per_frame"
    df = header_table(_enhanced(), frame=0)
    assert filter_table(df, "true").empty
    assert filter_table(df, "false").empty
    assert list(filter_table(df, "EffectiveEchoTime")["per_frame"]) == [True]


def test_ordinary_file_ignores_frame_zero_and_rejects_others() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    table = header_table(ds, frame=0)
    assert table.equals(header_table(ds))
    assert not table["per_frame"].any()
    with pytest.raises(UsageError, match=r"^frame index 1 is out of range: the file has 1 frame"):
        header_table(ds, frame=1)


@pytest.mark.parametrize("frame", [-1, 6, 96])
def test_frame_out_of_range_raises_usage_error(frame: int) -> None:
    with pytest.raises(UsageError, match=rf"frame index {frame} is out of range: .* 6 frame"):
        header_table(_enhanced(), frame=frame)
    with pytest.raises(UsageError, match=rf"frame index {frame} is out of range"):
        varying_in_frames([(_enhanced(), 0), (_enhanced(), frame)])


# --- what varies across frames ---------------------------------------------------------------


_VARIED = {
    "slopes": ["1", "1", "1", "2.5", "2.5", "2.5"],
    "centers": ["40", "40", "300", "300", "40", "40"],
    "frame_types": [T1, T1, T1, DERIVED, T1, T1],
}


@pytest.mark.parametrize("read_back", [False, True], ids=["in_memory", "read_back"])
def test_varying_lists_per_frame_values_that_vary(read_back: bool) -> None:
    ds = _enhanced(**_VARIED)  # type: ignore[arg-type]
    ds = _read_back(ds) if read_back else ds
    df = varying_in_frames([(ds, k) for k in range(6)])
    assert list(df.columns) == list(FRAME_VARYING_COLUMNS)
    assert df["distinct"].dtype == "int64"
    assert _varying(df) == {
        "InStackPositionNumber": (6, "1 … 6"),
        "DimensionIndexValues": (6, "[1 … 1, 1 … 6]"),
        "FrameType": (2, "[ORIGINAL, PRIMARY, T1, NONE], [DERIVED, PRIMARY, T1, SUBTRACTION]"),
        "ImagePositionPatient": (6, "[-120 … -120, -100 … -100, 0 … 25]"),
        "WindowCenter": (2, "40 … 300"),
        "RescaleSlope": (2, "1 … 2.5"),
    }
    position = _row(df, "ImagePositionPatient", PLANE)
    assert (position["tag"], position["VR"]) == ("(0020,0032)", "DS")
    slope = df[df["keyword"] == "RescaleSlope"].iloc[0]
    assert slope["path"] == f"{PER_FRAME}[*].PixelValueTransformationSequence[0]"


def test_varying_leaves_out_what_does_not_vary() -> None:
    ds = _enhanced(centers=["40"] * 6, frame_types=[DERIVED] * 6, slopes=["2"] * 6)
    df = varying_in_frames([(ds, k) for k in range(6)])
    assert set(df["keyword"]) == {
        "InStackPositionNumber",
        "DimensionIndexValues",
        "ImagePositionPatient",
    }
    # the same frame twice: nothing varies
    assert varying_in_frames([(ds, 4), (ds, 4)]).empty


def test_a_frames_own_group_overrides_the_shared_one() -> None:
    centers = ["", "", "100", "", "", ""]  # only frame 2 has its own window
    ds = _enhanced(centers=centers, shared_center="40")
    df = varying_in_frames([(ds, k) for k in range(6)])
    assert _varying(df)["WindowCenter"] == (2, "40 … 100")
    assert df[df["keyword"] == "WindowCenter"]["path"].tolist() == [
        f"{PER_FRAME}[*].FrameVOILUTSequence[0]"
    ]
    assert "WindowCenter" not in set(varying_in_frames([(ds, k) for k in (0, 1, 3)])["keyword"])
    table = header_table(ds, frame=2)
    own = _row(table, "WindowCenter", f"{PER_FRAME}[2].FrameVOILUTSequence[0]")
    assert (own["value"], own["per_frame"]) == ("100", True)


def test_varying_across_files_keeps_the_top_level_rows() -> None:
    first, second = _enhanced(frames=3), _enhanced(frames=3)
    second.SOPInstanceUID = "1.2.3.5"
    for k, item in enumerate(second.PerFrameFunctionalGroupsSequence):
        item.PlanePositionSequence[0].ImagePositionPatient = ["-120", "-100", str(50 * k)]
    images = [(ds, k) for ds in (first, second) for k in range(3)]
    df = varying_in_frames(images)
    top = df[df["path"] == ""]
    assert list(top["keyword"]) == ["SOPInstanceUID"]
    assert top.iloc[0]["distinct"] == 2
    assert _varying(df)["ImagePositionPatient"] == (5, "[-120 … -120, -100 … -100, 0 … 100]")


def test_single_frame_series_gives_varying_elements_rows() -> None:
    datasets = []
    for index in range(5):
        ds = Dataset()
        ds.SOPInstanceUID = f"1.2.3.{index}"
        ds.ImagePositionPatient = ["0", "0", str(index * 2)]
        ds.Modality = "CT"
        datasets.append(ds)
    expected = varying_elements(datasets)
    for frame in (0, None):
        df = varying_in_frames([(ds, frame) for ds in datasets])
        assert df.drop(columns="path").equals(expected)
        assert set(df["path"]) == {""}
    assert varying_in_frames([]).empty
    assert list(varying_in_frames([]).columns) == list(FRAME_VARYING_COLUMNS)


@pytest.mark.parametrize("slices", [8, 96])  # 96: the per-frame sequence is read deferred
def test_synthetic_enhanced_file_through_the_loader(slices: int) -> None:
    """The calls the page makes: each image of a stack is ``(frame.file.dataset, frame.index)``."""
    study = dicomviz.load(make_series(enhanced=True, slices=slices, rows=4, columns=4))
    stack = study.largest()
    assert stack is not None and len(stack.frames) == slices
    for frame in stack.frames[::5]:
        table = header_table(frame.file.dataset, frame=frame.index)
        plane = f"{PER_FRAME}[{frame.index}].PlanePositionSequence[0]"
        shown = _row(table, "ImagePositionPatient", plane)["value"]
        assert [float(v) for v in shown.strip("[]").split(",")] == list(frame.position or ())
        assert table["per_frame"].sum() == 9
    df = varying_in_frames([(f.file.dataset, f.index) for f in stack.frames])
    last = -20 + 2 * (slices - 1)
    assert _varying(df) == {
        "InStackPositionNumber": (slices, f"1 … {slices}"),
        "ImagePositionPatient": (slices, f"[-12.0 … -12.0, -16.0 … -16.0, -20.0 … {last}.0]"),
    }


def test_deferred_functional_groups_are_read_for_a_frame_table() -> None:
    data = to_bytes(_enhanced())  # pydicom writes sequences with their lengths: deferrable
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=64)
    assert header_table(ds)["value"].str.match(r"<SQ, \d+ bytes, not read>").sum() == 2
    df = header_table(ds, frame=4)
    _row(df, "ImagePositionPatient", f"{PER_FRAME}[4].PlanePositionSequence[0]")
    spacing = _row(df, "PixelSpacing", "SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]")
    assert spacing["value"] == "[0.9, 0.9]"


# --- real files ----------------------------------------------------------------------------


def test_real_enhanced_ct(pydicom_data_dir: Path) -> None:
    ds = pydicom.dcmread(pydicom_data_dir / "eCT_Supplemental.dcm")
    plane = "PlanePositionSequence[0]"
    for k, z in ((0, "-159.000"), (1, "-149.000")):
        df = header_table(ds, frame=k)
        assert _row(df, PER_FRAME, "")["value"] == f"<2 items; frame {k + 1} shown (item [{k}])>"
        position = _row(df, "ImagePositionPatient", f"{PER_FRAME}[{k}].{plane}")
        assert position["value"] == f"[99.5000, -301.500, {z}]"
        assert len(df[df["keyword"] == "ImagePositionPatient"]) == 1
    df = varying_in_frames([(ds, 0), (ds, 1)])
    assert _varying(df) == {
        "InStackPositionNumber": (2, "1 … 2"),
        "DimensionIndexValues": (2, "[1 … 1, 1 … 2]"),
        "ImagePositionPatient": (
            2,
            "[99.5000 … 99.5000, -301.500 … -301.500, -159.000 … -149.000]",
        ),
    }  # window, rescale and frame type are shared: they do not vary


def test_real_segmentation_frames(pydicom_data_dir: Path) -> None:
    ds = pydicom.dcmread(pydicom_data_dir / "liver.dcm")
    df = varying_in_frames([(ds, k) for k in range(3)])
    assert _row(df, "ImagePositionPatient", PLANE)["distinct"] == 3
    source = f"{PER_FRAME}[*].DerivationImageSequence[0].SourceImageSequence[0]"
    assert _row(df, "ReferencedSOPInstanceUID", source)["distinct"] == 3


def test_real_enhanced_mr_without_functional_groups() -> None:
    ds = pydicom.dcmread(get_testdata_file("emri_small.dcm"))  # 10 frames, groups stripped
    assert header_table(ds, frame=9).equals(header_table(ds))
    assert varying_in_frames([(ds, k) for k in range(10)]).empty
    with pytest.raises(UsageError, match="frame index 10 is out of range: the file has 10 frame"):
        header_table(ds, frame=10)


def test_ninety_six_frames_are_compared_quickly() -> None:
    ds = _read_back(_enhanced(96, private=52, **{k: v * 16 for k, v in _VARIED.items()}))
    per_frame = header_table(ds, frame=0)["per_frame"].sum()
    assert per_frame >= 70
    images = [(ds, k) for k in range(96)]
    start = time.perf_counter()
    df = varying_in_frames(images)
    elapsed = time.perf_counter() - start
    assert _row(df, "ImagePositionPatient", PLANE)["distinct"] == 96
    assert elapsed < 1.0  # about 0.1 s here; generous, as tests share the machine


# --- hostile input -------------------------------------------------------------------------


def test_an_item_that_is_not_a_dataset() -> None:
    ds = _enhanced()
    ds.PerFrameFunctionalGroupsSequence._list[2] = "not a dataset"  # pydicom's checks bypassed
    df = header_table(ds, frame=2)
    assert _row(df, PER_FRAME, "")["value"] == "<6 items; frame 3 shown (item [2])>"
    assert not df["per_frame"].any()
    varying = varying_in_frames([(ds, k) for k in range(6)])
    assert _varying(varying)["ImagePositionPatient"] == (
        6,
        "[-120 … -120, -100 … -100, 0 … 25], (absent)",
    )


def test_per_frame_sequence_shorter_than_the_frames() -> None:
    ds = _enhanced()
    ds.NumberOfFrames = 8  # two frames without an item
    df = header_table(ds, frame=7)
    assert _row(df, PER_FRAME, "")["value"] == "<6 items; none for frame 8>"
    assert not df["per_frame"].any()
    _row(df, "PixelSpacing", "SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]")
    varying = _varying(varying_in_frames([(ds, k) for k in range(8)]))
    assert varying["ImagePositionPatient"] == (7, "[-120 … -120, -100 … -100, 0 … 25], (absent)")
    assert "PixelSpacing" not in varying  # shared: every frame has it


def test_per_frame_sequence_that_is_not_a_sequence() -> None:
    ds = _enhanced()
    del ds.PerFrameFunctionalGroupsSequence
    ds.add_new(0x52009230, "LO", "damaged")
    ds[0x00280008] = RawDataElement(Tag(0x00280008), "IS", 4, b"six ", 0, False, True)
    row = header_table(ds, frame=0)
    assert row[row["tag"] == "(5200,9230)"]["value"].tolist() == ["damaged"]
    with pytest.raises(UsageError, match="frame index 1 is out of range"):
        header_table(ds, frame=1)
    assert varying_in_frames([(ds, 0), (ds, 0)]).empty


def test_damaged_values_inside_a_frame() -> None:
    ds = _enhanced()
    content = ds.PerFrameFunctionalGroupsSequence[1].FrameContentSequence[0]
    content[0x00209157] = RawDataElement(Tag(0x00209157), "UL", 3, b"\0\0\0", 0, False, True)
    group = ds.PerFrameFunctionalGroupsSequence[3]
    del group.PlanePositionSequence
    group.add_new(0x00209113, "LO", "not a sequence")
    group[0x00209116] = RawDataElement(Tag(0x00209116), "SQ", 4, b"junk", 0, False, True)
    table = header_table(ds, frame=1)
    bad = _row(table, "DimensionIndexValues", f"{PER_FRAME}[1].FrameContentSequence[0]")
    assert bad["value"].startswith("<unreadable: BytesLengthException")
    third = header_table(ds, frame=3)
    assert _row(third, "PlanePositionSequence", f"{PER_FRAME}[3]")["value"] == "not a sequence"
    junk = _row(third, "PlaneOrientationSequence", f"{PER_FRAME}[3]")["value"]
    assert junk.startswith("<unreadable: ")
    df = varying_in_frames([(ds, k) for k in range(6)])
    distinct, text = _varying(df)["DimensionIndexValues"]
    assert distinct == 6
    assert "<unreadable: BytesLengthException>" in text
    assert _row(df, "PlanePositionSequence", f"{PER_FRAME}[*]")["range"] == (
        "not a sequence, (absent)"
    )
    assert _varying(df)["ImagePositionPatient"][1].endswith(", (absent)")
    assert "ImageOrientationPatient" not in set(df["keyword"])  # frame 3 falls back to shared


def _nest(item: Dataset, levels: int) -> None:
    for level in range(levels):
        child = _item(PatientID=f"level {level + 1}")
        item.ReferencedImageSequence = DicomSequence([child])
        item = child


def test_deep_nesting_inside_a_frame() -> None:
    ds = _enhanced()
    _nest(ds.PerFrameFunctionalGroupsSequence[0], 40)
    df = header_table(ds, frame=0)
    (marker,) = df[df["value"].str.startswith("<nested deeper than 16")].itertuples()
    assert marker.per_frame and marker.depth == 17
    varying = varying_in_frames([(ds, 0), (ds, 1)])
    nested = varying[varying["keyword"] == "PatientID"]
    assert len(nested) == 15  # items at depths 2 to 16, as in the table
    assert "level 15, (absent)" in set(nested["range"])
    deeper = _enhanced(frames=2)
    _nest(deeper.PerFrameFunctionalGroupsSequence[0], 1200)  # past Python's recursion limit
    df = varying_in_frames([(deeper, 0), (deeper, 1)], max_depth=2000)
    assert len(df[df["keyword"] == "PatientID"]) == 1200
    with pytest.raises(UsageError, match="max_depth must be >= 0"):
        varying_in_frames([(deeper, 0)], max_depth=-1)
