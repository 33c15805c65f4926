"""Loads into a 3-master Redis Cluster that fail part way: every bitmap is as
it was or wholly loaded, the error names the loaded ones, and a bitmap that a
rollback could not reach is named as possibly partial."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from pyroaring import BitMap64

from bitmapist import (
    BackendError,
    BackendResponseError,
    Bitmapist,
    IncompleteLoadError,
    PartlyStoredError,
    RedisBackend,
)
from bitmapist.backends import staging
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH, ShardedLayout
from bitmapist.cli import main
from bitmapist.expressions import UNIVERSE, BitmapRef, Kind
from bitmapist.testing import RedisCluster, RedisServer, running_cluster

from .conftest import NOW, fixed_clock

pytestmark = pytest.mark.redis_server

WIDTH = DEFAULT_SHARD_WIDTH
SHARDS = 24
LAYOUT = ShardedLayout()
LOAD_SECONDS = staging.LOAD_KEY_SECONDS

# A short node timeout and small client timeouts: a node that stops answering
# is given up on in well under a second.
QUICK = ("--cluster-allow-reads-when-down", "yes", "--cluster-node-timeout", "500")


def spread(offset: int) -> list[int]:
    """Ids in every one of SHARDS shards, so each bitmap reaches every node."""
    return [shard * WIDTH + offset + n for shard in range(SHARDS) for n in (0, 9)]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Bitmaps in file order: the universe, attributes a and b, events c, d."""
    offline = Bitmapist(clock=fixed_clock)
    offline.mark_attribute("a", 1)
    for uid in spread(1):
        offline.mark_attribute("a", uid)
    for uid in spread(2):
        offline.mark_attribute("b", uid)
    offline.mark_events("c", spread(3), NOW, granularities="day")
    offline.mark_events("d", spread(4), NOW, granularities="day")
    offline.export(tmp_path / "four.bma")
    return tmp_path / "four.bma"


def old_data(bm: Bitmapist) -> None:
    """What the target holds before the load: c expires, d does not."""
    expiring = Bitmapist(
        redis_client=bm.backend.client,  # type: ignore[attr-defined]
        clock=fixed_clock,
        expire={"day": timedelta(days=3650)},
    )
    expiring.mark_events("c", [5, 3 * WIDTH + 5], NOW, granularities="day")
    bm.mark_events("d", [6, 5 * WIDTH + 6], NOW, granularities="day")
    bm.mark_attribute("b", 7)


def snapshot(bm: Bitmapist) -> dict[str, Any]:
    return {
        "a": list(bm.get_attribute("a")),
        "b": list(bm.get_attribute("b")),
        "c": list(bm.get_day_event("c", NOW)),
        "d": list(bm.get_day_event("d", NOW)),
        "names": (bm.get_event_names(), bm.get_attribute_names()),
    }


def expiries(client: Any, ref_name: str) -> dict[int, int]:
    """The deadline, in ms, of c's key in every shard that has one."""
    found = {}
    for shard in range(SHARDS):
        key = LAYOUT.event_key(ref_name, NOW.strftime("%Y-%m-%d"), shard)
        at = client.pexpiretime(key)
        if at > 0:
            found[shard] = at
    return found


def load_keys(client: Any) -> list[bytes]:
    """The keys a load left on the cluster's masters, but for the tombstones
    its rollback leaves (which must outlive any late commit, and expire on
    their own)."""
    return left_on([node.redis_connection for node in client.get_primaries()])


def left_on(connections: list[Any]) -> list[bytes]:
    left = []
    for connection in connections:
        for key in connection.scan_iter(match="*:load:*", count=1000):
            tombstone = connection.type(key) == b"hash" and connection.hkeys(key) == [
                b"rolled_back"
            ]
            if not tombstone or not 0 < connection.ttl(key) <= LOAD_SECONDS:
                left.append(key)
    return left


def registries(client: Any) -> dict[int, tuple[Any, ...]]:
    """Every shard's registries of names and of c's and d's periods."""
    found = {}
    for shard in range(SHARDS):
        keys = [
            LAYOUT.names_key(Kind.EVENT, shard),
            LAYOUT.names_key(Kind.ATTRIBUTE, shard),
            LAYOUT.periods_key("c", shard),
            LAYOUT.periods_key("d", shard),
        ]
        found[shard] = tuple(
            client.smembers(key) if client.type(key) == b"set" else client.type(key)
            for key in keys
        )
    return found


@pytest.fixture
def target(redis_cluster: RedisCluster) -> Iterator[Bitmapist]:
    """An instance on the session's cluster, emptied, holding ``old_data``."""
    client = redis_cluster.client()
    client.flushall()
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    old_data(bm)
    yield bm
    client.close()


def test_a_cluster_load_replaces_bitmaps_shard_by_shard(
    target: Bitmapist, archive: Path
) -> None:
    bm, client = target, target.backend.client  # type: ignore[attr-defined]
    offline = Bitmapist.open(archive, clock=fixed_clock)

    loaded = bm.load(archive)

    assert loaded == 5
    assert snapshot(bm) == snapshot(offline)
    assert expiries(client, "c") == {}  # a loaded bitmap never expires
    kept = {5, 3 * WIDTH + 5, 6, 5 * WIDTH + 6, 7}
    assert set(bm.get_universe()) == set(offline.get_universe()) | kept
    assert load_keys(client) == []


def test_a_key_of_the_wrong_type_rolls_its_bitmap_back(
    target: Bitmapist, archive: Path
) -> None:
    bm, client = target, target.backend.client  # type: ignore[attr-defined]
    before, deadlines = snapshot(bm), expiries(client, "c")
    # c's period registry in one shard is a string: that shard refuses the
    # commit, after the shards on the other nodes have taken theirs.
    client.set(LAYOUT.periods_key("c", SHARDS - 1), "not a set")
    registered = registries(client)
    offline = Bitmapist.open(archive, clock=fixed_clock)

    with pytest.raises(IncompleteLoadError) as caught:
        bm.load(archive)

    error = caught.value
    assert isinstance(error.__cause__, BackendResponseError)
    assert "WRONGTYPE" in str(error)
    assert [str(r) for r in error.loaded] == ["universe:", "attribute:a", "attribute:b"]
    assert [str(r) for r in error.not_loaded] == [
        "event:c@2025-01-15",
        "event:d@2025-01-15",
    ]
    assert error.partial == ()
    assert "attribute:a, attribute:b" in str(error)
    after = snapshot(bm)
    assert after["a"] == snapshot(offline)["a"]
    assert after["b"] == snapshot(offline)["b"]
    assert after["c"] == before["c"]
    assert after["d"] == before["d"]
    assert expiries(client, "c") == deadlines  # to the millisecond
    assert after["names"] == (["c", "d"], ["a", "b"])
    # c is new in most shards' registries: the rollback took it out of each.
    now = registries(client)
    assert {s: r[0] for s, r in now.items()} == {s: r[0] for s, r in registered.items()}
    assert {s: r[2:] for s, r in now.items()} == {
        s: r[2:] for s, r in registered.items()
    }
    assert load_keys(client) == []


@pytest.fixture
def quick_cluster() -> Iterator[RedisCluster]:
    with running_cluster(3, *QUICK) as cluster:
        yield cluster


def _wait_cluster_ok(client: Any) -> None:
    deadline = time.monotonic() + 30
    while True:
        states = {
            node.redis_connection.cluster("INFO")["cluster_state"]
            for node in client.get_primaries()
        }
        if states == {"ok"}:
            return
        assert time.monotonic() < deadline, f"the cluster stayed {states}"
        time.sleep(0.1)


def test_a_node_that_stops_answering_between_bitmaps_stops_the_load(
    quick_cluster: RedisCluster, archive: Path
) -> None:
    """The node is paused while the next bitmap is staged: nothing of that
    bitmap was committed, so it is as it was, not partial."""
    client = quick_cluster.client(socket_connect_timeout=0.5, socket_timeout=0.5)
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    old_data(bm)
    before = snapshot(bm)
    offline = Bitmapist.open(archive, clock=fixed_clock)
    victim = quick_cluster.servers[1].process

    def pause_after_two(done: int, total: int) -> None:
        if done == 2:
            os.kill(victim.pid, signal.SIGSTOP)

    try:
        with pytest.raises(IncompleteLoadError) as caught:
            bm.load(archive, progress=pause_after_two)
    finally:
        os.kill(victim.pid, signal.SIGCONT)
    _wait_cluster_ok(client)

    error = caught.value
    assert isinstance(error.__cause__, BackendError)
    assert [str(r) for r in error.loaded] == ["universe:", "attribute:a"]
    assert error.partial == ()
    after = snapshot(bm)
    assert after["a"] == snapshot(offline)["a"]
    assert (after["b"], after["c"], after["d"]) == (
        before["b"],
        before["c"],
        before["d"],
    )
    # Staging keys on the paused node may have been written after it woke up;
    # they expire on their own.
    assert all(
        0 < client.ttl(key) <= staging.LOAD_KEY_SECONDS for key in load_keys(client)
    )
    client.close()


def test_a_rollback_that_cannot_reach_a_node_names_the_partial_bitmap(
    quick_cluster: RedisCluster, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """c is refused by one shard and committed on the others; the node of
    some committed shards stops before the rollback reaches it."""
    client = quick_cluster.client(socket_connect_timeout=0.5, socket_timeout=1)
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    old_data(bm)
    refused = SHARDS - 1
    client.set(LAYOUT.periods_key("c", refused), "not a set")
    node_of = {
        shard: client.get_node_from_key(LAYOUT.periods_key("c", shard)).port
        for shard in range(SHARDS)
    }
    victim = next(s for s in quick_cluster.servers if s.port != node_of[refused])
    on_victim = sorted(shard for shard, port in node_of.items() if port == victim.port)
    roll_back = staging._Store.roll_back

    def stop_then_roll_back(store: Any, steps: Any) -> Any:
        victim.stop()
        return roll_back(store, steps)

    monkeypatch.setattr(staging._Store, "roll_back", stop_then_roll_back)

    with pytest.raises(IncompleteLoadError) as caught:
        bm.load(archive)

    error = caught.value
    assert isinstance(error.__cause__, PartlyStoredError)
    assert [str(r) for r in error.partial] == ["event:c@2025-01-15"]
    assert error.__cause__.shards == tuple(on_victim)
    assert "event:c@2025-01-15 may be partly loaded" in str(error)
    assert [str(r) for r in error.loaded] == ["universe:", "attribute:a", "attribute:b"]
    # The live nodes were rolled back: c's keys there are the old ones.
    day = NOW.strftime("%Y-%m-%d")
    for shard, port in node_of.items():
        if port == victim.port:
            continue
        node = client.get_node(host="127.0.0.1", port=port).redis_connection
        found = node.get(LAYOUT.event_key("c", day, shard))
        expected = {0: b"\x04", 3: b"\x04"}.get(shard)
        assert found == expected, shard
    client.close()


def test_a_load_survives_the_servers_losing_the_script(
    target: Bitmapist, archive: Path
) -> None:
    client = target.backend.client  # type: ignore[attr-defined]
    target.load(archive)
    offline = Bitmapist.open(archive, clock=fixed_clock)
    for node in client.get_primaries():
        node.redis_connection.script_flush()

    target.load(archive)

    assert snapshot(target) == snapshot(offline)
    assert load_keys(client) == []


@pytest.mark.parametrize("action", ["set", "delete", "name"])
@pytest.mark.parametrize("committed", [False, True])
def test_a_commit_that_arrives_after_its_rollback_is_refused(
    redis_server: RedisServer, action: str, committed: bool
) -> None:
    """lua/load.lua alone, on one server: whether or not the shard had been
    committed, a commit sent after its rollback (a retry, or one still in
    flight) changes nothing."""
    client = redis_server.client()
    client.flushall()
    ref = BitmapRef(Kind.ATTRIBUTE, "x")
    store = staging._Store(RedisBackend(client), ref, "token", "1")
    key, staged = LAYOUT.bitmap_key(ref, 3), LAYOUT.load_key(3, "token", "staged")
    client.set(key, b"\x80")

    def run(step: str) -> Any:
        keys, args = store.call(3, action, step)
        return client.eval(staging._LOAD, len(keys), *keys, *args)

    if committed:
        client.set(staged, b"\x40")
        assert run("commit") == 1
    assert run("rollback") == int(committed)
    client.set(staged, b"\x40")  # as a late SET of the staging step might

    with pytest.raises(redis.ResponseError, match="rolled back before this commit"):
        run("commit")

    assert client.get(key) == b"\x80"
    assert client.smembers(LAYOUT.names_key(Kind.ATTRIBUTE, 3)) == set()
    assert not client.exists(LAYOUT.load_key(3, "token", "old"))
    assert left_on([client]) == [staged.encode()]
    client.close()


def test_a_bitmap_shrinking_to_fewer_shards_is_rolled_back_whole(
    target: Bitmapist,
) -> None:
    """The shards it leaves are deleted by "delete" steps; one shard refuses,
    and every deleted key comes back, with its deadline."""
    client = target.backend.client  # type: ignore[attr-defined]
    backend = target.backend
    assert isinstance(backend, RedisBackend)
    ref = BitmapRef(Kind.ATTRIBUTE, "wide")
    backend.store(ref, BitMap64([shard * WIDTH + 3 for shard in range(12)]))
    client.pexpire(LAYOUT.bitmap_key(ref, 5), 10**9)
    client.set(LAYOUT.names_key(Kind.ATTRIBUTE, 11), "not a set")
    keys = [LAYOUT.bitmap_key(ref, shard) for shard in range(12)]
    before = [(client.get(k), client.pexpiretime(k)) for k in keys]

    with pytest.raises(BackendResponseError, match="WRONGTYPE"):
        backend.store(ref, BitMap64([5, 11 * WIDTH + 5]))

    assert [(client.get(k), client.pexpiretime(k)) for k in keys] == before
    assert load_keys(client) == []


def after_staging(monkeypatch: pytest.MonkeyPatch, then: Any) -> None:
    """Run ``then()`` once a store has staged its strings, before it commits."""
    stage = staging._Store.stage

    def stage_then(store: Any, bitmap: BitMap64, staged: list[int]) -> None:
        stage(store, bitmap, staged)
        then()

    monkeypatch.setattr(staging._Store, "stage", stage_then)


def test_a_shard_registry_that_refuses_the_shards_stores_nothing(
    target: Bitmapist, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SADD to {meta}:shards fails before any commit: the bitmap is as it
    was and its staged strings are deleted."""
    client = target.backend.client  # type: ignore[attr-defined]
    ref = BitmapRef(Kind.ATTRIBUTE, "b")
    keys = [LAYOUT.bitmap_key(ref, shard) for shard in range(SHARDS)]
    before = [client.get(key) for key in keys]
    registry = LAYOUT.shards_key()
    shards = client.smembers(registry)
    after_staging(monkeypatch, lambda: client.set(registry, "not a set"))

    with pytest.raises(BackendResponseError, match="register shards"):
        target.backend.store(ref, BitMap64(spread(2)))  # type: ignore[attr-defined]

    client.delete(registry)
    client.sadd(registry, *shards)
    assert [client.get(key) for key in keys] == before
    assert load_keys(client) == []


def test_a_registry_node_lost_before_any_commit_is_no_partial_store(
    quick_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node of {meta} stops after staging: the SADD fails, the rollback
    cannot reach that node's shards, yet nothing was committed, so the store
    raises the failure itself, not PartlyStoredError."""
    client = quick_cluster.client(socket_connect_timeout=0.5, socket_timeout=1)
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    old_data(bm)
    port = client.get_node_from_key(LAYOUT.shards_key()).port
    victim = next(s for s in quick_cluster.servers if s.port == port)
    after_staging(monkeypatch, victim.stop)

    with pytest.raises(BackendError) as caught:
        bm.backend.store(  # type: ignore[attr-defined]
            BitmapRef(Kind.ATTRIBUTE, "b"), BitMap64(spread(2))
        )

    assert not isinstance(caught.value, PartlyStoredError)
    assert "register shards" in str(caught.value)
    client.close()


def test_the_command_line_loads_into_a_cluster(
    redis_cluster: RedisCluster, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis_cluster.client()
    client.flushall()

    assert main(["load", str(archive), redis_cluster.url]) == 0

    assert "loaded 5 bitmaps" in capsys.readouterr().out
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    assert len(bm.get_day_event("d", NOW)) == 2 * SHARDS
    client.close()


def test_ids_in_many_pipelines_are_staged_and_committed(
    redis_cluster: RedisCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More shards than one pipeline takes, in staging and in commits."""
    monkeypatch.setattr(staging, "SHARDS_PER_PIPELINE", 5)
    client = redis_cluster.client()
    client.flushall()
    offline = Bitmapist(clock=fixed_clock)
    ids = np.arange(0, 40 * WIDTH, WIDTH // 4 + 1, dtype=np.uint64)
    offline.mark_events("wide", ids, NOW, granularities="day")
    offline.export(tmp_path / "wide.bma")
    bm = Bitmapist(redis_client=client, clock=fixed_clock)

    bm.load(tmp_path / "wide.bma")

    assert bm.get_day_event("wide", NOW).to_numpy().tolist() == ids.tolist()
    assert load_keys(client) == []
    client.close()


def test_a_universe_that_fails_part_way_is_named_partial(
    target: Bitmapist, archive: Path
) -> None:
    """The universe only grows: what its committed shards ORed in stays."""
    client = target.backend.client  # type: ignore[attr-defined]
    client.rpush(LAYOUT.bitmap_key(UNIVERSE, SHARDS - 1), "not a string")

    with pytest.raises(IncompleteLoadError) as caught:
        target.load(archive)

    error = caught.value
    assert error.loaded == ()
    assert error.partial == (UNIVERSE,)
    assert isinstance(error.__cause__, PartlyStoredError)
    assert SHARDS - 1 not in error.__cause__.shards
    assert 0 in error.__cause__.shards
    assert "the universe only grows" in str(error)
    assert target.get_attribute_names() == ["b"]
    assert load_keys(client) == []
