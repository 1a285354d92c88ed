"""Command line: ``python -m dicomviz info|headers|project``.

A user error ends with a non-zero exit and one line on stderr, never a traceback. ``main`` takes
argv and returns the exit code, so tests call it in-process. The header tables (pandas, about
190 ms of a command's start) are imported by the one sub-command that shows them.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from dicomviz.display.modes import MODES
from dicomviz.display.opening import initial_window
from dicomviz.display.render import view_png
from dicomviz.display.views import make_view, oblique_warning
from dicomviz.display.windowing import parse_window
from dicomviz.errors import DicomvizError, UsageError
from dicomviz.geometry import PLANES
from dicomviz.io.inputs import gather
from dicomviz.io.parse import parse_dataset
from dicomviz.loading import Study, load
from dicomviz.pixels.volume import build_volume
from dicomviz.series.stacks import Stack


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see 'python -m dicomviz {self.prog.split()[-1]} --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dicomviz", description="A quick, correct look inside DICOM images.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="list the image series found in files, folders or zips")
    info.add_argument("paths", nargs="+", metavar="PATH")
    info.add_argument("--json", action="store_true", help="print a JSON list of series")
    headers = sub.add_parser("headers", help="every header element of one file")
    headers.add_argument("file", metavar="FILE")
    headers.add_argument("--search", default="", help="keep rows containing this text")
    headers.add_argument("--csv", metavar="OUT", help="write the table as CSV")
    headers.add_argument(
        "--hide-identifiers",
        action="store_true",
        help="hide patient identifiers (DICOM PS3.15 basic profile) and clean them out of text",
    )
    project = sub.add_parser("project", help="a slice or projection as .npy and .png")
    project.add_argument("paths", nargs="+", metavar="PATH")
    project.add_argument("--plane", required=True, choices=PLANES)
    project.add_argument("--mode", required=True, choices=MODES)
    project.add_argument("--index", type=int, help="slice number in slice mode (from 0)")
    project.add_argument("--slab", help="A:B slices along the plane's normal (Python slice)")
    project.add_argument("--series", help="series UID (or UID#n for a split series)")
    project.add_argument("--window", help="CENTER,WIDTH for the PNG")
    project.add_argument("--labels", action="store_true", help="draw orientation labels")
    project.add_argument(
        "--grid",
        choices=("acquired", "patient"),
        help="as acquired, or resampled onto patient axes (default as on the page: patient "
        "axes for a gantry-tilted CT, else as acquired)",
    )
    project.add_argument("-o", "--output", required=True, metavar="OUT")
    convert = sub.add_parser(
        "convert", help="one series as NIfTI (OUT.nii.gz) with a JSON sidecar (OUT.json)"
    )
    convert.add_argument("paths", nargs="+", metavar="PATH")
    convert.add_argument("--series", help="series UID (or UID#n for a split or 4-D series)")
    convert.add_argument(
        "--grid",
        choices=("acquired", "patient"),
        help="as acquired, or resampled onto patient axes (default as on the page: patient "
        "axes for a gantry-tilted CT, else as acquired)",
    )
    convert.add_argument(
        "--with-identifiers",
        action="store_true",
        help="also write patient name, IDs, dates, UIDs and institution into the sidecar",
    )
    convert.add_argument(
        "-o", "--output", required=True, metavar="OUT.nii.gz", help="OUT.nii.gz, or OUT.nii"
    )
    spin = sub.add_parser("spin", help="MIPs from angles around an axis as .npy and a GIF")
    spin.add_argument("paths", nargs="+", metavar="PATH")
    spin.add_argument("--series", help="series UID (or UID#n for a split series)")
    spin.add_argument(
        "--axis",
        choices=("si", "lr"),
        default="si",
        help="turn about the head-feet axis (default; 0 degrees from the front, 90 from the "
        "patient's left) or the left-right one (90: from above the head)",
    )
    spin.add_argument("--frames", type=int, default=36, help="frames in a turn (default 36)")
    spin.add_argument("--window", help="CENTER,WIDTH for the GIF")
    spin.add_argument(
        "--box", help="S0:S1,P0:P1,L0:L1 slices on patient axes (from inferior, anterior, right)"
    )
    spin.add_argument("-o", "--output", required=True, metavar="OUT")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (0 done, 1 failed, 2 usage or nothing to show)."""
    try:
        args = _parser().parse_args(argv)
        # pydicom warns about every small breach of the standard in real files; the command
        # line reports what matters (skipped files, geometry warnings) itself. Only while the
        # command runs: a caller of main() keeps its own warning filters.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pydicom")
            commands = {"info": _info, "headers": _headers, "project": _project}
            commands["convert"] = _convert
            commands["spin"] = _spin
            return commands[args.command](args)
    except DicomvizError as exc:
        print(f"dicomviz: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except OSError as exc:
        print(f"dicomviz: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1


def _check_paths(paths: Sequence[str]) -> None:
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or folder")


def series_summaries(study: Study) -> list[dict]:
    """One `info` record per series; keys are part of the command-line contract.

    A series split into stacks (e.g. a 3-plane localizer) is described by its largest stack,
    the one `project --series UID` shows; its warnings name the other stacks and their ids.
    """
    by_series: dict[str, list[Stack]] = {}
    for stack in study.stacks:
        by_series.setdefault(stack.series_uid, []).append(stack)
    records = []
    for stacks in by_series.values():
        largest, *others = sorted(stacks, key=lambda s: s.number)
        record = stack_summary(largest)
        record["warnings"] += [
            f"stack {s.id}: {len(s.frames)} images of {s.rows} x {s.columns}, {s.plane}"
            f"{', ' + s.label if s.label else ''} (select it with --series '{s.id}')"
            for s in others
        ]
        records.append(record)
    return records


def stack_summary(stack: Stack) -> dict:
    """The `info` record of one stack."""
    return {
        "series_uid": stack.series_uid,
        "modality": stack.modality,
        "description": stack.description,
        "slices": len(stack.frames),
        "rows": stack.rows,
        "columns": stack.columns,
        "spacing": [round(stack.slice_spacing, 6), *(round(v, 6) for v in stack.pixel_spacing)],
        "orientation": stack.plane,
        "warnings": list(stack.warnings),
    }


def _print_skipped(study: Study) -> None:
    """The inputs left out and why, on stderr: stdout holds only the series."""
    if study.skipped:
        print(f"skipped {len(study.skipped)} of {study.files_read} inputs:", file=sys.stderr)
        for item in study.skipped:
            print(f"  {item}", file=sys.stderr)


def _info(args: argparse.Namespace) -> int:
    """Exits 2 when no series was found, as ``project`` and ``headers`` do on such inputs."""
    _check_paths(args.paths)
    study = load(args.paths)
    records = series_summaries(study)
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        _print_series(records)
    if not records:
        print("no image series found", file=sys.stderr)
    _print_skipped(study)
    return 0 if records else 2


def _print_series(records: list[dict]) -> None:
    for record in records:
        spacing = " x ".join(f"{v:g}" for v in record["spacing"])
        print(f"{record['series_uid']}  {record['modality']}  {record['description']!r}")
        print(
            f"  {record['slices']} slices of {record['rows']} x {record['columns']}, "
            f"{record['orientation']}, spacing {spacing} mm (slice, row, col)"
        )
        for warning in record["warnings"]:
            print(f"  warning: {warning}")


def _headers(args: argparse.Namespace) -> int:
    # pandas and the privacy profile's tables: here only, so info and project never load them
    from dicomviz.tables.headers import filter_table, header_table
    from dicomviz.tables.privacy import identifiers_of, redact_table

    _check_paths([args.file])
    gathered = gather([args.file])
    if gathered.skipped or len(gathered.files) != 1:
        reason = gathered.skipped[0] if gathered.skipped else f"{args.file}: not a single file"
        raise UsageError(str(reason))
    ds = parse_dataset(gathered.files[0])
    table = header_table(ds)
    if args.hide_identifiers:  # before the search, so a search cannot find what is hidden
        table = redact_table(table, identifiers=identifiers_of(ds))
    table = filter_table(table, args.search)
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {len(table)} rows to {args.csv}", file=sys.stderr)
    else:
        with_pandas_width = table.to_string(index=False, max_colwidth=80)
        print(with_pandas_width)
    return 0


def _parse_slab(text: str | None) -> tuple[int | None, int | None] | None:
    if not text:
        return None
    try:
        start, stop = text.split(":")
        return (int(start) if start.strip() else None, int(stop) if stop.strip() else None)
    except ValueError:
        raise UsageError(f"slab {text!r} must be A:B, e.g. 10:40 or :20") from None


def _pick_stack(study: Study, wanted: str | None) -> tuple[Stack, str | None]:
    """The requested stack, else the largest, with a note saying which was taken."""
    if not study.stacks:
        detail = f"; {len(study.skipped)} skipped, e.g. {study.skipped[0]}" if study.skipped else ""
        raise UsageError(f"no image series found in the inputs{detail}")
    if wanted:
        stack = study.find(wanted)
        if stack is None:
            known = ", ".join(s.id for s in study.stacks)
            raise UsageError(f"series {wanted!r} not found; the inputs hold {known}")
        return stack, None
    stack = study.largest()
    assert stack is not None
    if len(study.stacks) == 1:
        return stack, None
    return stack, (
        f"{len(study.stacks)} series found; using {stack.id} "
        f"({len(stack.frames)} images, {stack.description!r})"
    )


def _project(args: argparse.Namespace) -> int:
    _check_paths(args.paths)
    slab = _parse_slab(args.slab)
    window = parse_window(args.window) if args.window else None
    study = load(args.paths)
    stack, note = _pick_stack(study, args.series)
    from dicomviz.pixels.resample import default_grid, on_grid

    volume = build_volume(stack)
    volume = on_grid(volume, args.grid or default_grid(volume))
    view = make_view(volume, args.plane, args.mode, index=args.index, slab=slab)
    window = window or initial_window(volume, view.mode, view)[0]  # as the page opens it
    base = Path(args.output)
    if base.suffix.lower() in (".npy", ".png"):
        base = base.with_suffix("")
    np.save(base.with_name(base.name + ".npy"), view.image)
    png = base.with_name(base.name + ".png")
    png.write_bytes(view_png(view, window, labels=args.labels))
    if note:
        print(f"dicomviz: {note}", file=sys.stderr)
    for warning in (*volume.warnings, oblique_warning(volume)):
        if warning:
            print(f"dicomviz: warning: {warning}", file=sys.stderr)
    print(
        f"dicomviz: wrote {base}.npy ({view.image.shape[0]} x {view.image.shape[1]}, "
        f"{view.image.dtype}) and {png.name} (window {window})",
        file=sys.stderr,
    )
    return 0


def _convert(args: argparse.Namespace) -> int:
    """Write one stack as NIfTI and its JSON sidecar beside it (OUT.nii.gz and OUT.json)."""
    # nibabel's writer and the privacy tables: here only, so the other commands never load them
    from dicomviz.export import nifti_image, sidecar_json, write_nifti
    from dicomviz.pixels.resample import default_grid, on_grid

    _check_paths(args.paths)
    image_path = Path(args.output)
    name = image_path.name
    suffix = next((s for s in (".nii.gz", ".nii") if name.lower().endswith(s)), None)
    if suffix is None or len(name) == len(suffix):
        raise UsageError(f"output {args.output!r} must be a file name ending in .nii.gz or .nii")
    sidecar_path = image_path.with_name(name[: -len(suffix)] + ".json")
    study = load(args.paths)
    stack, note = _pick_stack(study, args.series)
    volume = build_volume(stack)
    grid = args.grid or default_grid(volume)
    volume = on_grid(volume, grid)
    image = nifti_image(volume)
    with image_path.open("wb") as target:
        write_nifti(image, target, compress=suffix == ".nii.gz")
    sidecar_path.write_text(sidecar_json(stack, volume, with_identifiers=args.with_identifiers))
    if note:
        print(f"dicomviz: {note}", file=sys.stderr)
    for warning in (*volume.warnings, oblique_warning(volume)):
        if warning:
            print(f"dicomviz: warning: {warning}", file=sys.stderr)
    shape = " x ".join(str(n) for n in image.shape)
    print(
        f"dicomviz: wrote {image_path} ({shape}, {image.get_data_dtype()}, "
        f"{'as acquired' if grid == 'acquired' else 'on patient axes'}) and {sidecar_path.name}",
        file=sys.stderr,
    )
    return 0


def _spin(args: argparse.Namespace) -> int:
    """Write a spinning MIP: OUT.npy (frames x rows x columns, rescaled units, frame k at
    k * 360 / N degrees) and OUT.gif (8-bit, labelled, in the window)."""
    from dicomviz.display.spin import spin, spin_gif  # scipy's and Pillow's GIF: here only

    _check_paths(args.paths)
    window = parse_window(args.window) if args.window else None
    box = None
    if args.box:
        ranges = args.box.split(",")
        if len(ranges) != 3:
            raise UsageError(f"box {args.box!r} must be S0:S1,P0:P1,L0:L1, e.g. 10:200,:,:")
        box = [_parse_slab(text) for text in ranges]
    study = load(args.paths)
    stack, note = _pick_stack(study, args.series)
    volume = build_volume(stack)
    turned = spin(volume, axis=args.axis, frames=args.frames, box=box)
    window = window or initial_window(volume, "max", turned.view(0))[0]  # as the page's MIP
    base = Path(args.output)
    if base.suffix.lower() in (".npy", ".gif"):
        base = base.with_suffix("")
    np.save(base.with_name(base.name + ".npy"), turned.frames)
    gif = base.with_name(base.name + ".gif")
    gif.write_bytes(spin_gif(turned, window))
    if note:
        print(f"dicomviz: {note}", file=sys.stderr)
    for warning in volume.warnings:
        print(f"dicomviz: warning: {warning}", file=sys.stderr)
    count, rows, columns = turned.frames.shape
    print(
        f"dicomviz: wrote {base}.npy ({count} frames about {args.axis.upper()[0]}-"
        f"{args.axis.upper()[1]} of {rows} x {columns}, float32, on patient axes) and "
        f"{gif.name} (window {window})",
        file=sys.stderr,
    )
    return 0
