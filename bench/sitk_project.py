"""The SimpleITK reference for ``python -m dicomviz project FOLDER --plane coronal --mode max``.

``python bench/sitk_project.py FOLDER OUT`` reads the series with GDCM (SimpleITK's
``ImageSeriesReader``, files sorted by GDCM), takes the coronal maximum with numpy, and writes
``OUT.npy`` and an 8-bit ``OUT.png`` (window: the view's own range), as the command does. It
imports only what that needs, so its whole-process time is a fair floor for the command's.
"""

from __future__ import annotations

import sys

import numpy as np
import SimpleITK as sitk


def main(argv: list[str]) -> int:
    folder, out = argv
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    image = reader.Execute()  # must outlive the view of its buffer below
    volume = sitk.GetArrayViewFromImage(image)  # (slice, row, col), feet first
    view = volume.max(axis=1)[::-1]  # along the rows (anterior to posterior); head at the top
    np.save(out + ".npy", view)
    low, high = float(view.min()), float(view.max())
    grey = ((view - low) * (255.0 / max(high - low, 1.0))).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(grey), out + ".png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
