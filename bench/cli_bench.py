"""Whole-process time of ``python -m dicomviz project`` against a SimpleITK script doing the same.

``python bench/cli_bench.py [FOLDER] [--repeats 5] [--tree PATH ...]`` runs, in fresh processes
and interleaved round by round, ``python -m dicomviz project FOLDER --plane coronal --mode max
-o OUT`` and ``python bench/sitk_project.py FOLDER OUT`` (GDCM reads the series, numpy takes the
maximum, a PNG is written), and prints one JSON object: medians of wall and CPU seconds, their
spread, and the ratio dicomviz / simpleitk (target 0.6 or less). Start-up is part of a command's
cost, so it is measured as a user meets it; interpreter start and ``import dicomviz.cli`` alone
are timed too. Each ``--tree`` adds the package in another checkout (e.g. the commit before a
change, from ``git archive``) to the same rounds, so before and after meet the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = Path("/tmp/dicomviz-bench/unc-300-v3")
LIMIT = 0.6
Command = tuple[list[str], dict[str, str]]
"""argv and environment. Every command runs in an empty folder: ``-m`` and ``-c`` put the
current folder first on sys.path, where a checkout would shadow the package under test."""


def _env(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:  # ahead of the installed package on sys.path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    return env


def _commands(folder: Path, out: Path, trees: list[Path | None]) -> dict[str, Command]:
    python = sys.executable
    commands: dict[str, Command] = {}
    for k, tree in enumerate(trees):
        label = f" ({tree})" if tree else ""
        project = [python, "-m", "dicomviz", "project", str(folder), "--plane", "coronal",
                   "--mode", "max", "-o", str(out / f"dicomviz{k}")]  # fmt: skip
        commands[f"dicomviz{label}"] = (project, _env(tree))
        commands[f"import dicomviz.cli{label}"] = (
            [python, "-c", "import dicomviz.cli"],
            _env(tree),
        )
    commands["simpleitk"] = ([python, str(HERE / "sitk_project.py"), str(folder), str(out / "s")],
                             _env(None))  # fmt: skip
    commands["python -c pass"] = ([python, "-c", "pass"], _env(None))
    return commands


def _run(command: Command, cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run in a fresh process."""
    argv, env = command
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{err.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(
    folder: Path = DEFAULT_FOLDER, repeats: int = 5, trees: list[Path | None] | None = None
) -> dict:
    """Medians over ``repeats`` rounds, after one untimed round that fills the page cache and
    compiles bytecode; ratios of each dicomviz to simpleitk (wall time)."""
    with tempfile.TemporaryDirectory() as out:
        commands = _commands(folder, Path(out), trees or [None])
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(repeats + 1):
            for name, command in commands.items():
                seconds, used = _run(command, Path(out))
                if round_:
                    wall[name].append(seconds)
                    cpu[name].append(used)
    seconds = {name: statistics.median(t) for name, t in wall.items()}
    ratios = {
        name: seconds[name] / seconds["simpleitk"]
        for name in commands
        if name.startswith("dicomviz")
    }
    return {
        "folder": str(folder),
        "repeats": repeats,
        "seconds": seconds,
        "min_max": {name: [min(t), max(t)] for name, t in wall.items()},
        "cpu_seconds": {name: statistics.median(t) for name, t in cpu.items()},
        "ratios": ratios,
        "limit": LIMIT,
        "verdicts": {name: "PASS" if r <= LIMIT else "FAIL" for name, r in ratios.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, nargs="?", default=DEFAULT_FOLDER)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], help="also time this checkout"
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: no such folder (bench/run.py generates it)")
    trees: list[Path | None] = [None, *args.tree]
    print(json.dumps(measure(args.folder, args.repeats, trees), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
