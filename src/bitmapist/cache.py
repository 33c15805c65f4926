"""A cache of closed periods' bitmaps, kept right by Redis itself.

Dashboards ask about the same past periods over and over. With
``Bitmapist(redis_client=r, cache=64 * 2**20)``, a query whose every leaf is
an event in a period that has ended (by the instance's clock) is answered in
process: each such bitmap is fetched once, whole, and combined here with
pyroaring. Any other query goes to Redis as usual.

Staleness is ruled out by Redis's client-side caching protocol: the cache
reads through a connection of its own with ``CLIENT TRACKING ON`` (RESP3),
so the server remembers the keys it read and, when any client changes one of
them (a mark, an unmark, a bulk load, a delete, a flush), pushes an
invalidation on that connection. Before every answer the cache reads what has
arrived, without waiting, and drops those bitmaps;
the shard registry is tracked too, so a new shard drops everything. Writes
made through the same instance drop their bitmaps at once, without waiting
for the message. If the connection fails, everything is dropped and the
query goes to Redis; the next one connects again.

What is promised, precisely: a write through this instance is seen by the
next query; a write by any other connection is seen by every query that
starts after the server has served some later command, from anyone. Redis
queues the invalidation while it runs the write, but sends it in the same
pass as the writer's reply, possibly just after it, so a query racing the
writer's reply (microseconds, longer on a loaded machine) can miss it. Every
cache built on CLIENT TRACKING shares this window; a reader that must never
meet it should use ``cache=None``.

The cache holds at most ``max_bytes`` of bitmaps (as pyroaring counts them),
dropping the least recently used first; a query whose bitmaps alone exceed
that goes to Redis. It works on one Redis server; it needs CLIENT TRACKING
(Redis 6 or newer), so fakeredis cannot serve it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import redis
from pyroaring import BitMap64

from .backends.base import as_bitmap
from .backends.redis import REDIS_ERRORS, RedisBackend, decode_shards
from .backends.roaring import RoaringBackend
from .backends.transactions import is_cluster
from .errors import ConfigurationError
from .expressions import BitmapRef, Expression, Kind, distinct_leaves

__all__ = ["ClosedPeriodCache"]

log = logging.getLogger(__name__)


T = TypeVar("T")


class ClosedPeriodCache:
    """Bitmaps of ended periods, held in process and dropped when Redis says
    they changed. Thread-safe: one lock guards the connections and the
    bitmaps."""

    def __init__(
        self, backend: RedisBackend, max_bytes: int, clock: Callable[[], datetime]
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
            raise ConfigurationError(
                f"cache {max_bytes!r} is not a size: give the most bytes it may "
                f"hold as an int, or None for no cache"
            )
        if max_bytes <= 0:
            raise ConfigurationError(f"cache size {max_bytes} must be positive")
        if is_cluster(backend.client):
            raise ConfigurationError(
                "the cache tracks keys on one Redis server; on a Redis Cluster it "
                "would need a tracked connection per node: pass cache=None"
            )
        self.backend = backend
        self.max_bytes = max_bytes
        self.clock = clock
        self.store = RoaringBackend()
        self._sizes: OrderedDict[BitmapRef, int] = OrderedDict()
        # Counts of expressions over the bitmaps held; any drop clears them.
        self._counts: dict[Expression, int] = {}
        self._held = 0
        # Which bitmap each tracked key belongs to, and the reverse.
        self._refs: dict[bytes, BitmapRef] = {}
        self._keys: dict[BitmapRef, list[bytes]] = {}
        self._shards: list[int] | None = None
        self._reader: Any = None
        self._invalid: list[list[bytes] | None] = []
        self._lock = threading.RLock()

    @property
    def size(self) -> int:
        """The bytes of bitmaps held now."""
        return self._held

    def ask(
        self, expression: Expression, question: Callable[[RoaringBackend], T]
    ) -> T | None:
        """``question`` asked of an in-process store holding every leaf of
        ``expression``, fresh; None when the query must go to Redis."""
        with self._lock:
            if not self._ready(distinct_leaves([expression])):
                return None
            return question(self.store)

    def counts(self, expressions: Sequence[Expression]) -> list[int] | None:
        """How many ids each expression holds, or None when they must go to
        Redis. Counts are remembered too: a dashboard asking the same closed
        table again pays a lookup per cell, until any bitmap held changes."""
        with self._lock:
            # A remembered count was taken over closed bitmaps held then, and
            # any drop since would have cleared it; so once the invalidations
            # that have arrived are read, a table remembered whole is fresh.
            if self._counts and self._catch_up():
                found = [self._counts.get(e) for e in expressions]
                if None not in found:
                    return cast(list[int], found)
            if not self._ready(distinct_leaves(expressions)):
                return None
            remembered = self._counts
            todo = [e for e in dict.fromkeys(expressions) if e not in remembered]
            if todo:
                remembered.update(zip(todo, self.store.count_many(todo), strict=True))
            return [remembered[e] for e in expressions]

    def _catch_up(self) -> bool:
        """Read the invalidations that have arrived; False, with the cache
        dropped, when the connection failed."""
        try:
            self._connect()
            self._drain()
        except REDIS_ERRORS as error:
            log.debug("cache connection failed (%s); dropping the cache", error)
            self.clear()
            return False
        return True

    def _ready(self, refs: set[BitmapRef]) -> bool:
        """Whether every bitmap of ``refs`` is closed and now held, fresh,
        fetching the missing ones; call under the lock."""
        now = self.clock()
        if not all(_closed(ref, now) for ref in refs):
            return False
        if not self._catch_up():
            return False
        missing = [ref for ref in refs if ref not in self._sizes]
        try:
            if missing:
                self._fetch(missing)
                # Invalidations read with the replies may name them.
                self._drain()
        except REDIS_ERRORS as error:
            log.debug("cache connection failed (%s); dropping the cache", error)
            self.clear()
            return False
        if not refs <= self._sizes.keys():
            return False
        if missing and sum(self._sizes[ref] for ref in refs) > self.max_bytes:
            self.forget(missing)
            return False
        for ref in refs:
            self._sizes.move_to_end(ref)
        if self._held > self.max_bytes:
            self._evict(keep=refs)
        return True

    def forget(self, refs: Iterable[BitmapRef]) -> None:
        """Drop ``refs``: this instance has just written them."""
        with self._lock:
            for ref in refs:
                self._drop(ref)

    def forget_all(self) -> None:
        with self._lock:
            for ref in list(self._sizes):
                self._drop(ref)
            self._shards = None

    def clear(self) -> None:
        """Drop every bitmap and both connections."""
        with self._lock:
            self.forget_all()
            if self._reader is not None:
                self._reader.disconnect()
            self._reader = None
            self._invalid = []

    def close(self) -> None:
        self.clear()

    # -- the tracking connections

    def _connect(self) -> None:
        if self._reader is not None:
            return
        # A connection of its own, outside the client's pool, speaking RESP3 so
        # that invalidations arrive on it, in order with the replies.
        pool = cast(redis.Redis, self.backend.client).connection_pool
        reader = pool.connection_class(**{**pool.connection_kwargs, "protocol": 3})
        reader.connect()
        # redis-py hands push messages to the parser's handler; its own
        # client-side cache registers the same way.
        reader._parser.set_invalidation_push_handler(self._invalidated)
        reader.send_command("CLIENT", "TRACKING", "ON")
        try:
            reader.read_response()
        except REDIS_ERRORS as error:
            reader.disconnect()
            raise ConfigurationError(
                "the cache needs a Redis server with CLIENT TRACKING (Redis 6 or "
                f"newer): {error}"
            ) from error
        self._reader = reader

    def _invalidated(self, message: list[Any]) -> None:
        self._invalid.append(message[1])

    def _drain(self) -> None:
        """Read every invalidation that has arrived, without waiting, and drop
        the bitmaps they name."""
        while self._reader.can_read(timeout=0):
            self._reader.read_response(push_request=True)
        invalid, self._invalid = self._invalid, []
        shards_key = self.backend.layout.shards_key().encode()
        for keys in invalid:
            # None means FLUSHALL or FLUSHDB; a changed shard registry may
            # mean a new shard holding bits of any bitmap held.
            if keys is None or shards_key in keys:
                self.forget_all()
                continue
            for key in keys:
                if key in self._refs:
                    self._drop(self._refs[key])

    def _fetch(self, refs: list[BitmapRef]) -> None:
        """Read ``refs`` whole, through the tracked connection, in one round
        trip (two when the shard registry must be read first)."""
        layout = self.backend.layout
        if self._shards is None:
            self._reader.send_command("SMEMBERS", layout.shards_key())
            self._shards = sorted(int(s) for s in self._reader.read_response())
        shards = self._shards
        commands = [
            ("GET", layout.bitmap_key(ref, shard)) for ref in refs for shard in shards
        ]
        replies: Iterator[Any] = iter([])
        if commands:
            self._reader.send_packed_command(self._reader.pack_commands(commands))
            replies = iter([self._reader.read_response() for _ in commands])
        for ref in refs:
            keys = [layout.bitmap_key(ref, shard).encode() for shard in shards]
            for key in keys:
                self._refs[key] = ref
            self._keys[ref] = keys
            strings = [(shard, next(replies)) for shard in shards]
            bitmap = as_bitmap(decode_shards(strings, layout.shard_width))
            self.store.put(ref, bitmap)
            self._sizes[ref] = _bytes(bitmap)
            self._held += self._sizes[ref]

    def _drop(self, ref: BitmapRef) -> None:
        self._counts.clear()
        size = self._sizes.pop(ref, None)
        if size is not None:
            self._held -= size
            self.store.forget(ref)
        for key in self._keys.pop(ref, ()):
            self._refs.pop(key, None)

    def _evict(self, keep: set[BitmapRef]) -> None:
        for ref in list(self._sizes):
            if self._held <= self.max_bytes:
                return
            if ref not in keep:
                self._drop(ref)


def _closed(ref: BitmapRef, now: datetime) -> bool:
    return ref.kind is Kind.EVENT and ref.period is not None and ref.period.end <= now


def _bytes(bitmap: BitMap64) -> int:
    """About what ``bitmap`` holds in memory: its containers, and a little
    for the bitmap itself."""
    statistics = bitmap.get_statistics()
    return 64 + int(
        statistics["n_bytes_array_containers"]
        + statistics["n_bytes_run_containers"]
        + statistics["n_bytes_bitset_containers"]
    )
