"""The spinning MIP (issue 15, point 3) on the 300x512x512 CT: preview, full resolution, payload.

``python bench/spin.py [FOLDER] [--repeats N] [--json OUT]`` builds the volume of FOLDER (default:
bench/ctdata.py's 300-slice 512x512 CT, the cached unc-300-v3 when it is there), then times,
for each axis, N times:

- preview on screen: ``spin(max_size=256)`` + ``spin_figure`` + its JSON (what the page sends);
- full resolution: ``spin`` of 36 frames, with a progress callback (as the page's bar);

and reports the figures' payloads and the GIF (information). Targets: preview <= 3 s, full
<= 15 s with progress, payload <= 3 MB. Medians; the machine is shared, so its load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from report import MB, fmt_s, verdict  # noqa: E402

from dicomviz.display.opening import initial_window  # noqa: E402
from dicomviz.display.spin import spin, spin_figure, spin_gif  # noqa: E402
from dicomviz.loading import load  # noqa: E402
from dicomviz.pixels.parallel import default_workers  # noqa: E402
from dicomviz.pixels.volume import build_volume  # noqa: E402

PREVIEW_SIZE = 256
FRAMES = 36
LIMITS = {"preview": 3.0, "full": 15.0, "payload": 3 * MB}
CACHED = Path("/tmp/dicomviz-bench/unc-300-v3")


def _folder(given: str | None) -> Path:
    if given:
        return Path(given)
    if CACHED.is_dir():
        return CACHED
    import ctdata

    return ctdata.ensure_series(Path("/tmp/dicomviz-bench"), ctdata.SeriesSpec("unc", 300))


def _timed(work):
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def measure(volume, axis: str, repeats: int) -> dict:
    """Medians of ``repeats`` previews on screen and full-resolution spins, for one axis."""
    previews, fulls, figures, calls = [], [], [], []
    window = None
    for _ in range(repeats):
        start = time.perf_counter()
        small = spin(volume, axis=axis, frames=FRAMES, max_size=PREVIEW_SIZE)
        window = window or initial_window(volume, "max", small.view(0))[0]  # as the CLI
        payload = spin_figure(small, window).to_json()
        previews.append(time.perf_counter() - start)
        said: list[float] = []
        start = time.perf_counter()
        full = spin(volume, axis=axis, frames=FRAMES, progress=lambda d, _, s=said: s.append(d))
        fulls.append(time.perf_counter() - start)
        calls.append(len(said))
        start = time.perf_counter()
        full_payload = spin_figure(full, window).to_json()
        figures.append(time.perf_counter() - start)
    start = time.perf_counter()
    gif = spin_gif(full, window)
    gif_s = time.perf_counter() - start
    return {
        "axis": axis,
        "preview_seconds": statistics.median(previews),
        "preview_shape": list(small.frames.shape),
        "preview_payload": len(payload),
        "full_seconds": statistics.median(fulls),
        "full_shape": list(full.frames.shape),
        "progress_calls": min(calls),
        "full_figure_seconds": statistics.median(figures),
        "full_payload": len(full_payload),
        "gif_seconds": gif_s,
        "gif_bytes": len(gif),
        "window": str(window),
        "samples": {"preview": previews, "full": fulls},
    }


def targets(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        axis = row["axis"].upper()
        checks = [
            (f"{axis} preview on screen (spin + figure + JSON)", row["preview_seconds"], "preview"),
            (f"{axis} full resolution, {FRAMES} frames", row["full_seconds"], "full"),
            (f"{axis} preview payload", row["preview_payload"], "payload"),
            (f"{axis} full-resolution payload", row["full_payload"], "payload"),
        ]
        for name, value, limit in checks:
            ok = value <= LIMITS[limit]
            if limit == "full":
                ok = ok and row["progress_calls"] > 1
            out.append({"target": name, "value": value, "limit": LIMITS[limit], "ok": ok})
    return out


def markdown(results: dict) -> str:
    lines = [
        f"### Spinning MIP: {results['series']} {results['shape']} {results['dtype']}\n",
        f"- {results['cores']} cores, {results['workers']} workers; load average at start "
        f"{results['load_start']}, at end {results['load_end']}; volume built in "
        f"{fmt_s(results['build_seconds'])}; medians of {results['repeats']}\n",
        "| target | measured | limit | verdict |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in results["targets"]:
        if "payload" in row["target"]:
            value, limit = f"{row['value'] / MB:.2f} MB", f"{row['limit'] / MB:g} MB"
        else:
            value, limit = fmt_s(row["value"]), fmt_s(row["limit"])
        lines.append(f"| {row['target']} | {value} | {limit} | **{verdict(row['ok'])}** |")
    lines += [
        "\n| axis | preview frames | full frames | progress calls | full figure | GIF | GIF size |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['axis'].upper()} | {' x '.join(map(str, row['preview_shape']))} | "
            f"{' x '.join(map(str, row['full_shape']))} | {row['progress_calls']} | "
            f"{fmt_s(row['full_figure_seconds'])} | {fmt_s(row['gif_seconds'])} | "
            f"{row['gif_bytes'] / MB:.1f} MB |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--axes", default="si,lr")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    folder = _folder(args.folder)
    load_start = [round(v, 2) for v in os.getloadavg()]
    build_s, volume = _timed(lambda: build_volume(load([str(folder)]).largest()))
    rows = [measure(volume, axis, args.repeats) for axis in args.axes.split(",")]
    results = {
        "series": folder.name,
        "shape": " x ".join(map(str, volume.shape)),
        "dtype": str(volume.array.dtype),
        "cores": os.cpu_count(),
        "workers": default_workers(),
        "repeats": args.repeats,
        "build_seconds": build_s,
        "load_start": load_start,
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "rows": rows,
    }
    results["targets"] = targets(rows)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(row["ok"] for row in results["targets"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
