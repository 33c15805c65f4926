"""Counting expressions in process over dense bitmaps: one shard's Redis
strings, read as rows of numpy words.

``RedisBackend.count_many`` uses this for tables of many cells. Such tables
combine a few stored bitmaps in many ways (a 30 x 30 cohort table: 60 bitmaps,
930 counts), so reading each bitmap once and combining the words here costs
far less than asking the server to rewrite bitmaps with BITOP for every cell.

The expressions are evaluated together, level by level: every operation
whose operands are known is computed in one numpy call with the others of the
same kind, and a sub-expression shared by several expressions (a cohort, in
every cell of its row) is computed once. Only results that a later operation
needs are kept; the others are counted at once, in chunks, so memory stays
near the leaves' own size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..expressions import BitmapRef, Expression, Op

__all__ = ["DensePlan"]

Words = np.ndarray[Any, np.dtype[np.uint64]]

_REDUCE = {Op.AND: np.bitwise_and, Op.OR: np.bitwise_or, Op.XOR: np.bitwise_xor}

# How many results one numpy call computes at most, bounding its scratch.
_CHUNK = 64


class DensePlan:
    """A batch of expressions, prepared once and counted over each shard.

    Nodes are numbered by object identity (callers share the objects they
    repeat, and hashing deep trees would cost more than combining their
    words), leaves by value: ``leaves`` lists the stored bitmaps to read.
    Operations are grouped by level (one more than their deepest operand's),
    kind and first operand, so that one numpy call combines one row with many.
    """

    def __init__(self, expressions: Sequence[Expression]) -> None:
        self.leaves: list[BitmapRef] = []
        self._roots: list[int] = []
        self._rest: dict[int, list[int]] = {}
        self._needed: set[int] = set()
        self._levels: list[dict[tuple[Op, int, int], list[int]]] = []
        self._seen: dict[int, tuple[int, int]] = {}
        self._leaf_node: dict[BitmapRef, int] = {}
        for expression in expressions:
            self._roots.append(self._visit(expression)[0])

    def count(self, strings: Sequence[bytes | None]) -> list[int]:
        """How many bits each expression holds, given the string of each leaf
        in ``leaves`` order (None or b"" when it has none)."""
        width = max(1, -(-max((len(s or b"") for s in strings), default=0) // 8))
        kept: Words = np.zeros((len(strings), width), dtype=np.uint64)
        for row, data in enumerate(strings):
            if data:
                kept[row, : -(-len(data) // 8)] = np.frombuffer(
                    data.ljust(-(-len(data) // 8) * 8, b"\0"), dtype=np.uint64
                )
        # ``kept`` holds the leaves, then every result a later operation
        # needs; a node's slot is its row there. Leaves are nodes -1, -2, ...
        slot = {-1 - i: i for i in range(len(strings))}
        counts = dict(zip(slot, _popcounts(kept), strict=True))
        for level in self._levels:
            for (op, first, _), nodes in level.items():
                results: list[Words] = []
                for start in range(0, len(nodes), _CHUNK):
                    chunk = nodes[start : start + _CHUNK]
                    picks = np.array(
                        [[slot[o] for o in self._rest[n]] for n in chunk],
                        dtype=np.intp,
                    )
                    value = _apply(op, kept[slot[first]], kept[picks])
                    counts.update(zip(chunk, _popcounts(value), strict=True))
                    for n, row in zip(chunk, value, strict=True):
                        if n in self._needed:
                            slot[n] = len(kept) + len(results)
                            results.append(row)
                if results:
                    kept = np.concatenate([kept, np.stack(results)])
        return [counts[root] for root in self._roots]

    def _visit(self, expression: Expression) -> tuple[int, int]:
        """The node number and level of ``expression``, numbering it once."""
        if isinstance(expression, BitmapRef):
            node = self._leaf_node.get(expression)
            if node is None:
                node = self._leaf_node[expression] = -1 - len(self.leaves)
                self.leaves.append(expression)
            found = (node, 0)
        else:
            seen, operands, level = self._seen, [], 0
            for operand in expression.operands:
                part, depth = seen.get(id(operand)) or self._visit(operand)
                operands.append(part)
                level = max(level, depth + 1)
            node = len(self._rest)
            self._rest[node] = operands[1:]
            self._needed.update(part for part in operands if part >= 0)
            while len(self._levels) < level:
                self._levels.append(defaultdict(list))
            group = (expression.op, operands[0], len(operands))
            self._levels[level - 1][group].append(node)
            found = (node, level)
        self._seen[id(expression)] = found
        return found


def _apply(op: Op, first: Words, rest: Words) -> Words:
    """``first`` combined with each row of ``rest`` (nodes, operands, words),
    reusing the gathered rows for the result."""
    if rest.shape[1] == 0:
        alone: Words = np.broadcast_to(first, (len(rest), first.size)).copy()
        return alone
    joined: Words = (
        rest[:, 0]
        if rest.shape[1] == 1
        else (np.bitwise_or if op is Op.SUB else _REDUCE[op]).reduce(rest, axis=1)
    )
    if op is Op.SUB:
        np.invert(joined, out=joined)
        np.bitwise_and(joined, first, out=joined)
    else:
        _REDUCE[op](joined, first, out=joined)
    return joined


def _popcounts(rows: Words) -> list[int]:
    """The bits set in each row."""
    if hasattr(np, "bitwise_count"):
        counts: list[int] = np.bitwise_count(rows).sum(axis=1, dtype=np.uint64).tolist()
    else:
        bits = np.unpackbits(rows.view(np.uint8), axis=1)
        counts = bits.sum(axis=1, dtype=np.uint64).tolist()
    return counts
