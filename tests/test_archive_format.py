"""The archive file: its bytes as docs/format.md describes them, read back by
pyroaring alone, and every kind of damaged file refused with ArchiveError."""

from __future__ import annotations

import contextlib
import json
import struct
import uuid
import zlib
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap, BitMap64

from bitmapist import ArchiveError, Bitmapist
from bitmapist import archive as archive_module
from bitmapist.archive import MAGIC, ArchiveReader, ArchiveWriter
from bitmapist.expressions import UNIVERSE
from bitmapist.idmap import decode

from .conftest import NOW, fixed_clock

TRAILER = struct.Struct("<QQII8s")


def small_archive(path: Path) -> Path:
    bm = Bitmapist(timezone="Europe/Berlin", clock=fixed_clock)
    bm.mark_events("active", [1, 2, 3, 2**20 + 5], NOW)
    bm.mark_events("big", [7, 2**32, 2**64 - 1], NOW, granularities="month")
    bm.mark_attribute("paid", 2)
    bm.export(path)
    return path


USER = uuid.UUID("12345678-1234-5678-1234-567812345678")


def mapped_archive(path: Path) -> Path:
    """A version-2 file: string, UUID, bytes and integer ids through a map."""
    bm = Bitmapist(timezone="Europe/Berlin", clock=fixed_clock, id_map=True)
    bm.mark_events("active", ["alice", "bob", USER, b"\x00raw", 2**64 - 1], NOW)
    bm.mark_attribute("paid", "bob")
    bm.export(path)
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return small_archive(tmp_path / "small.bma")


@pytest.fixture
def mapped(tmp_path: Path) -> Path:
    return mapped_archive(tmp_path / "mapped.bma")


def read_everything(path: Path) -> dict[str, list[Any]]:
    with ArchiveReader(path) as reader:
        found: dict[str, list[Any]] = {
            str(entry.ref): list(bitmap) for entry, bitmap in reader.bitmaps()
        }
        found["id map"] = [pair for chunk in reader.id_map_chunks() for pair in chunk]
        return found


def split(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The bytes before the manifest, and the manifest, parsed by hand."""
    offset, length, _, _, _ = TRAILER.unpack(data[-TRAILER.size :])
    return data[:offset], json.loads(data[offset : offset + length])


def rebuild(body: bytes, manifest: bytes) -> bytes:
    """A file with a correct trailer around any manifest bytes."""
    end = TRAILER.pack(len(body), len(manifest), zlib.crc32(manifest), 0, b"BMA-END\n")
    return body + manifest + end


def test_entries_read_back_with_pyroaring_alone(archive: Path) -> None:
    """Following docs/format.md with struct, json and pyroaring only."""
    data = archive.read_bytes()
    magic, version, reserved = struct.unpack("<8sII", data[:16])
    _, manifest = split(data)

    found = {}
    for entry in manifest["entries"]:
        payload = data[entry["offset"] : entry["offset"] + entry["length"]]
        assert zlib.crc32(payload) == entry["crc32"]
        reader = {"roaring32": BitMap, "roaring64": BitMap64}[entry["encoding"]]
        bitmap = reader.deserialize(payload)
        assert len(bitmap) == entry["count"]
        found[entry["kind"], entry["name"], entry["period"]] = list(bitmap)

    assert (magic, version, reserved) == (MAGIC, 1, 0)
    assert manifest["time_zone"] == "Europe/Berlin"
    assert manifest["id_map"] is None
    assert found["event", "active", "2025-01-15"] == [1, 2, 3, 2**20 + 5]
    assert found["event", "active", "2025-W03"] == [1, 2, 3, 2**20 + 5]
    assert found["event", "big", "2025-01"] == [7, 2**32, 2**64 - 1]
    assert found["attribute", "paid", None] == [2]
    assert found["universe", "", None] == [1, 2, 3, 7, 2**20 + 5, 2**32, 2**64 - 1]
    encodings = {e["name"]: e["encoding"] for e in manifest["entries"]}
    assert encodings == {
        "active": "roaring32",
        "big": "roaring64",
        "paid": "roaring32",
        "": "roaring64",
    }


def test_an_id_map_reads_back_by_hand(mapped: Path) -> None:
    """docs/format.md's records, with struct alone: u64 integer, u16 length,
    the tagged key."""
    data = mapped.read_bytes()
    _, version, _ = struct.unpack("<8sII", data[:16])
    _, manifest = split(data)
    id_map = manifest["id_map"]

    pairs = []
    for chunk in id_map["chunks"]:
        payload = data[chunk["offset"] : chunk["offset"] + chunk["length"]]
        assert zlib.crc32(payload) == chunk["crc32"]
        position = 0
        while position < len(payload):
            number, size = struct.unpack_from("<QH", payload, position)
            key = payload[position + 10 : position + 10 + size]
            pairs.append((number, key))
            position += 10 + size
    universe = next(e for e in manifest["entries"] if e["kind"] == "universe")
    start = universe["offset"]
    stored = BitMap.deserialize(data[start : start + universe["length"]])

    assert (version, manifest["version"]) == (2, 2)
    assert id_map["encoding"] == "bitmapist-ids"
    assert id_map["count"] == len(pairs) == 5
    assert [n for n, _ in pairs] == list(stored) == [0, 1, 2, 3, 4]
    assert [key[:1] for _, key in pairs] == [b"s", b"s", b"u", b"b", b"i"]
    assert [decode(key) for _, key in pairs] == [
        "alice",
        "bob",
        USER,
        b"\x00raw",
        2**64 - 1,
    ]


def test_a_file_without_a_map_stays_version_1(archive: Path) -> None:
    assert struct.unpack("<I", archive.read_bytes()[8:12]) == (1,)


def test_an_id_map_is_written_in_chunks_of_bounded_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "MAX_ID_MAP_CHUNK_BYTES", 40)
    with ArchiveWriter(tmp_path / "chunks.bma", timezone.utc, id_map=True) as w:
        w.add(UNIVERSE, BitMap64(range(0, 20, 2)))
        w.add_id_map((n, b"s" + str(n).encode()) for n in range(0, 20, 2))

    with ArchiveReader(tmp_path / "chunks.bma") as reader:
        assert reader.id_map is not None
        chunks = list(reader.id_map_chunks())
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert all(c.length <= 40 for c in reader.id_map)
    assert [n for chunk in chunks for n, _ in chunk] == list(range(0, 20, 2))


def test_the_reader_agrees_with_the_hand_reading(archive: Path) -> None:
    assert read_everything(archive)["event:big@2025-01"] == [7, 2**32, 2**64 - 1]


@pytest.mark.parametrize("kind", ["plain", "mapped"])
def test_every_truncation_is_refused(
    archive: Path, mapped: Path, tmp_path: Path, kind: str
) -> None:
    data = (archive if kind == "plain" else mapped).read_bytes()
    cut = tmp_path / "cut.bma"

    for length in range(len(data)):
        cut.write_bytes(data[:length])
        with pytest.raises(ArchiveError):
            read_everything(cut)


def test_a_wrong_magic_number_is_refused(archive: Path) -> None:
    archive.write_bytes(b"PK\x03\x04" + archive.read_bytes()[4:])

    with pytest.raises(ArchiveError, match="not a bitmapist archive"):
        ArchiveReader(archive)


@pytest.mark.parametrize("id_map", [False, True])
def test_every_flipped_bit_is_refused(tmp_path: Path, id_map: bool) -> None:
    """A single-bit error anywhere, header and trailer included, is caught."""
    bm = Bitmapist(clock=fixed_clock, id_map=id_map)
    bm.mark_events(
        "a", [1, 2**40] if not id_map else ["x", USER], NOW, granularities="day"
    )
    bm.export(tmp_path / "tiny.bma")
    data = (tmp_path / "tiny.bma").read_bytes()
    flipped = tmp_path / "flipped.bma"

    for bit in range(len(data) * 8):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        flipped.write_bytes(damaged)
        with pytest.raises(ArchiveError):
            read_everything(flipped)


def test_a_bad_entry_checksum_names_the_bitmap(archive: Path) -> None:
    body, manifest = split(archive.read_bytes())
    manifest["entries"][1]["crc32"] ^= 1
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))
    name = manifest["entries"][1]["name"]

    with pytest.raises(ArchiveError, match=f"{name}.*CRC-32"):
        read_everything(archive)


def test_bytes_that_hold_no_bitmap_are_refused(archive: Path) -> None:
    body, manifest = split(archive.read_bytes())
    entry = manifest["entries"][0]
    garbage = b"\xff" * entry["length"]
    start, end = entry["offset"], entry["offset"] + entry["length"]
    body = body[:start] + garbage + body[end:]
    entry["crc32"] = zlib.crc32(garbage)
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match="hold no roaring"):
        read_everything(archive)


def test_a_wrong_count_is_refused(archive: Path) -> None:
    body, manifest = split(archive.read_bytes())
    manifest["entries"][0]["count"] += 1
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match="the manifest says"):
        read_everything(archive)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("offset", 2**62, "runs past"),
        ("length", 2**62, "runs past"),
        ("offset", 3, "inside the header"),
        ("length", -1, "out of range"),
        ("count", 2**70, "out of range"),
        ("offset", "16", "not an integer"),
        ("kind", "user", "'user' is not a valid Kind"),
        ("encoding", "gzip", "not a valid Encoding"),
        ("period", "2025-02-30", "names no day"),
        ("granularity", "week", "is not week"),
        ("name", "a b", "white space"),
    ],
)
def test_hostile_manifest_fields_are_refused(
    archive: Path, field: str, value: object, message: str
) -> None:
    body, manifest = split(archive.read_bytes())
    event = next(e for e in manifest["entries"] if e["kind"] == "event")
    event[field] = value
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match=message):
        read_everything(archive)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": "../../etc/passwd"}, "unknown time zone"),
        ({"key_layout": 2}, "key layout 2"),
        ({"id_map": {"entry": 0}}, "id map"),
        ({"entries": {}}, "not a list"),
        ({"format": "zip"}, "format"),
    ],
)
def test_hostile_manifests_are_refused(
    archive: Path, change: dict[str, object], message: str
) -> None:
    body, manifest = split(archive.read_bytes())
    manifest.update(change)
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match=message):
        ArchiveReader(archive)


def bad_chunk(mapped: Path, records: bytes, count: int) -> None:
    """Replace the id map of ``mapped`` with one chunk holding ``records``."""
    body, manifest = split(mapped.read_bytes())
    manifest["id_map"] = {
        "encoding": "bitmapist-ids",
        "count": count,
        "chunks": [
            {
                "offset": len(body),
                "length": len(records),
                "crc32": zlib.crc32(records),
                "count": count,
            }
        ],
    }
    data = body + records
    mapped.write_bytes(rebuild(data, json.dumps(manifest).encode()))


def record(number: int, key: bytes, size: int | None = None) -> bytes:
    return struct.pack("<QH", number, len(key) if size is None else size) + key


@pytest.mark.parametrize(
    ("records", "count", "message"),
    [
        (record(1, b"sa") + record(0, b"sb"), 2, "ascending"),
        (record(0, b"sa") + record(0, b"sb"), 2, "ascending"),
        (record(0, b"xa"), 1, "no type tag"),
        (record(0, b"s\xff"), 1, "not a valid s id"),
        (record(0, b"u" + bytes(15)), 1, "not a valid u id"),
        (record(0, b"i007"), 1, "not a valid i id"),
        (record(0, b"i" + str(2**64).encode()), 1, "not a valid i id"),
        (record(0, b"") + record(1, b"sa"), 2, "0 bytes long"),
        (record(0, b"s" + b"a" * 1025), 1, "1026 bytes long"),
        (record(0, b"sa", size=9), 1, "ends inside a record"),
        (record(0, b"sa") + record(1, b"sb")[:5], 1, "ends inside a record"),
        (record(0, b"sa") + record(1, b"sb"), 1, "the manifest says 1"),
        (record(0, b"sa") + record(1, b"sa"), 2, "'a' has two integers, 0 and 1"),
    ],
)
def test_damaged_id_maps_are_refused(
    mapped: Path, records: bytes, count: int, message: str
) -> None:
    bad_chunk(mapped, records, count)

    with pytest.raises(ArchiveError, match=message):
        read_everything(mapped)


def test_keys_whose_hashes_collide_are_compared_whole(
    mapped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are told apart first by hash: two distinct keys with one hash are
    no duplicate, while one key listed twice still is."""
    bad_chunk(mapped, record(0, b"sa") + record(1, b"sb") + record(2, b"sa"), 3)
    monkeypatch.setattr(archive_module, "hash", lambda key: 7, raising=False)

    with pytest.raises(ArchiveError, match="'a' has two integers, 0 and 2"):
        read_everything(mapped)

    bad_chunk(mapped, record(0, b"sa") + record(1, b"sb"), 2)
    assert read_everything(mapped)["id map"] == [(0, b"sa"), (1, b"sb")]


def test_an_id_map_chunk_with_a_bad_checksum_is_refused(mapped: Path) -> None:
    body, manifest = split(mapped.read_bytes())
    manifest["id_map"]["chunks"][0]["crc32"] ^= 1
    mapped.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match=r"id map chunk 0.*CRC-32"):
        read_everything(mapped)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"length": 2**20 + 1}, "out of range"),
        ({"offset": 2**62}, "runs past"),
        ({"offset": 3}, "inside the header"),
        ({"count": 10**6}, "out of range"),
        ({"crc32": -1}, "out of range"),
    ],
)
def test_hostile_id_map_chunks_are_refused(
    mapped: Path, change: dict[str, object], message: str
) -> None:
    body, manifest = split(mapped.read_bytes())
    manifest["id_map"]["chunks"][0].update(change)
    mapped.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match=message):
        ArchiveReader(mapped)


@pytest.mark.parametrize(
    ("id_map", "message"),
    [
        (None, "the id map is not a JSON object"),
        ({"encoding": "zip", "count": 0, "chunks": []}, "encoding"),
        ({"encoding": "bitmapist-ids", "count": 1, "chunks": []}, "sum"),
        ({"encoding": "bitmapist-ids", "count": 0, "chunks": {}}, "not a list"),
    ],
)
def test_hostile_id_maps_are_refused(
    mapped: Path, id_map: object, message: str
) -> None:
    body, manifest = split(mapped.read_bytes())
    manifest["id_map"] = id_map
    mapped.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match=message):
        ArchiveReader(mapped)


def test_a_duplicated_entry_is_refused(archive: Path) -> None:
    body, manifest = split(archive.read_bytes())
    manifest["entries"].append(manifest["entries"][0])
    archive.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with pytest.raises(ArchiveError, match="more than once"):
        ArchiveReader(archive)


def test_deeply_nested_json_is_refused(archive: Path) -> None:
    body, _ = split(archive.read_bytes())
    archive.write_bytes(rebuild(body, b"[" * 100_000 + b"]" * 100_000))

    with pytest.raises(ArchiveError, match="not JSON"):
        ArchiveReader(archive)


def test_a_hostile_manifest_length_is_refused_before_reading(archive: Path) -> None:
    data = archive.read_bytes()
    offset, _, checksum, _, end = TRAILER.unpack(data[-TRAILER.size :])
    trailer = TRAILER.pack(offset, 2**63, checksum, 0, end)
    archive.write_bytes(data[: -TRAILER.size] + trailer)

    with pytest.raises(ArchiveError, match="not just before the trailer"):
        ArchiveReader(archive)


def test_a_newer_format_version_is_refused(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[8:12] = struct.pack("<I", 3)
    archive.write_bytes(data)

    with pytest.raises(ArchiveError, match="format version 3"):
        ArchiveReader(archive)


def test_a_missing_file_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot open"):
        ArchiveReader(tmp_path / "nothing.bma")


_fuzz = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@_fuzz
@given(
    id_map=st.booleans(),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.binary(min_size=0, max_size=9)),
        min_size=1,
        max_size=6,
    ),
    cut=st.integers(0, 10_000),
)
def test_fuzzed_files_give_archive_errors_or_bitmaps(
    tmp_path_factory: pytest.TempPathFactory,
    id_map: bool,
    edits: list[tuple[int, bytes]],
    cut: int,
) -> None:
    """Overwritten, inserted and truncated bytes, in a file with or without an
    id map: an ArchiveError, never any other exception, a hang or a huge
    allocation."""
    directory = tmp_path_factory.mktemp("fuzz")
    make = mapped_archive if id_map else small_archive
    data = bytearray(make(directory / "a.bma").read_bytes())
    for position, replacement in edits:
        at = position % (len(data) + 1)
        if position % 2:
            data[at : at + len(replacement)] = replacement
        else:
            data[at:at] = replacement
    if cut % 3 == 0:
        del data[len(data) - cut % 64 :]
    fuzzed = directory / "fuzzed.bma"
    fuzzed.write_bytes(data)

    with contextlib.suppress(ArchiveError):
        read_everything(fuzzed)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
# Where an entry's or a chunk's bytes are, and what they hold.
places = {
    "offset": st.integers(-1, 400),
    "length": st.integers(-1, 400),
    "crc32": st.integers(0, 2**32),
    "count": st.integers(0, 10),
}
entry_fields = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["event", "attribute", "universe", "x"]) | json_values,
        "name": st.sampled_from(["", "a", "b:c"]) | json_values,
        "granularity": st.sampled_from(["day", "hour", "year"]) | json_values,
        "period": st.sampled_from(["2025-01-15", "2025", "2025-W03"]) | json_values,
        "encoding": st.sampled_from(["roaring32", "roaring64"]) | json_values,
        **places,
    },
)
chunk_fields = st.fixed_dictionaries({}, optional=places)
id_maps = st.fixed_dictionaries(
    {},
    optional={
        "encoding": st.just("bitmapist-ids") | json_values,
        "count": st.integers(0, 10) | json_values,
        "chunks": st.lists(chunk_fields, max_size=3) | json_values,
    },
)


@_fuzz
@given(
    id_map=st.booleans(),
    manifest=st.fixed_dictionaries(
        {
            "format": st.just("bitmapist-archive") | json_values,
            "version": st.sampled_from([1, 2]) | json_values,
            "key_layout": st.just(1) | json_values,
            "time_zone": st.sampled_from(["UTC", "Asia/Tokyo", ""]) | json_values,
            "id_map": st.none() | id_maps | json_values,
            "entries": st.lists(entry_fields, max_size=4) | json_values,
        }
    ),
)
def test_fuzzed_manifests_give_archive_errors_or_bitmaps(
    tmp_path_factory: pytest.TempPathFactory, id_map: bool, manifest: dict[str, Any]
) -> None:
    """Manifests of any shape, around the bytes of a file with or without an
    id map (so chunks may point at real records)."""
    directory = tmp_path_factory.mktemp("manifest")
    make = mapped_archive if id_map else small_archive
    body, _ = split(make(directory / "a.bma").read_bytes())
    fuzzed = directory / "fuzzed.bma"
    fuzzed.write_bytes(rebuild(body, json.dumps(manifest).encode()))

    with contextlib.suppress(ArchiveError):
        read_everything(fuzzed)


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.bma"
    target.write_bytes(b"the old file")

    with pytest.raises(RuntimeError), ArchiveWriter(target, timezone.utc) as writer:
        writer.add(UNIVERSE, BitMap64([1]))
        raise RuntimeError("the exporter crashed")

    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bma"]


def test_a_file_appears_whole_and_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "out.bma"
    writer = ArchiveWriter(target, timezone.utc)
    writer.add(UNIVERSE, BitMap64([1, 2]))

    assert not target.exists()
    writer.commit()

    assert read_everything(target) == {"universe:": [1, 2], "id map": []}
    assert [p.name for p in tmp_path.iterdir()] == ["out.bma"]
