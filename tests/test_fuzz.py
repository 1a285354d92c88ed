"""Mutation fuzzing: real DICOM files with flipped bytes, cut ends, damaged element lengths,
swapped VRs and hostile pixel-module values must fail only with dicomviz's own errors.

Every case is reproducible from its id alone: ``MR_small.dcm#137`` is case 137 of that
source, drawn from ``np.random.default_rng([SEED, source number, 137])``; rerun one, with its
traceback, by ``PYTHONPATH=. python tests/test_fuzz.py 'MR_small.dcm#137'``.

For each case: ``load`` the mutated bytes, build every stack it gives and make one view.
Anything but a DicomvizError is a failure, as is a case slower than 5 s, or one that allocates
past the volume budget. Memory is watched two ways: tracemalloc (Python and numpy allocations;
on every ``MEMORY_EVERY``-th case only, since it slows the traced case several times), and on
every case the growth of the process's peak resident size, which also sees what C decoders
allocate. The numbers of the last run are written to ``test-artifacts/fuzz.json``.
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

import dicomviz
from dicomviz import DicomvizError, Limits

SEED = 20260415
BUDGET = Limits(volume_bytes=256 * 1024**2)
MEMORY_MARGIN = 64 * 1024**2
"""Allowed over the budget: the input bytes, parsed headers and one decoded frame."""
MEMORY_EVERY = 4
SLOWEST_ALLOWED = 5.0
ARTIFACT = Path(__file__).resolve().parent.parent / "test-artifacts" / "fuzz.json"

# (file, cases): small files of many encodings (each case takes about a millisecond), and a
# few larger ones for multi-frame, enhanced and colour layouts.
SOURCES: tuple[tuple[str, int], ...] = (
    ("MR_small.dcm", 1200),  # explicit VR little endian, 16-bit signed
    ("MR_small_implicit.dcm", 800),
    ("MR_small_bigendian.dcm", 800),
    ("MR_small_RLE.dcm", 1200),  # pylibjpeg-rle: the Rust decoder that can panic
    ("MR_small_jpeg_ls_lossless.dcm", 800),
    ("MR_small_jp2klossless.dcm", 800),
    ("JPEG2000.dcm", 600),
    ("JPEG-lossy.dcm", 600),
    ("JPEGLSNearLossless_16.dcm", 600),
    ("SC_rgb_small_odd.dcm", 600),  # colour, odd size
    ("SC_rgb_rle_16bit_2frame.dcm", 800),  # colour, multi-frame RLE
    ("SC_ybr_full_422_uncompressed.dcm", 300),
    ("image_dfl.dcm", 600),  # deflated transfer syntax
    ("ExplVR_LitEndNoMeta.dcm", 500),  # bare dataset, no meta group
    ("rtdose_rle.dcm", 600),  # classic multi-frame, 32-bit, RLE
    ("examples_palette.dcm", 200),  # palette colour
    ("CT_small.dcm", 500),
    ("emri_small_RLE.dcm", 300),  # data_store: 10-frame MR
    ("eCT_Supplemental.dcm", 200),  # data_store: enhanced CT, functional groups
    ("OBXXXX1A_rle.dcm", 200),  # data_store: 8-bit RGB RLE
)
TOTAL_CASES = sum(cases for _, cases in SOURCES)

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"}
_SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO",
               b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}  # fmt: skip
_VRS = [*sorted(_LONG_VRS | _SHORT_VRS), b"ZZ", b"\x00\x00"]  # and two that are no VR at all
_US_VALUES = (0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 32, 33, 64, 255, 0x8000, 0xFFFF)
_TEXT_VALUES = (b"0", b"-1", b"2", b"99999", b"1e9", b"NaN", b"65536", b"\\\\")


@dataclass(frozen=True)
class Anchor:
    """Where one element of the intact file sits: its length field, VR and value."""

    tag: int
    length_at: int
    length_size: int
    vr_at: int | None
    """Offset of the two VR characters (explicit VR only)."""
    value_at: int
    value_length: int


@dataclass
class Source:
    name: str
    number: int
    data: bytes = field(repr=False)
    anchors: list[Anchor] = field(repr=False)


def _source_path(name: str) -> str:
    import data_store

    stored = Path(os.path.dirname(data_store.__file__)) / "data" / name
    return str(stored) if stored.exists() else get_testdata_file(name)


def anchors_of(data: bytes) -> list[Anchor]:
    """Every element header pydicom finds in the intact file, down to three sequence levels."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True, defer_size=64)
    found: list[Anchor] = []
    for part in (ds.file_meta, ds):
        _collect(part, data, found, depth=0)
    return found


def _collect(ds: Dataset, data: bytes, found: list[Anchor], depth: int) -> None:
    for tag in list(ds.keys()):
        elem = ds.get_item(tag, keep_deferred=True)
        at = getattr(elem, "value_tell", None) or getattr(elem, "file_tell", None)
        if at is None or at < 8:
            continue
        length = getattr(elem, "length", 0) or 0
        if data[at - 8 : at - 6] in _LONG_VRS and data[at - 6 : at - 4] == b"\0\0":
            found.append(Anchor(int(tag), at - 4, 4, at - 8, at, length))
        elif data[at - 4 : at - 2].isalpha() and data[at - 4 : at - 2].isupper():
            found.append(Anchor(int(tag), at - 2, 2, at - 4, at, length))
        else:
            found.append(Anchor(int(tag), at - 4, 4, None, at, length))
        if depth < 3:
            try:
                items = ds[tag].value if ds[tag].VR == "SQ" else []
            except Exception:
                items = []
            for item in items:
                _collect(item, data, found, depth + 1)


def mutate(source: Source, rng: np.random.Generator, *, depth: int = 0) -> tuple[str, bytes]:
    """One mutation of the intact file, chosen and placed by ``rng``; returns (kind, bytes)."""
    kind = str(rng.choice(["flip", "truncate", "length", "vr", "value", "several"]))
    data, anchors = source.data, source.anchors
    if kind == "several" and depth == 0:
        mutated = data
        for _ in range(int(rng.integers(2, 4))):
            mutated = mutate(Source(source.name, source.number, mutated, anchors), rng, depth=1)[1]
        return kind, mutated
    out = bytearray(data)
    if kind == "truncate":
        return kind, data[: int(rng.integers(len(data)))]
    if kind == "flip" or kind == "several":
        for _ in range(int(rng.integers(1, 9))):
            # Mostly in the header, where a flip changes meaning rather than a pixel.
            span = len(out) if rng.random() < 0.3 else min(len(out), 4096)
            i = int(rng.integers(span))
            out[i] = int(rng.choice([out[i] ^ int(rng.integers(1, 256)), 0, 0xFF]))
        return "flip", bytes(out)
    if kind == "length":
        anchor = anchors[int(rng.integers(len(anchors)))]
        at, size = anchor.length_at, anchor.length_size
        full = (1 << (8 * size)) - 1
        old = int.from_bytes(out[at : at + size], "little")
        choices = [0, 1, 3, full, full - 1, old + 1, max(old - 1, 0), old * 2, old + 8, 0x7FFFFFFF]
        new = int(rng.choice([*choices, int(rng.integers(0, full))])) & full
        out[at : at + size] = new.to_bytes(size, "little")
        return kind, bytes(out)
    if kind == "vr":
        explicit = [a for a in anchors if a.vr_at is not None]
        if explicit:
            at = explicit[int(rng.integers(len(explicit)))].vr_at
            out[at : at + 2] = _VRS[int(rng.integers(len(_VRS)))]  # type: ignore[index]
            return kind, bytes(out)
    # "value", or "vr" in an implicit VR file: a hostile number in the image pixel module.
    pixel_module = [a for a in anchors if a.tag >> 16 == 0x0028 and a.tag & 0xFFFF < 0x0200]
    if not pixel_module:
        return "truncate", data[: int(rng.integers(len(data)))]
    anchor = pixel_module[int(rng.integers(len(pixel_module)))]
    at, size = anchor.value_at, anchor.value_length
    if size == 2:
        out[at : at + 2] = int(rng.choice(_US_VALUES)).to_bytes(2, "little")
    elif 0 < size <= 64:
        text = _TEXT_VALUES[int(rng.integers(len(_TEXT_VALUES)))]
        out[at : at + size] = (text + b" " * size)[:size]
    return "value", bytes(out)


def run_case(name: str, data: bytes) -> tuple[int, int]:
    """What a user's upload goes through: load, build every stack, look at one view.

    Returns the number of stacks and of reader or decoder crashes (Rust panics) caught.
    """
    study = dicomviz.load([(name, data)], BUDGET)
    crashes = sum("crashed" in item.reason for item in study.skipped)
    for stack in study.stacks:
        volume = dicomviz.build_volume(stack, BUDGET)
        crashes += sum("crashed" in warning for warning in volume.warnings)
        dicomviz.make_view(volume, "coronal", "max")
    return len(study.stacks), crashes


@dataclass
class Outcome:
    case_id: str
    kind: str
    seconds: float
    peak_bytes: int | None
    rss_growth: int
    """How far the process's peak resident size rose during the case (bytes)."""
    error: str | None
    stacks: int
    crashes_caught: int


def run_one(source: Source, index: int, *, trace_memory: bool) -> Outcome:
    rng = np.random.default_rng([SEED, source.number, index])
    kind, mutated = mutate(source, rng)
    case_id = f"{source.name}#{index}"
    tracing_before = tracemalloc.is_tracing()  # e.g. python -X tracemalloc: leave it on
    if trace_memory:
        if not tracing_before:
            tracemalloc.start()
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
    error, stacks, crashes = None, 0, 0
    rss_before = _peak_rss()
    start = time.perf_counter()
    try:
        stacks, crashes = run_case(source.name, mutated)
    except DicomvizError:
        pass
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the point of the test: anything else is a finding
        error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    seconds = time.perf_counter() - start
    rss_growth = _peak_rss() - rss_before
    peak = None
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1] - baseline
        if not tracing_before:
            tracemalloc.stop()
    return Outcome(case_id, kind, seconds, peak, rss_growth, error, stacks, crashes)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@pytest.fixture(scope="module")
def outcomes() -> Iterator[list[Outcome]]:
    """Every case's outcome; written as a summary to test-artifacts/fuzz.json at the end."""
    collected: list[Outcome] = []
    yield collected
    if not collected:
        return
    slowest = max(collected, key=lambda o: o.seconds)
    traced = [o for o in collected if o.peak_bytes is not None]
    biggest = max(traced, key=lambda o: o.peak_bytes or 0, default=None)
    grew = max(collected, key=lambda o: o.rss_growth)
    summary = {
        "cases": len(collected),
        "failures": [f"{o.case_id} ({o.kind}): {o.error}" for o in collected if o.error],
        "cases_with_stacks": sum(o.stacks > 0 for o in collected),
        "reader_crashes_caught": sum(o.crashes_caught for o in collected),
        "max_seconds": round(slowest.seconds, 3),
        "slowest_case": slowest.case_id,
        "total_seconds": round(sum(o.seconds for o in collected), 1),
        "memory_traced_cases": len(traced),
        "max_peak_mib": round((biggest.peak_bytes or 0) / 1024**2, 1) if biggest else None,
        "max_peak_case": biggest.case_id if biggest else None,
        "max_peak_rss_growth_mib": round(grew.rss_growth / 1024**2, 1),
        "max_peak_rss_growth_case": grew.case_id,
        "budget_mib": BUDGET.volume_bytes / 1024**2,
    }
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(summary, indent=2))


def _source(number: int) -> Source:
    name = SOURCES[number][0]
    data = Path(_source_path(name)).read_bytes()
    return Source(name, number, data, anchors_of(data))


def test_plan_has_enough_cases() -> None:
    assert TOTAL_CASES >= 2000


@pytest.mark.parametrize("number", range(len(SOURCES)), ids=[name for name, _ in SOURCES])
def test_mutations_fail_only_with_dicomviz_errors(number: int, outcomes: list[Outcome]) -> None:
    source = _source(number)
    results = [
        run_one(source, index, trace_memory=index % MEMORY_EVERY == 0)
        for index in range(SOURCES[number][1])
    ]
    outcomes.extend(results)
    failures = [f"{o.case_id} ({o.kind}): {o.error}" for o in results if o.error]
    assert not failures, f"{len(failures)} cases raised:\n" + "\n".join(failures[:20])
    slowest = max(results, key=lambda o: o.seconds)
    assert slowest.seconds < SLOWEST_ALLOWED, f"{slowest.case_id} took {slowest.seconds:.1f} s"
    traced = [o for o in results if o.peak_bytes is not None]
    biggest = max(traced, key=lambda o: o.peak_bytes or 0)
    assert (biggest.peak_bytes or 0) < BUDGET.volume_bytes + MEMORY_MARGIN, (
        f"{biggest.case_id} allocated {biggest.peak_bytes} bytes at its peak"
    )
    grew = max(results, key=lambda o: o.rss_growth)
    assert grew.rss_growth < BUDGET.volume_bytes + MEMORY_MARGIN, (
        f"{grew.case_id} raised the peak resident size by {grew.rss_growth} bytes"
    )


def _reproduce(case_id: str) -> None:
    """Run one case by id, with its full traceback, e.g. ``MR_small.dcm#137``."""
    name, index = case_id.rsplit("#", 1)
    number = [n for n, _ in SOURCES].index(name)
    source = _source(number)
    kind, mutated = mutate(source, np.random.default_rng([SEED, number, int(index)]))
    print(f"{case_id}: {kind}, {len(mutated)} bytes")
    study = dicomviz.load([(name, mutated)], BUDGET)
    print(f"stacks: {len(study.stacks)}; skipped: {list(study.skipped)}")
    print(f"stacks built, crashes caught: {run_case(name, mutated)}")


if __name__ == "__main__":
    _reproduce(sys.argv[1])
