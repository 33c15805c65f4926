"""The ``bitmapist`` command line: one subcommand per module in ``COMMANDS``.

Each of those modules offers ``register(subparsers)``, which adds its parser
and sets ``run`` (taking the parsed arguments, returning an exit code) as the
parser's default. This module only dispatches; it is where output to a person
belongs, not the library.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import BitmapistError

__all__ = ["main"]

COMMANDS = (
    "bitmapist.demo",
    "bitmapist.migrate",
    "bitmapist.analysis.command",
    "bitmapist.commands.export",
    "bitmapist.commands.load",
    "bitmapist.commands.info",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitmapist", description="Real-time user analytics on bitmaps."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.run(arguments))
    except BitmapistError as error:
        print(f"bitmapist: {error}", file=sys.stderr)
        return 1
