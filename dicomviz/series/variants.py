"""What tells apart images taken at the same position: echo, time point, diffusion, image type.

A 4-D series (a diffusion scan of 40 positions x 13 volumes, a dual-echo MR, an fMRI time series,
an enhanced file of magnitude and field-map frames) holds several images at each position. They
are several volumes, not duplicates; the attributes read here say which volume each belongs to,
and name it for a person ("b=1500, direction 7", "TE 92 ms", "field map (Hz)").

Values come from the standard attributes (top level, or the frame's functional groups in an
enhanced file) and, for diffusion, from where vendors put them: Siemens, GE and Philips private
elements, Canon's ImageComments (``b=1500(0.895,0.000,0.445)``).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydicom.dataset import Dataset

from dicomviz.io.header import Values, first_item

Vector = tuple[float, float, float]
_CANON_DIFFUSION = re.compile(
    r"b\s*=\s*(\d+(?:\.\d*)?)\s*(?:\(\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*\))?"
)
# ImageType / FrameType value 3 or 4 words as a person says them.
_IMAGE_KINDS = {
    "M": "magnitude",
    "MAGNITUDE": "magnitude",
    "P": "phase",
    "PHASE": "phase",
    "R": "real",
    "REAL": "real",
    "I": "imaginary",
    "IMAGINARY": "imaginary",
    "FIELD_MAP": "field map",
    "B0_MAP": "field map",
    "B0MAP": "field map",
    "ADC": "ADC map",
    "FA": "FA map",
    "TRACEW": "trace",
    "T1_MAP": "T1 map",
    "T2_MAP": "T2 map",
}


@dataclass(frozen=True)
class Variant:
    """Attributes of one image that may differ between volumes at the same positions (None or
    empty where the file does not say)."""

    echo_number: int | None = None
    echo_time: float | None = None
    temporal: int | None = None
    trigger_time: float | None = None
    acquisition: int | None = None
    image_type: tuple[str, ...] = ()
    b_value: float | None = None
    direction: Vector | None = None
    stack_id: str | None = None
    units: str = ""
    """Units of the rescaled values when the file names them (e.g. 'Hz' for a field map)."""
    order: tuple[int, int] = (0, 0)
    """(InstanceNumber, frame number): the acquisition order, the last thing to go by."""

    @property
    def has_diffusion(self) -> bool:
        return self.b_value is not None


def variant_of(ds: Values, frame: int = 0) -> Variant:
    """A single-frame or classic multi-frame image's variant, from its top-level attributes.

    ``ds`` answers ``get(keyword)``: the file's header record (or a pydicom Dataset).
    """
    b_value = _number(ds.get("DiffusionBValue"))
    direction = _vector(ds.get("DiffusionGradientOrientation"))
    if b_value is None or direction is None:  # Canon says both in ImageComments
        found_b, direction = _canon_diffusion(ds.get("ImageComments"), direction)
        b_value = found_b if b_value is None else b_value
    return Variant(
        echo_number=_integer(ds.get("EchoNumbers")),
        echo_time=_number(ds.get("EchoTime")),
        temporal=_integer(ds.get("TemporalPositionIdentifier")),
        trigger_time=_number(ds.get("TriggerTime")),
        acquisition=_integer(ds.get("AcquisitionNumber")),
        image_type=_words(ds.get("ImageType")),
        b_value=b_value,
        direction=direction,
        units=_units(ds.get("RescaleType")),
        order=(_integer(ds.get("InstanceNumber")) or 0, frame),
    )


def variant_of_groups(ds: Values, frame: int, group: Callable[[str], Dataset | None]) -> Variant:
    """An enhanced multi-frame image's variant: its functional groups first (``group`` gives the
    frame's own item of a functional group sequence, else the shared one), then the top level."""
    base = variant_of(ds, frame)
    content = group("FrameContentSequence")
    echo = group("MREchoSequence")
    kind = group("MRImageFrameTypeSequence") or group("CTImageFrameTypeSequence")
    diffusion = group("MRDiffusionSequence")
    cardiac = group("CardiacSynchronizationSequence")
    transform = group("PixelValueTransformationSequence")
    b_value, direction = base.b_value, base.direction
    if diffusion is not None:
        b_value = _number(diffusion.get("DiffusionBValue"))
        gradient = first_item(diffusion.get("DiffusionGradientDirectionSequence"))
        direction = _vector(gradient.get("DiffusionGradientOrientation")) if gradient else None
    return replace(
        base,
        echo_time=_number(echo.get("EffectiveEchoTime")) if echo else base.echo_time,
        temporal=_integer(content.get("TemporalPositionIndex")) if content else base.temporal,
        acquisition=_integer(content.get("FrameAcquisitionNumber"))
        if content and "FrameAcquisitionNumber" in content
        else base.acquisition,
        stack_id=str(content.get("StackID") or "") or None if content else None,
        trigger_time=_number(cardiac.get("NominalCardiacTriggerDelayTime"))
        if cardiac
        else base.trigger_time,
        image_type=_words(kind.get("FrameType")) if kind else base.image_type,
        b_value=b_value,
        direction=direction,
        units=_mapped_units(group("RealWorldValueMappingSequence"))
        or (_units(transform.get("RescaleType")) if transform else "")
        or base.units,
    )


def with_vendor_diffusion(variant: Variant, ds: Dataset) -> Variant:
    """The variant with diffusion values from vendors' private elements, where the standard
    ones are missing (read from the whole header, which only pydicom parses)."""
    if variant.b_value is not None:
        return variant
    for reader in (_siemens, _ge, _philips):
        try:
            found = reader(ds)
        except Exception:  # a damaged private element says nothing, it breaks nothing
            found = None
        if found is not None:
            return replace(variant, b_value=found[0], direction=found[1])
    return variant


# ---- facets: the ways volumes can differ, most telling first ---------------------------------


@dataclass(frozen=True)
class Facet:
    """One way images at a position can differ: a key to group by and a label for a group."""

    name: str
    key: Callable[[Variant], Any]


def _diffusion_key(v: Variant) -> Any:
    if v.b_value is None:
        return None
    direction = None if v.direction is None else tuple(round(c, 3) for c in v.direction)
    return (round(v.b_value, 1), direction)


FACETS: tuple[Facet, ...] = (
    Facet("image type", lambda v: v.image_type),
    Facet("echo", lambda v: (v.echo_number, v.echo_time)),
    Facet("time point", lambda v: v.temporal),
    Facet("diffusion b-value and direction", _diffusion_key),
    Facet("stack", lambda v: v.stack_id),
    Facet("acquisition number", lambda v: v.acquisition),
    Facet("trigger time", lambda v: v.trigger_time),
)


def labels(facets: Sequence[Facet], groups: Sequence[Sequence[Variant]]) -> list[str]:
    """A short label per group of images (one volume each), from the facets that split them.

    Diffusion directions are numbered per b-value in the order the groups come (acquisition
    order), as scanners list them."""
    firsts = [group[0] for group in groups]
    kinds = _distinguishing_kinds(firsts)
    directions: dict[float, list[Any]] = {}
    out = []
    for first in firsts:
        parts = []
        for facet in facets:
            parts.append(_facet_label(facet, first, kinds, directions))
        out.append(", ".join(p for p in parts if p))
    return out


def _facet_label(
    facet: Facet, v: Variant, kinds: dict[tuple[str, ...], str], directions: dict
) -> str:
    if facet.name == "echo":
        return f"TE {v.echo_time:g} ms" if v.echo_time is not None else f"echo {v.echo_number}"
    if facet.name == "time point":
        return f"time point {v.temporal}"
    if facet.name.startswith("diffusion"):
        return _diffusion_label(v, directions)
    if facet.name == "image type":
        kind = kinds.get(v.image_type, "/".join(v.image_type).lower() or "no image type")
        return f"{kind} ({v.units})" if v.units and kind != "magnitude" else kind
    if facet.name == "stack":
        return f"stack {v.stack_id}"
    if facet.name == "acquisition number":
        return f"acquisition {v.acquisition}"
    return f"trigger {v.trigger_time:g} ms" if v.trigger_time is not None else "no trigger time"


def _diffusion_label(v: Variant, directions: dict[float, list[Any]]) -> str:
    if v.b_value is None:
        return "no b-value"
    b = round(v.b_value, 1)
    if b == 0 or v.direction is None or not any(abs(c) > 1e-6 for c in v.direction):
        return f"b={b:g}"
    seen = directions.setdefault(b, [])
    key = tuple(round(c, 3) for c in v.direction)
    if key not in seen:
        seen.append(key)
    return f"b={b:g}, direction {seen.index(key) + 1}"


def _distinguishing_kinds(variants: Sequence[Variant]) -> dict[tuple[str, ...], str]:
    """Each ImageType by the value that differs between the groups ('M' vs 'FIELD_MAP')."""
    types = list(dict.fromkeys(v.image_type for v in variants))
    width = max((len(t) for t in types), default=0)
    differing = [i for i in range(width) if len({t[i] if i < len(t) else "" for t in types}) > 1]
    kinds = {}
    for t in types:
        words = [t[i] for i in differing if i < len(t)]
        kinds[t] = " ".join(_IMAGE_KINDS.get(w.upper(), w.lower()) for w in words) or "image"
    return kinds


# ---- value readers ---------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == int(number) else None


def _vector(value: Any) -> Vector | None:
    try:
        items = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(items) != 3 or not all(math.isfinite(v) for v in items):
        return None
    return (items[0], items[1], items[2])


def _words(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split("\\"))
    try:
        return tuple(str(v).strip() for v in value)
    except TypeError:
        return (str(value),)


def _units(rescale_type: Any) -> str:
    """RescaleType names units, except the 'US' (unspecified) most MR files carry."""
    text = str(rescale_type or "").strip()
    return "" if text.upper() in ("", "US", "UNSPECIFIED") else text


def _mapped_units(mapping: Dataset | None) -> str:
    units = first_item(mapping.get("MeasurementUnitsCodeSequence")) if mapping else None
    code = str(units.get("CodeValue") or "") if units else ""
    return "" if code in ("", "1") else code


def _canon_diffusion(comments: Any, direction: Vector | None) -> tuple[float | None, Vector | None]:
    if not isinstance(comments, str):
        return None, direction
    found = _CANON_DIFFUSION.search(comments)
    if found is None:
        return None, direction
    b_value = float(found.group(1))
    if found.group(2) is not None:
        direction = _vector(found.group(2, 3, 4))
    return b_value, direction


def _private(ds: Dataset, group: int, creator: str, offset: int) -> Any:
    """A private element's value by its creator (the block number differs between files)."""
    try:
        element = ds.private_block(group, creator)[offset]
    except KeyError:
        return None
    return element.value


def _floats_from(value: Any, count: int) -> list[float] | None:
    """Numbers from a private value that pydicom may have left as bytes (VR UN)."""
    if isinstance(value, bytes):
        if len(value) == 8 * count:
            return list(struct.unpack(f"<{count}d", value))
        if len(value) == 4 * count:
            return list(struct.unpack(f"<{count}f", value))
        value = value.decode("ascii", "replace").strip("\0 ").split("\\")
    if isinstance(value, str):
        value = value.split("\\")
    if not isinstance(value, list | tuple) and type(value).__name__ != "MultiValue":
        value = [value]
    try:
        numbers = [float(v) for v in value][:count]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _siemens(ds: Dataset) -> tuple[float, Vector | None] | None:
    b_value = _floats_from(_private(ds, 0x0019, "SIEMENS MR HEADER", 0x0C), 1)
    if b_value is None:
        return None
    direction = _floats_from(_private(ds, 0x0019, "SIEMENS MR HEADER", 0x0E), 3)
    return b_value[0], _vector(direction) if direction else None


def _ge(ds: Dataset) -> tuple[float, Vector | None] | None:
    values = _floats_from(_private(ds, 0x0043, "GEMS_PARM_01", 0x39), 1)
    if values is None:
        return None
    b_value = values[0] % 1e9 if values[0] >= 1e9 else values[0]  # GE adds 10^9 to flag it
    parts = [_floats_from(_private(ds, 0x0019, "GEMS_ACQU_01", k), 1) for k in (0xBB, 0xBC, 0xBD)]
    direction = _vector([p[0] for p in parts]) if all(parts) else None  # type: ignore[index]
    return b_value, direction


def _philips(ds: Dataset) -> tuple[float, Vector | None] | None:
    b_value = _floats_from(_private(ds, 0x2001, "Philips Imaging DD 001", 0x03), 1)
    if b_value is None:
        return None
    parts = [
        _floats_from(_private(ds, 0x2005, "Philips MR Imaging DD 004", k), 1)
        for k in (0xB0, 0xB1, 0xB2)
    ]
    direction = _vector([p[0] for p in parts]) if all(parts) else None  # type: ignore[index]
    return b_value[0], direction
