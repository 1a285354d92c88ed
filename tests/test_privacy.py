"""Uploads stay in memory, sessions never see each other's data, identifiers stay hidden."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest
from synth import make_series, zip_bytes

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MARKER = "ZZQX^SECRET"


def _series(description: str) -> bytes:
    files = make_series(slices=6, rows=24, columns=20, series_description=description)
    return zip_bytes(files)


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return at.file_uploader(key="files").set_value([(name, data, "application/zip")]).run()


def _files_under(folder: str) -> dict[str, float]:
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                found[path] = os.stat(path).st_mtime
            except OSError:
                continue
    return found


def _chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_an_upload_leaves_nothing_on_disk() -> None:
    roots = [tempfile.gettempdir(), str(Path(APP).parent)]
    before = {root: _files_under(root) for root in roots}
    started = time.time()
    at = AppTest.from_file(APP, default_timeout=120).run()
    _upload(at, "mine.zip", _series(MARKER))
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Images used"] == "6"
    for root in roots:
        after = _files_under(root)
        changed = [p for p, t in after.items() if p not in before[root] or t > started]
        for path in changed:
            if "pytest-of" in path or "__pycache__" in path or ".pytest_cache" in path:
                continue
            data = Path(path).read_bytes() if os.path.getsize(path) < 50_000_000 else b""
            assert MARKER.encode() not in data, path
            assert b"DICM" not in data[:200], path


def test_two_sessions_never_see_each_other() -> None:
    alice = AppTest.from_file(APP, default_timeout=120).run()
    _upload(alice, "alice.zip", _series("ALICE-ONLY"))
    bob = AppTest.from_file(APP, default_timeout=120).run()
    assert any("synthetic" in i.value.lower() for i in bob.info)
    assert not any("ALICE-ONLY" in str(s.options) for s in bob.selectbox)
    assert all("ALICE" not in d.value.to_csv() for d in bob.dataframe)
    _upload(bob, "bob.zip", _series("BOB-ONLY"))
    bob_table = next(d.value for d in bob.dataframe if "keyword" in d.value.columns)
    assert "ALICE-ONLY" not in bob_table.to_csv()
    bob.toggle(key="hide_ids").set_value(False).run()
    alice.run()
    alice_table = next(d.value for d in alice.dataframe if "keyword" in d.value.columns)
    assert "BOB-ONLY" not in alice_table.to_csv()
    assert "ALICE-ONLY" in alice_table.to_csv()
