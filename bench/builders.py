"""Volume builds to compare, each run in a fresh process so its peak memory is its own.

Run as ``python bench/builders.py METHOD FOLDER [--tracemalloc] [--profile OUT]``; prints one
JSON object: build seconds, peak resident memory above the baseline taken just before the inputs
are read, Python-level peak (tracemalloc, when asked), and the volume's shape, dtype and a
checksum so the methods can be checked to agree.

Every method first builds a 3-file volume from the same folder (untimed), so one-off costs
(lazy imports, decoder plugin discovery, first-call set-up) are not charged to the measured build.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def read_inputs(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


# ---------- the methods: paths or (name, bytes) in, an array out ----------


def dicomviz_files(paths: list[Path]) -> tuple[np.ndarray, object]:
    """The library from files on disk. A folder argument when all files of one are given."""
    import dicomviz

    folders = {p.parent for p in paths}
    items = (
        [str(folders.pop())] if len(folders) == 1 and len(paths) > 3 else [str(p) for p in paths]
    )
    study = dicomviz.load(items)
    volume = dicomviz.build_volume(study.largest())
    return volume.array, (study, volume)


def dicomviz_bytes(blobs: list[tuple[str, bytes]]) -> tuple[np.ndarray, object]:
    """The page's path: uploads arrive as (name, bytes)."""
    import dicomviz

    study = dicomviz.load(blobs)
    volume = dicomviz.build_volume(study.largest())
    return volume.array, (study, volume)


def simpleitk_files(paths: list[Path]) -> tuple[np.ndarray, object]:
    """SimpleITK (GDCM): series file names from GDCM's sorter, then ImageSeriesReader."""
    import SimpleITK as sitk

    folder = str(paths[0].parent)
    if len(paths) > 3:
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder)
    else:
        names = [str(p) for p in paths]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    image = reader.Execute()
    return sitk.GetArrayViewFromImage(image), image


def naive_files(paths: list[Path]) -> tuple[np.ndarray, object]:
    """The recipe found in tutorials: dcmread all, sort by z, stack pixel_array, rescale."""
    import pydicom

    slices = [pydicom.dcmread(p) for p in paths]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = np.stack([ds.pixel_array for ds in slices]).astype(np.int16)
    slope, intercept = float(slices[0].RescaleSlope), float(slices[0].RescaleIntercept)
    if slope != 1:
        volume = (volume * slope).astype(np.int16)
    volume += np.int16(intercept)
    return volume, slices


def _raw_copy(named: list[tuple[str, bytes]] | None, paths: list[Path] | None) -> np.ndarray:
    count = len(named if named is not None else paths)
    out = np.empty((count, 512, 512), dtype=np.int16)
    flat = out.reshape(count, -1)
    size = 512 * 512 * 2
    for k in range(count):
        data = named[k][1] if named is not None else paths[k].read_bytes()
        flat[k] = np.frombuffer(data, dtype=np.int16, count=512 * 512, offset=len(data) - size)
    return out


def raw_files(paths: list[Path]) -> tuple[np.ndarray, object]:
    """The limit: read each file, copy its last 512*512*2 bytes into a preallocated array."""
    return _raw_copy(None, paths), None


def raw_bytes(blobs: list[tuple[str, bytes]]) -> tuple[np.ndarray, object]:
    return _raw_copy(blobs, None), None


METHODS: dict[str, tuple[Callable, bool]] = {
    # name: (function, takes in-memory bytes)
    "dicomviz": (dicomviz_files, False),
    "dicomviz-bytes": (dicomviz_bytes, True),
    "simpleitk": (simpleitk_files, False),
    "naive": (naive_files, False),
    "raw": (raw_files, False),
    "raw-bytes": (raw_bytes, True),
}


# ---------- memory ----------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset the kernel's resident high-water mark (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def measure(
    method: str,
    folder: Path,
    *,
    use_tracemalloc: bool = False,
    profile: Path | None = None,
    warm: int = 0,
) -> dict:
    function, in_memory = METHODS[method]
    paths = files_in(folder)
    sample = paths[:3]
    function(read_inputs(sample) if in_memory else sample)  # one-off costs, untimed

    reset = reset_peak()
    base_rss = _status_kib("VmRSS") * 1024
    if use_tracemalloc:
        tracemalloc.start()
    inputs = read_inputs(paths) if in_memory else paths
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    array, keep = function(inputs)
    seconds = time.perf_counter() - start
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    traced_peak = tracemalloc.get_traced_memory()[1] if use_tracemalloc else None
    if use_tracemalloc:
        tracemalloc.stop()
    peak = (_status_kib("VmHWM") * 1024 - base_rss) if reset else None
    array = np.asarray(array)
    summary = _summary(array)
    # Warm builds: the same process again, as a long-running page builds its next volume.
    warm_seconds = []
    del array, keep
    for _ in range(warm):
        start = time.perf_counter()
        built = function(inputs)
        warm_seconds.append(time.perf_counter() - start)
        del built
    result = {
        "method": method,
        "series": folder.name.rsplit("-v", 1)[0],
        "seconds": seconds,
        "peak_rss": peak,
        "traced_peak": traced_peak,
        "warm_seconds": warm_seconds,
        "input_bytes": int(sum(p.stat().st_size for p in paths)),
        **summary,
    }
    return result


def _summary(array: np.ndarray) -> dict:
    return {
        "volume_bytes": int(array.nbytes),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        # cheap agreement checks: total HU, and HU of the first (most inferior) slice
        "checksum": int(array.sum(dtype=np.int64)),
        "first_slice": int(array[0].sum(dtype=np.int64)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("method", choices=sorted(METHODS))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the build here")
    parser.add_argument("--warm", type=int, default=0, help="extra in-process builds to time")
    args = parser.parse_args(argv)
    result = measure(
        args.method,
        args.folder,
        use_tracemalloc=args.tracemalloc,
        profile=args.profile,
        warm=args.warm,
    )
    result["pid"] = os.getpid()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
