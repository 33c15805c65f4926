"""The id map: str, bytes, UUID and int ids turned into dense integers and back.

With ``Bitmapist(..., id_map=True)`` every id a caller gives goes through the
map: on first sight it gets a free integer from a dense range, so bitmaps
stay dense whatever the ids look like, and iteration hands back the ids the
caller gave. The map lives in the backend (``RoaringBackend`` in process,
``RedisBackend`` in small Redis hashes kept by an atomic Lua script), so every
process sharing a store shares its map.

Ids are stored tagged with their type, so ``"7"``, ``b"7"`` and ``7`` are three
different ids. Integers say nothing of the ids' values: ``MemoryIdMap``
numbers ids in order of first sight, ``RedisIdMap`` within buckets picked by
a hash of the id, so iteration follows neither the ids' order nor, on Redis,
the order they were first seen.
Asking about an id the map has never seen answers "not there" and adds
nothing. Entries are never removed, except by ``delete_all``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from .errors import ConfigurationError, InvalidIdError
from .validation import MAX_ID, IdArray, check_id, check_ids

__all__ = [
    "MAX_EXTERNAL_ID_BYTES",
    "ExternalId",
    "IdMap",
    "Ids",
    "MappedIds",
    "MemoryIdMap",
    "PlainIds",
    "check_key",
    "decode",
    "encode",
    "ids_for",
    "python_ints",
]

ExternalId = str | bytes | uuid.UUID | int

# Long enough for any realistic key (emails, URLs, composite keys), short
# enough that one bad caller cannot fill the store with a single id.
MAX_EXTERNAL_ID_BYTES = 1024

# How many ids one round trip to the map carries: a script run blocks Redis
# while it runs, so huge batches are cut into pieces of this size.
BATCH = 10_000

_STR, _BYTES, _UUID, _INT = b"s", b"b", b"u", b"i"


def encode(value: Any) -> bytes:
    """The map's key for an external id, tagged with its type; raises
    InvalidIdError for anything that cannot be an id."""
    if isinstance(value, str):
        try:
            data = _STR + value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidIdError(
                f"id {value!r} is not valid Unicode: string ids must encode as UTF-8"
            ) from None
    elif isinstance(value, bytes):
        data = _BYTES + value
    elif isinstance(value, uuid.UUID):
        data = _UUID + value.bytes
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        data = _INT + str(check_id(value)).encode()
    else:
        raise InvalidIdError(
            f"id {value!r} is a {type(value).__name__}: with the id map, ids are "
            f"str, bytes, uuid.UUID or integers from 0 to 2**64 - 1"
        )
    if len(data) > MAX_EXTERNAL_ID_BYTES + 1:
        raise InvalidIdError(
            f"id {value!r:.40}... takes {len(data) - 1} bytes: the id map holds ids "
            f"of at most {MAX_EXTERNAL_ID_BYTES} bytes"
        )
    return data


def decode(data: bytes) -> ExternalId:
    """The external id a map key stands for."""
    tag, body = data[:1], data[1:]
    if tag == _STR:
        return body.decode("utf-8")
    if tag == _BYTES:
        return body
    if tag == _UUID:
        return uuid.UUID(bytes=body)
    return int(body)


def check_key(data: bytes) -> str | None:
    """Why ``data`` is not a key ``encode`` makes (for a reader of keys from
    elsewhere, such as an archive), or None when it is one."""
    if not 1 <= len(data) <= MAX_EXTERNAL_ID_BYTES + 1:
        return f"is {len(data)} bytes long, not 1 to {MAX_EXTERNAL_ID_BYTES + 1}"
    if data[:1] not in (_STR, _BYTES, _UUID, _INT):
        return f"starts with {data[:1]!r}, which is no type tag"
    try:
        same = encode(decode(data)) == data
    except (ValueError, InvalidIdError):
        same = False
    return None if same else f"{data[:40]!r} is not a valid {data[:1].decode()} id"


class IdMap(Protocol):
    """What a backend's map provides; keys are ``encode``d ids."""

    def get_or_create(self, keys: Sequence[bytes]) -> list[int]:
        """The integer of every key, numbering new keys atomically."""

    def lookup(self, keys: Sequence[bytes]) -> list[int | None]:
        """The integer of every key, or None for keys never seen."""

    def external(self, ids: Sequence[int]) -> list[bytes]:
        """The key each integer was given to."""

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """Every (integer, key) pair, in ascending order of integer, read in
        bounded batches."""


class MemoryIdMap:
    """The map in process: two dicts and the integers in ascending order,
    under a lock. Integers are numbered from one past the largest."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._keys: dict[int, bytes] = {}
        self._numbers: list[int] = []
        self._lock = threading.Lock()

    def get_or_create(self, keys: Sequence[bytes]) -> list[int]:
        with self._lock:
            found = []
            for key in keys:
                number = self._ids.get(key)
                if number is None:
                    number = self._numbers[-1] + 1 if self._numbers else 0
                    if number > MAX_ID:
                        raise InvalidIdError(
                            f"the id map has given out every integer up to "
                            f"{MAX_ID}: {decode(key)!r} cannot have one"
                        )
                    self._add(number, key)
                found.append(number)
            return found

    def lookup(self, keys: Sequence[bytes]) -> list[int | None]:
        with self._lock:
            return [self._ids.get(key) for key in keys]

    def external(self, ids: Sequence[int]) -> list[bytes]:
        with self._lock:
            return [self._keys[number] for number in ids]

    def entries(self) -> Iterator[tuple[int, bytes]]:
        start = 0
        while True:
            with self._lock:
                numbers = self._numbers[start : start + BATCH]
                batch = [(number, self._keys[number]) for number in numbers]
            if not batch:
                return
            yield from batch
            start += len(batch)

    def restore(self, entries: Iterable[tuple[int, bytes]]) -> None:
        """Fill an empty map with ``entries`` (ascending integers, distinct
        keys), as read from an archive; ValueError when they are not."""
        with self._lock:
            if self._numbers:
                raise ValueError("only an empty id map can be restored")
            for number, key in entries:
                if self._numbers and number <= self._numbers[-1]:
                    raise ValueError(f"integer {number} is not in ascending order")
                if key in self._ids:
                    raise ValueError(
                        f"id {decode(key)!r} has two integers, "
                        f"{self._ids[key]} and {number}"
                    )
                self._add(number, key)

    def _add(self, number: int, key: bytes) -> None:
        self._ids[key] = number
        self._keys[number] = key
        self._numbers.append(number)

    def __len__(self) -> int:
        with self._lock:
            return len(self._numbers)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()
            self._keys.clear()
            self._numbers.clear()


class Ids(Protocol):
    """How an instance turns the ids callers give into stored integers."""

    def for_writing(self, values: Iterable[Any]) -> IdArray:
        """The integers to mark, numbering ids never seen."""

    def known(self, values: Iterable[Any]) -> IdArray:
        """The integers of the ids already stored; unknown ones are left out."""

    def lookup(self, value: Any) -> int | None:
        """One id's integer, or None when it cannot be in any bitmap."""

    def external(self, numbers: IdArray) -> Iterator[Any]:
        """The ids callers gave, for the stored integers ``numbers``."""


def python_ints(numbers: IdArray) -> Iterator[int]:
    """``numbers`` as Python ints, each made when it is reached, through a
    memoryview of the array (no copy). Iterating a bitmap then never holds a
    list of all its ints, and ``list(x)`` makes each int once, straight into
    its list: numpy's ``tolist()`` would make them into a list that ``list``
    copies again (15.5 against 19.5 ms for a million ids)."""
    return iter(np.ascontiguousarray(numbers, dtype=np.uint64).data)


class PlainIds:
    """No map: ids are the integers themselves."""

    def for_writing(self, values: Iterable[Any]) -> IdArray:
        return check_ids(values)

    known = for_writing

    def lookup(self, value: Any) -> int | None:
        return check_id(value)

    def external(self, numbers: IdArray) -> Iterator[Any]:
        return python_ints(numbers)


class MappedIds:
    """Ids of any supported type, through a backend's map."""

    def __init__(self, id_map: IdMap) -> None:
        self.id_map = id_map

    def for_writing(self, values: Iterable[Any]) -> IdArray:
        keys = _encode_all(values)
        found: list[int] = []
        for start in range(0, len(keys), BATCH):
            found += self.id_map.get_or_create(keys[start : start + BATCH])
        return np.array(found, dtype=np.uint64)

    def known(self, values: Iterable[Any]) -> IdArray:
        keys = _encode_all(values)
        found: list[int] = []
        for start in range(0, len(keys), BATCH):
            looked_up = self.id_map.lookup(keys[start : start + BATCH])
            found += [number for number in looked_up if number is not None]
        return np.array(found, dtype=np.uint64)

    def lookup(self, value: Any) -> int | None:
        (number,) = self.id_map.lookup([encode(value)])
        return number

    def external(self, numbers: IdArray) -> Iterator[Any]:
        for start in range(0, len(numbers), BATCH):
            chunk = numbers[start : start + BATCH].tolist()
            yield from (decode(key) for key in self.id_map.external(chunk))


def _encode_all(values: Iterable[Any]) -> list[bytes]:
    if isinstance(values, (str, bytes, uuid.UUID)):
        raise InvalidIdError(
            f"ids {values!r:.40} must be an iterable of ids, not a single id"
        )
    if isinstance(values, np.ndarray):
        values = values.ravel().tolist()
    return [encode(value) for value in values]


def ids_for(backend: object, id_map: bool) -> Ids:
    """The ids of an instance over ``backend``, mapped when ``id_map`` is true."""
    if not id_map:
        return PlainIds()
    make_map = getattr(backend, "id_map", None)
    if make_map is None:
        raise ConfigurationError(
            f"backend {backend!r} keeps no id map: id_map=True needs a backend with "
            f"an id_map() method, such as RoaringBackend or RedisBackend"
        )
    return MappedIds(make_map())
