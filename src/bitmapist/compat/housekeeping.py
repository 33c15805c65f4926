"""bitmapist 3.x's housekeeping: event names by SCAN, and deleting keys."""

from __future__ import annotations

from typing import Any

from ..backends.keys import BITMAPIST3_BITOP_PREFIX, BITMAPIST3_PREFIX
from .systems import system_for

__all__ = ["delete_all_events", "delete_temporary_bitop_keys", "get_event_names"]


def get_event_names(
    system: Any = "default", prefix: str = "", batch: int = 10000
) -> list[str]:
    """The names of the events whose keys start with ``trackist_<prefix>``,
    bit-operation keys left out, in no particular order. As in 3.x, a name
    is what comes between ``trackist_`` and the key's last ``_``."""
    keys = system_for(system).keys(f"{BITMAPIST3_PREFIX}{prefix}", batch)
    names = {
        key.rsplit("_", 1)[0][len(BITMAPIST3_PREFIX) :]
        for key in keys
        if not key.startswith(BITMAPIST3_BITOP_PREFIX)
    }
    return list(names)


def delete_all_events(system: Any = "default") -> None:
    """Delete every ``trackist_*`` key, bit-operation results included."""
    _delete_under(system, BITMAPIST3_PREFIX)


def delete_temporary_bitop_keys(system: Any = "default") -> None:
    """Delete every bit-operation key (``trackist_bitop_*``)."""
    _delete_under(system, BITMAPIST3_BITOP_PREFIX)


def _delete_under(system: Any, prefix: str) -> None:
    adapter = system_for(system)
    adapter.delete(list(adapter.keys(prefix, 10000)))
