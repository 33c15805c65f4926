"""Writing many marks to Redis in few commands, none of which blocks the server
for long.

A ``Write`` sets or clears its ids in every bitmap of its refs; one id of one
write is an *event*. The ids of each write are split by shard into *pieces*,
and each shard's pieces are packed into *units*: one call of
``lua/write.lua`` each (inside MULTI when it carries bitmaps), which Redis
runs whole. A unit holds its pieces whole, with the registry entries of
their keys, so every event lies in exactly one unit: after a failure each
event is wholly written or not at all.

Per key, a unit carries either the offsets themselves (the script SETBITs
them) or, when that would cost the server more, the bits as a bitmap built
here with numpy, SET into a scratch key and merged by the script with one
BITOP. The choice follows the estimated server time (``Costs``); a unit is
closed before its estimate passes ``Costs.unit_budget_us``, and a piece too
big for any unit is split by halving its range of offsets.

Every key of a unit is in the shard's hash slot. On one server a unit also
adds its shard to ``{meta}:shards``, in the same atomic step; on a Redis
Cluster, where that key lives in another slot, the backend sends the SADD as
a command of its own before the units (``register_shards=False``), so a
shard is never written before it is registered.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..expressions import BitmapRef
from ..validation import IdArray
from .base import Write
from .keys import ShardedLayout

__all__ = ["COSTS", "Costs", "Mark", "Plan", "Unit", "mark", "merge_writes", "plan"]

Offsets = np.ndarray[Any, np.dtype[np.uint64]]


@dataclass(frozen=True)
class Costs:
    """Estimated server time of the script's steps, in microseconds.

    The defaults come from SLOWLOG on a 2-core x86-64 machine with Redis 7.0
    (``benchmarks/write_options.py``), rounded up: about 0.9 us per SETBIT in
    a script, 35 us to merge a 128 KiB bitmap (estimated here at 70). A unit
    is kept under ``unit_budget_us`` (2 ms); the longest one the benchmark
    measured is in benchmarks/README.md. A faster or slower server shifts
    every unit's true time by the same factor.
    """

    per_bit_us: float = 0.92
    per_bitmap_us: float = 5.0
    per_bitmap_kib_us: float = 0.5
    per_key_us: float = 2.5
    unit_budget_us: float = 2000.0

    def bits(self, n: int) -> float:
        return self.per_key_us + self.per_bit_us * n

    def bitmap(self, key_bytes: int) -> float:
        return (
            self.per_key_us
            + self.per_bitmap_us
            + (self.per_bitmap_kib_us * key_bytes / 1024)
        )


COSTS = Costs()


@dataclass
class Unit:
    """One transaction: SET each bitmap built here into a scratch key of the
    shard, then call ``write.lua`` with ``keys`` and ``args``. ``cost_us`` is
    the estimated server time."""

    layout: ShardedLayout
    shard: int
    keys: list[str] = field(default_factory=list)
    scratch: list[tuple[str, bytes]] = field(default_factory=list)
    cost_us: float = 0.0
    payload_bytes: int = 0
    _index: dict[str, int] = field(default_factory=dict)
    # The same offsets go to several keys (one id's day, week, month...):
    # they are sent once, with the list of keys.
    _bits: dict[tuple[str, bytes], list[int]] = field(default_factory=dict)
    _bitmaps: list[tuple[str, int, int]] = field(default_factory=list)
    _members: dict[int, dict[str, None]] = field(default_factory=dict)

    def _key(self, key: str) -> int:
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)  # Lua counts from 1
        return index

    def bits(self, key: str, offsets: bytes, value: bool) -> None:
        targets = self._bits.setdefault(("1" if value else "0", offsets), [])
        if not targets:
            self.payload_bytes += len(offsets)
        targets.append(self._key(key))

    def bitmap(self, key: str, bitmap: bytes, value: bool) -> None:
        scratch = self.layout.temp_key(self.shard, len(self.scratch))
        self.scratch.append((scratch, bitmap))
        op = "|" if value else "-"
        self._bitmaps.append((op, self._key(key), self._key(scratch)))
        self.payload_bytes += len(bitmap)

    def register(self, key: str, member: str) -> None:
        self._members.setdefault(self._key(key), {})[member] = None

    @property
    def args(self) -> list[Any]:
        """The script's ARGV: pairs of an operation with the keys it writes,
        and its operand (see ``write.lua``)."""
        args: list[Any] = []
        for (op, offsets), targets in self._bits.items():
            args += [op + ",".join(map(str, targets)), offsets]
        for op, target, scratch in self._bitmaps:
            args += [f"{op}{target}", scratch]
        # Names and period codes hold no white space, so a space separates them.
        for target, members in self._members.items():
            args += [f"s{target}", " ".join(members)]
        return args


def merge_writes(writes: Sequence[Write]) -> list[Write]:
    """Writes with the same refs and value joined into one. Only writes
    between two changes of value are merged, so a mark and an unmark of one
    id keep their order."""
    merged: list[Write] = []
    pending: dict[tuple[BitmapRef, ...], list[IdArray]] = {}

    def flush(value: bool) -> None:
        for refs, arrays in pending.items():
            ids = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            merged.append(Write(refs, ids, value))
        pending.clear()

    value = True
    for write in writes:
        if not write.refs or write.ids.size == 0:
            continue
        if write.value is not value:
            flush(value)
            value = write.value
        pending.setdefault(write.refs, []).append(write.ids)
    flush(value)
    return merged


@dataclass
class _Piece:
    """The ids of one write that fall in one shard, as offsets in the shard
    (unsorted, repeats allowed): the smallest thing a unit holds whole."""

    refs: tuple[BitmapRef, ...]
    offsets: Offsets


@dataclass(frozen=True)
class Plan:
    """The shards a batch of writes touches, and its units, made lazily so
    that only the units being sent are held in memory."""

    shards: list[int]
    units: Iterator[Unit]


def plan(
    layout: ShardedLayout,
    writes: Sequence[Write],
    costs: Costs = COSTS,
    *,
    register_shards: bool = False,
) -> Plan:
    """Writes between two changes of value are planned together; the units
    keep the order of those changes. With ``register_shards``, each unit also
    adds its shard to the shard registry: possible on one server, where a
    script may touch keys of any hash slot, and cheaper than a command of
    its own."""
    new = functools.partial(_new_unit, layout, register_shards)
    bits = sum(write.ids.size * len(write.refs) for write in writes)
    if costs.bits(bits) <= costs.unit_budget_us:
        return _plan_small(layout, writes, new)
    phases: list[tuple[bool, dict[int, list[_Piece]]]] = []
    shards: set[int] = set()
    for write in merge_writes(writes):
        if not phases or phases[-1][0] is not write.value:
            phases.append((write.value, {}))
        for shard, piece in _pieces(layout, write):
            phases[-1][1].setdefault(shard, []).append(piece)
            shards.add(shard)
    units = (
        unit
        for value, by_shard in phases
        for shard in sorted(by_shard)
        for unit in _pack(layout, shard, by_shard[shard], value, costs, new)
    )
    return Plan(sorted(shards), units)


def _new_unit(
    layout: ShardedLayout, register_shard: bool, shard: int, cost_us: float = 0.0
) -> Unit:
    unit = Unit(layout, shard, cost_us=cost_us)
    if register_shard and layout.registries:
        unit.register(layout.shards_key(), str(shard))
    return unit


NewUnit = Callable[..., Unit]


@dataclass(frozen=True)
class Mark:
    """The call of ``lua/mark.lua`` that writes one id into bitmaps of one
    shard: the same for every id of the shard but for its offset."""

    keys: tuple[str, ...]
    bit: str
    bitmaps: int
    members: tuple[str, ...]

    def args(self, offset: int) -> list[Any]:
        return [self.bit, offset, self.bitmaps, *self.members]


# 32 days of marks over 256 shards (ids below 2**24 at the default width):
# about 1.1 KiB an entry measured (tracemalloc), 9 MiB when full.
@functools.lru_cache(maxsize=8192)
def mark(
    layout: ShardedLayout, refs: tuple[BitmapRef, ...], shard: int, value: bool
) -> Mark:
    """The call of a single ``mark_event``, the commonest write: planned once
    per shard and bitmaps, so that a loop of single marks costs the client
    little more than the command. The event's period registry (else the
    registry with the most members) goes last, whole; each member of the
    others is a registry entry of its own."""
    registries: dict[str, dict[str, None]] = {}
    if layout.registries:
        registries[layout.shards_key()] = {str(shard): None}
        for ref in refs:
            for key, member in layout.registry_entries(ref, shard):
                registries.setdefault(key, {})[member] = None
    keys = [layout.bitmap_key(ref, shard) for ref in refs]
    members: list[str] = []
    if registries:
        periods = {layout.periods_key(ref.name, shard) for ref in refs if ref.period}
        # The period registry goes last, for mark.lua to PERSIST it.
        last = max(registries, key=lambda key: (key in periods, len(registries[key])))
        for key, entries in registries.items():
            if key != last:
                keys += [key] * len(entries)
                members += entries
        keys.append(last)
        members += registries[last]
    return Mark(tuple(keys), "1" if value else "0", len(refs), tuple(members))


def _plan_small(layout: ShardedLayout, writes: Sequence[Write], new: NewUnit) -> Plan:
    """The plan of a few bits, such as a single ``mark_event``: one unit per
    shard and change of value, made in plain Python, since numpy's cost per
    call would be most of the work."""
    width = layout.shard_width
    units: list[Unit] = []
    shards: set[int] = set()
    value: bool | None = None
    by_shard: dict[int, dict[BitmapRef, set[int]]] = {}

    def flush() -> None:
        for shard, per_ref in sorted(by_shard.items()):
            unit = new(shard)
            for ref, offsets in per_ref.items():
                packed = struct.pack(f"<{len(offsets)}I", *sorted(offsets))
                unit.bits(layout.bitmap_key(ref, shard), packed, bool(value))
                _register(unit, layout, ref, shard)
            units.append(unit)
        by_shard.clear()

    for write in writes:
        if write.value is not value:
            flush()
            value = write.value
        for uid in write.ids.tolist():
            shard, offset = divmod(uid, width)
            shards.add(shard)
            per_ref = by_shard.setdefault(shard, {})
            for ref in write.refs:
                per_ref.setdefault(ref, set()).add(offset)
    flush()
    return Plan(sorted(shards), iter(units))


def _pieces(layout: ShardedLayout, write: Write) -> Iterator[tuple[int, _Piece]]:
    """The ids of ``write`` split by shard."""
    width = np.uint64(layout.shard_width)
    shards = write.ids // width
    if shards.size and int(shards.max()) < 2**16:
        # numpy sorts 16-bit integers by radix, in linear time.
        shards = shards.astype(np.uint16)
    order = np.argsort(shards, kind="stable")
    shards, ids = shards[order], write.ids[order]
    cuts = (np.flatnonzero(np.diff(shards)) + 1).tolist()
    for first, last in zip([0, *cuts], [*cuts, ids.size], strict=True):
        shard = int(shards[first])
        yield shard, _Piece(write.refs, ids[first:last] - np.uint64(shard) * width)


class _Estimate:
    """The estimated cost of a unit being filled: per key, how many bits it
    would carry (an upper bound, repeats counted) and so which form is
    cheaper."""

    def __init__(self, costs: Costs, key_bytes: int) -> None:
        self.costs = costs
        self.key_bytes = key_bytes
        self.counts: dict[BitmapRef, int] = {}

    def key_cost(self, count: int) -> float:
        return min(self.costs.bits(count), self.costs.bitmap(self.key_bytes))

    def total(self) -> float:
        return sum(self.key_cost(n) for n in self.counts.values())

    def with_piece(self, piece: _Piece) -> float:
        """The total if ``piece`` were added."""
        total = self.total()
        for ref in piece.refs:
            before = self.counts.get(ref)
            after = (before or 0) + piece.offsets.size
            total += self.key_cost(after) - (
                0 if before is None else self.key_cost(before)
            )
        return total

    def add(self, piece: _Piece) -> None:
        for ref in piece.refs:
            self.counts[ref] = self.counts.get(ref, 0) + piece.offsets.size


def _pack(
    layout: ShardedLayout,
    shard: int,
    pieces: list[_Piece],
    value: bool,
    costs: Costs,
    new: NewUnit,
) -> Iterator[Unit]:
    """Pieces of one shard packed greedily into units within the budget. A
    piece too big for any unit is first split by halving its range of
    offsets: each half still holds its ids whole."""
    key_bytes = layout.shard_width // 8
    estimate = _Estimate(costs, key_bytes)
    held: list[_Piece] = []
    for big in pieces:
        for piece in _fitting(big, costs, key_bytes):
            if held and estimate.with_piece(piece) > costs.unit_budget_us:
                yield _unit(layout, shard, held, estimate, value, new)
                estimate = _Estimate(costs, key_bytes)
                held = []
            estimate.add(piece)
            held.append(piece)
    if held:
        yield _unit(layout, shard, held, estimate, value, new)


def _fitting(piece: _Piece, costs: Costs, key_bytes: int) -> Iterator[_Piece]:
    estimate = _Estimate(costs, key_bytes)
    low, high = int(piece.offsets.min()), int(piece.offsets.max())
    # One offset over budget would take thousands of bitmaps for one id; its
    # event cannot be split, so it goes as one unit anyway.
    if estimate.with_piece(piece) <= costs.unit_budget_us or low == high:
        yield piece
        return
    below = piece.offsets <= np.uint64((low + high) // 2)
    yield from _fitting(_Piece(piece.refs, piece.offsets[below]), costs, key_bytes)
    yield from _fitting(_Piece(piece.refs, piece.offsets[~below]), costs, key_bytes)


def _unit(
    layout: ShardedLayout,
    shard: int,
    pieces: list[_Piece],
    estimate: _Estimate,
    value: bool,
    new: NewUnit,
) -> Unit:
    per_key: dict[BitmapRef, list[Offsets]] = {}
    for piece in pieces:
        for ref in piece.refs:
            per_key.setdefault(ref, []).append(piece.offsets)
    unit = new(shard, estimate.total())
    costs = estimate.costs
    for ref, arrays in per_key.items():
        offsets = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        key = layout.bitmap_key(ref, shard)
        if costs.bits(offsets.size) <= costs.bitmap(estimate.key_bytes):
            unit.bits(key, _packed(np.unique(offsets)), value)
        else:
            unit.bitmap(key, _bitmap(offsets), value)
        _register(unit, layout, ref, shard)
    return unit


def _register(unit: Unit, layout: ShardedLayout, ref: BitmapRef, shard: int) -> None:
    """Registry entries go with the bits, in the same unit, so the registry is
    never behind the data."""
    if layout.registries:
        for key, member in layout.registry_entries(ref, shard):
            unit.register(key, member)


def _packed(offsets: Offsets) -> bytes:
    return offsets.astype("<u4").tobytes()


def _bitmap(offsets: Offsets) -> bytes:
    """The Redis string with the bits of ``offsets`` set, up to the last one:
    bit 0 is the high bit of the first byte, as Redis has it."""
    bits = np.zeros((int(offsets.max()) | 7) + 1, dtype=np.bool_)
    bits[offsets] = True
    return np.packbits(bits).tobytes()
