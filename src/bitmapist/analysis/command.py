"""``bitmapist cohort``: a retention table in the terminal, and as CSV, HTML or
PNG files.

It reads the bitmaps at ``--url`` (``redis://host:6379/0``, ``unix:///path``
and the other schemes of ``bitmapist.backends``), or, with ``--demo``, the
simulated activity of ``bitmapist demo`` in process (events ``signup``,
``active`` and ``song:played``, attribute ``paid_user``). An in-process
``memory://`` store starts empty, so without ``--demo`` a URL is required.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from typing import Any

from ..bitmaps import Bitmap
from ..core import Bitmapist
from ..demo import Simulation, simulate
from ..errors import ConfigurationError
from ..periods import Granularity
from .tables import CohortTable

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cohort",
        help="print a retention table; write it as CSV, HTML or PNG",
        description=(
            "Print a retention table of the bitmaps at --url (any backend URL, "
            "such as redis://127.0.0.1:6379/0), or of simulated activity with "
            "--demo (events signup, active, song:played; attribute paid_user)."
        ),
    )
    parser.add_argument("cohort", help="the event whose ids form each cohort")
    parser.add_argument("activity", help="the event counted in later periods")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--url", help="the store to read, e.g. redis://127.0.0.1:6379/0"
    )
    source.add_argument(
        "--demo",
        action="store_true",
        help="simulate activity in process, as `bitmapist demo` does",
    )
    parser.add_argument("--demo-users", type=int, default=20_000)
    parser.add_argument(
        "--by", choices=[g.value for g in Granularity], default=Granularity.WEEK.value
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        help="a day in the first cohort's period, YYYY-MM-DD (default: the "
        "table ends with the current period)",
    )
    parser.add_argument("--cohorts", type=int, default=12)
    parser.add_argument("--periods", type=int, default=12)
    parser.add_argument("--cumulative", action="store_true")
    parser.add_argument(
        "--first-time", action="store_true", help="keep only ids new to the cohort"
    )
    parser.add_argument("--horizon", type=int, help="periods --first-time looks back")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="ATTRIBUTE",
        help="keep only ids with this attribute (may be repeated)",
    )
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument(
        "--counts", action="store_true", help="show counts, not percentages"
    )
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    parser.add_argument("--html", metavar="PATH", help="also write an HTML page")
    parser.add_argument("--png", metavar="PATH", help="also write a PNG heat map")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    bm = _open(arguments)
    try:
        table = _table(bm, arguments)
    finally:
        bm.close()
    percent = not arguments.counts
    print(table.to_terminal(percent=percent, color=_colour(arguments.color)))
    for path, write in (
        (arguments.csv, lambda p: table.to_csv(p, percent=percent)),
        (arguments.html, lambda p: table.to_html(p, percent=percent)),
        (arguments.png, lambda p: table.to_png(p, percent=percent)),
    ):
        if path:
            write(path)
            print(f"wrote {path}")
    return 0


def _open(arguments: argparse.Namespace) -> Bitmapist:
    if arguments.demo:
        simulation = Simulation(users=arguments.demo_users)
        return simulate(simulation)
    if not arguments.url:
        raise ConfigurationError(
            "give --url (for example redis://127.0.0.1:6379/0) to read a store, or "
            "--demo for simulated activity: a new memory:// store holds nothing"
        )
    return Bitmapist.from_url(arguments.url, timezone=arguments.timezone)


def _table(bm: Bitmapist, arguments: argparse.Namespace) -> CohortTable:
    extra: Bitmap | None = None
    for name in arguments.filter:
        attribute = bm.get_attribute(name)
        extra = attribute if extra is None else extra & attribute
    return bm.cohort(
        arguments.cohort,
        arguments.activity,
        by=arguments.by,
        start=arguments.start,
        cohorts=arguments.cohorts,
        periods=arguments.periods,
        cumulative=arguments.cumulative,
        first_time=arguments.first_time,
        horizon=arguments.horizon,
        filter=extra,
    )


def _colour(choice: str) -> bool:
    """Colour on a terminal unless NO_COLOR is set, or as asked."""
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ
