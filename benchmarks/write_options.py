"""The measurements behind the bulk write path (backends/redis_writes.py):
each way of getting many bits into Redis, timed against one redis-server
this script starts, with the server's own time per step from SLOWLOG.

    python benchmarks/write_options.py

It prints bits a second for the per-bit ways and server microseconds per
128 KiB bitmap for the ways that merge a bitmap built on the client.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bitmapist.testing import running_redis

# A SETBIT per offset, offsets packed four bytes each, as write.lua does.
SETBIT_LOOP = """
local s = ARGV[1]
for j = 1, #s, 4 do
  local a, b, c, d = string.byte(s, j, j + 3)
  redis.call("SETBIT", KEYS[1], a + b * 256 + c * 65536 + d * 16777216, 1)
end
return #s / 4
"""
# A bitmap passed as an argument and merged with BITOP OR.
ARGV_OR = """
redis.call("SET", KEYS[2], ARGV[1])
redis.call("BITOP", "OR", KEYS[1], KEYS[1], KEYS[2])
redis.call("DEL", KEYS[2])
return 1
"""
# The bitmap already SET in a scratch key (in the same MULTI), merged here.
SCRATCH_OR = """
redis.call("BITOP", "OR", KEYS[1], KEYS[1], KEYS[2])
redis.call("DEL", KEYS[2])
return 1
"""
WIDTH = 2**20


def main() -> None:
    rng = np.random.default_rng(1)
    offsets = np.unique(rng.integers(0, WIDTH, 200_000)).astype(np.uint32)
    packed = offsets.astype("<u4").tobytes()
    bits = np.zeros(WIDTH, dtype=np.bool_)
    bits[offsets] = True
    bitmap = np.packbits(bits).tobytes()
    with running_redis() as server:
        client = server.client()
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 10_000)
        loop = client.script_load(SETBIT_LOOP)
        argv_or = client.script_load(ARGV_OR)
        scratch_or = client.script_load(SCRATCH_OR)
        client.setbit("bitmap", WIDTH - 1, 1)

        def pipelined_setbit() -> None:
            pipe = client.pipeline(transaction=False)
            for offset in offsets.tolist():
                pipe.setbit("a", offset, 1)
            pipe.execute()

        def bitfield() -> None:
            pipe = client.pipeline(transaction=False)
            listed = offsets.tolist()
            for start in range(0, len(listed), 1000):
                fields: list[Any] = []
                for offset in listed[start : start + 1000]:
                    fields += ["SET", "u1", offset, 1]
                pipe.execute_command("BITFIELD", "b", *fields)
            pipe.execute()

        print(f"{offsets.size:,} offsets in one 128 KiB bitmap:")
        for label, function in (
            ("redis-py pipeline of SETBIT", pipelined_setbit),
            ("pipeline of BITFIELD, 1000 SET u1 each", bitfield),
            (
                "one script, SETBIT per packed offset",
                lambda: _call(client, loop, "c", packed),
            ),
        ):
            seconds = _wall(function)
            print(f"  {label:<42} {offsets.size / seconds:>12,.0f} bits/s")

        print("one 128 KiB bitmap merged into an existing one (server time):")

        def through_argv() -> None:
            client.evalsha(argv_or, 2, "bitmap", "scratch", bitmap)

        def through_scratch() -> None:
            pipe = client.pipeline(transaction=True)
            pipe.set("scratch", bitmap)
            pipe.evalsha(scratch_or, 2, "bitmap", "scratch")
            pipe.execute()

        for label, function in (
            ("bitmap as a script argument, BITOP OR", through_argv),
            ("SET to a scratch key in MULTI, BITOP OR", through_scratch),
        ):
            print(f"  {label:<42} {_server_us(client, function):>9.0f} us")


def _call(client: Any, sha: str, key: str, payload: bytes) -> None:
    client.evalsha(sha, 1, key, payload)


def _wall(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _server_us(client: Any, function: Callable[[], None], runs: int = 50) -> float:
    """The median over ``runs`` of the server time of everything ``function``
    sends, from SLOWLOG."""
    spent = []
    for _ in range(runs):
        client.slowlog_reset()
        function()
        entries = client.slowlog_get(100)
        spent.append(
            sum(
                e["duration"]
                for e in entries
                if not e["command"].startswith((b"SLOWLOG", b"MULTI", b"EXEC"))
            )
        )
    return float(statistics.median(spent))


if __name__ == "__main__":
    main()
