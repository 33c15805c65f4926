"""Export and load stream: their peak memory follows the largest bitmap, not
the file. benchmarks/archive_memory.py runs each step in a fresh process on a
real redis-server; here it runs small, with ten times more bitmaps the second
time and the same largest bitmap (the universe), so only the file grows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bitmapist.testing import redis_server_path

from .conftest import REQUIRE_REDIS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "archive_memory.py"


def measure(bitmaps: int) -> dict[str, Any]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    environment = {**os.environ, "PYTHONPATH": src}
    arguments = ["--bitmaps", str(bitmaps), "--ids", "150000", "--density", "0.05"]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    figures: dict[str, Any] = json.loads(completed.stdout)
    return figures


def test_peak_memory_does_not_grow_with_the_file() -> None:
    if redis_server_path() is None:
        if REQUIRE_REDIS:
            pytest.fail("BITMAPIST_REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH (apt-get install redis-server)")

    few, many = measure(2), measure(16)

    growth = many["file_mib"] - few["file_mib"]
    assert growth > 4  # the larger file holds about 4 MiB more bitmaps
    for step in ("export", "load"):
        assert many["steps"][step]["bitmaps"] == 17  # with the universe
        extra = many["steps"][step]["peak_mib"] - few["steps"][step]["peak_mib"]
        assert extra < growth / 4, (step, few, many)
