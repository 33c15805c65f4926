"""RoaringBackend: every bitmap in process, as a pyroaring ``BitMap64``.

The default backend: unit tests without a server, offline analysis, and a
measure of memory for any id distribution. One lock guards the dictionary of
bitmaps, so an instance may be shared between threads; expressions are
evaluated under the lock, on private copies where a result is handed out.
Bitmaps written with a deadline (expiry per granularity) are dropped once
``clock`` passes it, checked whenever the backend is used.

With a ``path``, the bitmaps persist in a bitmapist archive (``archive``):
read whole when the backend is made, written whole, atomically, by ``save()``
and by ``close()`` when anything changed. A crash between saves loses what
was written since the last one; the file is never left half-written. The
archive holds the id map when there is one (format version 2), and no
deadlines. A ``Bitmapist`` over this backend must agree with it about the map
(``check_ids``), and ``save()`` refuses to write a file whose bitmaps hold
integers the map does not list, which could not be opened again.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import datetime, timezone, tzinfo
from functools import reduce
from pathlib import Path

import numpy as np
from pyroaring import BitMap64

from ..archive import ArchiveReader, write_archive, zone_name
from ..errors import ArchiveError, ConfigurationError, WriteRefusedError
from ..expressions import UNIVERSE, BitmapRef, Expression, Kind, Op, Operation
from ..idmap import MemoryIdMap
from ..validation import IdArray
from .base import Write, as_bitmap

__all__ = ["RoaringBackend"]

_EMPTY = BitMap64()
UTC = timezone.utc


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
    """Bitmaps held in this process; ``clock`` says when deadlines pass
    (``Bitmapist()`` passes its own). With ``path``, saved to that archive:
    ``timezone`` is then the time zone of its periods once it has been read
    (a ``Bitmapist`` over this backend must use it, as ``Bitmapist.open``
    does), and ``read_only`` refuses every change."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._bitmaps: dict[BitmapRef, BitMap64] = {}
        self._lock = threading.RLock()
        self.path = None if path is None else Path(path)
        self.read_only = read_only
        self.timezone: tzinfo | None = None
        self._changed = False
        self._id_map = MemoryIdMap()
        # Whether the ids are mapped: the file had an id map, or the map has
        # entries. A file without one gives an instance of plain integers.
        self._mapped = False
        if self.path is not None and (read_only or self.path.exists()):
            self._read(self.path)
        self._clock = clock
        self._deadlines: dict[BitmapRef, datetime] = {}
        # (deadline, order, ref), soonest first; a ref written again with a new
        # deadline leaves a stale entry, skipped when it comes up.
        self._expiring: list[tuple[datetime, int, BitmapRef]] = []

    def write(
        self,
        refs: Sequence[BitmapRef],
        ids: IdArray,
        value: bool,
        expire_at: Mapping[BitmapRef, datetime] | None = None,
    ) -> None:
        self.write_batch([Write(tuple(refs), ids, value, expire_at)])

    def write_batch(self, writes: Sequence[Write]) -> None:
        """Every write is applied under the lock, so a batch is atomic as a
        whole here; the bits of each write are built into one bitmap first."""
        # An empty write names no bitmap, as on Redis.
        changes = [(w, as_bitmap(w.ids)) for w in writes if w.ids.size]
        with self._lock:
            self._change()
            for write, change in changes:
                for ref in write.refs:
                    bitmap = self._bitmaps.setdefault(ref, BitMap64())
                    if write.value:
                        bitmap |= change
                    else:
                        bitmap -= change
                for ref, deadline in (write.expire_at or {}).items():
                    self._deadlines[ref] = deadline
                    entry = (deadline, len(self._expiring), ref)
                    heapq.heappush(self._expiring, entry)
            self._expire()

    def _expire(self) -> None:
        """Drop the bitmaps whose deadline has passed."""
        if not self._expiring:
            return
        now = self._clock()
        while self._expiring and self._expiring[0][0] <= now:
            deadline, _, ref = heapq.heappop(self._expiring)
            if self._deadlines.get(ref) == deadline:
                del self._deadlines[ref]
                self._bitmaps.pop(ref, None)

    def count(self, expression: Expression) -> int:
        with self._lock:
            self._expire()
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
            self._expire()
            return self._contains(expression, id)

    def members(self, expression: Expression) -> BitMap64:
        with self._lock:
            self._expire()
            return self._fresh(expression)

    def member_ids(self, expression: Expression) -> IdArray:
        with self._lock:
            self._expire()
            # to_array() makes a new array.array, which numpy wraps as it is.
            return np.asarray(self._evaluate(expression).to_array(), dtype=np.uint64)

    def names(self, kind: Kind) -> set[str]:
        with self._lock:
            self._expire()
            return {ref.name for ref in self._bitmaps if ref.kind is kind}

    def delete(self, kind: Kind, name: str) -> None:
        with self._lock:
            self._change()
            doomed = [r for r in self._bitmaps if r.kind is kind and r.name == name]
            for ref in doomed:
                del self._bitmaps[ref]
                self._deadlines.pop(ref, None)

    def delete_all(self) -> None:
        with self._lock:
            self._change()
            self._bitmaps.clear()
            self._deadlines.clear()
            self._expiring.clear()
            self._id_map.clear()

    def id_map(self) -> MemoryIdMap:
        """The id map, in process like the bitmaps."""
        return self._id_map

    @property
    def mapped(self) -> bool:
        """Whether the bitmaps hold integers of the id map: the file read had
        one, or ids have been mapped since."""
        return self._mapped or len(self._id_map) > 0

    def _read(self, path: Path) -> None:
        with ArchiveReader(path) as reader:
            self._bitmaps = dict((e.ref, b) for e, b in reader.bitmaps())
            self.timezone = reader.time_zone
            if reader.id_map is None:
                return
            self._mapped = True
            try:
                self._id_map.restore(
                    pair for chunk in reader.id_map_chunks() for pair in chunk
                )
            except ValueError as error:
                raise ArchiveError(f"{path}: the id map is damaged: {error}") from None
        unlisted = self._unlisted()
        if unlisted:
            raise ArchiveError(f"{path}: {unlisted}")

    def _unlisted(self) -> str | None:
        """What holds an integer the id map does not list, or None when every
        bitmap's integers are the map's."""
        known = BitMap64(number for number, _ in self._id_map.entries())
        for ref, bitmap in self._bitmaps.items():
            if not bitmap.issubset(known):
                return (
                    f"bitmap {ref} holds integers the id map does not list, "
                    f"such as {(bitmap - known).min()}"
                )
        return None

    def check_ids(self, id_map: bool) -> None:
        """Refuse an instance whose ids would not match the bitmaps held: a
        plain one over the integers of an id map, or one with a map over plain
        integers. ``Bitmapist`` calls this when it is built."""
        where = "this RoaringBackend" if self.path is None else str(self.path)
        if self.mapped and not id_map:
            raise ConfigurationError(
                f"{where} holds ids through an id map, so its bitmaps hold the "
                f"map's integers: pass id_map=True (Bitmapist.open follows the "
                f"file by itself)"
            )
        if id_map and not self.mapped and self._bitmaps:
            raise ConfigurationError(
                f"{where} holds plain integer ids, without an id map: leave "
                f"id_map out, or start from an empty store"
            )

    def refs(self) -> Set[BitmapRef]:
        with self._lock:
            return set(self._bitmaps)

    def store(self, ref: BitmapRef, bitmap: BitMap64) -> None:
        with self._lock:
            self._change()
            universe = self._bitmaps.setdefault(UNIVERSE, BitMap64())
            universe |= bitmap
            if ref != UNIVERSE:
                self._bitmaps[ref] = BitMap64(bitmap)

    def save(self) -> None:
        """Write every bitmap to ``path``, atomically."""
        if self.path is None:
            raise ConfigurationError(
                "this RoaringBackend has no file: make it with RoaringBackend(path=...)"
            )
        if self.read_only:
            raise WriteRefusedError(f"{self.path} was opened read-only")
        with self._lock:
            # A file that could not be opened again must not replace one that can.
            unlisted = self._unlisted() if self.mapped else None
            if unlisted:
                raise ArchiveError(
                    f"cannot save {self.path}: {unlisted}: ids were written "
                    f"without the id map into a store that has one"
                )
            write_archive(
                self.path,
                self._time_zone(),
                self._bitmaps,
                self._bitmaps.__getitem__,
                id_map=self._id_map.entries if self.mapped else None,
            )
            self._changed = False

    def close(self) -> None:
        """Save to ``path`` if anything changed since it was read or saved."""
        if self._changed and self.path is not None:
            self.save()

    def _change(self) -> None:
        if self.read_only:
            raise WriteRefusedError(
                f"{self.path} was opened read-only: open it writable to change it"
            )
        self._changed = True

    def _time_zone(self) -> tzinfo:
        """The one time zone of every period held: an archive records one."""
        zones = [self.timezone] + [
            r.period.start.tzinfo for r in self._bitmaps if r.period
        ]
        named = {zone_name(zone) for zone in zones if zone is not None}
        if len(named) > 1:
            raise ArchiveError(
                f"the bitmaps have periods in several time zones "
                f"({', '.join(sorted(named))}): an archive holds periods of one"
            )
        return self.timezone or next((z for z in zones if z is not None), UTC)

    def put(self, ref: BitmapRef, bitmap: BitMap64) -> None:
        """Hold ``bitmap`` itself as ``ref``, replacing what was there: for
        callers that build bitmaps elsewhere, such as the closed-period cache."""
        with self._lock:
            self._bitmaps[ref] = bitmap

    def forget(self, ref: BitmapRef) -> None:
        with self._lock:
            self._bitmaps.pop(ref, None)

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
