"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Runs whenever Chromium is installed; under CI (CI=true) a missing browser is a failure, never a
skip (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pageserver
import pytest
from synth import make_series, zip_bytes

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing under CI: .ci/run must install it")
    pytest.skip("Chromium not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _require_browser()
    with pageserver.serve(ARTIFACTS / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        yield context.new_page()
        browser.close()


def _wait_for_heatmap(page, count: int = 1) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .heatmaplayer image, "
        f".js-plotly-plot .hm, .js-plotly-plot .imagelayer image').length >= {count}",
        timeout=90_000,
    )


def _assert_no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in page.content()


def test_upload_a_zip_switch_plane_and_screenshot(page, server: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(server)
    _wait_for_heatmap(page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "sample.png"), full_page=True)
    archive = tmp_path / "export.zip"
    archive.write_bytes(
        zip_bytes(
            make_series(slices=24, rows=48, columns=40, pixel_spacing=(0.8, 0.8), slice_spacing=2.5)
        )
    )
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(archive))
    page.get_by_text("Images used").first.wait_for(timeout=60_000)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=stMetricValue]')]"
        ".some(e => e.textContent.trim() === '24')",
        timeout=90_000,
    )
    _wait_for_heatmap(page)
    page.get_by_text("Axial", exact=True).first.click()
    page.wait_for_function(
        "[...document.querySelectorAll('.gtitle, .annotation-text')]"
        ".some(e => e.textContent.includes('Axial'))",
        timeout=60_000,
    )
    _assert_no_exception(page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "upload-axial.png"), full_page=True)
    assert (ARTIFACTS / "upload-axial.png").stat().st_size > 10_000
    with page.expect_download(timeout=60_000) as download:
        page.get_by_text("Download view (PNG)").first.click()
    assert download.value.suggested_filename == "dicomviz_axial_slice.png"  # opens on a slice
    saved = tmp_path / "view.png"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"\x89PNG")
    # Every download written by the views' fragment still works after it ran again (Streamlit
    # 1.67 gives elements written straight into an outside container one shared path, and
    # each deferred download then replaced the one before it).
    for label, name in [
        ("Download NIfTI sidecar (.json)", "dicomviz_series.json"),
        ("Download table (CSV)", "dicomviz_headers.csv"),
    ]:
        with page.expect_download(timeout=60_000) as download:
            page.get_by_text(label).first.click()
        assert download.value.suggested_filename == name
        saved = tmp_path / name
        download.value.save_as(saved)
        assert saved.stat().st_size > 100


def _slider_values(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all("[data-testid='stSliderThumbValue']")]


def test_clicking_a_view_moves_the_other_planes(page, server: str) -> None:
    page.goto(server)
    _wait_for_heatmap(page)
    page.get_by_text("All three", exact=True).first.click()
    page.get_by_text("Slice", exact=True).first.click()
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=60_000
    )
    page.wait_for_timeout(1500)
    before = _slider_values(page)
    coronal = page.query_selector_all(".js-plotly-plot")[1]
    coronal.scroll_into_view_if_needed()  # the browsing view sits above the Plotly views
    page.wait_for_timeout(500)
    box = coronal.query_selector(".nsewdrag").bounding_box()
    # Upper right of the coronal view: a higher axial slice, a sagittal slice on the left side.
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.2)
    expected = json.dumps(json.dumps(before, separators=(",", ":")))
    page.wait_for_function(
        "JSON.stringify([...document.querySelectorAll('[data-testid=stSliderThumbValue]')]"
        f".map(e => e.innerText)) !== {expected}",
        timeout=30_000,
    )
    axial, coronal, sagittal = (int(v) for v in _slider_values(page))
    assert axial > int(before[0]) and coronal == int(before[1]) and sagittal > int(before[2])
    # The click grid answers from its data: none of its points is drawn, yet hover tells the
    # value and the position under the pointer.
    drawn = ".js-plotly-plot .scatterlayer .point, .js-plotly-plot .scatterlayer .textpoint"
    assert page.evaluate(f"document.querySelectorAll('{drawn}').length") <= 3
    page.wait_for_timeout(1000)
    coronal = page.query_selector_all(".js-plotly-plot")[1]
    box = coronal.query_selector(".nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    label = page.wait_for_selector(".js-plotly-plot .hovertext", timeout=10_000)
    assert re.search(r"-?\d+(\.\d+)? HU.*mm", label.text_content() or ""), label.text_content()
    _assert_no_exception(page)
