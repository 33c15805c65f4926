"""Export and load against Redis.

- export: reading one bitmap of 1,000,000 ids (100,000 with --short) from
  Redis into an archive, the per-bitmap path of ``bm.export``, against a raw
  pipelined GET of the same shard keys plus building the pyroaring bitmap
  from the strings (with the same decoder). Target: at most 2x.
- load: ``bm.load`` of a file holding that bitmap (an attribute) and its
  universe, against marking ids one by one with ``mark_attribute`` (which
  writes the same two bitmaps), compared as ids per second; the one-by-one
  rate is measured over 20,000 ids (2,000 with --short). Target: at least 10x.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap64
from speed import Context, Row

from bitmapist import Bitmapist
from bitmapist.archive import ArchiveWriter
from bitmapist.backends.redis import RedisBackend, decode_bitmap
from bitmapist.expressions import BitmapRef, Kind

NAME = "exported"


def best(function: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def run(context: Context) -> list[Row]:
    size = 100_000 if context.short else 1_000_000
    singles = 2_000 if context.short else 20_000
    client = context.server.client()
    client.flushall()
    rng = np.random.default_rng(5)
    ids = np.sort(rng.choice(2**24, size, replace=False).astype(np.uint64))
    ref = BitmapRef(Kind.ATTRIBUTE, NAME)
    backend = RedisBackend(client, prefix="bench")
    backend.store(ref, BitMap64(ids))
    shards = sorted({int(s) for s in client.smembers(backend.layout.shards_key())})
    keys = [backend.layout.bitmap_key(ref, shard) for shard in shards]
    width = backend.layout.shard_width

    def raw() -> BitMap64:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        result = BitMap64()
        for shard, data in zip(shards, pipe.execute(), strict=True):
            result.update(decode_bitmap(data, shard * width))
        return result

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / "one.bma"
        bm = Bitmapist(backend=backend)

        def ours() -> None:
            with ArchiveWriter(file, bm.timezone) as writer:
                writer.add(ref, backend.members(ref))

        assert raw() == BitMap64(ids)
        raw_s, ours_s = best(raw), best(ours)
        whole_s = best(lambda: bm.export(file, names=[NAME]))
        ratio = ours_s / raw_s
        rows.append(
            Row(
                "export",
                f"{size:,} ids: {ours_s * 1e3:.1f} ms, raw GET + build "
                f"{raw_s * 1e3:.1f} ms (bm.export with the universe "
                f"{whole_s * 1e3:.1f} ms)",
                ratio,
                "<= 2x raw",
                ratio <= 2,
            )
        )

        target = Bitmapist(redis_client=client, prefix="loaded")
        target.delete_all()
        load_s = best(lambda: target.load(file), repeat=3)
        assert target.get_attribute(NAME).to_bitmap() == BitMap64(ids)
        one_by_one = Bitmapist(redis_client=client, prefix="single")
        chosen = ids[:singles].tolist()
        started = time.perf_counter()
        for uid in chosen:
            one_by_one.mark_attribute(NAME, uid)
        single_s = time.perf_counter() - started
        speedup = (size / load_s) / (singles / single_s)
        rows.append(
            Row(
                "load",
                f"{size / load_s:,.0f} ids/s ({size:,} in {load_s:.2f} s), one by "
                f"one {singles / single_s:,.0f} ids/s ({singles:,} ids)",
                speedup,
                ">= 10x one by one",
                speedup >= 10,
            )
        )
    client.flushall()
    client.close()
    return rows
