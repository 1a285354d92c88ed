"""The Browse panel in Chromium (issue 14, points 1, 2 and 4): a viewer that needs no rerun.

``python bench/browser.py [FOLDER] [--repeats N]`` starts the page on loopback, uploads a series
(default: bench/ctdata.py's 300-slice 512x512 CT, made once under /tmp/dicomviz-bench), and
measures in the browser, against the targets:

- first browsable picture: from the upload's first Plotly view to the viewer's first picture
  of the new series (and when its volume message arrived), <= 2 s;
- next slice: a wheel event over the axial view to its changed canvas pixels, median <= 30 ms,
  95th percentile <= 60 ms;
- window drag: one pointer move of a drag to the repainted views, <= 30 ms (median);
- sliding slab: a 20 mm MIP moved by one slice (wheel), <= 60 ms (median, axial 512x512; the
  coronal and sagittal views are reported too);
- memory: the tab's JS heap (V8 heap plus ArrayBuffer backing stores, after a collection)
  <= 3x the volume's bytes;
- and the bytes the page receives on a rerun the viewer causes (the volume must not travel).

Latencies are taken in the page: from the input event's own timestamp (when Chromium received
it) to a listener that runs after the viewer's handler has painted, on real input events sent
through the DevTools protocol. Not part of the test suite: the machine is shared; the table says
what the load was.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import pageserver  # noqa: E402  (the tests' one way to start the page)

CHROMIUM = "/usr/bin/chromium"
CANVAS = "canvas[data-dicomviz=browse][data-plane={}]"

# In-page probes. A capture listener on window notes the event's timestamp; a bubbling one,
# which runs after the viewer's own handler, notes when the canvas has its new pixels.
_PROBE = """
() => {
  const b = (window.__bench = { lat: [], kind: null });
  for (const type of ["wheel", "pointermove"]) {
    window.addEventListener(type, (e) => {
      if (b.kind === type) b.lat.push(performance.now() - e.timeStamp);
    });
  }
}
"""
_SIGNATURE = """
(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i]) | 0;
  return h + ":" + c.dataset.slice + ":" + c.dataset.window;
}
"""
# Every websocket message's arrival and size, counted in the page (a Playwright frame listener
# would copy each message through the driver, which costs seconds for a volume).
_COUNT_WEBSOCKET = """
(() => {
  const log = (window.__ws = []);
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const n = e.data.byteLength ?? e.data.size ?? e.data.length ?? 0;
        log.push([performance.now(), n]);
      });
    }
  };
})();
"""
# From the upload on: when the first Plotly picture of the new series appeared, when the
# viewer painted the new series, when the volume's message arrived (by its size).
_WATCH = """
([count, full]) => {
  const t = (window.__times = {});
  const picture = () => [...document.querySelectorAll(".js-plotly-plot .imagelayer image")]
    .map((e) => (e.getAttribute("href") || "").length).join("|");
  const before = picture();
  const stack = document.querySelector("canvas[data-dicomviz=browse]")?.dataset.stack;
  const metric = () => [...document.querySelectorAll("[data-testid=stMetricValue]")]
    .some((e) => e.textContent.trim() === String(count));
  new MutationObserver(() => {
    const now = performance.now();
    if (!t.view && metric()) {
      const p = picture();
      if (p && p !== before) t.view = now;
    }
    const c = document.querySelector("canvas[data-dicomviz=browse][data-plane=axial]");
    if (c && c.dataset.stack && c.dataset.stack !== stack && c.dataset.slice) {
      t.browse ??= now; // the first picture: a preview (every 4th pixel) for a large stack
      if (c.width === full) t.full ??= now; // the full-resolution volume's
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
}
"""


def _series(folder: str | None) -> list[Path]:
    if folder:
        return sorted(p for p in Path(folder).rglob("*") if p.is_file())
    sys.path.insert(0, str(Path(__file__).parent))
    import ctdata

    made = ctdata.ensure_series(Path("/tmp/dicomviz-bench"), ctdata.SeriesSpec("unc", 300))
    return ctdata.series_files(made)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    files = _series(args.folder)
    load_before = os.getloadavg()
    with pageserver.serve(ROOT / "test-artifacts" / "bench-browser.log") as url:
        results = _measure(url, files, args.repeats)
    results["load"] = {"before": load_before, "after": os.getloadavg(), "cores": os.cpu_count()}
    _report(results)
    print(json.dumps(results))
    return 0


def _measure(url: str, files: list[Path], repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        cdp = page.context.new_cdp_session(page)
        page.add_init_script(_COUNT_WEBSOCKET)
        page.goto(url)
        page.wait_for_selector(CANVAS.format("axial") + "[data-slice]", timeout=180_000)
        page.evaluate(_WATCH, [len(files), 512])
        upload = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
        upload.set_input_files([str(f) for f in files])
        page.wait_for_function("window.__times.view && window.__times.browse", timeout=600_000)
        # The full volume travels once the visitor turns to the view (the pointer over it).
        page.wait_for_timeout(1000)
        box = page.locator(CANVAS.format("axial")).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pointed = page.evaluate("performance.now()")
        page.wait_for_function("window.__times.full", timeout=600_000)
        times = page.evaluate("window.__times")
        marks = page.evaluate("globalThis.__dicomvizBrowse.marks")
        frames = page.evaluate("window.__ws")
        results: dict = {
            "first view -> browsable picture (ms)": times["browse"] - times["view"],
            "pointed at -> full-resolution picture (ms)": times["full"] - pointed,
            "pointed at -> volume message (ms)": marks["received"] - pointed,
            "pointed at -> volume decoded (ms)": marks["decoded"] - pointed,
            "volume message (MB)": max(n for _, n in frames) / 2**20,
        }
        page.wait_for_timeout(1500)
        shape = page.eval_on_selector_all(
            "canvas[data-dicomviz=browse]",
            "cs => cs.map(c => [c.dataset.plane, c.height, c.width])",
        )
        results["views (rows x cols)"] = shape
        page.evaluate(_PROBE)
        _settle(page)
        results["next slice (ms)"] = _wheel(page, "axial", repeats)
        before = page.evaluate("window.__ws.length")
        page.wait_for_timeout(2500)  # the viewer reports; the page reruns and follows
        later = page.evaluate(f"window.__ws.slice({before})")
        results["rerun bytes after scrolling"] = sum(n for _, n in later)
        _settle(page)
        results["window drag step (ms)"] = _drag(page, "coronal", repeats)
        page.locator(".dvb-root button[data-mode=max]").click()
        slab = page.locator(".dvb-root input[data-role=slab]")
        slab.fill("20")
        slab.press("Enter")
        for plane in ("axial", "coronal", "sagittal"):
            _settle(page)
            results[f"20 mm MIP moved one slice, {plane} (ms)"] = _wheel(page, plane, repeats // 2)
        page.wait_for_timeout(2500)
        cdp.send("HeapProfiler.collectGarbage")
        usage = cdp.send("Runtime.getHeapUsage")
        results["heap (MB)"] = {k: v / 2**20 for k, v in usage.items()}
        results["volume (MB)"] = (512 * 512 * len(files) * 2) / 2**20
        browser.close()
    return results


def _settle(page) -> None:
    """Wait until the page is idle: the viewer's report sent and the rerun it caused done (a
    rerun's Plotly figures keep the browser's main thread busy, which every input then waits
    for; the table measures the viewer itself)."""
    quiet = 0
    for _ in range(150):
        page.wait_for_timeout(200)
        running = page.locator("[data-testid='stStatusWidget']").count() > 0
        quiet = 0 if running else quiet + 1
        if quiet >= 5:  # 1 s without a run: past the viewer's report delay
            return


def _wheel(page, plane: str, count: int) -> list[float]:
    box = page.locator(CANVAS.format(plane)).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.evaluate("() => { window.__bench.kind = 'wheel'; window.__bench.lat = []; }")
    for k in range(count):
        before = page.evaluate(_SIGNATURE, CANVAS.format(plane))
        page.mouse.wheel(0, 100 if (k // 5) % 2 == 0 else -100)
        page.wait_for_function(
            f"({_SIGNATURE})({json.dumps(CANVAS.format(plane))}) !== {json.dumps(before)}",
            timeout=10_000,
        )
        page.wait_for_timeout(40)
    return page.evaluate("window.__bench.lat")


def _drag(page, plane: str, count: int) -> list[float]:
    box = page.locator(CANVAS.format(plane)).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 5, y + 5)  # past the click threshold: a drag from here on
    page.evaluate("() => { window.__bench.kind = 'pointermove'; window.__bench.lat = []; }")
    for k in range(count):
        before = page.evaluate(_SIGNATURE, CANVAS.format(plane))
        page.mouse.move(x + 5 + 3 * (k + 1), y + 5 + 2 * (k + 1))
        page.wait_for_function(
            f"({_SIGNATURE})({json.dumps(CANVAS.format(plane))}) !== {json.dumps(before)}",
            timeout=10_000,
        )
        page.wait_for_timeout(20)
    page.mouse.up()
    return page.evaluate("window.__bench.lat")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _report(r: dict) -> None:
    rows: list[tuple[str, str, str, bool]] = []

    def latency(name: str, key: str, median_limit: float, p95_limit: float | None = None) -> None:
        values = r[key]
        med, p95 = statistics.median(values), _p95(values)
        ok = med <= median_limit and (p95_limit is None or p95 <= p95_limit)
        target = f"median <= {median_limit:.0f} ms" + (
            f", p95 <= {p95_limit:.0f} ms" if p95_limit else ""
        )
        rows.append((name, f"median {med:.1f} ms, p95 {p95:.1f} ms (n={len(values)})", target, ok))

    first = r["first view -> browsable picture (ms)"]
    full = r["pointed at -> full-resolution picture (ms)"]
    message = r["pointed at -> volume message (ms)"]
    decoded = r["pointed at -> volume decoded (ms)"]
    rows.append(
        (
            "first browsable picture after the upload's first view",
            f"{first / 1000:.2f} s (a preview, every 4th pixel)",
            "<= 2 s",
            first <= 2000,
        )
    )
    rows.append(
        (
            "full-resolution picture after the pointer first is over the view",
            f"{full / 1000:.2f} s (its {r['volume message (MB)']:.1f} MB message in the "
            f"viewer at {message / 1000:.2f} s, decoded at {decoded / 1000:.2f} s)",
            "(for information)",
            True,
        )
    )
    latency("wheel -> changed axial pixels", "next slice (ms)", 30, 60)
    latency("window drag step -> repainted", "window drag step (ms)", 30)
    latency("20 mm MIP moved one slice (axial)", "20 mm MIP moved one slice, axial (ms)", 60)
    for plane in ("coronal", "sagittal"):
        latency(
            f"20 mm MIP moved one slice ({plane})",
            f"20 mm MIP moved one slice, {plane} (ms)",
            60,
        )
    heap = r["heap (MB)"]
    held = heap["usedSize"] + heap.get("backingStorageSize", 0)
    limit = 3 * r["volume (MB)"]
    rows.append(
        (
            "tab's JS heap (V8 used + ArrayBuffers, after GC)",
            f"{held:.0f} MB (V8 {heap['usedSize']:.0f} + buffers "
            f"{heap.get('backingStorageSize', 0):.0f}); volume {r['volume (MB)']:.0f} MB",
            f"<= {limit:.0f} MB (3x)",
            held <= limit,
        )
    )
    rerun = r["rerun bytes after scrolling"]
    rows.append(
        (
            "bytes received by the rerun the viewer causes",
            f"{rerun / 1e3:.0f} kB",
            "no volume (< 1 MB)",
            rerun < 1e6,
        )
    )
    print("| measure | result | target | verdict |")
    print("|---|---|---|---|")
    for name, result, target, ok in rows:
        print(f"| {name} | {result} | {target} | {'**PASS**' if ok else '**FAIL**'} |")
    load = r["load"]
    print(
        f"\nviews {r['views (rows x cols)']}; load average {load['before'][0]:.2f} before, "
        f"{load['after'][0]:.2f} after, on {load['cores']} cores"
    )


if __name__ == "__main__":
    raise SystemExit(main())
