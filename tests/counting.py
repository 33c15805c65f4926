"""Round trips counted on the wire, for tests that bound them."""

from __future__ import annotations

from typing import Any

import redis


class CountingConnection(redis.Connection):
    """A redis-py connection that counts what it sends: one send is one
    round trip, a whole pipeline being packed into one."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)
