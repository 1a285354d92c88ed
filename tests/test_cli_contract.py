"""The command line's contract beyond its output: what it imports, which stream says what, what
it leaves behind in the calling process, and how it is installed (the ``dicomviz`` script)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from synth import make_series

import dicomviz
from dicomviz import cli

ROOT = Path(__file__).resolve().parents[1]
PAGE_LIBRARIES = ("pandas", "plotly.graph_objects", "streamlit", "dicomviz.tables")
"""Never imported by info or project: pandas alone is about 190 ms of a command's start."""


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    """One small CT series and a file that is not DICOM."""
    folder = tmp_path / "series"
    folder.mkdir()
    for name, data in make_series(rows=24, columns=20, slices=6):
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("exported by PACS")
    return folder


def _run_importing(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -m dicomviz ARGV`` as a user does; returns the run and every module it
    imported (from ``-X importtime``, which lists each import on stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dicomviz", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.MULTILINE)
    return done, set(found)


@pytest.mark.parametrize("command", ["info", "info --json", "project"])
def test_info_and_project_never_import_the_page_libraries(
    series_dir: Path, tmp_path: Path, command: str
) -> None:
    argv = [*command.split(), str(series_dir)]
    if command == "project":
        argv += ["--plane", "coronal", "--mode", "max", "-o", str(tmp_path / "view")]
    done, imported = _run_importing(*argv)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not [name for name in PAGE_LIBRARIES if name in imported]


def test_headers_imports_the_tables_it_shows(series_dir: Path) -> None:
    """The probe above sees pandas when it is imported."""
    first = sorted(series_dir.glob("*"))[0]
    done, imported = _run_importing("headers", str(first), "--search", "Modality")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"pandas", "dicomviz.tables.headers", "dicomviz.tables.privacy"} <= imported


@pytest.mark.parametrize("as_json", [False, True])
def test_info_lists_skipped_inputs_on_stderr_in_both_modes(
    series_dir: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    assert cli.main(["info", str(series_dir), *(["--json"] if as_json else [])]) == 0
    out, err = capsys.readouterr()
    assert err == f"skipped 1 of 7 inputs:\n  {series_dir / 'notes.txt'}: a text file, not DICOM\n"
    assert "skipped" not in out and "notes.txt" not in out


@pytest.mark.parametrize("as_json", [False, True])
def test_info_with_no_series_exits_2_and_says_why_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    (tmp_path / "notes.txt").write_text("exported by PACS")
    code = cli.main(["info", str(tmp_path), *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert code == 2  # as project gives on the same inputs
    assert out == ("[]\n" if as_json else "")  # stdout stays exactly a JSON list
    assert err.splitlines() == [
        "no image series found",
        "skipped 1 of 1 inputs:",
        f"  {tmp_path / 'notes.txt'}: a text file, not DICOM",
    ]


def test_pydicom_warnings_are_quiet_only_while_a_command_runs(
    series_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() silences pydicom's warnings about real-world files for the command it runs, and
    leaves a calling program's warning filters as it found them."""
    real_load = cli.load

    def noisy_load(paths: list[str]) -> dicomviz.Study:
        warnings.warn_explicit("odd value", UserWarning, "valuerep.py", 1, module="pydicom.x")
        warnings.warn_explicit("ours", UserWarning, "caller.py", 1, module="caller")
        return real_load(paths)

    monkeypatch.setattr(cli, "load", noisy_load)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        assert cli.main(["info", str(series_dir)]) == 0
        assert warnings.filters == before
        warnings.warn_explicit("after", UserWarning, "valuerep.py", 1, module="pydicom.x")
    said = [str(w.message) for w in seen if w.category is UserWarning]
    assert "odd value" not in said and said[-2:] == ["ours", "after"]


# ---------- the installed package ----------


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(path: Path) -> set[str]:
    """Requirement lines without comments or blanks, spaces removed."""
    lines = (line.split("#", 1)[0].replace(" ", "") for line in path.read_text().splitlines())
    return {line for line in lines if line}


def test_pyproject_packages_the_library_its_data_and_the_command() -> None:
    project = _pyproject()
    assert project["project"]["scripts"] == {"dicomviz": "dicomviz.cli:main"}
    setuptools = project["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["dicomviz*"]  # not bench/ or tools/
    patterns = setuptools["package-data"]["dicomviz.tables"]
    tables = ROOT / "dicomviz" / "tables"
    shipped = {p.name for pattern in patterns for p in tables.glob(pattern)}
    assert {"basic_profile.csv", "README.md"} <= shipped


def test_the_dependency_lists_agree() -> None:
    """requirements.txt (the hosted app's install) = the library's dependencies + the app
    extra; bench/requirements.txt = the bench extra; the dev install is this tree, editable."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert _requirements(ROOT / "requirements.txt") == set(project["dependencies"]) | set(
        extras["app"]
    )
    assert _requirements(ROOT / "bench" / "requirements.txt") == set(extras["bench"])
    assert {"-rrequirements.txt", "-e.[dev]"} == _requirements(ROOT / "requirements-dev.txt")


def test_the_installed_package_is_this_tree_with_its_command() -> None:
    """requirements-dev.txt installs the tree editable: tests and bench/ import it from here."""
    assert Path(dicomviz.__file__).resolve().parents[1] == ROOT
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="dicomviz")
    assert script.value == "dicomviz.cli:main"


def test_the_console_script_exits_with_mains_code(series_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "dicomviz"
    assert script.exists(), "dicomviz is not installed here: pip install -r requirements-dev.txt"
    empty = tmp_path / "empty"
    empty.mkdir()
    codes = [
        subprocess.run([script, "info", str(path)], capture_output=True, check=False).returncode
        for path in (series_dir, empty, tmp_path / "missing")
    ]
    assert codes == [0, 2, 2]
