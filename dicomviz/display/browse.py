"""The browsing view's payload: a canonical volume as bytes a viewer in the browser reads once.

The page's browser-side viewer (page/browse/viewer.js) scrolls, windows and projects slabs
without asking the server, so it needs the voxels themselves, once per stack. This module turns
a canonical volume (:func:`dicomviz.display.views.canonical`: axes (S, P, L)) into one message:

``b"DVZB"``, format (uint32 LE), JSON length n (uint32 LE), n bytes of UTF-8 JSON, zero padding
to a multiple of 8, then the body: the voxels as independent gzip members ("chunks", each a
run of whole canonical axial planes) that the browser's ``DecompressionStream('gzip')`` reads.
Inside a chunk the voxels are stored byte plane by byte plane (all first bytes, then all second
bytes, little-endian): CT's high bytes then compress to almost nothing, so a 300x512x512 CT
fits in about a third of its size at zlib's fastest run-length setting.

Values travel exactly: int16 as int16; float32 that holds only whole numbers in the int16 range
(a CT resampled across uneven gaps) as int16 with ``NO_DATA_INT16`` where it was NaN (no data);
any other float32 as float32, NaN kept. A volume over the wire budget (``DICOMVIZ_BROWSE_MB``,
64 MB by default) is sent reduced in-plane: every 2nd, 4th or 8th pixel of the acquired plane,
never fewer slices; the header says so, and a caller may ask for full resolution.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomviz.display import opening, windowing
from dicomviz.display.views import CANONICAL_AXES, make_view, plane_coordinates
from dicomviz.errors import BudgetError
from dicomviz.geometry import PLANES
from dicomviz.limits import bytes_text
from dicomviz.pixels.volume import Volume

__all__ = [
    "BUDGET_ENV",
    "FACTORS",
    "FORMAT",
    "MAGIC",
    "NO_DATA_INT16",
    "Payload",
    "budget_bytes",
    "decode_volume",
    "message",
    "payload",
    "read_message",
]

MAGIC = b"DVZB"
FORMAT = 1
BUDGET_ENV = "DICOMVIZ_BROWSE_MB"
DEFAULT_BUDGET_MB = 64.0
FACTORS = (1, 2, 4, 8)
"""In-plane reductions tried, in order, until the payload fits its budget."""
NO_DATA_INT16 = -32768
"""int16 stand-in for NaN (no data between distant slices); never a value of a volume sent as
int16, whose values are checked to lie in -32767..32767."""
CHUNK_BYTES = 4 << 20
"""Raw bytes per gzip member, about: small enough to compress on several threads and to
decompress while little else is held, large enough that the gzip framing costs nothing."""
# Normal axis of each plane on canonical (S, P, L) axes, as in views.make_view.
_NORMAL = {"axial": 0, "coronal": 1, "sagittal": 2}


@dataclass(frozen=True)
class Payload:
    """A volume ready for the browser: the JSON header and the gzip members of its voxels."""

    header: dict[str, Any]
    chunks: tuple[bytes, ...] = field(repr=False)
    digest: str
    """Names this exact payload (header and voxels): the browser keeps its volume by it."""

    @property
    def wire_bytes(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def factor(self) -> int:
        """The in-plane reduction: 1 (full resolution), 2, 4 or 8."""
        return max(self.header["step"])


def budget_bytes(environ: Mapping[str, str] | None = None) -> int:
    """Bytes the voxels may take on the wire, from ``DICOMVIZ_BROWSE_MB`` (default 64)."""
    environ = os.environ if environ is None else environ
    text = environ.get(BUDGET_ENV, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_BUDGET_MB
    except ValueError:
        raise ValueError(f"{BUDGET_ENV}={text!r} must be a number of megabytes") from None
    if not megabytes > 0:
        raise ValueError(f"{BUDGET_ENV}={text!r} must be a positive number of megabytes")
    return int(megabytes * 2**20)


def payload(
    canon: Volume,
    *,
    window: windowing.Window | None = None,
    budget: int | None = None,
    factor: int | None = None,
    workers: int = 1,
) -> Payload:
    """The browser's payload of a canonical volume, within ``budget`` bytes on the wire.

    ``factor`` forces an in-plane reduction (1: full resolution, whatever the budget, as when a
    person asks for it); otherwise the smallest of :data:`FACTORS` that fits is used. ``window``
    is the automatic window the viewer starts with (default: the opening picture's).
    ``workers`` threads compress (zlib lets go of the GIL). Raises BudgetError when even the
    largest reduction does not fit.
    """
    if canon.patient_axes != CANONICAL_AXES:
        raise ValueError("payload() takes a canonical volume (views.canonical)")
    budget = budget_bytes() if budget is None else budget
    dtype, no_data = _transport(canon.array)
    if factor is not None:
        return _build(canon, factor, dtype, no_data, window, workers)
    ratio = _sample_ratio(canon, dtype)
    for f in FACTORS:
        raw = _reduced(canon.array, canon.slice_axis, f).size * dtype.itemsize
        if f != FACTORS[-1] and raw / ratio > budget * 0.95:
            continue  # predicted too large: do not spend the time compressing it
        built = _build(canon, f, dtype, no_data, window, workers)
        if built.wire_bytes <= budget:
            return built
    raise BudgetError(
        canon.stack_id,
        f"the browsing view needs more than {bytes_text(budget)} even at every "
        f"{FACTORS[-1]}th pixel (raise {BUDGET_ENV})",
    )


def message(digest: str, control: Mapping[str, Any], sent: Payload | None = None) -> bytes:
    """One message for the viewer: the payload's header and voxels when ``sent``, else only
    ``digest`` (the browser already holds that volume) and the small ``control`` record."""
    doc = {"digest": digest, "control": dict(control), "volume": sent.header if sent else None}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    head = MAGIC + struct.pack("<II", FORMAT, len(text)) + text
    head += b"\0" * (-len(head) % 8)
    return b"".join([head, *(sent.chunks if sent else ())])


def read_message(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """(JSON document, body) of a :func:`message`; what the viewer does first, for tests."""
    if data[:4] != MAGIC:
        raise ValueError("not a dicomviz browse message")
    version, length = struct.unpack_from("<II", data, 4)
    if version != FORMAT:
        raise ValueError(f"browse message format {version}, expected {FORMAT}")
    doc = json.loads(bytes(data[12 : 12 + length]))
    start = 12 + length + (-(12 + length) % 8)
    return doc, memoryview(data)[start:]


def decode_volume(header: Mapping[str, Any], body: bytes | memoryview) -> np.ndarray:
    """The canonical (reduced) array a payload carries, as the viewer rebuilds it; int16 with
    the no-data marker comes back as float32 with NaN, like the volume it came from."""
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    parts, offset = [], 0
    for size in header["chunks"]:
        raw = np.frombuffer(zlib.decompress(body[offset : offset + size], 31), np.uint8)
        parts.append(raw.reshape(dtype.itemsize, -1).T.copy().view(dtype).reshape(-1))
        offset += size
    array = np.concatenate(parts).reshape(header["shape"])
    if header["no_data"] == NO_DATA_INT16:
        values = array.astype(np.float32)
        values[array == NO_DATA_INT16] = np.nan
        return values
    return array


# ---------- building ----------


def _transport(array: np.ndarray) -> tuple[np.dtype, int | str | None]:
    """(dtype on the wire, no-data marker): int16 whenever that is exact, else float32."""
    if array.dtype == np.int16:
        return np.dtype("<i2"), None
    if array.dtype.kind in "iub" and array.size and -32767 <= array.min() <= array.max() <= 32767:
        return np.dtype("<i2"), None
    if array.dtype.kind == "f" and _whole_int16(array):
        return np.dtype("<i2"), NO_DATA_INT16 if np.isnan(array).any() else None
    return np.dtype("<f4"), "NaN" if array.dtype.kind == "f" else None


def _whole_int16(array: np.ndarray) -> bool:
    """Whether every finite value is a whole number in -32767..32767 (a block at a time)."""
    for block in _blocks(array):
        finite = block[np.isfinite(block)]
        if finite.size == 0:
            continue
        if finite.min() < -32767 or finite.max() > 32767 or (finite != np.rint(finite)).any():
            return False
        if np.isinf(block).any():
            return False
    return True


def _blocks(array: np.ndarray, planes: int = 16) -> Iterator[np.ndarray]:
    for start in range(0, array.shape[0], planes):
        yield array[start : start + planes]


def _reduced(array: np.ndarray, slice_axis: int, factor: int) -> np.ndarray:
    """Every ``factor``-th pixel along the two in-plane axes (those other than the axis the
    slices were stacked along): a view, no copy."""
    index = [slice(None, None, 1 if axis == slice_axis else factor) for axis in range(3)]
    return array[tuple(index)]


def _planes_per_chunk(shape: tuple[int, ...], itemsize: int) -> int:
    return max(1, CHUNK_BYTES // max(1, shape[1] * shape[2] * itemsize))


def _chunk(block: np.ndarray, dtype: np.dtype, no_data: int | str | None) -> bytes:
    """One gzip member: the block in the wire dtype, byte plane by byte plane."""
    if no_data == NO_DATA_INT16:
        block = np.where(np.isnan(block), NO_DATA_INT16, block)
    values = np.ascontiguousarray(block, dtype=dtype).reshape(-1)
    planes = np.ascontiguousarray(values.view(np.uint8).reshape(-1, dtype.itemsize).T)
    # Z_RLE at level 1: as small as level 6 on byte planes of CT, five times faster.
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31, 9, zlib.Z_RLE)
    return deflate.compress(planes) + deflate.flush()


def _sample_ratio(canon: Volume, dtype: np.dtype) -> float:
    """Compression ratio of a few chunks spread over the full-resolution volume (a cheap
    prediction that spares compressing a volume that will not fit)."""
    array = canon.array
    per = _planes_per_chunk(array.shape, dtype.itemsize)
    starts = list(range(0, array.shape[0], per))
    chosen = starts[:: max(1, len(starts) // 3)][:3]
    no_data = NO_DATA_INT16 if dtype.kind == "i" and array.dtype.kind == "f" else None
    raw = packed = 0
    for start in chosen:
        block = array[start : start + per]
        raw += block.size * dtype.itemsize
        packed += len(_chunk(block, dtype, no_data))
    return raw / max(packed, 1)


def _build(
    canon: Volume,
    factor: int,
    dtype: np.dtype,
    no_data: int | str | None,
    window: windowing.Window | None,
    workers: int,
) -> Payload:
    if factor not in FACTORS:
        raise ValueError(f"factor {factor} is not one of {FACTORS}")
    array = _reduced(canon.array, canon.slice_axis, factor)
    per = _planes_per_chunk(array.shape, dtype.itemsize)
    blocks = [array[start : start + per] for start in range(0, array.shape[0], per)]
    if workers > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(workers) as pool:
            chunks = tuple(pool.map(lambda b: _chunk(b, dtype, no_data), blocks))
    else:
        chunks = tuple(_chunk(b, dtype, no_data) for b in blocks)
    header = _header(canon, array, factor, dtype, no_data, window, chunks, per)
    digest = hashlib.blake2b(json.dumps(header, sort_keys=True).encode(), digest_size=16)
    for chunk in chunks:
        digest.update(chunk)
    return Payload(header, chunks, digest.hexdigest())


def _header(
    canon: Volume,
    array: np.ndarray,
    factor: int,
    dtype: np.dtype,
    no_data: int | str | None,
    window: windowing.Window | None,
    chunks: tuple[bytes, ...],
    planes_per_chunk: int,
) -> dict[str, Any]:
    step = [1 if axis == canon.slice_axis else factor for axis in range(3)]
    axes = []
    for plane in PLANES:  # axial, coronal, sagittal: normals along canonical axes 0, 1, 2
        normal = plane_coordinates(canon, plane)[2]
        axis = _NORMAL[plane]
        axes.append({"name": normal.name, "start": normal.start, "step": normal.step * step[axis]})
    labels = {}
    for plane in PLANES:
        edge = make_view(canon, plane, index=0).labels  # one slice: labels without a projection
        labels[plane] = [edge.top, edge.bottom, edge.left, edge.right]
    automatic = window or opening.picture_window(canon)[0]
    presets = windowing.presets_for(canon.modality)
    return {
        "format": FORMAT,
        "shape": list(array.shape),
        "full_shape": list(canon.shape),
        "step": step,
        "dtype": "int16" if dtype.kind == "i" else "float32",
        "byte_planes": True,
        "chunks": [len(c) for c in chunks],
        "planes_per_chunk": planes_per_chunk,
        "spacing": [float(canon.spacing[axis]) * step[axis] for axis in range(3)],
        "axes": axes,
        "units": canon.units,
        "modality": canon.modality,
        "oriented": bool(canon.oriented),
        "labels": labels,
        "window": [float(automatic.center), float(automatic.width)],
        "presets": {name.capitalize(): [w.center, w.width] for name, w in presets.items()},
        "no_data": no_data,
        "raw_bytes": int(array.size * dtype.itemsize),
        "full_raw_bytes": int(canon.array.size * dtype.itemsize),
        "wire_bytes": sum(len(c) for c in chunks),
    }
