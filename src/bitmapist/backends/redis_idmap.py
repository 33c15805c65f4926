"""The id map in Redis: small hashes in 256 buckets, numbered by ``lua/idmap.lua``.

An encoded id's hash (BLAKE2b, 8 bytes) picks its bucket, ``hash % BUCKETS``.
A bucket's keys share one hash tag (``keys.slot_tag``), so the script that
numbers its new ids runs atomically on the node that holds them, and the 256
buckets spread evenly over the masters of a cluster. Bucket ``b`` numbers its
ids 0, 1, 2, ... and id number ``n`` of bucket ``b`` is the integer
``n * BUCKETS + b``: no two buckets make the same integer, and no counter is
shared across slots. The integers are dense up to the fullest bucket's count:
for a million ids, about 3,900 a bucket, within a few per cent.

Every hash holds about 64 (forward) or 128 (reverse) entries, under Redis's
default ``hash-max-listpack-entries`` of 128, so Redis keeps them in its
compact listpack encoding; an id longer than ``hash-max-listpack-value`` (64
bytes by default) turns its two hashes into hashtables, which cost about 100
bytes more per entry. The cost per id is measured by benchmarks/memory.py
(README, "Memory"). Lookups run the same script in its read-only mode and
never add an id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = ["BUCKETS", "RedisIdMap"]

_SCRIPT = resources.files(__package__).joinpath("lua/idmap.lua").read_text()

BUCKETS = 256
# Ids per forward hash at each level, and numbers per reverse hash: both keep
# a hash within the 128 entries Redis keeps listpack-encoded by default (a
# forward hash holds a Poisson-distributed number of ids averaging 64).
LEVEL_SIZE = 64
REVERSE_SIZE = 128
# The script reads the bits of a hash that pick a forward hash within a level
# as a Lua number, exact below 2**53; 32 bits are enough for 32 levels.
HASH_BITS = 32
# How many integers entries() reads per round trip.
ENTRIES_BATCH = 10_000
_COUNT_FIELD = "#"


class RedisIdMap:
    """A backend's map, kept in its Redis."""

    def __init__(self, backend: RedisBackend) -> None:
        # The backend's pipeline runner translates errors and loads a script
        # again on a node that lost it; the map runs its commands through it.
        self._backend = backend
        self._layout = backend.layout

    def get_or_create(self, keys: Sequence[bytes]) -> list[int]:
        found = self._numbers("create", keys, "number new ids in the id map")
        return [number for number in found if number is not None]

    def lookup(self, keys: Sequence[bytes]) -> list[int | None]:
        return self._numbers("lookup", keys, "look ids up in the id map")

    def _numbers(
        self, mode: str, keys: Sequence[bytes], action: str
    ) -> list[int | None]:
        """Run the script once per bucket the keys fall in, all in one pipeline."""
        buckets: dict[int, list[int]] = {}
        hashes = [_hash(key) for key in keys]
        for index, value in enumerate(hashes):
            buckets.setdefault(value % BUCKETS, []).append(index)

        def fill(pipe: Any) -> None:
            sha = self._backend.script_sha(_SCRIPT)
            for bucket, indices in buckets.items():
                pairs: list[bytes | int] = []
                for index in indices:
                    pairs += [keys[index], hashes[index] // BUCKETS % 2**HASH_BITS]
                first = self._layout.id_map_key(bucket, "f0.0")
                base = self._layout.id_map_key(bucket, "")
                args = [mode, base, LEVEL_SIZE, REVERSE_SIZE, *pairs]
                pipe.execute_command("EVALSHA", sha, 1, first, *args)

        replies = self._backend.run(fill, action) if keys else []
        found: list[int | None] = [None] * len(keys)
        for (bucket, indices), numbers in zip(buckets.items(), replies, strict=True):
            for index, number in zip(indices, numbers, strict=True):
                if number is not None:
                    found[index] = int(number) * BUCKETS + bucket
        if mode == "create" and None in found:
            raise errors.BackendResponseError(
                "the id map script left an id without an integer"
            )
        return found

    def external(self, ids: Sequence[int]) -> list[bytes]:
        places = [self._reverse_place(integer) for integer in ids]
        fields: dict[str, list[int]] = {}
        for key, field in places:
            fields.setdefault(key, []).append(field)

        def fill(pipe: Any) -> None:
            for key, wanted in fields.items():
                pipe.hmget(key, wanted)

        replies = self._backend.run(fill, "read ids from the id map") if ids else []
        answers: dict[tuple[str, int], bytes | None] = {}
        for (key, wanted), values in zip(fields.items(), replies, strict=True):
            answers.update(zip(((key, field) for field in wanted), values, strict=True))
        found = [answers[place] for place in places]
        missing = [n for n, key in zip(ids, found, strict=True) if key is None]
        if missing:
            raise errors.BackendResponseError(
                f"the id map has no id for the stored integers {missing[:5]}: "
                f"the map was deleted while bitmaps still use it"
            )
        return [bytes(key) for key in found if key is not None]

    def _reverse_place(self, integer: int) -> tuple[str, int]:
        """The reverse hash and field that hold ``integer``'s id."""
        bucket, number = integer % BUCKETS, integer // BUCKETS
        key = self._layout.id_map_key(bucket, f"r{number // REVERSE_SIZE}")
        return key, number % REVERSE_SIZE

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """Every (integer, encoded id) pair, in ascending order of integer,
        read ``ENTRIES_BATCH`` integers a round trip. Ids numbered after the
        buckets' counts were read (the first step) are left out."""
        counts = self._counts()
        end = max((count * BUCKETS for count in counts), default=0)
        for start in range(0, end, ENTRIES_BATCH):
            numbers = [
                number
                for number in range(start, min(start + ENTRIES_BATCH, end))
                if number // BUCKETS < counts[number % BUCKETS]
            ]
            yield from zip(numbers, self.external(numbers), strict=True)

    def _counts(self) -> list[int]:
        """How many ids each bucket holds."""

        def fill(pipe: Any) -> None:
            for bucket in range(BUCKETS):
                pipe.hget(self._layout.id_map_key(bucket, "f0.0"), _COUNT_FIELD)

        replies = self._backend.run(fill, "count the id map's entries")
        return [int(count or 0) for count in replies]

    def keys(self) -> list[str]:
        """The Redis keys the map is kept in, found from the buckets' counts;
        a level not yet full may name a few hashes that do not exist yet."""
        found = []
        for bucket, count in enumerate(self._counts()):
            level, first, width = 0, 0, LEVEL_SIZE
            while first < count:
                found += [
                    self._layout.id_map_key(bucket, f"f{level}.{n}")
                    for n in range(2**level)
                ]
                first, width, level = first + width, width * 2, level + 1
            found += [
                self._reverse_place(number * BUCKETS + bucket)[0]
                for number in range(0, count, REVERSE_SIZE)
            ]
        return found


def _hash(key: bytes) -> int:
    """An encoded id's hash, the same in every process and language."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
