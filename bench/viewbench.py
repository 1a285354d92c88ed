"""Projections against the memory-bandwidth limit, and Plotly figures of one 512x512 view."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from dicomviz.display import modes
from dicomviz.geometry import PLANES

MODES = tuple(mode.name for mode in modes.REGISTRY if mode.projects)


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def projections(volume, repeats: int, modes: tuple[str, ...] = MODES) -> list[dict]:
    """Each mode along each plane on the whole volume, each paired with a copyto measured just
    before it (same moment, same noise), as medians over ``repeats`` rounds."""
    from dicomviz.display import views

    canon = views.canonical(volume)
    source = volume.array
    target = np.empty_like(source)
    np.copyto(target, source)  # fault the pages in once: the limit is bandwidth, not the kernel
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for plane in PLANES:
            for mode in modes:
                copy_s, _ = timed(lambda: np.copyto(target, source))
                view_s, _ = timed(lambda p=plane, m=mode: views.make_view(canon, p, m))
                samples.setdefault((plane, mode), []).append((view_s, copy_s))
    rows = []
    for (plane, mode), pairs in samples.items():
        view_s = statistics.median(p[0] for p in pairs)
        copy_s = statistics.median(p[1] for p in pairs)
        rows.append(
            {
                "plane": plane,
                "mode": mode,
                "seconds": view_s,
                "copyto_seconds": copy_s,
                "ratio": statistics.median(p[0] / p[1] for p in pairs),
            }
        )
    return rows


def slab_minip(volume, repeats: int) -> dict:
    """What the page does for MinIP by default: a central 40 mm slab (information only)."""
    from dicomviz.display import views

    canon = views.canonical(volume)
    slab = modes.get("min").opening_slab(canon.shape[0], canon.spacing[0])
    block = canon.array[slab[0] : slab[1]]
    target = np.empty_like(block)
    np.copyto(target, block)
    pairs = []
    for _ in range(repeats):
        copy_s, _ = timed(lambda: np.copyto(target, block))
        view_s, _ = timed(lambda: views.make_view(canon, "axial", "min", slab=slab))
        pairs.append((view_s, copy_s))
    return {
        "slab": slab,
        "seconds": statistics.median(p[0] for p in pairs),
        "copyto_seconds": statistics.median(p[1] for p in pairs),
        "ratio": statistics.median(p[0] / p[1] for p in pairs),
    }


def figures(volume, repeats: int) -> list[dict]:
    """view_figure of a 512x512 axial view, built and serialized (to_json), with and without
    the click grid; also Streamlit's own path (validate + to_json) for the page's figure."""
    import plotly
    import plotly.io as pio
    import plotly.tools

    from dicomviz.display import figures as figs
    from dicomviz.display import views
    from dicomviz.display.windowing import Window

    canon = views.canonical(volume)
    window = Window(40, 400)
    rows = []
    for mode in ("max", "mean"):
        view = views.make_view(canon, "axial", mode)
        for clickable in (False, True):
            build, serialize, streamlit, sizes = [], [], [], []
            for _ in range(repeats + 1):  # the first round warms Plotly's validators up
                b, figure = timed(
                    lambda v=view, c=clickable: figs.view_figure(v, window, clickable=c)
                )
                s, text = timed(figure.to_json)
                st, _ = timed(
                    lambda figure=figure: pio.to_json(
                        plotly.tools.return_figure_from_figure_or_data(
                            figure, validate_figure=True
                        ),
                        validate=False,
                    )
                )
                build.append(b)
                serialize.append(s)
                streamlit.append(st)
                sizes.append(len(text))
            build, serialize, streamlit = build[1:], serialize[1:], streamlit[1:]
            rows.append(
                {
                    "mode": mode,
                    "clickable": clickable,
                    "shape": list(view.image.shape),
                    "dtype": str(figs.display_values(view.image).dtype),
                    "build_seconds": statistics.median(build),
                    "json_seconds": statistics.median(serialize),
                    "total_seconds": statistics.median(
                        b + s for b, s in zip(build, serialize, strict=True)
                    ),
                    "streamlit_seconds": statistics.median(streamlit),
                    "json_bytes": sizes[-1],
                }
            )
    return rows


def json_engine() -> str:
    import plotly.io as pio

    engine = pio.json.config.default_engine
    if engine == "auto":
        try:
            import orjson  # noqa: F401

            return "auto (orjson)"
        except ImportError:
            return "auto (json)"
    return engine
