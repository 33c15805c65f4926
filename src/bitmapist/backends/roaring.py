"""RoaringBackend: every bitmap in process, as a pyroaring ``BitMap64``.

The default backend: unit tests without a server, offline analysis, and a
measure of memory for any id distribution. One lock guards the dictionary of
bitmaps, so an instance may be shared between threads; expressions are
evaluated under the lock, on private copies where a result is handed out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import reduce

from pyroaring import BitMap64

from ..expressions import BitmapRef, Expression, Kind, Op, Operation
from ..validation import IdArray

__all__ = ["RoaringBackend"]

_EMPTY = BitMap64()

_COMBINE = {
    Op.AND: BitMap64.__and__,
    Op.OR: BitMap64.__or__,
    Op.XOR: BitMap64.__xor__,
    Op.SUB: BitMap64.__sub__,
}

# The cardinality of a binary operation, computed without building its result.
_CARDINALITY = {
    Op.AND: BitMap64.intersection_cardinality,
    Op.OR: BitMap64.union_cardinality,
    Op.XOR: BitMap64.symmetric_difference_cardinality,
    Op.SUB: BitMap64.difference_cardinality,
}


class RoaringBackend:
    """Bitmaps held in this process."""

    def __init__(self) -> None:
        self._bitmaps: dict[BitmapRef, BitMap64] = {}
        self._lock = threading.RLock()

    def write(self, refs: Sequence[BitmapRef], ids: IdArray, value: bool) -> None:
        if ids.size == 0:
            return
        change = BitMap64(ids)
        with self._lock:
            for ref in refs:
                bitmap = self._bitmaps.setdefault(ref, BitMap64())
                if value:
                    bitmap |= change
                else:
                    bitmap -= change

    def count(self, expression: Expression) -> int:
        with self._lock:
            if isinstance(expression, BitmapRef):
                return len(self._bitmaps.get(expression, _EMPTY))
            if len(expression.operands) == 2:
                first, second = (self._evaluate(e) for e in expression.operands)
                return int(_CARDINALITY[expression.op](first, second))
            return len(self._evaluate(expression))

    def count_many(self, expressions: Sequence[Expression]) -> list[int]:
        with self._lock:
            return [self.count(expression) for expression in expressions]

    def contains(self, expression: Expression, id: int) -> bool:
        with self._lock:
            return self._contains(expression, id)

    def members(self, expression: Expression) -> BitMap64:
        with self._lock:
            return self._fresh(expression)

    def names(self, kind: Kind) -> set[str]:
        with self._lock:
            return {ref.name for ref in self._bitmaps if ref.kind is kind}

    def delete(self, kind: Kind, name: str) -> None:
        with self._lock:
            doomed = [r for r in self._bitmaps if r.kind is kind and r.name == name]
            for ref in doomed:
                del self._bitmaps[ref]

    def delete_all(self) -> None:
        with self._lock:
            self._bitmaps.clear()

    def close(self) -> None:
        pass

    def _evaluate(self, expression: Expression) -> BitMap64:
        """The bitmap ``expression`` stands for; a stored one for a leaf."""
        if isinstance(expression, BitmapRef):
            return self._bitmaps.get(expression, _EMPTY)
        operands = [self._evaluate(e) for e in expression.operands]
        return reduce(_COMBINE[expression.op], operands)

    def _fresh(self, expression: Expression) -> BitMap64:
        """Like ``_evaluate``, but never a bitmap that the store holds."""
        if isinstance(expression, Operation) and len(expression.operands) > 1:
            return self._evaluate(expression)
        return BitMap64(self._evaluate(expression))

    def _contains(self, expression: Expression, id: int) -> bool:
        if isinstance(expression, BitmapRef):
            return id in self._bitmaps.get(expression, _EMPTY)
        found = [self._contains(e, id) for e in expression.operands]
        return _truth(expression, found)


def _truth(operation: Operation, found: list[bool]) -> bool:
    """Whether one id is in ``operation``, given whether it is in each operand."""
    if operation.op is Op.AND:
        return all(found)
    if operation.op is Op.OR:
        return any(found)
    if operation.op is Op.XOR:
        return sum(found) % 2 == 1
    return found[0] and not any(found[1:])
