"""Every kind of note the engine emits, each from a synthetic series made to trigger it.

The model for tests of warnings: find the note by its machine-readable ``kind`` (never by
searching its English), then pin its numbers, in the exact sentence (what ``info`` prints) and
in the plain one (what the page shows). A note is a ``str``, so it still goes wherever a
warning string went.
"""

from __future__ import annotations

import io
import pickle
import typing
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless
from synth import (
    make_rgb_file,
    make_series,
    make_slice_dataset,
    to_bytes,
    undecodable,
)

import dicomviz
from dicomviz.display.views import oblique_warning
from dicomviz.notes import Kind, Note, kind_of, plain_of

UID = "1.2.826.0.1.3680043.8.498.9201"


def _notes(warnings: typing.Iterable[str], kind: Kind) -> list[Note]:
    """The warnings of one kind; each must be a Note (a plain str has no kind to match)."""
    found = [w for w in warnings if kind_of(w) == kind]
    assert all(isinstance(w, Note) for w in found)
    return found  # type: ignore[return-value]


def _one(warnings: typing.Iterable[str], kind: Kind) -> Note:
    found = _notes(warnings, kind)
    assert len(found) == 1, (kind, list(warnings))
    return found[0]


def _stack(files: list[tuple[str, bytes]]) -> dicomviz.Stack:
    study = dicomviz.load(files)
    assert len(study.stacks) == 1, study.stacks
    return study.stacks[0]


def _image(k: int, name: str = "IM{k:04d}", **changes: Any) -> tuple[str, bytes]:
    """Axial 4 x 4 slice k of series UID at z = 2k mm, values 10 k."""
    arguments: dict[str, Any] = {
        "position": (0.0, 0.0, 2.0 * k),
        "row_cosine": (1.0, 0.0, 0.0),
        "col_cosine": (0.0, 1.0, 0.0),
        "pixel_spacing": (0.5, 0.5),
        "instance_number": k + 1,
        "series_uid": UID,
        "slice_thickness": 2.0,
    }
    pixels = np.full((4, 4), 10 * k, np.int16)
    return name.format(k=k), to_bytes(make_slice_dataset(pixels, **(arguments | changes)))


# --- the Note type ----------------------------------------------------------------------------


def test_a_note_is_a_str_with_a_kind_and_plain_words() -> None:
    note = Note("technical sentence", "gaps", "plain sentence")
    assert note == "technical sentence" and isinstance(note, str)
    assert (note.kind, note.plain) == ("gaps", "plain sentence")
    assert (kind_of(note), plain_of(note)) == ("gaps", "plain sentence")
    assert (kind_of("a plain str"), plain_of("a plain str")) == ("other", "a plain str")
    assert Note("only text").plain == "only text" and Note("only text").kind == "other"
    copy = pickle.loads(pickle.dumps(note))  # caches and worker processes pickle notes
    assert (copy, copy.kind, copy.plain) == (note, note.kind, note.plain)


def test_every_kind_is_listed_once() -> None:
    kinds = typing.get_args(Kind)
    assert len(kinds) == len(set(kinds))
    emitted = {"split", "4d", "no-uid", "orientation", "pixel-spacing", "order", "gaps", "tilt"}
    emitted |= {"oblique", "rescale", "mosaic", "decode", "colour"}
    assert set(kinds) == emitted | {"other"}  # each tested below


# --- series: grouping and geometry -----------------------------------------------------------


def test_split() -> None:
    axial = [_image(k) for k in range(4)]
    coronal = [
        _image(10 + k, position=(0.0, 2.0 * k, 0.0), col_cosine=(0.0, 0.0, -1.0)) for k in range(3)
    ]
    study = dicomviz.load(axial + coronal)
    assert [len(s.frames) for s in study.stacks] == [4, 3]
    for stack in study.stacks:
        note = _one(stack.warnings, "split")
        assert note == (
            "series split into 2 stacks that do not share one grid: 4 x 4x4 axial, 3 x 4x4 coronal"
        )
        assert note.plain == (
            "This series holds 2 sets of images that cannot be stacked together (different "
            "orientation or size: 4 x 4x4 axial, 3 x 4x4 coronal); each is shown on its own."
        )


def test_4d() -> None:
    files = [_image(k, EchoTime="10", EchoNumbers="1") for k in range(3)]
    files += [
        _image(k, "TE80_{k}", EchoTime="80", EchoNumbers="2", instance_number=10 + k)
        for k in range(3)
    ]
    stacks = dicomviz.load(files).stacks
    assert [s.label for s in stacks] == ["TE 10 ms", "TE 80 ms"]
    for stack in stacks:
        note = _one(stack.warnings, "4d")
        assert note == (
            "2 volumes at the same 3 positions (a 4-D series), told apart by echo; "
            f"this one: {stack.label}"
        )
        assert note.plain == (
            "This series holds 2 volumes of the same 3 positions (echo): pick one with the "
            f"Volume slider. This one is {stack.label}."
        )


def test_no_uid() -> None:
    files = []
    for name, data in make_series(slices=3, series_number=7, series_description="Chest"):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.SeriesInstanceUID = ""
        files.append((name, to_bytes(ds)))
    stack = _stack(files)
    note = _one(stack.warnings, "no-uid")
    made = stack.series_uid
    assert made.startswith("2.25.")
    assert note.startswith("no SeriesInstanceUID in these files: grouped by what they share (")
    assert note.endswith(f"); {made} is an id made up here to select them")
    for fact in ("series number '7'", "description 'Chest'", "modality 'CT'", "study ID '1'"):
        assert fact in note and fact in note.plain, fact


def test_orientation_from_patient_orientation_letters() -> None:
    files = [
        _image(k, ImageOrientationPatient=None, PatientOrientation=["L", "P"]) for k in range(3)
    ]
    note = _one(_stack(files).warnings, "orientation")
    assert note == (
        "no ImageOrientationPatient: directions taken from PatientOrientation (approximate)"
    )
    assert note.plain == (
        "The images only roughly say which way they face: direction labels are approximate."
    )


def test_orientation_unknown() -> None:
    files = [_image(k, ImageOrientationPatient=None) for k in range(3)]
    stack = _stack(files)
    note = _one(stack.warnings, "orientation")
    assert note == (
        "no ImageOrientationPatient: shown as if axial; left/right and front/back labels are "
        "not known"
    )
    assert not dicomviz.build_volume(stack).oriented  # and no labels are drawn


def test_pixel_spacing_absent() -> None:
    stack = _stack([_image(k, PixelSpacing=None) for k in range(3)])
    note = _one(stack.warnings, "pixel-spacing")
    assert note == "no PixelSpacing: 1 mm pixels assumed, distances are not real"
    assert stack.pixel_spacing == (1.0, 1.0)


def test_pixel_spacing_differs() -> None:
    files = [_image(k, pixel_spacing=(0.6, 0.6) if k == 2 else (0.5, 0.5)) for k in range(4)]
    stack = _stack(files)
    note = _one(stack.warnings, "pixel-spacing")
    assert note == "PixelSpacing differs between images ((0.5, 0.5) to (0.6, 0.6)); (0.5, 0.5) used"
    assert note.plain == (
        "Pixel sizes differ between images ((0.5, 0.5) to (0.6, 0.6) mm); all are shown at "
        "(0.5, 0.5) mm, so some sizes are off."
    )
    assert stack.pixel_spacing == (0.5, 0.5)


def test_order() -> None:
    files = [_image(k, position=None, slice_thickness=2.5) for k in (2, 0, 1)]
    stack = _stack(files)
    note = _one(stack.warnings, "order")
    assert note == (
        "no ImagePositionPatient: slices ordered by InstanceNumber and 2.5 mm apart (from the "
        "header); positions are approximate"
    )
    assert note.plain == (
        "The images do not say where they are: they are shown in their numbered order, 2.5 mm "
        "apart, so distances across them are approximate."
    )
    assert [f.instance_number for f in stack.frames] == [1, 2, 3]
    assert stack.slice_spacing == 2.5


def test_gaps_where_a_slice_is_missing() -> None:
    """Eight 2 mm slices from z = -20 mm with the fifth left out: steps 2, 2, 2, 4, 2, 2."""
    stack = _stack(make_series(slices=8, slice_spacing=2.0, gap_after=3))
    note = _one(stack.warnings, "gaps")
    assert note == (
        "uneven slice spacing: 5 gaps of 2.0 mm, 1 of 4.0 mm; slices are shown at their true "
        "positions on a 2.00 mm grid, and the 2.0 mm where a gap is wider than the slices "
        "(1 stretch, first at -12.0 mm along the normal) show no data"
    )
    assert note.plain == (
        "The gaps between slices are uneven (5 gaps of 2.0 mm, 1 of 4.0 mm). Each slice is "
        "shown at its true position, so sizes in side and front views are right; where a gap "
        "is wider than the slices are thick (2 mm in all) the picture is left empty rather "
        "than stretched."
    )
    assert stack.planes == (0, 1, 2, 3, -1, 4, 5, 6)


def test_gaps_that_vary_a_little() -> None:
    files = [_image(k, position=(0.0, 0.0, z)) for k, z in enumerate((0.0, 2.1, 4.0, 6.1, 8.0))]
    stack = _stack(files)
    note = _one(stack.warnings, "gaps")
    assert note == (
        "slice spacing varies a little (steps from 1.90 to 2.10 mm): slices are shown 2.000 mm "
        "apart, none more than 0.10 mm from its true position"
    )
    assert stack.planes is None  # shown as acquired, not resampled


def test_tilt() -> None:
    """Positions step 2 mm along the normal and 0.5 mm sideways: atan(0.5 / 2) = 14.0 degrees,
    2.06 mm a step."""
    stack = _stack(make_series(slices=6, slice_spacing=2.0, tilt_mm_per_slice=(0.0, 0.5, 0.0)))
    note = _one(stack.warnings, "tilt")
    assert note == (
        "gantry tilt or sheared stack: positions step 2.06 mm along a line 14.0 degrees from "
        "the slice normal; spacing is reported along the normal (2.00 mm), and views show the "
        "slices unsheared"
    )
    assert "tilted by 14.0°" in note.plain and "(slices 2.00 mm apart)" in note.plain


def test_oblique() -> None:
    """An axial stack turned 30 degrees about the left-right axis."""
    a = np.radians(30.0)
    files = make_series(slices=4, col_cosine=(0.0, float(np.cos(a)), float(np.sin(a))))
    volume = dicomviz.build_volume(_stack(files))
    note = oblique_warning(dicomviz.canonical(volume))
    assert note is not None and note.kind == "oblique"
    assert note == (
        "the stack is oblique (30.0 degrees from the patient axes): views are shown on its "
        "nearest axes without resampling, so labels are approximate"
    )
    assert "30.0° off the patient's axes" in note.plain
    straight = dicomviz.build_volume(_stack(make_series(slices=4)))
    assert oblique_warning(dicomviz.canonical(straight)) is None


def test_rescale() -> None:
    files = [_image(k, intercept=-5.0 * k) for k in range(3)]
    stack = _stack(files)
    note = _one(stack.warnings, "rescale")
    assert note == (
        "rescale varies across slices (RescaleSlope 1 to 1, RescaleIntercept -10 to 0); "
        "applied per slice"
    )
    volume = dicomviz.build_volume(stack)
    assert volume.array[:, 0, 0].tolist() == [0, 10 - 5, 20 - 10]  # each by its own intercept


def test_mosaic() -> None:
    """A Siemens mosaic of four 4 x 4 tiles, its count in (0019,100A) but no CSA header, so
    no slice normal: the order along the DICOM normal is assumed."""
    tiles = [np.full((4, 4), 100 * k, np.int16) for k in range(4)]
    image = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])
    ds = make_slice_dataset(
        image,
        position=(0.0, 0.0, 0.0),
        row_cosine=(1.0, 0.0, 0.0),
        col_cosine=(0.0, 1.0, 0.0),
        pixel_spacing=(1.0, 1.0),
        instance_number=1,
        series_uid=UID,
        modality="MR",
        ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"],
        SpacingBetweenSlices="3",
    )
    ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0A, "US", 4)
    stack = _stack([("mosaic.dcm", to_bytes(ds))])
    note = _one(stack.warnings, "mosaic")
    assert note == (
        "Siemens mosaic without a slice normal in its CSA header: slice order along the normal "
        "assumed (it may be reversed)"
    )
    assert len(stack.frames) == 4 and stack.slice_spacing == pytest.approx(3.0)


# --- pixels: building the volume ---------------------------------------------------------------


def test_decode() -> None:
    files = make_series(slices=4, rows=6, columns=5, transfer_syntax=RLELossless)
    files[1] = (files[1][0], undecodable(files[1][1]))
    volume = dicomviz.build_volume(_stack(files))
    note = _one(volume.warnings, "decode")
    assert note.startswith("IM0002: pixel data could not be decoded (")
    assert note.endswith("); its slice is left blank")
    assert note.plain == "One image could not be decoded (IM0002); its slice is shown blank."


def test_colour() -> None:
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0] = 200
    volume = dicomviz.build_volume(_stack([("photo", make_rgb_file(rgb))]))
    note = _one(volume.warnings, "colour")
    assert note == "colour image shown as luminance (0.299 R + 0.587 G + 0.114 B)"
    assert note.plain == "A colour image, shown in grey (its brightness)."
    np.testing.assert_allclose(volume.array, 0.299 * 200, rtol=1e-6)


def test_a_clean_series_has_no_notes() -> None:
    stack = _stack(make_series(slices=5))
    volume = dicomviz.build_volume(stack)
    assert stack.warnings == () and volume.warnings == ()
    assert oblique_warning(dicomviz.canonical(volume)) is None
