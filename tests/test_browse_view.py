"""The Browse panel in a real browser: what its canvases draw is the library's view.

Debian's Chromium driven by Playwright against `streamlit run` on the built-in sample. Each
canvas (data-dicomviz="browse") holds the view's pixels one to one; they must equal
``to_grey(make_view(...).image, window)`` for the slice, slab and window the canvas says it
shows (up to 8-bit rounding), in every plane, for slices and a slab MIP, after scrolling with
the wheel and after a window drag. Runs whenever Chromium is installed; under CI (CI=true) a
missing browser is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pageserver
import pytest
from synth import Marker, make_series, zip_bytes

import dicomviz
from dicomviz.display import views
from dicomviz.display.windowing import Window, to_grey
from dicomviz.geometry import PLANES
from dicomviz.sample.phantom import sample_series

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CANVAS = "canvas[data-dicomviz=browse][data-plane={}]"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing under CI: .ci/run must install it")
    pytest.skip("Chromium not installed (apt-get install -y chromium)")


# The page's server with page/browse.py's thresholds lowered, so that the 24 MB sample takes
# the path of a large stack: a preview first, the real volume made in a thread.
_SMALL_THRESHOLDS = (
    "import sys; import page.browse as b; b.WAIT_ABOVE_BYTES = b.PREVIEW_BYTES = 2 << 20; "
    "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; sys.exit(main())"
)


def _serve(budget_mb: str | None, log_name: str, *, large_path: bool = False) -> Iterator[str]:
    _require_browser()
    env = dict(os.environ)
    env.pop("DICOMVIZ_BROWSE_MB", None)
    if budget_mb is not None:
        env["DICOMVIZ_BROWSE_MB"] = budget_mb
    launch = ("-c", _SMALL_THRESHOLDS) if large_path else pageserver.STREAMLIT
    with pageserver.serve(ARTIFACTS / log_name, env=env, launch=launch) as url:
        yield url


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from _serve(None, "streamlit-browse.log")


@pytest.fixture(scope="module")
def small_budget_server() -> Iterator[str]:
    yield from _serve("1", "streamlit-browse-small.log")  # the sample needs about 10 MB


@pytest.fixture(scope="module")
def preview_server() -> Iterator[str]:
    yield from _serve(None, "streamlit-browse-preview.log", large_path=True)


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors  # type: ignore[attr-defined]
        yield page
        browser.close()


@cache
def _canon(files: tuple[tuple[str, bytes], ...] | None = None) -> dicomviz.Volume:
    """The sample (or ``files``) as the page builds it (its largest stack), on patient axes."""
    study = dicomviz.load(list(files or sample_series()))
    return views.canonical(dicomviz.build_volume(study.largest()))


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(CANVAS.format("sagittal") + "[data-slice]", timeout=120_000)


def _drawn(page, plane: str) -> dict:
    """The canvas's pixels (red channel: the picture is grey) and what it says it shows."""
    return page.eval_on_selector(
        CANVAS.format(plane),
        """canvas => {
            const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const grey = new Array(canvas.width * canvas.height);
            for (let i = 0; i < grey.length; i++) grey[i] = d[4 * i];
            const box = canvas.getBoundingClientRect();
            return {grey, rows: canvas.height, cols: canvas.width, ...canvas.dataset,
                    css: [box.width, box.height]};
        }""",
    )


def _expected(drawn: dict, plane: str, files: tuple | None = None) -> np.ndarray:
    canon = _canon(files)
    center, width = (float(v) for v in drawn["window"].split(","))
    if drawn["mode"] == "slice":
        view = views.make_view(canon, plane, index=int(drawn["slice"]))
    else:
        start, stop = (int(v) for v in drawn["slab"].split(","))
        view = views.make_view(canon, plane, drawn["mode"], slab=(start, stop))
    return to_grey(view.image, Window(center, width))


def _assert_same_as_library(page, planes=PLANES, files: tuple | None = None) -> None:
    for plane in planes:
        drawn = _drawn(page, plane)
        expected = _expected(drawn, plane, files)
        got = np.array(drawn["grey"], dtype=np.int16).reshape(drawn["rows"], drawn["cols"])
        assert got.shape == expected.shape, plane
        worst = int(np.abs(got - expected.astype(np.int16)).max())
        assert worst <= 1, f"{plane} {drawn['mode']} {drawn['slab']}: off by {worst}"


def _center_of(page, plane: str) -> tuple[float, float]:
    box = page.locator(CANVAS.format(plane)).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _wait_attribute_change(page, plane: str, name: str, before: str) -> str:
    page.wait_for_function(
        f"document.querySelector('{CANVAS.format(plane)}').dataset.{name} !== '{before}'",
        timeout=10_000,
    )
    return page.eval_on_selector(CANVAS.format(plane), f"c => c.dataset.{name}")


def test_slices_match_the_library_after_wheel_and_window_drag(browser_page, server: str) -> None:
    page = browser_page
    _open(page, server)
    _assert_same_as_library(page)
    drawn = _drawn(page, "axial")
    assert drawn["window"] == "40,400"  # the page's own opening window
    # Physical aspect: 0.8 mm pixels, 2 mm slices.
    coronal = _drawn(page, "coronal")
    width, height = coronal["css"]
    assert width / height == pytest.approx((256 * 0.8) / (180 * 2.0), rel=0.02)

    x, y = _center_of(page, "axial")
    page.mouse.move(x, y)
    before = drawn["slice"]
    for _ in range(3):
        page.mouse.wheel(0, 100)
    after = _wait_attribute_change(page, "axial", "slice", before)
    page.wait_for_timeout(100)
    assert int(after) == int(before) + 3
    _assert_same_as_library(page, ["axial"])

    x, y = _center_of(page, "coronal")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 30, steps=6)
    page.mouse.up()
    window = _wait_attribute_change(page, "coronal", "window", "40,400")
    center, width = (float(v) for v in window.split(","))
    assert center > 40 and width > 400  # down: higher center; right: wider
    _assert_same_as_library(page)
    assert not page.errors  # type: ignore[attr-defined]


def test_a_slab_mip_matches_the_library_as_it_slides(browser_page, server: str) -> None:
    page = browser_page
    _open(page, server)
    page.locator(".dvb-root button[data-mode=max]").click()
    slab = page.locator(".dvb-root input[data-role=slab]")
    slab.fill("20")
    slab.press("Enter")
    page.wait_for_function(
        f"document.querySelector('{CANVAS.format('sagittal')}').dataset.mode === 'max'"
    )
    for plane in PLANES:
        start, stop = (int(v) for v in _drawn(page, plane)["slab"].split(","))
        spacing = _canon().spacing[PLANES.index(plane)]
        assert abs((stop - start) * spacing - 20) <= spacing + 1e-9  # whole slices
    _assert_same_as_library(page)
    for plane in PLANES:
        x, y = _center_of(page, plane)
        page.mouse.move(x, y)
        before = _drawn(page, plane)["slab"]
        page.mouse.wheel(0, -100)
        _wait_attribute_change(page, plane, "slab", before)
        _assert_same_as_library(page, [plane])
    # After a pause the sidebar follows: MIP, and each plane's slab (from 1, both ends in).
    expected = []
    for plane in PLANES:
        start, stop = (int(v) for v in _drawn(page, plane)["slab"].split(","))
        expected += [str(start + 1), str(stop)]
    page.wait_for_function(
        "JSON.stringify([...document.querySelectorAll('[data-testid=stSliderThumbValue]')]"
        f".map(e => e.innerText)) === {json.dumps(json.dumps(expected, separators=(',', ':')))}",
        timeout=30_000,
    )
    checked = page.locator("[data-testid=stSidebar] label:has(input:checked)").all_inner_texts()
    assert "MIP" in checked
    assert not page.errors  # type: ignore[attr-defined]


def test_click_moves_the_crosshair_and_hover_tells_value_and_position(
    browser_page, server: str
) -> None:
    page = browser_page
    _open(page, server)
    before = {p: _drawn(page, p)["slice"] for p in PLANES}
    box = page.locator(CANVAS.format("coronal")).bounding_box()
    # Upper right of the coronal view: higher axial slice, a sagittal slice on the left side.
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.2)
    after = {p: _drawn(page, p)["slice"] for p in PLANES}
    assert int(after["axial"]) > int(before["axial"])
    assert int(after["sagittal"]) > int(before["sagittal"])
    assert after["coronal"] == before["coronal"]
    _assert_same_as_library(page)
    status = page.inner_text(".dvb-status")
    assert " HU · L " in status and ", P " in status and ", S " in status and status.endswith("mm")
    labels = page.eval_on_selector_all(
        "[data-cell=sagittal] .dvb-label", "els => els.map(e => e.textContent)"
    )
    assert labels == ["S", "I", "A", "P"]


def test_the_volume_travels_once_and_the_page_follows(browser_page, server: str) -> None:
    page = browser_page
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(len(p or b""))))
    _open(page, server)
    page.wait_for_timeout(1500)
    assert max(frames) > 5_000_000  # the sample's volume, once
    first = len(frames)
    x, y = _center_of(page, "axial")
    page.mouse.move(x, y)
    slice_before = int(_drawn(page, "axial")["slice"])
    for _ in range(4):
        page.mouse.wheel(0, 100)
    # After a pause the sidebar follows (slices count from 1 there): a full rerun.
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=stSliderThumbValue]')]"
        f".some(e => e.innerText === '{slice_before + 4 + 1}')",
        timeout=30_000,
    )
    page.wait_for_timeout(1000)
    later = frames[first:]
    assert later, "no rerun reached the page"
    assert max(later) < 200_000, f"a rerun sent {max(later)} bytes"
    assert int(_drawn(page, "axial")["slice"]) == slice_before + 4  # the viewer kept its place


def test_a_stack_over_budget_arrives_reduced_and_full_resolution_on_request(
    browser_page, small_budget_server: str
) -> None:
    page = browser_page
    _open(page, small_budget_server)
    drawn = _drawn(page, "axial")
    assert (drawn["rows"], drawn["cols"]) in ((64, 64), (32, 32))  # every 4th or 8th pixel
    notice = page.locator(".dvb-root [data-role=notice]")
    assert notice.is_visible() and "pixel" in notice.inner_text()
    page.locator(".dvb-root button[data-role=full]").click()
    page.wait_for_function(
        f"document.querySelector('{CANVAS.format('axial')}').width === 256", timeout=60_000
    )
    assert not notice.is_visible()
    _assert_same_as_library(page)


def test_a_large_stack_shows_a_preview_then_its_volume(browser_page, preview_server: str) -> None:
    page = browser_page
    page.add_init_script(
        """new MutationObserver(() => {
            const c = document.querySelector('canvas[data-dicomviz=browse][data-plane=axial]');
            if (c && c.dataset.slice) (window.__widths ??= new Set()).add(c.width);
        }).observe(document, {subtree: true, attributes: true, childList: true});"""
    )
    _open(page, preview_server)
    # The full volume travels only once the visitor turns to the view.
    page.wait_for_timeout(1500)
    assert page.eval_on_selector(CANVAS.format("axial"), "c => c.width") == 64
    notice = page.locator(".dvb-root [data-role=notice-text]").inner_text()
    assert "once you point at this view" in notice
    # A preview's titles number slices as the sidebar does (on the full grid): the coronal
    # normal runs along a reduced in-plane axis, every 4th slice.
    coronal = _drawn(page, "coronal")
    title = page.locator(".dvb-root [data-cell=coronal] .dvb-title").inner_text()
    assert f"slice {int(coronal['slice']) * 4 + 1} " in f"{title} "
    page.mouse.move(*_center_of(page, "axial"))
    page.wait_for_function(
        f"document.querySelector('{CANVAS.format('axial')}').width === 256", timeout=60_000
    )
    widths = page.evaluate("[...window.__widths]")
    assert 64 in widths  # every 4th pixel first: 24 MB over the lowered 2 MB preview size
    _assert_same_as_library(page)
    assert not page.locator(".dvb-root [data-role=notice]").is_visible()


def _dots(count: int, shape: tuple[int, int, int], skip: int | None = None) -> list[Marker]:
    """Voxels of random values over the synthetic grid (2 mm slices, 1 mm pixels), so every
    projection has something to find; none in slice ``skip`` (left out of the series)."""
    rng = np.random.default_rng(count)
    found: dict[tuple[int, int, int], Marker] = {}
    while len(found) < count:
        k, r, c = (int(rng.integers(0, n)) for n in shape)
        if k != skip:
            position = (-12.0 + c, -16.0 + r, -20.0 + 2.0 * k)
            found[k, r, c] = Marker(position, int(rng.integers(0, 3000)))
    return list(found.values())


@pytest.mark.parametrize(
    "kind",
    [
        # Whole values with a plane of no data (a gap wider than the slices): int16 on the
        # wire with a marker, which MinIP and mean must leave out as the library leaves NaN.
        "gap",
        # Rescale slope 0.5: values that are not whole travel as float32.
        "float",
    ],
)
def test_no_data_and_float_values_match_the_library(
    browser_page, server: str, tmp_path: Path, kind: str
) -> None:
    page = browser_page
    if kind == "gap":
        files = make_series(
            slices=20, gap_after=5, slice_thickness=1.0, markers=_dots(400, (20, 32, 24), 6)
        )
    else:
        files = make_series(slices=12, modality="MR", slope=0.5, markers=_dots(200, (12, 32, 24)))
    files = tuple(files)
    canon = _canon(files)
    assert canon.array.dtype == np.float32
    assert np.isnan(canon.array).any() == (kind == "gap")
    _open(page, server)
    sample_stack = _drawn(page, "axial")["stack"]
    archive = tmp_path / "series.zip"
    archive.write_bytes(zip_bytes(list(files)))
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(archive))
    page.wait_for_function(
        f"(c => c && c.dataset.slice && c.dataset.stack !== {json.dumps(sample_stack)})"
        f"(document.querySelector('{CANVAS.format('axial')}'))",
        timeout=120_000,
    )
    page.locator(".dvb-root button[data-layout=all]").click()  # it opens on its own plane
    _assert_same_as_library(page, files=files)
    # Down to the no-data plane (axial slice 6), then slabs across it.
    page.focus(".dvb-root")
    axial = int(_drawn(page, "axial")["slice"])
    for _ in range(axial - 6):
        page.keyboard.press("ArrowDown")
    assert _drawn(page, "axial")["slice"] == "6"
    _assert_same_as_library(page, files=files)
    slab = page.locator(".dvb-root input[data-role=slab]")
    for mode in ("min", "mean", "max"):
        page.locator(f".dvb-root button[data-mode={mode}]").click()
        slab.fill("8")
        slab.press("Enter")
        page.wait_for_function(
            f"document.querySelector('{CANVAS.format('axial')}').dataset.slab === '4,8'"
        )
        _assert_same_as_library(page, files=files)
    assert not page.errors  # type: ignore[attr-defined]
