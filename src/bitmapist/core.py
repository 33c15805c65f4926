"""``Bitmapist``: marking events and attributes, and asking questions of them.

The instance turns names, ids and timestamps into ``BitmapRef``s in its time
zone, checks every argument before any I/O, and hands whole expressions to its
backend. It holds no state of its own beyond its configuration.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyroaring import BitMap64

from . import transfer
from .analysis import breakdown_table, cohort_table, lifecycle_table, range_expression
from .backends import Backend, RedisBackend, RoaringBackend, backend_from_url
from .backends.keys import DEFAULT_PREFIX, DEFAULT_SHARD_WIDTH
from .batching import Batcher
from .bitmaps import AttributeBitmap, Bitmap, EventBitmap
from .cache import ClosedPeriodCache
from .errors import ConfigurationError, InvalidExpressionError, InvalidTimestampError
from .expiry import Lifetimes
from .expressions import (
    UNIVERSE,
    BitmapRef,
    Expression,
    Kind,
    Op,
    Operation,
    complement,
)
from .idmap import ids_for
from .periods import (
    DEFAULT_GRANULARITIES,
    Granularity,
    Period,
    granularities_of,
    local_time,
)
from .validation import IdArray, check_name

__all__ = ["Bitmapist"]

T = TypeVar("T")
Granularities = Iterable[Granularity | str] | Granularity | str
Timestamp = datetime | date


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Bitmapist:
    """Event and attribute bitmaps over one backend.

    ``Bitmapist()`` keeps bitmaps in process; ``Bitmapist(redis_client=r)``
    keeps them in Redis under ``prefix``; ``Bitmapist(backend=b)`` uses any
    backend. ``key_layout="bitmapist3"`` reads and writes the keys bitmapist 3.x
    keeps (ids below 2**32, no NOT; see ``backends.keys.Bitmapist3Layout``).
    ``timezone`` is where periods begin and end (UTC by default);
    ``granularities`` are the periods ``mark_event`` writes by default;
    ``clock`` gives "now" (tests pass their own). With ``id_map=True``, ids may
    be str, bytes, ``uuid.UUID`` or int, mapped to dense integers in the
    backend (see ``bitmapist.idmap``). ``expire`` maps granularities to how
    long their bitmaps are kept after their period ends (see
    ``bitmapist.expiry``). ``cache``, on Redis, is the most bytes of closed
    periods' bitmaps to hold in process (see ``bitmapist.cache``); off by
    default.
    """

    def __init__(
        self,
        redis_client: Any = None,
        *,
        backend: Backend | None = None,
        timezone: str | tzinfo = "UTC",
        granularities: Granularities = DEFAULT_GRANULARITIES,
        prefix: str = DEFAULT_PREFIX,
        shard_width: int = DEFAULT_SHARD_WIDTH,
        key_layout: str = "sharded",
        clock: Callable[[], datetime] = _utc_now,
        id_map: bool = False,
        expire: Mapping[Granularity | str, timedelta] | None = None,
        cache: int | None = None,
    ) -> None:
        self.timezone = _zone(timezone)
        self.granularities = granularities_of(granularities)
        self.clock = clock
        self.lifetimes = Lifetimes(expire)
        if redis_client is not None and backend is not None:
            raise ConfigurationError("pass either redis_client or backend, not both")
        if redis_client is not None:
            backend = RedisBackend(
                redis_client,
                prefix=prefix,
                shard_width=shard_width,
                key_layout=key_layout,
            )
        elif (prefix, shard_width, key_layout) != (
            DEFAULT_PREFIX,
            DEFAULT_SHARD_WIDTH,
            "sharded",
        ):
            raise ConfigurationError(
                "prefix, shard_width and key_layout apply to a Redis client: pass "
                "them to the backend instead"
            )
        if backend is None:
            backend = RoaringBackend(clock=clock)
        if not isinstance(backend, Backend):
            raise ConfigurationError(
                f"backend {backend!r} does not implement bitmapist.backends.Backend"
            )
        if isinstance(backend, RoaringBackend):
            backend.check_ids(id_map)
        self.backend: Backend = backend
        self.ids = ids_for(backend, id_map)
        self._cache = _closed_period_cache(backend, cache, clock)
        self._writes = Batcher(
            backend, None if self._cache is None else self._cache.forget
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timezone: str | tzinfo = "UTC",
        granularities: Granularities = DEFAULT_GRANULARITIES,
        clock: Callable[[], datetime] = _utc_now,
        id_map: bool = False,
        expire: Mapping[Granularity | str, timedelta] | None = None,
        cache: int | None = None,
        **backend_options: Any,
    ) -> Bitmapist:
        """An instance over the backend ``url`` names: ``memory://``,
        ``redis://host:6379/0``, ``rediss://...``, ``unix:///path`` or
        ``redis+cluster://host:port``."""
        backend = backend_from_url(url, **backend_options)
        return cls(
            backend=backend,
            timezone=timezone,
            granularities=granularities,
            clock=clock,
            id_map=id_map,
            expire=expire,
            cache=cache,
        )

    # -- marking

    def mark_event(
        self,
        name: str,
        uuid: int,
        timestamp: Timestamp | None = None,
        *,
        granularities: Granularities | None = None,
    ) -> None:
        """Mark ``uuid`` as having done ``name`` at ``timestamp`` (default now),
        in every period of the chosen granularities, atomically."""
        self.mark_events(name, [uuid], timestamp, granularities=granularities)

    def mark_events(
        self,
        name: str,
        uuids: Iterable[int],
        timestamp: Timestamp | None = None,
        *,
        granularities: Granularities | None = None,
    ) -> None:
        """Mark many ids at once (any iterable, or a numpy array)."""
        refs = self._event_refs(name, timestamp, granularities)
        ids = self.ids.for_writing(uuids)
        self._write([*refs, UNIVERSE], ids, True)

    def unmark_event(
        self,
        name: str,
        uuid: int,
        timestamp: Timestamp | None = None,
        *,
        granularities: Granularities | None = None,
    ) -> None:
        """Clear ``uuid`` from the periods ``mark_event`` would have written.
        The id stays in the universe that ``~`` complements within."""
        refs = self._event_refs(name, timestamp, granularities)
        ids = self.ids.known([uuid])
        self._write(refs, ids, False)

    def mark_attribute(self, name: str, uuid: int) -> None:
        """Mark ``uuid`` with the attribute ``name``, which has no period."""
        ref = BitmapRef(Kind.ATTRIBUTE, check_name(name, "attribute name"))
        self._write([ref, UNIVERSE], self.ids.for_writing([uuid]), True)

    def unmark_attribute(self, name: str, uuid: int) -> None:
        ref = BitmapRef(Kind.ATTRIBUTE, check_name(name, "attribute name"))
        self._write([ref], self.ids.known([uuid]), False)

    def _write(self, refs: list[BitmapRef], ids: IdArray, value: bool) -> None:
        self._writes.write(refs, ids, value, self.lifetimes.deadlines(refs))

    def batch(self) -> AbstractContextManager[None]:
        """``with bm.batch():`` queues every mark and unmark made inside the
        block in this thread and sends them together when it ends, in far
        fewer commands. Queries inside the block do not see the queued marks;
        if the block raises, nothing queued is written. The queued ids stay in
        memory until the block ends: a load of billions is better sent in
        several batches."""
        return self._writes.batch()

    def _event_refs(
        self,
        name: str,
        timestamp: Timestamp | None,
        granularities: Granularities | None,
    ) -> list[BitmapRef]:
        name = check_name(name, "event name")
        chosen = (
            self.granularities
            if granularities is None
            else granularities_of(granularities)
        )
        local = local_time(self._when(timestamp), self.timezone)
        if isinstance(local, datetime):
            # Every period holding an instant holds its whole hour.
            local = local.replace(minute=0, second=0, microsecond=0)
        try:
            return list(_event_refs(name, chosen, local, self.timezone))
        except TypeError:  # a tzinfo that cannot be hashed
            return list(_event_refs.__wrapped__(name, chosen, local, self.timezone))

    def _when(self, timestamp: Timestamp | None) -> Timestamp:
        if timestamp is None:
            return self.clock()
        if not isinstance(timestamp, date):
            raise InvalidTimestampError(
                f"timestamp {timestamp!r} is a {type(timestamp).__name__}: "
                f"expected a datetime or a date"
            )
        return timestamp

    # -- reading

    def get_event(
        self, name: str, granularity: Granularity | str, when: Timestamp | None = None
    ) -> EventBitmap:
        """The ids that did ``name`` in the period of ``granularity`` holding
        ``when`` (default now)."""
        (parsed,) = granularities_of(granularity)
        period = Period.containing(parsed, self._when(when), self.timezone)
        ref = BitmapRef(Kind.EVENT, check_name(name, "event name"), period)
        return EventBitmap(self, ref)

    def get_hour_event(self, name: str, when: Timestamp | None = None) -> EventBitmap:
        return self.get_event(name, Granularity.HOUR, when)

    def get_day_event(self, name: str, when: Timestamp | None = None) -> EventBitmap:
        return self.get_event(name, Granularity.DAY, when)

    def get_week_event(self, name: str, when: Timestamp | None = None) -> EventBitmap:
        """The ISO week: the week of 2024-12-30 is 2025-W01."""
        return self.get_event(name, Granularity.WEEK, when)

    def get_month_event(self, name: str, when: Timestamp | None = None) -> EventBitmap:
        return self.get_event(name, Granularity.MONTH, when)

    def get_year_event(self, name: str, when: Timestamp | None = None) -> EventBitmap:
        return self.get_event(name, Granularity.YEAR, when)

    def get_attribute(self, name: str) -> AttributeBitmap:
        ref = BitmapRef(Kind.ATTRIBUTE, check_name(name, "attribute name"))
        return AttributeBitmap(self, ref)

    def get_universe(self) -> Bitmap:
        """Every id ever marked through this instance: what ``~`` works within."""
        return Bitmap(self, UNIVERSE)

    # -- combining

    def bit_op_and(self, *operands: Bitmap) -> Bitmap:
        return self._operation(Op.AND, operands)

    def bit_op_or(self, *operands: Bitmap) -> Bitmap:
        return self._operation(Op.OR, operands)

    def bit_op_xor(self, *operands: Bitmap) -> Bitmap:
        return self._operation(Op.XOR, operands)

    def bit_op_sub(self, *operands: Bitmap) -> Bitmap:
        """The first operand minus every other."""
        return self._operation(Op.SUB, operands)

    def bit_op_not(self, *operands: Bitmap) -> Bitmap:
        """The complement of one operand, within every id ever marked."""
        if len(operands) != 1:
            raise InvalidExpressionError(
                f"bit_op_not takes exactly one operand, got {len(operands)}"
            )
        (operand,) = self._expressions(operands)
        return Bitmap(self, complement(operand))

    def _operation(self, op: Op, operands: Sequence[object]) -> Bitmap:
        if not operands:
            raise InvalidExpressionError(
                f"bit_op_{op.value} needs at least one operand"
            )
        flat: list[Expression] = []
        for expression in self._expressions(operands):
            # AND, OR and XOR are associative: nesting them gains nothing.
            same = isinstance(expression, Operation) and expression.op is op
            if same and op is not Op.SUB:
                flat.extend(expression.operands)  # type: ignore[union-attr]
            else:
                flat.append(expression)
        return Bitmap(self, Operation(op, tuple(flat)))

    def _expressions(self, operands: Sequence[object]) -> list[Expression]:
        found = []
        for operand in operands:
            if not isinstance(operand, Bitmap):
                raise InvalidExpressionError(
                    f"operand {operand!r} is a {type(operand).__name__}: "
                    f"bit operations take bitmaps"
                )
            if operand.owner is not self:
                raise InvalidExpressionError(
                    f"operand {operand!r} belongs to another Bitmapist instance: "
                    f"an expression may combine bitmaps of one instance only"
                )
            found.append(operand.expression)
        return found

    # -- analyses (bitmapist.analysis does the work)

    def get_range_event(
        self,
        name: str,
        start: Timestamp,
        end: Timestamp,
        *,
        granularities: Granularities | None = None,
    ) -> Bitmap:
        """The ids that did ``name`` in [start, end), from the fewest stored
        year, month, day and hour bitmaps."""
        return Bitmap(self, range_expression(self, name, start, end, granularities))

    # The analyses are functions of an instance (bitmapist.analysis), bound
    # here as methods so that their signatures and docstrings live in one place.
    cohort = cohort_table
    lifecycle = lifecycle_table
    breakdown = breakdown_table

    # -- evaluation, used by Bitmap and the analyses

    def _ask(self, expression: Expression, question: Callable[[Backend], T]) -> T:
        """``question`` answered from the cache when it can, else the backend."""
        if self._cache is not None:
            answer = self._cache.ask(expression, question)
            if answer is not None:
                return answer
        return question(self.backend)

    def _count(self, expression: Expression) -> int:
        return self._count_many([expression])[0]

    def _count_many(self, expressions: Sequence[Expression]) -> list[int]:
        # The cache answers the whole table or none of it.
        if self._cache is not None:
            counts = self._cache.counts(expressions)
            if counts is not None:
                return counts
        if len(expressions) == 1:
            return [self.backend.count(expressions[0])]
        return self.backend.count_many(expressions)

    def _contains(self, expression: Expression, id: object) -> bool:
        number = self.ids.lookup(id)
        if number is None:
            return False
        return self._ask(
            expression, lambda backend: backend.contains(expression, number)
        )

    def _members(self, expression: Expression) -> BitMap64:
        return self._ask(expression, lambda backend: backend.members(expression))

    def _member_ids(self, expression: Expression) -> IdArray:
        return self._ask(expression, lambda backend: backend.member_ids(expression))

    def _iterate(self, expression: Expression) -> Iterator[Any]:
        return self.ids.external(self._member_ids(expression))

    # -- files

    def export(
        self,
        path: str | os.PathLike[str],
        names: Iterable[str] | str | None = None,
        since: Timestamp | None = None,
        until: Timestamp | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Write the bitmaps of the events and attributes ``names`` (all by
        default), in the periods wholly within [``since``, ``until``), and the
        universe, to a new archive at ``path``; return how many were written.
        ``progress(done, total)`` is called after each bitmap."""
        return transfer.export(self, path, names, since, until, progress)

    def load(
        self,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Write every bitmap of the archive at ``path`` into this instance's
        backend, each replacing the bitmap of the same name and period, each
        in one atomic step; return how many were written."""
        return transfer.load(self, path, progress)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, writable: bool = False, **options: Any
    ) -> Bitmapist:
        """The archive at ``path`` in process, in the time zone it records,
        with the whole API. Read-only unless ``writable``: then ``close()``
        (or leaving a ``with`` block) saves changes back, atomically."""
        return transfer.open_archive(cls, path, writable, options)

    # -- housekeeping

    def get_event_names(self) -> list[str]:
        """Every event name stored, sorted."""
        return sorted(self.backend.names(Kind.EVENT))

    def get_attribute_names(self) -> list[str]:
        """Every attribute name stored, sorted."""
        return sorted(self.backend.names(Kind.ATTRIBUTE))

    def delete_event(self, name: str) -> None:
        """Delete every period of the event ``name``."""
        self.backend.delete(Kind.EVENT, check_name(name, "event name"))
        self._forget_cached()

    def delete_attribute(self, name: str) -> None:
        self.backend.delete(Kind.ATTRIBUTE, check_name(name, "attribute name"))
        self._forget_cached()

    def delete_all(self) -> None:
        """Delete every event, attribute and the universe."""
        self.backend.delete_all()
        self._forget_cached()

    def _forget_cached(self) -> None:
        if self._cache is not None:
            self._cache.forget_all()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        self.backend.close()

    def __enter__(self) -> Bitmapist:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.lru_cache(maxsize=4096)
def _event_refs(
    name: str, chosen: frozenset[Granularity], local: Timestamp, tz: tzinfo
) -> tuple[BitmapRef, ...]:
    """The refs a mark at the local hour (or date) ``local`` writes, kept for
    the next marks of the same hour: working them out costs a single mark
    more than sending it."""
    return tuple(
        BitmapRef(Kind.EVENT, name, Period.containing(g, local, tz))
        for g in sorted(chosen, key=list(Granularity).index)
    )


def _closed_period_cache(
    backend: Backend, max_bytes: int | None, clock: Callable[[], datetime]
) -> ClosedPeriodCache | None:
    if max_bytes is None:
        return None
    if not isinstance(backend, RedisBackend):
        raise ConfigurationError(
            f"the cache keeps Redis bitmaps in process; {type(backend).__name__} "
            f"has them in process already: pass cache=None"
        )
    return ClosedPeriodCache(backend, max_bytes, clock)


def _zone(value: str | tzinfo) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ConfigurationError(
        f"time zone {value!r} is not known: pass a tzinfo or an IANA name such as "
        f"'Europe/Berlin'"
    )
