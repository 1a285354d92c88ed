"""The floor of a two-pass design for files on disk, measured in a fresh process.

Pass 1 reads only a prefix of each file (the header; 16 KiB covers scanner CT headers) and scans
it (experiments.scan-headers); pass 2 reads each slice's pixel bytes straight into its place in
the preallocated volume (``readinto`` at the pixel offset), then adds the intercept in place. No
file's bytes are kept, so peak memory is the volume alone. Sorting, stacking and checks are left
out: this is what reading costs, not a full implementation.

``python bench/floor.py FOLDER`` prints JSON: seconds per pass and total, and the peak RSS.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import builders
import experiments

from dicomviz.inputs import InputFile

PREFIX = 16384


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    paths = sorted(folder.glob("*.dcm"))
    builders.reset_peak()
    base = builders._status_kib("VmRSS") * 1024
    spent = {}
    start = time.perf_counter()
    entries = []
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            prefix = handle.read(PREFIX)
        ds = experiments._scan_dataset(InputFile(path.name, prefix))
        raw = ds._dict[0x7FE00010]
        entries.append((float(ds.ImagePositionPatient[2]), path, raw.value_tell, raw.length, ds))
    entries.sort(key=lambda e: e[0])
    spent["headers: prefix read + scan + sort"] = time.perf_counter() - start
    start = time.perf_counter()
    first = entries[0][4]
    volume = np.empty((len(entries), int(first.Rows), int(first.Columns)), dtype=np.int16)
    intercept = np.int16(int(float(first.RescaleIntercept)))
    for k, (_, path, offset, _length, _ds) in enumerate(entries):
        target = memoryview(volume[k]).cast("B")
        with open(path, "rb", buffering=0) as handle:
            handle.seek(offset)
            handle.readinto(target)
        volume[k] += intercept
    spent["pixels: readinto the volume + intercept"] = time.perf_counter() - start
    peak = builders._status_kib("VmHWM") * 1024 - base
    print(
        json.dumps(
            {
                "seconds": spent,
                "total": sum(spent.values()),
                "peak_rss": peak,
                "checksum": int(volume.sum(dtype=np.int64)),
                "pid": os.getpid(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
