"""The backend protocol: the few operations the API needs from a store.

A backend stores bitmaps by ``BitmapRef`` and answers whole expressions at
once, so that a store able to evaluate a nested query server-side (Redis) can
do it in one round trip, and an in-process one (Roaring) computes it directly.
Backends know nothing of time zones, id maps or NOT: the API above resolves
those into refs and operations before a backend sees them.
"""

from __future__ import annotations

import array
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
from pyroaring import BitMap64

from ..expressions import BitmapRef, Expression, Kind
from ..validation import IdArray

__all__ = ["Backend", "Exportable", "Write", "as_bitmap"]


@dataclass(frozen=True)
class Write:
    """Set (``value`` true) or clear every id of ``ids`` in every bitmap of
    ``refs``. One id of one write is an *event*: its bit in each of the refs."""

    refs: tuple[BitmapRef, ...]
    ids: IdArray
    value: bool
    # Deadlines of refs that expire, as ``Backend.write`` takes them.
    expire_at: Mapping[BitmapRef, datetime] | None = None


@runtime_checkable
class Backend(Protocol):
    """What every backend provides.

    Writes are atomic per event: after a failure, each id of a write is set
    (or cleared) in every bitmap of its refs, or in none. A backend may apply
    a large write in several steps, so another reader may see some events of
    it before others. Bitmaps that were written stay known by name
    (``names``) even when every bit has been cleared again, until they are
    deleted.
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

    def write_batch(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in order, each atomic per event, in as few steps
        as the backend allows."""

    def count(self, expression: Expression) -> int:
        """How many ids ``expression`` holds."""

    def count_many(self, expressions: Sequence[Expression]) -> list[int]:
        """How many ids each of ``expressions`` holds, in order, asked all at
        once (one round trip on Redis), for tables of many cells."""

    def contains(self, expression: Expression, id: int) -> bool:
        """Whether ``expression`` holds ``id``."""

    def members(self, expression: Expression) -> BitMap64:
        """The ids ``expression`` holds, as a new Roaring bitmap."""

    def member_ids(self, expression: Expression) -> IdArray:
        """The ids ``expression`` holds, sorted, as a new uint64 array: what
        iteration and ``to_numpy()`` need, without building a bitmap."""

    def names(self, kind: Kind) -> set[str]:
        """The names of the stored bitmaps of ``kind``."""

    def delete(self, kind: Kind, name: str) -> None:
        """Delete every bitmap of ``kind`` called ``name`` (all its periods)."""

    def delete_all(self) -> None:
        """Delete every bitmap this backend stores."""

    def close(self) -> None:
        """Release connections or other resources."""


def as_bitmap(ids: IdArray) -> BitMap64:
    """``ids`` as a new bitmap. pyroaring builds one from an ``array.array``
    of unsigned 64-bit ints through its buffer, measured about twice as fast
    as from a numpy array of the same ids (benchmarks/README.md)."""
    return BitMap64(array.array("Q", ids.astype(np.uint64, copy=False).tobytes()))


@runtime_checkable
class Exportable(Backend, Protocol):
    """A backend that can list its bitmaps and write one whole: what export
    and load need. Both built-in backends are exportable."""

    def refs(self) -> Set[BitmapRef]:
        """Every stored bitmap, the universe included. A period is named by its
        code; the time zone its ``start`` is given in is the backend's choice
        (Redis keeps only codes and answers in UTC)."""

    def store(self, ref: BitmapRef, bitmap: BitMap64) -> None:
        """Replace the bitmap ``ref`` with ``bitmap`` and add its ids to the
        universe, atomically; storing the universe adds to it. (On a Redis
        Cluster: after a failure the bitmap is as it was, or
        ``PartlyStoredError`` names the shards where it may not be.)"""
