"""A loopback TCP proxy that can cut a connection in the middle of a request.

Tests put it between a client and a redis-server they started. Once armed
with ``cut_after(n)``, it forwards only the next ``n`` bytes the client sends,
then closes both sides: the server sees a client that died mid-request.
``forwarded`` counts the bytes sent upstream, so that a run without a cut
can measure a request first.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._budget: int | None = None
        self.forwarded = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._budget = n

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, server]
            threading.Thread(
                target=self._upstream, args=(client, server), daemon=True
            ).start()
            threading.Thread(target=_pipe, args=(server, client), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket) -> None:
        while data := _receive(client):
            with self._lock:
                budget = self._budget
                if budget is not None:
                    data = data[:budget]
                    self._budget = budget - len(data)
            if data:
                server.sendall(data)
                self.forwarded += len(data)
            if budget is not None and self._budget == 0:
                _close(client)
                _close(server)
                return
        _close(server)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _pipe(source: socket.socket, target: socket.socket) -> None:
    while data := _receive(source):
        try:
            target.sendall(data)
        except OSError:
            break
    _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
