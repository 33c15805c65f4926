"""The 3.x layout byte for byte: data laid down by hand in Redis, as 3.x
would have left it, read back through the 3.x interface and the new API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

import bitmapist
from bitmapist import Bitmapist, MonthEvents, UniqueEvents, WeekEvents, YearEvents
from bitmapist.backends.keys import Bitmapist3Layout
from bitmapist.expressions import BitmapRef, Kind
from bitmapist.periods import Granularity, Period

UTC = timezone.utc


@pytest.fixture(params=["redis", "fakeredis"])
def system_kind(request: pytest.FixtureRequest) -> str:
    """Laying keys down by hand needs a Redis client: no in-process row."""
    return str(request.param)


@pytest.fixture
def client(system: str) -> Any:
    return bitmapist.get_redis()


def test_hand_laid_strings_read_back_bit_for_bit(client: Any) -> None:
    client.set("trackist_active_2025-1", bytes([0b10100000, 0, 0b00000001]))
    client.set("trackist_active_2025-2", bytes([0b01000000]))
    client.set("trackist_active_W2025-3", b"\x00\x80")
    client.set("trackist_paid_u", b"\x01")

    assert list(MonthEvents("active", 2025, 1)) == [0, 2, 23]
    assert list(YearEvents("active", 2025)) == [0, 1, 2, 23]
    assert list(WeekEvents("active", 2025, 3)) == [8]
    assert list(UniqueEvents("paid")) == [7]
    assert sorted(bitmapist.get_event_names()) == ["active", "paid"]


def test_the_new_api_reads_the_same_hand_laid_data(client: Any) -> None:
    client.set("trackist_active_2025-1", bytes([0b10100000, 0, 0b00000001]))
    client.set("trackist_active_2025-3", bytes([0b00010000]))
    client.set("trackist_active_2025-1-15-13", b"\x40")
    client.set("trackist_paid_u", b"\x01")
    bm = Bitmapist(redis_client=client, key_layout="bitmapist3")
    when = datetime(2025, 1, 15, 13, 5, tzinfo=UTC)

    assert list(bm.get_month_event("active", when)) == [0, 2, 23]
    assert list(bm.get_year_event("active", when)) == [0, 2, 3, 23]
    assert list(bm.get_hour_event("active", when)) == [1]
    assert list(bm.get_attribute("paid")) == [7]
    assert bm.get_event_names() == ["active"]
    assert bm.get_attribute_names() == ["paid"]


def test_keys_that_are_no_3x_bitmap_are_left_out_of_the_new_apis_names(
    client: Any,
) -> None:
    client.set("trackist_weird", b"\x80")
    client.set("trackist_a_2025-01", b"\x80")  # 3.x never pads
    client.set("trackist_bitop_AND_x-y", b"\x80")
    client.set("trackist_x_y_z_2025-1", b"\x80")
    bm = Bitmapist(redis_client=client, key_layout="bitmapist3")

    assert bm.get_event_names() == ["x_y_z"]
    # 3.x's own rule names whatever lies before the last "_".
    assert sorted(bitmapist.get_event_names()) == ["", "a", "x_y_z"]


def test_the_new_api_writes_what_3x_writes(client: Any) -> None:
    bm = Bitmapist(redis_client=client, key_layout="bitmapist3")
    when = datetime(2025, 1, 15, 13, 30, tzinfo=UTC)

    bm.mark_event("active", 10, when, granularities=["hour", "day", "week", "month"])
    bm.mark_attribute("active", 10)
    written = {k.decode(): client.get(k) for k in client.scan_iter()}
    client.flushdb()
    bitmapist.mark_event("active", 10, now=when, track_hourly=True, track_unique=True)
    by_3x = {k.decode(): client.get(k) for k in client.scan_iter()}

    assert written == by_3x


@pytest.mark.parametrize(
    ("period", "code"),
    [
        (Period(Granularity.HOUR, datetime(2025, 1, 5, 7, tzinfo=UTC)), "2025-1-5-7"),
        (Period(Granularity.DAY, datetime(2025, 11, 5, tzinfo=UTC)), "2025-11-5"),
        (Period(Granularity.WEEK, datetime(2024, 12, 30, tzinfo=UTC)), "W2025-1"),
        (Period(Granularity.MONTH, datetime(2025, 10, 1, tzinfo=UTC)), "2025-10"),
    ],
)
def test_period_codes_round_trip(period: Period, code: str) -> None:
    layout = Bitmapist3Layout()
    ref = BitmapRef(Kind.EVENT, "e_x", period)

    assert layout.bitmap_key(ref, 0) == f"trackist_e_x_{code}"
    assert layout.parse(f"trackist_e_x_{code}") == ref


def test_the_layout_holds_ids_up_to_2_to_the_32_minus_1() -> None:
    layout = Bitmapist3Layout()

    assert layout.shard_of(2**32 - 1) == (0, 2**32 - 1)
    with pytest.raises(bitmapist.InvalidIdError, match="2\\*\\*32 - 1"):
        layout.shard_of(2**32)
