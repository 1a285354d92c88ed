"""The browsing view's payload (dicomviz.display.browse): the header the viewer reads, voxels
that come back exactly through gzip, the wire budget and the in-plane reduction, no data."""

from __future__ import annotations

import gzip
import json
from itertools import permutations, product

import numpy as np
import pytest

from dicomviz.display import browse, views, windowing
from dicomviz.errors import BudgetError
from dicomviz.pixels.volume import Volume

# Canonical (S, P, L) scan: 6 slices of 2.5 mm from inferior, 20 rows of 0.8 mm from anterior,
# 16 columns of 0.6 mm from the right, starting at (x, y, z) = (-4.5, 10, 100) mm.
SHAPE = (6, 20, 16)
AFFINE = np.array([[0, 0, 0.6, -4.5], [0, 0.8, 0, 10.0], [2.5, 0, 0, 100.0], [0, 0, 0, 1]])


def _volume(array: np.ndarray, **fields: object) -> Volume:
    fields = {"modality": "CT", "units": "HU", **fields}
    return Volume(array, AFFINE.copy(), (2.5, 0.8, 0.6), "s", **fields)  # type: ignore[arg-type]


def _ct(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-1024, 3000, size=SHAPE, dtype=np.int16)


def _round_trip(sent: browse.Payload) -> tuple[dict, np.ndarray]:
    doc, body = browse.read_message(browse.message(sent.digest, {"stack": "k"}, sent))
    return doc, browse.decode_volume(doc["volume"], body)


def test_header_says_what_the_viewer_needs() -> None:
    canon = views.canonical(_volume(_ct()))
    sent = browse.payload(canon, window=windowing.Window(40, 400))
    h = sent.header
    assert h["shape"] == list(SHAPE) and h["full_shape"] == list(SHAPE)
    assert h["dtype"] == "int16" and h["step"] == [1, 1, 1] and sent.factor == 1
    assert h["spacing"] == [2.5, 0.8, 0.6]
    assert h["axes"] == [
        {"name": "z", "start": 100.0, "step": 2.5},
        {"name": "y", "start": 10.0, "step": 0.8},
        {"name": "x", "start": -4.5, "step": 0.6},
    ]
    assert h["units"] == "HU" and h["modality"] == "CT" and h["oriented"] is True
    assert h["labels"] == {
        "axial": ["A", "P", "R", "L"],
        "coronal": ["S", "I", "R", "L"],
        "sagittal": ["S", "I", "A", "P"],
    }
    assert h["window"] == [40, 400]
    assert h["presets"]["Lung"] == [-600, 1500] and len(h["presets"]) == 8
    assert h["no_data"] is None
    assert h["raw_bytes"] == h["full_raw_bytes"] == np.prod(SHAPE) * 2
    assert sum(h["chunks"]) == sent.wire_bytes == h["wire_bytes"]
    json.dumps(h, allow_nan=False)  # plain JSON, as the browser parses it


def test_labels_and_presets_only_where_they_mean_something() -> None:
    canon = views.canonical(_volume(_ct(), modality="MR", units="", oriented=False))
    h = browse.payload(canon).header
    assert h["presets"] == {} and h["oriented"] is False
    assert all(labels == ["", "", "", ""] for labels in h["labels"].values())
    assert h["window"][1] > 0  # the opening picture's window, from the values


def test_int16_voxels_come_back_exactly_through_gzip() -> None:
    array = _ct(1)
    canon = views.canonical(_volume(array))
    doc, back = _round_trip(browse.payload(canon))
    assert doc["volume"]["dtype"] == "int16"
    assert back.dtype == np.int16 and np.array_equal(back, array)


def test_each_chunk_is_a_gzip_member_of_byte_planes(monkeypatch) -> None:
    monkeypatch.setattr(browse, "CHUNK_BYTES", 2 * SHAPE[1] * SHAPE[2] * 2)  # two planes each
    array = _ct(2)
    sent = browse.payload(views.canonical(_volume(array)))
    assert len(sent.chunks) == 3 and sent.header["planes_per_chunk"] == 2
    raw = gzip.decompress(sent.chunks[1])  # the browser's DecompressionStream('gzip') reads it
    n = 2 * SHAPE[1] * SHAPE[2]
    low, high = np.frombuffer(raw[:n], np.uint8), np.frombuffer(raw[n:], np.uint8)
    values = (low.astype(np.uint16) | (high.astype(np.uint16) << 8)).view(np.int16)
    assert np.array_equal(values.reshape(2, *SHAPE[1:]), array[2:4])


@pytest.mark.parametrize(
    ("perm", "signs"),
    [(p, s) for p in permutations(range(3)) for s in product((1, -1), repeat=3)][::5],
)
def test_the_payload_is_the_canonical_volume_whatever_the_stored_order(perm, signs) -> None:
    array = _ct(3)
    stored = np.transpose(array, perm)
    affine = np.eye(4)
    affine[:, 3] = AFFINE[:, 3]
    for i, (axis, sign) in enumerate(zip(perm, signs, strict=True)):
        affine[:3, i] = sign * AFFINE[:3, axis]
        if sign < 0:
            stored = np.flip(stored, axis=i)
            affine[:3, 3] += AFFINE[:3, axis] * (SHAPE[axis] - 1)
    spacing = tuple(float(np.abs(AFFINE[:3, axis]).sum()) for axis in perm)
    volume = Volume(stored, affine, spacing, "s", slice_axis=perm.index(0))  # type: ignore[arg-type]
    doc, back = _round_trip(browse.payload(views.canonical(volume)))
    assert np.array_equal(back, array)
    assert [a["start"] for a in doc["volume"]["axes"]] == pytest.approx([100.0, 10.0, -4.5])


def test_whole_float_values_travel_as_int16_with_a_marker_for_no_data() -> None:
    array = _ct(4).astype(np.float32)
    array[2] = np.nan  # a plane between distant slices
    sent = browse.payload(views.canonical(_volume(array)))
    assert sent.header["dtype"] == "int16" and sent.header["no_data"] == browse.NO_DATA_INT16
    assert sent.header["raw_bytes"] == np.prod(SHAPE) * 2  # half of float32
    _, back = _round_trip(sent)
    assert back.dtype == np.float32
    assert np.array_equal(back, array, equal_nan=True)


def test_other_floats_travel_as_float32_with_nan() -> None:
    array = np.random.default_rng(5).random(SHAPE, dtype=np.float32)
    array[0, 0, :3] = np.nan
    sent = browse.payload(views.canonical(_volume(array, modality="PT", units="")))
    assert sent.header["dtype"] == "float32" and sent.header["no_data"] == "NaN"
    _, back = _round_trip(sent)
    assert back.dtype == np.float32 and np.array_equal(back, array, equal_nan=True)


@pytest.mark.parametrize("value", [40000.0, -32768.0, 0.5])
def test_floats_int16_cannot_hold_exactly_stay_float32(value: float) -> None:
    array = _ct(6).astype(np.float32)
    array[1, 2, 3] = value
    sent = browse.payload(views.canonical(_volume(array)))
    assert sent.header["dtype"] == "float32"
    assert np.array_equal(_round_trip(sent)[1], array)


def test_a_stack_over_budget_is_sent_reduced_in_plane_and_says_so() -> None:
    array = _ct(7)  # random values: gzip cannot shrink them much
    canon = views.canonical(_volume(array))
    full = browse.payload(canon)
    sent = browse.payload(canon, budget=full.wire_bytes // 3)
    h = sent.header
    assert sent.factor == 2 and h["step"] == [1, 2, 2]  # never fewer slices
    assert h["shape"] == [6, 10, 8] and h["full_shape"] == list(SHAPE)
    assert h["spacing"] == [2.5, 1.6, 1.2]
    assert [a["step"] for a in h["axes"]] == [2.5, 1.6, 1.2]
    assert sent.wire_bytes <= full.wire_bytes // 3
    assert h["full_raw_bytes"] == 4 * h["raw_bytes"]
    assert np.array_equal(_round_trip(sent)[1], array[:, ::2, ::2])
    smaller = browse.payload(canon, budget=full.wire_bytes // 20)
    assert smaller.factor in (4, 8) and smaller.wire_bytes <= full.wire_bytes // 20


def test_reduction_keeps_every_slice_of_a_sagittal_stack() -> None:
    array = _ct(8)
    stored = np.ascontiguousarray(np.transpose(array, (2, 0, 1)))  # slices along L
    affine = np.eye(4)
    affine[:, 3] = AFFINE[:, 3]
    affine[:3, :3] = AFFINE[:3, [2, 0, 1]]
    volume = Volume(stored, affine, (0.6, 2.5, 0.8), "s", slice_axis=0)
    canon = views.canonical(volume)
    assert canon.slice_axis == 2
    sent = browse.payload(canon, budget=browse.payload(canon).wire_bytes // 3)
    assert sent.header["step"] == [2, 2, 1]
    assert np.array_equal(_round_trip(sent)[1], array[::2, ::2, :])


def test_full_resolution_when_asked_whatever_the_budget() -> None:
    canon = views.canonical(_volume(_ct(9)))
    assert browse.payload(canon, budget=1000, factor=1).factor == 1


def test_nothing_fits_is_a_plain_budget_error() -> None:
    canon = views.canonical(_volume(_ct(10)))
    with pytest.raises(BudgetError, match="DICOMVIZ_BROWSE_MB"):
        browse.payload(canon, budget=10)


def test_budget_from_the_environment() -> None:
    assert browse.budget_bytes({}) == 64 * 2**20
    assert browse.budget_bytes({"DICOMVIZ_BROWSE_MB": "200"}) == 200 * 2**20
    with pytest.raises(ValueError, match="DICOMVIZ_BROWSE_MB"):
        browse.budget_bytes({"DICOMVIZ_BROWSE_MB": "lots"})
    with pytest.raises(ValueError, match="positive"):
        browse.budget_bytes({"DICOMVIZ_BROWSE_MB": "0"})


def test_digest_names_the_content_and_a_reference_message_is_small() -> None:
    canon = views.canonical(_volume(_ct(11)))
    one, two = browse.payload(canon), browse.payload(canon, workers=2)
    assert one.digest == two.digest and one.chunks == two.chunks
    other = browse.payload(views.canonical(_volume(_ct(12))))
    assert other.digest != one.digest
    ref = browse.message(one.digest, {"stack": "k"})
    doc, body = browse.read_message(ref)
    assert doc == {"digest": one.digest, "control": {"stack": "k"}, "volume": None}
    assert len(body) == 0 and len(ref) < 200


def test_message_layout_is_what_the_viewer_parses() -> None:
    canon = views.canonical(_volume(_ct(13)))
    sent = browse.payload(canon)
    data = browse.message(sent.digest, {}, sent)
    assert data[:4] == b"DVZB"
    length = int.from_bytes(data[8:12], "little")
    start = 12 + length + (-(12 + length) % 8)
    assert start % 8 == 0 and data[start:] == b"".join(sent.chunks)
    with pytest.raises(ValueError, match="not a dicomviz"):
        browse.read_message(b"PNG" + data[3:])


def test_payload_takes_only_canonical_volumes() -> None:
    stored = Volume(_ct(14)[::-1].copy(), np.diag([0.6, 0.8, -2.5, 1.0]), (2.5, 0.8, 0.6), "s")
    with pytest.raises(ValueError, match="canonical"):
        browse.payload(stored)
