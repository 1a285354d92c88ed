"""dicomviz: a quick, correct look inside DICOM images.

The chain, one module per step: inputs -> reading -> frames -> series -> volume -> views ->
windowing/render (and headers for the tables). Typical use::

    import dicomviz
    study = dicomviz.load(["path/to/folder_or.zip"])
    volume = dicomviz.build_volume(study.largest())
    view = dicomviz.make_view(volume, "coronal", "max")
"""

from .errors import (
    BudgetError,
    DicomvizError,
    InputFileError,
    Skipped,
    UsageError,
)
from .limits import Limits
from .loading import Study, load
from .series import Stack
from .views import View, canonical, make_view
from .volume import Volume, build_volume
from .windowing import CT_PRESETS, Window, default_window

__all__ = [
    "CT_PRESETS",
    "BudgetError",
    "DicomvizError",
    "InputFileError",
    "Limits",
    "Skipped",
    "Stack",
    "Study",
    "UsageError",
    "View",
    "Volume",
    "Window",
    "build_volume",
    "canonical",
    "default_window",
    "load",
    "make_view",
]
