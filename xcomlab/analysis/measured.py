"""Measured against modelled: the on-disk model beside what a connected database reports.

:func:`compare` puts :class:`~xcomlab.ingest.dbsize.MeasuredSize` (read from the database by
:func:`~xcomlab.ingest.dbsize.measure_sizes`) next to :func:`~xcomlab.analysis.disk.estimate`
for the same tables, with the model's error. :func:`measured_ratio` is the on-disk ratio a
forecast starts from when a database is connected: measured bytes of the live table per
logical byte, so the projection's "now" is the database's own figure.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from xcomlab.analysis.disk import estimate
from xcomlab.ingest.dbsize import MeasuredSize
from xcomlab.summary import Summary

__all__ = ["compare", "measured_ratio", "measured_summary"]

_PARTS = {"table": "table_bytes", "out_of_line": "out_of_line_bytes"}


def compare(frame: pd.DataFrame | Summary, measured: MeasuredSize) -> pd.DataFrame:
    """Modelled and measured on-disk bytes per figure, with the model's error.

    ``frame`` is an XCom frame or its :class:`~xcomlab.summary.Summary` (the model then runs
    over size buckets: within 1 % of the per-row figure on the samples).

    Returns
    -------
    pandas.DataFrame
        Index ``figure`` (``on_disk_bytes``: the ``xcom`` table; ``on_disk_bytes_all_tables``;
        then the ``xcom`` table's parts ``table``, ``out_of_line``, ``indexes`` where the
        database reports them); columns ``scope, modelled_bytes, measured_bytes, error_pct``
        (``100 × (modelled − measured) / measured``).
    """
    rows: list[dict[str, Any]] = []
    live = estimate(frame, measured.dialect, tables="live")
    for figure, scope in (("on_disk_bytes", "live"), ("on_disk_bytes_all_tables", "all")):
        est = live if scope == "live" else estimate(frame, measured.dialect, tables="all")
        rows.append(_row(figure, est.scope, est.total_bytes, measured.total_bytes(scope)))
    t = measured.tables.get("xcom")
    if t is not None and t.total_bytes == (t.table_bytes or 0) + (t.out_of_line_bytes or 0) + (t.index_bytes or 0):
        for part, attr in _PARTS.items():
            rows.append(_row(part, "xcom table", live.breakdown.get(part, 0), getattr(t, attr)))
        indexes = sum(v for k, v in live.breakdown.items() if k not in _PARTS)
        if measured.dialect == "mysql":  # InnoDB's data_length holds the off-page BLOB pages
            rows[-2] = _row("table", "xcom table", live.breakdown["table"] + live.breakdown["out_of_line"],
                            t.table_bytes)
            rows[-1] = _row("out_of_line", "xcom table", live.breakdown["out_of_line"], None)
        rows.append(_row("indexes", "xcom table", indexes, t.index_bytes))
    return pd.DataFrame(rows).set_index("figure")


def _row(figure: str, scope: str, modelled: int, measured: int | None) -> dict[str, Any]:
    err = round(100 * (modelled - measured) / measured, 1) if measured else None
    return {"figure": figure, "scope": scope, "modelled_bytes": int(modelled),
            "measured_bytes": measured, "error_pct": err}


def measured_ratio(frame: pd.DataFrame | Summary, measured: MeasuredSize) -> float | None:
    """Measured on-disk bytes of the ``xcom`` table per logical value byte (None when unknown)."""
    live = measured.total_bytes("live")
    logical = estimate(frame, measured.dialect, tables="live").logical_bytes
    return live / logical if live and logical else None


def measured_summary(frame: pd.DataFrame | Summary, measured: MeasuredSize) -> dict[str, Any]:
    """JSON-ready: the measurement, the comparison table and the measured ratio (``summarize``'s
    ``measured_on_disk`` when a database is connected)."""
    table = compare(frame, measured).reset_index()
    return {**measured.as_dict(), "disk_ratio": measured_ratio(frame, measured),
            "comparison": table.astype(object).where(table.notna(), None).to_dict(orient="records")}
