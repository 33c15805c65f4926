"""bitmapist 3.x's "systems": named connections, and what each can do.

``SYSTEMS`` maps a system name to a redis-py client, as in 3.x, or to a
``RoaringBackend`` registered with ``setup_memory``. Nothing connects at
import: the "default" system (localhost:6379) is made the first time it is
looked up. The 3.x interface talks to a system through a ``System`` adapter:
``RedisSystem`` writes and reads 3.x's keys through a ``RedisBackend`` on the
bitmapist3 key layout, and runs BITOP on the server where 3.x does;
``MemorySystem`` keeps the same bitmaps in a ``RoaringBackend`` and, beside
them, what Redis would know of each key (that it exists, its byte length),
since 3.x's NOT and its listing of names depend on that.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from functools import reduce
from typing import Any, Protocol

import numpy as np
import redis
from pyroaring import BitMap64

from ..backends import RedisBackend, RoaringBackend
from ..backends.keys import Bitmapist3Layout

# The backend's own decoding and error translation, so that raw reads of 3.x's
# bit-operation keys behave as the backend's reads do.
from ..backends.redis import decode_bitmap, translated
from ..backends.scanning import delete_keys
from ..backends.scanning import keys as scan_keys
from ..errors import ConfigurationError
from ..expressions import BitmapRef

__all__ = [
    "LAYOUT",
    "SYSTEMS",
    "MemorySystem",
    "RedisSystem",
    "System",
    "get_redis",
    "setup_memory",
    "setup_redis",
    "system_for",
]

LAYOUT = Bitmapist3Layout()


class _Systems(dict[str, Any]):
    """A dict that makes the "default" system the first time it is asked for."""

    def __missing__(self, name: str) -> Any:
        if name != "default":
            raise KeyError(name)
        client = redis.StrictRedis(host="localhost", port=6379)
        self[name] = client
        return client


SYSTEMS: dict[str, Any] = _Systems()


def setup_redis(name: str, host: str, port: int, **kw: Any) -> None:
    """Register a Redis client as system ``name``; ``redis_client`` in ``kw``
    is the client class to build (``redis.StrictRedis`` by default)."""
    client_class = kw.pop("redis_client", redis.StrictRedis)
    SYSTEMS[name] = client_class(host=host, port=port, **kw)


def setup_memory(name: str, backend: RoaringBackend | None = None) -> RoaringBackend:
    """Register an in-process ``RoaringBackend`` as system ``name``, so that
    3.x code runs without a server (in its users' tests, say); returns it."""
    if backend is None:
        backend = RoaringBackend()
    if not isinstance(backend, RoaringBackend):
        raise ConfigurationError(f"{backend!r} is not a RoaringBackend")
    SYSTEMS[name] = backend
    return backend


def get_redis(system: Any = "default") -> Any:
    """The client of the system named ``system``; a client is returned as is."""
    if isinstance(system, str):
        return SYSTEMS[system]
    return system


class System(Protocol):
    """What the 3.x interface needs of a system. Keys are 3.x key names;
    ``ref`` is the bitmap a key holds when it holds a marked one (None for a
    bit-operation result)."""

    def write(self, refs: Sequence[BitmapRef], uuid: int, value: bool) -> None: ...

    def count(self, key: str, ref: BitmapRef | None) -> int: ...

    def contains(self, key: str, ref: BitmapRef | None, uuid: int) -> bool: ...

    def members(self, key: str, ref: BitmapRef | None) -> BitMap64: ...

    def bitop(self, op: str, dest: str, sources: Sequence[str]) -> None: ...

    def keys(self, prefix: str, batch: int) -> Iterator[str]: ...

    def delete(self, keys: Sequence[str]) -> None: ...


class RedisSystem:
    """A 3.x system on a Redis server: marked bitmaps through the core's
    ``RedisBackend``, bit-operation results as 3.x keeps them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # A caller's pipeline: 3.x queues its writes on it for the caller to
        # execute (``use_pipeline=False``); reading needs a client.
        self.queued = isinstance(client, redis.client.Pipeline)
        self.backend = RedisBackend(client, key_layout="bitmapist3")

    def write(self, refs: Sequence[BitmapRef], uuid: int, value: bool) -> None:
        ids = np.array([uuid], dtype=np.uint64)
        if not self.queued:
            self.backend.write(refs, ids, value)
            return
        for ref in LAYOUT.stored(refs, ids):
            self.client.setbit(LAYOUT.bitmap_key(ref, 0), uuid, 1 if value else 0)

    def count(self, key: str, ref: BitmapRef | None) -> int:
        if ref is not None:
            return self.backend.count(ref)
        with translated("count a bitmap"):
            return int(self.client.bitcount(key))

    def contains(self, key: str, ref: BitmapRef | None, uuid: int) -> bool:
        if ref is not None:
            return self.backend.contains(ref, uuid)
        LAYOUT.shard_of(uuid)
        with translated("test an id"):
            return bool(self.client.getbit(key, uuid))

    def members(self, key: str, ref: BitmapRef | None) -> BitMap64:
        if ref is not None:
            return self.backend.members(ref)
        with translated("read a bitmap"):
            data = self.client.get(key)
        return BitMap64(decode_bitmap(data)) if data else BitMap64()

    def bitop(self, op: str, dest: str, sources: Sequence[str]) -> None:
        with translated("run a bit operation"):
            self.client.bitop(op, dest, *sources)

    def keys(self, prefix: str, batch: int) -> Iterator[str]:
        with translated("list keys"):
            yield from scan_keys(self.client, f"{prefix}*", batch)

    def delete(self, keys: Sequence[str]) -> None:
        with translated("delete keys"):
            delete_keys(self.client, list(keys))


class MemorySystem:
    """A 3.x system in process. Bitmaps that 3.x marks live in the
    ``RoaringBackend``; bit-operation results beside it. ``lengths`` holds the
    byte length Redis would give each key's string (SETBIT grows it to cover
    the offset, clearing a bit included); a key exists while it has one."""

    def __init__(self, backend: RoaringBackend) -> None:
        self.backend = backend
        self.lengths: dict[str, int] = {}
        self.refs: dict[str, BitmapRef] = {}
        self.results: dict[str, BitMap64] = {}
        self._lock = threading.Lock()

    def write(self, refs: Sequence[BitmapRef], uuid: int, value: bool) -> None:
        ids = np.array([uuid], dtype=np.uint64)
        stored = LAYOUT.stored(refs, ids)
        with self._lock:
            self.backend.write(stored, ids, value)
            for ref in stored:
                key = LAYOUT.bitmap_key(ref, 0)
                self.refs[key] = ref
                self.lengths[key] = max(self.lengths.get(key, 0), uuid // 8 + 1)

    def count(self, key: str, ref: BitmapRef | None) -> int:
        return len(self.members(key, ref))

    def contains(self, key: str, ref: BitmapRef | None, uuid: int) -> bool:
        LAYOUT.shard_of(uuid)
        return uuid in self.members(key, ref)

    def members(self, key: str, ref: BitmapRef | None) -> BitMap64:
        with self._lock:
            return self._members(key)

    def _members(self, key: str) -> BitMap64:
        if key in self.results:
            return BitMap64(self.results[key])
        ref = self.refs.get(key)
        return BitMap64() if ref is None else self.backend.members(ref)

    def bitop(self, op: str, dest: str, sources: Sequence[str]) -> None:
        with self._lock:
            length = max(self.lengths.get(key, 0) for key in sources)
            operands = [self._members(key) for key in sources]
            self._forget(dest)
            if length == 0:
                # Redis deletes the destination of an all-empty BITOP.
                return
            if op == "NOT":
                # Every bit of the string flips: ids up to its last byte's end.
                result = BitMap64()
                result.add_range(0, length * 8)
                result -= operands[0]
            else:
                result = reduce(_COMBINE[op], operands)
            self.results[dest] = result
            self.lengths[dest] = length

    def keys(self, prefix: str, batch: int) -> Iterator[str]:
        with self._lock:
            found = [key for key in self.lengths if key.startswith(prefix)]
        yield from found

    def delete(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._forget(key)

    def _forget(self, key: str) -> None:
        self.lengths.pop(key, None)
        self.results.pop(key, None)
        ref = self.refs.pop(key, None)
        if ref is not None:
            ids = np.asarray(self.backend.members(ref).to_array(), dtype=np.uint64)
            self.backend.write([ref], ids, False)


_COMBINE = {"AND": BitMap64.__and__, "OR": BitMap64.__or__, "XOR": BitMap64.__xor__}

_ADAPTERS: weakref.WeakKeyDictionary[Any, System] = weakref.WeakKeyDictionary()
_ADAPTERS_LOCK = threading.Lock()


def system_for(system: Any) -> System:
    """The adapter for a system name, client or backend (one per object)."""
    target = get_redis(system)
    if isinstance(target, redis.client.Pipeline):
        return RedisSystem(target)
    with _ADAPTERS_LOCK:
        adapter = _ADAPTERS.get(target)
        if adapter is None:
            if isinstance(target, RoaringBackend):
                adapter = MemorySystem(target)
            else:
                adapter = RedisSystem(target)
            _ADAPTERS[target] = adapter
    return adapter
