"""The id map: str, bytes, UUID and int ids on every backend, and under
concurrent writers (threads and processes)."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bitmapist import Bitmapist, InvalidIdError, idmap
from bitmapist.backends import redis_idmap
from bitmapist.errors import BackendError
from bitmapist.idmap import MappedIds, encode
from bitmapist.testing import RedisCluster, RedisServer

from .conftest import NOW, MakeBitmapist

USER = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture
def mapped(make_bitmapist: MakeBitmapist) -> Bitmapist:
    return make_bitmapist(id_map=True)


def test_any_kind_of_id_is_marked_and_comes_back_as_given(mapped: Bitmapist) -> None:
    ids: list[Any] = ["alice", b"\x00raw", USER, 2**64 - 1, 7, "7", b"7"]

    mapped.mark_events("a", ids, NOW)
    mapped.mark_attribute("paid", "alice")
    day = mapped.get_day_event("a", NOW)

    numbers = day.to_numpy().tolist()
    given = list(iter(day))
    in_given_order = sorted(given, key=ids.index)  # given: by their integers
    assert in_given_order == ids
    assert [type(i) for i in in_given_order] == [type(i) for i in ids]
    assert len(day) == len(set(numbers)) == 7
    assert all(i in day for i in ids)
    assert 8 not in day
    assert list(iter(day & mapped.get_attribute("paid"))) == ["alice"]
    assert list(iter(~mapped.get_attribute("paid"))) == [
        i for i in given if i != "alice"
    ]
    assert isinstance(mapped.ids, MappedIds)
    assert mapped.ids.id_map.external(numbers) == [encode(i) for i in given]


def test_asking_about_an_unknown_id_does_not_add_it(mapped: Bitmapist) -> None:
    mapped.mark_event("a", "known", NOW)

    assert "stranger" not in mapped.get_day_event("a", NOW)
    mapped.unmark_event("a", "ghost", NOW)
    mapped.unmark_attribute("p", "ghost")
    mapped.mark_event("a", "second", NOW)

    assert sorted(iter(mapped.get_universe())) == ["known", "second"]
    assert sorted(key for _, key in _entries(mapped)) == [b"sknown", b"ssecond"]


def _entries(bm: Bitmapist) -> list[tuple[int, bytes]]:
    assert isinstance(bm.ids, MappedIds)
    return list(bm.ids.id_map.entries())


def test_unmarking_a_mapped_id(mapped: Bitmapist) -> None:
    mapped.mark_events("a", ["x", "y"], NOW)

    mapped.unmark_event("a", "x", NOW)

    assert list(iter(mapped.get_day_event("a", NOW))) == ["y"]
    assert "x" in mapped.get_universe()


def test_two_instances_share_the_map_of_their_store(
    make_bitmapist: MakeBitmapist,
) -> None:
    writer, reader = make_bitmapist(id_map=True), make_bitmapist(id_map=True)

    writer.mark_event("a", USER, NOW)

    assert USER in reader.get_day_event("a", NOW)
    assert list(iter(reader.get_day_event("a", NOW))) == [USER]


def test_delete_all_empties_the_map(mapped: Bitmapist) -> None:
    mapped.mark_event("a", "first", NOW)

    mapped.delete_all()
    mapped.mark_event("a", "second", NOW)

    assert [key for _, key in _entries(mapped)] == [b"ssecond"]
    assert "first" not in mapped.get_universe()


def test_a_string_id_without_the_map_says_how_to_enable_it(bm: Bitmapist) -> None:
    with pytest.raises(InvalidIdError, match=r"id_map=True"):
        bm.mark_event("a", "alice", NOW)
    with pytest.raises(InvalidIdError, match=r"id_map=True"):
        assert USER in bm.get_day_event("a", NOW)


@pytest.mark.parametrize("bad", [1.5, None, True, -1, 2**64, "x" * 1025, "\udc80"])
def test_bad_ids_with_the_map_write_nothing(mapped: Bitmapist, bad: Any) -> None:
    with pytest.raises(InvalidIdError):
        mapped.mark_events("a", ["fine", bad], NOW)

    assert len(mapped.get_universe()) == 0
    assert "fine" not in mapped.get_universe()


def _assert_one_to_one(ids: MappedIds, external: list[Any]) -> None:
    """Every external id has one integer, no integer two ids, and the map's
    entries are exactly these ids."""
    numbers = ids.id_map.lookup([encode(value) for value in external])
    assert None not in numbers
    assert len(set(numbers)) == len(external)
    assert [k for k in ids.id_map.external(numbers)] == [  # type: ignore[arg-type]
        encode(value) for value in external
    ]
    entries = list(ids.id_map.entries())
    assert [n for n, _ in entries] == sorted(numbers)  # type: ignore[type-var]
    assert sorted(key for _, key in entries) == sorted(map(encode, external))


def _overlapping(worker: int) -> list[Any]:
    """Ids that four workers share in part, in an order of their own."""
    ids: list[Any] = [f"user-{n}" for n in range(worker * 50, worker * 50 + 150)]
    ids += [uuid.UUID(int=n) for n in range(40)]
    return ids[::-1] if worker % 2 else ids


def test_concurrent_threads_give_each_id_one_integer(mapped: Bitmapist) -> None:
    assert isinstance(mapped.ids, MappedIds)
    seen: dict[int, list[int]] = {}
    barrier = threading.Barrier(4)

    def work(worker: int) -> None:
        barrier.wait()
        ids = _overlapping(worker)
        for start in range(0, len(ids), 7):
            mapped.mark_events("a", ids[start : start + 7], NOW)
        seen[worker] = mapped.ids.for_writing(ids).tolist()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everyone = sorted({*(i for n in range(4) for i in _overlapping(n))}, key=str)
    _assert_one_to_one(mapped.ids, everyone)
    for worker, numbers in seen.items():
        expected = mapped.ids.for_writing(_overlapping(worker)).tolist()
        assert numbers == expected
    assert len(mapped.get_day_event("a", NOW)) == len(everyone)


def _process_worker(url: str, worker: int) -> list[int]:
    bm = Bitmapist.from_url(url, id_map=True)
    ids = _overlapping(worker)
    for start in range(0, len(ids), 5):
        bm.mark_events("a", ids[start : start + 5], NOW)
    assert isinstance(bm.ids, MappedIds)
    numbers: list[int] = bm.ids.for_writing(ids).tolist()
    bm.close()
    return numbers


@pytest.fixture(params=["redis", "cluster"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client().flushall()
        yield server.url
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.client().flushall()
        yield cluster.url


@pytest.mark.redis_server
def test_concurrent_processes_give_each_id_one_integer(store_url: str) -> None:
    context = multiprocessing.get_context("spawn")

    with context.Pool(4) as pool:
        results = pool.starmap(_process_worker, [(store_url, n) for n in range(4)])

    bm = Bitmapist.from_url(store_url, id_map=True)
    assert isinstance(bm.ids, MappedIds)
    everyone = sorted({*(i for n in range(4) for i in _overlapping(n))}, key=str)
    _assert_one_to_one(bm.ids, everyone)
    for worker, numbers in enumerate(results):
        assert numbers == bm.ids.for_writing(_overlapping(worker)).tolist()
    assert len(bm.get_day_event("a", NOW)) == len(everyone)
    bm.close()


def test_entries_list_the_map_in_ascending_order_in_batches(
    mapped: Bitmapist, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idmap, "BATCH", 3)
    monkeypatch.setattr(redis_idmap, "ENTRIES_BATCH", 3)
    ids: list[Any] = [f"user-{n}" for n in range(7)] + [USER, b"\x00", 2**64 - 1]
    mapped.mark_events("a", ids, NOW)
    assert isinstance(mapped.ids, MappedIds)

    found = list(mapped.ids.id_map.entries())

    numbers = mapped.ids.for_writing(ids).tolist()
    assert [n for n, _ in found] == sorted(numbers)
    assert dict(found) == {n: encode(v) for n, v in zip(numbers, ids, strict=True)}


@pytest.mark.redis_server
def test_a_large_map_in_redis_stays_compact_and_dense(
    redis_server: RedisServer,
) -> None:
    """40,000 ids fill several levels of every bucket: every hash stays
    listpack-encoded, the integers stay below 1.3 times the count (they reach
    the fullest of 256 buckets' counts, about 156 ids each here, times 256),
    and every entry reads back in integer order."""
    client = redis_server.client()
    client.flushall()
    bm = Bitmapist(redis_client=client, id_map=True)
    ids = [f"user-{n}" for n in range(40_000)]

    bm.mark_events("a", ids, NOW)

    assert isinstance(bm.ids, MappedIds)
    stored = set(client.scan_iter(match="bitmapist:ids*", count=1000))
    assert {client.object("ENCODING", key) for key in stored} == {b"listpack"}
    keys = bm.ids.id_map.keys()  # type: ignore[attr-defined]
    assert stored <= {key.encode() for key in keys}
    numbers = bm.ids.for_writing(ids)
    assert len(set(numbers.tolist())) == len(ids)
    assert int(numbers.max()) < 1.3 * len(ids)
    entries = list(bm.ids.id_map.entries())
    assert [n for n, _ in entries] == sorted(numbers.tolist())
    assert dict(entries) == {
        int(n): encode(i) for n, i in zip(numbers, ids, strict=True)
    }
    client.close()


@pytest.mark.redis_server
def test_a_numbering_that_fails_part_way_never_gives_two_ids_one_integer(
    redis_server: RedisServer,
) -> None:
    """Foreign data in a reverse hash fails the script after it has begun;
    the number it reserved is left unused, not handed out again."""
    client = redis_server.client()
    client.flushall()
    bm = Bitmapist(redis_client=client, id_map=True)
    assert isinstance(bm.ids, MappedIds)
    first, second = [
        name
        for name in (f"u{n}" for n in range(5000))
        if redis_idmap._hash(encode(name)) % redis_idmap.BUCKETS == 0
    ][:2]
    reverse = bm.backend.layout.id_map_key(0, "r0")  # type: ignore[attr-defined]
    client.rpush(reverse, "not ours")

    with pytest.raises(BackendError, match="WRONGTYPE"):
        bm.mark_event("a", first, NOW)
    client.delete(reverse)
    bm.mark_events("a", [second, first], NOW)

    numbers = bm.ids.id_map.lookup([encode(first), encode(second)])
    assert None not in numbers
    assert len(set(numbers)) == 2
    assert sorted(bm.get_day_event("a", NOW)) == sorted([first, second])
    client.close()
