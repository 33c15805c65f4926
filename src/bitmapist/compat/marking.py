"""bitmapist 3.x's marking functions, over the system adapters.

``mark_event`` sets the id in the month, ISO week and day of ``now`` (the
datetime's own fields), plus the hour when hourly tracking is on and the
"unique" bitmap when unique tracking is on: one write of all of them, atomic
on every system. ``TRACK_HOURLY`` and ``TRACK_UNIQUE`` are read from the
``bitmapist`` package at call time, so ``bitmapist.TRACK_HOURLY = True``
works as it did in 3.x.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from typing import Any

from ..expressions import BitmapRef, Kind
from ..periods import Granularity, Period
from ..validation import check_id
from .events import check_event_name, in_utc
from .systems import system_for

__all__ = [
    "TRACK_HOURLY",
    "TRACK_UNIQUE",
    "mark_event",
    "mark_unique",
    "unmark_event",
    "unmark_unique",
]

TRACK_HOURLY = False
TRACK_UNIQUE = False

_MARKED = (Granularity.MONTH, Granularity.WEEK, Granularity.DAY)


def mark_event(
    event_name: str,
    uuid: int,
    system: Any = "default",
    now: datetime | date | None = None,
    track_hourly: bool | None = None,
    track_unique: bool | None = None,
    use_pipeline: bool = True,
) -> None:
    """Mark ``uuid`` as having done ``event_name`` at ``now`` (default: now in
    UTC). The writes are one transaction; on a pipeline passed as ``system``
    they are queued on it for the caller to execute, whatever
    ``use_pipeline`` says."""
    _write(event_name, uuid, system, now, track_hourly, track_unique, True)


def unmark_event(
    event_name: str,
    uuid: int,
    system: Any = "default",
    now: datetime | date | None = None,
    track_hourly: bool | None = None,
    track_unique: bool | None = None,
    use_pipeline: bool = True,
) -> None:
    """Clear what ``mark_event`` with the same arguments set."""
    _write(event_name, uuid, system, now, track_hourly, track_unique, False)


def mark_unique(event_name: str, uuid: int, system: Any = "default") -> None:
    """Set ``uuid`` in the time-independent bitmap of ``event_name``."""
    ref = BitmapRef(Kind.ATTRIBUTE, check_event_name(event_name))
    system_for(system).write([ref], check_id(uuid), True)


def unmark_unique(event_name: str, uuid: int, system: Any = "default") -> None:
    ref = BitmapRef(Kind.ATTRIBUTE, check_event_name(event_name))
    system_for(system).write([ref], check_id(uuid), False)


def _write(
    event_name: str,
    uuid: int,
    system: Any,
    now: datetime | date | None,
    track_hourly: bool | None,
    track_unique: bool | None,
    value: bool,
) -> None:
    name = check_event_name(event_name)
    checked = check_id(uuid)
    when = in_utc(now)
    package = sys.modules["bitmapist"]
    hourly = package.TRACK_HOURLY if track_hourly is None else track_hourly
    unique = package.TRACK_UNIQUE if track_unique is None else track_unique
    granularities = (*_MARKED, Granularity.HOUR) if hourly else _MARKED
    refs = [
        BitmapRef(Kind.EVENT, name, Period.containing(g, when, timezone.utc))
        for g in granularities
    ]
    if unique:
        refs.append(BitmapRef(Kind.ATTRIBUTE, name))
    system_for(system).write(refs, checked, value)
