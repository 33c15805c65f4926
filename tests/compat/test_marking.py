"""Marking, as the 3.x reference page describes it: which keys a mark sets,
with what bits, and what the flags and arguments change."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

import bitmapist
from bitmapist import InvalidIdError, InvalidNameError, InvalidTimestampError

from .conftest import Keyspace

WHEN = datetime(2025, 1, 15, 13, 30)
PERIOD_KEYS = {
    "trackist_active_2025-1",
    "trackist_active_W2025-3",
    "trackist_active_2025-1-15",
}


def test_a_mark_sets_the_month_week_and_day(system: str, keyspace: Keyspace) -> None:
    bitmapist.mark_event("active", 10, now=WHEN)

    assert keyspace() == {key: b"\x00\x20" for key in PERIOD_KEYS}


def test_hourly_and_unique_tracking_add_their_bitmaps(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_event("active", 10, now=WHEN, track_hourly=True, track_unique=True)

    assert set(keyspace()) == PERIOD_KEYS | {
        "trackist_active_2025-1-15-13",
        "trackist_active_u",
    }


def test_the_module_flags_are_read_at_call_time(
    system: str, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bitmapist, "TRACK_HOURLY", True)
    bitmapist.mark_event("a", 1, now=WHEN)
    monkeypatch.setattr(bitmapist, "TRACK_HOURLY", False)
    monkeypatch.setattr(bitmapist, "TRACK_UNIQUE", True)
    bitmapist.mark_event("b", 1, now=WHEN)

    keys = set(keyspace())

    assert "trackist_a_2025-1-15-13" in keys and "trackist_a_u" not in keys
    assert "trackist_b_u" in keys and "trackist_b_2025-1-15-13" not in keys


def test_an_argument_overrides_the_flag(
    system: str, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bitmapist, "TRACK_HOURLY", True)

    bitmapist.mark_event("a", 1, now=WHEN, track_hourly=False)

    assert set(keyspace()) == {k.replace("active", "a") for k in PERIOD_KEYS}


def test_the_datetimes_own_fields_are_used_without_zone_conversion(
    system: str, keyspace: Keyspace
) -> None:
    late_in_new_york = datetime(
        2025, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))
    )

    bitmapist.mark_event("z", 2, now=late_in_new_york)

    assert set(keyspace()) == {
        "trackist_z_2025-1",
        "trackist_z_2025-1-31",
        "trackist_z_W2025-5",
    }


def test_a_date_marks_its_day(system: str, keyspace: Keyspace) -> None:
    bitmapist.mark_event("d", 2, now=date(2024, 2, 29))

    assert "trackist_d_2024-2-29" in keyspace()


def test_unmarking_clears_the_bits_and_keeps_the_keys(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_event("active", 10, now=WHEN, track_hourly=True, track_unique=True)
    bitmapist.mark_event("active", 3, now=WHEN)

    bitmapist.unmark_event("active", 10, now=WHEN, track_hourly=True, track_unique=True)

    space = keyspace()
    assert {space[key] for key in PERIOD_KEYS} == {b"\x10\x00"}
    assert space["trackist_active_2025-1-15-13"] == b"\x00\x00"
    assert space["trackist_active_u"] == b"\x00\x00"


def test_marks_accumulate_in_one_string(system: str, keyspace: Keyspace) -> None:
    for uuid in (0, 7, 8, 23):
        bitmapist.mark_event("active", uuid, now=WHEN)

    assert keyspace()["trackist_active_2025-1"] == bytes([0b10000001, 0b10000000, 1])


def test_marking_on_a_named_system_leaves_the_default_alone(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_event("active", 1, system="other", now=WHEN)

    assert keyspace() == {}
    assert 1 in bitmapist.MonthEvents("active", 2025, 1, system="other")


@pytest.mark.parametrize("uuid", [2**32, -1, 1.5, "7", True])
def test_an_id_the_layout_cannot_hold_is_refused_before_anything_is_written(
    system: str, keyspace: Keyspace, uuid: object
) -> None:
    with pytest.raises(InvalidIdError, match="id"):
        bitmapist.mark_event("active", uuid, now=WHEN)  # type: ignore[arg-type]

    assert keyspace() == {}


def test_a_name_that_would_read_as_a_bit_operation_is_refused(
    system: str, keyspace: Keyspace
) -> None:
    with pytest.raises(InvalidNameError, match="bitop_"):
        bitmapist.mark_event("bitop_x", 1, now=WHEN)

    assert keyspace() == {}


def test_a_name_must_be_a_string(system: str) -> None:
    with pytest.raises(InvalidNameError, match="strings"):
        bitmapist.mark_event(7, 1, now=WHEN)  # type: ignore[arg-type]


def test_a_timestamp_must_be_a_datetime(system: str) -> None:
    with pytest.raises(InvalidTimestampError, match="datetime"):
        bitmapist.mark_event("a", 1, now="2025-01-01")  # type: ignore[arg-type]


def test_a_callers_pipeline_gets_the_writes_queued(
    system: str, system_kind: str, keyspace: Keyspace
) -> None:
    if system_kind == "memory":
        pytest.skip("a pipeline is a Redis client's")
    pipe = bitmapist.get_redis().pipeline()

    bitmapist.mark_event("p", 7, system=pipe, now=WHEN, use_pipeline=False)
    before = keyspace()
    pipe.execute()

    assert before == {}
    assert set(keyspace()) == {k.replace("active", "p") for k in PERIOD_KEYS}
