"""The bitmaps a user holds: lazy expressions bound to one ``Bitmapist``.

Nothing here does I/O until a bitmap is asked a question: ``len``, ``in``,
iteration, ``count()``, ``has_events_marked()``, ``to_bitmap()``. Combining
bitmaps with ``&``, ``|``, ``^``, ``-`` and ``~`` builds a bigger expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap64

from .errors import InvalidExpressionError
from .expressions import BitmapRef, Expression, Op, Operation, complement
from .periods import Period

if TYPE_CHECKING:
    from .core import Bitmapist

__all__ = ["AttributeBitmap", "Bitmap", "EventBitmap"]


class Bitmap:
    """A set of ids, described by an expression and evaluated on demand."""

    __slots__ = ("expression", "owner")

    def __init__(self, owner: Bitmapist, expression: Expression) -> None:
        self.owner = owner
        self.expression = expression

    def count(self) -> int:
        """How many ids the bitmap holds (``len`` stops at ``sys.maxsize``)."""
        return self.owner._count(self.expression)

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, id: object) -> bool:
        return self.owner._contains(self.expression, id)

    def __iter__(self) -> Iterator[Any]:
        """The ids, in ascending order; with the id map, the ids as given, in
        the order the map first saw them."""
        return self.owner._iterate(self.expression)

    def has_events_marked(self) -> bool:
        """Whether the bitmap holds at least one id."""
        return self.count() > 0

    def to_bitmap(self) -> BitMap64:
        """The ids as a new pyroaring ``BitMap64``; with the id map, the
        integers the ids are stored as."""
        return self.owner._members(self.expression)

    def to_numpy(self) -> npt.NDArray[np.uint64]:
        """The ids as a sorted numpy array of uint64 (with the id map, the
        integers the ids are stored as)."""
        return self.owner._member_ids(self.expression)

    def _combine(self, op: Op, other: object) -> Bitmap:
        return self.owner._operation(op, (self, other))

    def __and__(self, other: object) -> Bitmap:
        return self._combine(Op.AND, other)

    def __or__(self, other: object) -> Bitmap:
        return self._combine(Op.OR, other)

    def __xor__(self, other: object) -> Bitmap:
        return self._combine(Op.XOR, other)

    def __sub__(self, other: object) -> Bitmap:
        return self._combine(Op.SUB, other)

    def __invert__(self) -> Bitmap:
        """Every id ever marked through this instance that is not in the bitmap."""
        return Bitmap(self.owner, complement(self.expression))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_describe(self.expression)}>"


class AttributeBitmap(Bitmap):
    """The ids marked with an attribute, such as ``paid_user``."""

    __slots__ = ()

    @property
    def name(self) -> str:
        assert isinstance(self.expression, BitmapRef)
        return self.expression.name


class EventBitmap(Bitmap):
    """The ids that did an event in one period; it can step to its neighbours."""

    __slots__ = ()

    @property
    def ref(self) -> BitmapRef:
        assert isinstance(self.expression, BitmapRef)
        return self.expression

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def period(self) -> Period:
        assert self.ref.period is not None
        return self.ref.period

    @property
    def period_start(self) -> datetime:
        """The period's first instant, in the instance's time zone."""
        return self.period.start

    @property
    def period_end(self) -> datetime:
        """The first instant after the period: periods are half-open."""
        return self.period.end

    def delta(self, n: int) -> EventBitmap:
        """The same event ``n`` periods later (earlier when ``n`` < 0)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidExpressionError(f"delta {n!r} is not an int")
        return EventBitmap(
            self.owner, BitmapRef(self.ref.kind, self.name, self.period.delta(n))
        )

    def next(self) -> EventBitmap:
        return self.delta(1)

    def prev(self) -> EventBitmap:
        return self.delta(-1)


def _describe(expression: Expression) -> str:
    if isinstance(expression, BitmapRef):
        return str(expression)
    assert isinstance(expression, Operation)
    inner = ", ".join(_describe(e) for e in expression.operands)
    return f"{expression.op.value}({inner})"
