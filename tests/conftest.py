"""The backend table that parametrizes the suite, and the servers behind it.

Every test that takes the ``bm`` fixture (or ``make_bitmapist``) runs once per
row of ``BACKENDS``: the in-process Roaring engine, Redis on a real
redis-server started for this session, Redis on a fakeredis client, and a
3-master Redis Cluster started for this session. Without redis-server on PATH
the real-server rows are skipped with the reason shown; with
BITMAPIST_REQUIRE_REDIS=1 that is an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, settings

from bitmapist import Bitmapist, RoaringBackend
from bitmapist.testing import (
    RedisCluster,
    RedisServer,
    redis_server_path,
    running_cluster,
    running_redis,
)

settings.register_profile(
    "dev",
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

BACKENDS = ["roaring", "redis", "fakeredis", "cluster"]
REQUIRE_REDIS = os.environ.get("BITMAPIST_REQUIRE_REDIS") == "1"

# A fixed "now" for tests: a Wednesday in ISO week 2025-W01's neighbour.
NOW = datetime(2025, 1, 15, 12, 30, tzinfo=timezone.utc)


def fixed_clock() -> datetime:
    return NOW


def _need_redis_server() -> None:
    if redis_server_path() is None:
        message = "redis-server is not on PATH (apt-get install redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(f"BITMAPIST_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    _need_redis_server()
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    _need_redis_server()
    with running_cluster() as cluster:
        yield cluster


def _client_for(kind: str, request: pytest.FixtureRequest) -> Any:
    if kind == "fakeredis":
        return fakeredis.FakeRedis()
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        client: Any = server.client()
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        client = cluster.client()
    client.flushall()
    return client


MakeBitmapist = Callable[..., Bitmapist]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_bitmapist(
    backend_kind: str, request: pytest.FixtureRequest
) -> Iterator[MakeBitmapist]:
    """Builds instances on this row's backend; Redis rows share one keyspace,
    emptied before the test, so two instances see the same data."""
    made: list[Bitmapist] = []
    client = None if backend_kind == "roaring" else _client_for(backend_kind, request)
    shared_roaring = RoaringBackend()

    def make(**options: Any) -> Bitmapist:
        options.setdefault("clock", fixed_clock)
        if client is None:
            instance = Bitmapist(
                backend=options.pop("backend", shared_roaring), **options
            )
        else:
            instance = Bitmapist(redis_client=client, **options)
        made.append(instance)
        return instance

    yield make
    if client is not None:
        client.close()


@pytest.fixture
def bm(make_bitmapist: MakeBitmapist) -> Bitmapist:
    return make_bitmapist()


@pytest.fixture
def new_bitmapist(
    backend_kind: str, request: pytest.FixtureRequest
) -> Iterator[MakeBitmapist]:
    """Builds an instance on an empty store of this row at every call, for
    property tests that need a clean slate per example; the clients it made
    are closed afterwards."""
    clients: list[Any] = []

    def make(**options: Any) -> Bitmapist:
        options.setdefault("clock", fixed_clock)
        if backend_kind == "roaring":
            return Bitmapist(**options)
        clients.append(_client_for(backend_kind, request))
        return Bitmapist(redis_client=clients[-1], **options)

    yield make
    for client in clients:
        client.close()
