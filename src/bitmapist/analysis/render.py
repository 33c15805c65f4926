"""Renderings of a ``Table``: an HTML heat map, a coloured terminal table, and
a matplotlib heat map (also written as PNG).

Every rendering shades a cell by its share of its base (see ``tables``), on
one colour scale from pale to deep blue, and leaves unknown cells blank.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .extras import optional

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .tables import Table

__all__ = ["fragment", "page", "plot", "png", "shade", "terminal"]

_PALE = (247, 251, 255)
_DEEP = (8, 69, 148)
_MISSING = "#f2f2f2"


def shade(share: float) -> tuple[int, int, int]:
    """The colour of a share from 0 to 1 (clamped)."""
    t = min(max(share, 0.0), 1.0)
    return tuple(  # type: ignore[return-value]
        round(p + (d - p) * t) for p, d in zip(_PALE, _DEEP, strict=True)
    )


def _ink(share: float) -> str:
    """Text colour that stays readable on the cell's shade."""
    return "#ffffff" if share > 0.5 else "#1a1a1a"


def _text(value: Any, percent: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, float) or percent:
        return f"{value:.1f}%"
    return f"{value:,}"


def _cells(table: Table, percent: bool) -> list[list[tuple[str, float | None]]]:
    """For each row, each value cell's text and share."""
    found = []
    for row, shares in zip(table.rows(percent), table.shares(), strict=True):
        values = row[len(table.header) - len(table.columns) :]
        found.append(
            [(_text(v, percent), s) for v, s in zip(values, shares, strict=True)]
        )
    return found


def _leading(table: Table) -> list[list[str]]:
    """For each row, the label and the total (if any), as text."""
    return [
        [row[0] if isinstance(row[0], str) else str(row[0])]
        + ([] if table.total_name is None else [_text(row[1], False)])
        for row in table.rows()
    ]


# -- HTML

_STYLE = """
table.bitmapist { border-collapse: collapse; font: 13px/1.3 system-ui, sans-serif; }
table.bitmapist caption { font-weight: 600; text-align: left; padding: 4px 0; }
table.bitmapist th, table.bitmapist td { padding: 3px 8px; text-align: right;
  border: 1px solid #ffffff; white-space: nowrap; }
table.bitmapist th { background: #e8e8e8; }
table.bitmapist th[scope=row] { text-align: left; }
"""


def fragment(table: Table, percent: bool) -> str:
    """The table as one ``<table>`` element with its colours inline, as Jupyter
    shows it."""
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in table.header)
    body = []
    for leading, cells in zip(_leading(table), _cells(table, percent), strict=True):
        parts = [f'<th scope="row">{html.escape(leading[0])}</th>']
        parts += [f"<td>{html.escape(text)}</td>" for text in leading[1:]]
        for text, share in cells:
            if share is None:
                style = f"background:{_MISSING}"
            else:
                r, g, b = shade(share)
                style = f"background:rgb({r},{g},{b});color:{_ink(share)}"
            parts.append(f'<td style="{style}">{html.escape(text)}</td>')
        body.append(f"<tr>{''.join(parts)}</tr>")
    return (
        f'<table class="bitmapist"><caption>{html.escape(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def page(table: Table, percent: bool) -> str:
    """A standalone HTML page holding the table."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(table.title)}</title><style>{_STYLE}</style></head>"
        f"<body>{fragment(table, percent)}</body></html>\n"
    )


# -- terminal


def terminal(table: Table, percent: bool, color: bool) -> str:
    """Aligned columns, with 24-bit ANSI background colours when ``color``."""
    leading = _leading(table)
    cells = _cells(table, percent)
    grid = [list(table.header)]
    for lead, row in zip(leading, cells, strict=True):
        grid.append(lead + [text for text, _ in row])
    widths = [max(len(line[i]) for line in grid) for i in range(len(table.header))]
    first_value = len(table.header) - len(table.columns)

    def line(texts: Sequence[str], shares: Sequence[float | None]) -> str:
        parts = []
        for i, text in enumerate(texts):
            padded = text.ljust(widths[i]) if i == 0 else text.rjust(widths[i])
            share = shares[i - first_value] if i >= first_value else None
            if color and share is not None:
                r, g, b = shade(share)
                ink = "97" if share > 0.5 else "30"
                padded = f"\x1b[48;2;{r};{g};{b}m\x1b[{ink}m {padded} \x1b[0m"
            else:
                padded = f" {padded} "
            parts.append(padded)
        return "".join(parts).rstrip()

    lines = [table.title, line(grid[0], [None] * len(table.columns))]
    for texts, row in zip(grid[1:], cells, strict=True):
        lines.append(line(texts, [share for _, share in row]))
    return "\n".join(lines)


# -- matplotlib


def plot(table: Table, percent: bool, ax: Axes | None) -> Axes:
    """Draw the heat map on ``ax``, or on a new pyplot figure."""
    optional("matplotlib", "plot", "plot()")
    if ax is None:
        pyplot = optional("matplotlib.pyplot", "plot", "plot()")
        _, ax = pyplot.subplots(figsize=_inches(table, 100))
    shares = np.array(
        [[np.nan if s is None else s for s in row] for row in table.shares()],
        dtype=float,
    ).reshape(len(table.labels), len(table.columns))
    colormap = optional("matplotlib.colors", "plot", "plot()").LinearSegmentedColormap
    scale = colormap.from_list(
        "bitmapist", [tuple(c / 255 for c in _PALE), tuple(c / 255 for c in _DEEP)]
    )
    scale = scale.with_extremes(bad=_MISSING)
    ax.imshow(shares, cmap=scale, vmin=0.0, vmax=1.0, aspect="auto")
    for i, row in enumerate(_cells(table, percent)):
        for j, (text, share) in enumerate(row):
            if text:
                color = _ink(share) if share is not None else "#1a1a1a"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(table.columns)), table.columns)
    labels = [" ".join(lead) for lead in _leading(table)]
    ax.set_yticks(range(len(table.labels)), labels)
    ax.tick_params(labelsize=7)
    ax.set_title(table.title, fontsize=9)
    return ax


def _inches(table: Table, dpi: int) -> tuple[float, float]:
    width, height = _default_size(table)
    return width / dpi, height / dpi


def _default_size(table: Table) -> tuple[int, int]:
    """Room for the labels and about 60 by 26 pixels a cell."""
    return 220 + 60 * len(table.columns), 140 + 26 * len(table.labels)


def png(
    table: Table, path: Path, percent: bool, size: tuple[int, int] | None
) -> tuple[int, int]:
    """Write the heat map to ``path`` as a PNG of ``size`` pixels."""
    figure_module = optional("matplotlib.figure", "plot", "to_png()")
    agg = optional("matplotlib.backends.backend_agg", "plot", "to_png()")
    width, height = size if size is not None else _default_size(table)
    dpi = 100
    # A Figure of its own (not pyplot's), so writing a file changes no state.
    figure = figure_module.Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    agg.FigureCanvasAgg(figure)
    plot(table, percent, figure.add_subplot())
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=dpi)
    return width, height
