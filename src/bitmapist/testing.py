"""Throwaway redis-server processes, for bitmapist's tests and benchmarks and
for users who test their own code against a real server.

Each server runs from the redis-server on PATH, on a free loopback port, in a
temporary directory, with persistence off, and is stopped afterwards.
``running_cluster`` joins three of them into a Redis Cluster with
``redis-cli --cluster create``. Point tests only at servers made here, never
at one they did not start.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

__all__ = [
    "RedisCluster",
    "RedisServer",
    "free_port",
    "redis_server_path",
    "running_cluster",
    "running_redis",
]

# A cluster node also listens on its port + 10000 (the cluster bus).
_BUS_OFFSET = 10000


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port no one listens on; with ``with_bus``, one whose cluster
    bus port (port + 10000) is free as well."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not with_bus:
            return port
        if port + _BUS_OFFSET < 65536 and _is_free(port + _BUS_OFFSET):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@contextlib.contextmanager
def running_redis(*extra: str) -> Iterator[RedisServer]:
    """A fresh redis-server, ready to answer PING, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="bitmapist-redis-") as directory:
        server = _start(Path(directory), free_port(), extra)
        try:
            _wait_ready(server)
            yield server
        finally:
            server.stop()


def _start(directory: Path, port: int, extra: Sequence[str]) -> RedisServer:
    binary = redis_server_path()
    if binary is None:
        raise FileNotFoundError(
            "redis-server is not on PATH (apt-get install redis-server)"
        )
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
        *extra,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return RedisServer(port, directory, process)


@dataclass
class RedisCluster:
    """A running Redis Cluster of masters only, one per server."""

    servers: list[RedisServer]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    def client(self, **options: Any) -> redis.RedisCluster:
        return redis.RedisCluster(
            host="127.0.0.1", port=self.servers[0].port, **options
        )


@contextlib.contextmanager
def running_cluster(masters: int = 3, *extra: str) -> Iterator[RedisCluster]:
    """A fresh Redis Cluster of ``masters`` servers with every hash slot
    assigned and ``cluster_state:ok`` on every node, stopped on exit."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise FileNotFoundError(
            "redis-cli is not on PATH (apt-get install redis-tools)"
        )
    with contextlib.ExitStack() as stack:
        servers: list[RedisServer] = []
        for n in range(masters):
            directory = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix=f"bitmapist-cluster-{n}-")
                )
            )
            server = _start(
                directory,
                free_port(with_bus=True),
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    *extra,
                ],
            )
            stack.callback(server.stop)
            servers.append(server)
        for server in servers:
            _wait_ready(server)
        addresses = [f"127.0.0.1:{server.port}" for server in servers]
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_cluster_ok(servers)
        yield RedisCluster(servers)


def _wait_cluster_ok(servers: Sequence[RedisServer], timeout: float = 30.0) -> None:
    """Wait until every node reports every slot assigned and the cluster ok:
    until then, redis-py's first command can meet CLUSTERDOWN."""
    deadline = time.monotonic() + timeout
    pending = list(servers)
    while pending:
        server = pending[0]
        client = server.client()
        try:
            info = client.cluster("INFO")  # redis-py parses it into a dict
        finally:
            client.close()
        ready = {
            "cluster_state": "ok",
            "cluster_slots_ok": "16384",
            "cluster_known_nodes": str(len(servers)),
        }
        if all(str(info.get(name)) == value for name, value in ready.items()):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster did not become ready: {info}")
        time.sleep(0.05)


def _wait_ready(server: RedisServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    client = server.client()
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            if server.process.poll() is not None:
                code = server.process.returncode
                raise RuntimeError(f"redis-server exited with {code}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()
