"""dicomviz: a quick, correct look inside DICOM images.

The pipeline, one sub-package per step (docs/architecture.md): ``io`` (files, folders and zips
to checked headers) -> ``series`` (frames grouped into stacks in patient order) -> ``pixels``
(stacks decoded into volumes) -> ``display`` (views, projections, windows, figures, PNG), with
``tables`` (header tables, identifiers hidden) beside it. Typical use::

    import dicomviz
    study = dicomviz.load(["path/to/folder_or.zip"])
    volume = dicomviz.build_volume(study.largest())
    view = dicomviz.make_view(volume, "coronal", "max")

Names are imported on first use, so ``import dicomviz`` alone costs almost nothing (a command
that never builds a volume does not load pydicom's codecs, numpy's friends or Pillow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dicomviz.errors import BudgetError, DicomvizError, InputFileError, Skipped, UsageError
from dicomviz.limits import Limits

if TYPE_CHECKING:
    from dicomviz.display.views import View, canonical, make_view
    from dicomviz.display.windowing import CT_PRESETS, Window, default_window
    from dicomviz.loading import Study, load
    from dicomviz.pixels.volume import Volume, build_volume
    from dicomviz.series.stacks import Stack

_LAZY = {
    "load": "dicomviz.loading",
    "Study": "dicomviz.loading",
    "Stack": "dicomviz.series.stacks",
    "Volume": "dicomviz.pixels.volume",
    "build_volume": "dicomviz.pixels.volume",
    "View": "dicomviz.display.views",
    "canonical": "dicomviz.display.views",
    "make_view": "dicomviz.display.views",
    "CT_PRESETS": "dicomviz.display.windowing",
    "Window": "dicomviz.display.windowing",
    "default_window": "dicomviz.display.windowing",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
