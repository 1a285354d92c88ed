"""Load, build and project one series with two checkouts of the package, to show a change made
nothing slower (issue 12). Not part of the test suite.

``python bench/compare_trees.py FOLDER --before DIR [--rounds 7]``, where DIR holds an earlier
``dicomviz/`` (e.g. ``git archive 9ff0e27 dicomviz | tar -x -C /tmp/before``). Each round runs
one fresh process per tree, the trees interleaved, so the machine's noise falls on both alike;
it prints medians and after/before ratios as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, sys, time
sys.path.insert(0, TREE)
import dicomviz
try:
    from dicomviz.display.views import canonical, make_view
except ImportError:  # the layout before the house
    from dicomviz.views import canonical, make_view
start = time.perf_counter()
study = dicomviz.load([FOLDER])
seconds = {"load": time.perf_counter() - start}
start = time.perf_counter()
volume = dicomviz.build_volume(study.largest())
seconds["build"] = time.perf_counter() - start
canon = canonical(volume)
for plane in ("axial", "coronal", "sagittal"):
    for mode in ("max", "min", "mean"):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            make_view(canon, plane, mode)
            best = min(best, time.perf_counter() - start)
        seconds[f"{mode} {plane}"] = best
print(json.dumps(seconds))
"""


def run_once(tree: Path, folder: Path) -> dict[str, float]:
    code = f"TREE = {str(tree)!r}\nFOLDER = {str(folder)!r}\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--before", type=Path, required=True, help="a checkout's root")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": ROOT}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(run_once(tree, args.folder.resolve()))
    print("| measure | before (median ms) | after (median ms) | after / before |")
    print("| --- | ---: | ---: | ---: |")
    for key in runs["after"][0]:
        before = statistics.median(r[key] for r in runs["before"]) * 1000
        after = statistics.median(r[key] for r in runs["after"]) * 1000
        print(f"| {key} | {before:.0f} | {after:.0f} | {after / before:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
