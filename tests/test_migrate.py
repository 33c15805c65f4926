"""``bitmapist migrate`` on a 3.x keyspace of 100,000 ids over 60 days, laid
down by hand as 3.x would have left it: every count equal afterwards, also
after an interruption halfway and a resumed run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from bitmapist import Bitmapist, cli
from bitmapist.backends.keys import ShardedLayout
from bitmapist.migrate import check, migrate, state_key
from bitmapist.testing import RedisServer

USERS = 100_000
DAYS = 60
FIRST = date(2024, 12, 1)  # 60 days run into 2025: two years, three months
UTC = timezone.utc

pytestmark = pytest.mark.redis_server


@dataclass
class Keyspace:
    """The 3.x keys laid down, and the count each bitmap must keep."""

    strings: dict[str, bytes]
    counts: dict[tuple[str, str, date | int | str], int]


def _string(mask: np.ndarray) -> bytes:
    # Bit i is the high bit first of byte i // 8, as SETBIT lays it out.
    return np.packbits(mask).tobytes().rstrip(b"\0")


def _lay_down(client: Any) -> Keyspace:
    rng = np.random.default_rng(3)
    signup_day = rng.integers(0, DAYS, USERS)
    strings: dict[str, bytes] = {}
    counts: dict[tuple[str, str, Any], int] = {}
    weeks: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
    months: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
    for offset in range(DAYS):
        day = FIRST + timedelta(days=offset)
        masks = {
            "signup": signup_day == offset,
            "active": (rng.random(USERS) < 0.08) & (signup_day <= offset),
        }
        for name, mask in masks.items():
            strings[f"trackist_{name}_{day.year}-{day.month}-{day.day}"] = _string(mask)
            counts[(name, "day", day)] = int(mask.sum())
            iso = day.isocalendar()[:2]
            for into, key in ((weeks, iso), (months, (day.year, day.month))):
                into[(name, key)] = into.get((name, key), np.zeros(USERS, bool)) | mask
    for (name, (iso_year, iso_week)), mask in weeks.items():
        strings[f"trackist_{name}_W{iso_year}-{iso_week}"] = _string(mask)
        counts[(name, "week", date.fromisocalendar(iso_year, iso_week, 1))] = int(
            mask.sum()
        )
    years: dict[tuple[str, int], np.ndarray] = {}
    for (name, (year, month)), mask in months.items():
        strings[f"trackist_{name}_{year}-{month}"] = _string(mask)
        counts[(name, "month", date(year, month, 1))] = int(mask.sum())
        years[(name, year)] = years.get((name, year), np.zeros(USERS, bool)) | mask
    for (name, year), mask in years.items():
        counts[(name, "year", year)] = int(mask.sum())
    last = FIRST + timedelta(days=DAYS - 1)
    for hour in range(24):
        mask = rng.random(USERS) < 0.01
        strings[f"trackist_active_{last.year}-{last.month}-{last.day}-{hour}"] = (
            _string(mask)
        )
        counts[("active", "hour", hour)] = int(mask.sum())
    paid = rng.random(USERS) < 0.2
    strings["trackist_paid_u"] = _string(paid)
    counts[("paid", "attribute", "")] = int(paid.sum())
    # A bit-operation result (derived: not copied) and a key 3.x never names.
    strings["trackist_bitop_AND_trackist_paid_u-trackist_signup_2025-1"] = b"\xff"
    strings["trackist_notes"] = b"\x80"
    pipe = client.pipeline(transaction=False)
    for key, value in strings.items():
        pipe.set(key, value)
    pipe.execute()
    return Keyspace(strings, counts)


def _new_counts(client: Any, wanted: Keyspace, **options: Any) -> dict[Any, int]:
    bm = Bitmapist(redis_client=client, **options)
    last = FIRST + timedelta(days=DAYS - 1)
    found = {}
    for name, granularity, when in wanted.counts:
        if granularity == "attribute":
            bitmap = bm.get_attribute(name)
        elif granularity == "hour":
            bitmap = bm.get_hour_event(
                name, datetime(last.year, last.month, last.day, when, tzinfo=UTC)
            )
        elif granularity == "year":
            bitmap = bm.get_year_event(name, date(when, 1, 1))
        else:
            bitmap = bm.get_event(name, granularity, when)
        found[(name, granularity, when)] = len(bitmap)
    return found


def _old_keys(client: Any) -> dict[bytes, bytes]:
    return {k: client.get(k) for k in client.scan_iter(match="trackist_*")}


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Any]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def keyspace(client: Any) -> Keyspace:
    return _lay_down(client)


def test_every_count_is_equal_after_the_copy(client: Any, keyspace: Keyspace) -> None:
    before = _old_keys(client)

    report = migrate(client, batch=25)

    assert report.not_understood == ["trackist_notes"]
    assert _new_counts(client, keyspace) == keyspace.counts
    assert (
        sum(
            keyspace.counts[k]
            for k in keyspace.counts
            if k[1] == "day" and k[0] == "signup"
        )
        == USERS
    )
    outcome = check(client)
    assert outcome.passed and outcome.compared == len(keyspace.strings) - 2 + 4
    assert _old_keys(client) == before


class Interrupted(Exception):
    pass


def test_an_interrupted_copy_resumes_where_it_stopped(
    client: Any, keyspace: Keyspace
) -> None:
    total = len(keyspace.strings)
    seen = 0

    def stop_halfway(keys: int) -> None:
        nonlocal seen
        seen += keys
        if seen >= total // 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        migrate(client, batch=10, on_batch=stop_halfway)
    halfway = check(client)
    report = migrate(client, batch=10)

    assert not halfway.passed
    assert report.resumed and report.copied >= total
    assert check(client).passed
    assert _new_counts(client, keyspace) == keyspace.counts


def test_a_finished_copy_is_not_repeated_and_restart_starts_over(
    client: Any, keyspace: Keyspace
) -> None:
    first = migrate(client, batch=50)
    client.hset(state_key(ShardedLayout()), "copied", 0)

    again = migrate(client, batch=50)
    fresh = migrate(client, batch=50, restart=True)

    assert again.resumed and again.copied == 0
    assert not fresh.resumed and fresh.copied == first.copied
    assert _new_counts(client, keyspace) == keyspace.counts


def test_the_old_keys_go_only_when_asked_and_after_a_clean_check(
    client: Any, keyspace: Keyspace
) -> None:
    migrate(client, batch=50, delete_old=True)

    assert _old_keys(client) == {}
    assert _new_counts(client, keyspace) == keyspace.counts


def test_the_copy_can_go_to_another_database_and_layout(
    client: Any, keyspace: Keyspace, redis_server: RedisServer
) -> None:
    target = redis_server.client()
    target.select(1)

    migrate(client, target, prefix="v4", shard_width=2**16, batch=40)

    assert check(client, target, prefix="v4", shard_width=2**16).passed
    counts = _new_counts(target, keyspace, prefix="v4", shard_width=2**16)
    assert counts == keyspace.counts
    assert any(k.startswith(b"v4:1{") for k in target.scan_iter())
    target.close()


def test_the_command_copies_checks_and_reports(
    client: Any,
    keyspace: Keyspace,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["migrate", redis_server.url, "--batch", "30"])

    out, err = capsys.readouterr()
    assert code == 0
    assert f"compared {len(keyspace.strings) + 2} counts" in out
    assert "not a 3.x bitmap, left alone: trackist_notes" in out
    assert "key" in err  # the progress bar
    assert _new_counts(client, keyspace) == keyspace.counts


def test_the_command_fails_when_a_count_differs(
    client: Any,
    keyspace: Keyspace,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrate(client)
    client.setbit("trackist_paid_u", USERS + 5, 1)  # a mark made after the copy

    code = cli.main(["migrate", redis_server.url, "--no-progress", "--delete-old"])

    out, _ = capsys.readouterr()
    assert code == 1
    assert "MISMATCH trackist_paid_u" in out
    assert b"trackist_paid_u" in _old_keys(client)
