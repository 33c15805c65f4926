"""``Bitmapist``: marking events and attributes, and asking questions of them.

The instance turns names, ids and timestamps into ``BitmapRef``s in its time
zone, checks every argument before any I/O, and hands whole expressions to its
backend. It holds no state of its own beyond its configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyroaring import BitMap64

from .analysis import breakdown_table, cohort_table, lifecycle_table, range_expression
from .backends import Backend, RedisBackend, RoaringBackend, backend_from_url
from .backends.keys import DEFAULT_PREFIX, DEFAULT_SHARD_WIDTH
from .bitmaps import AttributeBitmap, Bitmap, EventBitmap
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
from .periods import DEFAULT_GRANULARITIES, Granularity, Period, granularities_of
from .validation import IdArray, check_name

__all__ = ["Bitmapist"]

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
    ``bitmapist.expiry``).
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
        self.backend: Backend = backend
        self.ids = ids_for(backend, id_map)

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
        self.backend.write([ref, UNIVERSE], self.ids.for_writing([uuid]), True)

    def unmark_attribute(self, name: str, uuid: int) -> None:
        ref = BitmapRef(Kind.ATTRIBUTE, check_name(name, "attribute name"))
        self.backend.write([ref], self.ids.known([uuid]), False)

    def _write(self, refs: list[BitmapRef], ids: IdArray, value: bool) -> None:
        deadlines = self.lifetimes.deadlines(refs)
        if deadlines:
            self.backend.write(refs, ids, value, expire_at=deadlines)
        else:
            self.backend.write(refs, ids, value)

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
        when = self._when(timestamp)
        return [
            BitmapRef(Kind.EVENT, name, Period.containing(g, when, self.timezone))
            for g in sorted(chosen, key=list(Granularity).index)
        ]

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

    def _count(self, expression: Expression) -> int:
        return self.backend.count(expression)

    def _count_many(self, expressions: Sequence[Expression]) -> list[int]:
        return self.backend.count_many(expressions)

    def _contains(self, expression: Expression, id: object) -> bool:
        number = self.ids.lookup(id)
        return number is not None and self.backend.contains(expression, number)

    def _members(self, expression: Expression) -> BitMap64:
        return self.backend.members(expression)

    def _iterate(self, expression: Expression) -> Iterator[Any]:
        return self.ids.external(self.backend.members(expression))

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

    def delete_attribute(self, name: str) -> None:
        self.backend.delete(Kind.ATTRIBUTE, check_name(name, "attribute name"))

    def delete_all(self) -> None:
        """Delete every event, attribute and the universe."""
        self.backend.delete_all()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Bitmapist:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
