"""Analyses over bitmaps: retention (cohort) tables, lifecycle, breakdowns by
attribute, and date ranges; and the tables they return.

``Bitmapist.cohort``, ``.lifecycle``, ``.breakdown`` and ``.get_range_event``
are the entry points; the functions here do the work, each building every
expression a table needs and asking the backend for all counts at once.
"""

from __future__ import annotations

from .breakdown import breakdown_table
from .lifecycle import lifecycle_table
from .ranges import range_expression
from .retention import DEFAULT_HORIZON, cohort_table
from .sources import Source
from .tables import BreakdownTable, CohortTable, LifecycleTable, Table

__all__ = [
    "DEFAULT_HORIZON",
    "BreakdownTable",
    "CohortTable",
    "LifecycleTable",
    "Source",
    "Table",
    "breakdown_table",
    "cohort_table",
    "lifecycle_table",
    "range_expression",
]
