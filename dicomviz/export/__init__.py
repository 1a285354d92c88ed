"""Volumes out to other tools: NIfTI-1 images with a JSON sidecar, as dcm2niix writes them.

``nifti_image(volume)`` (nibabel image), ``nifti_gz(volume)`` (the bytes of a .nii.gz),
``write_nifti(image, file)`` and ``sidecar(stack, volume)`` / ``sidecar_json(...)``: see
:mod:`dicomviz.export.nifti` for the geometry and header choices, :mod:`dicomviz.export.sidecar`
for the facts written and their names.
"""

from dicomviz.export.nifti import nifti_gz, nifti_image, no_data, write_nifti
from dicomviz.export.sidecar import sidecar, sidecar_json

__all__ = ["nifti_gz", "nifti_image", "no_data", "sidecar", "sidecar_json", "write_nifti"]
