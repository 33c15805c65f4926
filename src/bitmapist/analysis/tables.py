"""The tables analyses return: plain rows, and every output built from them.

A ``Table`` is a grid of counts, one row per label (a cohort's period, a
lifecycle's period, an attribute), with an optional leading column of totals.
Every count has a base it is a share of (a cohort's size, a period's active
ids, the whole of a breakdown), so each table can be read as counts or as
percentages, and the share colours the heat map. A cell is ``None`` when it
cannot be known yet: its period has not begun.

``CohortTable``, ``LifecycleTable`` and ``BreakdownTable`` add what their
analysis knows; the outputs (pandas, CSV, HTML, terminal, matplotlib) live in
``render`` and are the same for all.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..periods import Granularity, Period
from . import render
from .extras import optional

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["BreakdownTable", "CohortTable", "LifecycleTable", "Table"]

Count = int | None
Value = str | int | float | None


@dataclass(frozen=True)
class Table:
    """Counts by row label and column, each with the base it is a share of."""

    title: str
    index_name: str
    labels: tuple[str, ...]
    total_name: str | None
    totals: tuple[Count, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[Count, ...], ...]
    bases: tuple[tuple[Count, ...], ...]

    @property
    def header(self) -> tuple[str, ...]:
        total = () if self.total_name is None else (self.total_name,)
        return (self.index_name, *total, *self.columns)

    def shares(self) -> list[list[float | None]]:
        """Each count over its base, from 0 to 1; None where either is unknown
        or the base is empty."""
        return [
            [
                None if count is None or not base else count / base
                for count, base in zip(row, bases, strict=True)
            ]
            for row, bases in zip(self.counts, self.bases, strict=True)
        ]

    def rows(self, percent: bool = False) -> list[tuple[Value, ...]]:
        """The table as plain tuples, ``header`` first in each: the label, the
        total if any, then the counts (or percentages, from 0 to 100)."""
        cells: list[list[Any]] = (
            [[None if s is None else 100 * s for s in row] for row in self.shares()]
            if percent
            else [list(row) for row in self.counts]
        )
        found = []
        for label, total, row in zip(self.labels, self.totals, cells, strict=True):
            leading: tuple[Value, ...] = () if self.total_name is None else (total,)
            found.append((label, *leading, *row))
        return found

    def to_pandas(self, percent: bool = False) -> Any:
        """A ``pandas.DataFrame`` indexed by label; counts are nullable integers,
        percentages floats, unknown cells missing (needs ``bitmapist[pandas]``)."""
        pandas = optional("pandas", "pandas", "to_pandas()")
        frame = pandas.DataFrame(
            [row[1:] for row in self.rows(percent)],
            index=pandas.Index(self.labels, name=self.index_name),
            columns=list(self.header[1:]),
            dtype=object,
        )
        frame = frame.astype("Float64" if percent else "Int64")
        if percent and self.total_name is not None:
            frame[self.total_name] = frame[self.total_name].astype("Int64")
        return frame

    def to_csv(self, path: str | Path | None = None, percent: bool = False) -> str:
        """The table as CSV text (written to ``path`` too, if given); unknown
        cells are empty, percentages have two decimals."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        for row in self.rows(percent):
            writer.writerow(["" if v is None else _plain(v) for v in row])
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, path: str | Path | None = None, percent: bool = True) -> str:
        """A standalone HTML page with the table as a heat map (written to
        ``path`` too, if given). No script and no external resource."""
        page = render.page(self, percent)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def _repr_html_(self) -> str:
        return render.fragment(self, percent=True)

    def to_terminal(self, percent: bool = True, color: bool = True) -> str:
        """The table as aligned text, cells shaded with 24-bit ANSI colours
        unless ``color`` is false."""
        return render.terminal(self, percent, color)

    def __str__(self) -> str:
        return self.to_terminal(color=False)

    def plot(self, percent: bool = True, ax: Axes | None = None) -> Axes:
        """A matplotlib heat map, on ``ax`` or a new pyplot figure (needs
        ``bitmapist[plot]``)."""
        return render.plot(self, percent, ax)

    def to_png(
        self,
        path: str | Path,
        percent: bool = True,
        size: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """Write the heat map as a PNG of ``size`` pixels (width, height; by
        default from the table's shape) and return that size."""
        return render.png(self, Path(path), percent, size)


def _plain(value: Value) -> Value:
    return f"{value:.2f}" if isinstance(value, float) else value


@dataclass(frozen=True)
class CohortTable(Table):
    """A retention table: row i is the cohort of period i, cell (i, j) how many
    of it were active j periods later (``None`` before that period begins)."""

    by: Granularity
    periods: tuple[Period, ...]
    cumulative: bool
    first_time: bool
    horizon: int | None

    @property
    def sizes(self) -> tuple[Count, ...]:
        return self.totals


@dataclass(frozen=True)
class LifecycleTable(Table):
    """Per period: active ids split into new, returning and resurrecting, and
    the dormant ones of the period before."""

    by: Granularity
    periods: tuple[Period, ...]
    horizon: int

    def column(self, name: str) -> tuple[Count, ...]:
        """One column by name: ``active``, ``new``, ``returning``,
        ``resurrecting`` or ``dormant``."""
        if name == self.total_name:
            return self.totals
        index = self.columns.index(name)
        return tuple(row[index] for row in self.counts)


@dataclass(frozen=True)
class BreakdownTable(Table):
    """The count of an expression split by attributes, largest first."""

    total: int

    @property
    def items(self) -> list[tuple[str, int]]:
        """(attribute, count) pairs, in the table's order."""
        return [
            (label, int(row[0] or 0))
            for label, row in zip(self.labels, self.counts, strict=True)
        ]
