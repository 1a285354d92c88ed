"""Targets (ratio, limit, PASS/FAIL) and the Markdown tables of a benchmark run."""

from __future__ import annotations

MB = 1_000_000
MIB = 2**20


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _row(name: str, value: float, reference: float, limit: float, unit: str = "x") -> dict:
    ratio = value / reference if reference else float("nan")
    return {
        "target": name,
        "value": value,
        "reference": reference,
        "ratio": ratio,
        "limit": limit,
        "unit": unit,
        "verdict": verdict(ratio <= limit),
    }


def _key(series: str, method: str) -> str:
    return f"{series}|{method}"


def _build_targets(builds: dict, config: dict) -> list[dict]:
    rows = []
    main = f"unc-{config['main']}"
    dv = builds.get(_key(main, "dicomviz"))
    for method, limit in (("simpleitk", 0.5), ("naive", 0.3), ("raw", 4.0)):
        ref = builds.get(_key(main, method))
        if dv and ref:
            name = f"build {main} from files: dicomviz / {method}"
            rows.append(_row(name, dv["seconds"], ref["seconds"], limit))
    for name, summary in builds.items():
        series, method = name.split("|")
        if method.startswith("dicomviz") and summary["peak_rss"]:
            label = f"peak memory {series} {method}: peak RSS / (volume + input bytes)"
            basis = summary["volume_bytes"] + summary["input_bytes"]
            rows.append(_row(label, summary["peak_rss"], basis, 1.2))
    for kind in ("rle", "j2k"):
        series = f"{kind}-{config['compressed']}"
        dv_c, sitk_c = builds.get(_key(series, "dicomviz")), builds.get(_key(series, "simpleitk"))
        if dv_c and sitk_c:
            name = f"build {series}: dicomviz / simpleitk"
            rows.append(_row(name, dv_c["seconds"], sitk_c["seconds"], 1.2))
    return rows


def _view_targets(results: dict) -> list[dict]:
    rows = []
    for row in results.get("projections", []):
        name = f"projection {row['mode']} along {row['plane']} / np.copyto of the volume"
        rows.append(_row(name, row["seconds"], row["copyto_seconds"], 2.0))
    for row in results.get("figures", []):
        label = f"figure 512x512 {row['mode']} ({row['dtype']}) clickable={row['clickable']}"
        rows.append(
            _row(f"{label}: build + to_json (ms / 30 ms)", row["total_seconds"] * 1000, 30.0, 1.0)
        )
        rows.append(_row(f"{label}: JSON size (MB / 1.5 MB)", row["json_bytes"] / MB, 1.5, 1.0))
    return rows


def _page_targets(page: dict | None) -> list[dict]:
    if not page:
        return []
    name = (
        f"page rerun after window change, {page['data']} "
        f"(ms / 150 ms, median of {page['window_repeats']})"
    )
    count = page["window_projections"]
    return [
        _row(name, page["window_median_seconds"] * 1000, 150.0, 1.0),
        {
            "target": "projections recomputed on window change",
            "value": count,
            "reference": 0,
            "ratio": float(count),
            "limit": 0,
            "unit": "count",
            "verdict": verdict(count == 0),
        },
    ]


def _cli_targets(cli: dict | None) -> list[dict]:
    if not cli:
        return []
    name = (
        f"python -m dicomviz project (coronal max), whole process / SimpleITK script "
        f"(median of {cli['repeats']})"
    )
    seconds = cli["seconds"]
    return [_row(name, seconds["dicomviz"], seconds["simpleitk"], cli["limit"])]


def targets(results: dict, config: dict) -> list[dict]:
    return (
        _build_targets(results["builds"], config)
        + _view_targets(results)
        + _page_targets(results.get("page"))
        + _cli_targets(results.get("cli"))
    )


# ---------- Markdown ----------


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _machine(results: dict) -> list[str]:
    m = results["machine"]
    out = [
        "### Machine\n",
        f"- {m['nproc']} cores (affinity {m.get('affinity')}), {m.get('memory_gib')} GiB, "
        f"CPU `{m.get('cpu')}` ({m.get('simd')})",
        f"- Python {m['python']}, numpy {m['numpy']}, pydicom {m['pydicom']}, SimpleITK "
        f"{m['simpleitk']}, plotly {m['plotly']} (JSON engine {results.get('json_engine')}), "
        f"streamlit {m['streamlit']}, pylibjpeg-openjpeg {m['pylibjpeg-openjpeg']}, "
        f"pylibjpeg-rle {m['pylibjpeg-rle']}, orjson {m['orjson']}",
        f"- OpenBLAS variables unset for this run: {m['openblas_unset'] or 'none were set'}",
        f"- BLAS (threadpoolctl): {m['blas']}",
    ]
    if "numpy_simd" in m:
        out.append(f"- numpy SIMD dispatch found: {' '.join(m['numpy_simd']['dispatch_found'])}")
    out.append(
        f"- machine load at start: {results.get('load_start')}; at end: {results.get('load_end')}"
    )
    out.append(
        f"- repeats: {results['repeats']}, total wall time {results['wall_seconds']:.0f} s\n"
    )
    return out


def _targets(results: dict) -> list[str]:
    out = [
        "### Targets\n",
        "| target | measured | reference | ratio | limit | verdict |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results["targets"]:
        if row["unit"] == "count":
            value, ref = f"{row['value']}", "0"
        elif "memory" in row["target"]:
            value, ref = f"{row['value'] / MIB:.0f} MiB", f"{row['reference'] / MIB:.0f} MiB"
        elif "(ms" in row["target"] or "(MB" in row["target"]:
            value, ref = f"{row['value']:.1f}", f"{row['reference']:.1f}"
        else:
            value, ref = fmt_s(row["value"]), fmt_s(row["reference"])
        out.append(
            f"| {row['target']} | {value} | {ref} | {row['ratio']:.2f} | {row['limit']:g} "
            f"| **{row['verdict']}** |"
        )
    return out


def _builds(results: dict) -> list[str]:
    out = [
        "\n### Volume builds (first build in a fresh process; warm = again in that process)\n",
        "| series | method | median | min–max | warm median | peak RSS | "
        "peak / (volume+input) | dtype | checksum |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, s in results["builds"].items():
        series, method = name.split("|")
        peak = f"{s['peak_rss'] / MIB:.0f} MiB" if s["peak_rss"] else "–"
        ratio = f"{s['memory_ratio']:.2f}" if s["memory_ratio"] else "–"
        out.append(
            f"| {series} | {method} | {fmt_s(s['seconds'])} | "
            f"{fmt_s(s['min'])}–{fmt_s(s['max'])} | {fmt_s(s['warm_seconds'])} | {peak} | "
            f"{ratio} | {s['dtype']} | {s['checksum']} |"
        )
    return out


def _phases(results: dict) -> list[str]:
    out = []
    if results.get("phases"):
        out.append("\nWhere the dicomviz build of the main series goes (fresh process, medians):\n")
        names = list(results["phases"])
        out.append("| " + " | ".join(names) + " |")
        out.append("|" + " ---: |" * len(names))
        out.append("| " + " | ".join(fmt_s(results["phases"][n]) for n in names) + " |")
    if results.get("tracemalloc"):
        out.append(
            "\nPython-level peak (tracemalloc, one run each; C++ allocations are invisible):\n"
        )
        out.append("| series | method | traced peak | / (volume+input) |")
        out.append("| --- | --- | ---: | ---: |")
        for row in results["tracemalloc"]:
            basis = row["volume_bytes"] + row["input_bytes"]
            out.append(
                f"| {row['series']} | {row['method']} | {row['traced_peak'] / MIB:.0f} MiB | "
                f"{row['traced_peak'] / basis:.2f} |"
            )
    return out


def _projections(results: dict) -> list[str]:
    if not results.get("projections"):
        return []
    out = [
        f"\n### Projections on {results['projection_shape']} int16\n",
        "| plane | mode | median | copyto median | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in results["projections"]:
        out.append(
            f"| {row['plane']} | {row['mode']} | "
            f"{fmt_s(row['seconds'])} | {fmt_s(row['copyto_seconds'])} | {row['ratio']:.2f} |"
        )
    slab = results.get("slab_minip")
    if slab:
        out.append(
            f"\nMinIP on the page's default central slab {slab['slab']} (axial): "
            f"{fmt_s(slab['seconds'])}, {slab['ratio']:.2f}x a copyto of that slab."
        )
    return out


def _figures(results: dict) -> list[str]:
    out = []
    if results.get("figures"):
        out += [
            "\n### Plotly figure of one 512x512 view\n",
            "| view | z dtype | clickable | build | to_json | build+to_json | "
            "Streamlit path (validate+to_json) | JSON size |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in results["figures"]:
            out.append(
                f"| axial {row['mode']} | {row['dtype']} | {row['clickable']} | "
                f"{row['build_seconds'] * 1000:.1f} ms | {row['json_seconds'] * 1000:.1f} ms | "
                f"{row['total_seconds'] * 1000:.1f} ms | "
                f"{row['streamlit_seconds'] * 1000:.1f} ms | {row['json_bytes'] / MB:.2f} MB |"
            )
    return out


def _page(page: dict) -> list[str]:
    title = "The page (AppTest, server side)"
    out = [
        f"\n### {title}: {page['data']}\n",
        f"Window change: median {fmt_s(page['window_median_seconds'])}, worst "
        f"{fmt_s(page['window_max_seconds'])} over {page['window_repeats']} (after a first, "
        f"reported separately); on the built-in sample before the upload: median "
        f"{fmt_s(page['sample_window_median_seconds'])}.\n",
        "| step | time | projections | biggest parts |",
        "| --- | ---: | ---: | --- |",
    ]
    for s in page["steps"]:
        parts = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in list(s["breakdown"].items())[:4])
        out.append(f"| {s['step']} | {fmt_s(s['seconds'])} | {s['projections']} | {parts} |")
    return out


def _cli(cli: dict) -> list[str]:
    out = [
        f"\n### Command line, whole processes: {cli['folder']} (median of {cli['repeats']})\n",
        "| command | wall, median | min–max | CPU (user + system) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, seconds in cli["seconds"].items():
        low, high = cli["min_max"][name]
        out.append(
            f"| `{name}` | {fmt_s(seconds)} | {fmt_s(low)}–{fmt_s(high)} | "
            f"{fmt_s(cli['cpu_seconds'][name])} |"
        )
    return out


def markdown(results: dict) -> str:
    out = _machine(results) + _targets(results) + _builds(results) + _phases(results)
    out += _projections(results) + _figures(results)
    if results.get("page"):
        out += _page(results["page"])
    if results.get("cli"):
        out += _cli(results["cli"])
    return "\n".join(out) + "\n"
