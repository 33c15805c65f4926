"""bitmapist 3.x's bit operations: BITOP run at once, kept under a key.

``BitOpAnd(a, b)`` runs BITOP AND into ``trackist_bitop_AND_<a's key>-<b's
key>`` when it is built, and reads that key afterwards. This is 3.x's
behaviour, kept on purpose for code that relies on it: the key has no expiry,
two operations over the same operands share it (deleting one empties the
other), and NOT is BITOP NOT, flipping every bit up to the operand's last
byte. Each thread remembers the keys it made, for
``delete_runtime_bitop_keys``. The new API (``Bitmapist``) leaves no key
behind and complements within the universe instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from ..errors import InvalidExpressionError
from .events import Events
from .systems import LAYOUT, system_for

__all__ = [
    "BitOpAnd",
    "BitOpNot",
    "BitOpOr",
    "BitOpXor",
    "BitOperation",
    "delete_runtime_bitop_keys",
    "delete_runtime_keys_since",
    "runtime_key_count",
    "store_operation",
]

_runtime = threading.local()


def _runtime_keys() -> list[tuple[Any, str]]:
    if not hasattr(_runtime, "keys"):
        _runtime.keys = []
    keys: list[tuple[Any, str]] = _runtime.keys
    return keys


def store_operation(system: Any, op: str, sources: Sequence[str]) -> str:
    """Run BITOP ``op`` over the keys ``sources`` into its 3.x key, remember
    the key for this thread, and return it."""
    dest = LAYOUT.bitop_key(op, sources)
    system_for(system).bitop(op, dest, sources)
    _runtime_keys().append((system, dest))
    return dest


def delete_runtime_bitop_keys() -> None:
    """Delete every bit-operation key this thread made (years included)."""
    delete_runtime_keys_since(0)


def runtime_key_count() -> int:
    """How many bit-operation keys this thread has made and not deleted."""
    return len(_runtime_keys())


def delete_runtime_keys_since(count: int) -> None:
    """Delete the bit-operation keys this thread made after the first
    ``count``: what one piece of work made, when it cleans up after itself."""
    keys = _runtime_keys()
    while len(keys) > count:
        system, key = keys.pop()
        system_for(system).delete([key])


class BitOperation(Events):
    """A bit operation over events or other operations, to any depth."""

    operation: ClassVar[str]

    def __init__(self, system_or_event: Any, *events: Events) -> None:
        if hasattr(system_or_event, "redis_key"):
            events = (system_or_event, *events)
            system_or_event = "default"
        for operand in events:
            if not isinstance(operand, Events):
                raise InvalidExpressionError(
                    f"operand {operand!r} is a {type(operand).__name__}: bit "
                    f"operations take event objects"
                )
        if not events:
            raise InvalidExpressionError(f"{type(self).__name__} needs an operand")
        self.system = system_or_event
        self.events = events
        keys = [operand.redis_key for operand in events]
        self.redis_key = store_operation(self.system, self.operation, keys)


class BitOpAnd(BitOperation):
    operation = "AND"


class BitOpOr(BitOperation):
    operation = "OR"


class BitOpXor(BitOperation):
    operation = "XOR"


class BitOpNot(BitOperation):
    """Redis's BITOP NOT: ids not in the operand, up to its last byte's end."""

    operation = "NOT"

    def __init__(self, system_or_event: Any, *events: Events) -> None:
        count = len(events) + (1 if hasattr(system_or_event, "redis_key") else 0)
        if count != 1:
            raise InvalidExpressionError(f"BitOpNot takes one operand, got {count}")
        super().__init__(system_or_event, *events)
