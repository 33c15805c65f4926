"""Expiry per granularity: how long the bitmaps of each kind of period are kept.

``Bitmapist(..., expire={"hour": timedelta(days=7), "day": timedelta(days=400)})``
keeps every hour bitmap until 7 days after its hour ends, and every day bitmap
until 400 days after its day ends. The deadline follows from the period alone,
so writing to a bitmap again never pushes it further out: memory stays bounded
however long the system runs. Granularities not named, and attributes, are
kept until deleted. Backends apply the deadline when they write (Redis with
EXPIREAT on the server's clock, Roaring on its own clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from .errors import ConfigurationError
from .expressions import BitmapRef
from .periods import Granularity, granularities_of

__all__ = ["Lifetimes"]


class Lifetimes:
    """A lifetime for some granularities, checked once at configuration."""

    def __init__(self, expire: Mapping[Granularity | str, timedelta] | None) -> None:
        self.by_granularity: dict[Granularity, timedelta] = {}
        if expire is None:
            return
        if not isinstance(expire, Mapping):
            raise ConfigurationError(
                f"expire {expire!r} is a {type(expire).__name__}: expected a mapping "
                f"of granularity to timedelta, such as {{'hour': timedelta(days=7)}}"
            )
        for name, lifetime in expire.items():
            (granularity,) = granularities_of(name)
            if not isinstance(lifetime, timedelta) or lifetime <= timedelta(0):
                raise ConfigurationError(
                    f"lifetime {lifetime!r} for {granularity.value} bitmaps is not "
                    f"allowed: it must be a positive timedelta"
                )
            self.by_granularity[granularity] = lifetime

    def deadlines(self, refs: Sequence[BitmapRef]) -> dict[BitmapRef, datetime]:
        """When each ref of a write expires; refs that are kept are left out."""
        found = {}
        for ref in refs:
            if ref.period is None:
                continue
            lifetime = self.by_granularity.get(ref.period.granularity)
            if lifetime is not None:
                found[ref] = ref.period.end + lifetime
        return found
