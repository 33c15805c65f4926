"""``bitmapist load FILE URL``: an archive file's bitmaps into a store."""

from __future__ import annotations

import argparse
from typing import Any

from ..archive import ArchiveReader
from ..core import Bitmapist
from . import add_store_options, progress_bar, store_options

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "load",
        help="write an archive file's bitmaps into a store",
        description="Write every bitmap of FILE into the store at URL, each "
        "replacing the bitmap of the same name and period, in the time zone "
        "the file records. The file is checked whole before anything is "
        "written.",
    )
    parser.add_argument("file")
    parser.add_argument("url")
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    with ArchiveReader(arguments.file) as reader:
        zone = reader.time_zone
    options = store_options(arguments)
    with (
        Bitmapist.from_url(arguments.url, timezone=zone, **options) as bm,
        progress_bar("load") as progress,
    ):
        loaded = bm.load(arguments.file, progress=progress)
    print(f"loaded {loaded} bitmaps into {arguments.url}")
    return 0
