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
    │   ├── BackendResponseError     any other error the store answered with
    │   └── PartlyStoredError        a whole-bitmap store on a cluster failed and
    │                                could not be undone on every shard
    ├── ArchiveError               a file that is no readable bitmapist archive:
    │                              truncated, wrong magic number, bad checksum,
    │                              malformed manifest or bitmap, hostile lengths
    └── IncompleteLoadError        a load stopped part way; it names the bitmaps
                                   loaded, those left as they were, and any
                                   that may be partly loaded

Backends translate their client's errors into this tree at their boundary with
``raise ... from``, so callers never need to import redis to handle failures.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    "PartlyStoredError",
    "WriteRefusedError",
    "listing",
]


def listing(items: Iterable[object], most: int = 10) -> str:
    """The first ``most`` of ``items`` for an error message, and how many more
    there are: "a, b, c and 4 more", or "none"."""
    shown = [str(item) for item in items]
    if not shown:
        return "none"
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more


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


class PartlyStoredError(BackendError):
    """Storing a whole bitmap on a Redis Cluster failed, and undoing it could
    not reach every shard: ``ref`` may hold its new ids in ``shards`` and its
    old ones elsewhere. The error that stopped the store is ``__cause__``."""

    def __init__(self, message: str, ref: BitmapRef, shards: tuple[int, ...]) -> None:
        super().__init__(message)
        self.ref = ref
        self.shards = shards


class ArchiveError(BitmapistError):
    """A file that is not a readable bitmapist archive; the message says where
    and why. Nothing was written from it."""


class IncompleteLoadError(BitmapistError):
    """A load that stopped part way: ``loaded`` names the bitmaps written
    whole and ``not_loaded`` those left as they were, and the error that
    stopped the load is ``__cause__``. ``partial`` names any bitmap (one at
    most, and only on a Redis Cluster) that could not be put back as it was,
    so that it may hold some of its new ids; it is listed in ``not_loaded``
    too."""

    def __init__(
        self,
        message: str,
        loaded: tuple[BitmapRef, ...],
        not_loaded: tuple[BitmapRef, ...],
        partial: tuple[BitmapRef, ...] = (),
    ) -> None:
        super().__init__(message)
        self.loaded = loaded
        self.not_loaded = not_loaded
        self.partial = partial
