"""Speed, side by side: bitmapist, bitmapist 3.119, the server's raw limit and
raw pyroaring, in one run against one redis-server this script starts.

    python benchmarks/speed.py            full workloads
    python benchmarks/speed.py --short    small ones, a smoke test for CI
    python benchmarks/speed.py --check    exit non-zero when a target is missed

Workloads live in ``benchmarks/workloads/``: each module there offers
``run(context) -> list[Row]``; this script runs them in ``WORKLOADS`` order and
prints one table.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bitmapist.testing import RedisServer, running_redis

WORKLOADS: tuple[str, ...] = (
    "ingest",
    "single",
    "and_count",
    "iterate",
    "roaring",
    "cohort",
    "export",
)


@dataclass
class Context:
    """What a workload gets: the server, the size asked for."""

    server: RedisServer
    short: bool


@dataclass
class Row:
    """One measured figure, with the target it is held to, if any.

    ``ratio`` is ours over the reference's (or the reverse, as ``target``
    says); ``passed`` is None where there is no target.
    """

    workload: str
    figure: str
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument(
        "--only", action="append", choices=WORKLOADS, help="run just these workloads"
    )
    parser.add_argument(
        "--same-core",
        action="store_true",
        help="run the server on the clients' core, not a core of its own",
    )
    arguments = parser.parse_args()
    rows: list[Row] = []
    # Other work on the machine moves every figure: the load goes with them.
    load_before = os.getloadavg()[0]
    with running_redis() as server:
        placement = place(server, arguments.same_core)
        context = Context(server, arguments.short)
        for name in arguments.only or WORKLOADS:
            module = importlib.import_module(f"workloads.{name}")
            rows.extend(module.run(context))
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} cores; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {placement}"
    )
    print(render(rows))
    missed = [row for row in rows if row.passed is False]
    if arguments.check and not arguments.short and missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


def place(server: RedisServer, same_core: bool) -> str:
    """Pin the server and this process (with the subprocesses it starts: the
    3.119 reference, redis-benchmark) to cores, and say where.

    Left to the scheduler, a round trip over loopback took 23 us when client
    and server happened to share a core and 70 to 120 us when they did not,
    so whole runs moved with where they landed. By default the server gets a
    core of its own, as a production Redis does, and every client the other;
    ``--same-core`` puts them together."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return "one core: server and clients share it"
    client_core, server_core = cores[0], cores[0] if same_core else cores[1]
    os.sched_setaffinity(0, {client_core})
    os.sched_setaffinity(server.process.pid, {server_core})
    if same_core:
        return f"server and clients on core {client_core}"
    return f"server on core {server_core}, clients on core {client_core}"


def render(rows: list[Row]) -> str:
    header = ("workload", "figure", "ratio", "target", "met")
    table = [header] + [
        (
            row.workload,
            row.figure,
            "" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
            {None: "", True: "yes", False: "NO"}[row.passed],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
