"""Expiry per granularity, with a clock the test controls.

Redis expires keys on the server's clock, so the test clock starts at the real
time and the events are placed before it; the Roaring backend follows the
test clock, which the Roaring-only tests move forward.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bitmapist import Bitmapist, ConfigurationError, RoaringBackend
from bitmapist.backends.keys import ShardedLayout

from .conftest import MakeBitmapist

LIFETIMES = {"hour": timedelta(days=7), "day": timedelta(days=400)}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def expiring(make_bitmapist: MakeBitmapist, backend_kind: str, clock: Clock) -> Any:
    options: dict[str, Any] = {
        "clock": clock,
        "expire": LIFETIMES,
        "granularities": ["hour", "day", "week"],
    }
    if backend_kind == "roaring":
        options["backend"] = RoaringBackend(clock=clock)
    return make_bitmapist(**options)


def test_bitmaps_past_their_lifetime_are_gone_and_the_rest_stay(
    expiring: Bitmapist, clock: Clock
) -> None:
    old = clock.now - timedelta(days=8)

    expiring.mark_event("a", 1, old)
    expiring.mark_event("a", 2)
    expiring.mark_event("gone", 3, old, granularities=["hour"])

    assert list(expiring.get_hour_event("a", old)) == []
    assert list(expiring.get_day_event("a", old)) == [1]
    assert list(expiring.get_week_event("a", old)) == [1]
    assert list(expiring.get_hour_event("a")) == [2]
    assert list(expiring.get_hour_event("gone", old)) == []
    assert expiring.get_event_names() == ["a"]
    assert list(expiring.get_universe()) == [1, 2, 3]


def test_deleting_after_expiry_removes_what_is_left(
    expiring: Bitmapist, clock: Clock
) -> None:
    old = clock.now - timedelta(days=8)
    expiring.mark_event("a", 1, old)
    expiring.mark_event("gone", 3, old, granularities=["hour"])

    expiring.delete_event("gone")
    expiring.delete_event("a")

    assert expiring.get_event_names() == []
    assert list(expiring.get_day_event("a", old)) == []


def _redis_client(bm: Bitmapist, backend_kind: str) -> Any:
    if backend_kind == "roaring":
        pytest.skip("Redis key expiry")
    return bm.backend.client  # type: ignore[attr-defined]


def test_on_redis_a_key_expires_at_its_period_end_plus_its_lifetime(
    expiring: Bitmapist, backend_kind: str, clock: Clock
) -> None:
    client = _redis_client(expiring, backend_kind)
    layout = ShardedLayout()
    hour, day, week = (
        get("a")
        for get in (
            expiring.get_hour_event,
            expiring.get_day_event,
            expiring.get_week_event,
        )
    )

    expiring.mark_event("a", 1)
    first = client.expiretime(layout.bitmap_key(hour.ref, 0))
    clock.now += timedelta(seconds=1)
    expiring.mark_event("a", 2)

    assert first == math.ceil((hour.period_end + LIFETIMES["hour"]).timestamp())
    assert client.expiretime(layout.bitmap_key(hour.ref, 0)) == first
    assert client.expiretime(layout.bitmap_key(day.ref, 0)) == math.ceil(
        (day.period_end + LIFETIMES["day"]).timestamp()
    )
    assert client.expiretime(layout.bitmap_key(week.ref, 0)) == -1
    # The week is kept forever, so the event's period registry is too.
    assert client.expiretime(layout.periods_key("a", 0)) == -1


def test_on_redis_a_registry_lives_as_long_as_its_longest_lived_bitmap(
    make_bitmapist: MakeBitmapist, backend_kind: str, clock: Clock
) -> None:
    bm = make_bitmapist(clock=clock, expire=LIFETIMES, granularities=["hour"])
    client = _redis_client(bm, backend_kind)
    registry = ShardedLayout().periods_key("a", 0)
    later = clock.now + timedelta(days=3)

    bm.mark_event("a", 1, later)
    bm.mark_event("a", 1)
    bm.mark_event("a", 1, granularities=["day"])

    deadline = bm.get_day_event("a").period_end + LIFETIMES["day"]
    assert client.expiretime(registry) == math.ceil(deadline.timestamp())


def test_roaring_drops_bitmaps_as_its_clock_passes_their_deadlines(
    clock: Clock,
) -> None:
    bm = Bitmapist(clock=clock, expire=LIFETIMES, granularities=["hour", "day"])
    bm.mark_event("a", 1)
    hour, day = bm.get_hour_event("a"), bm.get_day_event("a")

    clock.now = hour.period_end + LIFETIMES["hour"] - timedelta(seconds=1)
    assert list(hour) == [1]
    clock.now += timedelta(seconds=1)
    assert list(hour) == []
    assert list(day) == [1]
    assert bm.get_event_names() == ["a"]
    clock.now = day.period_end + LIFETIMES["day"]
    assert bm.get_event_names() == []


@pytest.mark.parametrize(
    ("expire", "message"),
    [
        ({"minute": timedelta(days=1)}, "unknown granularity 'minute'"),
        ({"hour": timedelta(0)}, "positive timedelta"),
        ({"hour": 3600}, "positive timedelta"),
        ([("hour", timedelta(days=1))], "expected a mapping"),
    ],
)
def test_bad_lifetimes_are_rejected(expire: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Bitmapist(expire=expire)
