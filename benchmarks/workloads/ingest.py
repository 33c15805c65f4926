"""Workload 1: bulk ingest of 1,000,000 events by 200,000 users (ids below
2**24) over 30 days, writing day, week, month and year bitmaps, against the
server's raw SETBIT rate and 3.119's mark_event loop."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import reference
from speed import Context, Row

from bitmapist import Bitmapist
from bitmapist.backends import redis_writes
from bitmapist.backends.base import Write
from bitmapist.expressions import UNIVERSE

from .common import duration, held, raw_setbit_rate

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
BITMAPS_PER_EVENT = 4  # day, week, month, year (the universe is not counted)

REFERENCE = """
from datetime import datetime, timedelta, timezone
start = datetime(2025, 3, 1, tzinfo=timezone.utc)
with open(ARGS["events"]) as file:
    events = json.load(file)
def loop():
    for uid, day in events:
        bitmapist.mark_event("active", uid, now=start + timedelta(days=day))
timed("loop", loop)
"""


def run(context: Context) -> list[Row]:
    events, users = (50_000, 10_000) if context.short else (1_000_000, 200_000)
    sample = 1_000 if context.short else 10_000
    rng = np.random.default_rng(1)
    population = rng.choice(2**24, users, replace=False).astype(np.uint64)
    who = population[rng.integers(0, users, events)]
    day = rng.integers(0, 30, events)
    client = context.server.client()
    client.flushall()

    bm = Bitmapist(redis_client=client)
    started = time.perf_counter()
    with bm.batch():
        for n in range(30):
            bm.mark_events("active", who[day == n], START + timedelta(days=n))
    elapsed = time.perf_counter() - started
    assert len(bm.get_year_event("active", START)) == len(np.unique(who))
    slowest = _slowest_unit(bm, who, day)
    client.flushall()

    raw = raw_setbit_rate(context.server.port, 200_000 if context.short else 2_000_000)
    client.delete("bitmapist-benchmark:raw")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.json"
        path.write_text(
            json.dumps(
                list(zip(who[:sample].tolist(), day[:sample].tolist(), strict=True))
            )
        )
        seconds = reference.run(REFERENCE, context.server.port, events=str(path))[
            "loop"
        ]
    client.flushall()

    ours = events / elapsed
    theirs = sample / seconds
    written = ours * BITMAPS_PER_EVENT
    return [
        held(
            "1 ingest: bitmapist batch of mark_events",
            f"{ours:,.0f} events/s x {BITMAPS_PER_EVENT} = {written:,.0f} bits/s",
            written / raw,
            ">=",
            1.0,
            "raw SETBIT",
        ),
        held(
            "1 ingest: vs 3.119 mark_event loop",
            f"3.119: {theirs:,.0f} events/s ({sample:,} events)",
            ours / theirs,
            ">=",
            100,
            "3.119",
        ),
        Row("1 ingest: raw redis-benchmark SETBIT -P 128", f"{raw:,.0f} SETBIT/s"),
        Row(
            "1 ingest: longest unit on the server",
            f"{duration(slowest)} (SLOWLOG, budget 2 ms estimated)",
        ),
    ]


def _slowest_unit(bm: Bitmapist, who: np.ndarray, day: np.ndarray) -> float:
    """Replays the same batch unit by unit on an empty keyspace and returns
    the longest server time one unit took: the sum of its commands' SLOWLOG
    durations, since Redis runs a MULTI's commands back to back."""
    backend = bm.backend
    client = backend.client  # type: ignore[attr-defined]
    client.flushall()
    writes = [
        Write(
            (*bm._event_refs("active", START + timedelta(days=n), None), UNIVERSE),
            who[day == n],
            True,
        )
        for n in range(30)
    ]
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    longest = 0.0
    for unit in redis_writes.plan(backend.layout, writes).units:  # type: ignore[attr-defined]
        client.slowlog_reset()
        backend._send_units([unit], [])  # type: ignore[attr-defined]
        entries = client.slowlog_get(10_000)
        spent = sum(
            e["duration"] for e in entries if not e["command"].startswith(b"SLOWLOG")
        )
        longest = max(longest, spent / 1e6)
    client.config_set("slowlog-log-slower-than", 10_000)
    return longest
