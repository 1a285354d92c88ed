"""Stack frames into one 3-D array with its affine, values rescaled to physical units.

Memory: the output is allocated once and filled slice by slice from views into the input bytes,
so the peak is about one volume plus the inputs. Integer rescale results stay int16 when they fit
(CT in HU always does); anything else becomes float32.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from dicomviz.errors import BudgetError, describe
from dicomviz.geometry import make_affine, nearest_patient_axes, obliquity_degrees
from dicomviz.limits import Limits, bytes_text
from dicomviz.notes import Note
from dicomviz.pixels.decode import (
    frame_values,
    is_colour,
    read_stored_into,
    stored_range,
)
from dicomviz.pixels.pool import DecoderCrashed, decode_all, worth_pooling
from dicomviz.series.frames import Frame
from dicomviz.series.mosaic import tile as mosaic_tile
from dicomviz.series.stacks import Stack

Progress = Callable[[float, str], None]
_INT16 = np.iinfo(np.int16)
NO_DATA = "(no data)"
"""Name of a plane between slices farther apart than their thickness; its voxels are NaN."""


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D array and the affine that puts every voxel in LPS mm, with what its values mean.

    As built from a stack the array axes are (slice, row, col). Reoriented onto patient axes
    (``dicomviz.display.views.canonical``) it is still a Volume: the array is a numpy view, the
    affine and spacing follow it and every other field is kept, so the code downstream takes
    one type and the array and its affine never drift apart. Valid once constructed.
    """

    array: np.ndarray = field(repr=False)
    affine: np.ndarray = field(repr=False)
    """4x4, from array indices to LPS mm."""
    spacing: tuple[float, float, float]
    """mm between neighbours along each array axis; along the slice axis that is the distance
    between slice planes (along their normal, from positions)."""
    stack_id: str
    modality: str = ""
    units: str = ""
    description: str = ""
    file_window: tuple[float, float] | None = None
    """(center, width) the file itself suggests, if any."""
    padding_value: float | None = None
    """Rescaled PixelPaddingValue: fills outside the scan's field of view, not tissue."""
    slice_names: tuple[str, ...] = ()
    """The file behind each plane along ``slice_axis`` (NO_DATA between distant slices), in
    array order; empty when planes are not slices of files (e.g. resampled)."""
    warnings: tuple[str, ...] = ()
    oriented: bool = True
    """False when the files do not say which way the images face: no direction labels then."""
    body_part: str = ""
    """BodyPartExamined, as the file says it (upper case), for choosing a CT window."""
    slice_axis: int = 0
    """The array axis the slices were stacked along (0 as built; wherever reorienting moved
    it). Under gantry tilt its step leans off the slice normal, so orientation questions
    take the normal of the other two axes for it."""

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"volume array must be 3-D, got shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")
        if len(self.spacing) != 3:
            raise ValueError(f"spacing must give 3 values, got {self.spacing}")
        if self.slice_axis not in (0, 1, 2):
            raise ValueError(f"slice_axis must be 0, 1 or 2, got {self.slice_axis}")
        if self.slice_names and len(self.slice_names) != self.array.shape[self.slice_axis]:
            raise ValueError("one slice name per slice")
        self.array.flags.writeable = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.array.shape  # type: ignore[return-value]

    def geometry(self) -> Volume:
        """The same volume without its pixels (one value broadcast to its shape): for what
        needs only where voxels are, such as a widget's callback, which Streamlit may keep
        long after the volume itself was let go."""
        blank = np.broadcast_to(np.zeros((), self.array.dtype), self.array.shape)
        return replace(self, array=blank)

    @cached_property
    def patient_axes(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """For each array axis, the patient axis (0 x, 1 y, 2 z) it runs nearest to and the
        sign (+1 towards L, P or S): what reorienting permutes and flips. Computed once."""
        order = self._slice_axis_first()
        axes, signs = nearest_patient_axes(self.affine[:, [*order, 3]])
        by_axis = dict(zip(order, zip(axes, signs, strict=True), strict=True))
        return (
            tuple(by_axis[a][0] for a in range(3)),  # type: ignore[return-value]
            tuple(by_axis[a][1] for a in range(3)),
        )

    @property
    def obliquity(self) -> float:
        """Degrees between the array axes and the patient axes they are nearest to (0 for a
        stack square to the patient, whatever its gantry tilt)."""
        return obliquity_degrees(self.affine[:, [*self._slice_axis_first(), 3]])

    def _slice_axis_first(self) -> list[int]:
        """Array axes with the slice axis first: geometry's helpers take the first column of an
        affine as the one that may lean (gantry tilt)."""
        return [self.slice_axis, *(a for a in range(3) if a != self.slice_axis)]


def build_volume(
    stack: Stack,
    limits: Limits | None = None,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
) -> Volume:
    """Decode, rescale and stack every frame of ``stack``.

    A frame that fails to decode leaves its slice at the volume's lowest value and is named in
    the volume's warnings; the rest of the stack still loads. Slow codecs decode in worker
    processes: ``workers`` of them made for this call (1: none), or on the caller's
    ``executor``, else on a pool shared by the process (see :mod:`dicomviz.pixels.pool`).
    """
    limits = limits or Limits()
    frames = stack.frames
    shape = (stack.depth, stack.rows, stack.columns)
    dtype = _output_dtype(frames, gaps=_has_gaps(stack))
    need = int(np.prod(shape)) * dtype.itemsize
    if need > limits.volume_bytes:
        raise BudgetError(
            stack.id,
            f"the volume {shape[0]} x {shape[1]} x {shape[2]} would take {bytes_text(need)}, "
            f"over {limits.describe('volume_bytes')}",
        )
    warnings = list(stack.warnings)
    array, failed = _fill(
        np.empty(shape, dtype=dtype), stack, warnings, progress, workers=workers, executor=executor
    )
    empty = [p for p, k in enumerate(stack.planes or ()) if k < 0]
    if empty:  # (an int16 volume has none: a grid with gaps is built as float32)
        array[empty] = np.nan
    if failed:
        _blank(array, failed)
    if is_colour(frames[0].file):
        warnings.append(
            Note(
                "colour image shown as luminance (0.299 R + 0.587 G + 0.114 B)",
                "colour",
                "A colour image, shown in grey (its brightness).",
            )
        )
    return _assemble(stack, array, warnings)


def _fill(
    array: np.ndarray,
    stack: Stack,
    warnings: list[str],
    progress: Progress | None,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Decode every frame into its plane(s); returns the array (widened to float32 if a slice
    needed it) and the planes whose frame could not be decoded."""
    frames = stack.frames
    failed: list[int] = []
    targets = _planes_of_frames(stack)
    mosaics = any(f.tile is not None for f in frames)
    pooling = worth_pooling(frames, workers=workers, executor=executor) and not mosaics
    pooled = decode_all(frames, workers=workers, executor=executor) if pooling else None
    decoded: dict[tuple[int, int], np.ndarray | BaseException] = {}
    for k, frame in enumerate(frames):
        planes = targets[k]
        if not planes:  # a grid coarser than the slices (volume budget) may not show one
            if pooled is not None:
                next(pooled)
            continue
        first = planes[0]
        # The array may be replaced (widened to float32) on the way: always use the current one.
        if pooled is not None:
            values = next(pooled)[1]
        elif frame.tile is not None:
            values = _mosaic_tile(frame, decoded)
        else:
            values = _read_frame(array, first, frame)
        if values is None:
            pass  # read and rescaled in place
        elif isinstance(values, BaseException):
            failed.extend(planes)
            warnings.append(_decode_warning(frame, values))
        else:
            try:
                array = _put_slice(array, first, frame, values)
            except ValueError as exc:
                failed.extend(planes)
                warnings.append(_decode_warning(frame, exc))
        for other in planes[1:]:
            array[other] = array[first]
        if progress and (k % 8 == 0 or k == len(frames) - 1):
            progress((k + 1) / len(frames), f"decoded {k + 1} of {len(frames)} slices")
    return array, failed


def _has_gaps(stack: Stack) -> bool:
    return stack.planes is not None and min(stack.planes) < 0


def _planes_of_frames(stack: Stack) -> list[list[int]]:
    """For each frame, the planes of the volume that show it (one, unless resampled)."""
    if stack.planes is None:
        return [[k] for k in range(len(stack.frames))]
    targets: list[list[int]] = [[] for _ in stack.frames]
    for plane, k in enumerate(stack.planes):
        if k >= 0:
            targets[k].append(plane)
    return targets


def _read_frame(
    array: np.ndarray | None, k: int, frame: Frame
) -> np.ndarray | BaseException | None:
    """A frame's stored values, or what went wrong decoding it, or None when the frame was read
    straight into ``array[k]`` and rescaled there. (Slow codecs decode in workers instead.)"""
    try:
        if array is not None and array.dtype == np.int16 and _read_in_place(array[k], frame):
            return None
        return frame_values(frame)
    except Exception as exc:  # one bad frame must not sink the stack
        return exc
    except BaseException as exc:  # pyo3 PanicException from a Rust decoder
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return DecoderCrashed("the decoder crashed on this pixel data")


def _mosaic_tile(
    frame: Frame, decoded: dict[tuple[int, int], np.ndarray | BaseException]
) -> np.ndarray | BaseException:
    """One slice of a Siemens mosaic; the stored image is decoded once for all its tiles (the
    last one kept: a stack's tiles of one file come together, in spatial order)."""
    key = (id(frame.file), frame.index)
    if key not in decoded:
        decoded.clear()
        decoded[key] = _read_frame(None, 0, frame)  # type: ignore[arg-type]
    values = decoded[key]
    if isinstance(values, BaseException):
        return values
    return mosaic_tile(values, frame.mosaic, frame.tile)  # type: ignore[arg-type]


def _read_in_place(target: np.ndarray, frame: Frame) -> bool:
    """Uncompressed 16-bit slices go from the file straight into the volume, then are rescaled
    in int16 there: one copy of the pixels, none through temporaries (bench/: the build from
    files is then a few times the cost of reading them). False, and the usual path, when the
    values or their rescale would not stay exact in int16."""
    if not read_stored_into(frame, target):
        return False
    if frame.slope == 1.0 and frame.intercept == 0.0:
        return True
    if not _fits_int16(target, frame):
        return False
    _rescale_int16(target, frame)
    return True


def _decode_warning(frame: Frame, problem: BaseException) -> Note:
    if isinstance(problem, DecoderCrashed):
        text = f"{frame.name}: the decoder crashed on this pixel data; its slice is left blank"
    else:
        reason = describe(problem, 300, every_line=True)
        text = f"{frame.name}: pixel data could not be decoded ({reason}); its slice is left blank"
    plain = f"One image could not be decoded ({frame.name}); its slice is shown blank."
    return Note(text, "decode", plain)


def _assemble(stack: Stack, array: np.ndarray, warnings: list[str]) -> Volume:
    header = stack.header
    first = stack.frames[0]
    padding = header.PixelPaddingValue
    modality = stack.modality.upper()
    return Volume(
        array=array,
        affine=make_affine(
            stack.orientation,
            np.array(stack.origin),
            stack.pixel_spacing,
            np.array(stack.slice_step),
        ),
        spacing=(stack.slice_spacing, *stack.pixel_spacing),
        stack_id=stack.id,
        modality=modality,
        units="HU" if modality == "CT" else str(header.RescaleType or ""),
        description=stack.description,
        file_window=_stack_window(stack.frames),
        padding_value=None
        if not isinstance(padding, int)
        else padding * first.slope + first.intercept,
        slice_names=tuple(f.name for f in stack.frames)
        if stack.planes is None
        else tuple(stack.frames[k].name if k >= 0 else NO_DATA for k in stack.planes),
        warnings=tuple(warnings),
        oriented=first.orientation is not None,
        body_part=str(header.BodyPartExamined or "").strip().upper(),
    )


def _output_dtype(frames: tuple[Frame, ...], *, gaps: bool = False) -> np.dtype:
    """int16 for integer rescale of data stored in at most 16 bits, else float32 (and for a
    volume with planes of no data, which hold NaN).

    Decided before decoding so the array is allocated once. Headers often declare 16 stored
    bits although CT values span 12; a slice that really leaves the int16 range widens the
    volume to float32 while it is filled (see _put_slice).
    """
    if gaps or is_colour(frames[0].file):
        return np.dtype(np.float32)
    for frame in frames:
        if frame.slope != int(frame.slope) or frame.intercept != int(frame.intercept):
            return np.dtype(np.float32)
        low, high = stored_range(frame.file)
        if low < -(2**15) or high > 2**16 - 1:
            return np.dtype(np.float32)
    return np.dtype(np.int16)


def _put_slice(array: np.ndarray, k: int, frame: Frame, values: np.ndarray) -> np.ndarray:
    """Write frame k rescaled into the array; returns the array (new only if it had to widen)."""
    if values.shape != array.shape[1:]:
        raise ValueError(f"decoded {values.shape}, expected {array.shape[1:]}")
    if frame.slope == 1.0 and frame.intercept == 0.0 and np.can_cast(values.dtype, array.dtype):
        array[k] = values
        return array
    if array.dtype == np.int16 and values.dtype.kind in "iu" and _fits_int16(values, frame):
        # Whole-number rescale in int16 arithmetic: wrap-around of intermediate values cancels
        # out, since the final values are known to fit (about 1.5x faster than via float32).
        target = array[k]
        np.copyto(target, values, casting="unsafe")
        _rescale_int16(target, frame)
        return array
    rescaled = values.astype(np.float32) * np.float32(frame.slope) + np.float32(frame.intercept)
    if array.dtype == np.int16:
        if rescaled.min() < _INT16.min or rescaled.max() > _INT16.max:
            array = array.astype(np.float32)  # rare: header declared less than the data holds
        else:
            array[k] = np.rint(rescaled)
            return array
    array[k] = rescaled
    return array


def _rescale_int16(target: np.ndarray, frame: Frame) -> None:
    """Whole-number rescale in place, in int16 arithmetic: wrap-around of intermediate values
    cancels out once the final values are known to fit (_fits_int16). An int16 volume implies
    whole-number slopes and intercepts (_output_dtype)."""
    if frame.slope != 1.0:
        target *= np.int16(frame.slope)
    target += np.int16(frame.intercept)


def _fits_int16(values: np.ndarray, frame: Frame) -> bool:
    ends = (float(values.min()), float(values.max()))
    rescaled = [v * frame.slope + frame.intercept for v in ends]
    return _INT16.min <= min(rescaled) and max(rescaled) <= _INT16.max


def _blank(array: np.ndarray, failed: list[int]) -> None:
    good = np.setdiff1d(np.arange(array.shape[0]), failed)
    low = np.nanmin(array[good]) if len(good) and np.isfinite(array[good]).any() else 0
    array[failed] = low


def _stack_window(frames: Sequence[Frame]) -> tuple[float, float] | None:
    """The window the files suggest: the middle slice's (edge slices often carry one computed
    from an almost empty image), else the most common one; degenerate widths (under 2 units)
    are ignored."""
    usable = [f.window for f in frames if f.window is not None and f.window[1] >= 2]
    if not usable:
        return None
    middle = frames[len(frames) // 2].window
    if middle is not None and middle[1] >= 2:
        return middle
    return Counter(usable).most_common(1)[0][0]
