"""Backends, and the registry that builds one from a URL.

``BACKENDS`` maps a URL scheme to a factory; it is a plain dict that other
code may extend. ``memory://`` is the in-process Roaring engine, ``redis://``,
``rediss://`` and ``unix://`` a Redis server, ``redis+cluster://host:port`` a
Redis Cluster reached through any of its nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import RedisCluster

from ..errors import ConfigurationError
from .base import Backend
from .redis import REDIS_ERRORS, RedisBackend, translate_error
from .roaring import RoaringBackend

__all__ = ["BACKENDS", "Backend", "RedisBackend", "RoaringBackend", "backend_from_url"]


def _memory(url: str, options: dict[str, Any]) -> Backend:
    if url != "memory://":
        raise ConfigurationError(f"URL {url!r} is not understood: write memory://")
    return RoaringBackend(**options)


def _redis(url: str, options: dict[str, Any]) -> Backend:
    return RedisBackend(url, **options)


def _redis_cluster(url: str, options: dict[str, Any]) -> Backend:
    address = url.removeprefix("redis+cluster://")
    try:
        client = RedisCluster.from_url(f"redis://{address}")
    except REDIS_ERRORS as error:
        raise translate_error(error, f"connect to {url}") from error
    return RedisBackend(client, **options)


BACKENDS: dict[str, Callable[[str, dict[str, Any]], Backend]] = {
    "memory": _memory,
    "redis": _redis,
    "redis+cluster": _redis_cluster,
    "rediss": _redis,
    "unix": _redis,
}


def backend_from_url(url: str, **options: Any) -> Backend:
    """The backend that ``url`` names, built with ``options``."""
    if not isinstance(url, str):
        raise ConfigurationError(f"URL {url!r} is a {type(url).__name__}, not a str")
    scheme, separator, _ = url.partition("://")
    factory = BACKENDS.get(scheme) if separator else None
    if factory is None:
        known = ", ".join(f"{name}://" for name in sorted(BACKENDS))
        raise ConfigurationError(
            f"URL {url!r} has no known scheme: expected one of {known}"
        )
    try:
        return factory(url, options)
    except TypeError as error:
        raise ConfigurationError(
            f"bad options {sorted(options)} for {url!r}: {error}"
        ) from None
