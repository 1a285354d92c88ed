"""A volume as a NIfTI-1 image that tools read the way dcm2niix's files are read.

The image is laid out as dcm2niix lays it out: the first NIfTI axis runs along the DICOM
column index, the second against the row index (dcm2niix flips rows so the picture is upright
in viewers that ignore the affine), the third along the slices in the volume's order. Its
affine maps those indices to RAS mm, the NIfTI convention, from the volume's LPS one.

Header choices, and why:

- sform and qform both carry code 1, NIFTI_XFORM_SCANNER_ANAT: the coordinates are the
  scanner's own patient coordinates (DICOM's frame of reference), not an alignment to another
  image (code 2, "aligned", says that), and dcm2niix writes 1 for both too.
- A qform is a rotation, spacings and an offset: it cannot hold the shear of a gantry-tilted
  stack kept as acquired. The sform then carries the sheared, true geometry, and the qform
  the same stack unsheared (slices along their normal, the first slice in place): the
  affine dcm2niix writes for its uncorrected image, and what readers that refuse a sheared
  sform fall back on.
- Values are the physical ones (rescale applied while building the volume): written int16
  when every value is a whole number in its range, else float32; the scaling written is the
  identity (scl_slope 1, scl_inter 0), so no reader rescales them again.
- No data (NaN: planes between slices farther apart than their thickness, or grid voxels
  outside the scan after resampling onto patient axes) is written as the lowest value
  measured, as dcm2niix fills the corners its tilt correction opens: every viewer then shows
  it as background, and automatic display ranges, histograms and tools that choke on NaN
  (many do) keep working. :func:`no_data` says how many voxels and which value, for the
  sidecar.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

import nibabel as nib
import numpy as np

from dicomviz.pixels.volume import Volume

SCANNER_ANAT = 1
"""NIFTI_XFORM_SCANNER_ANAT: coordinates in the scanner's patient space (DICOM's)."""
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
GZIP_LEVEL = 1
"""nibabel's default. Measured here: level 6 (dcm2niix's) takes 4-6 times as long for files
2-3% smaller (a real CT slice pair: 477 vs 465 kB; the 120-slice phantom: 0.6 s vs 3.4 s)."""
_SHEAR_MM = 1e-4
"""A slice step further than this from the slice normal counts as sheared (gantry tilt)."""
_INT16 = np.iinfo(np.int16)


def nifti_affine(affine: np.ndarray, rows: int) -> np.ndarray:
    """The NIfTI affine of a volume's ``affine`` (array (slice, row, col) to LPS mm), for the
    layout dcm2niix writes: NIfTI index (i, j, k) = (col, rows - 1 - row, slice), to RAS mm.

    >>> a = np.diag([2.0, 0.5, 0.5, 1.0])  # axial: slices to +S, rows to +P, columns to +L
    >>> nifti_affine(a, rows=100).round(2).tolist()
    [[-0.5, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, -49.5], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    columns = affine[:, [2, 1, 0, 3]]  # (col, row, slice)
    flipped = columns.copy()
    flipped[:, 1] = -columns[:, 1]  # row index counted from the last row...
    flipped[:, 3] = columns[:, 3] + columns[:, 1] * (rows - 1)  # ...which is now index 0
    return LPS_TO_RAS @ flipped


def unsheared(affine: np.ndarray) -> np.ndarray:
    """``affine`` (NIfTI, slice axis third) with its slice step replaced by its part along the
    slice normal: the stack as if not tilted, the first slice where it is. Unchanged when the
    step already runs along the normal."""
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal /= np.linalg.norm(normal)
    step = affine[:3, 2]
    out = affine.copy()
    out[:3, 2] = normal * float(step @ normal)
    return out


def is_sheared(affine: np.ndarray) -> bool:
    """Whether the slice axis leans off the slice normal (a gantry-tilted stack as acquired)."""
    return bool(np.abs(unsheared(affine)[:3, 2] - affine[:3, 2]).max() > _SHEAR_MM)


def no_data(volume: Volume) -> tuple[int, float | None]:
    """How many voxels hold no data (NaN) and the value the NIfTI image stores there (the
    lowest value measured; 0 when nothing was measured); (0, None) when every voxel has data."""
    if volume.array.dtype.kind != "f":
        return 0, None
    count = int(np.count_nonzero(np.isnan(volume.array)))
    if not count:
        return 0, None
    if count == volume.array.size:
        return count, 0.0
    return count, float(np.nanmin(volume.array))


def nifti_image(volume: Volume) -> nib.Nifti1Image:
    """``volume`` as a NIfTI-1 image (see the module docstring for every header choice)."""
    data = _file_values(volume)
    # (slice, row, col) -> (col, row, slice), rows reversed: a view, Fortran-ordered on disk.
    data = data.transpose(2, 1, 0)[:, ::-1, :]
    affine = nifti_affine(volume.affine, rows=volume.shape[1])
    image = nib.Nifti1Image(data, affine)
    header = image.header
    header.set_data_dtype(data.dtype)
    header.set_sform(affine, code=SCANNER_ANAT)
    header.set_qform(unsheared(affine), code=SCANNER_ANAT)
    header.set_xyzt_units("mm", "sec")
    header.set_slope_inter(1.0, 0.0)
    if volume.file_window is not None:  # the file's own display range, for viewers that read it
        center, width = volume.file_window
        header["cal_min"], header["cal_max"] = center - width / 2, center + width / 2
    return image


def write_nifti(image: nib.Nifti1Image, target: BinaryIO, *, compress: bool = True) -> None:
    """Write ``image`` as one .nii stream to ``target``, gzipped (a .nii.gz) unless told not
    to. The gzip header holds no time stamp or name: the same image gives the same bytes."""
    if not compress:
        image.to_stream(target)
        return
    # filename "": GzipFile would otherwise record the target's file name in its header
    with gzip.GzipFile("", "wb", GZIP_LEVEL, fileobj=target, mtime=0) as stream:
        image.to_stream(stream)


def nifti_gz(volume: Volume) -> bytes:
    """``volume`` as the bytes of a .nii.gz file, made in memory (the page's download)."""
    buffer = io.BytesIO()
    write_nifti(nifti_image(volume), buffer)
    return buffer.getvalue()


def _file_values(volume: Volume) -> np.ndarray:
    """The values to store: no data filled (see :func:`no_data`), int16 when every value is a
    whole number in range, else float32."""
    array = volume.array
    if array.dtype == np.int16:
        return array
    count, fill = no_data(volume)
    if count:
        array = np.where(np.isnan(array), np.float32(fill), array)
    if _whole_int16(array):
        return array.astype(np.int16)
    return array.astype(np.float32, copy=False)


def _whole_int16(array: np.ndarray) -> bool:
    if array.dtype.kind in "iu":
        return bool(array.size == 0 or (array.min() >= _INT16.min and array.max() <= _INT16.max))
    if array.size == 0 or array.min() < _INT16.min or array.max() > _INT16.max:
        return False
    # plane by plane: no temporary the size of the volume
    return all(np.array_equal(plane, np.rint(plane)) for plane in array)
