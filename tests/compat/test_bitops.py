"""Bit operations as 3.x runs them: at once, under a key that stays and is
shared, with Redis's BITOP NOT, and remembered per thread."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

import bitmapist
from bitmapist import (
    BitOpAnd,
    BitOpNot,
    BitOpOr,
    BitOpXor,
    DayEvents,
    InvalidExpressionError,
    MonthEvents,
    UniqueEvents,
    WeekEvents,
)

from .conftest import Keyspace

WHEN = datetime(2025, 1, 15, 13)


def _marked() -> tuple[MonthEvents, MonthEvents]:
    for uuid in (1, 2, 3):
        bitmapist.mark_event("a", uuid, now=WHEN)
    for uuid in (2, 3, 4, 12):
        bitmapist.mark_event("b", uuid, now=WHEN)
    return MonthEvents("a", 2025, 1), MonthEvents("b", 2025, 1)


def test_and_or_xor_hold_what_their_names_say(system: str) -> None:
    a, b = _marked()

    assert list(BitOpAnd(a, b)) == [2, 3]
    assert list(BitOpOr(a, b)) == [1, 2, 3, 4, 12]
    assert list(BitOpXor(a, b)) == [1, 4, 12]
    assert len(BitOpOr(a, b)) == 5 and 12 in BitOpOr(a, b)


def test_the_result_is_stored_under_its_bitop_key_and_stays(
    system: str, keyspace: Keyspace
) -> None:
    a, b = _marked()

    both = BitOpAnd(a, b)

    key = "trackist_bitop_AND_trackist_a_2025-1-trackist_b_2025-1"
    assert both.redis_key == key
    assert keyspace()[key] == b"\x30\x00"


def test_operations_nest_and_their_keys_nest_too(system: str) -> None:
    a, b = _marked()
    week = WeekEvents("a", 2025, 3)

    nested = BitOpOr(BitOpAnd(a, week), UniqueEvents("none"))

    assert nested.redis_key == (
        "trackist_bitop_OR_trackist_bitop_AND_trackist_a_2025-1-"
        "trackist_a_W2025-3-trackist_none_u"
    )
    assert list(nested) == [1, 2, 3]
    assert list(BitOpXor(BitOpAnd(a, b), BitOpOr(a, b))) == [1, 4, 12]


def test_a_system_name_may_come_first(system: str) -> None:
    for uuid in (5, 6):
        bitmapist.mark_event("a", uuid, system="other", now=WHEN)
    a = MonthEvents("a", 2025, 1, system="other")

    assert list(BitOpOr("other", a)) == [5, 6]
    assert list(BitOpOr(a)) == []  # without a name, the default system


def test_operators_build_operations_on_the_default_system(system: str) -> None:
    a, b = _marked()

    assert isinstance(a & b, BitOpAnd) and list(a & b) == [2, 3]
    assert isinstance(a | b, BitOpOr) and list(a | b) == [1, 2, 3, 4, 12]
    assert isinstance(a ^ b, BitOpXor) and list(a ^ b) == [1, 4, 12]
    assert isinstance(~a, BitOpNot)
    assert list((a & b) | DayEvents("b", 2025, 1, 15)) == [2, 3, 4, 12]


def test_not_flips_every_bit_up_to_the_operands_last_byte(
    system: str, keyspace: Keyspace
) -> None:
    a, b = _marked()

    not_a, not_b = BitOpNot(a), ~b

    assert not_a.redis_key == "trackist_bitop_NOT_trackist_a_2025-1"
    assert list(not_a) == [0, *range(4, 8)]
    assert list(not_b) == [0, 1, *range(5, 12), *range(13, 16)]
    assert keyspace()[not_b.redis_key] == bytes([0b11000111, 0b11110111])


def test_not_of_a_missing_key_is_empty_and_leaves_no_key(
    system: str, keyspace: Keyspace
) -> None:
    assert len(BitOpNot(MonthEvents("none", 2020, 1))) == 0
    assert keyspace() == {}


def test_two_operations_over_the_same_operands_share_one_key(system: str) -> None:
    a, b = _marked()
    first, second = BitOpAnd(a, b), BitOpAnd(a, b)

    first.delete()

    assert first.redis_key == second.redis_key
    assert len(second) == 0


def test_a_result_does_not_follow_later_marks(system: str) -> None:
    a, b = _marked()
    both = BitOpAnd(a, b)

    bitmapist.mark_event("a", 4, now=WHEN)

    assert list(both) == [2, 3]
    assert list(BitOpAnd(a, b)) == [2, 3, 4]


def test_runtime_keys_are_deleted_per_thread(system: str, keyspace: Keyspace) -> None:
    a, b = _marked()
    mine = BitOpAnd(a, b)

    def elsewhere() -> None:
        BitOpOr(a, b)
        bitmapist.delete_runtime_bitop_keys()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    bitops_left = {k for k in keyspace() if k.startswith("trackist_bitop_")}
    bitmapist.delete_runtime_bitop_keys()

    assert bitops_left == {mine.redis_key}
    assert not any(k.startswith("trackist_bitop_") for k in keyspace())


def test_not_takes_exactly_one_operand(system: str) -> None:
    a, b = _marked()

    with pytest.raises(InvalidExpressionError, match="one operand"):
        BitOpNot(a, b)


def test_operands_must_be_event_objects(system: str) -> None:
    a, _ = _marked()

    with pytest.raises(InvalidExpressionError, match="event objects"):
        BitOpAnd(a, "trackist_b_2025-1")  # type: ignore[arg-type]
    with pytest.raises(InvalidExpressionError, match="needs an operand"):
        BitOpOr("default")
