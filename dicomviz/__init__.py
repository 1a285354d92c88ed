"""dicomviz: a quick, correct look inside DICOM images.

The chain, one module per step: inputs -> reading -> frames -> series -> volume -> views ->
windowing/render (and headers for the tables). Typical use::

    import dicomviz
    study = dicomviz.load(["path/to/folder_or.zip"])
    volume = dicomviz.build_volume(study.largest())
    view = dicomviz.make_view(volume, "coronal", "max")
"""

from dicomviz.display.views import View, canonical, make_view
from dicomviz.display.windowing import CT_PRESETS, Window, default_window
from dicomviz.errors import (
    BudgetError,
    DicomvizError,
    InputFileError,
    Skipped,
    UsageError,
)
from dicomviz.limits import Limits
from dicomviz.loading import Study, load
from dicomviz.pixels.volume import Volume, build_volume
from dicomviz.series.stacks import Stack

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
