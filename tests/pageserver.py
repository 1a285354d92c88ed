"""The page as a real server on a loopback port, for the tests that drive it in Chromium or
through nginx: one way to start it, wait for it and stop it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STREAMLIT = ("-m", "streamlit")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_command(port: int, *options: str, launch: Sequence[str] = STREAMLIT) -> list[str]:
    """``streamlit run app.py`` headless on 127.0.0.1:``port``, with extra ``options``;
    ``launch`` replaces ``-m streamlit`` (e.g. ``-c CODE`` that patches a module first)."""
    return [
        sys.executable, *launch, "run", str(ROOT / "app.py"),
        "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false", *options,
    ]  # fmt: skip


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not become healthy within {timeout} s")


@contextmanager
def serve(
    log_path: Path,
    *options: str,
    env: Mapping[str, str] | None = None,
    launch: Sequence[str] = STREAMLIT,
) -> Iterator[str]:
    """The page running (its output in ``log_path``) until the block ends; yields its URL."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            page_command(port, *options, launch=launch),
            cwd=ROOT,
            env=None if env is None else dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)
