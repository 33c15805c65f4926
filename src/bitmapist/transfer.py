"""Export, load and open: bitmaps between a ``Bitmapist`` and an archive file.

Export lists the backend's bitmaps, keeps the chosen ones and writes them one
at a time; load checks the whole file, then writes its bitmaps one at a time,
each in one atomic ``store``. Either way one bitmap is in memory at once, so
memory follows the largest bitmap, not the file. ``Bitmapist`` delegates its
``export``, ``load`` and ``open`` here.

With an id map, export also writes the map's entries for the integers of the
universe (every id the bitmaps hold), streamed from the map; it does so
whenever the store's map has entries, even through an instance made without
``id_map=True``, and a plain file does not load into such a store. A load
into an instance with a map checks the file's map and bitmaps, then gives
each of the file's ids its integer in the target's map (numbering those it
lacks), then renumbers every bitmap before storing it: the one step whose
memory follows the map rather than one bitmap, as it holds the file's
integers and the target's, 16 bytes an id.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import BitMap64

from .archive import ArchiveReader, write_archive, zone_name
from .backends import RoaringBackend
from .backends.base import Exportable, as_bitmap
from .errors import (
    ArchiveError,
    BitmapistError,
    ConfigurationError,
    IncompleteLoadError,
    InvalidTimestampError,
    PartlyStoredError,
    listing,
)
from .expressions import UNIVERSE, BitmapRef, Kind
from .idmap import BATCH, IdMap, MappedIds
from .periods import Period, local_time
from .validation import IdArray, check_name

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
    # Periods are identified by their codes, read in the instance's time zone;
    # the backend's own refs are kept to read the bitmaps with.
    own = {}
    for ref in backend.refs():
        here = _in_zone(ref, bm)
        if _chosen(here, chosen, first, last):
            own[here] = ref
    id_map = None
    mapping = _id_map_of(bm)
    if mapping is not None:
        used = mapping

        def id_map() -> Iterator[tuple[int, bytes]]:
            return _used_entries(used, backend.members(UNIVERSE))

    return write_archive(
        path,
        bm.timezone,
        own,
        lambda ref: backend.members(own[ref]),
        progress,
        id_map,
    )


def _id_map_of(bm: Bitmapist) -> IdMap | None:
    """The map the store's integers go through: the instance's, or the one the
    store keeps when it has entries, though the instance was made without
    ``id_map=True`` (an export must not drop it, nor a load mix plain integers
    into it). None when the store has no map, or an empty one."""
    if isinstance(bm.ids, MappedIds):
        return bm.ids.id_map
    make_map = getattr(bm.backend, "id_map", None)
    if make_map is None:
        return None
    mapping: IdMap = make_map()
    return mapping if next(mapping.entries(), None) is not None else None


def _used_entries(mapping: IdMap, universe: BitMap64) -> Iterator[tuple[int, bytes]]:
    """The entries of ``mapping`` whose integers the universe holds (every
    integer any bitmap holds); an error when some of those have none."""
    found = 0
    for number, key in mapping.entries():
        if number in universe:
            found += 1
            yield number, key
    if found != len(universe):
        raise BitmapistError(
            f"the id map lists {found} of the {len(universe)} integers the "
            f"bitmaps hold: it was changed or deleted while bitmaps still use it"
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
        _check_ids_match(bm, reader, path)
        for entry in reader.entries:
            reader.verify(entry)
        renumber = None
        if isinstance(bm.ids, MappedIds):
            renumber = Renumbering.through(reader, bm.ids.id_map)
        entries = reader.entries
        loaded: list[BitmapRef] = []
        for entry in entries:
            try:
                bitmap = reader.read(entry)
                if renumber is not None:
                    bitmap = renumber(bitmap, entry.ref)
                backend.store(_in_zone(entry.ref, bm), bitmap)
            except BitmapistError as error:
                pending = tuple(e.ref for e in entries[len(loaded) :])
                partial = (entry.ref,) if isinstance(error, PartlyStoredError) else ()
                maybe = f"; {entry.ref} may be partly loaded" if partial else ""
                raise IncompleteLoadError(
                    f"loading {path} stopped at {entry.ref}: {error}. Loaded "
                    f"{len(loaded)} of {len(entries)} bitmaps "
                    f"({listing(loaded)}); not loaded: {listing(pending)}{maybe}",
                    tuple(loaded),
                    pending,
                    partial,
                ) from error
            loaded.append(entry.ref)
            if progress is not None:
                progress(len(loaded), len(entries))
    return len(loaded)


def _check_ids_match(bm: Bitmapist, reader: ArchiveReader, path: Path) -> None:
    mapped = isinstance(bm.ids, MappedIds)
    if reader.id_map is not None and not mapped:
        raise ConfigurationError(
            f"{path} holds ids through an id map (string, bytes or UUID ids, "
            f"numbered), and this instance has none: load it into "
            f"Bitmapist(..., id_map=True)"
        )
    if reader.id_map is None and mapped:
        raise ConfigurationError(
            f"{path} holds plain integer ids, and this instance maps its ids "
            f"(id_map=True): load it into an instance without id_map"
        )
    if reader.id_map is None and _id_map_of(bm) is not None:
        raise ConfigurationError(
            f"{path} holds plain integer ids, and the target store has an id "
            f"map whose integers its bitmaps hold: the file's would be taken for "
            f"the map's. Load it into a store without an id map"
        )


class Renumbering:
    """The file's integers and the target map's integers for the same ids,
    both in ascending order of the file's: a bitmap of the file's integers
    becomes one of the target's, a window of ids at a time."""

    def __init__(self, path: Path, sources: IdArray, targets: IdArray) -> None:
        self.path = path
        self.sources = sources
        self.targets = targets

    @classmethod
    def through(cls, reader: ArchiveReader, target: IdMap) -> Renumbering:
        """Give every id of the file's map its integer in ``target``'s map,
        numbering ids it has never seen, once the whole map and every bitmap
        have been checked: a file refused numbers nothing in ``target``."""
        parts = [
            np.array([n for n, _ in chunk], dtype=np.uint64)
            for chunk in reader.id_map_chunks()
        ]
        empty = np.empty(0, dtype=np.uint64)
        sources = np.concatenate(parts) if parts else empty
        _check_listed(reader, sources)
        targets: list[IdArray] = []
        for chunk in reader.id_map_chunks():
            for start in range(0, len(chunk), BATCH):
                batch = chunk[start : start + BATCH]
                numbers = target.get_or_create([key for _, key in batch])
                targets.append(np.array(numbers, dtype=np.uint64))
        return cls(reader.path, sources, np.concatenate(targets) if targets else empty)

    def __call__(self, bitmap: BitMap64, ref: BitmapRef) -> BitMap64:
        result = BitMap64()
        for start in range(0, len(bitmap), _WINDOW):
            ids = np.frombuffer(
                bitmap[start : start + _WINDOW].to_array(), dtype=np.uint64
            )
            at = np.searchsorted(self.sources, ids)
            known = at < self.sources.size
            known[known] = self.sources[at[known]] == ids[known]
            if not known.all():
                raise ArchiveError(
                    f"{self.path}: bitmap {ref} holds integer {ids[~known][0]}, "
                    f"which the file's id map does not list"
                )
            result |= as_bitmap(np.sort(self.targets[at]))
        return result


def _check_listed(reader: ArchiveReader, numbers: IdArray) -> None:
    """Refuse the file when a bitmap holds an integer its map does not list;
    one bitmap is read at a time."""
    known = as_bitmap(numbers)
    for entry in reader.entries:
        strangers = reader.read(entry) - known
        if strangers:
            raise ArchiveError(
                f"{reader.path}: bitmap {entry.ref} holds integer "
                f"{strangers.min()}, which the file's id map does not list"
            )


# How many ids a renumbering turns into arrays at once.
_WINDOW = 2**20


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
    mapped = backend.mapped
    if options.pop("id_map", mapped) != mapped:
        raise ConfigurationError(
            f"{path} {'holds' if mapped else 'has no'} id map: open() follows "
            f"the file, so leave id_map out"
        )
    return cls(backend=backend, timezone=backend.timezone, id_map=mapped, **options)


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
