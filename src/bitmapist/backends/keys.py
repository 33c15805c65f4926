"""Key names in Redis: the one module that knows how a bitmap becomes a key.

Ids are split into shards of ``shard_width`` consecutive ids; a bitmap is
stored as one Redis string per shard that holds any of its ids, at the id's
offset within its shard. Every key of a shard carries one hash tag, so a query
over one shard touches one hash slot (and one cluster node), and memory
follows the ids marked, not the largest one.

    {prefix}:<shard>{<tag>}:e:<event>:<period code>   an event in one period
    {prefix}:<shard>{<tag>}:a:<attribute>             an attribute
    {prefix}:<shard>{<tag>}:u                         every id ever marked
    {prefix}:<shard>{<tag>}:names:e / :names:a        names stored in the shard
    {prefix}:<shard>{<tag>}:periods:<event>           an event's periods, as digits
    {prefix}:<shard>{<tag>}:tmp:<n>                   scratch of a running query
    {prefix}:<shard>{<tag>}:load:<token>:<part>       a load's staging and backup keys
    {prefix}:{meta}:shards                            every shard ever written
    {prefix}:ids<bucket>{<tag>}:f<level>.<n> / :r<n>  the id map (redis_idmap)

The tag of shard (or id map bucket) n is a short string chosen so that the
keys land in hash slot ``target_slot(n)``: slots picked so that the first few
shards fall on different masters of any cluster whose masters hold equal
contiguous ranges of slots, which plain shard numbers as tags do not do (see
``target_slot``). The registries (names, periods, shards) let bitmapist list
and delete what it stored without KEYS or SCAN. Period codes contain no ":",
so a key names exactly one bitmap even when an event name contains ":". A
period registry holds each code as its digits (``period_member``): Redis
keeps a set of integers as a compact intset, where a set of strings costs
about 50 bytes a member before Redis 7.2.

``Bitmapist3Layout`` is the layout bitmapist 3.x keeps, for data already in
Redis: see its docstring. ``layout_named`` picks one by the name
``Bitmapist(key_layout=...)`` takes.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar

from ..errors import (
    ConfigurationError,
    InvalidExpressionError,
    InvalidIdError,
    InvalidNameError,
)
from ..expressions import UNIVERSE, BitmapRef, Expression, Kind, Op, Operation
from ..periods import Granularity, Period
from ..validation import IdArray, check_prefix

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_SHARD_WIDTH",
    "KEY_LAYOUTS",
    "SLOTS",
    "Bitmapist3Layout",
    "ShardedLayout",
    "layout_named",
    "period_code",
    "period_member",
    "slot_tag",
    "target_slot",
]

DEFAULT_PREFIX = "bitmapist"
# 2**16 - 48 ids: a full shard is an 8,186-byte string, which with its 6 bytes
# of header and terminator fills jemalloc's 8,192-byte size class exactly. A
# full 2**16 shard (8,192 bytes) spills into the next class, 10,240 bytes: 25%
# more for every full shard (benchmarks/memory.py and the README measure it).
DEFAULT_SHARD_WIDTH = 2**16 - 48

_KIND_LETTER = {Kind.EVENT: "e", Kind.ATTRIBUTE: "a"}


@dataclass(frozen=True)
class ShardedLayout:
    """The default layout: a prefix, and shards in hash tags."""

    prefix: str = DEFAULT_PREFIX
    shard_width: int = DEFAULT_SHARD_WIDTH

    # Whether names, periods and shards are registered beside the bits; a
    # layout without registries is listed and deleted by SCAN instead.
    registries: ClassVar[bool] = True
    # The shards a query visits when the layout has no shard registry.
    fixed_shards: ClassVar[tuple[int, ...] | None] = None

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        width = self.shard_width
        if (
            isinstance(width, bool)
            or not isinstance(width, int)
            or not 8 <= width <= 2**32
            or width % 8
        ):
            raise ConfigurationError(
                f"shard width {width!r} is not allowed: it must be a multiple of 8 "
                f"from 8 to 2**32, so that every shard starts on a byte"
            )

    def shard_of(self, id: int) -> tuple[int, int]:
        """The shard that holds ``id``, and the id's offset within it."""
        return divmod(id, self.shard_width)

    def stored(self, refs: Sequence[BitmapRef], ids: IdArray) -> list[BitmapRef]:
        """The bitmaps a write of ``ids`` to ``refs`` touches, or an
        ``InvalidInputError`` when the layout cannot hold them."""
        return list(refs)

    def expand(self, expression: Expression) -> Expression:
        """``expression`` over bitmaps that the layout stores."""
        return expression

    def _base(self, shard: int) -> str:
        return f"{self.prefix}:{shard}{{{slot_tag(shard)}}}"

    def bitmap_key(self, ref: BitmapRef, shard: int) -> str:
        if ref.kind is Kind.UNIVERSE:
            return f"{self._base(shard)}:u"
        if ref.period is None:
            return f"{self._base(shard)}:{_KIND_LETTER[ref.kind]}:{ref.name}"
        return self.event_key(ref.name, ref.period.code, shard)

    def event_key(self, event: str, period_code: str, shard: int) -> str:
        return f"{self._base(shard)}:e:{event}:{period_code}"

    def registry_entries(self, ref: BitmapRef, shard: int) -> list[tuple[str, str]]:
        """The (set key, member) pairs that record ``ref`` in ``shard``."""
        if ref.kind is Kind.UNIVERSE:
            return []
        entries = [(self.names_key(ref.kind, shard), ref.name)]
        if ref.period is not None:
            member = period_member(ref.period.code)
            entries.append((self.periods_key(ref.name, shard), member))
        return entries

    def names_key(self, kind: Kind, shard: int) -> str:
        return f"{self._base(shard)}:names:{_KIND_LETTER[kind]}"

    def periods_key(self, event: str, shard: int) -> str:
        return f"{self._base(shard)}:periods:{event}"

    def temp_key(self, shard: int, n: int) -> str:
        return f"{self._base(shard)}:tmp:{n}"

    def load_key(self, shard: int, token: str, part: str) -> str:
        """A key of one load on a cluster (``staging``): ``part`` is
        "staged", "backup" or "old"."""
        return f"{self._base(shard)}:load:{token}:{part}"

    def shards_key(self) -> str:
        return f"{self.prefix}:{{meta}}:shards"

    def id_map_key(self, bucket: int, part: str) -> str:
        """A hash of the id map's ``bucket``: ``f<level>.<n>`` (forward) or
        ``r<n>`` (reverse); a bucket's hashes share one slot."""
        return f"{self.prefix}:ids{bucket}{{{slot_tag(bucket)}}}:{part}"


# Redis Cluster's hash slots, and the first target slots (below).
SLOTS = 16384
# For every n up to 17, the first n of these slots lie one in each n-th of the
# slot range (and at least 16 slots from the ends of each n-th): so on a
# cluster of up to 17 masters holding equal contiguous ranges, the first
# shards land on different masters, and a store of 4 dense shards still
# spreads over 3 masters. 17 is the most points such a sequence can have
# (Steinhaus's "18-point problem"); these were found by a backtracking
# search, and tests/test_cluster.py checks the property.
_FIRST_SLOTS = (
    474, 8880, 13954, 4419, 11634, 6924, 15169, 2263, 10162,
    5622, 12674, 3394, 7952, 15910, 1132, 10762, 5817,
)  # fmt: skip
# 2**64 divided by the golden ratio, odd: n * _GOLDEN modulo 2**64 is n times
# the golden ratio modulo 1, in 64-bit fixed point, exact for any shard number
# (a float would keep no fraction at all for shards near 2**52).
_GOLDEN = 0x9E3779B97F4A7C15


def target_slot(n: int) -> int:
    """The hash slot of shard (or id map bucket) ``n``: ``_FIRST_SLOTS``, then
    n times the golden ratio modulo 1, whose consecutive terms from any start
    spread evenly over any partition of the range (the three-gap theorem)."""
    if n < len(_FIRST_SLOTS):
        return _FIRST_SLOTS[n]
    return (n * _GOLDEN % 2**64) * SLOTS >> 64


def slot_tag(n: int) -> str:
    """The hash tag of shard (or bucket) ``n``: a string of one to three
    letters and digits in slot ``target_slot(n)``."""
    return _tags()[target_slot(n)]


@functools.cache
def _tags() -> tuple[str, ...]:
    """The first string of letters and digits (shortest first) in each hash
    slot, by the CRC16 Redis Cluster uses; every slot has one of 3 characters
    or fewer. Built once, in about 20 ms."""
    alphabet = (string.digits + string.ascii_letters).encode()
    found: dict[int, str] = {}
    for length in (1, 2, 3):
        for letters in itertools.product(alphabet, repeat=length):
            tag = bytes(letters)
            found.setdefault(binascii.crc_hqx(tag, 0) % SLOTS, tag.decode())
            if len(found) == SLOTS:
                return tuple(found[slot] for slot in range(SLOTS))
    raise AssertionError("a hash slot has no tag of 3 characters or fewer")


def period_member(code: str) -> str:
    """A period code as a period registry holds it: its digits, a week's "W"
    as a 0, so 4 digits are a year, 6 a month, 7 an ISO week, 8 a day and 10
    an hour (2025, 202501, 2025003, 20250115, 2025011513)."""
    return code.replace("-W", "0").replace("-", "").replace("T", "")


def period_code(member: str) -> str:
    """The period code a registry member stands for (``period_member``)."""
    year, rest = member[:4], member[4:]
    if len(member) == 7:
        return f"{year}-W{rest[1:]}"
    parts = [year, *(rest[n : n + 2] for n in range(0, len(rest), 2))]
    date = "-".join(parts[:3])
    return f"{date}T{parts[3]}" if len(parts) == 4 else date


BITMAPIST3_PREFIX = "trackist_"
BITMAPIST3_MAX_ID = 2**32 - 1
# bitmapist 3.x names the results of its bit operations under this prefix, and
# leaves them out when it lists event names.
BITMAPIST3_BITOP_PREFIX = "trackist_bitop_"


@dataclass(frozen=True)
class Bitmapist3Layout(ShardedLayout):
    """The keys bitmapist 3.x keeps: one Redis string per bitmap, no shards and
    no registries, so ids stop at 2**32 - 1.

        trackist_<event>_<year>-<month>                 a month (not zero-padded)
        trackist_<event>_W<iso year>-<iso week>         an ISO week
        trackist_<event>_<year>-<month>-<day>           a day
        trackist_<event>_<year>-<month>-<day>-<hour>    an hour
        trackist_<attribute>_u                          3.x's "unique" bitmap
        trackist_bitop_<OP>_<key>-<key>...              a 3.x bit operation's result

    No year bitmap exists: a year is read as the OR of its twelve months, and
    writing one is the same as writing its month. No universe bitmap exists
    either, so NOT has nothing to complement within and is refused. Names are
    found by SCAN, as 3.x finds them. The whole id range is one "shard" of
    2**32 ids, so the sharded machinery of ``RedisBackend`` applies unchanged.
    """

    prefix: str = "trackist"
    shard_width: int = 2**32

    registries: ClassVar[bool] = False
    fixed_shards: ClassVar[tuple[int, ...] | None] = (0,)

    def shard_of(self, id: int) -> tuple[int, int]:
        if id > BITMAPIST3_MAX_ID:
            raise InvalidIdError(
                f"id {id} is out of range for the bitmapist3 key layout: it "
                f"holds ids from 0 to 2**32 - 1 (migrate with `bitmapist migrate` "
                f"for larger ids)"
            )
        return 0, id

    def stored(self, refs: Sequence[BitmapRef], ids: IdArray) -> list[BitmapRef]:
        if ids.size:
            self.shard_of(int(ids.max()))
        kept = []
        for ref in refs:
            if ref.kind is Kind.UNIVERSE:
                continue
            _check_bitmapist3_name(ref.name)
            if ref.period is not None and ref.period.granularity is Granularity.YEAR:
                if not _has_month_in_year(refs, ref):
                    raise InvalidExpressionError(
                        f"the bitmapist3 key layout keeps no year bitmaps: year "
                        f"{ref.period.code} of {ref.name!r} is the OR of its months, "
                        f"so mark the month granularity with it"
                    )
                continue
            kept.append(ref)
        return kept

    def expand(self, expression: Expression) -> Expression:
        if isinstance(expression, Operation):
            operands = tuple(self.expand(e) for e in expression.operands)
            return Operation(expression.op, operands)
        if expression == UNIVERSE:
            raise InvalidExpressionError(
                "the bitmapist3 key layout keeps no universe of ids, so NOT (~x, "
                "bit_op_not, get_universe) has nothing to complement within: "
                "subtract from an explicit bitmap instead (a - x)"
            )
        period = expression.period
        if period is None or period.granularity is not Granularity.YEAR:
            return expression
        months = [
            BitmapRef(expression.kind, expression.name, _first_month(period).delta(n))
            for n in range(12)
        ]
        return Operation(Op.OR, tuple(months))

    def bitmap_key(self, ref: BitmapRef, shard: int) -> str:
        if ref.period is None:
            return f"{BITMAPIST3_PREFIX}{ref.name}_u"
        return f"{BITMAPIST3_PREFIX}{ref.name}_{bitmapist3_code(ref.period)}"

    def bitop_key(self, op: str, sources: Sequence[str]) -> str:
        """Where 3.x keeps the result of BITOP ``op`` over the keys ``sources``:
        ``trackist_bitop_AND_<key>-<key>...``."""
        return f"{BITMAPIST3_BITOP_PREFIX}{op}_{'-'.join(sources)}"

    def temp_key(self, shard: int, n: int) -> str:
        # Under 3.x's bit-operation prefix, so that 3.x never takes a scratch
        # key for an event; evaluate.lua deletes it before it returns.
        return f"{BITMAPIST3_BITOP_PREFIX}scratch_{n}"

    def parse(self, key: str) -> BitmapRef | None:
        """The bitmap a 3.x key holds, or None for a bit-operation result or a
        key this layout does not name. Periods come back in UTC: 3.x has no
        time zones."""
        if not key.startswith(BITMAPIST3_PREFIX) or key.startswith(
            BITMAPIST3_BITOP_PREFIX
        ):
            return None
        name, separator, code = key[len(BITMAPIST3_PREFIX) :].rpartition("_")
        if not separator or not name:
            return None
        if code == "u":
            return BitmapRef(Kind.ATTRIBUTE, name)
        period = _parse_bitmapist3_code(code)
        # 3.x never pads numbers: "2025-01" is some other key, not a month.
        if period is None or bitmapist3_code(period) != code:
            return None
        return BitmapRef(Kind.EVENT, name, period)


def bitmapist3_code(period: Period) -> str:
    """A period as 3.x writes it in keys: the start's own fields, not padded."""
    start = period.start
    granularity = period.granularity
    if granularity is Granularity.HOUR:
        return f"{start.year}-{start.month}-{start.day}-{start.hour}"
    if granularity is Granularity.DAY:
        return f"{start.year}-{start.month}-{start.day}"
    if granularity is Granularity.WEEK:
        iso_year, iso_week, _ = start.isocalendar()
        return f"W{iso_year}-{iso_week}"
    if granularity is Granularity.MONTH:
        return f"{start.year}-{start.month}"
    raise InvalidExpressionError(
        f"the bitmapist3 key layout has no key for year {period.code}: a year "
        f"is the OR of its months"
    )


def _parse_bitmapist3_code(code: str) -> Period | None:
    week = code.startswith("W")
    parts = code[1:].split("-") if week else code.split("-")
    if not all(part.isdigit() for part in parts):
        return None
    numbers = [int(part) for part in parts]
    try:
        if week and len(numbers) == 2:
            monday = datetime.fromisocalendar(numbers[0], numbers[1], 1)
            return Period(Granularity.WEEK, monday.replace(tzinfo=timezone.utc))
        granularity = _BY_LENGTH.get(len(numbers)) if not week else None
        if granularity is None:
            return None
        # A month has no day or hour in its code, a day no hour.
        year, month, day, hour = [*numbers, *(1, 0)[len(numbers) - 2 :]]
        start = datetime(year, month, day, hour, tzinfo=timezone.utc)
    except ValueError:
        return None
    return Period(granularity, start)


_BY_LENGTH = {2: Granularity.MONTH, 3: Granularity.DAY, 4: Granularity.HOUR}


def _first_month(year: Period) -> Period:
    return Period(Granularity.MONTH, year.start)


def _has_month_in_year(refs: Sequence[BitmapRef], year: BitmapRef) -> bool:
    assert year.period is not None
    return any(
        ref.name == year.name
        and ref.period is not None
        and ref.period.granularity is Granularity.MONTH
        and ref.period.start.year == year.period.start.year
        for ref in refs
    )


def _check_bitmapist3_name(name: str) -> None:
    if name.startswith("bitop_"):
        raise InvalidNameError(
            f"name {name!r} begins with 'bitop_': in the bitmapist3 key layout its "
            f"keys would read as the result of a bit operation"
        )


KEY_LAYOUTS = {"sharded": ShardedLayout, "bitmapist3": Bitmapist3Layout}


def layout_named(name: str, prefix: str, shard_width: int) -> ShardedLayout:
    """The layout ``Bitmapist(key_layout=name)`` asks for."""
    if name == "sharded":
        return ShardedLayout(prefix, shard_width)
    if name not in KEY_LAYOUTS:
        known = ", ".join(repr(k) for k in KEY_LAYOUTS)
        raise ConfigurationError(
            f"unknown key layout {name!r}: expected one of {known}"
        )
    if (prefix, shard_width) != (DEFAULT_PREFIX, DEFAULT_SHARD_WIDTH):
        raise ConfigurationError(
            f"the {name} key layout has fixed key names and no shards: prefix and "
            f"shard_width do not apply to it"
        )
    return KEY_LAYOUTS[name]()
