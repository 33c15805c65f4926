"""``bitmapist info FILE``: what an archive holds, without loading it."""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import timedelta
from typing import Any

from ..archive import ArchiveReader, Entry
from ..expressions import Kind
from ..periods import Granularity
from . import progress_bar

__all__ = ["describe", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show what an archive file holds",
        description="Show the bitmaps of FILE by name: kind, periods, ids and "
        "bytes, from its manifest.",
    )
    parser.add_argument("file")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also read every bitmap and check it against its checksum",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    with ArchiveReader(arguments.file) as reader:
        print(describe(reader))
        if arguments.verify:
            with progress_bar("verify") as progress:
                for done, entry in enumerate(reader.entries, 1):
                    reader.read(entry)
                    progress(done, len(reader.entries))
                reader.verify_id_map()
            print(f"all {len(reader.entries)} bitmaps match their checksums")
    return 0


def describe(reader: ArchiveReader) -> str:
    """A table of the archive's bitmaps, one row per name."""
    groups: dict[tuple[Kind, str], list[Entry]] = defaultdict(list)
    for entry in reader.entries:
        groups[entry.ref.kind, entry.ref.name].append(entry)
    rows = [("kind", "name", "bitmaps", "periods", "days", "most ids", "bytes")]
    for (kind, name), entries in sorted(groups.items()):
        periods = [e.ref.period for e in entries if e.ref.period is not None]
        used = {p.granularity for p in periods}
        kinds = ", ".join(g.value for g in Granularity if g in used)
        span = ""
        if periods:
            first = min(p.start for p in periods)
            last = max(p.end for p in periods) - timedelta(microseconds=1)
            span = f"{first:%Y-%m-%d} .. {last:%Y-%m-%d}"
        rows.append(
            (
                kind.value,
                name,
                f"{len(entries):,}",
                kinds,
                span,
                f"{max(e.count for e in entries):,}",
                f"{sum(e.length for e in entries):,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    mapped = ""
    if reader.id_map is not None:
        ids = sum(chunk.count for chunk in reader.id_map)
        mapped = f", an id map of {ids:,} ids"
    head = (
        f"{reader.path}: bitmapist archive, {reader.size:,} bytes, "
        f"{len(reader.entries):,} bitmaps{mapped}, periods in {reader.time_zone}"
    )
    return "\n".join([head, "", *lines]).rstrip()
