"""The new API over bitmapist 3.x's keys: ``key_layout="bitmapist3"``.

The lead's agreement machine (test_agreement.py) runs here restricted to what
that layout can express: ids below 2**32 (and below 2**20 + 4, since 3.x
strings grow to the largest id: one id near 2**32 costs 512 MB), no NOT and
no universe (3.x keeps none), and years that are the OR of their months.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

import bitmapist
from bitmapist import (
    Bitmapist,
    ConfigurationError,
    InvalidExpressionError,
    InvalidIdError,
    InvalidNameError,
)

from .conftest import NOW, MakeBitmapist
from .test_agreement import (
    ATTRIBUTES,
    EVENTS,
    LEAVES,
    TIMESTAMPS,
    ZONES,
    Agreement,
    Model,
    Plan,
    period_code,
)

IDS = st.one_of(st.integers(0, 40), st.integers(2**20 - 3, 2**20 + 3))
PLANS = st.recursive(
    LEAVES,
    lambda children: st.tuples(
        st.sampled_from(["and", "or", "xor", "sub"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=6,
)


class YearsOfMonths(Model):
    """The model with 3.x's years: the union of the year's months, so that an
    id unmarked from one month stays in the year while another month has it."""

    def evaluate(self, plan: Plan) -> set[int]:
        if plan[0] == "event" and plan[2] == "year":
            _, name, _, when = plan
            year = period_code("year", when, self.zone)
            return set().union(
                *(
                    bits
                    for key, bits in self.sets.items()
                    if key[:3] == ("event", name, "month") and key[3][:4] == year
                )
            )
        if plan[0] in ("event", "attribute"):
            return super().evaluate(plan)
        return super().evaluate((plan[0], plan[1]))


class Bitmapist3Agreement(Agreement):
    @initialize(zone=st.sampled_from(ZONES))
    def start(self, zone: str) -> None:
        super().start(zone)
        self.model = YearsOfMonths(self.model.zone)

    @rule(name=st.sampled_from(EVENTS), uid=IDS, when=TIMESTAMPS)
    def mark_event(self, name: str, uid: int, when: datetime) -> None:
        super().mark_event(name, uid, when)

    @rule(name=st.sampled_from(EVENTS), uids=st.lists(IDS, max_size=8), when=TIMESTAMPS)
    def mark_events(self, name: str, uids: list[int], when: datetime) -> None:
        super().mark_events(name, uids, when)

    @rule(name=st.sampled_from(EVENTS), uid=IDS, when=TIMESTAMPS)
    def unmark_event(self, name: str, uid: int, when: datetime) -> None:
        super().unmark_event(name, uid, when)

    @rule(name=st.sampled_from(ATTRIBUTES), uid=IDS)
    def mark_attribute(self, name: str, uid: int) -> None:
        super().mark_attribute(name, uid)

    @rule(name=st.sampled_from(ATTRIBUTES), uid=IDS)
    def unmark_attribute(self, name: str, uid: int) -> None:
        super().unmark_attribute(name, uid)

    @rule(plan=PLANS, probes=st.lists(IDS, max_size=3))
    def ask(self, plan: Plan, probes: list[int]) -> None:
        super().ask(plan, probes)

    @invariant()
    def names_agree(self) -> None:
        if hasattr(self, "bm"):
            assert self.bm.get_event_names() == self.model.names("event")
            assert self.bm.get_attribute_names() == self.model.names("attribute")


def _on_bitmapist3(new_bitmapist: MakeBitmapist) -> MakeBitmapist:
    return lambda **options: new_bitmapist(key_layout="bitmapist3", **options)


# On the real server only: fakeredis runs the same layout code through a Lua
# interpreter in Python, several times slower, and proves nothing more here.
@pytest.mark.parametrize("backend_kind", ["redis"])
def test_the_bitmapist3_layout_agrees_with_a_model_of_sets(
    new_bitmapist: MakeBitmapist,
) -> None:
    make = _on_bitmapist3(new_bitmapist)
    machine = type("OnBitmapist3", (Bitmapist3Agreement,), {"make": staticmethod(make)})

    run_state_machine_as_test(machine)


@pytest.mark.parametrize("backend_kind", ["redis"])
def test_the_restricted_machine_catches_a_wrong_answer(
    new_bitmapist: MakeBitmapist,
) -> None:
    """Able to fail: a layout that forgets unmarks is caught."""

    def forgetful(**options: Any) -> Bitmapist:
        bm = _on_bitmapist3(new_bitmapist)(**options)
        bm.unmark_event = lambda *args, **kwargs: None  # type: ignore[method-assign]
        return bm

    machine = type(
        "Forgetful", (Bitmapist3Agreement,), {"make": staticmethod(forgetful)}
    )
    # Finding the failure is the point; shrinking it would only cost time.
    quick = settings(phases=[Phase.generate], report_multiple_bugs=False)

    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=quick)


@pytest.fixture(params=["redis", "fakeredis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bm3(make_bitmapist: MakeBitmapist) -> Bitmapist:
    return make_bitmapist(key_layout="bitmapist3")


def test_the_default_granularities_write_3x_keys_and_no_year(bm3: Bitmapist) -> None:
    bm3.mark_event("active", 10, NOW)
    client = bm3.backend.client  # type: ignore[attr-defined]

    keys = sorted(k.decode() for k in client.scan_iter())

    assert keys == [
        "trackist_active_2025-1",
        "trackist_active_2025-1-15",
        "trackist_active_W2025-3",
    ]
    assert client.get("trackist_active_2025-1") == b"\x00\x20"


def test_a_year_is_read_as_the_or_of_its_months(bm3: Bitmapist) -> None:
    bm3.mark_event("active", 1, datetime(2025, 1, 5, tzinfo=timezone.utc))
    bm3.mark_event("active", 2, datetime(2025, 12, 5, tzinfo=timezone.utc))
    bm3.mark_event("active", 1, datetime(2025, 3, 5, tzinfo=timezone.utc))
    bm3.unmark_event("active", 1, datetime(2025, 3, 5, tzinfo=timezone.utc))

    assert list(bm3.get_year_event("active", NOW)) == [1, 2]


def test_the_3x_interface_and_the_new_api_see_each_others_marks(
    bm3: Bitmapist,
) -> None:
    saved = dict(bitmapist.SYSTEMS)
    bitmapist.SYSTEMS["default"] = bm3.backend.client  # type: ignore[attr-defined]
    try:
        bitmapist.mark_event("signup", 7, now=datetime(2025, 1, 15, 9))
        bm3.mark_event("signup", 8, NOW)

        assert list(bm3.get_week_event("signup", NOW)) == [7, 8]
        assert list(bitmapist.WeekEvents("signup", 2025, 3)) == [7, 8]
        assert len(bitmapist.YearEvents("signup", 2025)) == 2
    finally:
        bitmapist.delete_runtime_bitop_keys()
        bitmapist.SYSTEMS.clear()
        bitmapist.SYSTEMS.update(saved)


def test_difference_stands_in_for_not(bm3: Bitmapist) -> None:
    for uid in (1, 2, 3):
        bm3.mark_event("active", uid, NOW)
    bm3.mark_attribute("paid", 2)

    unpaid = bm3.get_month_event("active", NOW) - bm3.get_attribute("paid")

    assert list(unpaid) == [1, 3]


@pytest.mark.parametrize(
    "question",
    [
        lambda bm: ~bm.get_day_event("active", NOW),
        lambda bm: bm.bit_op_not(bm.get_day_event("active", NOW)),
        lambda bm: bm.get_universe(),
    ],
)
def test_not_is_refused_for_want_of_a_universe(bm3: Bitmapist, question: Any) -> None:
    with pytest.raises(InvalidExpressionError, match="no universe"):
        len(question(bm3))


def test_an_id_of_2_to_the_32_or_more_is_refused_and_nothing_is_written(
    bm3: Bitmapist,
) -> None:
    with pytest.raises(InvalidIdError, match="2\\*\\*32 - 1"):
        bm3.mark_events("active", [1, 2**32], NOW)
    with pytest.raises(InvalidIdError):
        _ = 2**40 in bm3.get_day_event("active", NOW)

    assert bm3.get_event_names() == []


def test_a_year_without_its_month_cannot_be_marked(bm3: Bitmapist) -> None:
    with pytest.raises(InvalidExpressionError, match="no year bitmaps"):
        bm3.mark_event("active", 1, NOW, granularities=["year", "day"])

    assert bm3.get_event_names() == []


def test_names_that_would_read_as_bit_operations_are_refused(bm3: Bitmapist) -> None:
    with pytest.raises(InvalidNameError, match="bitop_"):
        bm3.mark_attribute("bitop_AND", 1)


def test_names_and_deletion_go_by_scan(bm3: Bitmapist) -> None:
    bm3.mark_event("a", 1, NOW)
    bm3.mark_event("a_b", 1, NOW)
    bm3.mark_attribute("a", 1)

    bm3.delete_event("a")

    assert bm3.get_event_names() == ["a_b"]
    assert bm3.get_attribute_names() == ["a"]
    bm3.delete_all()
    assert bm3.get_event_names() == bm3.get_attribute_names() == []


def test_the_layout_is_chosen_by_name_and_takes_no_prefix(
    make_bitmapist: MakeBitmapist,
) -> None:
    with pytest.raises(ConfigurationError, match="unknown key layout 'v3'"):
        make_bitmapist(key_layout="v3")
    with pytest.raises(ConfigurationError, match="fixed key names"):
        make_bitmapist(key_layout="bitmapist3", prefix="mine")
    with pytest.raises(ConfigurationError, match="apply to a Redis client"):
        Bitmapist(key_layout="bitmapist3")
