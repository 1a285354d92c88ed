"""Two replicas of the page behind nginx with the committed proxy config (deploy/nginx), as CI
runs the compose topology without containers: sticky sessions, each visitor sees only their own
study, a replica going down leaves the other's visitors working, headers set, metrics refused.

Runs whenever nginx and Chromium are installed; under CI (CI=true) a missing one is a failure,
never a skip (.ci/run installs both).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pageserver import free_port, page_command, wait_healthy
from synth import make_series, zip_bytes

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = ROOT / "deploy" / "nginx" / "dicomviz.conf.template"

pytestmark = pytest.mark.browser


def _require(path: str, what: str) -> None:
    if Path(path).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing under CI: .ci/run must install it")
    pytest.skip(f"{what} not installed (apt-get install -y {what})")


def render(template: str, **values: str) -> str:
    """Fill ${NAME} as the nginx image's envsubst does (nginx's own $variables untouched)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


class Topology:
    """Two `streamlit run` replicas on loopback ports and nginx in front of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.replica_ports = [free_port(), free_port()]
        self.proxy_port = free_port()
        self.replicas: list[subprocess.Popen] = []
        self.logs: list = []
        self.nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def replica_url(self, k: int) -> str:
        return f"http://127.0.0.1:{self.replica_ports[k]}"

    def start(self) -> None:
        env = dict(os.environ, STREAMLIT_SERVER_COOKIE_SECRET="ci-shared-secret-for-both")
        for k, port in enumerate(self.replica_ports):
            log = (self.tmp / f"replica{k}.log").open("wb")
            self.logs.append(log)
            command = page_command(port)
            self.replicas.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        site = render(
            TEMPLATE.read_text(),
            UPSTREAM_SERVERS=" ".join(f"server 127.0.0.1:{p};" for p in self.replica_ports),
            LISTEN=f"127.0.0.1:{self.proxy_port}",
        )
        prefix = self.tmp / "nginx"
        for folder in ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        config = prefix / "nginx.conf"
        config.write_text(
            "daemon off;\nworker_processes 1;\npid nginx.pid;\nerror_log logs/error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n  access_log logs/access.log;\n"
            "  client_body_temp_path body;\n  proxy_temp_path proxy;\n"
            "  fastcgi_temp_path fastcgi;\n  uwsgi_temp_path uwsgi;\n  scgi_temp_path scgi;\n"
            f"{site}\n}}\n"
        )
        check = subprocess.run(
            [NGINX, "-t", "-p", str(prefix), "-c", str(config)], capture_output=True
        )
        assert check.returncode == 0, check.stderr.decode()
        self.nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(config)])
        for k in range(2):
            wait_healthy(self.replica_url(k))
        wait_healthy(self.url)

    def sessions(self, k: int) -> int:
        """Active Streamlit sessions on replica k (its metrics, asked directly, not via nginx)."""
        with urllib.request.urlopen(f"{self.replica_url(k)}/_stcore/metrics", timeout=5) as r:
            text = r.read().decode()
        found = re.search(r"^active_sessions (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def stop_replica(self, k: int) -> None:
        self.replicas[k].send_signal(signal.SIGTERM)
        self.replicas[k].wait(timeout=20)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.terminate()
            self.nginx.wait(timeout=20)
        for process in self.replicas:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    _require(NGINX, "nginx")
    _require(CHROMIUM, "chromium")
    running = Topology(tmp_path_factory.mktemp("proxy"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_security_headers_and_no_public_metrics(topology: Topology) -> None:
    with urllib.request.urlopen(topology.url, timeout=10) as reply:
        headers = reply.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "max-age=" in headers["Strict-Transport-Security"]
    assert "dicomviz_route=" in headers["Set-Cookie"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{topology.url}/_stcore/metrics", timeout=10)
    assert refused.value.code == 404
    refused.value.close()
    with urllib.request.urlopen(f"{topology.url}/_stcore/health", timeout=10) as reply:
        assert reply.status == 200


def test_streamlits_scripts_arrive_compressed_with_the_headers(topology: Topology) -> None:
    """Streamlit serves its JavaScript uncompressed; the proxy compresses it (and only it)."""
    with urllib.request.urlopen(topology.url, timeout=10) as reply:
        page = reply.read().decode()
    script = re.search(r'src="\.?/?(static/js/[^"]+\.js)"', page)
    assert script, "no script named in the page"
    ask = {"Accept-Encoding": "gzip"}
    request = urllib.request.Request(f"{topology.url}/{script.group(1)}", headers=ask)
    with urllib.request.urlopen(request, timeout=10) as reply:
        headers, body = reply.headers, reply.read()
    assert headers["Content-Encoding"] == "gzip"
    plain = gzip.decompress(body)
    assert len(body) < len(plain) / 2 and plain.lstrip()[:1] not in (b"<", b"")
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors" in (
        headers["Content-Security-Policy"] or ""
    )
    with urllib.request.urlopen(urllib.request.Request(topology.url, headers=ask)) as reply:
        assert reply.headers["Content-Encoding"] is None  # the page itself: as Streamlit sent it


def _study(description: str) -> bytes:
    return zip_bytes(
        make_series(
            slices=9,
            rows=24,
            columns=20,
            series_description=description,
            names=f"{description}{{index}}",
        )
    )


def _open_on_replica(browser, topology: Topology, replica: int):
    """A browser context whose sticky route lands on ``replica`` (tried cookie by cookie,
    watching which replica's session count rises)."""
    for attempt in range(24):
        context = browser.new_context()
        context.add_cookies(
            [{"name": "dicomviz_route", "value": f"r{attempt}", "url": topology.url}]
        )
        before = [topology.sessions(0), topology.sessions(1)]
        page = context.new_page()
        page.goto(topology.url)
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:  # until its websocket opens
            time.sleep(0.3)
            after = [topology.sessions(0), topology.sessions(1)]
        if after[replica] > before[replica]:
            try:
                page.wait_for_selector(".js-plotly-plot", timeout=120_000)
            except Exception:
                page.screenshot(path=str(topology.tmp / f"replica{replica}-timeout.png"))
                raise
            return context, page
        context.close()
        deadline = time.monotonic() + 10
        while [topology.sessions(0), topology.sessions(1)] != before:  # its session ends
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
    raise AssertionError(f"no route cookie reached replica {replica}")


def _upload(page, data: bytes, tmp: Path, name: str) -> None:
    path = tmp / f"upload-{len(data)}.zip"  # not named like the series: the uploader lists it
    path.write_bytes(data)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(path))
    page.wait_for_function(f"document.body.innerText.includes('{name}')", timeout=90_000)


def _sees(page, text: str) -> bool:
    return text in page.inner_text("body")


def test_sessions_stay_apart_and_survive_the_other_replica(
    topology: Topology, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            first, page_a = _open_on_replica(browser, topology, 0)
            second, page_b = _open_on_replica(browser, topology, 1)
            _upload(page_a, _study("Alpha"), tmp_path, "Alpha")
            _upload(page_b, _study("Bravo"), tmp_path, "Bravo")
            assert _sees(page_a, "Alpha") and not _sees(page_a, "Bravo")
            assert _sees(page_b, "Bravo") and not _sees(page_b, "Alpha")

            topology.stop_replica(0)  # visitor A's replica goes down
            # Visitor B's session, on the other replica, keeps working: a plane change reruns.
            page_b.get_by_text("Coronal", exact=True).first.click()
            page_b.wait_for_function(
                "[...document.querySelectorAll('.annotation-text')]"
                ".some(e => e.textContent.includes('Coronal'))",
                timeout=60_000,
            )
            assert _sees(page_b, "Bravo") and not _sees(page_b, "Alpha")
            assert page_b.locator("[data-testid='stException']").count() == 0
            first.close()
            second.close()
        finally:
            browser.close()
