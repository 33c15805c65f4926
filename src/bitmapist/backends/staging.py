"""Storing a whole bitmap on a Redis Cluster, where one transaction cannot span
the bitmap's shards (each shard is its own hash slot).

A store takes three steps, each pipelined (the cluster pipeline sends every
node its commands together):

1. *Stage.* Each shard's string is SET into a staging key of that shard's
   slot, with an expiry. Nothing a query reads changes.
2. *Commit.* ``lua/load.lua`` runs once per shard, atomically on its node: it
   moves the key's old string aside, renames the staged one into place, ORs
   it into the universe and registers it, and records what it changed in a
   backup hash. Shards the bitmap no longer has ids in lose their key the same
   way.
3. *Clean up.* The backups and old strings are deleted.

A failure while staging changed nothing: the staging keys are deleted (those
on a node that cannot be reached expire). A failure while committing rolls
every shard back from its backup, node by node, and raises the failure: the
bitmap is as it was. Each rollback leaves the shard's backup as a tombstone
that expires with the load's keys, so a commit that reaches a node after the
rollback (a retry, or one still in flight) is refused there, not applied.
When a node cannot be reached for the rollback, its shards may hold the new
strings, and ``PartlyStoredError`` names them; a failure before any commit
was sent (registering the shards) changed nothing, and raises as it is.

A rollback leaves three things, besides its tombstones: ids ORed into the
universe stay there (the universe only grows, as it does when ids are
unmarked), a period registry that the commit made persistent stays so, and
the staged shards stay in the shard registry (as a failed write's do: an empty
shard costs queries an evaluation). Storing the universe itself is therefore
undone only on the shards not yet committed; a failure after some were is a
``PartlyStoredError``. A load writes the universe first, so the bitmaps after
it add no new ids to it.

Memory: a window of about 2**20 ids and one pipeline of at most
``PIPELINE_BYTES`` of strings at a time, plus a few Python objects for every
shard in the shard registry, not only the bitmap's: the registered shards
(``known``), and a step for each shard the bitmap has ids in or must lose its
key in (``steps``, which covers every registered shard).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from pyroaring import BitMap64

from .. import errors
from ..expressions import UNIVERSE, BitmapRef
from .redis import PIPELINE_BYTES, REDIS_ERRORS, translated

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = ["LOAD_KEY_SECONDS", "store_staged"]

log = logging.getLogger(__name__)

_LOAD = resources.files(__package__).joinpath("lua/load.lua").read_text()

# How long staging keys, backups and old strings live if the client dies
# before it deletes them: long enough for the slowest single bitmap.
LOAD_KEY_SECONDS = 3600

# Shards whose commit (or rollback) shares one pipeline.
SHARDS_PER_PIPELINE = 4096

# (shard, action): "set", "delete" or "name"; see lua/load.lua.
Step = tuple[int, str]


def store_staged(
    backend: RedisBackend, ref: BitmapRef, bitmap: BitMap64, with_universe: bool
) -> None:
    """Replace ``ref`` with ``bitmap`` on a cluster, shard by shard, so that
    after a failure it is as it was (or ``PartlyStoredError`` says where it
    may not be). ``with_universe``: the layout keeps a universe to OR into."""
    token = secrets.token_hex(8)
    merge = "u" if ref == UNIVERSE else ("1" if with_universe else "0")
    store = _Store(backend, ref, token, merge)
    known = set(backend.registered_shards())
    staged: list[int] = []
    try:
        store.stage(bitmap, staged)
    except errors.BackendError:
        store.roll_back([(shard, "set") for shard in staged])
        raise
    steps: list[Step] = [(shard, "set") for shard in staged]
    if ref != UNIVERSE:
        gone = sorted(known - set(staged))
        steps += [(shard, "delete") for shard in gone if shard != 0 or staged]
        if not staged:
            # An empty bitmap stays known by name, as on one server.
            steps.append((0, "name"))
    sent = False  # whether any commit went out: before, nothing can be partial
    try:
        if ref != UNIVERSE or staged:
            # Registered before any commit, as writes do: no later than data.
            with translated("register shards"):
                backend.client.sadd(backend.layout.shards_key(), *(staged or [0]))
        for start in range(0, len(steps), SHARDS_PER_PIPELINE):
            sent = True
            store.commit(steps[start : start + SHARDS_PER_PIPELINE])
    except errors.BackendError as error:
        committed, unreachable = store.roll_back(steps)
        if not sent:
            raise  # staging keys a rollback could not reach expire
        left = sorted(unreachable | (committed if merge == "u" else set()))
        if left:
            raise errors.PartlyStoredError(
                f"storing {ref} failed ({error}), and {_undone(unreachable)} in "
                f"shards {errors.listing(left)}: it may hold some of its new ids "
                f"there",
                ref,
                tuple(left),
            ) from error
        raise
    store.clean_up(steps)


class _Store:
    """The keys and script calls of one store."""

    def __init__(
        self, backend: RedisBackend, ref: BitmapRef, token: str, merge: str
    ) -> None:
        self.backend = backend
        self.layout = backend.layout
        self.ref = ref
        self.token = token
        self.merge = merge

    def stage(self, bitmap: BitMap64, staged: list[int]) -> None:
        """SET every shard string into its staging key, recording each shard in
        ``staged`` before it is sent."""
        pending: list[tuple[str, bytes]] = []
        queued = 0

        def send() -> None:
            def fill(pipe: Any) -> None:
                for key, data in pending:
                    pipe.execute_command("SET", key, data, "EX", LOAD_KEY_SECONDS)

            self.backend.run(fill, "stage a bitmap")

        for shard, data in self.backend.shard_strings(bitmap):
            staged.append(shard)
            pending.append((self.layout.load_key(shard, self.token, "staged"), data))
            queued += len(data)
            if queued >= PIPELINE_BYTES or len(pending) >= SHARDS_PER_PIPELINE:
                send()
                pending, queued = [], 0
        if pending:
            send()

    def commit(self, steps: Sequence[Step]) -> None:
        def fill(pipe: Any) -> None:
            # Taken here, so that a retry after NOSCRIPT loads the script again.
            sha = self.backend.script_sha(_LOAD)
            for shard, action in steps:
                keys, args = self.call(shard, action, "commit")
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)

        self.backend.run(fill, "store a bitmap")

    def roll_back(self, steps: Sequence[Step]) -> tuple[set[int], set[int]]:
        """Undo every committed shard of ``steps`` and delete every staging
        key, node by node: the shards that had been committed, and those whose
        node could not be reached (which may or may not have been)."""
        committed: set[int] = set()
        unreachable: set[int] = set()
        for node, shards in self._by_node(steps, unreachable).items():
            try:
                found = self._roll_back_on(node, shards)
            except REDIS_ERRORS as error:
                log.debug("cannot roll back shards on %s: %s", node, error)
                unreachable.update(shard for shard, _ in shards)
                continue
            committed.update(shard for (shard, _), done in found if done)
        return committed, unreachable

    def clean_up(self, steps: Sequence[Step]) -> None:
        """Delete the backups and old strings of a store that succeeded. They
        expire anyway, so a failure here is not the store's."""
        for start in range(0, len(steps), SHARDS_PER_PIPELINE):
            chunk = steps[start : start + SHARDS_PER_PIPELINE]

            def fill(pipe: Any, chunk: Sequence[Step] = chunk) -> None:
                for shard, _ in chunk:
                    backup = self.layout.load_key(shard, self.token, "backup")
                    old = self.layout.load_key(shard, self.token, "old")
                    pipe.execute_command("DEL", backup, old)

            try:
                self.backend.run(fill, "clean up after a load")
            except errors.BackendError as error:
                log.debug("leaving the load's keys to expire: %s", error)

    def call(self, shard: int, action: str, step: str) -> tuple[list[str], list[Any]]:
        """The keys and arguments of ``lua/load.lua`` for one shard."""
        layout, ref = self.layout, self.ref
        registries = layout.registry_entries(ref, shard) if action != "delete" else []
        keys = [
            layout.bitmap_key(ref, shard),
            layout.load_key(shard, self.token, "staged"),
            layout.load_key(shard, self.token, "backup"),
            layout.load_key(shard, self.token, "old"),
            layout.bitmap_key(UNIVERSE, shard),
            *(key for key, _ in registries),
        ]
        args = [step, action, LOAD_KEY_SECONDS, self.merge]
        return keys, args + [member for _, member in registries]

    def _by_node(
        self, steps: Sequence[Step], unreachable: set[int]
    ) -> dict[Any, list[Step]]:
        client: Any = self.backend.client
        nodes: dict[Any, list[Step]] = {}
        for shard, action in steps:
            try:
                node = client.get_node_from_key(self.layout.bitmap_key(self.ref, shard))
            except REDIS_ERRORS:
                unreachable.add(shard)
                continue
            nodes.setdefault(node, []).append((shard, action))
        return nodes

    def _roll_back_on(self, node: Any, shards: list[Step]) -> list[tuple[Step, bool]]:
        client: Any = self.backend.client
        connection = client.get_redis_connection(node)
        sha = connection.script_load(_LOAD)
        found: list[tuple[Step, bool]] = []
        for start in range(0, len(shards), SHARDS_PER_PIPELINE):
            chunk = shards[start : start + SHARDS_PER_PIPELINE]
            pipe = connection.pipeline(transaction=False)
            for shard, action in chunk:
                keys, args = self.call(shard, action, "rollback")
                pipe.evalsha(sha, len(keys), *keys, *args)
            replies = zip(chunk, pipe.execute(), strict=True)
            found += [(step, bool(done)) for step, done in replies]
        return found


def _undone(unreachable: set[int]) -> str:
    if unreachable:
        return "rolling it back could not reach the nodes of some shards"
    return "the universe only grows: ids ORed into it stay"
