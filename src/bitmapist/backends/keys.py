"""Key names in Redis: the one module that knows how a bitmap becomes a key.

Ids are split into shards of ``shard_width`` consecutive ids; a bitmap is
stored as one Redis string per shard that holds any of its ids, at the id's
offset within its shard. Every key of a shard carries the shard in its hash
tag, so a query over one shard touches one hash slot (and one cluster node),
and memory follows the ids marked, not the largest one.

    {prefix}:{<shard>}:e:<event>:<period code>   an event in one period
    {prefix}:{<shard>}:a:<attribute>             an attribute
    {prefix}:{<shard>}:u                         every id ever marked
    {prefix}:{<shard>}:names:e / :names:a        names stored in the shard
    {prefix}:{<shard>}:periods:<event>           period codes of an event
    {prefix}:{<shard>}:tmp:<n>                   scratch of a running query
    {prefix}:{meta}:shards                       every shard ever written

The registries (names, periods, shards) let bitmapist list and delete what it
stored without KEYS or SCAN. Period codes contain no ":", so a key names
exactly one bitmap even when an event name contains ":".
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigurationError
from ..expressions import BitmapRef, Kind
from ..validation import check_prefix

__all__ = ["DEFAULT_PREFIX", "DEFAULT_SHARD_WIDTH", "ShardedLayout"]

DEFAULT_PREFIX = "bitmapist"
DEFAULT_SHARD_WIDTH = 2**20

_KIND_LETTER = {Kind.EVENT: "e", Kind.ATTRIBUTE: "a"}


@dataclass(frozen=True)
class ShardedLayout:
    """The default layout: a prefix, and shards in hash tags."""

    prefix: str = DEFAULT_PREFIX
    shard_width: int = DEFAULT_SHARD_WIDTH

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        width = self.shard_width
        if (
            isinstance(width, bool)
            or not isinstance(width, int)
            or not 8 <= width <= 2**32
            or width & (width - 1)
        ):
            raise ConfigurationError(
                f"shard width {width!r} is not allowed: it must be a power of two "
                f"from 8 to 2**32"
            )

    def shard_of(self, id: int) -> tuple[int, int]:
        """The shard that holds ``id``, and the id's offset within it."""
        return divmod(id, self.shard_width)

    def _base(self, shard: int) -> str:
        return f"{self.prefix}:{{{shard}}}"

    def bitmap_key(self, ref: BitmapRef, shard: int) -> str:
        if ref.kind is Kind.UNIVERSE:
            return f"{self._base(shard)}:u"
        if ref.period is None:
            return f"{self._base(shard)}:{_KIND_LETTER[ref.kind]}:{ref.name}"
        return self.event_key(ref.name, ref.period.code, shard)

    def event_key(self, event: str, period_code: str, shard: int) -> str:
        return f"{self._base(shard)}:e:{event}:{period_code}"

    def names_key(self, kind: Kind, shard: int) -> str:
        return f"{self._base(shard)}:names:{_KIND_LETTER[kind]}"

    def periods_key(self, event: str, shard: int) -> str:
        return f"{self._base(shard)}:periods:{event}"

    def temp_key(self, shard: int, n: int) -> str:
        return f"{self._base(shard)}:tmp:{n}"

    def shards_key(self) -> str:
        return f"{self.prefix}:{{meta}}:shards"
