"""Load benchmark for a hosted page: many visitors, each with their own CT study, on one server
(or on two replicas behind nginx, as tests/test_proxy.py runs them). Not part of the test suite.

Run as ``.venv/bin/python bench/load.py [--proxy] [--quick]``. What happens, on one server
process for the whole run (or one topology), started with ``DICOMVIZ_MEMORY_MB`` and a short
``server.disconnectedSessionTTL``:

1. warm-up: a tab opens the page (the built-in sample), then closes; the server's RSS then is
   the baseline;
2. solo: ``--solo`` visitors one after another, each alone, upload a study and step through
   views (their median first view is the reference);
3. concurrent: ``--concurrent`` visitors load the page, then start their uploads ``--stagger``
   seconds apart (the first to start is "the first user");
4. sequential: ``--sessions`` visitors one after another, each closing before the next opens;
5. drain: every tab is closed; RSS is followed until TTL + 60 s after the last close.

Every visitor uploads a distinct study: a 300-slice 512x512 CT series (about 158 MB) written
like bench/ctdata.py's (same body, header and file layout) with its own UIDs, noise seed and
series description, as one uncompressed (stored) zip, or with ``--upload folder`` as 300 files
through the folder uploader. Time to first view runs from the upload's start (the file given to
the page's input) to the first Plotly view of that study on screen: the sidebar shows the
study's own series description and a view titled with its own middle slice is drawn, neither
left over from an earlier run (Streamlit marks those ``data-stale``).

The browsers run at nice 19 (``--browser-nice``): they stand in for the visitors' own machines,
so they take the CPU the server leaves instead of competing with it as equals (on two cores, four
headless renderers otherwise use three quarters of the CPU and the run measures Chromium
against itself). The CPU table says what each side used.

RSS is VmRSS summed over each server process and its children, read every 0.5 s from /proc.
Prints the targets (PASS/FAIL) and tables in bench/report.py's style; writes a short JSON to
/tmp/dicomviz-bench/load.json (load-proxy.json with ``--proxy``) and every RSS sample beside it
(load-rss.csv / load-proxy-rss.csv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

import ctdata  # noqa: E402 (bench/, tests/ and the repository root are put on sys.path above)
import pageserver  # noqa: E402 (the tests' one way to start the page)
from report import fmt_s, verdict  # noqa: E402

CACHE = Path("/tmp/dicomviz-bench")
LOAD_VERSION = "1"  # bump when the studies written here change
MIB = 2**20
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WORDS = (
    "ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIET",
    "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO", "SIERRA", "TANGO",
    "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU",
)  # fmt: skip
TIMEOUT_MS = 600_000
T0 = time.monotonic()


def now() -> float:
    """Seconds since the run started."""
    return time.monotonic() - T0


# ---------- studies ----------


@dataclass(frozen=True)
class Study:
    index: int
    slices: int
    token: str
    """Its series description, unique in the run (and not a substring of another)."""
    folder: Path
    zip_path: Path
    size: int

    @property
    def title(self) -> str:
        """The title of its opening axial view: the middle slice, counted from 1."""
        return f"Axial slice {self.slices // 2 + 1} "


def _token(index: int) -> str:
    word = WORDS[index % len(WORDS)]
    return f"LOADTEST {index // len(WORDS) or ''}{word}"  # "LOADTEST 1ALPHA" after ZULU


def _write_slice(args: tuple[int, int, str]) -> int:
    """One file of study ``index``: ctdata's slice and header, with the study's own UIDs,
    description and noise."""
    index, k, folder = args
    slices = int(Path(folder).name.split("-")[2])
    spec = ctdata.SeriesSpec("unc", slices)
    spacing = ctdata.LENGTH_MM / slices
    z = -ctdata.LENGTH_MM / 2 + (k + 0.5) * spacing
    rng = np.random.default_rng([ctdata.NOISE_SEED, slices, k, 1000 + index])
    stored = ctdata.slice_hu(ctdata._grid(), k / max(slices - 1, 1), rng)
    ds = ctdata._header(spec, k, z, spacing)
    key = ("load", LOAD_VERSION, ctdata.VERSION, index, slices)
    ds.StudyInstanceUID = ctdata.uid(*key, "study")
    ds.SeriesInstanceUID = ctdata.uid(*key, "series")
    ds.SOPInstanceUID = ctdata.uid(*key, "sop", k)
    ds.FrameOfReferenceUID = ctdata.uid(*key, "for")
    ds.SeriesDescription = _token(index)
    ds.PatientID = f"LOAD{index:04d}"
    ds.AccessionNumber = f"L{index:07d}"
    ctdata.set_pixel_data(ds, stored, ctdata.ExplicitVRLittleEndian)
    data = ctdata.part10_bytes(ds, version_name="DICOMVIZ_LOAD")
    (Path(folder) / f"IM-0001-{ds.InstanceNumber:04d}.dcm").write_bytes(data)
    return len(data)


def ensure_studies(count: int, slices: int, log=print) -> list[Study]:
    """``count`` distinct studies of ``slices`` slices, generated once (2 processes) and cached
    under /tmp/dicomviz-bench with a version key, each as a folder and a stored zip."""
    root = CACHE / f"load-v{ctdata.VERSION}.{LOAD_VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    studies, missing = [], []
    for index in range(count):
        folder = root / f"study-{index:02d}-{slices}"
        if not (root / f"{folder.name}.complete").exists():
            missing.append(folder)
        studies.append(folder)
    if missing:
        start = time.perf_counter()
        jobs = []
        for folder in missing:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            index = int(folder.name.split("-")[1])
            jobs += [(index, k, str(folder)) for k in range(slices)]
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_write_slice, jobs, chunksize=8))
        for folder in missing:
            _zip(folder)
            (root / f"{folder.name}.complete").write_text("ok\n")
        log(f"generated {len(missing)} studies in {time.perf_counter() - start:.0f} s")
    return [
        Study(
            index=i,
            slices=slices,
            token=_token(i),
            folder=folder,
            zip_path=folder.with_suffix(".zip"),
            size=ctdata.folder_bytes(folder),
        )
        for i, folder in enumerate(studies)
    ]


def _zip(folder: Path) -> None:
    """The folder as a stored (uncompressed) zip beside it, entries under the folder's name."""
    with zipfile.ZipFile(folder.with_suffix(".zip"), "w", zipfile.ZIP_STORED) as archive:
        for path in ctdata.series_files(folder):
            archive.write(path, f"{folder.name}/{path.name}")


# ---------- processes: RSS and CPU from /proc ----------

TICK = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return table


def descendants(pid: int, table: dict[int, tuple[int, float]]) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in table:
            found.append(current)
        todo += children.get(current, [])
    return found


def vm_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Every ``interval`` s: RSS of each server's process tree, and CPU seconds of the servers,
    of the browser (everything else below this process) and of the whole machine."""

    def __init__(self, servers: dict[str, int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.interval = interval
        self.samples: list[dict[str, float]] = []
        self.marks: list[tuple[float, str]] = []
        self._halt = threading.Event()
        self._seen: dict[str, dict[int, float]] = {}
        self._labels: dict[int, str] = {}

    def mark(self, label: str) -> None:
        self.marks.append((now(), label))

    def sample(self) -> dict[str, float]:
        table = _process_table()
        row: dict[str, float] = {"t": now()}
        server_pids: set[int] = set()
        for name, pid in self.servers.items():
            pids = descendants(pid, table)
            server_pids |= set(pids)
            row[name] = sum(vm_rss(p) for p in pids)
            row[f"cpu:{name}"] = self._cpu(name, pids, table)
        mine = set(descendants(os.getpid(), table)) - server_pids - {os.getpid()}
        browser = [p for p in mine if "nginx" not in _comm(p)]
        row["cpu:browser"] = self._cpu("browser", browser, table)
        row["cpu:machine"] = _machine_busy_seconds()
        others = set(table) - mine - server_pids - {os.getpid()}
        for pid in others:
            self._labels.setdefault(pid, _label(pid))
        row["others"] = self._others(others, table)  # type: ignore[assignment]
        return row

    def _others(self, pids: set[int], table: dict[int, tuple[int, float]]) -> dict[str, float]:
        """CPU seconds of other processes (everything not ours), by command."""
        seen = self._seen.setdefault("others", {})
        for pid in pids:
            seen[pid] = table[pid][1]
        totals: dict[str, float] = {}
        for pid, cpu in seen.items():
            label = self._labels.get(pid, "?")
            totals[label] = totals.get(label, 0.0) + cpu
        return totals

    def _cpu(self, name: str, pids: list[int], table: dict[int, tuple[int, float]]) -> float:
        """CPU seconds of every process ever seen in this group (ended ones keep their last
        count: Chromium's renderers end with their tabs)."""
        seen = self._seen.setdefault(name, {})
        for pid in pids:
            seen[pid] = table[pid][1]
        return sum(seen.values())

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(self.sample())
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def between(self, start: float, end: float) -> list[dict[str, float]]:
        return [s for s in self.samples if start <= s["t"] <= end]

    def peak(self, name: str, start: float, end: float) -> int:
        return int(max((s[name] for s in self.between(start, end)), default=0))

    def level(self, name: str, start: float, end: float) -> int:
        """Median RSS over [start, end]: one value robust to a single sample's spike."""
        values = [s[name] for s in self.between(start, end)]
        return int(statistics.median(values)) if values else 0

    def others(self, start: float, end: float, top: int = 3) -> dict[str, float]:
        """The busiest other commands over [start, end] (CPU seconds)."""
        inside = self.between(start, end)
        if len(inside) < 2:
            return {}
        first, last = inside[0]["others"], inside[-1]["others"]
        used = {k: v - first.get(k, 0.0) for k, v in last.items()}  # type: ignore[union-attr]
        ranked = sorted(used.items(), key=lambda kv: -kv[1])[:top]
        return {k: round(v, 1) for k, v in ranked if v >= 1}

    def cpu(self, name: str, start: float, end: float) -> float:
        inside = self.between(start, end)
        return inside[-1][f"cpu:{name}"] - inside[0][f"cpu:{name}"] if len(inside) > 1 else 0.0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _label(pid: int) -> str:
    """A process's command in short: 'python -m pytest', 'chromium', 'python dbg.py'."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    if len(words) == 1:  # Chromium rewrites its command line as one string
        words = words[0].split()
    if not words:
        return f"[{_comm(pid)}]"  # a kernel thread
    label = [Path(words[0]).name]
    rest = [w for w in words[1:3] if not w.startswith("--")]
    if label[0].startswith("python") and rest:
        label.append(rest[0] if rest[0] == "-m" else Path(rest[0]).name)
        if rest[0] == "-m" and len(rest) > 1:
            label.append(rest[1])
    return " ".join(label)


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (every core, not idle or iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def others_busy(seconds: float = 5.0) -> float:
    """Cores' worth of CPU used by everything but this process and its children."""
    before_table, before = _process_table(), _machine_busy_seconds()
    time.sleep(seconds)
    after_table, after = _process_table(), _machine_busy_seconds()
    mine = descendants(os.getpid(), after_table)
    own = sum(after_table[p][1] - before_table.get(p, (0, after_table[p][1]))[1] for p in mine)
    return max(0.0, (after - before - own) / seconds)


def wait_quiet(minutes: float, log=print) -> float:
    """Wait (up to ``minutes``) until other processes use under a quarter of a core; returns
    what they used when the run started."""
    deadline = time.monotonic() + minutes * 60
    while True:
        used = others_busy()
        if used < 0.25 or time.monotonic() > deadline:
            return used
        log(f"waiting for a quiet machine: others use {used:.2f} cores")
        time.sleep(20)


def busy_processes(seconds: float = 2.0) -> list[str]:
    """Processes that used over 5% of a core during ``seconds`` (what else is running)."""
    before = _process_table()
    time.sleep(seconds)
    after = _process_table()
    busy = []
    for pid, (_, cpu) in after.items():
        used = (cpu - before.get(pid, (0, cpu))[1]) / seconds
        if used > 0.05 and pid != os.getpid():
            busy.append(f"{_comm(pid)} ({used:.0%})")
    return busy


# ---------- servers ----------


def server_environment(budget_mib: int, ttl: int) -> dict[str, str]:
    """What both topologies start their servers with (Streamlit reads STREAMLIT_* options)."""
    return {
        "DICOMVIZ_MEMORY_MB": str(budget_mib),
        "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(ttl),
    }


class Single:
    """One `streamlit run app.py` on a loopback port."""

    def __init__(self, tmp: Path, app_root: Path, budget_mib: int, ttl: int) -> None:
        self.tmp = tmp
        self.app_root = app_root
        self.port = pageserver.free_port()
        self.env = dict(os.environ, **server_environment(budget_mib, ttl))
        self.ttl = ttl
        self.process: subprocess.Popen | None = None
        self.log_path = tmp / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "streamlit", "run", str(self.app_root / "app.py"),
            "--server.headless=true", f"--server.port={self.port}",
            "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
            f"--server.disconnectedSessionTTL={self.ttl}",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.app_root, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        pageserver.wait_healthy(self.url)

    def pids(self) -> dict[str, int]:
        assert self.process is not None
        return {"server": self.process.pid}

    def logs(self) -> list[Path]:
        return [self.log_path]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Proxied:
    """tests/test_proxy.py's Topology (two replicas, nginx with deploy/nginx's config) of the
    app's own checkout, its replicas started with this run's budget and TTL (from the
    environment, which it copies)."""

    def __init__(self, tmp: Path, app_root: Path, budget_mib: int, ttl: int) -> None:
        sys.path.insert(0, str(app_root / "tests"))
        from test_proxy import Topology  # the same topology as the proxy test

        os.environ.update(server_environment(budget_mib, ttl))
        self.topology = Topology(tmp)
        self.tmp = tmp
        self.routes: dict[int, str] = {}

    @property
    def url(self) -> str:
        return self.topology.url

    def start(self) -> None:
        self.topology.start()

    def pids(self) -> dict[str, int]:
        return {f"replica{k}": p.pid for k, p in enumerate(self.topology.replicas)}

    def logs(self) -> list[Path]:
        return [self.tmp / f"replica{k}.log" for k in range(2)]

    def access_log(self) -> Path:
        return self.tmp / "nginx" / "logs" / "access.log"

    def stop(self) -> None:
        self.topology.stop()


# ---------- one visitor ----------

LIVE_VIEW_JS = """
([token, title, count]) => {
  if (document.querySelector('[data-testid="stException"]')) return 'error';
  const side = document.querySelector('[data-testid="stSidebar"]');
  const live = [...document.querySelectorAll(
    '[data-testid="stElementContainer"]:not([data-stale="true"])')];
  if (token && !live.some(e => side && side.contains(e) && e.textContent.includes(token)))
    return false;
  const plots = live.map(e => e.querySelector('.js-plotly-plot')).filter(
    p => p && p.querySelector('.main-svg'));
  if (count && plots.length !== count) return false;
  if (count && document.querySelector('[data-stale="true"]')) return false;
  return plots.some(p => p.textContent.includes(title));
}
"""
"""A view titled ``title`` is drawn and not left over from an earlier run; with ``token``, the
sidebar shows it too (in this run); with ``count``, exactly that many views and nothing stale
(the run has redrawn everything). 'error' as soon as an exception shows. It reads textContent,
never innerText: run ten times a second in every tab, innerText (which lays the page out) cost
the browsers more CPU than the server used. Tracebacks in text are found by ``check``."""

STEPS = (
    ("Coronal", "Coronal slice", 1),
    ("Sagittal", "Sagittal slice", 1),
    ("MIP", "Sagittal MIP", 1),
    ("Axial", "Axial MIP", 1),
    ("Slice", "Axial slice", 1),
    ("All three", "Axial slice", 3),
)
"""Sidebar choices clicked in turn after the first view: (label, a view title, views shown)."""


@dataclass
class Visit:
    """What one visitor measured."""

    name: str
    study: int
    token: str
    phase: str
    replica: str = ""
    upload_start: float = 0.0
    upload_seconds: float | None = None
    """From the upload's start until the server answered its last upload request."""
    first_view: float | None = None
    steps: list[float] = field(default_factory=list)
    closed: float = 0.0
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    """Other studies' descriptions this visitor saw."""
    own_seen: bool = False


@dataclass
class Run:
    """What every visitor needs: the browser, the page, how to upload, all tokens."""

    browser: Any
    url: str
    upload: str
    tokens: list[str]
    routes: dict[str, str] = field(default_factory=dict)


async def open_page(run: Run, visit: Visit) -> tuple[Any, Any]:
    """A new browser context on the page, the sample drawn, ready for an upload."""
    context = await run.browser.new_context(viewport={"width": 1500, "height": 1000})
    route = run.routes.get(visit.replica)
    if route:
        await context.add_cookies([{"name": "dicomviz_route", "value": route, "url": run.url}])
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    def on_response(response: Any) -> None:
        if response.status >= 500:
            visit.errors.append(f"HTTP {response.status} {response.url}")

    def on_finished(request: Any) -> None:
        if request.method == "PUT" and "/_stcore/upload_file/" in request.url:
            visit.upload_seconds = now() - visit.upload_start

    page.on("response", on_response)
    page.on("requestfinished", on_finished)
    await page.goto(run.url)
    await page.wait_for_function(LIVE_VIEW_JS, arg=["", "", 0], polling=100)
    await page.wait_for_function(
        "() => !!document.querySelector('[data-testid=\"stFileUploaderDropzoneInput\"]')",
        polling=100,
    )
    return context, page


async def upload(run: Run, page: Any, study: Study) -> None:
    if run.upload == "folder":
        target = page.locator("input[webkitdirectory]").first
        await target.set_input_files(str(study.folder))
    else:
        target = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
        await target.set_input_files(str(study.zip_path))


async def check(run: Run, page: Any, visit: Visit, where: str) -> None:
    """Errors on the page, and whose study it shows."""
    text = await page.inner_text("body")
    if "Traceback" in text or await page.locator("[data-testid='stException']").count():
        visit.errors.append(f"exception shown ({where})")
    visit.own_seen = visit.own_seen or visit.token in text
    for token in run.tokens:
        if token != visit.token and token in text and token not in visit.foreign:
            visit.foreign.append(token)


async def wait_view(page: Any, visit: Visit, args: list, where: str) -> bool:
    result = await page.wait_for_function(LIVE_VIEW_JS, arg=args, polling=100)
    if await result.json_value() == "error":
        visit.errors.append(f"exception shown ({where})")
        return False
    return True


async def step_through(run: Run, page: Any, visit: Visit) -> None:
    """Click through planes and modes, timing each rerun until its views are drawn."""
    sidebar = page.locator("[data-testid='stSidebar']")
    for label, title, count in STEPS:
        start = time.monotonic()
        await sidebar.get_by_text(label, exact=True).first.click()
        if not await wait_view(page, visit, ["", title, count], label):
            return
        visit.steps.append(time.monotonic() - start)
    await check(run, page, visit, "after the steps")


@dataclass
class Start:
    """For simultaneous visitors: each sets ``ready`` once its page is loaded, then waits for
    ``go`` and ``delay`` seconds more before uploading."""

    ready: asyncio.Event
    go: asyncio.Event
    delay: float = 0.0


async def visit_page(run: Run, visit: Visit, study: Study, start: Start | None = None) -> Visit:
    """One visitor: open the page, (wait for the start), upload, first view, steps, close."""
    try:
        context, page = await open_page(run, visit)
    except Exception as exc:
        visit.errors.append(f"page did not load: {type(exc).__name__}")
        if start is not None:
            start.ready.set()
        return visit
    try:
        if start is not None:
            start.ready.set()
            await start.go.wait()
            await asyncio.sleep(start.delay)
        visit.upload_start = now()
        began = time.monotonic()
        await upload(run, page, study)
        if await wait_view(page, visit, [study.token, study.title, 0], "first view"):
            visit.first_view = time.monotonic() - began
            await check(run, page, visit, "first view")
            await step_through(run, page, visit)
    except Exception as exc:  # a timeout or a closed page: reported, the run goes on
        visit.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        await page.screenshot(path=str(CACHE / f"load-{visit.name}-failed.png"))
    finally:
        await context.close()
        visit.closed = now()
    return visit


async def find_routes(run: Run, proxied: Proxied) -> None:
    """A route cookie value for each replica (tried one by one, watching which replica's
    session count rises), so visitors can be spread evenly; these visits also warm up."""
    topology = proxied.topology
    for attempt in range(40):
        if len(run.routes) == 2:
            return
        value = f"load{attempt}"
        before = [topology.sessions(0), topology.sessions(1)]
        probe = Visit(f"probe{attempt}", -1, "", "warm-up", replica="?")
        run.routes["?"] = value
        context, _ = await open_page(run, probe)
        after = [topology.sessions(0), topology.sessions(1)]
        await context.close()
        del run.routes["?"]
        for k in range(2):
            if after[k] > before[k] and f"replica{k}" not in run.routes:
                run.routes[f"replica{k}"] = value
        await asyncio.sleep(1)
    raise RuntimeError("no route cookie found for one of the replicas")


# ---------- the run ----------


@dataclass
class Config:
    sessions: int
    concurrent: int
    proxy: bool
    quick: bool
    solo: int
    upload: str
    slices: int
    ttl: int
    budget_mib: int
    headroom_mib: int
    stagger: float
    browser_nice: int = 19


def niced_chromium(nice: int) -> Path:
    """Chromium started at CPU priority ``nice`` (through a small script): the visitors'
    browsers stand in for their own machines, so they take the CPU the server leaves rather
    than compete with it for it (on two cores, four renderers and their uploads otherwise use
    three quarters of it, and the run would measure Chromium against itself)."""
    if nice == 0:
        return Path(CHROMIUM)
    script = CACHE / f"chromium-nice{nice}.sh"
    script.write_text(f'#!/bin/sh\nexec nice -n {nice} {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script


async def phases(cfg: Config, server: Single | Proxied, sampler: Sampler) -> dict:
    """Warm-up, solo, concurrent, sequential, drain; returns the visits and event times."""
    from playwright.async_api import async_playwright

    studies = ensure_studies(cfg.solo + cfg.concurrent + cfg.sessions, cfg.slices)
    replicas = list(server.pids())
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(niced_chromium(cfg.browser_nice)), args=CHROMIUM_ARGS
        )
        times: dict[str, float] = {}
        chromium = browser.version
        run = Run(browser, server.url, cfg.upload, [s.token for s in studies])
        if isinstance(server, Proxied):
            await find_routes(run, server)
        else:
            context, _ = await open_page(run, Visit("warm-up", -1, "", "warm-up"))
            await context.close()
        await asyncio.sleep(5)
        times["baseline_from"] = now()
        await asyncio.sleep(3)
        times["baseline_to"] = now()
        sampler.mark("solo")

        def new(i: int, phase: str, k: int) -> Visit:
            replica = replicas[k % len(replicas)] if len(replicas) > 1 else ""
            return Visit(f"{phase}-{k + 1}", i, studies[i].token, phase, replica)

        solo = [await visit_page(run, new(k, "solo", k), studies[k]) for k in range(cfg.solo)]
        times["solo_end"] = now()
        first = cfg.solo  # the concurrent visitors' first study
        sampler.mark("concurrent")
        go = asyncio.Event()
        starts = [Start(asyncio.Event(), go, k * cfg.stagger) for k in range(cfg.concurrent)]
        tasks = [
            asyncio.ensure_future(
                visit_page(run, new(first + k, "concurrent", k), studies[first + k], starts[k])
            )
            for k in range(cfg.concurrent)
        ]
        for start in starts:  # every page loaded before any upload starts
            await start.ready.wait()
        go.set()
        times["concurrent_start"] = now()
        concurrent = list(await asyncio.gather(*tasks))
        times["concurrent_end"] = now()
        sampler.mark("sequential")
        sequential = []
        for k in range(cfg.sessions):
            i = first + cfg.concurrent + k
            sequential.append(await visit_page(run, new(i, "sequential", k), studies[i]))
        times["last_close"] = now()
        sampler.mark("all closed")
        await browser.close()
    deadline = times["last_close"] + cfg.ttl + 60
    while now() < deadline:
        await asyncio.sleep(1)
    times["drain_end"] = now()
    return {
        "solo": solo,
        "concurrent": concurrent,
        "sequential": sequential,
        "times": times,
        "chromium": chromium,
    }


# ---------- targets and tables ----------


def _row(name: str, value: float, reference: float, limit: float, unit: str) -> dict:
    ratio = value / reference if reference else (0.0 if value == 0 else math.inf)
    return {
        "target": name,
        "value": value,
        "reference": reference,
        "ratio": ratio,
        "limit": limit,
        "unit": unit,
        "verdict": verdict(ratio <= limit if unit != "count" else value <= limit),
    }


def memory_report(cfg: Config, sampler: Sampler, times: dict, names: list[str]) -> dict:
    """Per server process: baseline, peaks per phase, level after the last close."""
    budget = cfg.budget_mib * MIB
    out = {}
    for name in names:
        baseline = sampler.level(name, times["baseline_from"], times["baseline_to"])
        threshold = baseline + budget // 10
        after = sampler.between(times["last_close"], times["drain_end"])
        under = next((s["t"] for s in after if s[name] <= threshold), None)
        out[name] = {
            "baseline": baseline,
            "peak_solo": sampler.peak(name, times["baseline_to"], times["solo_end"]),
            "peak_concurrent": sampler.peak(name, times["solo_end"], times["concurrent_end"]),
            "peak_sequential": sampler.peak(name, times["concurrent_end"], times["last_close"]),
            "at_last_close": sampler.level(name, times["last_close"] - 1, times["last_close"]),
            "at_ttl": sampler.level(
                name, times["last_close"] + cfg.ttl, times["last_close"] + cfg.ttl + 2
            ),
            "final": sampler.level(name, times["drain_end"] - 2, times["drain_end"]),
            "threshold": threshold,
            "first_under_after_close": None if under is None else under - times["last_close"],
        }
    return out


def targets(cfg: Config, result: dict, memory: dict, server_errors: int) -> list[dict]:
    solo, concurrent = result["solo"], result["concurrent"]
    visits = [*solo, *concurrent, *result["sequential"]]
    rows = []
    first = min(concurrent, key=lambda v: v.upload_start)
    times = [v.first_view if v.first_view is not None else math.inf for v in concurrent]
    base = statistics.median(_t(v) for v in solo) if solo else math.nan
    n = len(concurrent)
    alone = f"solo (median of {len(solo)})"
    rows.append(_row(f"first view, first of {n} simultaneous / {alone}", _t(first), base, 1.5, "s"))
    rows.append(
        _row(
            f"first view, median of {n} simultaneous / {alone}",
            statistics.median(times),
            base,
            2.5,
            "s",
        )
    )
    limit = (cfg.budget_mib + cfg.headroom_mib) * MIB
    for name, m in memory.items():
        where = f" ({name})" if len(memory) > 1 else ""
        rows.append(
            _row(
                f"peak RSS{where}, {cfg.sessions} sequential sessions / (budget + "
                f"{cfg.headroom_mib} MiB)",
                m["peak_sequential"],
                limit,
                1.0,
                "bytes",
            )
        )
        rows.append(
            _row(
                f"RSS{where} TTL + 60 s after the last close / (baseline + 10% of budget)",
                m["final"],
                m["threshold"],
                1.0,
                "bytes",
            )
        )
    errors = sum(len(v.errors) for v in visits) + server_errors
    rows.append(_row("errors (exception shown, Traceback, 5xx, timeouts)", errors, 0, 0, "count"))
    mixed = sum(1 for v in visits if v.foreign or not v.own_seen)
    rows.append(_row("sessions seeing another's study (or not their own)", mixed, 0, 0, "count"))
    return rows


def _t(visit: Visit) -> float:
    return visit.first_view if visit.first_view is not None else math.inf


def markdown(report: dict) -> str:
    out = ["### Targets\n", "| target | measured | reference | ratio | limit | verdict |"]
    out.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in report["targets"]:
        if row["unit"] == "count":
            value, ref, ratio = f"{row['value']}", "0", "–"
        elif row["unit"] == "bytes":
            value, ref = f"{row['value'] / MIB:.0f} MiB", f"{row['reference'] / MIB:.0f} MiB"
            ratio = f"{row['ratio']:.2f}"
        else:
            value, ref, ratio = fmt_s(row["value"]), fmt_s(row["reference"]), f"{row['ratio']:.2f}"
        out.append(
            f"| {row['target']} | {value} | {ref} | {ratio} | {row['limit']:g} "
            f"| **{row['verdict']}** |"
        )
    out += _sessions_table(report) + _memory_table(report) + _cpu_table(report)
    return "\n".join(out) + "\n"


def _sessions_table(report: dict) -> list[str]:
    out = [
        "\n### Sessions (first view: from the upload's start to its study's first view drawn)\n",
        "| session | replica | upload starts | upload sent | first view | steps median | "
        "steps max | errors | other studies seen |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for v in report["visits"]:
        steps = v["steps"]
        out.append(
            f"| {v['name']} | {v['replica'] or '–'} | {v['upload_start']:.1f} s | "
            f"{fmt_s(v.get('upload_seconds'))} | {fmt_s(v['first_view'])} | "
            f"{fmt_s(statistics.median(steps)) if steps else '–'} | "
            f"{fmt_s(max(steps)) if steps else '–'} | {'; '.join(v['errors']) or 'none'} | "
            f"{', '.join(v['foreign']) or 'none'} |"
        )
    s = report["summary"]
    out.append(
        f"\nFirst view over all {s['count']} sessions: p50 {fmt_s(s['p50'])}, p95 "
        f"{fmt_s(s['p95'])}; concurrent: p50 {fmt_s(s['concurrent_p50'])}, p95 "
        f"{fmt_s(s['concurrent_p95'])}; sequential: p50 {fmt_s(s['sequential_p50'])}. "
        f"Steps (plane/mode changes) over all sessions: p50 {fmt_s(s['steps_p50'])}, p95 "
        f"{fmt_s(s['steps_p95'])}."
    )
    return out


def _memory_table(report: dict) -> list[str]:
    out = [
        "\n### Server RSS (process and children, MiB)\n",
        "| server | baseline | peak solo | peak concurrent | peak sequential | at last close | "
        "TTL after | TTL + 60 s after | threshold | under it after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in report["memory"].items():
        under = m["first_under_after_close"]
        out.append(
            f"| {name} | {m['baseline'] / MIB:.0f} | {m['peak_solo'] / MIB:.0f} | "
            f"{m['peak_concurrent'] / MIB:.0f} | {m['peak_sequential'] / MIB:.0f} | "
            f"{m['at_last_close'] / MIB:.0f} | {m['at_ttl'] / MIB:.0f} | {m['final'] / MIB:.0f} | "
            f"{m['threshold'] / MIB:.0f} | {'never' if under is None else f'{under:.0f} s'} |"
        )
    return out


def _cpu_table(report: dict) -> list[str]:
    out = [
        "\n### CPU seconds by phase (2 cores: at most 2 CPU-seconds per second)\n",
        "| phase | wall | server(s) | browser (Chromium, Playwright) | anything else | "
        "whole machine | busiest others |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for phase, c in report["cpu"].items():
        others = c["machine"] - c["server"] - c["browser"]
        busiest = ", ".join(f"{_short(k)} {v:.0f}" for k, v in c["others"].items()) or "–"
        out.append(
            f"| {phase} | {c['wall']:.0f} s | {c['server']:.0f} | {c['browser']:.0f} | "
            f"{others:.0f} | {c['machine']:.0f} | {busiest} |"
        )
    return out


def _short(label: str) -> str:
    """A process label as a short name (Chromium's rewritten command lines included)."""
    if "chromium" in label:
        return "chromium"
    return label if len(label) <= 40 else label[:37] + "..."


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(np.percentile(ordered, q, method="linear"))


def summarize(result: dict) -> dict:
    visits = [*result["solo"], *result["concurrent"], *result["sequential"]]
    firsts = [v.first_view for v in visits if v.first_view is not None]
    conc = [v.first_view for v in result["concurrent"] if v.first_view is not None]
    seq = [v.first_view for v in result["sequential"] if v.first_view is not None]
    steps = [s for v in visits for s in v.steps]
    return {
        "count": len(visits),
        "p50": _percentile(firsts, 50),
        "p95": _percentile(firsts, 95),
        "concurrent_p50": _percentile(conc, 50),
        "concurrent_p95": _percentile(conc, 95),
        "sequential_p50": _percentile(seq, 50),
        "steps_p50": _percentile(steps, 50),
        "steps_p95": _percentile(steps, 95),
    }


def cpu_by_phase(sampler: Sampler, times: dict, names: list[str]) -> dict:
    spans = {
        "solo": (times["baseline_to"], times["solo_end"]),
        "concurrent": (times["solo_end"], times["concurrent_end"]),
        "sequential": (times["concurrent_end"], times["last_close"]),
        "drain": (times["last_close"], times["drain_end"]),
    }
    return {
        phase: {
            "wall": end - start,
            "server": sum(sampler.cpu(n, start, end) for n in names),
            "browser": sampler.cpu("browser", start, end),
            "machine": sampler.cpu("machine", start, end),
            "others": sampler.others(start, end),
        }
        for phase, (start, end) in spans.items()
    }


def machine(busy: list[str]) -> dict:
    import playwright
    import streamlit

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "playwright": getattr(playwright, "__version__", "?"),
        "nginx": nginx.replace("nginx version: ", ""),
        "busy_at_start": busy,
    }


def app_version(root: Path) -> str:
    """The served checkout: its git state, or its folder's name (a `git archive` extract)."""
    found = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    inside = found.returncode == 0 and Path(root, ".git").exists()
    return f"{root} at {found.stdout.strip()}" if inside else str(root)


def server_log_errors(paths: list[Path]) -> int:
    """Tracebacks in the servers' own logs."""
    return sum(p.read_text(errors="replace").count("Traceback") for p in paths if p.exists())


def access_log_5xx(server: Single | Proxied) -> int:
    if not isinstance(server, Proxied) or not server.access_log().exists():
        return 0
    pattern = re.compile(r'" (5\d\d) ')
    return len(pattern.findall(server.access_log().read_text(errors="replace")))


def write_rss(sampler: Sampler, path: Path, names: list[str]) -> None:
    lines = ["t," + ",".join(f"{n}_mib" for n in names)]
    lines += [
        f"{s['t']:.1f}," + ",".join(f"{s[n] / MIB:.1f}" for n in names) for s in sampler.samples
    ]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="sequential sessions")
    parser.add_argument("--concurrent", type=int, default=4, help="simultaneous uploads")
    parser.add_argument("--solo", type=int, default=3, help="sessions alone (their median)")
    parser.add_argument("--proxy", action="store_true", help="two replicas behind nginx")
    parser.add_argument("--quick", action="store_true", help="40-slice studies, short TTL")
    parser.add_argument("--upload", choices=("zip", "folder"), default="zip")
    parser.add_argument("--ttl", type=int, help="server.disconnectedSessionTTL (s), default 30")
    parser.add_argument("--budget-mb", type=int, default=1500, help="DICOMVIZ_MEMORY_MB (MiB)")
    parser.add_argument("--headroom-mb", type=int, default=600)
    parser.add_argument("--stagger", type=float, default=0.5, help="s between simultaneous uploads")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=19,
        help="CPU priority of the browsers (0: compete with the server as equals)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="MINUTES",
        help="first wait up to this long for other processes to use under 1/4 core",
    )
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="the checkout whose app.py (and tests/test_proxy.py) to serve, e.g. a `git archive` "
        "of an earlier commit; default: this repository",
    )
    parser.add_argument("--render", type=Path, help="print the tables of a saved JSON and stop")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        print(_header(report))
        print(markdown(report))
        return 0
    cfg = Config(
        sessions=args.sessions,
        concurrent=args.concurrent,
        proxy=args.proxy,
        quick=args.quick,
        solo=args.solo,
        upload=args.upload,
        slices=40 if args.quick else 300,
        ttl=args.ttl or (10 if args.quick else 30),
        budget_mib=args.budget_mb,
        headroom_mib=args.headroom_mb,
        stagger=args.stagger,
        browser_nice=args.browser_nice,
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = "load-proxy" if cfg.proxy else "load"
    json_path = args.json or CACHE / f"{stem}.json"
    quiet = wait_quiet(args.wait_quiet) if args.wait_quiet else None
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    busy = busy_processes()
    tmp = Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=CACHE))
    app_root = args.app_root.resolve()
    kind = Proxied if cfg.proxy else Single
    server: Single | Proxied = kind(tmp, app_root, cfg.budget_mib, cfg.ttl)
    ensure_studies(cfg.solo + cfg.concurrent + cfg.sessions, cfg.slices)
    wall = time.monotonic()
    sampler: Sampler | None = None
    try:
        server.start()
        sampler = Sampler(server.pids())
        sampler.start()
        result = asyncio.run(phases(cfg, server, sampler))
    finally:
        try:
            if sampler is not None:
                sampler.stop()
        finally:
            server.stop()
    names = list(sampler.servers)
    times = result["times"]
    memory = memory_report(cfg, sampler, times, names)
    server_errors = server_log_errors(server.logs()) + access_log_5xx(server)
    visits = [*result["solo"], *result["concurrent"], *result["sequential"]]
    report = {
        "config": asdict(cfg),
        "command": " ".join([".venv/bin/python", "bench/load.py", *(argv or sys.argv[1:])]),
        "study_mb": round(ensure_studies(1, cfg.slices)[0].size / 1e6, 1),
        "app": app_version(app_root),
        "machine": machine(busy)
        | {
            "load_start": load_start,
            "others_cores_at_start": quiet,
            "load_end": Path("/proc/loadavg").read_text().split()[:3],
            "chromium": result["chromium"],
        },
        "wall_seconds": time.monotonic() - wall,
        "server_log_tracebacks_and_5xx": server_errors,
        "visits": [asdict(v) for v in visits],
        "summary": summarize(result),
        "memory": memory,
        "cpu": cpu_by_phase(sampler, times, names),
        "times": times,
        "logs": str(tmp),
    }
    report["targets"] = targets(cfg, result, memory, server_errors)
    json_path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    write_rss(sampler, json_path.with_name(f"{stem}-rss.csv"), names)
    print(_header(report))
    print(markdown(report))
    print(f"JSON: {json_path}")
    return 0 if all(r["verdict"] == "PASS" for r in report["targets"]) else 1


def _header(report: dict) -> str:
    m, c = report["machine"], report["config"]
    mode = "two replicas behind nginx" if c["proxy"] else "one server"
    return (
        f"### Load: {mode}, {c['upload']} uploads of {c['slices']}-slice studies "
        f"({report['study_mb']} MB each)\n\n"
        f"- {m['nproc']} cores, {m['memory_gib']} GiB, CPU `{m['cpu']}`; Python {m['python']}, "
        f"streamlit {m['streamlit']}, nginx {m['nginx']}, Chromium {m.get('chromium', '?')}\n"
        f"- DICOMVIZ_MEMORY_MB={c['budget_mib']}, server.disconnectedSessionTTL={c['ttl']} s; "
        f"{c.get('solo', 1)} solo sessions, {c['concurrent']} simultaneous uploads "
        f"{c['stagger']} s apart, {c['sessions']} sequential sessions; browsers at nice "
        f"{c.get('browser_nice', 0)}\n"
        f"- load average at start {' '.join(m['load_start'])}, at end {' '.join(m['load_end'])}; "
        f"busy at start: {', '.join(m['busy_at_start']) or 'nothing over 5% of a core'}\n"
        f"- app: {report['app']}; wall time {report['wall_seconds']:.0f} s; command "
        f"`{report['command']}`\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
