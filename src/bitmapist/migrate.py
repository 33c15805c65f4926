"""``bitmapist migrate``: copy a bitmapist 3.x keyspace into the sharded layout.

Every ``trackist_*`` key that holds a marked bitmap (bit-operation results are
derived, and skipped) is copied into the sharded layout: its string is cut
into shard-sized byte ranges (both layouts put id ``i`` at bit ``i`` of a
string, so a shard's bitmap is a slice of the old one) and each non-empty
range is ORed into the new key, into the year of a month (3.x keeps no years)
and into the universe, with the registries, in one MULTI per batch. Periods
keep 3.x's dates and are read as UTC, since 3.x has no time zones.

Progress is kept in the target, in ``<prefix>:{meta}:migration`` (a hash with
the SCAN cursor of the source and the keys copied so far), written in the
same MULTI as the batch it follows: after an interruption anywhere, a batch
is either wholly copied and recorded or not at all, and the next run goes on
from the cursor. Copying is an OR, so a key seen twice (SCAN may return one
again) is copied twice harmlessly. ``check`` then compares the count of
every bitmap, years included, between the two layouts. The old keys stay
unless ``delete_old`` is asked for, and then only after a clean check.

A batch reads its keys whole: ids near 2**32 make 512 MB strings in 3.x, so a
keyspace of such keys wants a small ``batch``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from .backends.keys import (
    BITMAPIST3_BITOP_PREFIX,
    DEFAULT_PREFIX,
    DEFAULT_SHARD_WIDTH,
    Bitmapist3Layout,
    ShardedLayout,
)
from .backends.redis import RedisBackend, translated
from .backends.scanning import delete_all
from .backends.scanning import keys as scan_keys
from .errors import BitmapistError, ConfigurationError
from .expressions import UNIVERSE, BitmapRef
from .periods import Granularity, Period

__all__ = [
    "CheckReport",
    "MigrationReport",
    "check",
    "migrate",
    "register",
]

OLD = Bitmapist3Layout()
PATTERN = f"{OLD.prefix}_*"


@dataclass
class MigrationReport:
    """What a run of ``migrate`` did; ``copied`` counts keys over every run."""

    copied: int = 0
    resumed: bool = False
    not_understood: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    """Bitmaps compared, and those whose counts differ: (key, old, new)."""

    compared: int = 0
    mismatches: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches


class MigrationCheckFailed(BitmapistError):
    """The copy's counts differ from the old keys': they were not deleted."""


def state_key(layout: ShardedLayout) -> str:
    return f"{layout.prefix}:{{meta}}:migration"


def migrate(
    source: Any,
    target: Any = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    shard_width: int = DEFAULT_SHARD_WIDTH,
    batch: int = 500,
    restart: bool = False,
    delete_old: bool = False,
    on_batch: Callable[[int], object] | None = None,
) -> MigrationReport:
    """Copy the 3.x keys of ``source`` into the sharded layout of ``target``
    (``source`` itself by default), resuming an interrupted run unless
    ``restart``. ``on_batch(n)`` is called after each batch with the keys it
    read. With ``delete_old``, the old keys go once ``check`` passes."""
    target = source if target is None else target
    new = ShardedLayout(prefix, shard_width)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigurationError(f"batch {batch!r} must be a positive int")
    state = state_key(new)
    with translated("read the migration's progress"):
        if restart:
            target.delete(state)
        saved = target.hgetall(state)
    report = MigrationReport(copied=int(saved.get(b"copied", 0)), resumed=bool(saved))
    cursor = int(saved.get(b"cursor", 0))
    finished = saved.get(b"done") == b"1"
    while not finished:
        with translated("scan the 3.x keys"):
            cursor, keys = source.scan(cursor, match=PATTERN, count=batch)
        names = [k.decode() if isinstance(k, bytes) else str(k) for k in keys]
        _copy_batch(source, target, new, names, cursor, report)
        finished = cursor == 0
        if on_batch is not None:
            on_batch(len(names))
    if delete_old:
        outcome = check(source, target, prefix=prefix, shard_width=shard_width)
        if not outcome.passed:
            raise MigrationCheckFailed(
                f"{len(outcome.mismatches)} bitmap(s) differ after the copy, "
                f"first {outcome.mismatches[0]}: the old keys were kept"
            )
        with translated("delete the 3.x keys"):
            delete_all(source, OLD)
    return report


def _copy_batch(
    source: Any,
    target: Any,
    new: ShardedLayout,
    names: list[str],
    cursor: int,
    report: MigrationReport,
) -> None:
    bitmaps: list[tuple[BitmapRef, str]] = []
    for key in names:
        ref = OLD.parse(key)
        if ref is not None:
            bitmaps.append((ref, key))
        elif not key.startswith(BITMAPIST3_BITOP_PREFIX):
            report.not_understood.append(key)
    with translated("read the 3.x keys"):
        reads = source.pipeline(transaction=False)
        for _, key in bitmaps:
            reads.get(key)
        values = reads.execute() if bitmaps else []
    pipe = target.pipeline(transaction=True)
    for (ref, _), data in zip(bitmaps, values, strict=True):
        for shard, chunk in _shard_slices(data or b"", new.shard_width):
            _queue_copy(pipe, new, ref, shard, chunk)
    report.copied += len(names)
    done = "1" if cursor == 0 else "0"
    progress = {"cursor": cursor, "copied": report.copied, "done": done}
    pipe.hset(state_key(new), mapping=progress)
    with translated("write the copied bitmaps"):
        pipe.execute()


def _queue_copy(
    pipe: Any, new: ShardedLayout, ref: BitmapRef, shard: int, chunk: bytes
) -> None:
    """OR one shard's bytes into the bitmap, its year, and the universe."""
    scratch = new.temp_key(shard, 0)
    pipe.set(scratch, chunk)
    for into in _destinations(ref):
        key = new.bitmap_key(into, shard)
        pipe.bitop("OR", key, key, scratch)
        for registry, member in new.registry_entries(into, shard):
            pipe.sadd(registry, member)
    pipe.delete(scratch)
    pipe.sadd(new.shards_key(), shard)


def _destinations(ref: BitmapRef) -> list[BitmapRef]:
    year = _year_of(ref)
    return [ref, UNIVERSE] if year is None else [ref, UNIVERSE, year]


def _year_of(month: BitmapRef) -> BitmapRef | None:
    """The year a month bitmap makes part of; None for other bitmaps."""
    period = month.period
    if period is None or period.granularity is not Granularity.MONTH:
        return None
    year = Period(Granularity.YEAR, period.start.replace(month=1))
    return BitmapRef(month.kind, month.name, year)


def _shard_slices(data: bytes, shard_width: int) -> Iterator[tuple[int, bytes]]:
    """The non-empty byte ranges of a bitmap string, shard by shard, with
    trailing zero bytes dropped (they hold no id)."""
    width = shard_width // 8
    for start in range(0, len(data), width):
        chunk = data[start : start + width].rstrip(b"\0")
        if chunk:
            yield start // width, chunk


def old_bitmaps(source: Any) -> dict[str, BitmapRef]:
    """Every bitmap of the 3.x keyspace, by a name for reports: its key, and
    each year its months make (named as 3.x names nothing, ``<event> <year>``)."""
    found: dict[str, BitmapRef] = {}
    with translated("scan the 3.x keys"):
        for key in scan_keys(source, PATTERN):
            ref = OLD.parse(key)
            if ref is None:
                continue
            found[key] = ref
            year = _year_of(ref)
            if year is not None and year.period is not None:
                found[f"year {year.period.code} of {year.name}"] = year
    return found


def check(
    source: Any,
    target: Any = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    shard_width: int = DEFAULT_SHARD_WIDTH,
) -> CheckReport:
    """Compare the count of every 3.x bitmap, and of every year, with the
    sharded copy's, through the backends of both layouts."""
    target = source if target is None else target
    old = RedisBackend(source, key_layout="bitmapist3")
    new = RedisBackend(target, prefix=prefix, shard_width=shard_width)
    report = CheckReport()
    for name, ref in sorted(old_bitmaps(source).items()):
        before, after = old.count(ref), new.count(ref)
        report.compared += 1
        if before != after:
            report.mismatches.append((name, before, after))
    return report


# -- the command


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="copy a bitmapist 3.x keyspace into the sharded layout",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("source", help="the 3.x server, e.g. redis://host:6379/0")
    parser.add_argument("--to", dest="target", help="the target (default: source)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--shard-width", type=int, default=DEFAULT_SHARD_WIDTH)
    parser.add_argument("--batch", type=int, default=500, help="keys per batch")
    parser.add_argument(
        "--restart", action="store_true", help="forget an earlier run's progress"
    )
    parser.add_argument(
        "--delete-old",
        action="store_true",
        help="delete the trackist_* keys once the check passes",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    # tqdm is imported here, not at the top: only this command draws a bar.
    from tqdm import tqdm

    source = _client(arguments.source)
    target = source if arguments.target is None else _client(arguments.target)
    layout = ShardedLayout(arguments.prefix, arguments.shard_width)
    with translated("count the 3.x keys"):
        total = sum(1 for _ in scan_keys(source, PATTERN))
        earlier = 0 if arguments.restart else target.hget(state_key(layout), "copied")
    with tqdm(
        total=total,
        initial=min(int(earlier or 0), total),
        unit="key",
        disable=arguments.no_progress,
        file=sys.stderr,
    ) as bar:
        report = migrate(
            source,
            target,
            prefix=arguments.prefix,
            shard_width=arguments.shard_width,
            batch=arguments.batch,
            restart=arguments.restart,
            on_batch=bar.update,
        )
    outcome = check(
        source, target, prefix=arguments.prefix, shard_width=arguments.shard_width
    )
    resumed = " (resumed)" if report.resumed else ""
    print(f"copied {report.copied} keys{resumed}; compared {outcome.compared} counts")
    for key in report.not_understood:
        print(f"  not a 3.x bitmap, left alone: {key}")
    for name, before, after in outcome.mismatches:
        print(f"  MISMATCH {name}: {before} before, {after} after")
    if not outcome.passed:
        return 1
    if arguments.delete_old:
        with translated("delete the 3.x keys"):
            delete_all(source, OLD)
        print("deleted the 3.x keys")
    return 0


def _client(url: str) -> redis.Redis:
    with translated(f"connect to {url}"):
        return redis.Redis.from_url(url)
