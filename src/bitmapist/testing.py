"""Throwaway redis-server processes, for bitmapist's tests and benchmarks and
for users who test their own code against a real server.

Each server runs from the redis-server on PATH, on a free loopback port, in a
temporary directory, with persistence off, and is stopped afterwards. Point
tests only at servers made here, never at one they did not start.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

__all__ = ["RedisServer", "free_port", "redis_server_path", "running_redis"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    binary = redis_server_path()
    if binary is None:
        raise FileNotFoundError(
            "redis-server is not on PATH (apt-get install redis-server)"
        )
    with tempfile.TemporaryDirectory(prefix="bitmapist-redis-") as directory:
        port = free_port()
        command = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
            "--save",
            "",
            "--appendonly",
            "no",
            *extra,
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = RedisServer(port, Path(directory), process)
        try:
            _wait_ready(server)
            yield server
        finally:
            server.stop()


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
