"""The backend protocol: the few operations the API needs from a store.

A backend stores bitmaps by ``BitmapRef`` and answers whole expressions at
once, so that a store able to evaluate a nested query server-side (Redis) can
do it in one round trip, and an in-process one (Roaring) computes it directly.
Backends know nothing of time zones, id maps or NOT: the API above resolves
those into refs and operations before a backend sees them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pyroaring import BitMap64

from ..expressions import BitmapRef, Expression, Kind
from ..validation import IdArray

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """What every backend provides.

    ``write`` is atomic: every bit of every ref is written, or none is.
    Bitmaps that were written stay known by name (``names``) even when every
    bit has been cleared again, until they are deleted.
    """

    def write(
        self,
        refs: Sequence[BitmapRef],
        ids: IdArray,
        value: bool,
        expire_at: Mapping[BitmapRef, datetime] | None = None,
    ) -> None:
        """Set (``value`` true) or clear every id in every bitmap of ``refs``;
        with no ids, do nothing at all. A bitmap in ``expire_at`` is dropped
        once its deadline passes (the API passes ``expire_at`` only when expiry
        is configured)."""

    def count(self, expression: Expression) -> int:
        """How many ids ``expression`` holds."""

    def count_many(self, expressions: Sequence[Expression]) -> list[int]:
        """How many ids each of ``expressions`` holds, in order, asked all at
        once (one round trip on Redis), for tables of many cells."""

    def contains(self, expression: Expression, id: int) -> bool:
        """Whether ``expression`` holds ``id``."""

    def members(self, expression: Expression) -> BitMap64:
        """The ids ``expression`` holds, as a new Roaring bitmap."""

    def names(self, kind: Kind) -> set[str]:
        """The names of the stored bitmaps of ``kind``."""

    def delete(self, kind: Kind, name: str) -> None:
        """Delete every bitmap of ``kind`` called ``name`` (all its periods)."""

    def delete_all(self) -> None:
        """Delete every bitmap this backend stores."""

    def close(self) -> None:
        """Release connections or other resources."""
