"""The public API is guarded: ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import bitmapist


def test_all_is_sorted() -> None:
    """Constants first, then the rest, each alphabetically: ruff's order."""
    assert bitmapist.__all__ == sorted(
        bitmapist.__all__, key=lambda name: (not name.isupper(), name)
    )


def test_all_names_exist_and_nothing_public_is_left_out() -> None:
    public = {
        name
        for name, value in vars(bitmapist).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }

    assert set(bitmapist.__all__) == public


def test_the_package_is_typed() -> None:
    assert (Path(bitmapist.__file__).parent / "py.typed").exists()


def test_importing_opens_no_connection_and_starts_no_thread() -> None:
    code = (
        "import socket, threading\n"
        "def refuse(*a, **k): raise AssertionError('connected at import')\n"
        "socket.socket.connect = refuse\n"
        "import bitmapist\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )

    subprocess.run([sys.executable, "-c", code], check=True)
