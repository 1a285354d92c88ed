"""The Browse panel's plumbing: the viewer in page/browse/ as a Streamlit component (v2), its
payload kept in the page's store and sent to each tab once per stack.

Streamlit sends every element again on every rerun; the volume (tens of MB) must not travel
each time. The browser keeps the decoded volume under its digest (viewer.js), and the session
remembers the digest it last sent: later runs send only that digest and a small control record,
the same from run to run, so Streamlit's own message cache turns even that into a reference.
Should the tab lack the volume after all (a render superseded before it ran), the viewer says so
("missing") and the next run sends it again.

A large stack's payload (one to three seconds to compress a 300-slice CT here) is made in a
thread, and only once asked for, so the page's first views do not wait for it: the first run
sends a quick preview (every 4th or 8th pixel in-plane, made in a tenth of a second) to browse
meanwhile; once the visitor turns to the viewer (the pointer over it, a key or a click in it)
it asks for the run that makes and waits for the real one and delivers it ("poll"). A study
nobody browses is never compressed, nor its volume sent.

The component sits in the page's main flow, not in a fragment: a fragment's container is made
anew on every full run, which would mount a second viewer for a moment each time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from dicomviz.display import browse as payloads
from dicomviz.display import opening, views
from dicomviz.display.windowing import Window
from dicomviz.errors import BudgetError
from dicomviz.geometry import PLANES
from dicomviz.hosting.queue import usable_cores
from page import data, internals

ASSETS = Path(__file__).with_name("browse")
KEY = "browse"
SENT, FULL, POLL = "browse-sent", "browse-full", "browse-poll"
WAIT_ABOVE_BYTES = 32 << 20
"""Raw volumes up to this size are compressed in the run that shows them (a fraction of a
second); larger ones in a thread while the page goes on, with a preview first."""
PREVIEW_BYTES = 12 << 20
"""Raw size of a preview at most (every 2nd, 4th or 8th pixel in-plane)."""
DEFAULT_SLAB_MM = 20.0
_NORMAL = {"axial": 0, "coronal": 1, "sagittal": 2}

VIEWER = st.components.v2.component(
    "dicomviz_browse",
    html=(ASSETS / "viewer.html").read_text(),
    css=(ASSETS / "viewer.css").read_text(),
    js=(ASSETS / "viewer.js").read_text(),
    isolate_styles=False,  # plain DOM: tests and benchmarks find the canvases by selector
)


@dataclass(frozen=True)
class Shown:
    """What a view shows, on the volume's full-resolution grid: the layout ('all' or a
    plane), the mode, per plane the slice (0-based, as the CLI's --index) and the slab
    ([start, stop)), and the window."""

    layout: str
    mode: str
    indices: dict[str, int]
    slabs: dict[str, tuple[int, int]]
    window: Window

    @classmethod
    def of(
        cls,
        planes: list[str],
        mode: str,
        indices: dict[str, int],
        slabs: dict[str, tuple[int, int]],
        window: Window,
    ) -> Shown:
        layout = "all" if len(planes) > 1 else planes[0]
        return cls(layout, mode, dict(indices), dict(slabs), window)


def panel(
    *,
    group: str,
    stack_key: str,
    built: data.Built,
    start: Shown,
    follow: Callable[[Shown], None],
) -> None:
    """The viewer for one stack. ``group`` is the upload's digest (the store's group),
    ``start`` where a tab's first look at this stack begins, and ``follow`` the page's answer
    to what the viewer reports (a callback: it may set the page's widgets)."""
    full = stack_key in st.session_state.get(FULL, ())
    try:
        sent, coming = _payload(group, stack_key, built, full, st.session_state.pop(POLL, False))
    except BudgetError as exc:
        st.warning(str(exc))
        return
    callbacks = {
        "on_view_change": partial(_on_view, follow, built.canon.shape, stack_key),
        "on_missing_change": _on_missing,
        "on_full_change": _on_full,
        "on_poll_change": _on_poll,
    }
    if sent is None:  # full resolution being made: the viewer asks for the run that waits
        pending = payloads.message("", {"stack": stack_key, "pending": True})
        VIEWER(key=KEY, data=pending, **callbacks)
        return
    fresh = st.session_state.get(SENT) != sent.digest
    control = _control(stack_key, built, sent, start if fresh else None)
    control["coming"] = coming  # a preview: the viewer asks for the real volume at once
    VIEWER(
        key=KEY, data=payloads.message(sent.digest, control, sent if fresh else None), **callbacks
    )
    st.session_state[SENT] = sent.digest


def _payload(
    group: str, stack_key: str, built: data.Built, full: bool, wait: bool
) -> tuple[payloads.Payload | None, bool]:
    """(payload, more to come): the stack's payload, made once per server (in the fair line)
    and kept in the store. A large one is made only once a tab asks for it (``wait``: its
    visitor turned to the viewer; or ``full``), so a study nobody browses costs no compressing
    while other visitors wait for their first views; until then, and while it is being made, a
    quick preview of the stack (more to come), or None when full resolution was asked (the
    viewer keeps what it shows)."""
    hosting = data.hosting()
    session = internals.session_id()
    key = ("browse", group, stack_key, full)
    found = hosting.store.get(key, session=session)
    if found is not None:
        return found, False
    small = built.canon.array.nbytes <= WAIT_ABOVE_BYTES
    factor = 1 if full else None
    future = data.in_background(
        hosting,
        key,
        partial(_make, built, factor),
        _kept_bytes,
        group=group,
        session=session,
        start=wait or full or small,
    )
    if future is not None and (wait or small):
        return future.result(), False
    if full:
        return None, False
    key = ("browse-preview", group, stack_key)
    found = hosting.store.get(key, session=session)
    if found is None:
        nbytes = built.canon.array.nbytes
        factor = next((f for f in (2, 4) if nbytes / f**2 <= PREVIEW_BYTES), 8)
        make = partial(_make, built, factor)
        found = data.in_background(hosting, key, make, _kept_bytes, group=group, session=session)
        found = found.result()
    return found, True


def _make(built: data.Built, factor: int | None) -> payloads.Payload:
    """One payload of the stack, on patient axes (also in a thread: no Streamlit calls here)."""
    canon = views.canonical(built.canon)  # already canonical: the same object
    window = opening.picture_window(built.volume)[0]
    return payloads.payload(canon, window=window, factor=factor, workers=usable_cores())


def _kept_bytes(made: payloads.Payload) -> int:
    return made.wire_bytes + 65_536


def _control(
    stack_key: str, built: data.Built, sent: payloads.Payload, start: Shown | None
) -> dict[str, Any]:
    """The small part of a message: the reduction's terms, and with a volume where a first
    look starts. Without a volume it stays the same from run to run, so Streamlit's message
    cache sends a reference instead of it (the viewer's code travels in every message)."""
    header = sent.header
    limit = int(st.get_option("server.maxMessageSize")) * 2**20
    estimate = sent.wire_bytes * header["full_raw_bytes"] / max(header["raw_bytes"], 1)
    refused = None
    if sent.factor > 1 and estimate > 0.9 * limit:
        refused = "Too large for one message to the browser (server.maxMessageSize)."
    control: dict[str, Any] = {
        "stack": stack_key,
        "budget": payloads.budget_bytes(),
        "full_estimate": round(estimate),
        "full_refused": refused,
    }
    if start is not None:
        control["start"] = _start(built, header["step"], start)
    return control


def _start(built: data.Built, step: list[int], start: Shown) -> dict[str, Any]:
    """``start`` on the payload's grid, with the slab as a thickness in mm."""
    first = start.layout if start.layout != "all" else "axial"
    a, b = start.slabs.get(first, (0, 1))
    spacing = built.canon.spacing[_NORMAL[first]]
    thickness = (b - a) * spacing if start.mode != "slice" else DEFAULT_SLAB_MM
    return {
        "layout": start.layout,
        "mode": start.mode,
        "indices": {p: start.indices[p] // step[_NORMAL[p]] for p in PLANES},
        "thickness_mm": round(thickness, 2),
        "window": [start.window.center, start.window.width],
    }


def shown_of(report: dict[str, Any], shape: tuple[int, int, int]) -> Shown:
    """The viewer's report (on the payload's grid) on the full-resolution grid of a volume of
    ``shape`` (on patient axes)."""
    step = report["step"]
    indices, slabs = {}, {}
    for plane in PLANES:
        axis = _NORMAL[plane]
        f, depth = step[axis], shape[axis]
        indices[plane] = min(int(report["indices"][plane]) * f, depth - 1)
        a, b = report["slabs"][plane]
        slabs[plane] = (min(int(a) * f, depth - 1), min(int(b) * f, depth))
    center, width = (float(v) for v in report["window"])
    return Shown(report["layout"], report["mode"], indices, slabs, Window(center, width))


# ---------- what the viewer says (callbacks: they run before the next run) ----------


def _on_view(follow: Callable[[Shown], None], shape: tuple[int, int, int], stack_key: str) -> None:
    """(A callback: it keeps the volume's shape, never the volume.)"""
    report = (st.session_state.get(KEY) or {}).get("view")
    if not report or report.get("stack") != stack_key:
        return  # a report about a stack no longer shown
    try:
        shown = shown_of(report, shape)
    except (KeyError, TypeError, ValueError):
        return  # not a report this page understands: keep the page as it is
    follow(shown)


def _on_missing() -> None:
    st.session_state.pop(SENT, None)


def _on_full() -> None:
    stack_key = (st.session_state.get(KEY) or {}).get("full")
    if stack_key:
        st.session_state[FULL] = {*st.session_state.get(FULL, ()), stack_key}


def _on_poll() -> None:
    st.session_state[POLL] = True
