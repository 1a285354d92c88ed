"""Where a dicomviz build from files spends its time, phase by phase, in a fresh process.

``python bench/phases.py FOLDER`` prints one JSON object of seconds per phase: gather (list the
files, read the first bytes of each), read_dicom (headers), frames_of, build_stacks,
build_volume (pixels read into the volume). Uses the library's internal steps in the order
dicomviz.load calls them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    import dicomviz
    from dicomviz.io import inputs, reading
    from dicomviz.limits import Limits
    from dicomviz.pixels import volume as volume_module
    from dicomviz.series import frames
    from dicomviz.series import stacks as series

    sample = [str(p) for p in sorted(args.folder.glob("*.dcm"))[:3]]
    dicomviz.build_volume(dicomviz.load(sample).largest())  # one-off costs, untimed
    limits = Limits()
    spent: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal start
        now = time.perf_counter()
        spent[name] = now - start
        start = now

    gathered = inputs.gather([str(args.folder)], limits)
    lap("gather (list, read headers' bytes)")
    dicoms = [reading.read_dicom(f, limits) for f in gathered.files]
    lap("read_dicom (parse headers)")
    found = [frame for d in dicoms for frame in frames.frames_of(d)]
    lap("frames_of")
    stacks, _ = series.build_stacks(found)
    lap("build_stacks")
    volume_module.build_volume(stacks[0], limits)
    lap("build_volume (pixels)")
    again = []
    for _ in range(3):  # a long-running page building another volume from a loaded study
        begin = time.perf_counter()
        volume_module.build_volume(stacks[0], limits)
        again.append(time.perf_counter() - begin)
    spent["build_volume again, same process (median of 3)"] = sorted(again)[1]
    print(json.dumps({"seconds": spent}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
