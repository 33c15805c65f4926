"""Export, load and open: bitmaps between a ``Bitmapist`` and an archive file.

Export lists the backend's bitmaps, keeps the chosen ones and writes them one
at a time; load checks the whole file, then writes its bitmaps one at a time,
each in one atomic ``store``. Either way one bitmap is in memory at once, so
memory follows the largest bitmap, not the file. ``Bitmapist`` delegates its
``export``, ``load`` and ``open`` here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .archive import ArchiveReader, write_archive, zone_name
from .backends import RoaringBackend
from .backends.base import Exportable
from .errors import (
    ArchiveError,
    BitmapistError,
    ConfigurationError,
    IncompleteLoadError,
    InvalidTimestampError,
    PartlyStoredError,
)
from .expressions import BitmapRef, Kind
from .idmap import PlainIds
from .periods import Period, local_time
from .validation import check_name

if TYPE_CHECKING:
    from .core import Bitmapist

__all__ = ["export", "load", "open_archive"]

Path = str | os.PathLike[str]
Progress = Callable[[int, int], None]


def export(
    bm: Bitmapist,
    path: Path,
    names: Iterable[str] | str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the chosen bitmaps of ``bm`` to ``path``; how many were written.

    ``names`` chooses events and attributes by name (all by default); an event
    period is chosen when it lies wholly in [``since``, ``until``). The
    universe is always written, so that ``~x`` means offline what it meant in
    the store. Bitmaps are read one at a time: a store that is written to
    meanwhile is not exported as of one instant.
    """
    chosen = None if names is None else _names(names)
    first = _bound(since, bm, "since")
    last = _bound(until, bm, "until")
    backend = _exportable(bm)
    zone_name(bm.timezone)  # an archive must name it: fail before any I/O
    if not isinstance(bm.ids, PlainIds):
        raise ConfigurationError(
            "this instance maps its ids (id_map=True), and format version 1 has "
            "no place yet for the id map: its bitmaps would hold only numbers"
        )
    # Periods are identified by their codes, read in the instance's time zone;
    # the backend's own refs are kept to read the bitmaps with.
    own = {}
    for ref in backend.refs():
        here = _in_zone(ref, bm)
        if _chosen(here, chosen, first, last):
            own[here] = ref
    return write_archive(
        path, bm.timezone, own, lambda ref: backend.members(own[ref]), progress
    )


def load(bm: Bitmapist, path: Path, progress: Progress | None = None) -> int:
    """Write every bitmap of the archive at ``path`` into ``bm``'s backend,
    replacing bitmaps of the same ref; how many were written.

    The whole file is checked against its checksums first. Each bitmap is
    then written in one atomic step (on a Redis Cluster, staged and committed
    shard by shard, and rolled back on a failure): if one fails, the bitmaps
    before it are loaded, the rest are as they were, and
    ``IncompleteLoadError`` names both, and the one bitmap a cluster could not
    roll back, if any.
    """
    backend = _exportable(bm)
    with ArchiveReader(path) as reader:
        if zone_name(reader.time_zone) != zone_name(bm.timezone):
            raise ConfigurationError(
                f"{path} holds periods in {zone_name(reader.time_zone)}, this "
                f"instance works in {zone_name(bm.timezone)}: load it through "
                f"Bitmapist(..., timezone={zone_name(reader.time_zone)!r})"
            )
        for entry in reader.entries:
            reader.verify(entry)
        entries = reader.entries
        loaded: list[BitmapRef] = []
        for entry in entries:
            try:
                backend.store(_in_zone(entry.ref, bm), reader.read(entry))
            except BitmapistError as error:
                pending = tuple(e.ref for e in entries[len(loaded) :])
                partial = (entry.ref,) if isinstance(error, PartlyStoredError) else ()
                maybe = f"; {entry.ref} may be partly loaded" if partial else ""
                raise IncompleteLoadError(
                    f"loading {path} stopped at {entry.ref}: {error}. Loaded "
                    f"{len(loaded)} of {len(entries)} bitmaps "
                    f"({_listing(loaded)}); not loaded: {_listing(pending)}{maybe}",
                    tuple(loaded),
                    pending,
                    partial,
                ) from error
            loaded.append(entry.ref)
            if progress is not None:
                progress(len(loaded), len(entries))
    return len(loaded)


def open_archive(
    cls: type[Bitmapist], path: Path, writable: bool, options: dict[str, Any]
) -> Bitmapist:
    if "timezone" in options:
        raise ConfigurationError(
            "an archive's periods are in the time zone it records: open() takes "
            "no timezone"
        )
    backend = RoaringBackend(path, read_only=not writable)
    if backend.timezone is None:
        raise ArchiveError(f"cannot open {path}: there is no such file")
    return cls(backend=backend, timezone=backend.timezone, **options)


def _exportable(bm: Bitmapist) -> Exportable:
    if not isinstance(bm.backend, Exportable):
        raise ConfigurationError(
            f"backend {bm.backend!r} cannot list and store whole bitmaps "
            f"(bitmapist.backends.base.Exportable), which export and load need"
        )
    return bm.backend


def _in_zone(ref: BitmapRef, bm: Bitmapist) -> BitmapRef:
    if ref.period is None:
        return ref
    period = Period.from_code(ref.period.code, bm.timezone, ref.period.granularity)
    return BitmapRef(ref.kind, ref.name, period)


def _names(names: Iterable[str] | str) -> frozenset[str]:
    if isinstance(names, str):
        names = [names]
    return frozenset(check_name(name) for name in names)


def _bound(when: object, bm: Bitmapist, what: str) -> datetime | None:
    """``since`` or ``until`` as an instant; a date is its local midnight."""
    if when is None:
        return None
    if not isinstance(when, date):
        raise InvalidTimestampError(
            f"{what} {when!r} is a {type(when).__name__}: expected a datetime or a date"
        )
    local = local_time(when, bm.timezone)
    if isinstance(local, datetime):
        return local
    return datetime.combine(local, datetime.min.time(), bm.timezone)


def _chosen(
    ref: BitmapRef,
    names: frozenset[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    if ref.kind is Kind.UNIVERSE:
        return True
    if names is not None and ref.name not in names:
        return False
    if ref.period is None:
        return True
    after = since is None or ref.period.start >= since
    return after and (until is None or ref.period.end <= until)


def _listing(refs: Iterable[BitmapRef], most: int = 10) -> str:
    shown = [str(ref) for ref in refs]
    if not shown:
        return "none"
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more
