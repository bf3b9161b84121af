"""Summaries of an export: grouped tables sized by groups, never rows, that merge.

See :mod:`xcomlab.summary.core` for what a :class:`Summary` holds and
:mod:`xcomlab.summary.histogram` for the quantile error bound; :mod:`xcomlab.summary.pushdown`
summarises a live database in SQL.
"""

from xcomlab.summary.core import GROUPS, Summary, limit_targets, merge_all, summarize_frame
from xcomlab.summary.histogram import QUANTILE_RELATIVE_ERROR
from xcomlab.summary.pushdown import PushdownStats, summarize_db, summarize_source
from xcomlab.summary.stream import summarize_file

__all__ = ["GROUPS", "QUANTILE_RELATIVE_ERROR", "PushdownStats", "Summary", "limit_targets", "merge_all",
           "summarize_db", "summarize_file", "summarize_frame", "summarize_source"]
