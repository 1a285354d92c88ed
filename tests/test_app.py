"""The page, driven headless through streamlit.testing (no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from synth import make_series, zip_bytes

import dicomviz.display.views

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ROOT = Path(__file__).resolve().parents[1]


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _header_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "keyword" in d.value.columns]
    return table


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_opens_on_the_labelled_synthetic_sample() -> None:
    """A thin-slice volume opens on the middle slice of all three planes."""
    at = _app()
    _no_errors(at)
    assert any("synthetic" in info.value.lower() for info in at.info)
    figures = _figures(at)
    assert [_title(f).split()[:2] for f in figures] == [
        ["Axial", "slice"],
        ["Coronal", "slice"],
        ["Sagittal", "slice"],
    ]
    labels = [a["text"] for a in figures[1]["layout"]["annotations"]]
    assert {"S", "I", "R", "L"} <= set(labels)


def _title(figure: dict) -> str:
    """A figure's title, whether Plotly's own or a centred annotation."""
    title = figure["layout"].get("title", {}).get("text")
    if title:
        return title
    texts = [a["text"] for a in figure["layout"].get("annotations", [])]
    return next(t for t in texts if " slice " in f" {t} " or "IP" in t or "Mean" in t)


def test_switching_plane_and_mode_changes_the_figure() -> None:
    at = _app()
    at.radio(key="plane").set_value("Axial").run()
    before = _figures(at)[0]
    at.radio(key="mode").set_value("MIP").run()
    axial = _figures(at)[0]
    assert "Axial MIP" in _title(axial)
    assert axial["data"][0]["source"] != before["data"][0]["source"]
    at.radio(key="mode").set_value("MinIP").run()
    assert "Axial MinIP" in _title(_figures(at)[0])
    at.radio(key="plane").set_value("All three").run()
    assert len(_figures(at)) == 3
    _no_errors(at)


def test_header_search_narrows_rows() -> None:
    at = _app()
    everything = len(_header_table(at))
    at.text_input(key="header_search").set_value("pixel spacing").run()
    rows = _header_table(at)
    assert 0 < len(rows) < everything
    assert rows["keyword"].str.contains("PixelSpacing").any()
    assert any(f"of {everything} elements match" in c.value for c in at.caption)


def _made(offered: dict[str, object], name: str) -> bytes:
    """A download's bytes, made as a click would (a deferred download is a callable)."""
    data = offered[name]
    return data() if callable(data) else data  # type: ignore[return-value]


def test_hide_identifiers_hides_them_in_table_and_csv(offered: dict[str, object]) -> None:
    at = _app()
    table = _header_table(at)
    assert table[table["keyword"] == "PatientName"]["value"].tolist() == ["(hidden)"]
    assert table[table["keyword"] == "StudyDate"]["value"].tolist() == ["(hidden)"]
    csv = _made(offered, "dicomviz_headers.csv").decode()
    assert "PatientName" in csv and "DOE^JANE" not in csv and "20240101" not in csv
    at.toggle(key="hide_ids").set_value(False).run()
    shown = _header_table(at)
    assert "DOE^JANE" in shown[shown["keyword"] == "PatientName"]["value"].iloc[0]
    assert "DOE^JANE" in _made(offered, "dicomviz_headers.csv").decode()


def test_upload_with_a_broken_file_lists_it_and_loads_the_rest() -> None:
    at = _app()
    series = zip_bytes(make_series(slices=9, rows=20, columns=16))
    at.file_uploader(key="files").set_value(
        [("export.zip", series, "application/zip"), ("broken.dcm", b"garbage", "image/dicom")]
    ).run()
    _no_errors(at)
    assert not any("synthetic" in info.value.lower() for info in at.info)
    skipped = [e for e in at.expander if "skipped" in e.label]
    assert skipped
    table = skipped[0].dataframe[0].value
    reasons = dict(zip(table["file"], table["reason"], strict=True))
    assert reasons["broken.dcm"].startswith("a text file") or "not DICOM" in reasons["broken.dcm"]
    (figure,) = _figures(at)
    assert "Axial" in _title(figure)  # 9 slices: shown in their own plane
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images used"] == "9"


def test_uploads_leave_the_uploader_and_stay_shown_until_replaced_or_cleared() -> None:
    """The page keeps an upload's bytes itself and empties the uploaders, so Streamlit does not
    deep-copy every uploaded byte on each rerun; the upload stays shown until replaced."""
    at = _app()
    first = zip_bytes(make_series(slices=9, rows=20, columns=16))
    at.file_uploader(key="files").set_value([("first.zip", first, "application/zip")]).run()
    _no_errors(at)
    assert [u.value for u in at.get("file_uploader")] == [[], []]
    at.text_input(key="center").set_value("-600").run()
    assert {m.label: m.value for m in at.metric}["Images used"] == "9"
    assert any("your upload (1 file)" in c.value for c in at.sidebar.caption)

    second = zip_bytes(make_series(slices=7, rows=20, columns=16))
    at.file_uploader(key="files-1").set_value([("second.zip", second, "application/zip")]).run()
    _no_errors(at)
    assert {m.label: m.value for m in at.metric}["Images used"] == "7"

    at.button(key="clear_upload").click().run()
    _no_errors(at)
    assert any("synthetic" in info.value.lower() for info in at.info)


def test_a_header_that_cannot_be_parsed_is_a_warning_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dicomviz.io.reading

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("damaged sequence")

    monkeypatch.setattr(dicomviz.io.reading, "parse_dataset", broken)
    st.cache_resource.clear()
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    assert any("whole header cannot be read (damaged sequence)" in w.value for w in at.warning)
    assert _figures(at)  # the views still show


def test_window_change_does_not_recompute_the_view(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = dicomviz.display.views.make_view

    def counting(*args, **kwargs):
        calls.append(args[1:3])
        return original(*args, **kwargs)

    monkeypatch.setattr(dicomviz.display.views, "make_view", counting)
    st.cache_resource.clear()
    at = _app()
    first = len(calls)
    assert first >= 1
    before = _figures(at)[0]["data"][0]["source"]
    at.text_input(key="center").set_value("-600").run()
    at.text_input(key="width").set_value("1500").run()
    at.selectbox(key="colormap").set_value("bone").run()
    assert len(calls) == first  # the picture is redrawn in the new window, the view reused
    assert _figures(at)[0]["data"][0]["source"] != before
    at.radio(key="mode").set_value("MIP").run()
    assert len(calls) == first + 3  # the three planes' MIPs


def _echo_series() -> bytes:
    """A dual-echo MR: 6 positions x 2 echoes; echo e's slices hold the value 100 * e + k."""
    from test_series_4d import POSITIONS, _series

    assert POSITIONS == 4
    return zip_bytes(
        _series([{"EchoNumbers": 1, "EchoTime": 11}, {"EchoNumbers": 2, "EchoTime": 92}])
    )


def test_a_4d_series_offers_its_volumes_by_what_they_are() -> None:
    at = _app()
    at.file_uploader(key="files").set_value([("echoes.zip", _echo_series(), "application/zip")])
    at.run()
    _no_errors(at)
    (skipped,) = [e for e in at.expander if "skipped" in e.label]  # zip_bytes adds junk files
    assert set(skipped.dataframe[0].value["reason"]) <= {  # no image dropped
        "operating-system metadata, not an image",
        "a text file, not DICOM",
    }
    (slider,) = [s for s in at.select_slider if s.key.startswith("volume-")]
    assert list(slider.options) == ["TE 11 ms", "TE 92 ms"]
    first = _figures(at)[0]["data"][1]["customdata"]  # the values hover shows
    slider.set_value("TE 92 ms").run()
    _no_errors(at)
    second = _figures(at)[0]["data"][1]["customdata"]
    assert first != second


def test_the_header_follows_the_slice_and_shows_an_enhanced_frames_own_values() -> None:
    at = _app()
    enhanced = make_series(slices=6, rows=20, columns=16, enhanced=True)
    at.file_uploader(key="files").set_value(
        [("enhanced.zip", zip_bytes(enhanced), "application/zip")]
    )
    at.run()
    _no_errors(at)
    at.radio(key="mode").set_value("Slice").run()
    (slider,) = [s for s in at.slider if s.key.startswith("index-axial-")]

    def shown_z() -> float:
        table = _header_table(at)
        rows = table[(table["keyword"] == "ImagePositionPatient") & table["per_frame"]]
        return float(rows["value"].iloc[0].strip("[]").split(",")[2])

    slider.set_value(2).run()
    z_at_2 = shown_z()
    slider.set_value(5).run()
    assert shown_z() == z_at_2 + 3 * 2.0  # three slices further, 2 mm apart
    at.toggle(key="varying").set_value(True).run()
    varying = _header_table(at) if "keyword" in at.dataframe[-1].value.columns else None
    assert varying is not None and "ImagePositionPatient" in set(varying["keyword"])


def test_notes_are_one_collapsed_line_in_plain_words() -> None:
    from test_slice_grid import _head_ct

    at = _app()
    at.file_uploader(key="files").set_value(
        [("head.zip", zip_bytes(_head_ct()), "application/zip")]
    )
    at.run()
    _no_errors(at)
    (notes,) = [e for e in at.expander if "about this series" in e.label]
    assert notes.label == "1 note about this series"
    assert not notes.proto.expanded
    said = " ".join(m.value for m in notes.markdown)
    assert "uneven" in said and "true position" in said
    assert any("uneven slice spacing: 13 gaps of 4.0 mm" in c.value for c in notes.caption)
    assert not at.warning  # no wall of yellow boxes


def test_a_4d_upload_counts_one_series_of_its_stacks() -> None:
    at = _app()
    at.file_uploader(key="files").set_value([("echoes.zip", _echo_series(), "application/zip")])
    at.run()
    assert {m.label: m.value for m in at.metric}["Series"] == "1 (2 stacks)"


def test_a_window_that_is_not_a_number_is_said_and_the_picture_kept() -> None:
    at = _app()
    before = _figures(at)[0]["data"][0]["source"]
    at.text_input(key="center").set_value("abc").run()
    assert any("must be numbers" in e.value for e in at.sidebar.error)
    assert _figures(at)[0]["data"][0]["source"] == before  # the same picture, same window
    at.text_input(key="center").set_value("40").run()
    assert not at.sidebar.error


def test_all_three_stays_when_switching_series_and_help_is_there() -> None:
    at = _app()
    files = [
        *make_series(slices=9, rows=20, columns=16, series_number=1, names="A{index}"),
        *make_series(
            slices=5,
            rows=20,
            columns=16,
            series_number=2,
            names="B{index}",
            series_description="Second",
        ),
    ]
    at.file_uploader(key="files").set_value([("two.zip", zip_bytes(files), "application/zip")])
    at.run()
    at.radio(key="plane").set_value("All three").run()
    (series,) = [s for s in at.selectbox if s.key.startswith("series-")]
    assert "9 images" in series.format_func(series.value)
    series.select_index(1 - series.index).run()
    _no_errors(at)
    (series,) = [s for s in at.selectbox if s.key.startswith("series-")]
    assert "5 images" in series.format_func(series.value)  # the other series is shown
    assert at.radio(key="plane").value == "All three" and len(_figures(at)) == 3
    assert "MinIP" in at.radio(key="mode").help and "darkest" in at.radio(key="mode").help
    assert "Lung" in at.selectbox(key="preset").help


def _page_windows(at: AppTest) -> dict[str, tuple[str, object]]:
    """For every mode: the plane the page shows first and its automatic window."""
    from dicomviz.display import modes

    found = {}
    for mode in modes.REGISTRY:
        at.radio(key="mode").set_value(mode.label).run()
        _no_errors(at)
        layout = at.radio(key="plane").value
        plane = "axial" if layout == "All three" else layout.lower()
        found[mode.name] = (plane, at.session_state["automatic"][0])
    return found


@pytest.mark.parametrize("series", ["sample", "mr"])
def test_the_command_line_draws_every_mode_in_the_pages_automatic_window(
    series: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`project` without --window and the page opening a mode show the same picture: one
    function (opening.initial_window) chooses both windows. The chest CT sample takes the lung
    window for MinIP; the MR, windows fitted to each projection's values."""
    from test_opening import _with_windows

    import dicomviz
    from dicomviz.cli import main
    from dicomviz.display import render
    from dicomviz.display.windowing import CT_PRESETS
    from dicomviz.sample.phantom import sample_series

    files = sample_series() if series == "sample" else _with_windows([(1070, 1860)] * 5)
    at = _app()
    if series != "sample":
        at.file_uploader(key="files").set_value([("mr.zip", zip_bytes(files), "application/zip")])
        at.run()
    windows = _page_windows(at)
    folder = tmp_path / series
    folder.mkdir()
    for name, data in files:
        (folder / name).write_bytes(data)
    volume = dicomviz.build_volume(dicomviz.load([str(folder)]).largest())
    for mode, (plane, window) in windows.items():
        out = tmp_path / mode
        assert main(["project", str(folder), "--plane", plane, "--mode", mode, "-o", str(out)]) == 0
        assert f"(window {window})" in capsys.readouterr().err, mode
        expected = render.view_png(dicomviz.make_view(volume, plane, mode), window)
        assert out.with_suffix(".png").read_bytes() == expected, mode
    chosen = {mode: window for mode, (_, window) in windows.items()}
    assert chosen["max"] != chosen["slice"]  # each mode's own rule, not one window for all
    if series == "sample":
        assert chosen["min"] == CT_PRESETS["lung"]


def test_a_tilted_ct_opens_on_patient_axes_and_can_be_shown_as_acquired() -> None:
    import numpy as np
    from test_resample import _files

    angle = np.radians(18.5)
    files = _files((1, 0, 0), (0, 1, 0), tilt=(0.0, 1.5 * np.tan(angle), 0.0))
    at = _app()
    at.file_uploader(key="files").set_value([("tilted.zip", zip_bytes(files), "application/zip")])
    at.run()
    _no_errors(at)
    (grid,) = [r for r in at.sidebar.radio if r.key.startswith("grid-")]
    assert grid.value == "On patient axes"
    assert any("18.5° off the patient's axes" in c.value for c in at.sidebar.caption)
    patient = _figures(at)[0]["data"][1]["customdata"]
    grid.set_value("As acquired").run()
    _no_errors(at)
    assert _figures(at)[0]["data"][1]["customdata"] != patient


def _main_parts(at: AppTest) -> list[str]:
    """The page's top-level parts, in order (what Streamlit knows the views' fragment by)."""
    return [type(child).__name__ for child in at.main.children.values()]


def _views_place(at: AppTest) -> int:
    """Where, among the page's top-level parts, the Plotly views are."""
    (place,) = [
        i for i, part in enumerate(at.main.children.values()) if i and part.get("plotly_chart")
    ]
    return place


def test_the_views_stay_at_one_place_whatever_the_page_says_above_them() -> None:
    """The views' fragment is known by its place on the page: if a run with messages above it
    (skipped files, notes, a progress bar) put it elsewhere than the next run, a slice or plane
    chosen while another run goes on would be lost (Streamlit: "Couldn't find fragment")."""
    at = _app()
    parts, place = _main_parts(at), _views_place(at)
    assert parts == ["Title", "Block", "Block", "Block", "Block", "Block"]
    series = zip_bytes(make_series(slices=9, rows=20, columns=16))
    at.file_uploader(key="files").set_value(
        [("export.zip", series, "application/zip"), ("broken.dcm", b"garbage", "image/dicom")]
    ).run()
    _no_errors(at)
    assert [e for e in at.expander if "skipped" in e.label]  # more is said above the views
    assert (_main_parts(at), _views_place(at)) == (parts, place)


def test_the_hosted_configuration_is_what_the_readme_says() -> None:
    """The server settings a hosted link relies on, each named in the README's deployment
    section (no source watching: half of the server's work for each page opened)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    hosted = {
        ("server", "enableXsrfProtection"): True,
        ("server", "fileWatcherType"): "none",
        ("client", "showErrorDetails"): "none",
        ("browser", "gatherUsageStats"): False,
        ("runner", "postScriptGC"): False,
    }
    readme = (ROOT / "README.md").read_text()
    for (section, key), value in hosted.items():
        assert config[section][key] == value, (section, key)
        shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
        assert f"`{section}.{key} = {shown}`" in " ".join(readme.split()), (section, key)
