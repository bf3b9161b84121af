"""Summaries of an export: grouped tables sized by groups, never rows, that merge.

See :mod:`xcomlab.summary.core` for what a :class:`Summary` holds,
:mod:`xcomlab.summary.histogram` for the quantile error bound,
:mod:`xcomlab.summary.store` for the file ``Summary.save`` writes and
:mod:`xcomlab.summary.pushdown` for the summary of a live database computed in SQL.
"""

from xcomlab.summary.core import (
    FINDING_COLUMNS,
    GROUPS,
    LARGEST_PER_TABLE,
    SECRET_ROWS_PER_GROUP,
    TABLES,
    THRESHOLD_GRID,
    Summary,
    limit_targets,
    merge_all,
    over_targets,
    summarize_frame,
)
from xcomlab.summary.histogram import QUANTILE_RELATIVE_ERROR
from xcomlab.summary.pushdown import PushdownStats, summarize_db, summarize_source
from xcomlab.summary.stream import summarize_file

__all__ = ["FINDING_COLUMNS", "GROUPS", "LARGEST_PER_TABLE", "QUANTILE_RELATIVE_ERROR",
           "SECRET_ROWS_PER_GROUP", "TABLES", "THRESHOLD_GRID", "PushdownStats", "Summary",
           "limit_targets", "merge_all", "over_targets", "summarize_db", "summarize_file",
           "summarize_frame", "summarize_source"]
