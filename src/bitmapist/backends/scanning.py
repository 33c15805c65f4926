"""Names and deletion by SCAN, for a key layout that keeps no registries.

bitmapist 3.x records nothing beside its bitmaps, so the only way to find
what it stored is to walk the keyspace under its prefix, as 3.x itself does.
SCAN walks in small steps and never blocks the server the way KEYS would; a
key that appears or disappears during the walk may or may not be seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..expressions import BitmapRef, Kind
from .keys import Bitmapist3Layout, ShardedLayout

__all__ = ["bitmaps", "delete", "delete_all", "delete_keys", "keys", "names"]

# Keys asked for per SCAN step, and deleted per DEL.
BATCH = 1000


def keys(client: Any, pattern: str, count: int = BATCH) -> Iterator[str]:
    """Every key matching the glob ``pattern``, each at least once, asking
    for ``count`` keys per step."""
    for key in client.scan_iter(match=pattern, count=count):
        yield key.decode() if isinstance(key, bytes) else str(key)


def bitmaps(
    client: Any, layout: ShardedLayout, pattern: str
) -> Iterator[tuple[str, BitmapRef]]:
    """The bitmaps whose keys match ``pattern``, each with its key."""
    if not isinstance(layout, Bitmapist3Layout):
        raise TypeError(f"{layout!r} keeps registries: it is not listed by SCAN")
    for key in keys(client, pattern):
        ref = layout.parse(key)
        if ref is not None:
            yield key, ref


def names(client: Any, layout: ShardedLayout, kind: Kind) -> set[str]:
    pattern = f"{layout.prefix}_*"
    found = bitmaps(client, layout, pattern)
    return {ref.name for _, ref in found if ref.kind is kind}


def delete(client: Any, layout: ShardedLayout, kind: Kind, name: str) -> None:
    # The pattern also matches longer names that start with this one
    # ("a" finds "a_b"'s keys); parsing each key keeps only this name's.
    pattern = f"{layout.prefix}_{name}_*"
    doomed = [
        key
        for key, ref in bitmaps(client, layout, pattern)
        if ref.kind is kind and ref.name == name
    ]
    delete_keys(client, doomed)


def delete_all(client: Any, layout: ShardedLayout) -> None:
    """Every key under the prefix, bit-operation results included."""
    delete_keys(client, list(keys(client, f"{layout.prefix}_*")))


def delete_keys(client: Any, doomed: list[str]) -> None:
    for start in range(0, len(doomed), BATCH):
        client.delete(*doomed[start : start + BATCH])
