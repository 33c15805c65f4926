"""Subcommands of ``bitmapist`` that move bitmaps between stores and files:
``export``, ``load`` and ``info``, one module each, and the progress bar they
share. Bars go to stderr and stay silent when it is not a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from tqdm import tqdm

__all__ = ["add_store_options", "progress_bar", "store_options"]


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """The options that say where in the store at URL the bitmaps are."""
    parser.add_argument("--prefix", help="the key prefix in Redis (default bitmapist)")


def store_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """The backend options that ``add_store_options`` parsed."""
    return {} if arguments.prefix is None else {"prefix": arguments.prefix}


@contextlib.contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback that draws a bar of bitmaps."""
    # Made at the first call, when the total is known.
    bars: list[tqdm[Any]] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=what, unit=" bitmaps", disable=None))
        bars[0].update(done - bars[0].n)

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()
