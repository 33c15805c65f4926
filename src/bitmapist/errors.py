"""The exceptions bitmapist raises, all under one root.

    BitmapistError
    ├── InvalidInputError          (also a ValueError) an argument broke a rule;
    │   │                          raised before any I/O, so nothing was written
    │   ├── InvalidIdError         an id that is not an int in [0, 2**64 - 1]
    │   ├── InvalidNameError       an event or attribute name the layout cannot hold
    │   ├── InvalidTimestampError  not a datetime or date, or too coarse for the period
    │   ├── InvalidExpressionError operands that are not bitmaps of one instance
    │   └── ConfigurationError     an unknown URL scheme, option or granularity
    ├── MissingDependencyError     (also an ImportError) an optional extra, such
    │                              as bitmapist[pandas], is not installed
    └── BackendError               the store failed; the original error is __cause__
        ├── BackendUnavailableError  the store could not be reached or timed out
        ├── WriteRefusedError        the store refused a write (out of memory,
        │                            read-only replica, cluster node down)
        └── BackendResponseError     any other error the store answered with

Backends translate their client's errors into this tree at their boundary with
``raise ... from``, so callers never need to import redis to handle failures.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendResponseError",
    "BackendUnavailableError",
    "BitmapistError",
    "ConfigurationError",
    "InvalidExpressionError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidTimestampError",
    "MissingDependencyError",
    "WriteRefusedError",
]


class BitmapistError(Exception):
    """The root of every error bitmapist raises."""


class InvalidInputError(BitmapistError, ValueError):
    """An argument broke a rule; nothing was written."""


class InvalidIdError(InvalidInputError):
    """An id that bitmapist cannot store."""


class InvalidNameError(InvalidInputError):
    """An event or attribute name that the key layout cannot hold."""


class InvalidTimestampError(InvalidInputError):
    """A timestamp of the wrong type, or too coarse for the period asked for."""


class InvalidExpressionError(InvalidInputError):
    """Operands that cannot be combined into one expression."""


class ConfigurationError(InvalidInputError):
    """An unknown URL scheme, option value or granularity."""


class MissingDependencyError(BitmapistError, ImportError):
    """A feature needs an optional dependency; the message names the extra."""


class BackendError(BitmapistError):
    """The backend's store failed; the original error is kept as ``__cause__``."""


class BackendUnavailableError(BackendError):
    """The store could not be reached, or did not answer in time."""


class WriteRefusedError(BackendError):
    """The store refused a write; nothing of the refused write was applied."""


class BackendResponseError(BackendError):
    """The store answered with an error bitmapist has no closer name for."""
