"""Speed, side by side: bitmapist, bitmapist 3.119, the server's raw limit and
raw pyroaring, in one run against one redis-server this script starts.

    python benchmarks/speed.py            full workloads
    python benchmarks/speed.py --short    small ones, a smoke test for CI
    python benchmarks/speed.py --check    exit non-zero when a target is missed

Workloads live in ``benchmarks/workloads/``: each module there offers
``run(context) -> list[Row]``; this script runs them in ``WORKLOADS`` order,
once with the server on a core of its own and once on the clients' core
(``PLACEMENTS``; ``--placement`` picks one), and prints one table. Targets
are held on the first placement only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
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
    says); ``passed`` is None where there is no target. ``placement`` is
    where the server ran (``PLACEMENTS``).
    """

    workload: str
    figure: str
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    placement: str = ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument(
        "--only", action="append", choices=WORKLOADS, help="run just these workloads"
    )
    parser.add_argument(
        "--placement",
        choices=(*PLACEMENTS, "both"),
        default="both",
        help="where the server runs beside the clients (default: both, in turn)",
    )
    arguments = parser.parse_args()
    placements = PLACEMENTS if arguments.placement == "both" else (arguments.placement,)
    rows: list[Row] = []
    notes: list[str] = []
    # Other work on the machine moves every figure: the load goes with them.
    load_before = os.getloadavg()[0]
    with running_redis() as server:
        context = Context(server, arguments.short)
        for placement in placements:
            notes.append(place(server, placement))
            for name in arguments.only or WORKLOADS:
                module = importlib.import_module(f"workloads.{name}")
                for row in module.run(context):
                    row.placement = placement
                    if placement != HELD and row.target:
                        # Shown, not held: see PLACEMENTS.
                        row.target, row.passed = f"({row.target})", None
                    rows.append(row)
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} cores; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    for note in notes:
        print(note)
    print(render(rows))
    missed = [row for row in rows if row.passed is False]
    if arguments.check and not arguments.short and missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


# Where the server runs: on a core of its own, the clients on the other, or
# on the clients' core. Left to the scheduler, a round trip over loopback on
# the 2-core machine of benchmarks/README.md took 23 us when client and server
# shared a core and 50 to 120 us when they did not, and which one a run got
# moved every latency figure. Targets are held with the server on a core of
# its own (HELD): a deployed Redis serves its clients over a network, where a
# round trip costs more still, never at the price of a shared core. The
# shared core is run too and shown, without targets: it makes round trips
# cheaper than any deployment, which favours the design that takes more of
# them, 3.119's.
PLACEMENTS = ("own", "same")
HELD = "own"
# The cores this process may use, read before any placement narrows them.
_CORES = sorted(os.sched_getaffinity(0))


def place(server: RedisServer, placement: str) -> str:
    """Pin every thread of the server, and of this process (with the
    subprocesses it starts: the 3.119 reference, redis-benchmark), to cores;
    say where, with the round trip a PING takes there."""
    cores = _CORES
    if len(cores) < 2:
        return f"{placement}: one core, which server and clients share"
    client_core = cores[0]
    server_core = cores[1] if placement == "own" else cores[0]
    _pin(os.getpid(), client_core)
    _pin(server.process.pid, server_core)
    client = server.client()
    pings = []
    for _ in range(2000):
        started = time.perf_counter()
        client.ping()
        pings.append(time.perf_counter() - started)
    client.close()
    pings.sort()
    return (
        f"{placement}: server on core {server_core}, clients on core {client_core}; "
        f"PING {pings[0] * 1e6:.0f} us at best, {pings[len(pings) // 2] * 1e6:.0f} "
        f"us median"
    )


def _pin(pid: int, core: int) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {core})


def render(rows: list[Row]) -> str:
    header = ("server", "workload", "figure", "ratio", "target", "met")
    table = [header] + [
        (
            row.placement,
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
