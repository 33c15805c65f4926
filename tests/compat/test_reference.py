"""Same data, both ways, against the real bitmapist 3.119 as the oracle.

One script of marks, unmarks and queries runs under 3.119 (in its own venv,
see benchmarks/reference.py) into database 0 of the session's redis-server,
and under this interface into database 1. The two keyspaces must be equal key
for key and byte for byte, and the answers equal; then this interface reads
what 3.119 wrote and must answer as 3.119 did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bitmapist
from bitmapist import cohort
from bitmapist.testing import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import reference

SCRIPT = """
import random
from datetime import datetime, timedelta
from bitmapist import cohort

rng = random.Random(7)
base = datetime(2024, 12, 20, 5)
for _ in range(1500):
    bitmapist.mark_event(
        rng.choice(["active", "song:played", "x_y"]),
        rng.randrange(400),
        now=base + timedelta(hours=rng.randrange(24 * 50)),
        track_hourly=rng.random() < 0.3,
        track_unique=rng.random() < 0.3,
    )
for _ in range(40):
    bitmapist.unmark_event(
        "active", rng.randrange(400), now=base + timedelta(days=rng.randrange(50))
    )
bitmapist.mark_unique("paid", 17)
bitmapist.mark_unique("paid", 4000)
bitmapist.unmark_unique("paid", 17)

m1 = bitmapist.MonthEvents("active", 2025, 1)
m2 = bitmapist.MonthEvents("song:played", 2025, 1)
ops = {
    "and": bitmapist.BitOpAnd(m1, m2),
    "or": m1 | m2,
    "xor": bitmapist.BitOpXor(m1, bitmapist.WeekEvents("active", 2025, 2)),
    "not": ~bitmapist.DayEvents("active", 2025, 1, 3),
    "nested": bitmapist.BitOpAnd(
        bitmapist.BitOpOr(m1, m2), bitmapist.UniqueEvents("paid")
    ),
    "year": bitmapist.YearEvents("active", 2025),
    "hour": bitmapist.HourEvents("x_y", 2025, 1, 2, 7).next(),
}
RESULTS["ops"] = {k: [v.redis_key, list(v), len(v)] for k, v in ops.items()}
RESULTS["names"] = sorted(bitmapist.get_event_names())
for group in ("days", "weeks", "months", "years"):
    rows = cohort.get_dates_data(
        "active", "song:played", time_group=group, start_date="2024-12-25",
        num_results=10, num_of_rows=5,
    )
    RESULTS[group] = [[str(row[0]), *row[1:]] for row in rows]
RESULTS["csv"] = cohort.render_csv_data(
    cohort.get_dates_data("active", "x_y", start_date="2024-12-28", num_results=4),
    num_of_rows=12,
)
"""


def _ours(port: int, db: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    saved = dict(bitmapist.SYSTEMS)
    bitmapist.setup_redis("default", "127.0.0.1", port, db=db)
    try:
        exec(
            SCRIPT.replace("from bitmapist import cohort", ""),
            {"bitmapist": bitmapist, "cohort": cohort, "RESULTS": results},
        )
        bitmapist.delete_runtime_bitop_keys()
    finally:
        bitmapist.SYSTEMS.clear()
        bitmapist.SYSTEMS.update(saved)
    return results


def _keyspace(client: Any) -> dict[bytes, bytes]:
    return {key: client.get(key) for key in client.scan_iter()}


@pytest.fixture(scope="module")
def reference_run(redis_server: RedisServer) -> dict[str, Any]:
    """3.119's answers, with database 0 holding what it wrote."""
    client = redis_server.client()
    client.flushall()
    try:
        results = reference.run(SCRIPT, redis_server.port)
    except (subprocess.CalledProcessError, OSError) as error:
        pytest.skip(f"bitmapist 3.119 could not be run: {error}")
    finally:
        client.close()
    return results


def _flatten(results: dict[str, Any]) -> dict[str, Any]:
    # 3.119's answers came through JSON: put ours through it too.
    return dict(json.loads(json.dumps(results)))


@pytest.mark.redis_server
def test_what_this_interface_writes_is_what_3119_writes(
    redis_server: RedisServer, reference_run: dict[str, Any]
) -> None:
    client = redis_server.client()
    client.select(1)
    client.flushdb()
    theirs_client = redis_server.client()

    ours = _ours(redis_server.port, db=1)
    ours_space = _keyspace(client)
    theirs_space = _keyspace(theirs_client)

    assert ours_space.keys() == theirs_space.keys()
    assert ours_space == theirs_space
    assert _flatten(ours) == reference_run
    client.close()
    theirs_client.close()


@pytest.mark.redis_server
def test_this_interface_reads_what_3119_wrote(
    redis_server: RedisServer, reference_run: dict[str, Any]
) -> None:
    client = redis_server.client()
    for key in client.scan_iter(match="trackist_bitop_*"):
        client.delete(key)
    written = _keyspace(client)
    bitmapist.setup_redis("reader", "127.0.0.1", redis_server.port)

    months = bitmapist.MonthEvents("active", 2025, 1, system="reader")
    day = bitmapist.DayEvents("active", 2025, 1, 3, system="reader")
    ops = {
        "or": bitmapist.BitOpOr(
            "reader",
            months,
            bitmapist.MonthEvents("song:played", 2025, 1, system="reader"),
        ),
        "not": bitmapist.BitOpNot("reader", day),
    }
    names = sorted(bitmapist.get_event_names(system="reader"))
    tables = {
        group: [
            [str(row[0]), *row[1:]]
            for row in cohort.get_dates_data(
                "active",
                "song:played",
                time_group=group,
                system="reader",
                start_date="2024-12-25",
                num_results=10,
                num_of_rows=5,
            )
        ]
        for group in ("days", "weeks", "months", "years")
    }

    assert names == reference_run["names"]
    assert _flatten(tables) == {g: reference_run[g] for g in tables}
    for name, operation in ops.items():
        key, members, count = reference_run["ops"][name]
        assert (operation.redis_key, list(operation), len(operation)) == (
            key,
            members,
            count,
        )
    bitmapist.delete_runtime_bitop_keys()
    assert _keyspace(client) == written
    del bitmapist.SYSTEMS["reader"]
    client.close()
