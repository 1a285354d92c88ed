"""Several images per position (4-D series) become volumes, never "duplicates"; series whose
SeriesInstanceUID is blank are grouped by what they still share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian
from synth import make_series, make_slice_dataset, to_bytes

import dicomviz
from dicomviz.cli import main

UID = "1.2.826.0.1.3680043.8.498.4004"
POSITIONS = 4


def _image(
    position: int, number: int, value: int, *, uid: str = UID, **attributes: object
) -> Dataset:
    return make_slice_dataset(
        np.full((8, 8), value, np.int16),
        position=(0.0, 0.0, 3.0 * position),
        row_cosine=(1, 0, 0),
        col_cosine=(0, 1, 0),
        pixel_spacing=(1, 1),
        instance_number=number,
        series_uid=uid,
        modality="MR",
        **attributes,
    )


def _series(per_volume: list[dict], *, uid: str = UID) -> list[tuple[str, bytes]]:
    """Volume v (0-based) at POSITIONS positions, with the attributes per_volume[v]; pixel
    value 100 * v + position, InstanceNumber in acquisition order (volume by volume)."""
    files = []
    for v, attributes in enumerate(per_volume):
        for p in range(POSITIONS):
            number = v * POSITIONS + p + 1
            ds = _image(p, number, 100 * v + p, uid=uid, **attributes)
            files.append((f"IM{number:04d}", to_bytes(ds)))
    return files


def _volumes(files: list[tuple[str, bytes]]) -> list[dicomviz.Stack]:
    study = dicomviz.load(files)
    assert not study.skipped, study.skipped
    return list(study.stacks)


def _first_values(stack: dicomviz.Stack) -> list[int]:
    return [int(v) for v in dicomviz.build_volume(stack).array[:, 0, 0]]


def test_diffusion_volumes_from_canon_image_comments() -> None:
    """Canon writes b-value and direction only in ImageComments, e.g. b=1500(0.895,0,0.445)."""
    comments = ["b=0", "b=1500(0.895,0.000,0.445)", "b=1500(0.000,-0.445,0.895)"]
    stacks = _volumes(_series([{"ImageComments": c} for c in comments]))
    assert [s.label for s in stacks] == ["b=0", "b=1500, direction 1", "b=1500, direction 2"]
    assert [_first_values(s) for s in stacks] == [[0, 1, 2, 3], [100, 101, 102, 103],
                                                   [200, 201, 202, 203]]  # fmt: skip
    assert "told apart by diffusion b-value and direction" in stacks[0].warnings[0]
    assert [s.id for s in stacks] == [UID, f"{UID}#2", f"{UID}#3"]


def _siemens_diffusion(ds: Dataset, b_value: int, direction: tuple[float, float, float]) -> None:
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "IS", str(b_value))
    block.add_new(0x0E, "FD", list(direction))


def test_diffusion_volumes_from_siemens_private_elements() -> None:
    files = []
    volumes = [(0, (0.0, 0.0, 0.0)), (1000, (1.0, 0.0, 0.0)), (1000, (0.0, 1.0, 0.0))]
    for v, (b_value, direction) in enumerate(volumes):
        for p in range(POSITIONS):
            ds = _image(p, v * POSITIONS + p + 1, 100 * v + p)
            _siemens_diffusion(ds, b_value, direction)
            files.append((f"IM{v}{p}", to_bytes(ds)))
    stacks = _volumes(files)
    assert [s.label for s in stacks] == ["b=0", "b=1000, direction 1", "b=1000, direction 2"]
    assert [_first_values(s)[0] for s in stacks] == [0, 100, 200]


def test_standard_diffusion_attributes_and_time_points() -> None:
    per_volume = [
        {"DiffusionBValue": 0.0},
        {"DiffusionBValue": 800.0, "DiffusionGradientOrientation": [0.0, 0.0, 1.0]},
    ]
    assert [s.label for s in _volumes(_series(per_volume))] == ["b=0", "b=800, direction 1"]
    times = [{"TemporalPositionIdentifier": t} for t in (1, 2, 3)]
    stacks = _volumes(_series(times))
    assert [s.label for s in stacks] == ["time point 1", "time point 2", "time point 3"]


def test_echoes_and_time_points_together_need_both() -> None:
    per_volume = [
        {"EchoNumbers": e, "EchoTime": te, "TemporalPositionIdentifier": t}
        for t in (1, 2)
        for e, te in ((1, 12.0), (2, 30.0))
    ]
    stacks = _volumes(_series(per_volume))
    assert [s.label for s in stacks] == [
        "TE 12 ms, time point 1",
        "TE 30 ms, time point 1",
        "TE 12 ms, time point 2",
        "TE 30 ms, time point 2",
    ]
    assert all(len(s.frames) == POSITIONS for s in stacks)


def test_a_value_varying_per_slice_does_not_split_a_volume() -> None:
    """TriggerTime differs for every slice of an fMRI run (slice timing); the time point,
    not it, tells the volumes apart."""
    files = []
    for v in range(2):
        for p in range(POSITIONS):
            number = v * POSITIONS + p + 1
            ds = _image(p, number, 100 * v + p, TemporalPositionIdentifier=v + 1,
                        TriggerTime=100 * number)  # fmt: skip
            files.append((f"IM{number:04d}", to_bytes(ds)))
    assert [s.label for s in _volumes(files)] == ["time point 1", "time point 2"]


def test_nothing_tells_them_apart_so_acquisition_order_does() -> None:
    stacks = _volumes(_series([{}, {}]))
    assert [s.label for s in stacks] == [
        "volume 1 in acquisition order",
        "volume 2 in acquisition order",
    ]
    assert [_first_values(s)[0] for s in stacks] == [0, 100]
    assert "acquisition order only" in stacks[0].warnings[0]


def test_info_names_each_volume_with_what_it_is(tmp_path: Path, capsys) -> None:
    comments = ["b=0", "b=1500(1,0,0)", "b=1500(0,1,0)"]
    for name, data in _series([{"ImageComments": c} for c in comments]):
        (tmp_path / name).write_bytes(data)
    assert main(["info", str(tmp_path), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["slices"] == POSITIONS
    assert f"stack {UID}#3: {POSITIONS} images of 8 x 8, axial, b=1500, direction 2 " in " ".join(
        record["warnings"]
    )
    out = tmp_path / "view"
    args = ["project", str(tmp_path), "--series", f"{UID}#3", "--plane", "axial", "--mode", "max"]
    assert main([*args, "-o", str(out)]) == 0
    assert int(np.load(tmp_path / "view.npy").max()) == 203


def _frame_group(z: float, frame_type: str, slope: float, intercept: float, units: str) -> Dataset:
    position, content, kind, transform, unit, mapping = (Dataset() for _ in range(6))
    position.ImagePositionPatient = [0.0, 0.0, z]
    content.StackID = "1"
    kind.FrameType = ["ORIGINAL", "PRIMARY", "T1", frame_type]
    transform.RescaleSlope, transform.RescaleIntercept = slope, intercept
    transform.RescaleType = "US"
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = units, "UCUM", units
    mapping.MeasurementUnitsCodeSequence = DicomSequence([unit])
    group = Dataset()
    group.PlanePositionSequence = DicomSequence([position])
    group.FrameContentSequence = DicomSequence([content])
    group.MRImageFrameTypeSequence = DicomSequence([kind])
    group.PixelValueTransformationSequence = DicomSequence([transform])
    group.RealWorldValueMappingSequence = DicomSequence([mapping])
    return group


_COPIED = (
    *("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "Rows", "Columns"),
    *("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel"),
    "PhotometricInterpretation",
)


def test_enhanced_magnitude_and_field_map_frames_are_two_volumes() -> None:
    """As in a Philips B0 map: magnitude then field-map frames at the same positions, each
    with its own rescale (the field map in Hz)."""
    base = _image(0, 1, 0)
    ds = Dataset()
    ds.file_meta = base.file_meta
    for keyword in _COPIED:
        setattr(ds, keyword, base.get(keyword))
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T1", "MIXED"]
    ds.NumberOfFrames = 2 * POSITIONS
    orientation, measures, shared = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing, measures.SliceThickness = [1, 1], 3
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [_frame_group(3.0 * p, "M", 2.0, 0.0, "1") for p in range(POSITIONS)]
        + [_frame_group(3.0 * p, "FIELD_MAP", 0.5, -500.0, "Hz") for p in range(POSITIONS)]
    )
    stored = np.array([np.full((8, 8), 10 * f, np.int16) for f in range(2 * POSITIONS)])
    ds.PixelData = stored.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    stacks = _volumes([("ENHANCED", to_bytes(ds))])
    assert [s.label for s in stacks] == ["magnitude", "field map (Hz)"]
    magnitude, field_map = (dicomviz.build_volume(s).array[:, 0, 0] for s in stacks)
    np.testing.assert_allclose(magnitude, [0, 20, 40, 60])  # 2 x stored
    np.testing.assert_allclose(field_map, [-480, -475, -470, -465])  # 0.5 x stored - 500


def test_blank_series_uid_groups_by_what_the_files_share() -> None:
    """Some exports blank Study/Series/SOP Instance UIDs in the data set (the file meta keeps
    the SOP instance): one series of 6, not 6 series of 1."""
    files = []
    for series_number, description in ((3, "CT Body 3.0"), (4, "CT Body 1.0")):
        for name, data in make_series(slices=6, series_number=series_number,
                                      series_description=description,
                                      names=f"S{series_number}_{{index}}"):  # fmt: skip
            ds = _blank_uids(data)
            files.append((name, to_bytes(ds)))
    study = dicomviz.load(files)
    assert not study.skipped
    assert [(len(s.frames), s.description) for s in study.stacks] == [
        (6, "CT Body 3.0"),
        (6, "CT Body 1.0"),
    ]
    first = study.stacks[0]
    assert first.series_uid.startswith("2.25.")
    assert "no SeriesInstanceUID" in first.warnings[0] and "series number '3'" in first.warnings[0]
    assert study.find(first.series_uid) is first  # the made-up id selects it
    again = dicomviz.load(files).stacks[0].series_uid
    assert again == first.series_uid  # the same files give the same id


def _blank_uids(data: bytes) -> Dataset:
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID  # only the file meta keeps it
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, keyword, "")
    return ds


def test_a_copy_of_a_file_with_blank_uids_counts_once() -> None:
    (name, data), *_ = make_series(slices=3)
    blank = to_bytes(_blank_uids(data))
    study = dicomviz.load([("A/" + name, blank), ("B/" + name, blank)])
    assert "same SOPInstanceUID" in study.skipped[0].reason


@pytest.mark.parametrize("order", [1, -1])
def test_volumes_keep_their_order_whatever_the_file_order(order: int) -> None:
    files = _series([{"EchoNumbers": 1, "EchoTime": 10}, {"EchoNumbers": 2, "EchoTime": 80}])
    stacks = _volumes(files[::order])
    assert [s.label for s in stacks] == ["TE 10 ms", "TE 80 ms"]
    assert _first_values(stacks[1]) == [100, 101, 102, 103]
