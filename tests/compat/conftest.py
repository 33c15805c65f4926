"""The systems the 3.x interface's tests run on, and a view of their keys.

Every test that takes ``system`` runs once per row of ``SYSTEM_ROWS``: the
in-process system (``setup_memory``), a real redis-server, and fakeredis. The
row is registered as the "default" system, as 3.x code expects, and a second,
separate one as "other"; ``SYSTEMS`` is put back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest

import bitmapist
from bitmapist.compat.systems import MemorySystem, system_for
from bitmapist.testing import RedisServer

SYSTEM_ROWS = ["memory", "redis", "fakeredis"]

Keyspace = Callable[[], dict[str, bytes]]


@pytest.fixture(params=SYSTEM_ROWS)
def system_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def system(system_kind: str, request: pytest.FixtureRequest) -> Iterator[str]:
    saved = dict(bitmapist.SYSTEMS)
    clients: list[Any] = []
    if system_kind == "memory":
        bitmapist.setup_memory("default")
        bitmapist.setup_memory("other")
    elif system_kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        for name, db in (("default", 0), ("other", 1)):
            bitmapist.setup_redis(name, "127.0.0.1", server.port, db=db)
            clients.append(bitmapist.SYSTEMS[name])
            bitmapist.SYSTEMS[name].flushdb()
    else:
        for name in ("default", "other"):
            client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
            bitmapist.SYSTEMS[name] = client
            clients.append(client)
    yield "default"
    bitmapist.delete_runtime_bitop_keys()
    for client in clients:
        client.close()
    bitmapist.SYSTEMS.clear()
    bitmapist.SYSTEMS.update(saved)


def keyspace_of(system: Any) -> dict[str, bytes]:
    """Every key of a system with its string, as Redis would hold it."""
    adapter = system_for(system)
    if isinstance(adapter, MemorySystem):
        return {
            key: _string(adapter.members(key, adapter.refs.get(key)), length)
            for key, length in adapter.lengths.items()
        }
    client = bitmapist.get_redis(system)
    return {key.decode(): client.get(key) for key in client.scan_iter()}


def _string(ids: Any, length: int) -> bytes:
    data = bytearray(length)
    for uuid in ids:
        data[uuid // 8] |= 0x80 >> (uuid % 8)
    return bytes(data)


@pytest.fixture
def keyspace(system: str) -> Keyspace:
    return lambda: keyspace_of(system)
