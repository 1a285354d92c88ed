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


@pytest.fixture
def offered(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Every download the page offers, by file name: the bytes or the callable making them
    (AppTest runs without the runtime that would keep deferred callables)."""
    from streamlit.elements.widgets import button

    found: dict[str, object] = {}
    original = button.marshall_file

    def record(coordinates, data, proto, mimetype, file_name=None, **kwargs):
        found[file_name] = data
        return original(coordinates, data, proto, mimetype, file_name, **kwargs)

    monkeypatch.setattr(button, "marshall_file", record)
    return found
