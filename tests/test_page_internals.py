"""The Streamlit internals the hosted page relies on (page/internals.py), pinned: if Streamlit
renames or reshapes them, this fails before a server quietly keeps every upload forever."""

from __future__ import annotations

import inspect

from streamlit.runtime import Runtime
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.session_manager import SessionInfo
from streamlit.runtime.uploaded_file_manager import UploadedFileRec
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from page import internals


def test_uploaded_files_can_be_removed_one_by_one() -> None:
    manager = MemoryUploadedFileManager("/_stcore/upload_file")
    manager.add_file("session", UploadedFileRec("f1", "a.dcm", "application/dicom", b"x" * 10))
    manager.add_file("session", UploadedFileRec("f2", "b.dcm", "application/dicom", b"y" * 5))
    assert list(inspect.signature(manager.remove_file).parameters) == ["session_id", "file_id"]
    manager.remove_file("session", "f1")
    assert [f.file_id for f in manager.get_files("session", ["f1", "f2"])] == ["f2"]
    manager.remove_file("session", "f2")
    assert manager.get_files("session", ["f2"]) == [] and manager.get_stats() == {}


def test_the_runtime_names_its_upload_manager_and_sessions() -> None:
    assert isinstance(inspect.getattr_static(Runtime, "uploaded_file_mgr"), property)
    assert callable(getattr(Runtime, "exists", None)) and callable(Runtime.instance)
    assert callable(WebsocketSessionManager.list_sessions)
    assert "session" in inspect.signature(SessionInfo.__init__).parameters
    assert "suppress_warning" in inspect.signature(get_script_run_ctx).parameters


def test_outside_a_streamlit_run_nothing_is_released_and_sessions_are_unknown() -> None:
    class Upload:
        file_id = "f1"

    assert internals.session_id() is None
    assert internals.release_uploads([Upload()]) == 0
    assert internals.live_sessions() is None


def test_a_gone_sessions_media_and_deferred_downloads_can_be_let_go() -> None:
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    assert isinstance(inspect.getattr_static(Runtime, "media_file_mgr"), property)
    assert list(inspect.signature(MemoryUploadedFileManager.remove_session_files).parameters) == [
        "self",
        "session_id",
    ]
    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    held = bytearray(1000)  # what a deferred download would encode (a volume, on the page)
    # Outside a run the manager files everything under the session "dontcare".
    manager.add_deferred(lambda: bytes(held), "application/octet-stream", "1.2", "x.bin")
    manager.remove_orphaned_files()
    assert len(manager._deferred_callables) == 1  # its session still refers to it: kept
    assert list(inspect.signature(manager.clear_session_refs).parameters) == ["session_id"]
    manager.clear_session_refs("dontcare")  # the session is gone
    manager.remove_orphaned_files()
    assert manager._deferred_callables == {}  # no session refers to it: dropped
