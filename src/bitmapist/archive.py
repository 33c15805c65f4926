"""The bitmapist archive: bitmaps in Roaring's portable serialization, in one
file with a JSON manifest. ``docs/format.md`` is the specification; this
module is its reader and writer.

    header     16 bytes  magic, format version, 4 zero bytes
    entries              one Roaring portable serialization after another
    id map               (version 2) chunks of (integer, external id) records
    manifest             UTF-8 JSON: the file's facts, and every entry's ref,
                         offset, length, CRC-32 and count of ids
    trailer    32 bytes  where the manifest is, its CRC-32, an end magic

A file whose ids went through an id map (``Bitmapist(id_map=True)``) is
version 2 and carries the map's entries; a file without one is version 1,
as before, so readers of version 1 still read it.

Writing streams: each bitmap goes to disk as it comes, and the manifest,
which must know every offset and checksum, comes last; the file is written
under a temporary name, flushed to disk and renamed. Reading seeks: the
trailer finds the manifest and the manifest every entry, so one bitmap is
read without the others, and nothing is allocated before its length has been
checked against the file's.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timezone, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pyroaring import BitMap64

from .errors import ArchiveError, ConfigurationError, InvalidInputError
from .expressions import UNIVERSE, BitmapRef, Kind
from .idmap import check_key
from .idmap import decode as decode_id
from .periods import Granularity, Period
from .validation import check_name

__all__ = [
    "FORMAT_VERSION",
    "ID_MAP_FORMAT_VERSION",
    "KEY_LAYOUT_VERSION",
    "MAGIC",
    "ArchiveReader",
    "ArchiveWriter",
    "Encoding",
    "Entry",
    "IdMapChunk",
    "decode",
    "encode",
    "zone_name",
]

MAGIC = b"\x89BMA\r\n\x1a\n"
END_MAGIC = b"BMA-END\n"
# Version 1: bitmaps of the users' own integers. Version 2: the same, with an
# id map, whose integers the bitmaps hold.
FORMAT_VERSION = 1
ID_MAP_FORMAT_VERSION = 2
_READABLE = (FORMAT_VERSION, ID_MAP_FORMAT_VERSION)
# Version 1: refs are (kind, name, period code) with names as validation.py
# allows them and period codes as periods.py writes them.
KEY_LAYOUT_VERSION = 1

_HEADER = struct.Struct("<8sII")  # magic, format version, reserved (zero)
_TRAILER = struct.Struct("<QQII8s")  # manifest offset, length, CRC-32, 0, magic
# One record of the id map: the integer (u64), the key's length (u16), the key.
_RECORD = struct.Struct("<QH")
# A chunk of the id map is read whole, so its size is bounded.
MAX_ID_MAP_CHUNK_BYTES = 2**20
_ID_MAP_ENCODING = "bitmapist-ids"

# The manifest is parsed whole, so its size is bounded; 256 MiB holds about a
# million entries.
MAX_MANIFEST_BYTES = 256 * 2**20
_CHUNK = 2**20

# A bitmap below 2**32 in the portable 64-bit form is one bucket, of high key
# zero, holding the 32-bit form: a bucket count of 1 (u64) and the key (u32).
_ONE_LOW_BUCKET = struct.pack("<QI", 1, 0)
_EMPTY_32 = b"\x3a\x30\x00\x00\x00\x00\x00\x00"  # cookie 12346, no containers


class Encoding(str, enum.Enum):
    """How an entry's bytes hold its bitmap."""

    ROARING32 = "roaring32"  # the portable format, ids below 2**32
    ROARING64 = "roaring64"  # the portable 64-bit extension


@dataclass(frozen=True)
class Entry:
    """One bitmap in an archive, and where its bytes are."""

    ref: BitmapRef
    encoding: Encoding
    offset: int
    length: int
    crc32: int
    count: int


@dataclass(frozen=True)
class IdMapChunk:
    """One chunk of an archive's id map, and where its bytes are."""

    offset: int
    length: int
    crc32: int
    count: int


def encode(bitmap: BitMap64) -> tuple[Encoding, bytes | memoryview]:
    """The smallest portable form of ``bitmap``: 32-bit when every id fits.

    The bitmap is run-optimized in place first: that makes the bytes depend
    on the ids alone, not on how the bitmap was built, and often smaller.
    """
    bitmap.run_optimize()
    data = bitmap.serialize()
    if not bitmap:
        return Encoding.ROARING32, _EMPTY_32
    if bitmap.max() < 2**32 and data[: len(_ONE_LOW_BUCKET)] == _ONE_LOW_BUCKET:
        return Encoding.ROARING32, memoryview(data)[len(_ONE_LOW_BUCKET) :]
    return Encoding.ROARING64, data


def decode(encoding: Encoding, payload: bytes) -> BitMap64:
    """The bitmap an entry's bytes hold; ValueError when they hold none."""
    if encoding is Encoding.ROARING32:
        payload = _ONE_LOW_BUCKET + payload
    bitmap: BitMap64 = BitMap64.deserialize(payload)
    return bitmap


def zone_name(tz: tzinfo) -> str:
    """The IANA name an archive records for ``tz``."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is timezone.utc:
        return "UTC"
    raise ConfigurationError(
        f"time zone {tz!r} has no IANA name, which an archive must record: "
        f"use a zoneinfo.ZoneInfo such as ZoneInfo('Europe/Berlin')"
    )


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ArchiveError(f"unknown time zone {name!r}: {error}") from None


class ArchiveWriter:
    """Writes one archive: ``add`` each bitmap, then ``commit``.

    Nothing appears under ``path`` until ``commit`` has flushed the whole
    file to disk and renamed it there; ``abort`` (or leaving the ``with``
    block by an exception) removes the temporary file.
    """

    def __init__(
        self, path: str | os.PathLike[str], time_zone: tzinfo, *, id_map: bool = False
    ) -> None:
        self.path = Path(path)
        self.time_zone = time_zone
        self._zone = zone_name(time_zone)
        self._entries: list[Entry] = []
        self._refs: set[BitmapRef] = set()
        # With ``id_map``, a version-2 file; its chunks, once add_id_map ran.
        self._version = ID_MAP_FORMAT_VERSION if id_map else FORMAT_VERSION
        self._chunks: list[IdMapChunk] | None = None
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as error:
            raise ArchiveError(f"cannot write {self.path}: {error}") from error
        self._temporary = Path(temporary)
        self._file: BinaryIO = os.fdopen(descriptor, "wb")
        self._offset = 0
        self._write(_HEADER.pack(MAGIC, self._version, 0))

    def add(self, ref: BitmapRef, bitmap: BitMap64) -> Entry:
        """Write ``bitmap`` as the entry for ``ref``."""
        if ref in self._refs:
            raise ArchiveError(f"{ref} is already in {self.path}")
        zone = None if ref.period is None else ref.period.start.tzinfo
        if zone is not None and zone_name(zone) != self._zone:
            raise ArchiveError(
                f"{ref} has a period in time zone {zone}, but the archive's "
                f"periods are in {self._zone}"
            )
        encoding, payload = encode(bitmap)
        entry = Entry(
            ref, encoding, self._offset, len(payload), zlib.crc32(payload), len(bitmap)
        )
        self._write(payload)
        self._entries.append(entry)
        self._refs.add(ref)
        return entry

    def add_id_map(self, entries: Iterable[tuple[int, bytes]]) -> int:
        """Write the id map: ``(integer, key)`` pairs in ascending order of
        integer, keys as ``idmap.encode`` makes them; return how many. The
        records go out in chunks of at most ``MAX_ID_MAP_CHUNK_BYTES``, so
        ``entries`` may be a stream of any length."""
        if self._version != ID_MAP_FORMAT_VERSION or self._chunks is not None:
            raise ArchiveError(
                f"{self.path} takes an id map only once, and only when made "
                f"with id_map=True"
            )
        self._chunks = []
        chunk = bytearray()
        count, last = 0, -1
        for number, key in entries:
            if number <= last:
                raise ArchiveError(
                    f"id map integer {number} comes after {last}: the map's "
                    f"entries must be in ascending order"
                )
            last = number
            record = _RECORD.pack(number, len(key)) + key
            if len(chunk) + len(record) > MAX_ID_MAP_CHUNK_BYTES:
                self._add_chunk(chunk, count)
                chunk, count = bytearray(), 0
            chunk += record
            count += 1
        if count:
            self._add_chunk(chunk, count)
        return sum(c.count for c in self._chunks)

    def _add_chunk(self, data: bytearray, count: int) -> None:
        assert self._chunks is not None
        self._chunks.append(
            IdMapChunk(self._offset, len(data), zlib.crc32(data), count)
        )
        self._write(data)

    def commit(self) -> None:
        """Write the manifest and trailer, and put the file in place."""
        manifest = json.dumps(self._manifest(), ensure_ascii=False).encode()
        offset = self._offset
        self._write(manifest)
        self._write(
            _TRAILER.pack(offset, len(manifest), zlib.crc32(manifest), 0, END_MAGIC)
        )
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temporary, self.path)
            _sync_directory(self.path.parent)
        except OSError as error:
            self.abort()
            raise ArchiveError(f"cannot write {self.path}: {error}") from error

    def abort(self) -> None:
        """Give up: close and remove the temporary file."""
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._temporary.unlink()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            self.abort()
            raise ArchiveError(f"cannot write {self.path}: {error}") from error
        self._offset += len(data)

    def _manifest(self) -> dict[str, Any]:
        id_map = None
        if self._version == ID_MAP_FORMAT_VERSION:
            chunks = self._chunks or []
            id_map = {
                "encoding": _ID_MAP_ENCODING,
                "count": sum(chunk.count for chunk in chunks),
                "chunks": [
                    {
                        "offset": chunk.offset,
                        "length": chunk.length,
                        "crc32": chunk.crc32,
                        "count": chunk.count,
                    }
                    for chunk in chunks
                ],
            }
        return {
            "format": "bitmapist-archive",
            "version": self._version,
            "key_layout": KEY_LAYOUT_VERSION,
            "time_zone": self._zone,
            "id_map": id_map,
            "entries": [_entry_record(entry) for entry in self._entries],
        }


def _entry_record(entry: Entry) -> dict[str, Any]:
    period = entry.ref.period
    return {
        "kind": entry.ref.kind.value,
        "name": entry.ref.name,
        "granularity": None if period is None else period.granularity.value,
        "period": None if period is None else period.code,
        "encoding": entry.encoding.value,
        "offset": entry.offset,
        "length": entry.length,
        "crc32": entry.crc32,
        "count": entry.count,
    }


def _sync_directory(directory: Path) -> None:
    """Flush the rename itself to disk, where the system allows it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_archive(
    path: str | os.PathLike[str],
    time_zone: tzinfo,
    refs: Iterable[BitmapRef],
    bitmap_of: Callable[[BitmapRef], BitMap64],
    progress: Callable[[int, int], None] | None = None,
    id_map: Callable[[], Iterable[tuple[int, bytes]]] | None = None,
) -> int:
    """Write the bitmaps of ``refs``, read one at a time with ``bitmap_of``,
    in a stable order; call ``progress(done, total)`` after each one. With
    ``id_map``, a version-2 file with the entries it gives, asked for after
    the bitmaps."""
    chosen = sorted(refs, key=_order)
    with ArchiveWriter(path, time_zone, id_map=id_map is not None) as writer:
        for done, ref in enumerate(chosen, 1):
            writer.add(ref, bitmap_of(ref))
            if progress is not None:
                progress(done, len(chosen))
        if id_map is not None:
            writer.add_id_map(id_map())
    return len(chosen)


_KIND_ORDER = {Kind.UNIVERSE: 0, Kind.ATTRIBUTE: 1, Kind.EVENT: 2}
_GRANULARITY_ORDER = {g: i for i, g in enumerate(Granularity)}


def _order(ref: BitmapRef) -> tuple[int, str, int, str]:
    period = ref.period
    if period is None:
        return (_KIND_ORDER[ref.kind], ref.name, -1, "")
    start = period.start.isoformat()
    return (
        _KIND_ORDER[ref.kind],
        ref.name,
        _GRANULARITY_ORDER[period.granularity],
        start,
    )


class ArchiveReader:
    """Reads one archive. The manifest is read and checked on opening; each
    bitmap is read, checked against its CRC-32 and count, when asked for."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except OSError as error:
            raise ArchiveError(f"cannot open {self.path}: {error}") from error
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self.manifest_offset, manifest = self._read_manifest()
            self.time_zone, self.entries, self.id_map = _parse_manifest(
                manifest, self.version
            )
            for entry in self.entries:
                if entry.offset + entry.length > self.manifest_offset:
                    raise ArchiveError(
                        f"bitmap {entry.ref} runs past the start of the manifest"
                    )
            for n, chunk in enumerate(self.id_map or ()):
                if chunk.offset + chunk.length > self.manifest_offset:
                    raise ArchiveError(
                        f"id map chunk {n} runs past the start of the manifest"
                    )
        except ArchiveError as error:
            self._file.close()
            raise ArchiveError(f"{self.path}: {error}") from None
        except BaseException:
            self._file.close()
            raise

    def read(self, entry: Entry) -> BitMap64:
        """The bitmap of ``entry``, checked."""
        payload = self._read_at(entry.offset, entry.length)
        if zlib.crc32(payload) != entry.crc32:
            raise self._bad(entry, "its bytes do not match their CRC-32")
        try:
            bitmap = decode(entry.encoding, payload)
        except ValueError:
            why = f"its bytes hold no {entry.encoding.value} bitmap"
            raise self._bad(entry, why) from None
        if len(bitmap) != entry.count:
            raise self._bad(
                entry, f"it holds {len(bitmap)} ids, the manifest says {entry.count}"
            )
        if entry.encoding is Encoding.ROARING32 and bitmap and bitmap.max() >= 2**32:
            raise self._bad(entry, "a roaring32 entry holds ids of 2**32 or more")
        return bitmap

    def verify(self, entry: Entry) -> None:
        """Check ``entry``'s CRC-32, reading its bytes a chunk at a time."""
        checksum = 0
        for position in range(entry.offset, entry.offset + entry.length, _CHUNK):
            size = min(_CHUNK, entry.offset + entry.length - position)
            checksum = zlib.crc32(self._read_at(position, size), checksum)
        if checksum != entry.crc32:
            raise self._bad(entry, "its bytes do not match their CRC-32")

    def id_map_chunks(self) -> Iterator[list[tuple[int, bytes]]]:
        """The id map's entries, a chunk at a time: ``(integer, key)`` pairs
        in ascending order of integer, each chunk checked against its CRC-32
        and every key against the rules of ``idmap.encode``. Nothing for a
        file without an id map. Once the last chunk has been handed out, a
        key listed under two integers is refused: a caller that reads every
        chunk has read a valid map only when no error came. That check holds
        a hash of every key, 8 bytes an entry."""
        hashes: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        for records in self._chunks():
            hashes.append(
                np.fromiter((hash(key) for _, key in records), np.int64, len(records))
            )
            yield records
        twice = self._key_twice(hashes)
        if twice is not None:
            raise ArchiveError(f"{self.path}: the id map is damaged: {twice}")

    def verify_id_map(self) -> None:
        """Check every chunk of the id map, one in memory at a time, and that
        no key is listed twice."""
        for _ in self.id_map_chunks():
            pass

    def _chunks(self) -> Iterator[list[tuple[int, bytes]]]:
        last = -1
        for n, chunk in enumerate(self.id_map or ()):
            data = self._read_at(chunk.offset, chunk.length)
            if zlib.crc32(data) != chunk.crc32:
                raise self._bad_chunk(n, "its bytes do not match their CRC-32")
            records = _parse_chunk(data, chunk.count, last)
            if isinstance(records, str):
                raise self._bad_chunk(n, records)
            if records:
                last = records[-1][0]
            yield records

    def _key_twice(
        self, hashes: list[np.ndarray[Any, np.dtype[np.int64]]]
    ) -> str | None:
        """A key the map lists under two integers, found from the hashes of
        every key: keys whose hashes collide are compared in a second pass."""
        if not hashes:
            return None
        ordered = np.sort(np.concatenate(hashes))
        collide = ordered[1:][ordered[1:] == ordered[:-1]]
        if not collide.size:
            return None
        suspects = set(collide.tolist())
        seen: dict[bytes, int] = {}
        for records in self._chunks():
            for number, key in records:
                if hash(key) not in suspects:
                    continue
                if key in seen:
                    name = decode_id(key)
                    return f"id {name!r} has two integers, {seen[key]} and {number}"
                seen[key] = number
        return None

    def bitmaps(self) -> Iterator[tuple[Entry, BitMap64]]:
        """Every entry with its bitmap, one bitmap in memory at a time."""
        for entry in self.entries:
            yield entry, self.read(entry)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _bad(self, entry: Entry, why: str) -> ArchiveError:
        return ArchiveError(f"{self.path}: bitmap {entry.ref} is damaged: {why}")

    def _bad_chunk(self, n: int, why: str) -> ArchiveError:
        return ArchiveError(f"{self.path}: id map chunk {n} is damaged: {why}")

    def _read_at(self, offset: int, length: int) -> bytes:
        try:
            self._file.seek(offset)
            data = self._file.read(length)
        except OSError as error:
            raise ArchiveError(f"cannot read {self.path}: {error}") from error
        if len(data) != length:
            raise ArchiveError(
                f"{self.path} is truncated: {length} bytes expected at {offset}"
            )
        return data

    def _read_manifest(self) -> tuple[int, bytes]:
        if self.size < _HEADER.size + _TRAILER.size:
            raise ArchiveError(
                f"the file is truncated or no archive: {self.size} bytes is less "
                f"than a header and a trailer"
            )
        magic, version, reserved = _HEADER.unpack(self._read_at(0, _HEADER.size))
        if magic != MAGIC:
            raise ArchiveError(
                f"not a bitmapist archive: it starts with {magic!r}, not {MAGIC!r}"
            )
        if version not in _READABLE:
            raise ArchiveError(
                f"format version {version} is not readable here: this bitmapist "
                f"reads versions {FORMAT_VERSION} and {ID_MAP_FORMAT_VERSION}"
            )
        self.version = version
        trailer = self._read_at(self.size - _TRAILER.size, _TRAILER.size)
        offset, length, checksum, zero, end = _TRAILER.unpack(trailer)
        if end != END_MAGIC:
            raise ArchiveError(
                f"the file is truncated: it does not end with {END_MAGIC!r}"
            )
        if reserved or zero:
            raise ArchiveError("the reserved bytes of the header or trailer are not 0")
        room = self.size - _TRAILER.size
        if not _HEADER.size <= offset <= room or length != room - offset:
            raise ArchiveError(
                f"the trailer puts the manifest at {offset}, {length} bytes long, "
                f"which is not just before the trailer of a {self.size}-byte file"
            )
        if length > MAX_MANIFEST_BYTES:
            raise ArchiveError(
                f"the manifest is {length} bytes long: at most "
                f"{MAX_MANIFEST_BYTES} are read"
            )
        manifest = self._read_at(offset, length)
        if zlib.crc32(manifest) != checksum:
            raise ArchiveError("the manifest does not match its CRC-32")
        return offset, manifest


def _parse_manifest(
    raw: bytes, version: int
) -> tuple[tzinfo, tuple[Entry, ...], tuple[IdMapChunk, ...] | None]:
    try:
        manifest = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ArchiveError(f"the manifest is not JSON: {error}") from None
    fields = _Fields(manifest, "the manifest")
    if fields.text("format") != "bitmapist-archive":
        raise ArchiveError("the manifest's format is not 'bitmapist-archive'")
    if fields.number("version") != version:
        raise ArchiveError("the manifest's version differs from the header's")
    layout = fields.number("key_layout")
    if layout != KEY_LAYOUT_VERSION:
        raise ArchiveError(
            f"key layout {layout} is not readable here: this bitmapist reads "
            f"layout {KEY_LAYOUT_VERSION}"
        )
    id_map = _parse_id_map(fields.get("id_map"), version)
    tz = _zone(fields.text("time_zone"))
    records = fields.get("entries")
    if not isinstance(records, list):
        raise ArchiveError("the manifest's entries are not a list")
    entries = tuple(_parse_entry(record, n, tz) for n, record in enumerate(records))
    refs = {entry.ref for entry in entries}
    if len(refs) != len(entries):
        raise ArchiveError("the manifest lists one bitmap more than once")
    return tz, entries, id_map


def _parse_id_map(value: object, version: int) -> tuple[IdMapChunk, ...] | None:
    if version == FORMAT_VERSION:
        if value is not None:
            raise ArchiveError(
                "the manifest has an id map, which a version-1 file cannot hold"
            )
        return None
    fields = _Fields(value, "the id map")
    if fields.text("encoding") != _ID_MAP_ENCODING:
        raise ArchiveError(
            f"the id map's encoding is not {_ID_MAP_ENCODING!r}: this bitmapist "
            f"reads no other"
        )
    records = fields.get("chunks")
    if not isinstance(records, list):
        raise ArchiveError("the id map's chunks are not a list")
    chunks = []
    for n, record in enumerate(records):
        chunk_fields = _Fields(record, f"id map chunk {n}")
        offset = chunk_fields.number("offset")
        length = chunk_fields.number("length", MAX_ID_MAP_CHUNK_BYTES)
        if offset < _HEADER.size:
            raise ArchiveError(
                f"id map chunk {n}: offset {offset} is inside the header"
            )
        # A record takes at least 11 bytes: the integer, the length, a tag.
        count = chunk_fields.number("count", length // (_RECORD.size + 1))
        checksum = chunk_fields.number("crc32", 2**32 - 1)
        chunks.append(IdMapChunk(offset, length, checksum, count))
    if fields.number("count") != sum(chunk.count for chunk in chunks):
        raise ArchiveError("the id map's count is not the sum of its chunks' counts")
    return tuple(chunks)


def _parse_chunk(data: bytes, count: int, last: int) -> list[tuple[int, bytes]] | str:
    """The records of one id map chunk, or why they are not valid."""
    records: list[tuple[int, bytes]] = []
    position = 0
    while position < len(data):
        if position + _RECORD.size > len(data):
            return "it ends inside a record"
        number, size = _RECORD.unpack_from(data, position)
        position += _RECORD.size
        key = data[position : position + size]
        position += size
        if len(key) != size:
            return "it ends inside a record"
        if number <= last:
            return f"integer {number} comes after {last}, not in ascending order"
        why = check_key(key)
        if why is not None:
            return f"the key of integer {number} {why}"
        records.append((number, key))
        last = number
    if len(records) != count:
        return f"it holds {len(records)} entries, the manifest says {count}"
    return records


def _parse_entry(record: object, n: int, tz: tzinfo) -> Entry:
    fields = _Fields(record, f"entry {n}")
    try:
        kind = Kind(fields.text("kind"))
        encoding = Encoding(fields.text("encoding"))
    except ValueError as error:
        raise ArchiveError(f"entry {n}: {error}") from None
    try:
        ref = _ref_of(kind, fields.text("name"), fields, tz)
    except (InvalidInputError, ValueError) as error:
        raise ArchiveError(f"entry {n}: {error}") from None
    offset, length = fields.number("offset"), fields.number("length")
    if offset < _HEADER.size:
        raise ArchiveError(f"entry {n}: offset {offset} is inside the header")
    return Entry(
        ref,
        encoding,
        offset,
        length,
        fields.number("crc32", 2**32 - 1),
        fields.number("count", 2**64),
    )


def _ref_of(kind: Kind, name: str, fields: _Fields, tz: tzinfo) -> BitmapRef:
    granularity, code = fields.get("granularity"), fields.get("period")
    if kind is Kind.EVENT:
        if not isinstance(granularity, str) or not isinstance(code, str):
            raise ValueError("an event needs a granularity and a period")
        period = Period.from_code(code, tz, Granularity(granularity))
        return BitmapRef(kind, check_name(name, "event name"), period)
    if granularity is not None or code is not None:
        raise ValueError(f"the {kind.value} has a period")
    if kind is Kind.UNIVERSE:
        if name:
            raise ValueError(f"the universe is named {name!r}, not ''")
        return UNIVERSE
    return BitmapRef(kind, check_name(name, "attribute name"))


class _Fields:
    """Typed access to one JSON object of the manifest, with errors that say
    which object and which field."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise ArchiveError(f"{where} is not a JSON object")
        self.value: dict[str, object] = value
        self.where = where

    def get(self, key: str) -> object:
        if key not in self.value:
            raise ArchiveError(f"{self.where} has no {key!r}")
        return self.value[key]

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise ArchiveError(f"{self.where}: {key!r} is not a string")
        return value

    def number(self, key: str, maximum: int = 2**63 - 1) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArchiveError(f"{self.where}: {key!r} is not an integer")
        if not 0 <= value <= maximum:
            raise ArchiveError(f"{self.where}: {key!r} is {value}, out of range")
        return value
