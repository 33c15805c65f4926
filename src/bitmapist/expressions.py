"""Expressions: the lazy query trees that backends evaluate.

An expression is a tree whose leaves are ``BitmapRef``s (one stored bitmap: an
event in a period, an attribute, or the universe of all ids ever marked) and
whose inner nodes are ``Operation``s. Building one does no I/O. NOT never
reaches a backend: ``~x`` is written as ``UNIVERSE - x`` here, so it means the
same on every backend, whatever the largest id stored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from .periods import Period

__all__ = [
    "UNIVERSE",
    "BitmapRef",
    "Expression",
    "Kind",
    "Op",
    "Operation",
    "complement",
    "leaves",
]


class Kind(str, enum.Enum):
    """What a stored bitmap holds."""

    EVENT = "event"
    ATTRIBUTE = "attribute"
    UNIVERSE = "universe"


@dataclass(frozen=True)
class BitmapRef:
    """The name of one stored bitmap; a leaf of every expression."""

    kind: Kind
    name: str
    period: Period | None = None

    def __str__(self) -> str:
        """``event:active@2025-01-15``, ``attribute:paid``, ``universe:``."""
        period = f"@{self.period.code}" if self.period else ""
        return f"{self.kind.value}:{self.name}{period}"


UNIVERSE = BitmapRef(Kind.UNIVERSE, "")


class Op(str, enum.Enum):
    """The operations between bitmaps. ``SUB`` is the first operand minus all
    the others."""

    AND = "and"
    OR = "or"
    XOR = "xor"
    SUB = "sub"


@dataclass(frozen=True)
class Operation:
    op: Op
    operands: tuple[Expression, ...]


Expression = Union[BitmapRef, Operation]  # noqa: UP007 (a runtime alias on 3.10)


def complement(expression: Expression) -> Operation:
    """NOT, within the universe of every id ever marked."""
    return Operation(Op.SUB, (UNIVERSE, expression))


def leaves(expression: Expression) -> Iterator[BitmapRef]:
    """Every leaf of ``expression``, left to right, repeats included."""
    if isinstance(expression, BitmapRef):
        yield expression
        return
    for operand in expression.operands:
        yield from leaves(operand)
