"""Peak memory of export and load, against the size of the file they move.

    python benchmarks/archive_memory.py --bitmaps 100 --ids 10000000 --density 0.6

starts a redis-server, fills it with ``--bitmaps`` bitmaps of about ``--ids``
ids each (drawn at ``--density`` within their range), then runs
each step in a fresh subprocess and reports that process's peak resident set
(``VmHWM``): a baseline that only imports bitmapist and connects, an
export of every bitmap to a file, and a load of that file under another
prefix. Streaming means the export and load peaks stay near the baseline plus
one bitmap's working memory, however many bitmaps the file holds. Prints one
JSON object; tests/test_archive_memory.py runs it small.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap64

from bitmapist import Bitmapist, RedisBackend
from bitmapist.expressions import UNIVERSE, BitmapRef, Kind
from bitmapist.testing import running_redis


def fill(url: str, bitmaps: int, ids: int, density: float) -> None:
    """``bitmaps`` attributes of about ``ids`` ids each, written whole, drawn
    at ``density`` within their range: the Redis strings take ids / density / 8
    bytes, the file about 2 bytes an id below a density of 1/16 and
    ids / density / 8 above."""
    backend = RedisBackend(url)
    span = int(ids / density)
    # The universe covers the whole range whatever the count of bitmaps, so
    # the largest bitmap is the same from run to run and only the file grows.
    backend.store(UNIVERSE, BitMap64(np.arange(span, dtype=np.uint64)))
    rng = np.random.default_rng(7)
    for n in range(bitmaps):
        chosen = np.flatnonzero(rng.random(span) < density).astype(np.uint64)
        backend.store(BitmapRef(Kind.ATTRIBUTE, f"a{n:03d}"), BitMap64(chosen))
    backend.close()


def step(name: str, url: str, file: str) -> dict[str, Any]:
    """One step, run in this (fresh) process; its figures."""
    started = time.perf_counter()
    bm = Bitmapist.from_url(url)
    moved = 0
    if name == "export":
        moved = bm.export(file)
    elif name == "load":
        bm = Bitmapist.from_url(url, prefix="loaded")
        moved = bm.load(file)
    bm.close()
    seconds = time.perf_counter() - started
    return {"step": name, "bitmaps": moved, "peak_mib": _peak_mib(), "s": seconds}


def _peak_mib() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss over from the parent across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(bitmaps: int, ids: int, density: float) -> dict[str, Any]:
    with running_redis() as server, tempfile.TemporaryDirectory() as directory:
        file = str(Path(directory) / "all.bma")
        fill(server.url, bitmaps, ids, density)
        steps = {}
        for name in ("baseline", "export", "load"):
            completed = subprocess.run(
                [sys.executable, __file__, "--step", name, server.url, file],
                check=True,
                capture_output=True,
                text=True,
            )
            steps[name] = json.loads(completed.stdout)
        return {
            "bitmaps": bitmaps,
            "ids_per_bitmap": ids,
            "density": density,
            "file_mib": Path(file).stat().st_size / 2**20,
            "steps": steps,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bitmaps", type=int, default=100)
    parser.add_argument("--ids", type=int, default=10_000_000)
    parser.add_argument("--density", type=float, default=0.6)
    parser.add_argument("--step", nargs=3, metavar=("NAME", "URL", "FILE"))
    arguments = parser.parse_args()
    if arguments.step:
        print(json.dumps(step(*arguments.step)))
    else:
        figures = measure(arguments.bitmaps, arguments.ids, arguments.density)
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
