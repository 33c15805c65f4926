"""Every backend gives the answers of a plain model made of Python sets.

A Hypothesis state machine marks and unmarks events and attributes at
timestamps around hour, day, ISO week, month and year boundaries, in several
time zones, with ids small, near shard edges and near 2**64, and after every
step asks random nested expressions for their count, their members and
whether they hold some ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bitmapist import Bitmap, Bitmapist
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH

from .conftest import MakeBitmapist

EVENTS = ["active", "song:played"]
ATTRIBUTES = ["paid", "country:de"]
GRANULARITIES = ["hour", "day", "week", "month", "year"]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]

IDS = st.one_of(
    st.integers(0, 40),
    st.integers(DEFAULT_SHARD_WIDTH - 3, DEFAULT_SHARD_WIDTH + 3),
    st.integers(2**20 - 3, 2**20 + 3),
    st.integers(2**32 - 2, 2**32 + 2),
    st.integers(2**64 - 40, 2**64 - 1),
)

# Instants next to boundaries: New Year on a Monday-less ISO week edge, a
# month end, a leap day, and the nights clocks change in Europe and the US.
EDGES = [
    datetime(2024, 12, 29, 23, 30, tzinfo=timezone.utc),
    datetime(2024, 12, 31, 23, 59, tzinfo=timezone.utc),
    datetime(2025, 1, 4, 23, 0, tzinfo=timezone.utc),
    datetime(2024, 2, 29, 12, 0, tzinfo=timezone.utc),
    datetime(2025, 3, 30, 0, 30, tzinfo=timezone.utc),
    datetime(2025, 11, 2, 5, 30, tzinfo=timezone.utc),
]
TIMESTAMPS = st.builds(
    lambda edge, minutes, zone: (edge + timedelta(minutes=minutes)).astimezone(
        ZoneInfo(zone)
    ),
    st.sampled_from(EDGES),
    st.integers(-600, 600),
    st.sampled_from(ZONES),
)

Plan = tuple[Any, ...]
LEAVES = st.one_of(
    st.tuples(
        st.just("event"),
        st.sampled_from(EVENTS),
        st.sampled_from(GRANULARITIES),
        TIMESTAMPS,
    ),
    st.tuples(st.just("attribute"), st.sampled_from(ATTRIBUTES)),
)
PLANS = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.tuples(
            st.sampled_from(["and", "or", "xor", "sub"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        st.tuples(st.just("not"), children),
    ),
    max_leaves=6,
)


def period_code(granularity: str, when: datetime, zone: tzinfo) -> str:
    """The model's own reckoning of period names, independent of bitmapist."""
    local = when.astimezone(zone)
    if granularity == "hour":
        return f"{local:%Y-%m-%dT%H}"
    if granularity == "day":
        return f"{local:%Y-%m-%d}"
    if granularity == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{local:%Y-%m}"
    return f"{local:%Y}"


class Model:
    """Sets keyed by ("event", name, granularity, code) or ("attribute", name)."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.sets: dict[tuple[str, ...], set[int]] = {}
        self.universe: set[int] = set()

    def event_keys(self, name: str, when: datetime) -> list[tuple[str, ...]]:
        return [
            ("event", name, g, period_code(g, when, self.zone)) for g in GRANULARITIES
        ]

    def write(self, keys: list[tuple[str, ...]], ids: list[int], value: bool) -> None:
        for key in keys:
            bits = self.sets.setdefault(key, set())
            if value:
                bits.update(ids)
                self.universe.update(ids)
            else:
                bits.difference_update(ids)

    def names(self, kind: str) -> list[str]:
        return sorted({key[1] for key in self.sets if key[0] == kind})

    def delete(self, kind: str, name: str) -> None:
        for key in [k for k in self.sets if k[:2] == (kind, name)]:
            del self.sets[key]

    def evaluate(self, plan: Plan) -> set[int]:
        head = plan[0]
        if head == "event":
            _, name, granularity, when = plan
            return set(
                self.sets.get(
                    (
                        "event",
                        name,
                        granularity,
                        period_code(granularity, when, self.zone),
                    ),
                    (),
                )
            )
        if head == "attribute":
            return set(self.sets.get(("attribute", plan[1]), ()))
        if head == "not":
            return self.universe - self.evaluate(plan[1])
        parts = [self.evaluate(p) for p in plan[1]]
        if head == "and":
            return set.intersection(*parts)
        if head == "or":
            return set.union(*parts)
        if head == "xor":
            return reduce(set.symmetric_difference, parts)
        return parts[0].difference(*parts[1:])


def build(bm: Bitmapist, plan: Plan) -> Bitmap:
    head = plan[0]
    if head == "event":
        _, name, granularity, when = plan
        return bm.get_event(name, granularity, when)
    if head == "attribute":
        return bm.get_attribute(plan[1])
    if head == "not":
        return ~build(bm, plan[1])
    operands = [build(bm, p) for p in plan[1]]
    if len(operands) == 2:
        first, second = operands
        return {
            "and": first & second,
            "or": first | second,
            "xor": first ^ second,
            "sub": first - second,
        }[head]
    return getattr(bm, f"bit_op_{head}")(*operands)


class Agreement(RuleBasedStateMachine):
    make: MakeBitmapist

    @initialize(zone=st.sampled_from(ZONES))
    def start(self, zone: str) -> None:
        self.bm = self.make(timezone=zone, granularities=GRANULARITIES)
        self.model = Model(ZoneInfo(zone))

    @rule(name=st.sampled_from(EVENTS), uid=IDS, when=TIMESTAMPS)
    def mark_event(self, name: str, uid: int, when: datetime) -> None:
        self.bm.mark_event(name, uid, when)
        self.model.write(self.model.event_keys(name, when), [uid], True)

    @rule(name=st.sampled_from(EVENTS), uids=st.lists(IDS, max_size=8), when=TIMESTAMPS)
    def mark_events(self, name: str, uids: list[int], when: datetime) -> None:
        self.bm.mark_events(name, uids, when)
        if uids:
            self.model.write(self.model.event_keys(name, when), uids, True)

    @rule(name=st.sampled_from(EVENTS), uid=IDS, when=TIMESTAMPS)
    def unmark_event(self, name: str, uid: int, when: datetime) -> None:
        self.bm.unmark_event(name, uid, when)
        self.model.write(self.model.event_keys(name, when), [uid], False)

    @rule(name=st.sampled_from(ATTRIBUTES), uid=IDS)
    def mark_attribute(self, name: str, uid: int) -> None:
        self.bm.mark_attribute(name, uid)
        self.model.write([("attribute", name)], [uid], True)

    @rule(name=st.sampled_from(ATTRIBUTES), uid=IDS)
    def unmark_attribute(self, name: str, uid: int) -> None:
        self.bm.unmark_attribute(name, uid)
        self.model.write([("attribute", name)], [uid], False)

    @rule(name=st.sampled_from(EVENTS))
    def delete_event(self, name: str) -> None:
        self.bm.delete_event(name)
        self.model.delete("event", name)

    @rule(plan=PLANS, probes=st.lists(IDS, max_size=3))
    def ask(self, plan: Plan, probes: list[int]) -> None:
        bitmap = build(self.bm, plan)
        expected = self.model.evaluate(plan)

        assert len(bitmap) == len(expected)
        assert list(bitmap) == sorted(expected)
        for uid in probes + sorted(expected)[:1]:
            assert (uid in bitmap) == (uid in expected)

    @invariant()
    def names_agree(self) -> None:
        if hasattr(self, "bm"):
            assert self.bm.get_event_names() == self.model.names("event")
            assert self.bm.get_attribute_names() == self.model.names("attribute")
            assert list(self.bm.get_universe()) == sorted(self.model.universe)


def test_backends_agree_with_a_model_of_sets(
    new_bitmapist: MakeBitmapist, backend_kind: str
) -> None:
    machine = type(
        "AgreementOnThisBackend", (Agreement,), {"make": staticmethod(new_bitmapist)}
    )
    examples = settings().max_examples
    # fakeredis interprets our scripts through lupa, turning every redis.call
    # into Python; here its row ran about five times longer than the real
    # server's, so it gets a quarter of the examples: it is the users' test
    # double, not the production target, which gets them all.
    if backend_kind == "fakeredis":
        examples = max(10, examples // 4)

    run_state_machine_as_test(machine, settings=settings(max_examples=examples))


@pytest.mark.parametrize("backend_kind", ["roaring"])
def test_the_model_catches_a_wrong_answer(new_bitmapist: MakeBitmapist) -> None:
    """The machine is able to fail: a backend that forgets unmarks is caught."""

    def forgetful(**options: Any) -> Bitmapist:
        bm = new_bitmapist(**options)
        bm.unmark_event = lambda *args, **kwargs: None  # type: ignore[method-assign]
        return bm

    machine = type("Forgetful", (Agreement,), {"make": staticmethod(forgetful)})

    # One bug reported, not a group of every distinct failure found.
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            machine, settings=settings(report_multiple_bugs=False)
        )
