"""bitmapist: real-time user analytics on bitmaps, over Redis or in process.

>>> from bitmapist import Bitmapist
>>> bm = Bitmapist()
>>> bm.mark_event("active", 123)
>>> 123 in bm.get_month_event("active")
True
"""

from __future__ import annotations

from .backends import BACKENDS, Backend, RedisBackend, RoaringBackend
from .bitmaps import AttributeBitmap, Bitmap, EventBitmap
from .core import Bitmapist
from .errors import (
    BackendError,
    BackendResponseError,
    BackendUnavailableError,
    BitmapistError,
    ConfigurationError,
    InvalidExpressionError,
    InvalidIdError,
    InvalidInputError,
    InvalidNameError,
    InvalidTimestampError,
    WriteRefusedError,
)
from .periods import Granularity, Period

__all__ = [
    "BACKENDS",
    "AttributeBitmap",
    "Backend",
    "BackendError",
    "BackendResponseError",
    "BackendUnavailableError",
    "Bitmap",
    "Bitmapist",
    "BitmapistError",
    "ConfigurationError",
    "EventBitmap",
    "Granularity",
    "InvalidExpressionError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidTimestampError",
    "Period",
    "RedisBackend",
    "RoaringBackend",
    "WriteRefusedError",
]
