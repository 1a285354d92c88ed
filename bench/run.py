"""dicomviz benchmark harness (GitHub issue 5): ``python bench/run.py [--quick]``.

Generates realistic CT series once (cached under /tmp/dicomviz-bench), then measures, in one
run, medians over ``--repeats`` rounds:

- volume builds from files (dicomviz vs SimpleITK vs the naive pydicom recipe vs the raw
  copy limit) and from in-memory bytes (the page's path), each build in a fresh process so
  its peak resident memory is its own; compressed series (RLE, JPEG 2000) too;
- each projection mode along each plane against one np.copyto of the volume;
- Plotly figure build + serialization of a 512x512 view;
- the page through streamlit's AppTest: rerun after a window change and a plane change;
- ``python -m dicomviz project`` as a whole process against a SimpleITK script (cli_bench.py).

dicomviz is imported as installed (requirements-dev.txt installs this tree editable); sibling
modules (ctdata, report, ...) are found because Python puts this script's folder on sys.path.

The machine is small and shared: every target is a ratio to a reference measured in the same
run, methods are interleaved round by round, and medians are reported with their spread.
"""

from __future__ import annotations

import os

# Set on some machines for old OpenBLAS builds; they slow a current numpy. Unset for this
# process and its children before numpy loads (RESULTS.md says which kernel then runs).
OPENBLAS_UNSET = {
    k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
}

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent

import cli_bench  # noqa: E402
import ctdata  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402

FULL = {
    "uncompressed": (100, 300, 600),
    "main": 300,
    "compressed": 300,
    "repeats": 3,
}
QUICK = {"uncompressed": (100,), "main": 100, "compressed": 30, "repeats": 1}

# (series kind, methods); warm in-process repeats only where cheap.
FILE_METHODS = ("dicomviz", "simpleitk", "naive", "raw")
BYTES_METHODS = ("dicomviz-bytes", "raw-bytes")
COMPRESSED_METHODS = ("dicomviz", "simpleitk", "naive")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------- machine ----------


def machine() -> dict:
    import pydicom

    info = {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pydicom": pydicom.__version__,
        "openblas_unset": OPENBLAS_UNSET,
    }
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (
                line.split(":", 1)[1].strip()
                for line in text.splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        )
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
        info["simd"] = " ".join(f for f in ("avx2", "avx512f", "avx512bw") if f" {f}" in flags)
    except OSError:
        info["cpu"] = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    for module, key in (
        ("SimpleITK", "simpleitk"),
        ("plotly", "plotly"),
        ("streamlit", "streamlit"),
        ("orjson", "orjson"),
        ("openjpeg", "pylibjpeg-openjpeg"),
        ("rle", "pylibjpeg-rle"),
    ):
        try:
            info[key] = __import__(module).__version__
        except (ImportError, AttributeError):
            info[key] = "missing"
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: pool.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for pool in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    try:
        from numpy._core._multiarray_umath import (
            __cpu_baseline__,
            __cpu_dispatch__,
            __cpu_features__,
        )

        info["numpy_simd"] = {
            "baseline": list(__cpu_baseline__),
            "dispatch_found": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
        }
    except ImportError:
        pass
    return info


# ---------- data ----------


def prepare(config: dict, root: Path) -> dict[str, Path]:
    specs = [ctdata.SeriesSpec("unc", n) for n in config["uncompressed"]]
    specs += [ctdata.SeriesSpec(kind, config["compressed"]) for kind in ("rle", "j2k")]
    folders = {spec.name: ctdata.ensure_series(root, spec, log=log) for spec in specs}
    for folder in folders.values():  # warm the page cache: every method then reads from RAM
        for path in ctdata.series_files(folder):
            path.read_bytes()
    return folders


# ---------- builds (fresh process each) ----------


def build_once(method: str, folder: Path, *, tracemalloc=False, warm=0) -> dict:
    command = [sys.executable, str(HERE / "builders.py"), method, str(folder)]
    if tracemalloc:
        command.append("--tracemalloc")
    if warm:
        command += ["--warm", str(warm)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def builds(plan: list[tuple], repeats: int) -> dict[tuple, list[dict]]:
    """Interleave the plan round by round, so slow minutes on a shared machine hit every
    method alike; returns every run per (series, method)."""
    runs: dict[tuple, list[dict]] = {}
    for round_ in range(repeats):
        log(f"  builds: round {round_ + 1} of {repeats}")
        for series, folder, method, warm in plan:
            result = build_once(method, folder, warm=warm)
            runs.setdefault((series, method), []).append(result)
    return runs


def summarize(runs: list[dict]) -> dict:
    seconds = [r["seconds"] for r in runs]
    warm = [s for r in runs for s in r["warm_seconds"]]
    peaks = [r["peak_rss"] for r in runs if r["peak_rss"] is not None]
    first = runs[0]
    basis = first["volume_bytes"] + first["input_bytes"]
    return {
        "seconds": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "warm_seconds": statistics.median(warm) if warm else None,
        "peak_rss": statistics.median(peaks) if peaks else None,
        "volume_bytes": first["volume_bytes"],
        "input_bytes": first["input_bytes"],
        "memory_ratio": statistics.median(peaks) / basis if peaks else None,
        "dtype": first["dtype"],
        "shape": first["shape"],
        "checksum": first["checksum"],
        "first_slice": first["first_slice"],
        "repeats": len(runs),
    }


def phases(folder: Path) -> dict:
    command = [sys.executable, str(HERE / "phases.py"), str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        raise RuntimeError(f"phases failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def load_now() -> str:
    try:
        avg = Path("/proc/loadavg").read_text().split()[:3]
        free = next(
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemAvailable:")
        )
        return f"load average {' '.join(avg)}, {free} MiB available"
    except (OSError, StopIteration):
        return "unknown"


# ---------- page ----------


def page(folder: Path, repeats: int) -> dict:
    command = [sys.executable, str(HERE / "pagebench.py"), str(folder), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        raise RuntimeError(f"page benchmark failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------- main ----------


def plan_builds(config: dict, folders: dict, sections: set) -> list[tuple]:
    """(series, folder, method, warm repeats), in the order each round runs them."""
    main_series = f"unc-{config['main']}"
    main_folder = folders[main_series]
    compressed = [f"{kind}-{config['compressed']}" for kind in ("rle", "j2k")]
    plan = []
    if "builds" in sections:
        for n in config["uncompressed"]:
            series = f"unc-{n}"
            warm = 2 if series == main_series else 0
            plan += [(series, folders[series], m, warm) for m in FILE_METHODS]
        plan += [(main_series, main_folder, m, 2) for m in BYTES_METHODS]
    if "compressed" in sections:
        plan += [(s, folders[s], m, 0) for s in compressed for m in COMPRESSED_METHODS]
    return plan


def build_details(folder: Path, repeats: int) -> dict:
    """Phase breakdown and a tracemalloc pass for the main series."""
    log("  builds: phases of the dicomviz build")
    runs = [phases(folder) for _ in range(repeats)]
    out: dict = {"phases": {name: statistics.median(r[name] for r in runs) for name in runs[0]}}
    log("  builds: tracemalloc pass")
    out["tracemalloc"] = [
        build_once(m, folder, tracemalloc=True)
        for m in ("dicomviz", "dicomviz-bytes", "naive", "raw")
    ]
    return out


def view_sections(folder: Path, sections: set, repeats: int) -> dict:
    """Projections and figures on one volume built (once) from the main series."""
    import viewbench

    import dicomviz

    volume = dicomviz.build_volume(dicomviz.load([str(folder)]).largest())
    out: dict = {"projection_shape": "x".join(map(str, volume.array.shape))}
    if "projections" in sections:
        log("projections")
        out["projections"] = viewbench.projections(volume, repeats)
        out["slab_minip"] = viewbench.slab_minip(volume, max(3, repeats))
    if "figures" in sections:
        log("figures")
        out["figures"] = viewbench.figures(volume, max(3, repeats))
        out["json_engine"] = viewbench.json_engine()
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 slices, 1 repeat")
    parser.add_argument("--repeats", type=int, help="rounds per measurement (default 3; quick 1)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/dicomviz-bench"), help="cache")
    parser.add_argument(
        "--only",
        default="builds,compressed,projections,figures,page,cli",
        help="comma list of sections: builds,compressed,projections,figures,page,cli",
    )
    parser.add_argument("--json", type=Path, help="all results (default: DATA/results.json)")
    parser.add_argument("--markdown", type=Path, help="also write the report tables here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    repeats = args.repeats or config["repeats"]
    sections = set(args.only.split(","))
    started = time.perf_counter()

    log("machine and data")
    results: dict = {
        "machine": machine(),
        "repeats": repeats,
        "quick": args.quick,
        "load_start": load_now(),
    }
    folders = prepare(config, args.data)
    main_folder = folders[f"unc-{config['main']}"]
    plan = plan_builds(config, folders, sections)
    runs = builds(plan, repeats) if plan else {}
    results["builds"] = {f"{series}|{method}": summarize(r) for (series, method), r in runs.items()}
    if "builds" in sections:
        results |= build_details(main_folder, repeats)
    if sections & {"projections", "figures"}:
        results |= view_sections(main_folder, sections, repeats)
    if "page" in sections:
        log("page (AppTest)")
        results["page"] = page(main_folder, max(5, repeats))
    if "cli" in sections:
        log("command line (whole processes)")
        results["cli"] = cli_bench.measure(main_folder, max(5, repeats))
    results["load_end"] = load_now()
    results["targets"] = report.targets(results, config)
    results["wall_seconds"] = time.perf_counter() - started
    text = report.markdown(results)
    print(text)
    out = args.json or args.data / ("results-quick.json" if args.quick else "results.json")
    out.write_text(json.dumps(results, indent=1, default=str))
    log(f"results: {out}")
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
