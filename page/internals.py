"""The Streamlit internals a hosted page needs, in one place, each pinned by a test
(tests/test_page_internals.py) that fails when Streamlit changes them.

- Streamlit's uploaded-file manager keeps every uploaded file until its session is shut down,
  and a disconnected session is dropped without being shut down: its files would stay for the
  life of the process. There is no public call to let an upload go, so the page removes its
  files from the manager (``Runtime.uploaded_file_mgr.remove_file``) once it has read them.
- A hosted page must forget a closed tab's data; only the runtime's session manager knows which
  sessions still exist (connected, or disconnected within ``server.disconnectedSessionTTL``).
- The same dropped session keeps its entries in the media file manager (downloads, and the
  deferred download callables, which hold what they would encode): the page clears a gone
  session's references there (``clear_session_refs``) and lets the manager collect what no
  session refers to (``remove_orphaned_files``), as Streamlit does when it shuts a session down.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def session_id() -> str | None:
    """The id of the session running this script (None outside a Streamlit run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def release_uploads(uploads: Iterable[Any]) -> int:
    """Take uploaded files out of Streamlit's uploaded-file manager (the page keeps their bytes
    in its own bounded store); returns how many were released."""
    from streamlit.runtime import Runtime

    session = session_id()
    if session is None or not Runtime.exists():
        return 0
    manager = Runtime.instance().uploaded_file_mgr
    released = 0
    for upload in uploads:
        file_id = getattr(upload, "file_id", None)
        if file_id:
            manager.remove_file(session, file_id)
            released += 1
    return released


def live_sessions() -> set[str] | None:
    """Ids of the sessions Streamlit still holds, or None when that cannot be known (then the
    store only sweeps what no session pinned)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    try:
        return {info.session.id for info in Runtime.instance()._session_mgr.list_sessions()}
    except Exception:  # an internal API moved: sweep by idle time alone
        return None


def forget_sessions(session_ids: Iterable[str]) -> int:
    """Let go of what Streamlit itself keeps for sessions that are gone (uploaded files, media
    and deferred downloads), as a session's shutdown would; returns how many were forgotten."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return 0
    runtime = Runtime.instance()
    forgotten = 0
    for session in session_ids:
        runtime.uploaded_file_mgr.remove_session_files(session)
        runtime.media_file_mgr.clear_session_refs(session)
        forgotten += 1
    runtime.media_file_mgr.remove_orphaned_files()  # a download is marked first, then dropped
    return forgotten
