"""Bad input fails at once with a clear error, and nothing is written."""

from __future__ import annotations

import inspect
from datetime import date, time
from typing import Any

import fakeredis
import pytest
import redis
import redis.exceptions as rex

from bitmapist import (
    BackendError,
    BackendUnavailableError,
    Bitmapist,
    BitmapistError,
    ConfigurationError,
    InvalidExpressionError,
    InvalidIdError,
    InvalidNameError,
    InvalidTimestampError,
    RedisBackend,
)
from bitmapist.backends.redis import TRANSLATIONS, translate_error
from bitmapist.testing import free_port

from .conftest import NOW

BAD_IDS = [-1, 2**64, True, False, 1.0, 2.5, "123", b"1", None, [1]]
BAD_NAMES = [
    "",
    5,
    None,
    b"active",
    "a*",
    "a?b",
    "a[b",
    "a]b",
    "{a}",
    "a}",
    "a b",
    "tab\t",
    "new\nline",
    "back\\slash",
    "\x00",
    "x" * 257,
]
BAD_TIMESTAMPS = ["2025-01-01", 1735689600, 1.5, time(12, 0), [NOW]]


def assert_nothing_written(bm: Bitmapist) -> None:
    assert bm.get_event_names() == []
    assert bm.get_attribute_names() == []
    assert len(bm.get_universe()) == 0


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_ids_are_refused_everywhere(bm: Bitmapist, bad: Any) -> None:
    calls = [
        lambda: bm.mark_event("a", bad, NOW),
        lambda: bm.unmark_event("a", bad, NOW),
        lambda: bm.mark_attribute("p", bad),
        lambda: bm.unmark_attribute("p", bad),
        lambda: bm.mark_events("a", [1, bad, 2], NOW),
        lambda: bad in bm.get_day_event("a", NOW),
    ]

    for call in calls:
        with pytest.raises(InvalidIdError) as raised:
            call()
        assert repr(bad)[:20] in str(raised.value) or str(bad) in str(raised.value)
    assert_nothing_written(bm)


def test_the_id_error_names_the_rule_and_the_id_map(bm: Bitmapist) -> None:
    with pytest.raises(InvalidIdError, match=r"'user-1'.*0 to 2\*\*64 - 1.*id map"):
        bm.mark_event("a", "user-1", NOW)
    with pytest.raises(InvalidIdError, match=r"18446744073709551616 is out of range"):
        bm.mark_event("a", 2**64, NOW)


def test_bad_id_arrays_are_refused(bm: Bitmapist) -> None:
    import numpy as np

    for bad in (np.array([1, -1]), np.array([1.0, 2.0]), "12", b"12"):
        with pytest.raises(InvalidIdError):
            bm.mark_events("a", bad, NOW)
    assert_nothing_written(bm)


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_bad_names_are_refused_everywhere(bm: Bitmapist, bad: Any) -> None:
    calls = [
        lambda: bm.mark_event(bad, 1, NOW),
        lambda: bm.unmark_event(bad, 1, NOW),
        lambda: bm.mark_events(bad, [1], NOW),
        lambda: bm.mark_attribute(bad, 1),
        lambda: bm.unmark_attribute(bad, 1),
        lambda: bm.get_day_event(bad, NOW),
        lambda: bm.get_attribute(bad),
        lambda: bm.delete_event(bad),
        lambda: bm.delete_attribute(bad),
    ]

    for call in calls:
        with pytest.raises(InvalidNameError, match="name"):
            call()
    assert_nothing_written(bm)


@pytest.mark.parametrize("bad", BAD_TIMESTAMPS, ids=repr)
def test_bad_timestamps_are_refused(bm: Bitmapist, bad: Any) -> None:
    for call in (
        lambda: bm.mark_event("a", 1, bad),
        lambda: bm.unmark_event("a", 1, bad),
        lambda: bm.get_week_event("a", bad),
    ):
        with pytest.raises(
            InvalidTimestampError, match="expected a datetime or a date"
        ):
            call()
    assert_nothing_written(bm)


def test_a_date_is_too_coarse_for_hours(bm: Bitmapist) -> None:
    with pytest.raises(InvalidTimestampError, match="hour periods need a datetime"):
        bm.mark_event("a", 1, date(2025, 1, 1), granularities=["day", "hour"])
    with pytest.raises(InvalidTimestampError):
        bm.get_hour_event("a", date(2025, 1, 1))
    assert_nothing_written(bm)


def test_unknown_granularities_are_refused(bm: Bitmapist) -> None:
    with pytest.raises(ConfigurationError, match=r"'minute'.*hour, day, week"):
        bm.mark_event("a", 1, NOW, granularities=["minute"])
    with pytest.raises(ConfigurationError, match="at least one"):
        bm.mark_event("a", 1, NOW, granularities=[])
    with pytest.raises(ConfigurationError):
        Bitmapist(granularities="fortnight")
    assert_nothing_written(bm)


def test_expressions_take_bitmaps_of_one_instance(bm: Bitmapist) -> None:
    other = Bitmapist()
    mine = bm.get_day_event("a", NOW)

    with pytest.raises(InvalidExpressionError, match="another Bitmapist instance"):
        bm.bit_op_and(mine, other.get_day_event("a", NOW))
    with pytest.raises(InvalidExpressionError, match="another Bitmapist instance"):
        _ = mine | other.get_attribute("p")
    with pytest.raises(InvalidExpressionError, match="take bitmaps"):
        bm.bit_op_or(mine, {1, 2})
    with pytest.raises(InvalidExpressionError, match="take bitmaps"):
        _ = mine & 3
    with pytest.raises(InvalidExpressionError, match="at least one operand"):
        bm.bit_op_xor()
    with pytest.raises(InvalidExpressionError, match="exactly one operand"):
        bm.bit_op_not(mine, mine)
    with pytest.raises(InvalidExpressionError, match="not an int"):
        mine.delta(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["mysql://localhost", "memory", "", "redis:/localhost", "memory://x"]
)
def test_unknown_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"memory://"):
        Bitmapist.from_url(url)


def test_a_url_must_be_a_string() -> None:
    with pytest.raises(ConfigurationError, match="not a str"):
        Bitmapist.from_url(6379)  # type: ignore[arg-type]


def test_unknown_backend_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="bad options"):
        Bitmapist.from_url("memory://", shards=3)


@pytest.mark.parametrize(
    "options",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": 5},
        {"prefix": "other"},
        {"shard_width": 1000},
        {"backend": object()},
    ],
    ids=repr,
)
def test_bad_configuration_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Bitmapist(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"shard_width": 0},
        {"shard_width": 3},
        {"shard_width": 2**33},
        {"shard_width": True},
        {"prefix": ""},
        {"prefix": "a{b"},
        {"prefix": 7},
    ],
    ids=repr,
)
def test_bad_redis_layouts_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RedisBackend(fakeredis.FakeRedis(), **options)


def test_a_client_that_decodes_responses_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        Bitmapist(redis_client=fakeredis.FakeRedis(decode_responses=True))


def test_both_a_client_and_a_backend_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        Bitmapist(redis_client=fakeredis.FakeRedis(), backend=Bitmapist().backend)


def test_every_error_is_a_bitmapist_error_and_input_errors_are_value_errors() -> None:
    for error in (
        InvalidIdError,
        InvalidNameError,
        ConfigurationError,
        InvalidTimestampError,
        InvalidExpressionError,
    ):
        assert issubclass(error, BitmapistError)
        assert issubclass(error, ValueError)
    assert issubclass(BackendUnavailableError, BackendError)


def redis_exception_classes() -> list[type[Exception]]:
    return [
        value
        for value in vars(rex).values()
        if inspect.isclass(value)
        and issubclass(value, (rex.RedisError, rex.RedisClusterException))
    ]


@pytest.mark.parametrize("error", redis_exception_classes(), ids=lambda c: c.__name__)
def test_every_redis_error_has_a_translation(error: type[Exception]) -> None:
    specific = [redis_class for redis_class, _ in TRANSLATIONS[:-1]]

    cause = "3999 127.0.0.1:6381" if issubclass(error, rex.AskError) else "the cause"

    translated = translate_error(error(cause), "do something")

    assert isinstance(translated, BackendError)
    assert cause in str(translated) and "do something" in str(translated)
    assert error is rex.RedisError or any(issubclass(error, c) for c in specific)


def test_an_unreachable_server_is_a_backend_unavailable_error() -> None:
    bm = Bitmapist.from_url(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(BackendUnavailableError, match="Redis failed to") as raised:
        bm.mark_event("a", 1, NOW)
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    with pytest.raises(BackendUnavailableError):
        len(bm.get_day_event("a", NOW))
