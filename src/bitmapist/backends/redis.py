"""RedisBackend: bitmaps in Redis, through redis-py (a fakeredis client works too).

Every bitmap is split into shards (see ``keys``). A query is compiled once into
a postfix program and sent, for every shard, to ``lua/evaluate.lua``, all in
one pipeline together with the read of the shard registry: one round trip, and
no key left behind; on a Redis Cluster the pipeline is sent to every node at
once. A write is one MULTI/EXEC transaction, all or nothing (one per shard on a
cluster: see ``transactions``).
Redis errors are translated into ``bitmapist.errors`` here, at the boundary.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import redis
import redis.exceptions as rex
from pyroaring import BitMap64

from .. import errors
from ..expressions import UNIVERSE, BitmapRef, Expression, Kind, Op
from ..periods import Granularity, Period
from ..validation import MAX_ID, IdArray
from . import redis_writes, scanning
from .base import Write, as_bitmap
from .dense import DensePlan
from .keys import (
    DEFAULT_PREFIX,
    DEFAULT_SHARD_WIDTH,
    ShardedLayout,
    layout_named,
    period_code,
)
from .transactions import ShardTransactions, is_cluster

if TYPE_CHECKING:
    from .redis_idmap import RedisIdMap

UTC = timezone.utc

# How many ids ``store`` turns into an array at once (8 MiB of them).
_WINDOW = 2**20
# The most bytes of Redis strings decoded in one numpy pass, which unpacks
# them to a byte a bit: 4 MiB at most, freed before the next pass.
_RUN_BYTES = 2**19

__all__ = [
    "RedisBackend",
    "decode_bitmap",
    "decode_shards",
    "shard_runs",
    "translate_error",
    "translated",
]

log = logging.getLogger(__name__)

_LUA = resources.files(__package__).joinpath("lua")
_EVALUATE = _LUA.joinpath("evaluate.lua").read_text()
_REGISTER = _LUA.joinpath("register.lua").read_text()
# The two scripts that write share the undo log of their failures.
_UNDO = _LUA.joinpath("undo.lua").read_text()
_WRITE = _UNDO + _LUA.joinpath("write.lua").read_text()
_MARK = _UNDO + _LUA.joinpath("mark.lua").read_text()
_TYPES = _LUA.joinpath("types.lua").read_text()
_DELETE = _LUA.joinpath("delete.lua").read_text()

# How many keys one call of types.lua checks, and how many times a store whose
# keys other clients keep changing is tried before it gives up.
_CHECKS_PER_CALL = 4096
_STORE_ATTEMPTS = 5

# How much bitmap and offset data a write sends per round trip: enough that
# the round trips cost little, little enough that the client holds no more.
PIPELINE_BYTES = 8 * 2**20

# How many shards one call of evaluate.lua covers on one server: at 2**16 ids
# a shard, about 4 million ids, a few milliseconds of BITOPs at most.
SHARDS_PER_CALL = 64

# How many times a delete lists and deletes again the shards where marks
# added periods in between.
DELETE_ATTEMPTS = 10

_SIGN = {Op.AND: "&", Op.OR: "|", Op.XOR: "^", Op.SUB: "-"}
_SCRATCH = {Op.AND: 1, Op.OR: 1, Op.XOR: 1, Op.SUB: 2}

# Most specific first: the first class an error is an instance of decides.
# tests/test_errors.py checks that every class redis-py defines is covered by
# an entry before the final catch-all.
TRANSLATIONS: tuple[tuple[type[Exception], type[errors.BackendError]], ...] = (
    (rex.ReadOnlyError, errors.WriteRefusedError),
    (rex.OutOfMemoryError, errors.WriteRefusedError),
    (rex.ExecAbortError, errors.WriteRefusedError),
    (rex.ClusterDownError, errors.BackendUnavailableError),
    (rex.TryAgainError, errors.BackendUnavailableError),
    (rex.SlotNotCoveredError, errors.BackendUnavailableError),
    (rex.ConnectionError, errors.BackendUnavailableError),
    (rex.TimeoutError, errors.BackendUnavailableError),
    (rex.ClusterError, errors.BackendUnavailableError),
    (rex.RedisClusterException, errors.BackendUnavailableError),
    (rex.ResponseError, errors.BackendResponseError),
    (rex.InvalidResponse, errors.BackendResponseError),
    (rex.DataError, errors.BackendResponseError),
    # Raised only by redis-py features bitmapist does not use (some absent
    # from older redis-py), or, for WatchError, caught where it is raised
    # (``store``); listed so nothing reaches the catch-all unnoticed.
    *(
        (getattr(rex, name), errors.BackendError)
        for name in (
            "WatchError",
            "PubSubError",
            "LockError",
            "ChildDeadlockedError",
            "IncorrectPolicyType",
        )
        if hasattr(rex, name)
    ),
    (rex.RedisError, errors.BackendError),
)

# redis-py's cluster errors do not derive from RedisError.
REDIS_ERRORS = (rex.RedisError, rex.RedisClusterException)


def translate_error(error: Exception, action: str) -> errors.BackendError:
    """The bitmapist error for a redis-py error raised while doing ``action``."""
    for redis_class, ours in TRANSLATIONS:
        if isinstance(error, redis_class):
            cause = str(error) or type(error).__name__
            return ours(f"Redis failed to {action}: {cause} ({type(error).__name__})")
    raise TypeError(f"{error!r} is not a redis-py error")


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    try:
        yield
    except REDIS_ERRORS as error:
        raise translate_error(error, action) from error


@dataclass(frozen=True)
class _Program:
    """An expression compiled for ``evaluate.lua``: its distinct leaves, its
    postfix tokens, and how many scratch keys it needs."""

    leaves: tuple[BitmapRef, ...]
    tokens: tuple[str, ...]
    scratch: int

    @classmethod
    def compile(cls, expression: Expression) -> _Program:
        leaves: dict[BitmapRef, int] = {}
        tokens: list[str] = []
        scratch = 0

        def visit(node: Expression) -> None:
            nonlocal scratch
            if isinstance(node, BitmapRef):
                index = leaves.setdefault(node, len(leaves) + 1)
                tokens.append(str(index))
                return
            for operand in node.operands:
                visit(operand)
            tokens.append(f"{_SIGN[node.op]}{len(node.operands)}")
            scratch += _SCRATCH[node.op]

        visit(expression)
        return cls(tuple(leaves), tuple(tokens), scratch)


class RedisBackend:
    """Bitmaps in Redis, sharded by id under a key prefix: ``client`` is a
    ``redis.Redis``, a ``redis.RedisCluster``, or a ``redis://`` URL."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        shard_width: int = DEFAULT_SHARD_WIDTH,
        key_layout: str = "sharded",
        write_costs: redis_writes.Costs = redis_writes.COSTS,
    ) -> None:
        self.layout = layout_named(key_layout, prefix, shard_width)
        self.write_costs = write_costs
        # On one server a write unit may add its shard to {meta}:shards
        # itself, atomically with its bits. A Redis Cluster keeps {meta} in
        # another slot than any shard: there a separate SADD, sent first, must
        # do it (set this to False).
        self.register_shards_in_units = True
        if isinstance(client, str):
            with translated(f"connect to {client}"):
                client = redis.Redis.from_url(client)
        if client.get_encoder().decode_responses:
            raise errors.ConfigurationError(
                "the Redis client decodes responses: bitmaps are binary strings, "
                "so pass a client made with decode_responses=False"
            )
        self.client = client
        # One id goes in one script call (``redis_writes.mark``) on one
        # server; a cluster takes the path of every write there.
        self._one_call_marks = not is_cluster(client)
        self._shas: dict[str, str] = {}
        # The shards seen at the last query: the next one sends its commands
        # for them together with the read of the registry, in one round trip,
        # and catches up on shards that appeared since in a second one.
        self._shards: set[int] = set()

    # -- writing

    def write(
        self,
        refs: Sequence[BitmapRef],
        ids: IdArray,
        value: bool,
        expire_at: Mapping[BitmapRef, datetime] | None = None,
    ) -> None:
        one_call = self._one_call_marks and self.register_shards_in_units
        if ids.size == 1 and not expire_at and one_call:
            self._write_one(refs, ids, value)
        else:
            self.write_batch([Write(tuple(refs), ids, value, expire_at)])

    def _write_one(self, refs: Sequence[BitmapRef], ids: IdArray, value: bool) -> None:
        """One id, as ``mark_event`` writes it: one call of ``lua/mark.lua``,
        planned once per shard and refs (``redis_writes.mark``)."""
        stored = tuple(self.layout.stored(refs, ids))
        if not stored:
            return
        shard, offset = self.layout.shard_of(int(ids[0]))
        call = redis_writes.mark(self.layout, stored, shard, value)
        # The SHA is taken inside: a retry after NOSCRIPT loads the script again.
        self.run(
            lambda client: client.execute_command(
                "EVALSHA",
                self.script_sha(_MARK),
                len(call.keys),
                *call.keys,
                *call.args(offset),
            ),
            "write bitmaps",
            pipelined=False,
        )

    def write_batch(self, writes: Sequence[Write]) -> None:
        """Send the units of ``writes`` (see ``redis_writes``) in pipelines of
        at most ``PIPELINE_BYTES`` of payload each, after registering their
        shards. Every write is checked against the layout first, so a write
        the layout cannot hold fails with nothing of the batch sent."""
        if is_cluster(self.client) or any(w.expire_at for w in writes):
            for write in writes:
                self._write_per_shard(write)
            return
        writes = [
            Write(tuple(self.layout.stored(w.refs, w.ids)), w.ids, w.value)
            for w in writes
        ]
        plan = redis_writes.plan(
            self.layout,
            writes,
            self.write_costs,
            register_shards=self.register_shards_in_units,
        )
        if not plan.shards:
            return
        chunk: list[redis_writes.Unit] = []
        queued = 0
        # Registering the shards every time keeps the registry right even
        # after the keyspace was emptied behind our back.
        registry = self.layout.registries and not self.register_shards_in_units
        for unit in plan.units:
            chunk.append(unit)
            queued += unit.payload_bytes
            if queued >= PIPELINE_BYTES:
                self._send_units(chunk, plan.shards if registry else [])
                registry, chunk, queued = False, [], 0
        self._send_units(chunk, plan.shards if registry else [])

    def _send_units(self, units: list[redis_writes.Unit], shards: list[int]) -> None:
        def fill(pipe: Any) -> None:
            if shards:
                pipe.sadd(self.layout.shards_key(), *shards)
            for unit in units:
                self._queue_unit(pipe, unit)

        if len(units) == 1 and not units[0].scratch and not shards:
            # One script call, as a single mark sends: a pipeline would only
            # cost the client time.
            self.run(
                lambda client: self._queue_unit(client, units[0]),
                "write bitmaps",
                pipelined=False,
            )
        elif units or shards:
            # A unit lost in EXEC to NOSCRIPT left its scratch keys SET: run
            # again, its script deletes them.
            self.run(fill, "write bitmaps", check=self._check_transactions)

    def _queue_unit(self, pipe: Any, unit: redis_writes.Unit) -> Any:
        """One unit as one transaction, several of which share a pipeline; a
        unit of one script call needs no MULTI, a script being atomic."""
        sha = self.script_sha(_WRITE)
        if unit.scratch:
            pipe.execute_command("MULTI")
            for key, bitmap in unit.scratch:
                pipe.execute_command("SET", key, bitmap)
        reply = pipe.execute_command(
            "EVALSHA", sha, len(unit.keys), *unit.keys, *unit.args
        )
        if unit.scratch:
            pipe.execute_command("EXEC")
        return reply

    @staticmethod
    def _check_transactions(replies: list[Any]) -> None:
        # The replies of the commands inside a MULTI come in EXEC's reply,
        # where redis-py leaves errors as values instead of raising them.
        for reply in replies:
            if isinstance(reply, list):
                for inner in reply:
                    if isinstance(inner, Exception):
                        raise translate_error(inner, "write bitmaps") from inner

    def _write_per_shard(self, write: Write) -> None:
        """One MULTI/EXEC of SETBITs per shard (``transactions``): the path of
        writes with expiry and of writes on a cluster. It is atomic per shard
        but not bounded: a bulk write with expiry, or on a cluster, blocks the
        server for as long as its largest shard takes; and a key of the wrong
        type fails only its own SETBIT inside the MULTI. Teaching the units of
        ``redis_writes`` EXPIREAT and the period registry's lifetime, and
        sending them per slot on a cluster, would bring both to the bounded
        path."""
        ids, value, expire_at = write.ids, write.value, write.expire_at
        refs = self.layout.stored(write.refs, ids)
        if ids.size == 0 or not refs:
            return
        width = np.uint64(self.layout.shard_width)
        shards, inverse = np.unique(ids // width, return_inverse=True)
        offsets = ids % width
        bit = 1 if value else 0
        deadlines = {
            ref: math.ceil(when.timestamp()) for ref, when in (expire_at or {}).items()
        }
        registry = self.layout.shards_key() if self.layout.registries else None
        writes = ShardTransactions(self.client, registry, shards.tolist())
        for position, shard_value in enumerate(shards):
            shard = int(shard_value)
            pipe = writes.for_shard(shard)
            # Highest offset first: SETBIT makes a new string exactly as long
            # as its first offset needs, where growing one a little at a time
            # would double its allocation (benchmarks/memory.py, README).
            shard_offsets = np.unique(offsets[inverse == position])[::-1].tolist()
            for ref in refs:
                key = self.layout.bitmap_key(ref, shard)
                for offset in shard_offsets:
                    pipe.setbit(key, offset, bit)
                if ref in deadlines:
                    # Always the same instant for one key: rewriting a bitmap
                    # never extends its life.
                    pipe.expireat(key, deadlines[ref])
                self._register(pipe, ref, shard, deadlines.get(ref))
        with translated("write bitmaps"):
            writes.execute()

    def _register(
        self, pipe: Any, ref: BitmapRef, shard: int, deadline: int | None
    ) -> None:
        """Record ``ref`` in the registries of ``shard``. An event's period
        registry lives as long as its longest-lived bitmap
        (``lua/register.lua``), so entries of expired bitmaps do not linger."""
        if not self.layout.registries:
            return
        for key, member in self.layout.registry_entries(ref, shard):
            if ref.period is None or key != self.layout.periods_key(ref.name, shard):
                pipe.sadd(key, member)
            elif deadline is not None:
                pipe.execute_command("EVAL", _REGISTER, 1, key, deadline, member)
            else:
                pipe.sadd(key, member)
                # A bitmap kept for ever keeps its registry too, even if another
                # instance, configured with expiry, gave the registry a deadline.
                pipe.persist(key)

    # -- querying

    def count(self, expression: Expression) -> int:
        return sum(int(n) for _, n in self._evaluate(expression, "count"))

    def contains(self, expression: Expression, id: int) -> bool:
        shard, offset = self.layout.shard_of(id)
        program = _Program.compile(self.layout.expand(expression))

        def fill(pipe: Any) -> None:
            self._queue(pipe, program, shard, "contains", offset)

        return bool(self.run(fill, "test an id")[0])

    def members(self, expression: Expression) -> BitMap64:
        # Sorted ids are pyroaring's fastest input. They go in a window of
        # about _WINDOW ids at a time, so that a bitmap of many millions of ids
        # (an export of the universe) never exists as one array of 8 bytes an
        # id beside its copies; a result of fewer ids is built in one step.
        result = BitMap64()
        parts: list[IdArray] = []
        held = 0
        strings = self._evaluate(expression, "get")
        for base, data in shard_runs(strings, self.layout.shard_width):
            parts.append(decode_bitmap(data, base))
            held += parts[-1].size
            if held >= _WINDOW:
                result |= as_bitmap(np.concatenate(parts))
                parts, held = [], 0
        if parts:
            result |= as_bitmap(np.concatenate(parts))
        return result

    def member_ids(self, expression: Expression) -> IdArray:
        strings = self._evaluate(expression, "get")
        return decode_shards(strings, self.layout.shard_width)

    def count_many(self, expressions: Sequence[Expression]) -> list[int]:
        """Every distinct leaf is read once per shard (one MGET each, all in one
        pipeline with the read of the registry), and the counts are made in
        process (see ``dense``): no BITOP per expression."""
        plan = DensePlan([self.layout.expand(e) for e in expressions])

        def queue(pipe: Any, shard: int) -> None:
            # One MGET: the keys of one shard share its hash slot, as the keys
            # of one script call do. Through execute_command, which a cluster
            # pipeline routes by that slot (its mget method is blocked).
            keys = [self.layout.bitmap_key(ref, shard) for ref in plan.leaves]
            pipe.execute_command("MGET", *keys)

        totals = [0] * len(expressions)
        if not plan.leaves:
            return totals
        for _, (strings,) in self._on_every_shard(queue, 1, "read bitmaps"):
            counts = plan.count(strings)
            totals = [total + n for total, n in zip(totals, counts, strict=True)]
        return totals

    def _evaluate(self, expression: Expression, mode: str) -> list[tuple[int, Any]]:
        """The script's answer for every shard, in shard order; for "count"
        on one server, the sums of runs of shards, each under the run's first
        shard."""
        program = _Program.compile(self.layout.expand(expression))
        if self.layout.fixed_shards is None and not is_cluster(self.client):
            return self._evaluate_together(program, mode)

        def queue(pipe: Any, shard: int) -> None:
            self._queue(pipe, program, shard, mode)

        answers = self._on_every_shard(queue, 1, "evaluate a query")
        return [(shard, replies[0]) for shard, replies in answers]

    def _evaluate_together(self, program: _Program, mode: str) -> list[tuple[int, Any]]:
        """On one server a script may touch every hash slot, so one call
        evaluates up to ``SHARDS_PER_CALL`` shards: the fixed cost of a call,
        which at small shard widths outweighs the bit work, is paid once per
        run of shards, and the run bounds how long one call takes."""

        def fill(shards: Sequence[int]) -> Callable[[Any], None]:
            def queue_all(pipe: Any) -> None:
                for start in range(0, len(shards), SHARDS_PER_CALL):
                    run = shards[start : start + SHARDS_PER_CALL]
                    self._queue_shards(pipe, program, run, mode)

            return queue_all

        def answers(shards: Sequence[int], replies: list[Any]) -> dict[int, Any]:
            found: dict[int, Any] = {}
            for start, reply in zip(
                range(0, len(shards), SHARDS_PER_CALL), replies, strict=True
            ):
                run = shards[start : start + SHARDS_PER_CALL]
                if mode == "count":
                    found[run[0]] = reply
                else:
                    found.update(zip(run, reply, strict=True))
            return found

        known = sorted(self._shards)

        def fill_known(pipe: Any) -> None:
            pipe.smembers(self.layout.shards_key())
            fill(known)(pipe)

        replies = self.run(fill_known, "evaluate a query")
        registered = {int(s) for s in replies[0]}
        found = answers(known, replies[1:])
        missing = sorted(registered - self._shards)
        if missing:
            found.update(answers(missing, self.run(fill(missing), "evaluate a query")))
        self._shards = registered
        # A shard known from the last query but no longer registered (the
        # keyspace emptied) has no keys left: its answer is 0 or "".
        return sorted(found.items())

    def _queue_shards(
        self, pipe: Any, program: _Program, shards: Sequence[int], mode: str
    ) -> None:
        keys = _call_keys(self.layout, program.leaves, tuple(shards), program.scratch)
        args = [mode, 0, f"{len(program.leaves)}:{len(shards)}", *program.tokens]
        sha = self.script_sha(_EVALUATE)
        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)

    def _on_every_shard(
        self, queue: Callable[[Any, int], None], size: int, action: str
    ) -> list[tuple[int, list[Any]]]:
        """The ``size`` replies to the commands ``queue(pipe, shard)`` adds,
        for every shard of the layout, in shard order. With a shard registry,
        the shards seen last are asked in the same round trip as the read of
        the registry, and shards that appeared since in a second one."""

        def fill(shards: Sequence[int]) -> Callable[[Any], None]:
            def queue_all(pipe: Any) -> None:
                for shard in shards:
                    queue(pipe, shard)

            return queue_all

        if self.layout.fixed_shards is not None:
            shards = self.layout.fixed_shards
            replies = self.run(fill(shards), action)
            return list(zip(shards, _split(replies, size, shards), strict=True))
        known = sorted(self._shards)

        def fill_known(pipe: Any) -> None:
            pipe.smembers(self.layout.shards_key())
            fill(known)(pipe)

        replies = self.run(fill_known, action)
        registered = {int(s) for s in replies[0]}
        answers = dict(zip(known, _split(replies[1:], size, known), strict=True))
        missing = sorted(registered - self._shards)
        if missing:
            late = self.run(fill(missing), action)
            answers.update(zip(missing, _split(late, size, missing), strict=True))
        self._shards = registered
        return [(shard, answers[shard]) for shard in sorted(registered)]

    def _queue(
        self, pipe: Any, program: _Program, shard: int, mode: str, offset: int = 0
    ) -> None:
        keys = [self.layout.bitmap_key(ref, shard) for ref in program.leaves]
        keys += [self.layout.temp_key(shard, n) for n in range(program.scratch)]
        args = [mode, offset, len(program.leaves), *program.tokens]
        # Through execute_command: redis-py's cluster pipeline blocks its evalsha
        # method, yet routes the command by its keys, all in this shard's slot.
        sha = self.script_sha(_EVALUATE)
        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)

    def script_sha(self, script: str) -> str:
        """The SHA of ``script``, loaded on every master the first time. Take it
        inside the ``fill`` given to ``run``, so a retry after NOSCRIPT gets
        the script loaded again."""
        sha = self._shas.get(script)
        if sha is None:
            with translated("load a script"):
                sha = self._shas[script] = str(self.client.script_load(script))
        return sha

    def run(
        self,
        fill: Callable[[Any], Any],
        action: str,
        *,
        pipelined: bool = True,
        check: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        """Fill a pipeline and execute it (on a cluster, sent to every node at
        once); when a server has lost a script (a restart, a failover, SCRIPT
        FLUSH, a new node), load it on every master and run again. Not
        ``pipelined``, ``fill`` sends its one command on the client. ``check``
        raises on errors the replies hold (those of EXEC), a lost script
        among them."""
        for attempt in (1, 2):
            try:
                with translated(action):
                    if not pipelined:
                        return [fill(self.client)]
                    pipe = self.client.pipeline(transaction=False)
                    fill(pipe)
                    replies = list(pipe.execute())
                if check is not None:
                    check(replies)
                return replies
            except errors.BackendError as error:
                lost = isinstance(error.__cause__, rex.NoScriptError)
                if not lost or attempt == 2:
                    raise
                log.debug("a script is missing on the server; loading it again")
                self._shas.clear()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- names and deletion

    def names(self, kind: Kind) -> set[str]:
        if not self.layout.registries:
            with translated("list names"):
                return scanning.names(self.client, self.layout, kind)
        shards = self.registered_shards()
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            pipe.smembers(self.layout.names_key(kind, shard))
        with translated("list names"):
            listed = [
                (shard, member.decode())
                for shard, members in zip(shards, pipe.execute(), strict=True)
                for member in members
            ]
        if kind is not Kind.EVENT:
            return {name for _, name in listed}
        # An event whose bitmaps in a shard all expired has lost its period
        # registry there, but not its entry in the shard's names.
        pipe = self.client.pipeline(transaction=False)
        for shard, name in listed:
            pipe.exists(self.layout.periods_key(name, shard))
        with translated("list names"):
            alive = pipe.execute()
        return {name for (_, name), found in zip(listed, alive, strict=True) if found}

    def delete(self, kind: Kind, name: str) -> None:
        if not self.layout.registries:
            with translated("delete bitmaps"):
                return scanning.delete(self.client, self.layout, kind, name)
        shards = self.registered_shards()
        self._delete_in(shards, [(kind, name)])

    def delete_all(self) -> None:
        if not self.layout.registries:
            with translated("delete bitmaps"):
                return scanning.delete_all(self.client, self.layout)
        shards = self.registered_shards()
        names = {(kind, name) for _, kind, name in self._stored_names(shards)}
        self._delete_in(shards, sorted(names))
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            pipe.delete(self.layout.bitmap_key(UNIVERSE, shard))
        pipe.delete(self.layout.shards_key())
        map_keys = self.id_map().keys()
        for key in map_keys:
            pipe.delete(key)
        with translated("delete bitmaps"):
            pipe.execute()
        self._shards = set()

    def _delete_in(self, shards: list[int], names: Sequence[tuple[Kind, str]]) -> None:
        """Delete the named bitmaps from each shard, with their registry
        entries, one shard at once (``lua/delete.lua``). A shard whose
        periods changed between their listing and the deletion is listed
        and deleted again."""
        events = [name for kind, name in names if kind is Kind.EVENT]
        attributes = [name for kind, name in names if kind is Kind.ATTRIBUTE]
        pending = shards if names else []
        for _ in range(DELETE_ATTEMPTS):
            if not pending:
                return
            pending = self._delete_round(pending, events, attributes)
        if pending:
            raise errors.BackendError(
                f"could not delete {', '.join(map(repr, [*events, *attributes]))}: "
                f"marks kept adding periods to shards {pending} while they were "
                f"deleted ({DELETE_ATTEMPTS} attempts); the other shards are done, "
                f"and deleting again finishes these"
            )

    def _delete_round(
        self, shards: list[int], events: list[str], attributes: list[str]
    ) -> list[int]:
        """One listing and deletion of ``shards``; the shards left to do."""
        periods = self._listed_periods(shards, events)

        def fill(pipe: Any) -> None:
            for shard in shards:
                self._queue_delete(pipe, shard, events, attributes, periods)

        done = self.run(fill, "delete bitmaps")
        return [shard for shard, ok in zip(shards, done, strict=True) if not ok]

    def _listed_periods(
        self, shards: Sequence[int], events: Sequence[str]
    ) -> dict[tuple[int, str], list[str]]:
        """The members of each event's period registry in each shard."""
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            for event in events:
                pipe.smembers(self.layout.periods_key(event, shard))
        with translated("list periods"):
            replies = iter(pipe.execute())
        return {
            (shard, event): sorted(member.decode() for member in next(replies))
            for shard in shards
            for event in events
        }

    def _queue_delete(
        self,
        pipe: Any,
        shard: int,
        events: Sequence[str],
        attributes: Sequence[str],
        periods: dict[tuple[int, str], list[str]],
    ) -> None:
        layout = self.layout
        keys = [layout.names_key(kind, shard) for kind in (Kind.EVENT, Kind.ATTRIBUTE)]
        args: list[Any] = [len(events)]
        for event in events:
            members = periods[shard, event]
            keys.append(layout.periods_key(event, shard))
            keys += [layout.event_key(event, period_code(m), shard) for m in members]
            args += [event, len(members), *members]
        keys += [
            layout.bitmap_key(BitmapRef(Kind.ATTRIBUTE, name), shard)
            for name in attributes
        ]
        args += attributes
        # Through execute_command, which a cluster pipeline routes by the keys,
        # all in this shard's slot.
        sha = self.script_sha(_DELETE)
        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)

    def id_map(self) -> RedisIdMap:
        """The id map kept in this Redis (see ``redis_idmap``)."""
        # Imported here: that module uses this one's error translation.
        from .redis_idmap import RedisIdMap

        return RedisIdMap(self)

    # -- whole bitmaps, for export and load

    def refs(self) -> Set[BitmapRef]:
        if not self.layout.registries:
            with translated("list bitmaps"):
                pattern = f"{self.layout.prefix}_*"
                keys = scanning.bitmaps(self.client, self.layout, pattern)
                stored = {ref for _, ref in keys}
            # A layout may derive bitmaps it does not keep (bitmapist3's years,
            # the OR of their months): they are listed, and read, as well.
            return stored | {d for r in stored for d in self._derived(r)}
        shards = self.registered_shards()
        found: set[BitmapRef] = {UNIVERSE} if shards else set()
        events: list[tuple[int, str]] = []
        for shard, kind, name in self._stored_names(shards):
            if kind is Kind.EVENT:
                events.append((shard, name))
            else:
                found.add(BitmapRef(kind, name))
        pipe = self.client.pipeline(transaction=False)
        for shard, event in events:
            pipe.smembers(self.layout.periods_key(event, shard))
        with translated("list periods"):
            periods = pipe.execute()
        for (_, event), members in zip(events, periods, strict=True):
            found.update(
                BitmapRef(Kind.EVENT, event, Period.from_code(code, UTC))
                for code in (period_code(member.decode()) for member in members)
            )
        return found

    def store(self, ref: BitmapRef, bitmap: BitMap64) -> None:
        """One transaction: the bitmap's shard strings, built here, replace its
        keys (those of shards it no longer has ids in are deleted) and are
        ORed into the universe's, after every key it writes was WATCHed and
        type-checked, so that it is all or nothing. On a cluster, one atomic
        step per shard after staging them all, undone on a failure
        (``staging``).

        The transaction queues a few commands per shard, so a bitmap whose
        ids are spread over millions of shards (random 64-bit ids) costs
        client memory per shard; splitting such a store into several
        transactions would give up its atomicity.
        """
        if ref != UNIVERSE and self.layout.expand(ref) != ref:
            return  # the layout derives this bitmap from others it keeps
        largest = [bitmap.max()] if bitmap else []
        # The layout says which of the bitmap and the universe it keeps, and
        # refuses what it cannot hold, before any I/O.
        kept = self.layout.stored(
            [ref] if ref == UNIVERSE else [ref, UNIVERSE],
            np.array(largest, dtype=np.uint64),
        )
        if not kept:
            return
        if is_cluster(self.client):
            self._store_on_cluster(ref, bitmap, UNIVERSE in kept)
            return
        with translated("store a bitmap"):
            for _ in range(_STORE_ATTEMPTS):
                try:
                    return self._store_watched(ref, bitmap, UNIVERSE in kept)
                except rex.WatchError:
                    log.debug("keys of %s changed while it was stored; again", ref)
        raise errors.BackendError(
            f"Redis failed to store {ref}: its keys changed under every one of "
            f"{_STORE_ATTEMPTS} attempts (other clients writing them)"
        )

    def _store_watched(self, ref: BitmapRef, bitmap: BitMap64, merge: bool) -> None:
        """``store`` on one server: every key the transaction writes is
        WATCHed and type-checked first (``lua/types.lua``), since inside
        MULTI a key of another type fails only its own command; a key changed
        before EXEC makes EXEC do nothing (WatchError, and ``store`` tries
        again)."""
        layout = self.layout
        # The strings are built first, to know the keys; MULTI would hold them
        # all until EXEC anyway.
        strings = list(self.shard_strings(bitmap))
        shards = {shard for shard, _ in strings}
        with self.client.pipeline(transaction=True) as pipe:
            known: set[int] = set()
            if ref != UNIVERSE and layout.fixed_shards is not None:
                known = set(layout.fixed_shards)
            elif ref != UNIVERSE:
                pipe.watch(layout.shards_key())
                known = {int(s) for s in pipe.smembers(layout.shards_key())}
            named = set(shards) or ({0} if ref != UNIVERSE else set())
            if not layout.registries:
                named = set()
            checks = [(layout.bitmap_key(ref, s), "string") for s in known | shards]
            if merge:
                checks += [(layout.bitmap_key(UNIVERSE, s), "string") for s in shards]
            checks += [
                (key, "set")
                for s in named
                for key, _ in layout.registry_entries(ref, s)
            ]
            if named:
                checks.append((layout.shards_key(), "set"))
            for start in range(0, len(checks), _CHECKS_PER_CALL):
                chunk = checks[start : start + _CHECKS_PER_CALL]
                keys = [key for key, _ in chunk]
                pipe.watch(*keys)
                pipe.execute_command(
                    "EVAL", _TYPES, len(keys), *keys, *(kind for _, kind in chunk)
                )
            pipe.multi()
            for shard, string in strings:
                key = layout.bitmap_key(ref, shard)
                universe = layout.bitmap_key(UNIVERSE, shard)
                if ref == UNIVERSE:
                    # MULTI runs alone, so no query's scratch key is in use here.
                    key = layout.temp_key(shard, 0)
                pipe.set(key, string)
                if merge:
                    pipe.bitop("OR", universe, universe, key)
                if ref == UNIVERSE:
                    pipe.delete(key)
            if ref != UNIVERSE:
                for shard in known - shards:
                    pipe.delete(layout.bitmap_key(ref, shard))
            # An empty bitmap stays known by name, as one whose bits were all
            # cleared does: its name is registered in shard 0.
            for shard in sorted(named):
                self._register(pipe, ref, shard, None)
            if named:
                pipe.sadd(layout.shards_key(), *sorted(named))
            pipe.execute()

    def _store_on_cluster(
        self, ref: BitmapRef, bitmap: BitMap64, with_universe: bool
    ) -> None:
        """A cluster runs no transaction across slots: the bitmap is staged,
        then committed shard by shard, and rolled back on a failure
        (``staging``)."""
        if not self.layout.registries:
            raise errors.ConfigurationError(
                "loading into a Redis Cluster needs the sharded key layout: the "
                "bitmapist3 layout keeps no registries to find a bitmap's keys by"
            )
        # Imported here: that module uses this one's error translation.
        from .staging import store_staged

        store_staged(self, ref, bitmap, with_universe)

    def shard_strings(self, bitmap: BitMap64) -> Iterator[tuple[int, bytes]]:
        """Each shard of ``bitmap`` with its Redis string, built a window of
        ids at a time."""
        for ids in self._windows(bitmap):
            for shard, offsets in self._by_shard(ids):
                yield shard, _encode(offsets)

    def _derived(self, ref: BitmapRef) -> list[BitmapRef]:
        """The year of a month, when the layout derives years from months."""
        period = ref.period
        if period is None or period.granularity is not Granularity.MONTH:
            return []
        year = BitmapRef(
            ref.kind, ref.name, Period.containing(Granularity.YEAR, period.start, UTC)
        )
        return [year] if self.layout.expand(year) != year else []

    def _windows(
        self, bitmap: BitMap64
    ) -> Iterator[np.ndarray[Any, np.dtype[np.uint64]]]:
        """The ids of ``bitmap``, ascending, as arrays of whole shards and about
        ``_WINDOW`` ids: a bitmap's ids are never all in one array (8 bytes an
        id, against Roaring's 2 at most)."""
        width, start, count = self.layout.shard_width, 0, len(bitmap)
        while start < count:
            last = int(bitmap[min(start + _WINDOW, count) - 1])
            # The rank of the last id of ``last``'s shard, so no shard is cut.
            stop = int(bitmap.rank(min((last // width + 1) * width - 1, MAX_ID)))
            yield np.frombuffer(bitmap[start:stop].to_array(), dtype=np.uint64)
            start = stop

    def _by_shard(
        self, ids: np.ndarray[Any, np.dtype[np.uint64]]
    ) -> Iterator[tuple[int, np.ndarray[Any, np.dtype[np.uint64]]]]:
        """Each shard of ascending ``ids`` with the ids' offsets in it, found by
        binary search, so that no second array as large as ``ids`` is made."""
        width, start = self.layout.shard_width, 0
        while start < ids.size:
            shard = int(ids[start]) // width
            end = (shard + 1) * width
            # As np.uint64: numpy compares a Python int above 2**53 with a
            # uint64 array as floats, which cannot tell 2**54 - 1 from 2**54.
            stop = (
                ids.size if end > MAX_ID else int(np.searchsorted(ids, np.uint64(end)))
            )
            yield shard, ids[start:stop] - np.uint64(shard * width)
            start = stop

    def _stored_names(self, shards: list[int]) -> list[tuple[int, Kind, str]]:
        """(shard, kind, name) for every event and attribute name registered
        in ``shards``."""
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            pipe.smembers(self.layout.names_key(Kind.EVENT, shard))
            pipe.smembers(self.layout.names_key(Kind.ATTRIBUTE, shard))
        with translated("list names"):
            replies = iter(pipe.execute())
        found = []
        for shard in shards:
            for kind in (Kind.EVENT, Kind.ATTRIBUTE):
                found += [(shard, kind, member.decode()) for member in next(replies)]
        return found

    def registered_shards(self) -> list[int]:
        """The shards in the shard registry, read now (and remembered for the
        next query)."""
        with translated("read the shard registry"):
            registered = {
                int(s) for s in self.client.smembers(self.layout.shards_key())
            }
        self._shards = registered
        return sorted(registered)

    def close(self) -> None:
        self.client.close()


def _encode(offsets: np.ndarray[Any, np.dtype[np.uint64]]) -> bytes:
    """The Redis string with the bits at ``offsets`` (ascending, distinct) set:
    the inverse of ``_decode``, one numpy pass and no Python loop."""
    bytes_ = offsets >> np.uint64(3)
    masks = np.right_shift(np.uint8(0x80), (offsets & np.uint64(7)).astype(np.uint8))
    firsts = np.flatnonzero(np.r_[True, bytes_[1:] != bytes_[:-1]])
    string = np.zeros(int(bytes_[-1]) + 1, dtype=np.uint8)
    string[bytes_[firsts]] = np.bitwise_or.reduceat(masks, firsts)
    return string.tobytes()


# A dashboard asks the same few queries over the same shards again and again:
# naming their keys is most of the client's work for a query of many shards.
@functools.lru_cache(maxsize=64)
def _call_keys(
    layout: ShardedLayout,
    leaves: tuple[BitmapRef, ...],
    shards: tuple[int, ...],
    scratch: int,
) -> tuple[str, ...]:
    """The KEYS of one call of ``evaluate.lua`` over ``shards`` of one server:
    each shard's leaves, then scratch keys, which the shards take in turn (a
    script runs alone, and one server needs no slot for them)."""
    keys = [layout.bitmap_key(ref, shard) for shard in shards for ref in leaves]
    keys += [layout.temp_key(shards[0], n) for n in range(scratch)]
    return tuple(keys)


def _split(replies: list[Any], size: int, shards: Sequence[int]) -> list[list[Any]]:
    """``replies`` cut into one run of ``size`` for each of ``shards``."""
    return [replies[i * size : (i + 1) * size] for i in range(len(shards))]


def decode_shards(strings: Iterable[tuple[int, bytes | None]], width: int) -> IdArray:
    """The ids set in the strings of shards of ``width`` ids, given in shard
    order, sorted (see ``shard_runs``)."""
    parts = [decode_bitmap(data, base) for base, data in shard_runs(strings, width)]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def shard_runs(
    strings: Iterable[tuple[int, bytes | None]], width: int
) -> Iterator[tuple[int, bytes]]:
    """The strings of shards, in shard order, joined into runs to decode in
    one numpy pass each, with the id each run starts at: one pass over the 62
    shards of a million ids takes 2.7 ms, shard by shard 3.7. A run goes on
    only past full strings (so nothing is padded and memory follows the
    strings, not the shards) and up to ``_RUN_BYTES``. Empty strings are
    skipped."""
    size = width // 8
    run: list[bytes] = []
    first = held = 0
    for shard, data in strings:
        if not data:
            continue
        if not (
            run
            and shard == first + len(run)
            and len(run[-1]) == size
            and held + len(data) <= _RUN_BYTES
        ):
            if run:
                yield first * width, b"".join(run)
            run, first, held = [], shard, 0
        run.append(data)
        held += len(data)
    if run:
        yield first * width, b"".join(run)


def decode_bitmap(data: bytes, base: int = 0) -> IdArray:
    """The offsets of the set bits of a Redis string plus ``base``, sorted, at
    once (bit 0 is the high bit of the first byte). A dense string is unpacked
    whole; of a sparse one only the nonzero bytes are. The unpacked bits are
    searched as booleans, which numpy scans several times faster than bytes
    (``benchmarks/roaring_input.py``)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    present = raw != 0
    if np.count_nonzero(present) * 4 > raw.size:
        # flatnonzero gives int64 offsets, never negative: viewed as uint64
        # they need no copy.
        bits = np.unpackbits(raw).view(np.bool_)
        offsets = np.flatnonzero(bits).view(np.uint64)
    else:
        nonzero = np.flatnonzero(present)
        rows, columns = np.nonzero(
            np.unpackbits(raw[nonzero]).reshape(-1, 8).view(np.bool_)
        )
        offsets = (nonzero[rows].view(np.uint64) << np.uint64(3)) + columns.view(
            np.uint64
        )
    if base:
        offsets += np.uint64(base)
    return offsets
