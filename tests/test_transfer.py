"""Export, load and open on every backend: round trips that give identical
bitmaps, the selection of what is exported, loads that stop part way, and the
in-process store that persists itself in the same file format."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap64

from bitmapist import (
    ArchiveError,
    Bitmapist,
    ConfigurationError,
    IncompleteLoadError,
    RedisBackend,
    RoaringBackend,
    WriteRefusedError,
)
from bitmapist.archive import ArchiveReader, ArchiveWriter
from bitmapist.backends import redis as redis_backend
from bitmapist.backends.base import Exportable
from bitmapist.cli import main
from bitmapist.expressions import UNIVERSE, BitmapRef, Kind
from bitmapist.idmap import MappedIds
from bitmapist.testing import RedisServer, redis_server_path, running_redis

from .conftest import NOW, REQUIRE_REDIS, MakeBitmapist, fixed_clock

Contents = dict[str, list[int]]


def contents(bm: Bitmapist) -> Contents:
    """Every stored bitmap by ref (its period named by code), with its ids."""
    backend = bm.backend
    assert isinstance(backend, Exportable)
    return {str(ref): list(backend.members(ref)) for ref in backend.refs()}


def fresh(
    make_bitmapist: MakeBitmapist, backend_kind: str, **options: object
) -> Bitmapist:
    """An instance on this row's backend whose store no other instance sees."""
    if backend_kind == "roaring":
        return make_bitmapist(backend=RoaringBackend(), **options)
    return make_bitmapist(prefix="other", **options)


def through_files(
    source: Bitmapist, target: Bitmapist, paths: pytest.TempPathFactory
) -> tuple[Path, Path, Bitmapist]:
    """source -> first file -> opened offline -> second file -> target."""
    directory = paths.mktemp("round-trip")
    first, second = directory / "first.bma", directory / "second.bma"
    source.export(first)
    offline = Bitmapist.open(first, clock=fixed_clock)
    offline.export(second)
    target.load(second)
    return first, second, offline


ids = st.one_of(
    st.integers(0, 2**16),
    st.integers(2**32 - 8, 2**32 + 8),
    st.integers(2**64 - 2**20, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)
marks = st.lists(
    st.tuples(
        st.sampled_from(["active", "song:played", "paid"]),
        st.lists(ids, min_size=1, max_size=6),
        st.integers(-40, 0),
        st.booleans(),
    ),
    max_size=6,
)


# Capped below the ci profile: on the fakeredis row, whose scripts run in
# lupa, an example with ids in many shards takes a good part of a second.
@settings(
    max_examples=min(settings().max_examples, 25),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    marks=marks,
    zone=st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Chatham"]),
)
def test_round_trip_through_files_and_roaring_is_identical(
    make_bitmapist: MakeBitmapist,
    backend_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    marks: list[tuple[str, list[int], int, bool]],
    zone: str,
) -> None:
    """store -> file -> Roaring -> file -> store gives the same bitmaps and
    byte-identical files."""
    source = make_bitmapist(timezone=zone)
    target = fresh(make_bitmapist, backend_kind, timezone=zone)
    source.delete_all()
    target.delete_all()
    for name, uids, days, clear in marks:
        when = NOW + timedelta(days=days)
        if name == "paid":
            for uid in uids:
                source.mark_attribute(name, uid)
            continue
        source.mark_events(name, uids, when, granularities=["hour", "day", "week"])
        if clear:
            source.unmark_event(name, uids[0], when, granularities=["day"])

    first, second, _ = through_files(source, target, tmp_path_factory)

    # Equal files show the offline copy holds what the source does.
    assert first.read_bytes() == second.read_bytes()
    assert contents(target) == contents(source)


def test_files_carry_bitmaps_between_backends(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    bm = make_bitmapist()
    bm.mark_events("active", [1, 2**63, 2**64 - 1], NOW)
    bm.mark_attribute("paid", 2**63)
    bm.export(tmp_path / "a.bma")
    elsewhere = Bitmapist(clock=fixed_clock)

    elsewhere.load(tmp_path / "a.bma")

    assert list(elsewhere.get_week_event("active", NOW)) == [1, 2**63, 2**64 - 1]
    assert list(elsewhere.get_attribute("paid")) == [2**63]
    assert list(~elsewhere.get_attribute("paid")) == [1, 2**64 - 1]


def test_export_chooses_names_and_whole_periods(bm: Bitmapist, tmp_path: Path) -> None:
    bm.mark_event("a", 1, date(2025, 1, 31))
    bm.mark_event("a", 2, date(2025, 2, 1))
    bm.mark_event("b", 3, date(2025, 1, 31))
    bm.mark_attribute("paid", 4)
    bm.mark_attribute("other", 5)

    bm.export(tmp_path / "jan.bma", ["a", "paid"], date(2025, 1, 1), date(2025, 2, 1))
    with ArchiveReader(tmp_path / "jan.bma") as reader:
        chosen = sorted(str(entry.ref) for entry in reader.entries)

    assert chosen == [
        "attribute:paid",
        "event:a@2025-01",
        "event:a@2025-01-31",
        "universe:",
    ]


def test_the_universe_keeps_not_meaning_the_same_offline(
    bm: Bitmapist, tmp_path: Path
) -> None:
    bm.mark_event("a", 1, NOW)
    bm.mark_event("b", 2, NOW)
    bm.export(tmp_path / "a.bma", names=["a"])

    offline = Bitmapist.open(tmp_path / "a.bma", clock=fixed_clock)

    assert list(~offline.get_day_event("a", NOW)) == [2]


def test_load_replaces_bitmaps_and_adds_to_the_universe(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    bm = make_bitmapist()
    bm.mark_events("a", [1, 2], NOW)
    bm.export(tmp_path / "a.bma")
    bm.delete_all()
    bm.mark_events("a", [3], NOW)
    bm.mark_events("b", [4], NOW)

    bm.load(tmp_path / "a.bma")

    assert list(bm.get_day_event("a", NOW)) == [1, 2]
    assert list(bm.get_day_event("b", NOW)) == [4]
    assert list(bm.get_universe()) == [1, 2, 3, 4]


def test_load_refuses_a_file_of_another_time_zone(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    Bitmapist(timezone="Asia/Tokyo").export(tmp_path / "tokyo.bma")
    bm = make_bitmapist()

    with pytest.raises(ConfigurationError, match="Asia/Tokyo"):
        bm.load(tmp_path / "tokyo.bma")


def test_a_damaged_file_writes_nothing(bm: Bitmapist, tmp_path: Path) -> None:
    other = Bitmapist(clock=fixed_clock)
    other.mark_events("a", list(range(100)), NOW)
    other.mark_events("b", list(range(100)), NOW)
    other.export(tmp_path / "a.bma")
    with ArchiveReader(tmp_path / "a.bma") as reader:
        last = max(reader.entries, key=lambda e: e.offset)
    data = bytearray((tmp_path / "a.bma").read_bytes())
    data[last.offset] ^= 0xFF
    (tmp_path / "a.bma").write_bytes(data)

    with pytest.raises(ArchiveError):
        bm.load(tmp_path / "a.bma")

    assert bm.get_event_names() == []


@pytest.fixture
def small_redis() -> Iterator[RedisServer]:
    """A server of its own with little memory, so that a load runs out of it."""
    if redis_server_path() is None:
        if REQUIRE_REDIS:
            pytest.fail("BITMAPIST_REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH (apt-get install redis-server)")
    with running_redis("--maxmemory", "6mb", "--maxmemory-policy", "noeviction") as s:
        yield s


def test_a_load_that_runs_out_of_memory_names_what_it_loaded(
    small_redis: RedisServer, tmp_path: Path
) -> None:
    """Each bitmap is either wholly loaded or left as it was."""
    offline = Bitmapist(clock=fixed_clock)
    for n in range(12):
        ids = np.arange(n, 2**22, 5, dtype=np.uint64)
        offline.mark_events(f"e{n:02d}", ids, NOW, granularities="day")
    offline.export(tmp_path / "big.bma")
    bm = Bitmapist(redis_client=small_redis.client(), clock=fixed_clock)
    for n in range(12):
        bm.mark_event(f"e{n:02d}", 7, NOW, granularities="day")

    with pytest.raises(IncompleteLoadError) as caught:
        bm.load(tmp_path / "big.bma")

    error = caught.value
    assert isinstance(error.__cause__, WriteRefusedError)
    assert error.loaded and error.not_loaded
    assert len(error.loaded) + len(error.not_loaded) == 13  # with the universe
    for ref in error.loaded + error.not_loaded:
        if ref.period is None:
            continue
        found = list(bm.get_day_event(ref.name, NOW))
        if ref in error.loaded:
            assert found == list(offline.get_day_event(ref.name, NOW))
        else:
            assert found == [7]
    assert "Loaded" in str(error) and str(error.not_loaded[-1]) in str(error)


def test_open_is_read_only_unless_asked(bm: Bitmapist, tmp_path: Path) -> None:
    bm.mark_event("a", 1, NOW)
    bm.export(tmp_path / "a.bma")
    before = (tmp_path / "a.bma").read_bytes()

    offline = Bitmapist.open(tmp_path / "a.bma", clock=fixed_clock)
    with pytest.raises(WriteRefusedError, match="read-only"):
        offline.mark_event("a", 2, NOW)
    with pytest.raises(WriteRefusedError):
        offline.delete_all()
    offline.close()

    assert (tmp_path / "a.bma").read_bytes() == before
    assert list(offline.get_day_event("a", NOW)) == [1]


def test_open_writable_saves_on_close(bm: Bitmapist, tmp_path: Path) -> None:
    bm.mark_event("a", 1, NOW)
    bm.export(tmp_path / "a.bma")

    with Bitmapist.open(tmp_path / "a.bma", writable=True, clock=fixed_clock) as f:
        f.mark_event("a", 2, NOW)

    again = Bitmapist.open(tmp_path / "a.bma", clock=fixed_clock)
    assert list(again.get_day_event("a", NOW)) == [1, 2]


def test_open_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        Bitmapist.open(tmp_path / "missing.bma")


def test_roaring_backend_persists_on_save_and_close(tmp_path: Path) -> None:
    path = tmp_path / "store.bma"
    backend = RoaringBackend(path=path)
    bm = Bitmapist(backend=backend, timezone="Europe/Berlin", clock=fixed_clock)
    bm.mark_event("a", 2**64 - 1, NOW)

    assert not path.exists()
    backend.save()
    bm.mark_event("a", 5, NOW)
    saved = Bitmapist.open(path, clock=fixed_clock)
    bm.close()
    closed = RoaringBackend(path=path)

    assert list(saved.get_day_event("a", NOW)) == [2**64 - 1]
    assert closed.timezone is not None and str(closed.timezone) == "Europe/Berlin"
    reopened = Bitmapist(backend=closed, timezone=closed.timezone, clock=fixed_clock)
    assert list(reopened.get_day_event("a", NOW)) == [5, 2**64 - 1]


def test_a_roaring_backend_without_a_file_cannot_save() -> None:
    with pytest.raises(ConfigurationError, match="no file"):
        RoaringBackend().save()


def test_bad_selections_fail_before_any_io(bm: Bitmapist, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Bitmapist(timezone=timezone(timedelta(hours=2))).export(tmp_path / "x.bma")
    with pytest.raises(ValueError, match="white space"):
        bm.export(tmp_path / "x.bma", names=["a b"])
    with pytest.raises(ValueError, match="since"):
        bm.export(tmp_path / "x.bma", since="2025-01-01")  # type: ignore[arg-type]

    assert list(tmp_path.iterdir()) == []


def test_the_command_line_exports_loads_and_describes(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Bitmapist(redis_client=redis_server.client(), clock=fixed_clock)
    source.delete_all()
    source.mark_events("active", [1, 2, 3], NOW)
    source.mark_attribute("paid", 2)
    file = tmp_path / "cli.bma"

    assert main(["export", redis_server.url, str(file)]) == 0
    assert main(["info", str(file), "--verify"]) == 0
    assert main(["load", str(file), redis_server.url, "--prefix", "copy"]) == 0

    shown = capsys.readouterr().out
    assert "wrote 6 bitmaps" in shown
    active = next(line for line in shown.splitlines() if "active" in line)
    assert active.split()[:3] == ["event", "active", "4"]
    assert "day, week, month, year  2025-01-01 .. 2025-12-31" in active
    assert "all 6 bitmaps match" in shown
    copy = Bitmapist(redis_client=redis_server.client(), prefix="copy")
    assert contents(copy) == contents(source)
    assert main(["info", str(tmp_path / "missing.bma")]) == 1


def test_the_command_line_moves_an_id_map(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis_server.client()
    client.flushall()
    source = Bitmapist(redis_client=client, id_map=True, clock=fixed_clock)
    source.mark_events("active", ["alice", "bob"], NOW)
    copy = Bitmapist(redis_client=client, prefix="copy", id_map=True)
    copy.mark_event("active", "carol", date(2024, 1, 1))
    file, plain = tmp_path / "mapped.bma", tmp_path / "plain.bma"
    Bitmapist(clock=fixed_clock).export(plain)

    assert main(["export", redis_server.url, str(file)]) == 0
    assert main(["info", str(file), "--verify"]) == 0
    assert main(["load", str(file), redis_server.url, "--prefix", "copy"]) == 0
    assert main(["load", str(plain), redis_server.url, "--prefix", "copy"]) == 1

    shown = capsys.readouterr()
    assert "an id map of 2 ids" in shown.out
    assert "store without an id map" in shown.err
    # A map in Redis numbers ids by a hash: iteration has no first-seen order.
    assert sorted(copy.get_day_event("active", NOW)) == ["alice", "bob"]
    assert set(copy.get_universe()) == {"alice", "bob", "carol"}
    client.close()


def test_a_store_with_an_id_map_exports_it_and_refuses_a_plain_file(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    """Through an instance made without id_map=True too: the file keeps the
    map, and a plain file's integers are not mixed into the map's."""
    plain = make_bitmapist()
    mapped = make_bitmapist(id_map=True)
    mapped.mark_events("active", ["alice", "bob"], NOW)
    other = Bitmapist(clock=fixed_clock)
    other.mark_event("active", 5, NOW)
    other.export(tmp_path / "plain.bma")
    before = contents(plain)

    plain.export(tmp_path / "store.bma")
    with pytest.raises(ConfigurationError, match="store without an id map"):
        plain.load(tmp_path / "plain.bma")

    offline = Bitmapist.open(tmp_path / "store.bma", clock=fixed_clock)
    assert sorted(offline.get_day_event("active", NOW)) == ["alice", "bob"]
    assert contents(plain) == before


def test_refs_name_every_bitmap(bm: Bitmapist) -> None:
    bm.mark_event("a", 1, NOW, granularities=["hour", "year"])
    bm.mark_attribute("p", 2)
    backend = bm.backend
    assert isinstance(backend, Exportable)

    found = sorted(str(ref) for ref in backend.refs())

    assert found == [
        "attribute:p",
        "event:a@2025",
        "event:a@2025-01-15T12",
        "universe:",
    ]
    assert all(isinstance(ref, BitmapRef) for ref in backend.refs())


def test_a_roaring_file_keeps_one_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "store.bma"
    backend = RoaringBackend(path=path)
    Bitmapist(backend=backend, timezone=timezone.utc).mark_event("a", 1, NOW)
    backend.save()
    again = RoaringBackend(path=path)
    Bitmapist(backend=again, timezone=timezone.utc).mark_event("a", 2, NOW)
    again.save()  # timezone.utc and the file's ZoneInfo("UTC") are one zone
    Bitmapist(backend=again, timezone="Asia/Tokyo").mark_event("a", 3, NOW)

    with pytest.raises(ArchiveError, match="Asia/Tokyo, UTC"):
        again.save()

    assert list(Bitmapist.open(path).get_day_event("a", NOW)) == [1, 2]


@pytest.mark.parametrize("window", [1, 3, 2**20])
def test_redis_stores_a_bitmap_a_window_of_ids_at_a_time(
    monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """Windows hold whole shards, whatever their size, up to the largest id."""
    monkeypatch.setattr(redis_backend, "_WINDOW", window)
    backend = RedisBackend(fakeredis.FakeRedis(), shard_width=8)
    ids = [0, 1, 7, 8, 9, 15, 16, 40, 41, 42, 43, 44, 2**64 - 9, 2**64 - 1]
    ref = BitmapRef(Kind.ATTRIBUTE, "x")

    backend.store(ref, BitMap64(ids))

    assert list(backend.members(ref)) == ids
    assert list(backend.members(UNIVERSE)) == ids


def test_redis_stores_ids_just_below_a_shard_edge_above_2_to_the_53() -> None:
    """Found by the round trip: 2**54 - 1 ends a shard, and as a float the
    edge 2**54 equals it."""
    backend = RedisBackend(fakeredis.FakeRedis())
    ids = [2**54 - 1, 2**63 - 1, 2**64 - 2**16 - 1]
    ref = BitmapRef(Kind.ATTRIBUTE, "x")

    backend.store(ref, BitMap64(ids))

    assert list(backend.members(ref)) == ids


def test_the_bitmapist3_layout_exports_its_years_and_loads_without_them(
    tmp_path: Path,
) -> None:
    """3.x keeps no years (the OR of months) and no universe: a file from it
    holds the years read, and a load into it keeps only what it stores."""

    def on_3x() -> Bitmapist:
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return Bitmapist(
            redis_client=client, key_layout="bitmapist3", clock=fixed_clock
        )

    source = on_3x()
    source.mark_event("active", 5, NOW)
    source.mark_event("active", 2**20, NOW, granularities=["day", "month", "year"])
    source.export(tmp_path / "3x.bma")
    target = on_3x()

    target.load(tmp_path / "3x.bma")

    offline = Bitmapist.open(tmp_path / "3x.bma", clock=fixed_clock)
    assert list(offline.get_year_event("active", NOW)) == [5, 2**20]
    assert list(target.get_year_event("active", NOW)) == [5, 2**20]
    client = target.backend.client  # type: ignore[attr-defined]
    keys = sorted(key.decode() for key in client.scan_iter())
    assert keys == [
        "trackist_active_2025-1",
        "trackist_active_2025-1-15",
        "trackist_active_W2025-3",
    ]


external_ids = st.one_of(
    st.text(max_size=8),
    st.uuids(),
    st.binary(max_size=6),
    st.integers(0, 2**64 - 1),
)


def external_contents(bm: Bitmapist) -> dict[str, set[Any]]:
    """Every stored bitmap by ref, with the ids callers gave."""
    backend = bm.backend
    assert isinstance(backend, Exportable) and isinstance(bm.ids, MappedIds)
    return {
        str(ref): set(bm.ids.external(backend.member_ids(ref)))
        for ref in backend.refs()
    }


@settings(
    max_examples=min(settings().max_examples, 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    marks=st.lists(
        st.tuples(
            st.sampled_from(["active", "paid"]),
            st.lists(external_ids, min_size=1, max_size=5),
            st.integers(-3, 0),
        ),
        max_size=5,
    ),
    already=st.lists(external_ids, max_size=4),
)
def test_round_trip_with_mapped_ids_gives_the_same_ids(
    make_bitmapist: MakeBitmapist,
    backend_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    marks: list[tuple[str, list[Any], int]],
    already: list[Any],
) -> None:
    """String, bytes, UUID and integer ids: store -> file -> open -> file ->
    a store whose map already holds some ids (and others) under other
    integers: every bitmap holds the same ids, and the untouched ones stay."""
    source = make_bitmapist(id_map=True)
    target = fresh(make_bitmapist, backend_kind, id_map=True)
    source.delete_all()
    target.delete_all()
    for name, uids, days in marks:
        if name == "paid":
            for uid in uids:
                source.mark_attribute(name, uid)
        else:
            source.mark_events(
                name, uids, NOW + timedelta(days=days), granularities="day"
            )
    # The target numbers its own ids first, so the same ids get other integers.
    target.mark_events(
        "own", ["only-here", *already, *reversed(already)], NOW, granularities="day"
    )
    before = external_contents(target)

    first, second, offline = through_files(source, target, tmp_path_factory)

    assert external_contents(offline) == external_contents(source)
    found = external_contents(target)
    expected = external_contents(source)
    for ref, ids in before.items():
        expected[ref] = expected.get(ref, set()) | ids if ref == "universe:" else ids
    assert found == expected
    assert first.read_bytes() == second.read_bytes()


def test_ids_through_a_map_come_back_offline(bm: Bitmapist, tmp_path: Path) -> None:
    mapped = Bitmapist(backend=bm.backend, id_map=True, clock=fixed_clock)
    user = uuid.UUID(int=7)
    mapped.mark_events("active", ["alice", user, b"\x00", 2**64 - 1], NOW)
    mapped.mark_attribute("paid", "alice")

    mapped.export(tmp_path / "m.bma")
    offline = Bitmapist.open(tmp_path / "m.bma", clock=fixed_clock)

    found = list(offline.get_day_event("active", NOW))
    assert len(found) == 4
    assert set(found) == {"alice", user, b"\x00", 2**64 - 1}
    assert set(~offline.get_attribute("paid")) == {user, b"\x00", 2**64 - 1}
    assert "alice" in offline.get_attribute("paid")


def test_a_mapped_file_and_a_plain_instance_refuse_each_other(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    with_map = Bitmapist(id_map=True, clock=fixed_clock)
    with_map.mark_event("a", "alice", NOW)
    with_map.export(tmp_path / "mapped.bma")
    plain = Bitmapist(clock=fixed_clock)
    plain.mark_event("a", 1, NOW)
    plain.export(tmp_path / "plain.bma")
    target = make_bitmapist()
    mapped_target = make_bitmapist(id_map=True)

    with pytest.raises(ConfigurationError, match=r"Bitmapist\(\.\.\., id_map=True\)"):
        target.load(tmp_path / "mapped.bma")
    with pytest.raises(ConfigurationError, match="without id_map"):
        mapped_target.load(tmp_path / "plain.bma")
    with pytest.raises(ConfigurationError, match="leave id_map out"):
        Bitmapist.open(tmp_path / "mapped.bma", id_map=False)

    assert target.get_event_names() == []
    assert list(target.get_universe()) == []


def test_a_roaring_file_keeps_its_id_map(tmp_path: Path) -> None:
    path = tmp_path / "store.bma"
    bm = Bitmapist(backend=RoaringBackend(path=path), id_map=True, clock=fixed_clock)
    bm.mark_events("a", ["x", "y"], NOW)
    bm.close()
    again = RoaringBackend(path=path)
    reopened = Bitmapist(backend=again, id_map=again.mapped, clock=fixed_clock)

    reopened.mark_event("a", "z", NOW)

    assert list(iter(reopened.get_day_event("a", NOW))) == ["x", "y", "z"]
    assert reopened.get_day_event("a", NOW).to_numpy().tolist() == [0, 1, 2]


def test_a_roaring_file_refuses_an_instance_whose_ids_do_not_match(
    tmp_path: Path,
) -> None:
    mapped, plain = tmp_path / "mapped.bma", tmp_path / "plain.bma"
    with Bitmapist(backend=RoaringBackend(path=mapped), id_map=True) as bm:
        bm.mark_event("a", "x", NOW)
    with Bitmapist(backend=RoaringBackend(path=plain)) as bm:
        bm.mark_event("a", 7, NOW)

    with pytest.raises(ConfigurationError, match="pass id_map=True"):
        Bitmapist(backend=RoaringBackend(path=mapped))
    with pytest.raises(ConfigurationError, match="leave id_map out"):
        Bitmapist(backend=RoaringBackend(path=plain), id_map=True)

    assert Bitmapist(backend=RoaringBackend(path=tmp_path / "new.bma"), id_map=True)


def test_a_roaring_file_is_not_replaced_by_one_it_could_not_open(
    tmp_path: Path,
) -> None:
    """A plain instance made while the store was empty writes an integer the
    map does not list: save() refuses, and the file stays as it was."""
    path = tmp_path / "store.bma"
    backend = RoaringBackend(path=path)
    plain = Bitmapist(backend=backend, clock=fixed_clock)
    mapped = Bitmapist(backend=backend, id_map=True, clock=fixed_clock)
    mapped.mark_events("a", ["x", "y"], NOW)
    backend.save()
    saved = path.read_bytes()
    plain.mark_event("a", 12345, NOW)

    with pytest.raises(ArchiveError, match="12345"):
        backend.save()

    assert path.read_bytes() == saved
    assert RoaringBackend(path=path).mapped


def test_a_bitmap_holding_an_integer_the_map_lacks_is_refused(
    make_bitmapist: MakeBitmapist, tmp_path: Path
) -> None:
    """Refused before the file's ids are numbered in the target's map."""
    with ArchiveWriter(tmp_path / "bad.bma", timezone.utc, id_map=True) as writer:
        writer.add(UNIVERSE, BitMap64([0, 1]))
        writer.add_id_map([(0, b"salice")])
    target = make_bitmapist(id_map=True)
    target.mark_event("a", "bob", NOW)
    assert isinstance(target.ids, MappedIds)
    before = list(target.ids.id_map.entries())

    with pytest.raises(ArchiveError, match="integer 1, which the file's id map"):
        target.load(tmp_path / "bad.bma")
    with pytest.raises(ArchiveError, match="the id map does not list"):
        Bitmapist.open(tmp_path / "bad.bma")

    assert list(target.ids.id_map.entries()) == before
    assert [key for _, key in before] == [b"sbob"]


def test_a_file_listing_one_id_under_two_integers_is_refused(
    make_bitmapist: MakeBitmapist, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loading it would merge the two integers' ids into one."""
    path = tmp_path / "twice.bma"
    with ArchiveWriter(path, timezone.utc, id_map=True) as writer:
        writer.add(UNIVERSE, BitMap64([0, 1]))
        writer.add(BitmapRef(Kind.ATTRIBUTE, "paid"), BitMap64([0, 1]))
        writer.add_id_map([(0, b"salice"), (1, b"salice")])
    target = make_bitmapist(id_map=True)
    assert isinstance(target.ids, MappedIds)

    with pytest.raises(ArchiveError, match="'alice' has two integers, 0 and 1"):
        target.load(path)
    with pytest.raises(ArchiveError, match="two integers"), ArchiveReader(path) as r:
        r.verify_id_map()
    with pytest.raises(ArchiveError, match="two integers"):
        Bitmapist.open(path)
    assert main(["info", str(path), "--verify"]) == 1

    assert "two integers" in capsys.readouterr().err
    assert target.get_attribute_names() == []
    assert list(target.ids.id_map.entries()) == []
