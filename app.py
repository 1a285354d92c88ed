"""dicomviz page: drop in a study, search its headers, look through its volume along every plane.

A thin layer over the ``dicomviz`` library: widgets and messages, one function per panel. What
an upload turns into (study, volumes, views, header tables) lives in one bounded, process-wide
store keyed by the upload's content digest (``page/data.py``), so a hosted page holds to a memory
budget and forgets a closed tab's data; heavy work waits its turn in a fair line.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

import dicomviz
from dicomviz import catalog, notes
from dicomviz.display import figures, modes, opening, render, views, windowing
from dicomviz.geometry import PLANES
from dicomviz.pixels import resample
from dicomviz.sample.phantom import SAMPLE_DESCRIPTION
from dicomviz.tables import frame_headers, headers, privacy
from page import browse, data
from page.data import Built, Source

PLANE_CHOICES = [*(plane.capitalize() for plane in PLANES), "All three"]
MODE_LABELS = {mode.label: mode for mode in modes.REGISTRY}
AUTOMATIC = "Automatic"


@dataclass(frozen=True)
class ViewControls:
    """What the sidebar asks to see: planes, mode, and per plane a slice or a slab (0-based,
    [start, stop))."""

    planes: list[str]
    mode: str
    indices: dict[str, int]
    slabs: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Display:
    window: windowing.Window
    colormap: str


@dataclass(frozen=True)
class Look:
    """What the views show, as the last run of the views' fragment chose it: the browsing view
    starts there and the spinning MIP draws in its window."""

    controls: ViewControls
    display: Display


LOOK = "look"


# ---------- derived values, kept with the upload in the store (page/data.py) ----------


def varying_table(source: Source, stack: dicomviz.Stack) -> pd.DataFrame:
    return data.remembered(
        source,
        ("varying", stack.id),
        lambda: frame_headers.varying_in_frames([(f.file.dataset, f.index) for f in stack.frames]),
    )


def header_identifiers(source: Source, stack: dicomviz.Stack) -> privacy.Identifiers | None:
    """What every header of the series names (its regex made once, kept with the upload), or
    None while it is made in the background: walking every header of a 300-file series costs
    0.4-0.8 s, which must not come before another visitor's reading. Until then a table is
    cleaned of its own image's identifiers, as redact_table always does."""

    def make() -> privacy.Identifiers:
        files = {id(f.file.dataset): f.file.dataset for f in stack.frames}
        return privacy.identifiers_of(*files.values())

    return data.remembered_later(source, ("identifiers", stack.id), make)


def shown_table(
    source: Source, stack: dicomviz.Stack, frame, *, only_varying: bool, hide: bool
) -> pd.DataFrame:
    """The header table as shown (one image's, or what varies; identifiers hidden or not),
    made once and kept with the upload: a slice step then does not pay for it again."""
    series = header_identifiers(source, stack) if hide else None

    def make() -> pd.DataFrame:
        if only_varying:
            table = varying_table(source, stack)
        else:
            table = headers.header_table(frame.file.dataset, frame=frame.index)
        if hide:  # the series' identifiers, once known: one regex for every image of it
            table = privacy.redact_table(table, identifiers=series or ())
        return table

    image = None if only_varying else (frame.file.name, frame.index)
    key = ("table", stack.id, image, hide, series is not None)
    return data.remembered(source, key, make, size=1_000_000)


def label_identifiers(source: Source, study: dicomviz.Study) -> frozenset[str]:
    """What the upload's headers name (one file per series), so picker labels can be cleaned
    of it: a description sometimes holds the patient's name."""

    def make() -> frozenset[str]:
        found: set[str] = set()
        for uid in dict.fromkeys(s.series_uid for s in study.stacks):
            try:
                found |= privacy.identifiers_of(study.find(uid).first_dataset())
            except dicomviz.DicomvizError:
                continue  # that file's whole header cannot be read: its description not shown
        return frozenset(found)

    return data.remembered(source, "label identifiers", make)


# ---------- panels ----------


def upload_source() -> Source:
    """The uploaded files (or the sample).

    Uploads leave the uploaders, and Streamlit's uploaded-file manager, as soon as they arrive:
    their bytes go to the page's bounded store (page/data.py) and the session keeps only their
    digest. (Streamlit also deep-copies an uploader's value on every rerun.)
    """
    st.sidebar.header("Data")
    generation = st.session_state.setdefault("upload_generation", 0)
    suffix = f"-{generation}" if generation else ""
    files = st.sidebar.file_uploader(
        "DICOM files or .zip archives", accept_multiple_files=True, key="files" + suffix
    )
    folder = st.sidebar.file_uploader(
        "…or a whole folder", accept_multiple_files="directory", key="folder" + suffix
    )
    uploads = [*(files or []), *(folder or [])]
    if uploads:
        kept = data.keep_upload(uploads)
        st.session_state["upload_generation"] = generation + 1
        if isinstance(kept, str):
            st.session_state["refused"] = kept
        else:
            _forget_upload()
            st.session_state["upload"] = kept
        st.rerun()
    if "refused" in st.session_state:
        st.sidebar.error(st.session_state.pop("refused"))
    source = st.session_state.get("upload")
    if source is None:
        st.sidebar.caption("Showing the built-in **synthetic** sample. Drop in your own files.")
        return Source(data.SAMPLE)
    st.sidebar.caption(
        f"Showing your upload ({source.count} file{'s' if source.count != 1 else ''}). "
        "Files dropped above replace it."
    )
    st.sidebar.button("Back to the sample", key="clear_upload", on_click=_forget_upload)
    return source


def _forget_upload() -> None:
    source = st.session_state.pop("upload", None)
    if source is not None:
        data.forget(source)


def in_line() -> Callable[[int], None]:
    """What a waiting visitor sees: where they stand in the line for heavy work."""
    place = st.empty()

    def waiting(ahead: int) -> None:
        place.info(
            f"In line: {ahead} {'study' if ahead == 1 else 'studies'} ahead of yours. "
            "This server reads one study per core at a time; yours starts as soon as it can."
        )

    waiting.clear = place.empty  # type: ignore[attr-defined]
    return waiting


def summary(
    study: dicomviz.Study, source: Source, built: Built | None, stack: dicomviz.Stack | None
) -> None:
    if source.digest == data.SAMPLE:
        st.info(
            f"**{SAMPLE_DESCRIPTION}**: generated by code, not patient data. "
            "Upload DICOM files, a folder or a .zip in the sidebar to see your own."
        )
    used = sum(len(s.frames) for s in study.stacks)
    series, stacks = catalog.counts(study)
    cols = st.columns(4)
    cols[0].metric("Inputs read", study.files_read)
    cols[1].metric(
        "Series",
        str(series) if series == stacks else f"{series} ({stacks} stacks)",
        help="A series split into parts (e.g. a 3-plane localizer) or holding several volumes "
        "(echoes, time points, diffusion directions) counts once, with its stacks in brackets.",
    )
    cols[2].metric("Images used", used)
    cols[3].metric("Skipped", len(study.skipped))
    if study.skipped:
        with st.expander(f"{len(study.skipped)} skipped file(s), with the reason"):
            st.dataframe(
                pd.DataFrame([{"file": s.name, "reason": s.reason} for s in study.skipped]),
                hide_index=True,
            )
    if built is not None:
        series_notes(built)


def series_notes(built: Built) -> None:
    """One collapsed line; each note in plain words, the exact sentence under it."""
    found = [*built.volume.warnings]
    oblique = views.oblique_warning(built.canon)
    if oblique:
        found.append(oblique)
    if not found:
        return
    label = f"{len(found)} note{'s' if len(found) != 1 else ''} about this series"
    with st.expander(label, expanded=False, icon="ℹ️"):
        for note in found:
            st.markdown(f"- {notes.plain_of(note)}")
            st.caption(str(note))


def pick_stack(study: dicomviz.Study, identifiers: frozenset[str]) -> dicomviz.Stack:
    """Study, series, part (one grid of a split series) and, for a 4-D series, the volume
    (echo, time point, diffusion direction...) on a slider, named by what it is."""
    entries = catalog.browse(study)
    largest = study.largest()
    study_entry = entries[0]
    if len(entries) > 1:
        default = next(
            (i for i, e in enumerate(entries) for s in e.series if s.uid == largest.series_uid), 0
        )
        study_entry = st.sidebar.selectbox(
            "Study",
            entries,
            index=default,
            key="study",
            format_func=lambda e: catalog.study_label(e, identifiers),
        )
    series = study_entry.series
    chosen = series[0]
    if len(series) > 1:
        default = next((i for i, e in enumerate(series) if e.uid == largest.series_uid), 0)
        chosen = st.sidebar.selectbox(
            "Series",
            series,
            index=default,
            key=f"series-{study_entry.key}",
            format_func=lambda e: catalog.series_label(e, identifiers),
        )
    else:
        st.sidebar.caption(f"Series {catalog.series_label(chosen, identifiers)}")
    part = chosen.parts[0]
    if len(chosen.parts) > 1:
        part = st.sidebar.radio(
            "Part of this series",
            chosen.parts,
            key=f"part-{chosen.uid}",
            format_func=catalog.part_label,
            help="This series holds images that cannot be stacked together (e.g. the three "
            "planes of a localizer); each part is shown on its own.",
        )
    if not part.is_4d:
        return part.first
    labels = {stack.label: stack for stack in part.stacks}
    label = st.sidebar.select_slider(
        f"Volume ({len(part.stacks)} in this series)",
        options=list(labels),
        key=f"volume-{part.key}",
        help="A 4-D series holds several volumes at the same positions: echoes, time points, "
        "diffusion directions, image types. Pick one to view.",
    )
    return labels[label]


def grid_control(built: Built) -> str:
    """As acquired, or resampled onto the patient's axes: offered when the stack is off them
    (an oblique MR, a gantry-tilted CT, which opens on patient axes)."""
    volume = built.volume
    if not resample.needs_patient_axes(volume):
        return "acquired"
    options = {"As acquired": "acquired", "On patient axes": "patient"}
    key = f"grid-{volume.stack_id}"
    if key not in st.session_state:
        default = resample.default_grid(volume)
        st.session_state[key] = next(k for k, v in options.items() if v == default)
    angle = resample.off_patient_axes(volume)
    choice = st.sidebar.radio(
        "Grid",
        list(options),
        key=key,
        horizontal=True,
        help=f"The slices are {angle:.1f}° off the patient's axes. As acquired, the views run "
        "along the slices (labels approximate); on patient axes the volume is resampled "
        "(trilinear) so an axial view is truly axial.",
    )
    st.sidebar.caption(f"Slices {angle:.1f}° off the patient's axes.")
    return options[choice]


def settle(source: Source, stack_id: str, built: Built, stack_key: str) -> Look:
    """What the view and display controls hold for this stack, their opening values set where
    none is yet, before any of them is drawn: the browsing view, above the views' fragment,
    starts from it, and the fragment draws the controls holding it.

    A series opens on its own plane(s); "All three" stays when switching series. A new series or
    mode starts on its own automatic window, the one ``project`` draws with
    (opening.initial_window: for slices the opening picture's, for projections one fitted to the
    projection). Slices count from 1 on the page, slabs include both ends."""
    canon = built.canon
    before = st.session_state.get("shown_stack")
    if before != stack_key:
        # A new upload opens on its own plane(s); another series of it keeps "All three".
        other_upload = before is None or before.split("-")[0] != stack_key.split("-")[0]
        st.session_state["shown_stack"] = stack_key
        if other_upload or st.session_state.get("plane") != "All three":
            three = len(built.planes) == 3
            st.session_state["plane"] = "All three" if three else built.planes[0].capitalize()
    layout = st.session_state["plane"]
    how = MODE_LABELS.get(st.session_state.get("mode"), modes.REGISTRY[0])
    planes = list(PLANES) if layout == "All three" else [layout.lower()]
    indices, slabs = {}, {}
    for plane in PLANES:
        depth = views.plane_depth(canon, plane)
        spacing = views.plane_spacing(canon, plane)
        indices[plane] = st.session_state.setdefault(_index_key(plane, stack_key), depth // 2 + 1)
        start, stop = how.opening_slab(depth, spacing)
        slabs[plane] = st.session_state.setdefault(
            _slab_key(plane, how, stack_key), (start + 1, stop)
        )
    controls = ViewControls(
        planes,
        how.name,
        {plane: number - 1 for plane, number in indices.items()},
        {plane: _zero_based(slab) for plane, slab in slabs.items()},
    )
    situation = (built.volume.stack_id, how.name)
    if st.session_state.get("window_for") != situation:
        first = planes[0]
        first_view = data.view(
            source, stack_id, canon, first, how.name, controls.indices[first], controls.slabs[first]
        )
        automatic = opening.initial_window(built.volume, how.name, first_view)
        st.session_state["window_for"] = situation
        st.session_state["automatic"] = automatic
        st.session_state["preset"] = AUTOMATIC
        _set_window(automatic[0])
    window = _parsed_window(st.session_state["center"], st.session_state["width"])
    if window is None:  # not numbers: the last good window stays (window_controls says so)
        window = st.session_state.get("last_window", st.session_state["automatic"][0])
    else:
        st.session_state["last_window"] = window
    colormap = st.session_state.setdefault("colormap", render.COLORMAPS[0])
    return Look(controls, Display(window, colormap))


def _index_key(plane: str, stack_key: str) -> str:
    return f"index-{plane}-{stack_key}"


def _slab_key(plane: str, how: modes.Mode, stack_key: str) -> str:
    """Modes that open on the same slab share it."""
    return f"slab-{plane}-{how.opening_slab_mm}-{stack_key}"


def view_controls(built: Built, stack_key: str, controls: ViewControls) -> None:
    """Plane(s), mode, and per-plane slice or slab in the sidebar, holding ``controls`` (from
    :func:`settle`)."""
    st.header("View")
    canon = built.canon
    st.radio("Plane", PLANE_CHOICES, horizontal=True, key="plane")
    st.radio(
        "Mode",
        list(MODE_LABELS),
        horizontal=True,
        key="mode",
        help="\n".join(f"**{m.label}**: {m.help}" for m in modes.REGISTRY),
    )
    how = modes.get(controls.mode)
    for plane in controls.planes:
        depth = views.plane_depth(canon, plane)
        name = plane.capitalize()
        if depth < 2:
            st.caption(f"{name}: a single slice")
        elif not how.projects:
            st.slider(f"{name} slice", 1, depth, key=_index_key(plane, stack_key))
        else:
            start, stop = st.slider(
                f"{name} slab (slices)", 1, depth, key=_slab_key(plane, how, stack_key)
            )
            count = stop - start + 1
            spacing = views.plane_spacing(canon, plane)
            st.caption(f"{count} slice{'s' if count != 1 else ''}, {count * spacing:.1f} mm")


def _zero_based(slab: tuple[int, int]) -> tuple[int, int]:
    """The page counts slices from 1 and includes both ends; views take [start, stop)."""
    return slab[0] - 1, slab[1]


def window_controls(built: Built, shown: windowing.Window) -> None:
    """Preset, center/width and colormap in the sidebar (their values set by :func:`settle`);
    a center or width that is not a number is said, with the window still ``shown``."""
    st.header("Display")
    volume = built.volume
    automatic, why = st.session_state["automatic"]
    presets = {AUTOMATIC: automatic}
    presets |= {name.capitalize(): w for name, w in windowing.presets_for(volume.modality).items()}
    help_lines = [f"**{AUTOMATIC}**: {why}"] + [
        f"**{name.capitalize()}** ({w.center:g}/{w.width:g}): {windowing.PRESET_HELP[name]}"
        for name, w in windowing.presets_for(volume.modality).items()
    ]
    st.selectbox(
        "Window preset",
        list(presets),
        key="preset",
        on_change=lambda: _set_window(presets[st.session_state["preset"]]),
        help="\n\n".join(help_lines),
    )
    cols = st.columns(2)
    center_text = cols[0].text_input("Center", key="center")
    width_text = cols[1].text_input("Width", key="width")
    if _parsed_window(center_text, width_text) is None:  # settle() kept the last good one
        st.error(
            f"Center and width must be numbers, the width above 0 (e.g. 40 and 400); still "
            f"showing {shown}."
        )
    st.selectbox("Colormap", render.COLORMAPS, key="colormap")


def _set_window(window: windowing.Window) -> None:
    st.session_state["center"] = f"{window.center:g}"
    st.session_state["width"] = f"{window.width:g}"


def _parsed_window(center: str, width: str) -> windowing.Window | None:
    try:
        return windowing.Window(float(center), float(width))
    except (TypeError, ValueError):
        return None


def on_click(
    key: str,
    plane: str,
    canon: dicomviz.Volume,
    stack_key: str,
    axes: tuple[views.Coordinate, views.Coordinate],
) -> None:
    """Linked views: a click in one view moves the other planes' slices there. (A callback,
    kept as long as the tab: ``canon`` is the volume's geometry without its pixels, ``axes``
    the view's rows and columns without its image.)"""
    state = st.session_state.get(key)
    points = state.selection.points if state and state.selection else []
    if not points:
        return  # a second click on the same point sends an empty selection
    rows, columns = axes
    row, col = rows.index(points[0]["y"]), columns.index(points[0]["x"])
    for other, index in views.linked_indices(canon, plane, row, col).items():
        st.session_state[_index_key(other, stack_key)] = int(index) + 1


def browse_panel(
    source: Source, stack_key: str, built: Built, controls: ViewControls, display: Display
) -> None:
    """The stack in a viewer that runs in the browser (page/browse.py): scrolling, windowing
    and slabs without a rerun. What it shows becomes the sidebar's choices (``stack_key`` names
    them, as in view_controls), so the views below and the PNG download follow it."""

    stack_id = built.volume.stack_id  # the callback keeps names, never the volume

    def follow(shown: browse.Shown) -> None:
        how = modes.get(shown.mode)
        wanted: dict[str, object] = {
            "plane": "All three" if shown.layout == "all" else shown.layout.capitalize(),
            "mode": how.label,
            "center": f"{shown.window.center:g}",
            "width": f"{shown.window.width:g}",
            "window_for": (stack_id, how.name),  # keep this window, not the mode's
        }
        for plane in PLANES:
            wanted[_index_key(plane, stack_key)] = shown.indices[plane] + 1
            if how.projects:
                start, stop = shown.slabs[plane]
                wanted[_slab_key(plane, how, stack_key)] = (start + 1, stop)
        st.session_state.update({k: v for k, v in wanted.items() if st.session_state.get(k) != v})

    st.subheader("Browse", anchor=False)
    st.caption(
        "Wheel or arrow keys: next slice · drag: window · click: move the crosshair · "
        "double-click: automatic window. The views below follow it when you pause."
    )
    start = browse.Shown.of(
        controls.planes, controls.mode, controls.indices, controls.slabs, display.window
    )
    browse.panel(group=source.digest, stack_key=stack_key, built=built, start=start, follow=follow)


def show_views(
    source: Source,
    stack: dicomviz.Stack,
    stack_key: str,
    canon: dicomviz.Volume,
    controls: ViewControls,
    display: Display,
) -> list[views.View]:
    """One Plotly view per chosen plane; returns them all, for the PNG download."""
    columns = st.columns(len(controls.planes))
    shown: list[views.View] = []
    for slot, (column, plane) in enumerate(zip(columns, controls.planes, strict=True)):
        view = data.view(
            source,
            stack.id,
            canon,
            plane,
            controls.mode,
            controls.indices[plane],
            controls.slabs[plane],
        )
        figure = figures.view_figure(
            view,
            display.window,
            colormap=display.colormap,
            clickable=True,
            picture=True,  # a PNG: a fifth of the bytes of a heatmap; hover values from the grid
            crosshair=views.crosshair_pixel(canon, plane, controls.indices),
            height=460 if len(controls.planes) > 1 else 640,
            depth=figures.slab_position(canon.affine, view.plane, view.slab),
        )
        column.plotly_chart(
            figure,
            # Keyed by its place, not its plane: another plane in the same place updates the
            # chart the browser has (Plotly.react) instead of mounting a new one.
            key=f"figure-{slot}",
            selection_mode="points",
            on_select=partial(
                on_click,
                f"figure-{slot}",
                plane,
                canon.geometry(),
                stack_key,
                (view.rows, view.columns),
            ),
            config={"doubleClick": "reset", "displaylogo": False},
        )
        shown.append(view)
    return shown


def header_panel(stack: dicomviz.Stack, source: Source, shown_frame: int | None) -> None:
    """Every element of one image (for an enhanced file: its frame's own values), or what
    varies across the series; the image follows the slice shown unless the user picks one."""
    st.subheader("Header elements")
    cols = st.columns([2, 3, 2, 2])
    key = f"image-{source.digest[:12]}-{stack.id}"
    follow = st.session_state.get("image_follows", True)
    if follow and shown_frame is not None:
        st.session_state[key] = shown_frame + 1
    number = cols[0].number_input("Image in series", 1, len(stack.frames), key=key)
    cols[0].checkbox("Follow the slice shown", value=True, key="image_follows")
    search = cols[1].text_input("Search (tag, name, VR or value)", key="header_search")
    only_varying = cols[2].toggle(
        "Only what varies",
        key="varying",
        help="Only the elements whose value differs between the images of this series "
        "(for an enhanced multi-frame file, between its frames).",
    )
    hide = cols[3].toggle(
        "Hide patient identifiers",
        value=True,
        key="hide_ids",
        help="DICOM PS3.15 basic profile: identifying values hidden, names, IDs and dates "
        "cleaned out of descriptions, private elements hidden; in the table and the CSV.",
    )
    frame = stack.frames[int(number) - 1]
    try:
        table = shown_table(source, stack, frame, only_varying=only_varying, hide=hide)
    except dicomviz.DicomvizError as exc:  # a whole header is only parsed here, on demand
        st.warning(str(exc))
        return
    shown = headers.filter_table(table, search)
    st.caption(
        f"{len(shown)} of {len(table)} elements match"
        if search.strip()
        else f"{len(table)} elements"
    )
    st.dataframe(shown, hide_index=True, height=420, key="header_table")
    st.download_button(
        "Download table (CSV)",
        partial(_csv_bytes, shown),  # made when asked for, not on every slice step
        file_name="dicomviz_headers.csv",
        mime="text/csv",
        key="csv",
        on_click="ignore",  # a download needs no rerun
    )


def _csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def shown_frame(
    stack: dicomviz.Stack, volume: dicomviz.Volume, controls: ViewControls
) -> int | None:
    """The frame behind the slice shown in the plane the stack was acquired in, if any (none
    on a resampled volume: its planes are no file's slice)."""
    if not volume.slice_names:
        return None
    for plane in controls.planes:
        stored = views.stored_slice(volume, plane, controls.indices[plane])
        if stored is None:
            continue
        frame = stored if stack.planes is None else stack.planes[stored]
        return frame if frame >= 0 else None
    return None


def downloads(shown: list[views.View], canon: dicomviz.Volume, display: Display) -> None:
    """What is on screen as one PNG (all three planes side by side when three are shown). Made
    only when asked for (deferred), so reruns do not pay for encoding it."""
    titles = [
        figures.figure_title(v, figures.slab_position(canon.affine, v.plane, v.slab)) for v in shown
    ]
    st.download_button(
        "Download view (PNG)" if len(shown) == 1 else "Download views (PNG)",
        partial(
            render.views_png,
            shown,
            display.window,
            colormap=display.colormap,
            labels=True,
            min_size=512,
            titles=titles,
        ),
        key="png",
        on_click="ignore",  # a download needs no rerun
        mime="image/png",
        file_name=f"dicomviz_{'_'.join(v.plane for v in shown)}_{shown[0].mode}.png",
    )


def nifti_downloads(stack: dicomviz.Stack, built: Built) -> None:
    """The stack as the page shows it (as acquired or on patient axes) as NIfTI, and its JSON
    sidecar; each made only when asked for. The sidecar names the patient only while the
    header panel shows identifiers. File names never hold header values."""
    from dicomviz import export  # nibabel's writer: loaded with the first page that offers it

    with_identifiers = not st.session_state.get("hide_ids", True)
    st.download_button(
        "Download NIfTI (.nii.gz)",
        data.while_held(export.nifti_gz, built.volume),
        key="nifti",
        on_click="ignore",  # a download needs no rerun
        mime="application/gzip",
        file_name="dicomviz_series.nii.gz",
    )
    st.download_button(
        "Download NIfTI sidecar (.json)",
        data.while_held(
            export.sidecar_json, stack, built.volume, with_identifiers=with_identifiers
        ),
        key="nifti_json",
        on_click="ignore",  # a download needs no rerun
        mime="application/json",
        file_name="dicomviz_series.json",
    )


SPIN_AXES = {"si": "Head–feet (S-I)", "lr": "Left–right (L-R)"}
SPIN_SEEN = {"si": "0° from the front, 90° from the patient's left", "lr": "0° from the front, "
             "90° from above the head, 270° from the feet"}  # fmt: skip
SPIN_PREVIEW = 256


@st.fragment
def spin_panel(source: Source, held: data.Held) -> None:
    """A MIP turning about the patient (dicomviz.display.spin), played in the browser: play,
    pause and scrub without a rerun; made only on a click, kept with the upload, drawn in the
    window the views show (their fragment's last look). ``held`` is the stack and its Built,
    held weakly: Streamlit keeps a fragment's arguments as long as the tab."""
    from dicomviz.display import spin as spinning

    found, look = held.get(), st.session_state.get(LOOK)
    if found is None or look is None:
        st.info("This study is no longer held on the server: reload the page to go on.")
        return
    stack, built = found
    controls, display = look.controls, look.display
    with st.expander("3-D MIP (spin)"):
        cols = st.columns([3, 3, 3, 2, 2], vertical_alignment="bottom")
        axis = cols[0].radio(
            "Turn about", list(SPIN_AXES), format_func=SPIN_AXES.get, key="spin_axis"
        )
        frames = cols[1].radio("Frames per turn", [12, 36, 72], index=1, key="spin_frames")
        boxable = modes.get(controls.mode).projects and not resample.needs_patient_axes(
            built.volume
        )
        boxed = cols[2].checkbox(
            "Only the views' slabs",
            key="spin_box",
            disabled=not boxable,
            help="Turn only the part of the patient inside the slabs chosen for the three "
            "planes (a projection mode, on the patient's axes).",
        )
        box = tuple(controls.slabs[plane] for plane in PLANES) if boxed and boxable else None
        preview = cols[3].button("Make preview", key="spin_preview")
        full = cols[4].button("Full resolution", key="spin_full")
        key = (stack.id, axis, frames, box)
        if preview or full:
            waiting = in_line()
            volume = built.volume
            if resample.needs_patient_axes(volume):  # shown as acquired: turned on patient axes
                volume = data.on_patient_axes(source, stack, built, waiting).volume
            small = None if full else SPIN_PREVIEW
            data.spin(
                source,
                (*key, small),
                lambda p: spinning.spin(
                    volume, axis=axis, frames=frames, box=box, max_size=small, progress=p
                ),
                waiting,
            )
            waiting.clear()  # type: ignore[attr-defined]
        whole = data.spin(source, (*key, None))
        made = whole or data.spin(source, (*key, SPIN_PREVIEW))
        if made is None:
            st.caption(
                f"Make a preview (at most {SPIN_PREVIEW} voxels a side, a few seconds) or the "
                "full resolution; it then plays here, and turns without reloading the page."
            )
            return
        figure = data.remembered(
            source,
            ("spin figure", *key, whole is None, display.window, display.colormap),
            lambda: spinning.spin_figure(made, display.window, colormap=display.colormap),
            size=3_000_000,
        )
        st.plotly_chart(figure, key="spin_figure", config={"displaylogo": False})
        st.caption(
            f"{'Preview' if whole is None else 'Full resolution'}: {len(made.frames)} frames "
            f"of {made.frames.shape[1]} x {made.frames.shape[2]}, {SPIN_SEEN[axis]}; "
            f"in the sidebar's window ({display.window})."
        )
        st.download_button(
            "Download GIF",
            data.while_held(
                partial(spinning.spin_gif, window=display.window, colormap=display.colormap),
                made,
            ),
            key="spin_gif",
            on_click="ignore",  # a download needs no rerun
            mime="image/gif",
            file_name=f"dicomviz_spin_{axis}_{len(made.frames)}.gif",
        )


@st.cache_resource
def freeze_startup_objects() -> bool:
    """Move everything alive before the first page run (modules of Streamlit, pandas, Plotly,
    pydicom: about 130,000 objects) out of the garbage collector's sight.

    A full collection otherwise walks them all, and one lands on a rerun now and then: 80-110 ms
    on top of a 50 ms window change (bench/). Called once per process, before any user data
    exists; objects created later are collected as usual.
    """
    gc.collect()
    gc.freeze()
    return True


@st.cache_resource
def quicker_thread_switches() -> bool:
    """Let Streamlit's event loop send each message of a run within a millisecond.

    A run's messages (the views' figures first) leave from the server's event loop thread,
    which needs the interpreter lock held by the script thread while it goes on (the header
    table after the views): at Python's default 5 ms per switch, some forty messages of a slice
    step reached the browser 40-60 ms late (bench/RESULTS.md)."""
    sys.setswitchinterval(0.001)
    return True


@dataclass(frozen=True)
class ShownStack:
    """The stack a run shows, read and built, and how (its grid)."""

    source: Source
    stack: dicomviz.Stack
    built: Built
    grid: str

    @property
    def key(self) -> str:
        """Names the stack's controls in the session (slices, slabs)."""
        return f"{self.source.digest[:12]}-{self.stack.id}-{self.grid}"


def main() -> None:
    st.set_page_config(page_title="dicomviz", page_icon="🩻", layout="wide")
    freeze_startup_objects()
    quicker_thread_switches()
    st.title("dicomviz")
    # The page's parts at fixed places. Streamlit knows the views' fragment by its place on
    # the page: were it to move (a progress bar or a message above it in one run and not in
    # the next), a click on its controls while another run goes on would be lost.
    top, browse_slot, views_slot, spin_slot, header_slot = (st.container() for _ in range(5))
    with top:
        shown = read_and_pick()
    if shown is None:
        return
    source, stack, built = shown.source, shown.stack, shown.built
    look = settle(source, stack.id, built, shown.key)
    with browse_slot:
        browse_panel(source, shown.key, built, look.controls, look.display)
    with views_slot:
        look_panel(source, data.Held(stack, built), shown.grid, shown.key, header_slot)
    with spin_slot:
        spin_panel(source, data.Held(stack, built))


def read_and_pick() -> ShownStack | None:
    """The upload read, a stack picked and built (on patient axes if asked), with what the
    page says about them; None when there is nothing to show."""
    source = upload_source()
    waiting = in_line()
    try:
        study = data.read_study(source, waiting)
    except data.Gone:
        st.session_state.pop("upload", None)
        st.warning(
            "Your files are no longer held on this server (it needed the room for other "
            "visitors, or they sat unused): drop them in again to go on."
        )
        source, study = Source(data.SAMPLE), data.read_study(Source(data.SAMPLE), waiting)
    waiting.clear()  # type: ignore[attr-defined]
    if not study.stacks:
        summary(study, source, None, None)
        st.error("No image series found in this upload: see the skipped files above.")
        return None
    stack = pick_stack(study, label_identifiers(source, study))
    try:
        built = data.read_volume(source, stack, waiting)
    except dicomviz.DicomvizError as exc:
        summary(study, source, None, stack)
        st.error(str(exc))
        return None
    finally:
        waiting.clear()  # type: ignore[attr-defined]
    grid = grid_control(built)
    if grid == "patient":
        try:
            built = data.on_patient_axes(source, stack, built, waiting)
        except dicomviz.DicomvizError as exc:
            st.warning(f"{exc} Shown as acquired instead.")
            grid = "acquired"
        finally:
            waiting.clear()  # type: ignore[attr-defined]
    summary(study, source, built, stack)
    return ShownStack(source, stack, built, grid)


@st.fragment
def look_panel(
    source: Source, held: data.Held, grid: str, stack_key: str, header_slot: Any
) -> None:
    """The sidebar's view and display controls, the Plotly views, their PNG download and the
    header table of the slice shown: one fragment, so a slice, window or plane step reruns only
    this, not the page around it (upload, pickers, notes, browsing view, spin).

    ``held`` is the stack and its Built, held weakly (Streamlit keeps a fragment's arguments as
    long as the tab); once the store let them go, the whole page runs again and reads them
    anew. ``header_slot`` is the page's container for the header table, further down."""
    found = held.get()
    if found is None:
        st.rerun()  # the full run reads (or says what became of) the upload
    stack, built = found
    data.touch(source, stack.id, grid)  # in use: least recently used goes first
    look = settle(source, stack.id, built, stack_key)
    st.session_state[LOOK] = look
    # The fragment's part of the sidebar in a container of its own: a download button
    # written straight into an outside container gets the container's delta path as its
    # coordinates, every one the same (Streamlit 1.67), and each deferred download then
    # replaces the one before it.
    sidebar = st.sidebar.container()
    # The views first: their figures then leave ahead of the twenty-odd controls, which hold
    # the values settle() read and are drawn after them.
    shown = show_views(source, stack, stack_key, built.canon, look.controls, look.display)
    with sidebar:
        view_controls(built, stack_key, look.controls)
        window_controls(built, look.display.window)
        downloads(shown, built.canon, look.display)
        nifti_downloads(stack, built)
    with header_slot.container():  # (a container of its own, as the sidebar's above)
        header_panel(stack, source, shown_frame(stack, built.volume, look.controls))


# Streamlit runs this file as __main__; decoding workers (dicomviz.decode_pool) import it as
# __mp_main__ and must not draw the page.
if __name__ == "__main__":
    main()
