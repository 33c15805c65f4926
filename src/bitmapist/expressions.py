"""Expressions: the lazy query trees that backends evaluate.

An expression is a tree whose leaves are ``BitmapRef``s (one stored bitmap: an
event in a period, an attribute, or the universe of all ids ever marked) and
whose inner nodes are ``Operation``s. Building one does no I/O. NOT never
reaches a backend: ``~x`` is written as ``UNIVERSE - x`` here, so it means the
same on every backend, whatever the largest id stored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
    "distinct_leaves",
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
    # Refs key every store and cache and tables hash them by the thousand, so
    # the hash is computed once; pickling rebuilds it in the new process.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.kind, self.name, self.period)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[BitmapRef], tuple[Kind, str, Period | None]]:
        return (BitmapRef, (self.kind, self.name, self.period))

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
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.op, self.operands)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Operation], tuple[Op, tuple[Expression, ...]]]:
        return (Operation, (self.op, self.operands))


Expression = Union[BitmapRef, Operation]  # noqa: UP007 (a runtime alias on 3.10)


def complement(expression: Expression) -> Operation:
    """NOT, within the universe of every id ever marked."""
    return Operation(Op.SUB, (UNIVERSE, expression))


def distinct_leaves(expressions: Iterable[Expression]) -> set[BitmapRef]:
    """The leaves of all ``expressions``, each once; a sub-expression that
    several of them share (the same object) is walked once."""
    found: set[BitmapRef] = set()
    walked: set[int] = set()
    stack = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, BitmapRef):
            found.add(node)
        elif id(node) not in walked:
            walked.add(id(node))
            stack.extend(node.operands)
    return found


def leaves(expression: Expression) -> Iterator[BitmapRef]:
    """Every leaf of ``expression``, left to right, repeats included."""
    if isinstance(expression, BitmapRef):
        yield expression
        return
    for operand in expression.operands:
        yield from leaves(operand)
