"""How one write becomes Redis transactions, on a single server or a cluster.

On a single Redis, every shard of a write and the shard registry go into one
MULTI/EXEC: the whole write is applied or none of it. A cluster cannot run a
transaction across hash slots, and each shard is its own slot, so there a
write first registers its shards (an idempotent SADD in the registry's slot)
and then runs one MULTI/EXEC per shard. Each shard is then all or nothing; a
write that spans several shards (a bulk mark of ids far apart) can fail after
some shards were applied, and the error says so. A single id always lies in
one shard, so marking one id stays atomic. A shard registered by a write that
then failed costs nothing but an empty shard visited by queries.
"""

from __future__ import annotations

from typing import Any

import redis

__all__ = ["ShardTransactions", "is_cluster"]


def is_cluster(client: Any) -> bool:
    return isinstance(client, redis.RedisCluster)


class ShardTransactions:
    """The transactions of one write: queue each shard's commands on the
    pipeline ``for_shard`` gives, then ``execute``. ``registry_key`` is the
    shard registry, or None for a layout that keeps none."""

    def __init__(
        self, client: Any, registry_key: str | None, shards: list[int]
    ) -> None:
        self._client = client
        self._registry_key = registry_key
        self._shards = shards
        self._pipes: dict[int, Any] = {}
        self._single: Any = None
        if not is_cluster(client):
            self._single = client.pipeline(transaction=True)
            # Registering the shards in the same transaction, every time, keeps
            # the registry right even after the keyspace was emptied behind
            # our back.
            if registry_key is not None:
                self._single.sadd(registry_key, *shards)

    def for_shard(self, shard: int) -> Any:
        if self._single is not None:
            return self._single
        if shard not in self._pipes:
            self._pipes[shard] = self._client.pipeline(transaction=True)
        return self._pipes[shard]

    def execute(self) -> None:
        """Run the write; on a cluster, registry first, then shard by shard."""
        if self._single is not None:
            self._single.execute()
            return
        if self._registry_key is not None:
            self._client.sadd(self._registry_key, *self._shards)
        for pipe in self._pipes.values():
            pipe.execute()
