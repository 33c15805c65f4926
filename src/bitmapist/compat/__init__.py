"""The bitmapist 3.x module interface, on top of the new core.

Code written for 3.x (``bitmapist.mark_event``, ``MonthEvents``,
``BitOpAnd``, ``SYSTEMS``...) runs unchanged on the keys 3.x keeps: every
name here is re-exported by ``bitmapist``. ``setup_memory`` is new: it runs
the same code in process, on a ``RoaringBackend``.
"""

from __future__ import annotations

from .bitops import (
    BitOpAnd,
    BitOpNot,
    BitOpOr,
    BitOpXor,
    delete_runtime_bitop_keys,
)
from .events import (
    DayEvents,
    HourEvents,
    MonthEvents,
    UniqueEvents,
    WeekEvents,
    YearEvents,
)
from .housekeeping import (
    delete_all_events,
    delete_temporary_bitop_keys,
    get_event_names,
)
from .marking import (
    TRACK_HOURLY,
    TRACK_UNIQUE,
    mark_event,
    mark_unique,
    unmark_event,
    unmark_unique,
)
from .systems import SYSTEMS, get_redis, setup_memory, setup_redis

__all__ = [
    "SYSTEMS",
    "TRACK_HOURLY",
    "TRACK_UNIQUE",
    "BitOpAnd",
    "BitOpNot",
    "BitOpOr",
    "BitOpXor",
    "DayEvents",
    "HourEvents",
    "MonthEvents",
    "UniqueEvents",
    "WeekEvents",
    "YearEvents",
    "delete_all_events",
    "delete_runtime_bitop_keys",
    "delete_temporary_bitop_keys",
    "get_event_names",
    "get_redis",
    "mark_event",
    "mark_unique",
    "setup_memory",
    "setup_redis",
    "unmark_event",
    "unmark_unique",
]
