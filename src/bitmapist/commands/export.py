"""``bitmapist export URL FILE``: a store's bitmaps into an archive file."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from ..core import Bitmapist
from . import add_store_options, progress_bar, store_options

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a store's bitmaps to an archive file",
        description="Write the bitmaps of the store at URL (redis://..., "
        "unix://..., redis+cluster://...) to FILE, with the universe, in the "
        "portable format of docs/format.md; a store that maps its ids "
        "(Bitmapist(id_map=True)) gives a file with its id map.",
    )
    parser.add_argument("url")
    parser.add_argument("file")
    parser.add_argument(
        "--name",
        action="append",
        dest="names",
        help="an event or attribute to export (repeatable; default: all)",
    )
    parser.add_argument(
        "--since", type=date.fromisoformat, help="first day, YYYY-MM-DD"
    )
    parser.add_argument(
        "--until", type=date.fromisoformat, help="day after the last, YYYY-MM-DD"
    )
    parser.add_argument(
        "--timezone", default="UTC", help="the store's time zone (default UTC)"
    )
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    options = store_options(arguments)
    with (
        Bitmapist.from_url(arguments.url, timezone=arguments.timezone, **options) as bm,
        progress_bar("export") as progress,
    ):
        written = bm.export(
            arguments.file,
            arguments.names,
            arguments.since,
            arguments.until,
            progress=progress,
        )
    print(f"wrote {written} bitmaps to {arguments.file}")
    return 0
