"""``summarize_file``: the summary of an export streamed batch by batch (no whole frame)."""

from __future__ import annotations

import os
from typing import Any

from xcomlab.ingest.batches import iter_frames
from xcomlab.summary.core import Summary, _summarize, merge_all

__all__ = ["PENDING", "summarize_file"]

#: Batch summaries held before they are folded into the running one: one merge per
#: :data:`PENDING` batches keeps the cost of merging near linear in the groups.
PENDING = 16


def summarize_file(source: str | os.PathLike[str] | Any, **load_options: Any) -> Summary:
    """Summarise an export without building its frame: memory grows with groups, not rows.

    Parameters
    ----------
    source
        Anything :func:`xcomlab.load_export` reads.
    **load_options
        ``format, tables, errors, airflow_schema, value_mode, chunk_rows`` as for
        :func:`xcomlab.ingest.batches.iter_frames`.

    Returns
    -------
    Summary
        Equal to ``summarize_frame(load_export(source, ...))``.
    """
    done = Summary.empty()
    table = Summary.empty()  # the current table, folded into ``done`` when it ends
    pending: list[Summary] = []
    current = (-1, 0)
    for item in iter_frames(source, **load_options):
        if (item.table_index, item.attempt) != current:
            if item.table_index != current[0]:
                done = merge_all([done, table, *pending])
            # a new table, or the fast path gave up: drop what the old attempt summarised
            table, pending = Summary.empty(), []
            current = (item.table_index, item.attempt)
        if len(item.frame):
            pending.append(_summarize(item.frame, canonical=False))  # merge_all sorts
        if len(pending) >= PENDING:
            table, pending = merge_all([table, *pending]), []
    return merge_all([done, table, *pending])
