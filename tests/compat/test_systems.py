"""Systems: named connections made lazily, and the in-process sibling."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import fakeredis
import pytest
import redis

import bitmapist
from bitmapist import ConfigurationError, RoaringBackend


def test_importing_bitmapist_opens_no_connection() -> None:
    probe = (
        "import socket\n"
        "opened = []\n"
        "real = socket.socket.connect\n"
        "socket.socket.connect = lambda self, *a: opened.append(a) or real(self, *a)\n"
        "import bitmapist\n"
        "assert opened == [], opened\n"
        "assert 'default' not in bitmapist.SYSTEMS\n"
        "client = bitmapist.get_redis()\n"
        "assert isinstance(client, bitmapist.SYSTEMS['default'].__class__)\n"
        "assert opened == [], opened\n"
    )

    subprocess.run([sys.executable, "-c", probe], check=True)


def test_the_default_system_is_made_on_first_use() -> None:
    saved = dict(bitmapist.SYSTEMS)
    bitmapist.SYSTEMS.clear()
    try:
        client = bitmapist.get_redis()

        assert isinstance(client, redis.StrictRedis)
        assert client.connection_pool.connection_kwargs["port"] == 6379
        assert bitmapist.get_redis("default") is client
    finally:
        bitmapist.SYSTEMS.clear()
        bitmapist.SYSTEMS.update(saved)


def test_setup_redis_builds_the_client_class_it_is_given() -> None:
    bitmapist.setup_redis(
        "fake", "127.0.0.1", 6390, redis_client=fakeredis.FakeStrictRedis
    )
    try:
        client = bitmapist.get_redis("fake")

        assert isinstance(client, fakeredis.FakeStrictRedis)
        assert bitmapist.get_redis(client) is client
    finally:
        del bitmapist.SYSTEMS["fake"]


def test_an_unknown_system_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        bitmapist.get_redis("nowhere")


def test_setup_memory_runs_3x_code_without_a_server() -> None:
    backend = bitmapist.setup_memory("tests")
    try:
        bitmapist.mark_event("active", 5, system="tests", now=datetime(2025, 1, 2))

        assert isinstance(backend, RoaringBackend)
        assert bitmapist.get_redis("tests") is backend
        assert list(bitmapist.MonthEvents("active", 2025, 1, system="tests")) == [5]
        assert (
            len(
                backend.members(
                    bitmapist.MonthEvents("active", 2025, 1, system="tests").ref  # type: ignore[arg-type]
                )
            )
            == 1
        )
    finally:
        del bitmapist.SYSTEMS["tests"]


def test_setup_memory_takes_only_a_roaring_backend() -> None:
    with pytest.raises(ConfigurationError, match="RoaringBackend"):
        bitmapist.setup_memory("tests", backend=object())  # type: ignore[arg-type]
