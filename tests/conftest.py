"""Shared fixtures: where the real test DICOM files live."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest


@pytest.fixture(scope="session")
def pydicom_data_dir() -> Path:
    """The ~70 real files of the pydicom-data package (many vendors and transfer syntaxes)."""
    import data_store

    return Path(os.path.dirname(data_store.__file__)) / "data"


@pytest.fixture(scope="session")
def pydicom_test_dir() -> Path:
    """pydicom's own test files (charsets, DICOMDIR trees, SR, RT, odd encodings)."""
    return Path(os.path.dirname(pydicom.__file__)) / "data"
