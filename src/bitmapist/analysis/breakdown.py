"""Breakdowns: the count of an expression split by attributes.

Each attribute's row counts ``expression AND attribute``; its share is of the
whole expression. The attributes are a given list, or every stored attribute
whose name starts with ``prefix`` (such as ``country:``). Rows are sorted by
count, largest first, ties by name; ``top`` keeps the first N. The counts go
to the backend in one ``count_many`` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..bitmaps import Bitmap
from ..errors import ConfigurationError
from ..expressions import BitmapRef, Kind, Op, Operation
from ..validation import check_name
from .sources import check_count, describe, owned
from .tables import BreakdownTable

if TYPE_CHECKING:
    from ..core import Bitmapist

__all__ = ["breakdown_table"]


def breakdown_table(
    bm: Bitmapist,
    expression: Bitmap,
    *,
    attributes: Sequence[str] | None = None,
    prefix: str | None = None,
    top: int | None = None,
) -> BreakdownTable:
    """The count of ``expression`` split by ``attributes`` (a list of names)
    or by every stored attribute whose name starts with ``prefix``, largest
    first; ``top`` keeps the first N. Shares are of the whole expression."""
    whole = owned(bm, expression, "expression")
    if (attributes is None) == (prefix is None):
        raise ConfigurationError("pass either attributes=[...] or prefix=..., not both")
    if top is not None:
        top = check_count(top, "top")
    if attributes is not None:
        if isinstance(attributes, str):
            raise ConfigurationError(
                f"attributes {attributes!r} must be a list of names, not one string"
            )
        names = sorted({check_name(a, "attribute name") for a in attributes})
    else:
        assert prefix is not None
        check_name(prefix, "attribute prefix")
        names = [n for n in bm.get_attribute_names() if n.startswith(prefix)]
    refs = [BitmapRef(Kind.ATTRIBUTE, name) for name in names]
    total, *counts = bm._count_many(
        [whole, *(Operation(Op.AND, (whole, ref)) for ref in refs)]
    )
    ranked = sorted(zip(names, counts, strict=True), key=lambda nc: (-nc[1], nc[0]))
    if top is not None:
        ranked = ranked[:top]
    label = prefix if prefix is not None else "attributes"
    return BreakdownTable(
        title=f"{describe(expression)} by {label}",
        index_name="attribute",
        labels=tuple(name for name, _ in ranked),
        total_name=None,
        totals=tuple(None for _ in ranked),
        columns=("count",),
        counts=tuple((count,) for _, count in ranked),
        bases=tuple((total,) for _ in ranked),
        total=total,
    )
