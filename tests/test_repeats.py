"""Several images at one position: a true duplicate is said and used once; different images are
volumes of a 4-D series, told apart by what differs between them, else by acquisition order.

Frames come from synthetic files read as the loader reads them; ``split_volumes`` is called with
the pixel layer's digest, as ``load`` passes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.uid import RLELossless
from synth import make_series, make_slice_dataset, to_bytes

from dicomviz.errors import Skipped
from dicomviz.io.inputs import InputFile
from dicomviz.io.reading import read_dicom
from dicomviz.pixels.decode import frame_digest
from dicomviz.series.frames import Frame, frames_of
from dicomviz.series.repeats import SAME_POSITION_MM, position_slots, split_volumes

UID = "1.2.826.0.1.3680043.8.498.9101"
AXIAL = np.array([0.0, 0.0, 1.0])
WHY = "same pixels: a duplicate, e.g. saved again in another transfer syntax"


def _frames(files: list[tuple[str, bytes]]) -> list[Frame]:
    return [f for name, data in files for f in frames_of(read_dicom(InputFile(name, data)))]


def _image(name: str, z: float, value: int, number: int, **extra: Any) -> tuple[str, bytes]:
    ds = make_slice_dataset(
        np.full((4, 4), value, np.int16),
        position=(0.0, 0.0, z),
        row_cosine=(1.0, 0.0, 0.0),
        col_cosine=(0.0, 1.0, 0.0),
        pixel_spacing=(1.0, 1.0),
        instance_number=number,
        series_uid=UID,
        sop_instance_uid=f"{UID}.{number}",
        **extra,
    )
    return name, to_bytes(ds)


def test_position_slots_group_within_the_tolerance_and_follow_the_normal() -> None:
    near = SAME_POSITION_MM / 2
    files = [
        _image("C", 4.0, 1, 1),
        _image("A", 0.0, 2, 2),
        _image("B", 2.0, 3, 3),
        _image("A2", near, 4, 4),  # the same position as A, give or take rounding
        _image("B2", 2.0 + 2 * SAME_POSITION_MM, 5, 5),  # a position of its own
    ]
    slots = position_slots(_frames(files), AXIAL)
    assert [[f.name for f in slot] for slot in slots] == [["A", "A2"], ["B"], ["B2"], ["C"]]
    down = position_slots(_frames(files), -AXIAL)
    assert [[f.name for f in slot] for slot in down] == [["C"], ["B2"], ["B"], ["A2", "A"]]


def test_one_image_per_position_is_one_volume_without_a_note() -> None:
    frames = _frames(make_series(slices=4, series_uid=UID))
    skipped: list[Skipped] = []
    (volume,), note = split_volumes(frames, AXIAL, skipped, frame_digest)
    assert note is None and not skipped
    assert volume.label == "" and len(volume.frames) == 4


def test_echoes_at_the_same_positions_are_two_volumes_said_with_numbers() -> None:
    files = []
    for k in range(4):
        files.append(_image(f"E1_{k}", 2.0 * k, 100 + k, 2 * k + 1, EchoTime="10", EchoNumbers="1"))
        files.append(_image(f"E2_{k}", 2.0 * k, 50 + k, 2 * k + 2, EchoTime="80", EchoNumbers="2"))
    skipped: list[Skipped] = []
    volumes, note = split_volumes(_frames(files), AXIAL, skipped, frame_digest)
    assert not skipped
    assert [v.label for v in volumes] == ["TE 10 ms", "TE 80 ms"]
    for volume, prefix in zip(volumes, ("E1_", "E2_"), strict=True):
        assert [f.name for f in volume.frames] == [f"{prefix}{k}" for k in range(4)]
    assert note is not None and note.kind == "4d"
    assert note == "2 volumes at the same 4 positions (a 4-D series), told apart by echo"
    assert note.plain == (
        "This series holds 2 volumes of the same 4 positions (echo): pick one with the Volume "
        "slider."
    )


def test_nothing_telling_them_apart_leaves_acquisition_order() -> None:
    files = [_image(f"R{n}", 2.0 * (n % 3), 10 * n, n) for n in range(1, 7)]
    volumes, note = split_volumes(_frames(files), AXIAL, [], frame_digest)
    assert [v.label for v in volumes] == [
        "volume 1 in acquisition order",
        "volume 2 in acquisition order",
    ]
    assert [f.name for f in volumes[0].frames] == ["R3", "R1", "R2"]  # z = 0, 2, 4 mm
    assert [f.name for f in volumes[1].frames] == ["R6", "R4", "R5"]
    assert note == (
        "2 volumes at the same 3 positions (a 4-D series), told apart by acquisition order only "
        "(no attribute tells them apart)"
    )


def test_the_same_image_saved_again_is_a_duplicate_used_once() -> None:
    """A series exported twice, the second time RLE-compressed: same positions, same values,
    other SOP instances. Each copy is said once and the first is kept."""
    plain = make_series(slices=3, series_uid=UID, names="A{index}")
    again = make_series(slices=3, series_uid=UID, names="B{index}", transfer_syntax=RLELossless)
    skipped: list[Skipped] = []
    (volume,), note = split_volumes(_frames(plain + again), AXIAL, skipped, frame_digest)
    assert note is None
    assert sorted(f.name for f in volume.frames) == ["A1", "A2", "A3"]
    assert sorted(skipped, key=lambda s: s.name) == [
        Skipped(f"B{k}", f"the same image as A{k} (same position, {WHY}); used once")
        for k in (1, 2, 3)
    ]


def test_without_a_digest_nothing_is_dropped_on_a_guess() -> None:
    plain = make_series(slices=3, series_uid=UID, names="A{index}")
    again = make_series(slices=3, series_uid=UID, names="B{index}", transfer_syntax=RLELossless)
    skipped: list[Skipped] = []
    volumes, _ = split_volumes(_frames(plain + again), AXIAL, skipped, None)
    assert len(volumes) == 2 and not skipped


def test_a_multiframe_copy_is_said_once_for_the_whole_file() -> None:
    first = make_series(slices=3, series_uid=UID, enhanced=True, names="first.dcm")
    copy = make_series(slices=3, series_uid=UID, enhanced=True, names="copy.dcm")
    skipped: list[Skipped] = []
    (volume,), _ = split_volumes(_frames(first + copy), AXIAL, skipped, frame_digest)
    assert {f.file.name for f in volume.frames} == {"first.dcm"}
    assert skipped == [
        Skipped(
            "copy.dcm",
            f"its 3 images are the same as those of first.dcm (same positions, {WHY}); used once",
        )
    ]


def test_same_pixels_but_other_describing_values_are_not_duplicates() -> None:
    """Two images with equal pixels but different rescale are different images."""
    files = [
        _image("A", 0.0, 7, 1),
        _image("B", 0.0, 7, 2, RescaleIntercept="-1024"),
        _image("C", 2.0, 7, 3),
        _image("D", 2.0, 7, 4, RescaleIntercept="-1024"),
    ]
    skipped: list[Skipped] = []
    volumes, _ = split_volumes(_frames(files), AXIAL, skipped, frame_digest)
    assert not skipped and len(volumes) == 2
