"""The package's layers import only downward, and the library never pulls in page libraries.

Layers, lowest first (docs/architecture.md draws them): the base modules; io (inputs to headers);
series (headers to stacks); pixels (stacks to volumes); loading (load, Study); display (volumes
to pictures); tables (headers to tables); catalog; sample; the command line; the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dicomviz"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("dicomviz.errors", "dicomviz.limits", "dicomviz.geometry", "dicomviz.notes"),
    ("dicomviz.io",),
    ("dicomviz.series",),
    ("dicomviz.pixels",),
    ("dicomviz.loading",),
    ("dicomviz.display",),
    ("dicomviz.tables",),
    ("dicomviz.export",),
    ("dicomviz.catalog",),
    ("dicomviz.sample",),
    ("dicomviz.hosting",),
    ("dicomviz.cli", "dicomviz.__main__"),
    ("dicomviz",),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    """The layer of a module: the longest prefix listed (a sub-package's modules share it)."""
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the architecture")
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every dicomviz module the file imports, at any depth in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("dicomviz"):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("dicomviz")]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, f"(relative import level {node.level})"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_each_module_imports_only_its_own_layer_or_below(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    for line, imported in _imports(path):
        assert not imported.startswith("("), f"{module}:{line} uses a relative import"
        assert _layer(imported) <= own, (
            f"{module}:{line} imports {imported}, a higher layer "
            f"({_layer(imported)} > {own}); move the code or pass a function in"
        )


def test_the_layer_table_knows_every_module() -> None:
    for path in MODULES:
        _layer(_module_name(path))


def _imported_after(code: str) -> str:
    probe = "\nheavy = ('streamlit', 'plotly', 'pandas', 'PIL', 'pydicom', 'nibabel', 'scipy')"
    probe += "\nprint(','.join(m for m in heavy if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code + probe],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_importing_the_library_loads_nothing_heavy() -> None:
    """``import dicomviz`` costs almost nothing: its names load on first use."""
    assert _imported_after("import dicomviz") == ""


def test_loading_and_viewing_loads_no_page_library() -> None:
    """A script that loads, builds and projects volumes does not pay for pandas, Plotly or
    Streamlit (measured: pandas alone is about 190 ms of a command's start). pydicom itself
    imports Pillow whenever it is installed, so Pillow is not on this list."""
    code = "import dicomviz\ndicomviz.load, dicomviz.build_volume, dicomviz.make_view"
    assert _imported_after(code).split(",") == ["PIL", "pydicom"]


def test_a_stack_on_the_patients_axes_never_pays_for_scipy() -> None:
    """The command line asks every stack whether it needs resampling; scipy (a third of a
    second to import) loads only when one does."""
    code = "import dicomviz.cli\nfrom dicomviz.pixels.resample import default_grid, on_grid"
    assert "scipy" not in _imported_after(code).split(",")
