"""The id map in Redis: two hashes in one hash slot, numbered by ``lua/idmap.lua``.

``{prefix}:{ids}:forward`` maps each encoded external id to its integer and
``{prefix}:{ids}:reverse`` maps back. Both carry the ``{ids}`` hash tag, so on
a cluster they live on one node and the script that numbers new ids runs
atomically there. Lookups are plain HMGETs and never add an id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any

from .. import errors
from ..idmap import BATCH
from .keys import ShardedLayout
from .redis import REDIS_ERRORS, translate_error

__all__ = ["RedisIdMap"]

_SCRIPT = resources.files(__package__).joinpath("lua/idmap.lua").read_text()


class RedisIdMap:
    """A backend's map, kept in its Redis."""

    def __init__(self, client: Any, layout: ShardedLayout) -> None:
        self._client = client
        self._forward = layout.id_map_key("forward")
        self._reverse = layout.id_map_key("reverse")
        # redis-py's Script runs EVALSHA and loads the script again, on the
        # node that owns the keys, when that node answers NOSCRIPT.
        self._numbering = client.register_script(_SCRIPT)

    def get_or_create(self, keys: Sequence[bytes]) -> list[int]:
        try:
            found = self._numbering(keys=[self._forward, self._reverse], args=keys)
        except REDIS_ERRORS as error:
            raise translate_error(error, "number new ids in the id map") from error
        return [int(number) for number in found]

    def lookup(self, keys: Sequence[bytes]) -> list[int | None]:
        try:
            found = self._client.hmget(self._forward, list(keys))
        except REDIS_ERRORS as error:
            raise translate_error(error, "look ids up in the id map") from error
        return [None if number is None else int(number) for number in found]

    def external(self, ids: Sequence[int]) -> list[bytes]:
        if not ids:
            return []
        try:
            found = self._client.hmget(self._reverse, list(ids))
        except REDIS_ERRORS as error:
            raise translate_error(error, "read ids from the id map") from error
        missing = [n for n, key in zip(ids, found, strict=True) if key is None]
        if missing:
            raise errors.BackendResponseError(
                f"the id map has no id for the stored integers {missing[:5]}: "
                f"the map was deleted while bitmaps still use it"
            )
        return [bytes(key) for key in found]

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """Every pair, ascending, ``BATCH`` integers per HMGET: ``idmap.lua``
        numbers ids from the size of the map, so they are 0 to HLEN - 1."""
        try:
            size = int(self._client.hlen(self._reverse))
        except REDIS_ERRORS as error:
            raise translate_error(error, "read the id map") from error
        for start in range(0, size, BATCH):
            numbers = list(range(start, min(start + BATCH, size)))
            try:
                found = self._client.hmget(self._reverse, numbers)
            except REDIS_ERRORS as error:
                raise translate_error(error, "read the id map") from error
            for number, key in zip(numbers, found, strict=True):
                if key is not None:
                    yield number, bytes(key)

    def keys(self) -> list[str]:
        """The Redis keys the map is kept in."""
        return [self._forward, self._reverse]
