"""``count_many``, the batch count every table uses, against a set model on
every backend, with sub-expressions shared between the expressions."""

from __future__ import annotations

from functools import reduce

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitmapist.expressions import UNIVERSE, BitmapRef, Expression, Kind, Op, Operation

from .conftest import MakeBitmapist

NAMES = ["a", "b", "c"]
IDS = st.sampled_from([0, 1, 5, 63, 64, 2**20 - 1, 2**20, 2**33, 2**64 - 1])
LEAVES = st.sampled_from([BitmapRef(Kind.ATTRIBUTE, n) for n in NAMES] + [UNIVERSE])


def trees(leaf: st.SearchStrategy[Expression]) -> st.SearchStrategy[Expression]:
    return st.recursive(
        leaf,
        lambda inner: st.builds(
            Operation,
            st.sampled_from(list(Op)),
            st.lists(inner, min_size=1, max_size=3).map(tuple),
        ),
        max_leaves=8,
    )


def model(expression: Expression, sets: dict[BitmapRef, set[int]]) -> set[int]:
    if isinstance(expression, BitmapRef):
        return sets.get(expression, set())
    parts = [model(e, sets) for e in expression.operands]
    if expression.op is Op.SUB:
        return parts[0] - set().union(*parts[1:])
    combine = {Op.AND: set.__and__, Op.OR: set.__or__, Op.XOR: set.__xor__}
    return reduce(combine[expression.op], parts)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    marks=st.lists(st.tuples(st.sampled_from(NAMES), IDS), max_size=15),
    expressions=st.lists(trees(LEAVES), min_size=1, max_size=4),
    shared=st.booleans(),
)
def test_count_many_matches_the_model_and_count(
    make_bitmapist: MakeBitmapist,
    marks: list[tuple[str, int]],
    expressions: list[Expression],
    shared: bool,
) -> None:
    bm = make_bitmapist()
    bm.delete_all()
    for name, uid in marks:
        bm.mark_attribute(name, uid)
    sets: dict[BitmapRef, set[int]] = {UNIVERSE: {uid for _, uid in marks}}
    for name, uid in marks:
        sets.setdefault(BitmapRef(Kind.ATTRIBUTE, name), set()).add(uid)
    if shared:
        # The same objects again, inside new trees: computed once, used twice.
        expressions += [Operation(Op.AND, (e, expressions[0])) for e in expressions]

    counts = bm.backend.count_many(expressions)

    assert counts == [len(model(e, sets)) for e in expressions]
    # One expression at a time agrees too (fakeredis's Lua is slow: two).
    assert counts[:2] == [bm.backend.count(e) for e in expressions[:2]]
