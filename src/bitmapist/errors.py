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
    ├── BackendError               the store failed; the original error is __cause__
    │   ├── BackendUnavailableError  the store could not be reached or timed out
    │   ├── WriteRefusedError        the store refused a write (out of memory,
    │   │                            read-only replica, cluster node down, a
    │   │                            file opened read-only)
    │   └── BackendResponseError     any other error the store answered with
    ├── ArchiveError               a file that is no readable bitmapist archive:
    │                              truncated, wrong magic number, bad checksum,
    │                              malformed manifest or bitmap, hostile lengths
    └── IncompleteLoadError        a load stopped part way; it names the bitmaps
                                   loaded and those left as they were

Backends translate their client's errors into this tree at their boundary with
``raise ... from``, so callers never need to import redis to handle failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .expressions import BitmapRef

__all__ = [
    "ArchiveError",
    "BackendError",
    "BackendResponseError",
    "BackendUnavailableError",
    "BitmapistError",
    "ConfigurationError",
    "IncompleteLoadError",
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


class ArchiveError(BitmapistError):
    """A file that is not a readable bitmapist archive; the message says where
    and why. Nothing was written from it."""


class IncompleteLoadError(BitmapistError):
    """A load that stopped part way: every bitmap of the file was either
    written whole or not at all. ``loaded`` and ``not_loaded`` name them, and
    the error that stopped the load is ``__cause__``."""

    def __init__(
        self,
        message: str,
        loaded: tuple[BitmapRef, ...],
        not_loaded: tuple[BitmapRef, ...],
    ) -> None:
        super().__init__(message)
        self.loaded = loaded
        self.not_loaded = not_loaded
