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
        "the file records; a file with an id map goes through the store's id "
        "map. The file is checked whole before anything is written.",
    )
    parser.add_argument("file")
    parser.add_argument("url")
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    with ArchiveReader(arguments.file) as reader:
        zone, mapped = reader.time_zone, reader.id_map is not None
    options = store_options(arguments)
    with (
        Bitmapist.from_url(
            arguments.url, timezone=zone, id_map=mapped, **options
        ) as bm,
        progress_bar("load") as progress,
    ):
        loaded = bm.load(arguments.file, progress=progress)
    print(f"loaded {loaded} bitmaps into {arguments.url}")
    return 0
