"""``with bm.batch():``: marks queued in process and sent together on exit.

Each call inside the block is checked at once, as it would be outside, but
nothing is written until the block ends; then every queued write goes to the
backend in one ``write_batch``, which on Redis merges the marks per key and
shard into a few bounded commands. Each event stays atomic (see
``Backend.write_batch``); the batch as a whole is not, on Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from .backends.base import Backend, Write
from .expressions import BitmapRef
from .validation import IdArray

__all__ = ["Batcher"]


class Batcher:
    """Routes the writes of one ``Bitmapist``: straight to its backend, or
    into the batch open in the current thread."""

    def __init__(
        self,
        backend: Backend,
        written: Callable[[Iterable[BitmapRef]], None] | None = None,
    ) -> None:
        """``written`` is told the refs of every write sent (even one that
        failed part way), after it was sent."""
        self.backend = backend
        self.written = written
        # A batch belongs to the thread that opened it: another thread using
        # the same instance meanwhile writes straight through.
        self._local = threading.local()

    def write(
        self,
        refs: Sequence[BitmapRef],
        ids: IdArray,
        value: bool,
        expire_at: Mapping[BitmapRef, datetime] | None = None,
    ) -> None:
        """``expire_at`` is passed on only when it holds deadlines, as
        ``Backend.write`` asks."""
        queued: list[Write] | None = getattr(self._local, "queued", None)
        if queued is None:
            try:
                if expire_at:
                    self.backend.write(refs, ids, value, expire_at=expire_at)
                else:
                    self.backend.write(refs, ids, value)
            finally:
                if self.written is not None:
                    self.written(refs)
        elif refs and ids.size:
            queued.append(Write(tuple(refs), ids, value, expire_at or None))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Queue writes until the block ends, then send them; a block that
        raises sends nothing. A batch inside a batch joins the outer one."""
        if getattr(self._local, "queued", None) is not None:
            yield
            return
        queued: list[Write] = []
        self._local.queued = queued
        try:
            yield
        finally:
            self._local.queued = None
        try:
            self.backend.write_batch(queued)
        finally:
            self._tell(queued)

    def _tell(self, writes: Sequence[Write]) -> None:
        if self.written is not None:
            self.written({ref for write in writes for ref in write.refs})
