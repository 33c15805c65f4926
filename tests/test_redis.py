"""What only the Redis backend can get wrong: keys, slots, scratch keys,
refused writes and lost connections. Run against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from pyroaring import BitMap64
from redis.cluster import key_slot

from bitmapist import (
    BackendUnavailableError,
    Bitmapist,
    IncompleteLoadError,
    RedisBackend,
    WriteRefusedError,
)
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH, ShardedLayout
from bitmapist.errors import BackendError
from bitmapist.expressions import UNIVERSE, BitmapRef, Kind
from bitmapist.testing import RedisServer, running_redis

from .conftest import NOW, fixed_clock
from .proxy import CuttingProxy

WIDTH = DEFAULT_SHARD_WIDTH
LAYOUT = ShardedLayout()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis_server.client()
    connection.flushall()
    yield connection
    connection.close()


def make(client: redis.Redis, **options: object) -> Bitmapist:
    return Bitmapist(redis_client=client, clock=fixed_clock, **options)  # type: ignore[arg-type]


def all_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def test_queries_leave_no_key_behind(client: redis.Redis) -> None:
    bm = make(client)
    for uid in (1, WIDTH + 1, 2**40, 2**64 - 1):
        bm.mark_event("a", uid, NOW)
        bm.mark_attribute("p", uid)
    before = all_keys(client)
    a, p = bm.get_day_event("a", NOW), bm.get_attribute("p")

    for _ in range(50):
        for query in (a & p, a | ~p, bm.bit_op_xor(a, p, a.prev()), a - p, ~(a - p)):
            len(query)
            list(query)
            assert (2**40 in query) in (True, False)

    assert all_keys(client) == before


def test_every_key_of_a_shard_shares_one_hash_slot(client: redis.Redis) -> None:
    bm = make(client, granularities=["hour", "day", "week", "month", "year"])

    bm.mark_event("song:played", WIDTH * 7 + 3, NOW)
    bm.mark_attribute("paid", WIDTH * 7)
    len(bm.get_day_event("song:played", NOW) & bm.get_attribute("paid"))

    shard_keys = [k for k in all_keys(client) if k.startswith(b"bitmapist:7{")]
    assert len(shard_keys) == 10  # 5 periods, 1 attribute, universe, 3 registries
    assert len({key_slot(k) for k in shard_keys}) == 1


def test_a_huge_id_costs_one_small_string_per_period(client: redis.Redis) -> None:
    bm = make(client)

    bm.mark_event("a", 2**63, NOW)

    bitmaps = [k for k in all_keys(client) if b":e:a:" in k or k.endswith(b":u")]
    assert len(bitmaps) == 5
    assert all(client.strlen(k) == 2**63 % WIDTH // 8 + 1 for k in bitmaps)
    assert list(bm.get_month_event("a", NOW)) == [2**63]


def test_bits_are_laid_out_as_setbit_offsets_within_the_shard(
    client: redis.Redis,
) -> None:
    bm = make(client)

    bm.mark_events("a", [0, 9, WIDTH + 2], NOW)

    # Shard n's keys carry the hash tag of its target slot (keys.slot_tag).
    assert client.get("bitmapist:0{4Gb}:e:a:2025-01-15") == b"\x80\x40"
    assert client.get("bitmapist:1{6ah}:e:a:2025-W03") == b"\x20"
    assert client.smembers("bitmapist:{meta}:shards") == {b"0", b"1"}
    # Period registries hold codes as digits, which Redis keeps as an intset.
    registry = "bitmapist:0{4Gb}:periods:a"
    assert client.smembers(registry) == {b"20250115", b"2025003", b"202501", b"2025"}
    assert client.object("ENCODING", registry) == b"intset"


def test_strings_written_one_bit_at_a_time_cost_what_a_fresh_copy_costs(
    client: redis.Redis,
) -> None:
    """Writes with expiry (and on a cluster) SETBIT each offset. Grown from its
    lowest offset up, 8 bytes a step, a full shard's string would hold about
    14 KiB where a fresh copy holds 8 (Redis doubles the room of a string it
    grows by more than a little)."""
    bm = make(client, expire={"day": timedelta(days=40_000)})

    bm.mark_events("a", [*range(0, WIDTH, 64), WIDTH - 1], NOW)

    key = next(k for k in all_keys(client) if k.endswith(b":e:a:2025-01-15"))
    grown = client.memory_usage(key, samples=0)
    data = client.get(key)
    client.delete(key)
    client.set(key, data)  # type: ignore[arg-type]
    assert grown == client.memory_usage(key, samples=0)


def test_instances_in_two_zones_mark_the_same_instant_under_their_own_hours(
    client: redis.Redis,
) -> None:
    """The hour 18:00 in New York starts when 23:00 UTC does; its bitmap has
    another name, which no cache of the first instance's writes may give."""
    when = datetime(2024, 12, 29, 23, 30, tzinfo=timezone.utc)
    new_york = make(client, timezone="America/New_York", granularities=["hour"])
    utc = make(client, timezone="UTC", granularities=["hour"])

    new_york.mark_event("a", 1, when)
    utc.mark_event("a", 2, when)

    assert list(new_york.get_hour_event("a", when)) == [1]
    assert list(utc.get_hour_event("a", when)) == [2]


def test_a_prefix_keeps_instances_apart(client: redis.Redis) -> None:
    one, other = make(client, prefix="one"), make(client, prefix="other")

    one.mark_event("a", 1, NOW)

    assert len(other.get_day_event("a", NOW)) == 0
    assert other.get_event_names() == []
    assert all(k.startswith(b"one:") for k in all_keys(client))
    other.delete_all()
    assert one.get_event_names() == ["a"]


def aof_commands(directory: Path) -> list[list[bytes]]:
    """The commands of a server's append-only files, in order: what a restart
    (or a replica) would replay."""
    commands: list[list[bytes]] = []
    for path in sorted((directory / "appendonlydir").glob("*.incr.aof")):
        lines = iter(path.read_bytes().split(b"\r\n"))
        for line in lines:
            if line.startswith(b"*"):
                args = []
                for _ in range(int(line[1:])):
                    next(lines)  # the bulk string's length
                    args.append(next(lines))
                commands.append(args)
    return commands


def test_scratch_keys_reach_the_append_only_file_only_with_their_deletion() -> None:
    """So a restart, or a replica, never holds one: what a script writes is
    logged as one MULTI/EXEC, its deletions included."""
    with running_redis("--appendonly", "yes", "--appendfsync", "always") as server:
        client = server.client()
        bm = make(client)
        for uid in (1, WIDTH + 1, 2 * WIDTH + 1):
            bm.mark_event("a", uid, NOW)
            bm.mark_attribute("p", uid)
        assert len(bm.get_day_event("a", NOW) & ~bm.get_attribute("p")) == 0
        client.close()
        logged = aof_commands(server.directory)

    scratch_writes = 0
    in_block: set[bytes] | None = None
    for command in logged:
        name = command[0].upper()
        if name == b"MULTI":
            in_block = set()
        elif name == b"EXEC":
            assert in_block == set(), f"left standing: {in_block}"
            in_block = None
        else:
            touched = {arg for arg in command[1:] if b":tmp:" in arg}
            if touched:
                assert in_block is not None, f"{command} outside MULTI/EXEC"
                if name == b"DEL":
                    in_block -= touched
                else:
                    in_block |= touched
                    scratch_writes += 1
    assert scratch_writes, "the query should have written scratch keys"


def test_a_failing_query_cleans_up_and_says_why(client: redis.Redis) -> None:
    bm = make(client)
    bm.mark_event("a", 1, NOW)
    client.sadd("bitmapist:0{4Gb}:a:broken", "not a bitmap")  # foreign data
    before = all_keys(client)

    with pytest.raises(BackendError, match="WRONGTYPE"):
        len(bm.get_day_event("a", NOW) & bm.get_attribute("broken"))

    assert all_keys(client) == before


def dump_all(client: redis.Redis) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("foreign", ["day", "universe", "shards", "names", "periods"])
def test_a_single_mark_meeting_a_key_of_the_wrong_type_writes_nothing(
    client: redis.Redis, foreign: str, existing: bool
) -> None:
    """Whether the mark would create its bitmaps in shard 1 or find them."""
    bm = make(client)
    bm.mark_event("a", 5, NOW)  # shard 0, and the shard registry
    if existing:
        bm.mark_event("a", WIDTH + 3, NOW)
    layout = bm.backend.layout  # type: ignore[attr-defined]
    key = {
        "day": layout.bitmap_key(bm.get_day_event("a", NOW).ref, 1),
        "universe": layout.bitmap_key(UNIVERSE, 1),
        "shards": layout.shards_key(),
        "names": layout.names_key(Kind.EVENT, 1),
        "periods": layout.periods_key("a", 1),
    }[foreign]
    client.delete(key)
    client.rpush(key, "not ours")
    before = dump_all(client)

    with pytest.raises(BackendError, match="WRONGTYPE"):
        bm.mark_event("a", WIDTH + 7, NOW)  # shard 1

    assert dump_all(client) == before


def test_a_single_mark_registers_what_it_creates_even_after_a_delete(
    client: redis.Redis,
) -> None:
    bm = make(client)
    bm.mark_event("a", WIDTH + 7, NOW)
    bm.mark_event("a", WIDTH + 8, NOW)  # every bitmap exists
    bm.delete_event("a")
    assert bm.get_event_names() == []

    bm.mark_event("a", WIDTH + 7, NOW)

    assert bm.get_event_names() == ["a"]
    assert list(bm.get_day_event("a", NOW)) == [WIDTH + 7]
    assert client.sismember(bm.backend.layout.shards_key(), 1)  # type: ignore[attr-defined]


def mark_after_listing_periods(
    client: redis.Redis, mark: Any, times: int = 1
) -> list[int]:
    """Make ``client``'s pipelines call ``mark()`` right after the first
    ``times`` pipelines that read a period registry: a write from another
    client landing between a delete's listing of the periods and its
    deletion. Returns the list that counts the marks made."""
    made: list[int] = []
    open_pipeline = client.pipeline

    def pipeline(*args: Any, **options: Any) -> Any:
        pipe = open_pipeline(*args, **options)
        execute = pipe.execute

        def execute_then_mark(*args: Any, **options: Any) -> Any:
            lists_periods = any(
                command[0] == "SMEMBERS" and ":periods:" in str(command[1])
                for command, _ in pipe.command_stack
            )
            replies = execute(*args, **options)
            if lists_periods and len(made) < times:
                made.append(1)
                mark()
            return replies

        pipe.execute = execute_then_mark
        return pipe

    client.pipeline = pipeline  # type: ignore[method-assign]
    return made


def test_a_mark_racing_a_delete_leaves_no_bitmap_unregistered(
    client: redis.Redis, redis_server: RedisServer
) -> None:
    """A mark of a new period between the delete's listing of the periods
    and its deletion: the shard is listed and deleted again, so no bitmap is
    left that names, refs, export or delete_all cannot see."""
    bm = make(client)
    other = make(redis_server.client())
    bm.mark_event("a", 7, NOW)
    bm.mark_attribute("p", 7)
    made = mark_after_listing_periods(
        client, lambda: other.mark_event("a", 8, NOW + timedelta(days=40))
    )

    bm.delete_event("a")

    assert made == [1]
    assert bm.get_event_names() == []
    assert not [key for key in all_keys(client) if b":e:a:" in key]
    bm.delete_all()
    assert all_keys(client) == set()


def test_a_delete_that_keeps_meeting_new_periods_says_so(
    client: redis.Redis, redis_server: RedisServer
) -> None:
    bm = make(client)
    other = make(redis_server.client())
    bm.mark_event("a", 7, NOW)
    days = iter(range(1, 100))
    mark_after_listing_periods(
        client,
        lambda: other.mark_event("a", 8, NOW + timedelta(days=next(days))),
        times=100,
    )

    with pytest.raises(BackendError, match="marks kept adding periods to shards"):
        bm.delete_event("a")

    # What is left is still registered, and a delete without the race ends it.
    del client.pipeline  # the class's own again
    assert bm.get_event_names() == ["a"]
    bm.delete_event("a")
    assert not [key for key in all_keys(client) if b":e:a:" in key]


def test_a_delete_meeting_a_registry_of_the_wrong_type_deletes_nothing(
    client: redis.Redis,
) -> None:
    bm = make(client)
    bm.mark_event("a", 7, NOW)
    bm.mark_attribute("p", 7)
    names = bm.backend.layout.names_key(Kind.ATTRIBUTE, 0)  # type: ignore[attr-defined]
    client.delete(names)
    client.set(names, "not a set")
    before = {key: client.dump(key) for key in all_keys(client)}

    with pytest.raises(BackendError, match="WRONGTYPE"):
        bm.delete_event("a")

    assert {key: client.dump(key) for key in all_keys(client)} == before


@pytest.mark.parametrize("ids", [[2], [2, 3]], ids=["single", "bulk"])
def test_a_bitmap_kept_for_ever_keeps_its_period_registry_for_ever(
    client: redis.Redis, ids: list[int]
) -> None:
    """Else the registry would expire with another instance's deadline and
    leave the bitmap unlisted, undeleted and unexported."""
    expiring = Bitmapist(redis_client=client, expire={"day": timedelta(days=7)})
    kept = Bitmapist(redis_client=client)
    expiring.mark_event("e", 1, granularities=["day"])
    registry = expiring.backend.layout.periods_key("e", 0)  # type: ignore[attr-defined]
    assert client.ttl(registry) > 0

    kept.mark_events("e", ids, granularities=["month"])

    assert client.ttl(registry) == -1


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0})
    return int(stats["calls"])


def test_a_connection_cut_mid_query_leaves_no_key(client: redis.Redis) -> None:
    shards = 300
    for shard in range(shards):
        make(client).mark_events("a", [shard * WIDTH, shard * WIDTH + 9], NOW)
    make(client).mark_attribute("p", 9)
    proxy = CuttingProxy(client.connection_pool.connection_kwargs["port"])
    bm = make(redis.Redis(host="127.0.0.1", port=proxy.port))
    query = ~(bm.get_day_event("a", NOW) ^ bm.get_attribute("p"))
    assert len(query) == 1  # warm: the script is loaded, the shards known
    before, calls = all_keys(client), evalsha_calls(client)

    proxy.cut_after(20_000)  # a fraction of the next request
    with pytest.raises(BackendUnavailableError):
        len(query)

    time.sleep(0.2)
    sent = evalsha_calls(client) - calls
    assert 0 < sent < shards, "the request was not cut in the middle"
    assert all_keys(client) == before
    proxy.close()


def test_the_script_is_loaded_again_after_a_script_flush(client: redis.Redis) -> None:
    bm = make(client)
    bm.mark_event("a", 5, NOW)
    assert list(bm.get_day_event("a", NOW) | bm.get_attribute("p")) == [5]

    client.script_flush()

    assert list(bm.get_day_event("a", NOW) | bm.get_attribute("p")) == [5]
    assert 5 in bm.get_day_event("a", NOW) | bm.get_attribute("p")
    bm.mark_event("a", 6, NOW)  # the scripts of a single mark are loaded
    client.script_flush()
    bm.mark_event("a", 7, NOW)
    client.script_flush()
    bm.mark_events("a", [8, 9], NOW)
    assert list(bm.get_day_event("a", NOW)) == [5, 6, 7, 8, 9]
    # Dense enough that units carry bitmaps in scratch keys, inside MULTI.
    dense = list(range(WIDTH, 2 * WIDTH, 2))
    bm.mark_events("b", dense, NOW)
    client.script_flush()
    bm.mark_events("c", dense, NOW)
    assert list(bm.get_day_event("c", NOW)) == dense
    assert not list(client.scan_iter(match="*:tmp:*"))


def test_a_refused_write_applies_nothing() -> None:
    with running_redis("--maxmemory", "2mb", "--maxmemory-policy", "noeviction") as s:
        client = s.client()
        bm = make(client)
        bm.mark_event("a", 1, NOW)
        filler = 0
        while True:
            try:
                client.set(f"filler:{filler}", b"x" * 4096)
            except redis.exceptions.OutOfMemoryError:
                break
            filler += 1
        before = {k: client.dump(k) for k in all_keys(client) if b"bitmapist" in k}

        with pytest.raises(WriteRefusedError, match="maxmemory") as raised:
            bm.mark_event("a", 2**40, NOW)

        assert isinstance(raised.value.__cause__, redis.exceptions.RedisError)
        after = {k: client.dump(k) for k in all_keys(client) if b"bitmapist" in k}
        assert after == before
        assert list(bm.get_month_event("a", NOW)) == [1]
        client.close()


def test_from_url_and_a_shared_client(redis_server: RedisServer) -> None:
    writer = Bitmapist.from_url(redis_server.url, clock=fixed_clock)
    reader = Bitmapist(backend=RedisBackend(redis_server.client()), clock=fixed_clock)
    writer.delete_all()

    writer.mark_event("a", 3, NOW)

    assert list(reader.get_week_event("a", NOW)) == [3]
    writer.delete_all()
    assert all_keys(redis_server.client()) == set()
    writer.close()


def test_a_store_meeting_a_key_of_the_wrong_type_writes_nothing(
    client: redis.Redis, tmp_path: Path
) -> None:
    """Inside MULTI a WRONGTYPE fails only its own command; the store checks
    every key it writes first, so the bitmap stays as it was, as the load's
    error says."""
    offline = Bitmapist(clock=fixed_clock)
    offline.mark_events("c", [1, WIDTH + 1, 2 * WIDTH + 1], NOW, granularities="day")
    offline.export(tmp_path / "c.bma")
    bm = make(client)
    bm.mark_events("c", [7], NOW, granularities="day")
    client.set(LAYOUT.periods_key("c", 2), "not a set")

    with pytest.raises(IncompleteLoadError, match="WRONGTYPE") as caught:
        bm.load(tmp_path / "c.bma")

    assert [str(r) for r in caught.value.not_loaded] == ["event:c@2025-01-15"]
    assert list(bm.get_day_event("c", NOW)) == [7]
    assert client.smembers(LAYOUT.names_key(Kind.EVENT, 1)) == set()
    assert client.smembers(LAYOUT.periods_key("c", 1)) == set()


def test_a_store_whose_keys_change_meanwhile_is_tried_again(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client writes a WATCHed key between the checks and EXEC: EXEC
    does nothing, and the store runs again."""
    backend = RedisBackend(client)
    ref = BitmapRef(Kind.ATTRIBUTE, "x")
    register = RedisBackend._register
    calls: list[int] = []

    def interrupted(self: RedisBackend, pipe: Any, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # queued after MULTI: the other client goes first
            client.sadd(LAYOUT.names_key(Kind.ATTRIBUTE, 0), "intruder")
        register(self, pipe, *args)

    monkeypatch.setattr(RedisBackend, "_register", interrupted)

    backend.store(ref, BitMap64([3, WIDTH + 3]))

    assert len(calls) == 4  # two shards, twice
    assert list(backend.members(ref)) == [3, WIDTH + 3]
    assert backend.names(Kind.ATTRIBUTE) == {"x", "intruder"}
