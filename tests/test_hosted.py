"""A hosted server gives memory back (browser, one server): an upload leaves Streamlit's
uploaded-file manager as soon as the page has read it, and a closed tab's data is swept within
the disconnected-session TTL plus the page's idle time.

Runs whenever Chromium is installed; under CI (CI=true) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pageserver
import pytest
from synth import make_series, zip_bytes
from test_proxy import CHROMIUM, _require

ROOT = Path(__file__).resolve().parents[1]
TTL_SECONDS = 4
IDLE_SECONDS = 4

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    _require(CHROMIUM, "chromium")
    log_path = tmp_path_factory.mktemp("hosted") / "server.log"
    env = dict(os.environ, DICOMVIZ_IDLE_SECONDS=str(IDLE_SECONDS))
    options = (f"--server.disconnectedSessionTTL={TTL_SECONDS}", "--logger.level=info")
    with pageserver.serve(log_path, *options, env=env) as url:
        yield url, log_path


def _uploaded_bytes_held(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(r'cache_memory_bytes\{cache_type="UploadedFileManager"[^}]*\} (\d+)', text)
    return int(found.group(1)) if found else 0


def test_uploads_leave_streamlit_and_a_closed_tab_is_swept(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, log_path = server
    archive = tmp_path / "study.zip"  # not named like the series: the uploader lists the name
    archive.write_bytes(
        zip_bytes(make_series(slices=12, rows=40, columns=32, series_description="Hosted"))
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(
            str(archive)
        )
        page.wait_for_function("document.body.innerText.includes('Hosted')", timeout=90_000)
        page.wait_for_selector(".js-plotly-plot", timeout=90_000)
        assert page.locator("[data-testid='stException']").count() == 0
        assert _uploaded_bytes_held(url) == 0  # the page holds the bytes, not Streamlit
        context.close()  # the tab is closed
        browser.close()
    deadline = time.monotonic() + TTL_SECONDS + IDLE_SECONDS + 10 + 20  # + a sweep + slack
    while time.monotonic() < deadline:
        if "swept" in log_path.read_text(errors="replace"):
            break
        time.sleep(1)
    said = log_path.read_text(errors="replace")
    assert "swept" in said, said[-2000:]
    assert "Traceback" not in said
