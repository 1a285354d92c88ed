"""Small pure functions on directions and positions; they never see a DICOM dataset.

Conventions (DICOM PS3.3 C.7.6.2.1.1): patient coordinates are LPS (+x left, +y posterior,
+z superior). A volume's array axes are (slice, row, col); its affine maps voxel indices to LPS mm.
"""

from __future__ import annotations

from itertools import permutations
from typing import Literal

import numpy as np

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")
OBLIQUE_LIMIT_DEG = 25.0
"""A stack whose normal is further than this from every patient axis is called oblique."""


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    """Unit normal of an image plane: cross(row cosine, column cosine)."""
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    return normal / np.linalg.norm(normal)


def plane_name(orientation: tuple[float, ...]) -> str:
    """'axial', 'coronal', 'sagittal', or 'oblique' when the normal is far from every axis."""
    normal = slice_normal(orientation)
    axis = int(np.argmax(np.abs(normal)))
    angle = float(np.degrees(np.arccos(min(1.0, abs(normal[axis])))))
    if angle > OBLIQUE_LIMIT_DEG:
        return "oblique"
    return {0: "sagittal", 1: "coronal", 2: "axial"}[axis]


def make_affine(
    orientation: tuple[float, ...],
    origin: np.ndarray,
    pixel_spacing: tuple[float, float],
    slice_step: np.ndarray,
) -> np.ndarray:
    """4x4 affine from voxel (slice, row, col) to LPS mm.

    ``slice_step`` is the full vector between consecutive slice positions; with gantry tilt it is
    not parallel to the normal, and the affine is then sheared, which keeps every voxel at its
    true position.
    """
    row_cos = np.asarray(orientation[:3], dtype=float)  # direction of increasing column index
    col_cos = np.asarray(orientation[3:], dtype=float)  # direction of increasing row index
    affine = np.eye(4)
    affine[:3, 0] = slice_step
    affine[:3, 1] = col_cos * pixel_spacing[0]
    affine[:3, 2] = row_cos * pixel_spacing[1]
    affine[:3, 3] = origin
    return affine


def axis_directions(affine: np.ndarray) -> np.ndarray:
    """Unit directions of the array axes (columns), the slice axis taken along the slice normal.

    Under gantry tilt the slice step leans away from the normal; the image plane is still
    where it is, so orientation questions are answered by the normal, not the step.
    """
    directions = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    normal = np.cross(directions[:, 1], directions[:, 2])
    directions[:, 0] = normal if np.dot(normal, directions[:, 0]) >= 0 else -normal
    return directions


def nearest_patient_axes(affine: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """For each array axis: the patient axis (0=x, 1=y, 2=z) it runs closest to, and the sign.

    The assignment is the permutation that maximises the summed |cosines|, so even a stack at 45
    degrees gets three distinct axes.
    """
    directions = axis_directions(affine)
    best = max(
        permutations(range(3)),
        key=lambda perm: sum(abs(directions[perm[i], i]) for i in range(3)),
    )
    signs = tuple(1 if directions[best[i], i] >= 0 else -1 for i in range(3))
    return best, signs  # type: ignore[return-value]


def obliquity_degrees(affine: np.ndarray) -> float:
    """Largest angle between an array axis and the patient axis it is shown along."""
    directions = axis_directions(affine)
    axes, _ = nearest_patient_axes(affine)
    cosines = [abs(directions[axes[i], i]) for i in range(3)]
    return float(np.degrees(np.arccos(np.clip(min(cosines), 0.0, 1.0))))
