"""What a person feels on the page (issue 14, point 3): request -> changed picture, in Chromium.

``python bench/felt.py [FOLDER] [--repeats N]`` starts the page on loopback, uploads a series
(default: bench/ctdata.py's 300-slice 512x512 CT), shows one plane, then times, N times each:

- next slice: ArrowRight on the focused slice slider;
- window change: a new Center typed and entered;
- plane change: another plane's radio button clicked;

each from the user's input event (the key or click, as the page sees it) to the moment the
Plotly picture on screen changed, both timed in the page, with the bytes the page received over
its websocket for it; also from the harness's own call (which adds Playwright's typing and
clicking). Targets: <= 150 ms felt, <= 0.5 MB per action. Steps start once the page is quiet
(the browsing view's volume, sent after the upload's first view, has arrived).
Not part of the test suite: the machine is shared, so it reports medians and the spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import pageserver  # noqa: E402  (the tests' one way to start the page)

CHROMIUM = "/usr/bin/chromium"
FELT_LIMIT_MS = 150.0
BYTES_LIMIT = 0.5e6
_IN_PAGE = """
(() => {
  window.__felt = { input: 0, picture: 0 };
  const picture = () => [...document.querySelectorAll('.js-plotly-plot .imagelayer image')]
    .map(e => (e.getAttribute('href') || '').slice(-40)).join('|');
  let last = null;
  // The first new picture after the input (Plotly may redraw it again as the run ends).
  const seen = () => { const now = picture(); if (now && now !== last) { last = now;
    if (!window.__felt.picture) window.__felt.picture = performance.now(); } };
  const watch = () => new MutationObserver(seen).observe(document.body,
    { subtree: true, childList: true, attributes: true, attributeFilter: ['href'] });
  if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
  for (const kind of ['keydown', 'click'])
    document.addEventListener(kind, () => {
      window.__felt = { input: performance.now(), picture: 0 }; }, true);
})();
"""
_PICTURE = (
    "() => [...document.querySelectorAll('.js-plotly-plot .imagelayer image')]"
    ".map(e => { const h = e.getAttribute('href') || ''; return h.length + ':' + h.slice(-40); })"
    ".join('|')"
)


def _series(folder: str | None) -> list[Path]:
    if folder:
        return sorted(p for p in Path(folder).rglob("*") if p.is_file())
    sys.path.insert(0, str(Path(__file__).parent))

    made = None
    if made is None:
        candidates = sorted(Path("/tmp/dicomviz-bench").glob("unc-300-v*"))
        candidates = [c for c in candidates if c.is_dir()]
        if not candidates:
            raise SystemExit("no series: pass FOLDER, or run bench/run.py once to make one")
        made = candidates[-1]
    return sorted(p for p in Path(made).rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    files = _series(args.folder)
    with pageserver.serve(ROOT / "test-artifacts" / "bench-felt.log") as url:
        results = _measure(url, files, args.repeats)
    _report(results)
    print(json.dumps(results))
    return 0


def _measure(url: str, files: list[Path], repeats: int) -> dict[str, list[tuple[float, int]]]:
    from playwright.sync_api import sync_playwright

    received = [0]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.add_init_script(_IN_PAGE)
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda frame: received.__setitem__(0, received[0] + len(frame)),
            ),
        )
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot .imagelayer image", timeout=180_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(
            [str(f) for f in files]
        )
        page.wait_for_function(
            f"[...document.querySelectorAll('[data-testid=stMetricValue]')]"
            f".some(e => e.textContent.trim() === '{len(files)}')",
            timeout=600_000,
        )
        page.locator("[data-testid=stSidebar]").get_by_text("Axial", exact=True).click()
        _settle(page)
        _quiet(page, received)
        results: dict[str, list[tuple[float, int, float]]] = {
            "next slice": [],
            "window": [],
            "plane": [],
        }
        slider = page.locator("[data-testid='stSlider'] input[type='range']").first
        for k in range(repeats):
            slider.focus()
            results["next slice"].append(
                _timed(page, received, lambda: page.keyboard.press("ArrowRight"))
            )
            results["window"].append(_timed(page, received, _new_center(page, 50 + 10 * (k % 2))))
            plane = "Coronal" if k % 2 == 0 else "Axial"
            results["plane"].append(
                _timed(
                    page,
                    received,
                    lambda name=plane: (
                        page.locator("[data-testid=stSidebar]")
                        .get_by_text(name, exact=True)
                        .click()
                    ),
                )
            )
        browser.close()
    return results


def _new_center(page, value: int):
    def act() -> None:
        center = page.get_by_label("Center")
        center.fill(str(value))
        center.press("Enter")

    return act


def _settle(page) -> None:
    last = None
    for _ in range(100):
        now = page.evaluate(_PICTURE)
        if now == last and page.locator("[data-testid='stStatusWidget']").count() == 0:
            return
        last = now
        time.sleep(0.2)


def _quiet(page, received: list[int], seconds: float = 3.0, limit: float = 90.0) -> None:
    """Wait until the page has received nothing for ``seconds`` (the browsing view's volume
    follows the upload's first view)."""
    start, last, since = time.perf_counter(), received[0], time.perf_counter()
    while time.perf_counter() - start < limit:
        time.sleep(0.25)
        if received[0] != last:
            last, since = received[0], time.perf_counter()
        elif time.perf_counter() - since >= seconds:
            return


def _timed(page, received: list[int], action) -> tuple[float, int, float]:
    """(felt in the page, bytes received, ms from the harness's call): input event -> picture."""
    before_picture = page.evaluate(_PICTURE)
    before_bytes = received[0]
    page.evaluate("window.__felt = { input: 0, picture: 0 }")
    start = time.perf_counter()
    action()
    try:
        page.wait_for_function(f"({_PICTURE})() !== {json.dumps(before_picture)}", timeout=30_000)
    except Exception:
        page.screenshot(path="/tmp/dicomviz-bench/felt-timeout.png", full_page=True)
        raise
    harness = (time.perf_counter() - start) * 1000
    page.wait_for_function("window.__felt.picture > window.__felt.input", timeout=5_000)
    felt = page.evaluate("window.__felt.picture - window.__felt.input")
    _settle(page)
    return felt, received[0] - before_bytes, harness


def _report(results: dict[str, list[tuple[float, int, float]]]) -> None:
    print(
        "| action | felt median (in the page) | min-max | from the harness's call "
        "| received median | verdict |"
    )
    print("|---|---|---|---|---|---|")
    for action, samples in results.items():
        felt = [s[0] for s in samples]
        sent = [s[1] for s in samples]
        harness = [s[2] for s in samples]
        ok = statistics.median(felt) <= FELT_LIMIT_MS and statistics.median(sent) <= BYTES_LIMIT
        print(
            f"| {action} | {statistics.median(felt):.0f} ms | {min(felt):.0f}-{max(felt):.0f} ms "
            f"| {statistics.median(harness):.0f} ms "
            f"| {statistics.median(sent) / 1e6:.2f} MB | {'**PASS**' if ok else '**FAIL**'} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
