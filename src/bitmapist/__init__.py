"""bitmapist: real-time user analytics on bitmaps, over Redis or in process.

>>> from bitmapist import Bitmapist
>>> bm = Bitmapist()
>>> bm.mark_event("active", 123)
>>> 123 in bm.get_month_event("active")
True

The bitmapist 3.x module interface (``mark_event``, ``MonthEvents``,
``BitOpAnd``, ``SYSTEMS``...) is here too, on 3.x's keys: see ``compat``.
"""

from __future__ import annotations

from .analysis import BreakdownTable, CohortTable, LifecycleTable
from .backends import BACKENDS, Backend, RedisBackend, RoaringBackend
from .bitmaps import AttributeBitmap, Bitmap, EventBitmap
from .compat import (
    SYSTEMS,
    TRACK_HOURLY,
    TRACK_UNIQUE,
    BitOpAnd,
    BitOpNot,
    BitOpOr,
    BitOpXor,
    DayEvents,
    HourEvents,
    MonthEvents,
    UniqueEvents,
    WeekEvents,
    YearEvents,
    delete_all_events,
    delete_runtime_bitop_keys,
    delete_temporary_bitop_keys,
    get_event_names,
    get_redis,
    mark_event,
    mark_unique,
    setup_memory,
    setup_redis,
    unmark_event,
    unmark_unique,
)
from .core import Bitmapist
from .errors import (
    ArchiveError,
    BackendError,
    BackendResponseError,
    BackendUnavailableError,
    BitmapistError,
    ConfigurationError,
    IncompleteLoadError,
    InvalidExpressionError,
    InvalidIdError,
    InvalidInputError,
    InvalidNameError,
    InvalidTimestampError,
    MissingDependencyError,
    PartlyStoredError,
    WriteRefusedError,
)
from .periods import Granularity, Period

__all__ = [
    "BACKENDS",
    "SYSTEMS",
    "TRACK_HOURLY",
    "TRACK_UNIQUE",
    "ArchiveError",
    "AttributeBitmap",
    "Backend",
    "BackendError",
    "BackendResponseError",
    "BackendUnavailableError",
    "BitOpAnd",
    "BitOpNot",
    "BitOpOr",
    "BitOpXor",
    "Bitmap",
    "Bitmapist",
    "BitmapistError",
    "BreakdownTable",
    "CohortTable",
    "ConfigurationError",
    "DayEvents",
    "EventBitmap",
    "Granularity",
    "HourEvents",
    "IncompleteLoadError",
    "InvalidExpressionError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidTimestampError",
    "LifecycleTable",
    "MissingDependencyError",
    "MonthEvents",
    "PartlyStoredError",
    "Period",
    "RedisBackend",
    "RoaringBackend",
    "UniqueEvents",
    "WeekEvents",
    "WriteRefusedError",
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
