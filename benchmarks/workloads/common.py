"""What the workloads share: timing, the same random ids on both sides of a
comparison, and the server's raw SETBIT rate."""

from __future__ import annotations

import random
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import reference
from speed import Row

# Loads a bitmap the way 3.119 stores it (one string, id = bit offset) into a
# key without going through its mark_event: for setting up a query, not for
# measuring it. Runs in the reference venv, where numpy is not installed.
REFERENCE_LOAD = """
import random
def load(key, ids):
    data = bytearray(max(ids) // 8 + 1)
    for uid in ids:
        data[uid >> 3] |= 0x80 >> (uid & 7)
    bitmapist.get_redis("default").set(key, bytes(data))
def sample(seed, population, size):
    return random.Random(seed).sample(range(population), size)
"""


def sample(seed: int, population: int, size: int) -> list[int]:
    """``size`` distinct ids below ``population``; the reference side draws
    the same ones from the same seed."""
    return random.Random(seed).sample(range(population), size)


def best(function: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds: the least disturbed by the
    other work on the machine."""
    fastest = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def raw_setbit_rate(port: int, requests: int) -> float:
    """SETBIT commands a second that ``redis-benchmark`` gets from the server
    with a pipeline of 128. One key and offset: redis-benchmark's random
    placeholders are zero-padded, which SETBIT refuses as an offset, and
    random keys would measure memory allocation instead of the command."""
    output = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-P",
            "128",
            "-n",
            str(requests),
            "--csv",
            "SETBIT",
            "bitmapist-benchmark:raw",
            "1048575",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r'^"SETBIT[^"]*","([\d.]+)"', output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no rate in redis-benchmark's output: {output!r}")
    return float(match.group(1))


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def held(
    workload: str, figure: str, ratio: float, bound: str, limit: float, against: str
) -> Row:
    """A row whose ``ratio`` is held to a target: ``bound`` is ">=" or "<="."""
    met = ratio >= limit if bound == ">=" else ratio <= limit
    return Row(workload, figure, ratio, f"{bound} {limit:g}x {against}", met)


def times(
    workload: str, ours: float, theirs: float, bound: str, limit: float, against: str
) -> Row:
    """A row comparing two durations: "<=" holds ours / theirs to ``limit``,
    ">=" holds how many times faster ours is."""
    ratio = ours / theirs if bound == "<=" else theirs / ours
    figure = f"{duration(ours)} vs {against} {duration(theirs)}"
    return held(workload, figure, ratio, bound, limit, against)


def month_size(short: bool) -> tuple[int, int]:
    """How many ids a month holds, and the range they are drawn from."""
    return (50_000, 200_000) if short else (1_000_000, 4_000_000)


def run_reference(
    script: str, port: int, n: int, population: int, repeat: int
) -> dict[str, float]:
    """``script`` under 3.119 on a month of ``n`` ids below ``population``."""
    return reference.run(script, port, n=n, population=population, repeat=repeat)
