"""The examples run as a user would run them, and say what they promise."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitmapist.testing import redis_server_path

from .conftest import REQUIRE_REDIS

ROOT = Path(__file__).resolve().parents[1]


def test_offline_analysis_builds_retention_from_an_exported_file(
    tmp_path: Path,
) -> None:
    if redis_server_path() is None:
        if REQUIRE_REDIS:
            pytest.fail("BITMAPIST_REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH (apt-get install redis-server)")
    plotting = importlib.util.find_spec("matplotlib") is not None
    picture = tmp_path / "retention.png"
    arguments = ["--users", "1500", "--weeks", "5"]
    if plotting:
        arguments += ["--plot", str(picture)]

    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "offline_analysis.py"), *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("exported ")
    rows = [line.split() for line in lines if line.startswith(" 2025-W")]
    assert len(rows) == 5
    assert all(row[2] == "100.0%" for row in rows)
    assert "the same table computed on Redis: identical" in completed.stdout
    assert "from plain ANDs of week bitmaps: identical" in completed.stdout
    if plotting:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
