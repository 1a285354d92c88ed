"""The page, headless through streamlit.testing.v1.AppTest: server-side rerun times.

Run as ``python bench/pagebench.py FOLDER [--repeats N]``; prints one JSON object.
Projection computations are counted by wrapping dicomviz.display.views.make_view before the
app runs (as tests/test_app.py does); the library calls the page makes on every rerun are
timed by wrappers too, so each rerun comes with a breakdown of where its time went.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APP = str(ROOT / "app.py")
CALLS: list[tuple] = []
SPENT: dict[str, float] = defaultdict(float)


def _timing(owner: object, name: str, label: str) -> None:
    original = getattr(owner, name)

    @wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def instrument() -> None:
    from streamlit.delta_generator import DeltaGenerator

    import dicomviz
    import dicomviz.display.views
    from dicomviz.display import figures, render, windowing
    from dicomviz.tables import headers, privacy

    original = dicomviz.display.views.make_view

    def counting(*args, **kwargs):
        CALLS.append(args[1:3])
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT["make_view (projection)"] += time.perf_counter() - start

    dicomviz.display.views.make_view = counting
    _timing(dicomviz, "load", "dicomviz.load")
    _timing(dicomviz, "build_volume", "dicomviz.build_volume")
    _timing(figures, "view_figure", "figures.view_figure")
    _timing(render, "view_png", "render.view_png (PNG download)")
    _timing(headers, "header_table", "headers.header_table")
    _timing(headers, "filter_table", "headers.filter_table")
    _timing(privacy, "redact_table", "privacy.redact_table")
    _timing(windowing, "default_window", "windowing.default_window")
    _timing(DeltaGenerator, "plotly_chart", "st.plotly_chart (validate+to_json+hash)")
    _timing(DeltaGenerator, "dataframe", "st.dataframe (header table)")
    _timing(DeltaGenerator, "download_button", "st.download_button")
    # Streamlit deep-copies every widget's value on every rerun (SessionState.register_widget),
    # the file uploader's list of UploadedFile (BytesIO) objects included.
    import streamlit.runtime.state.session_state as session_state

    _timing(session_state, "deepcopy", "streamlit deepcopy of widget values")
    import gc

    started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            SPENT[f"garbage collection (gen {info.get('generation')})"] += (
                time.perf_counter() - started.pop()
            )

    gc.callbacks.append(on_gc)


def step(at, label: str, action) -> dict:
    SPENT.clear()
    before = len(CALLS)
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{label}: the page raised {[e.value for e in at.exception]}")
    return {
        "step": label,
        "seconds": seconds,
        "projections": len(CALLS) - before,
        "breakdown": {k: round(v, 4) for k, v in sorted(SPENT.items(), key=lambda i: -i[1])},
    }


def run(folder: Path | None, repeats: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    instrument()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=900)
    steps = [step(at, "open (built-in sample)", at.run)]
    for k in range(repeats + 1):
        center = -600 if k % 2 == 0 else 40
        steps.append(
            step(
                at,
                f"sample: window change (center {center})",
                lambda c=center: at.text_input(key="center").set_value(str(c)).run(),
            )
        )
    sample_window = [s for s in steps if s["step"].startswith("sample: window")][1:]
    label = "sample"
    if folder is not None:
        files = [
            (p.name, p.read_bytes(), "application/dicom") for p in sorted(folder.glob("*.dcm"))
        ]
        label = f"{len(files)} uploaded files ({folder.name})"
        steps.append(
            step(
                at,
                f"upload {len(files)} files: read, build, project",
                lambda: at.file_uploader(key="files").set_value(files).run(),
            )
        )
    for k in range(repeats + 1):
        center = -600 if k % 2 == 0 else 40
        steps.append(
            step(
                at,
                f"window change (center {center})",
                lambda c=center: at.text_input(key="center").set_value(str(c)).run(),
            )
        )
    steps.append(
        step(
            at, "plane change: axial (cold)", lambda: at.radio(key="plane").set_value("Axial").run()
        )
    )
    steps.append(
        step(
            at,
            "plane change: coronal (warm)",
            lambda: at.radio(key="plane").set_value("Coronal").run(),
        )
    )
    steps.append(
        step(
            at, "plane change: axial (warm)", lambda: at.radio(key="plane").set_value("Axial").run()
        )
    )
    window = [s for s in steps if s["step"].startswith("window change")][1:]  # first is warm-up
    return {
        "sample_window_median_seconds": statistics.median(s["seconds"] for s in sample_window),
        "data": label,
        "steps": steps,
        "window_median_seconds": statistics.median(s["seconds"] for s in window),
        "window_max_seconds": max(s["seconds"] for s in window),
        "window_projections": sum(s["projections"] for s in window),
        "window_repeats": len(window),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.folder, args.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
