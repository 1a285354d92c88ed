"""A volume on the patient's own axes, for stacks that are not: oblique or gantry-tilted.

Reorienting (``views.canonical``) only permutes and flips, so the "axial MIP" of a 13 degree
oblique MR, or of an 18.5 degree tilted head CT, runs along the stack's axes, not the patient's.
Here the stack is resampled (trilinear, scipy.ndimage on every core) onto a grid aligned with
LPS that covers it: array axes (S, P, L), i.e. inferior to superior, anterior to posterior,
right to left, at the stack's finest spacing (isotropic unless the volume budget says
otherwise). Grid voxels outside the scanned field hold NaN: shown as no data, left out of MIP,
MinIP and mean, never silently 0 HU. The result is the same Volume type with its own affine, so
every view, projection, linked click and download works on it.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from dicomviz.errors import BudgetError, UsageError
from dicomviz.limits import Limits, bytes_text
from dicomviz.notes import Note, kind_of
from dicomviz.pixels.parallel import default_workers
from dicomviz.pixels.volume import Volume

ALIGNED_DEGREES = 0.5
"""A volume whose axes (and slice steps) are within this of the patient axes needs no
resampling: shown on its nearest axes it is already on them."""


def off_patient_axes(volume: Volume) -> float:
    """Degrees by which the volume's array axes, slice steps included (gantry tilt shears them),
    miss the patient axes they are shown along: 0 for a stack square to the patient."""
    columns = volume.affine[:3, :3] / np.linalg.norm(volume.affine[:3, :3], axis=0)
    nearest = np.abs(columns).max(axis=0)
    return float(np.degrees(np.arccos(np.clip(nearest.min(), 0.0, 1.0))))


def needs_patient_axes(volume: Volume) -> bool:
    return off_patient_axes(volume) > ALIGNED_DEGREES


Grid = Literal["acquired", "patient"]
GRIDS: tuple[Grid, ...] = ("acquired", "patient")


def default_grid(volume: Volume) -> Grid:
    """How a volume opens: a gantry-tilted CT on patient axes (as dcm2niix corrects tilt: its
    slices are sheared, not turned); any other stack as acquired (an oblique one says how
    oblique it is and offers the switch)."""
    tilted = any(kind_of(w) == "tilt" for w in volume.warnings)
    return (
        "patient"
        if tilted and volume.modality == "CT" and needs_patient_axes(volume)
        else "acquired"
    )


def on_grid(volume: Volume, grid: str, *, limits: Limits | None = None) -> Volume:
    """The volume as acquired, or on patient axes (unchanged when already square to them)."""
    if grid not in GRIDS:
        raise UsageError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}")
    if grid == "acquired" or not needs_patient_axes(volume):
        return volume
    return on_patient_axes(volume, limits=limits)


def on_patient_axes(
    volume: Volume,
    *,
    spacing: float | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
) -> Volume:
    """``volume`` resampled onto an LPS-aligned grid covering it (see the module docstring).

    ``spacing`` (mm, isotropic) defaults to the stack's finest, coarsened only as far as the
    volume budget (``limits.volume_bytes``) requires.
    """
    limits = limits or Limits()
    corners = _corners(volume)
    low, high = corners.min(axis=0), corners.max(axis=0)
    step = spacing or min(volume.spacing)
    extent = high - low
    shape_lps = np.maximum(np.floor(extent / step + 1e-6).astype(int) + 1, 1)
    voxels = int(np.prod(shape_lps))
    budget = limits.volume_bytes // 4  # float32
    if voxels > budget:
        step *= float((voxels / budget) ** (1 / 3)) * 1.01
        shape_lps = np.maximum(np.floor(extent / step + 1e-6).astype(int) + 1, 1)
        voxels = int(np.prod(shape_lps))
    if voxels * 4 > limits.volume_bytes:
        raise BudgetError(
            volume.stack_id,
            f"on patient axes it would take {bytes_text(voxels * 4)}, over "
            f"{limits.describe('volume_bytes')}",
        )
    # Output array axes (S, P, L): index (k, j, i) sits at LPS low + (i, j, k) * step.
    shape = (int(shape_lps[2]), int(shape_lps[1]), int(shape_lps[0]))
    out_affine = np.eye(4)
    out_affine[:3, :3] = np.array([[0, 0, step], [0, step, 0], [step, 0, 0]])
    out_affine[:3, 3] = low
    # From output indices to input indices: inverse(input affine) @ output affine.
    to_input = np.linalg.inv(volume.affine) @ out_affine
    array = _resample(volume.array, to_input, shape, workers or default_workers())
    angle = off_patient_axes(volume)
    note = Note(
        f"resampled onto patient axes ({angle:.1f} degrees off them as acquired) at "
        f"{step:.2f} mm isotropic (trilinear); voxels outside the scan are no data",
        "oblique",
        f"Shown on the patient's own axes: the slices were {angle:.1f}° off them, so the "
        f"volume was resampled ({step:.2f} mm voxels, smoothed slightly); outside the scanned "
        "field nothing is shown.",
    )
    return Volume(
        array=array,
        affine=out_affine,
        spacing=(step, step, step),
        stack_id=volume.stack_id,
        modality=volume.modality,
        units=volume.units,
        description=volume.description,
        file_window=volume.file_window,
        padding_value=None,
        slice_names=(),
        warnings=(*volume.warnings, note),
        oriented=volume.oriented,
        body_part=volume.body_part,
        slice_axis=0,
    )


def _corners(volume: Volume) -> np.ndarray:
    """LPS mm of the volume's eight corner voxel centres."""
    last = np.array(volume.shape) - 1
    indices = np.array(list(itertools.product(*[(0, n) for n in last])), dtype=float)
    return (volume.affine[:3, :3] @ indices.T).T + volume.affine[:3, 3]


def _resample(
    source: np.ndarray, to_input: np.ndarray, shape: tuple[int, int, int], workers: int
) -> np.ndarray:
    """Trilinear samples of ``source`` at ``to_input`` @ (each output index); NaN outside.

    Split into slabs of output slices, one per worker: scipy.ndimage releases the GIL. (Imported
    here: a third of a second that a stack on the patient's axes never needs.)"""
    from scipy import ndimage

    values = source if source.dtype == np.float32 else source.astype(np.float32)
    out = np.empty(shape, dtype=np.float32)
    matrix, offset = to_input[:3, :3], to_input[:3, 3]
    bounds = np.linspace(0, shape[0], min(workers, shape[0]) + 1).astype(int)

    def slab(start: int, stop: int) -> None:
        ndimage.affine_transform(
            values,
            matrix,
            offset=offset + matrix[:, 0] * start,
            output_shape=(stop - start, shape[1], shape[2]),
            output=out[start:stop],
            order=1,
            mode="constant",
            cval=np.nan,
            prefilter=False,
        )

    parts = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    if len(parts) == 1:
        slab(*parts[0])
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(lambda ab: slab(*ab), parts))
    return out
