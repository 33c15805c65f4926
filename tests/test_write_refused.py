"""A Redis that refuses a write: a clear error naming the cause, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bitmapist import Bitmapist, WriteRefusedError
from bitmapist.testing import RedisServer, running_redis

from .conftest import NOW, fixed_clock

pytestmark = pytest.mark.redis_server


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Any]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.config_set("maxmemory", "0")
    client.close()


def _snapshot(client: Any) -> dict[bytes, bytes]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def test_maxmemory_refuses_the_whole_event(client: Any) -> None:
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    bm.mark_event("a", 1, NOW)
    before = _snapshot(client)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")

    with pytest.raises(WriteRefusedError, match="maxmemory"):
        bm.mark_events("a", [2, 2**40, 2**63], NOW)

    assert _snapshot(client) == before


def test_a_read_only_replica_refuses_the_write(redis_server: RedisServer) -> None:
    with running_redis("--replicaof", "127.0.0.1", str(redis_server.port)) as replica:
        bm = Bitmapist(redis_client=replica.client(), clock=fixed_clock)

        with pytest.raises(WriteRefusedError, match="read only replica"):
            bm.mark_event("a", 3, NOW)

        assert list(bm.get_universe()) == []
        bm.close()
