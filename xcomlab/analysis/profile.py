"""Profile: how many XComs and bytes, per DAG / task / key, and which values dominate.

The top of :mod:`xcomlab.analysis`: :func:`summarize` gathers the audit, disk and secret
numbers, so those modules never import this one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from xcomlab import schema as S
from xcomlab.analysis.audit import check_limits, migration_audit
from xcomlab.analysis.disk import DIALECTS, scope_label
from xcomlab.analysis.disk import estimate as estimate_disk
from xcomlab.analysis.secrets import SecretReport, scan_secrets, summary_secrets
from xcomlab.errors import XcomlabError
from xcomlab.ingest import load_report
from xcomlab.ingest.deployment import deployment_of, infer_deployment
from xcomlab.schema import primary_rows
from xcomlab.summary import Summary
from xcomlab.summary.histogram import representative

__all__ = ["Profile", "daily", "primary_rows", "profile", "summarize"]

_QUANTILES = {"p50_bytes": 0.5, "p90_bytes": 0.9, "p99_bytes": 0.99}


def _group(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    sizes = frame[S.VALUE_BYTES].astype("float64")
    g = sizes.groupby([frame[c] for c in by], observed=True)
    out = pd.DataFrame({"rows": g.size(), "value_bytes": g.sum(min_count=0).astype("int64")})
    for name, q in _QUANTILES.items():
        out[name] = g.quantile(q)
    out["max_bytes"] = g.max()
    total = out["value_bytes"].sum()
    out["share"] = out["value_bytes"] / total if total else 0.0
    return out.sort_values("value_bytes", ascending=False)


@dataclass(frozen=True)
class Profile:
    """Sizes of an XCom frame's live rows, per DAG, task and key.

    Attributes
    ----------
    summary : dict
        The headline numbers (see :func:`summarize`).
    by_dag, by_task, by_key : pandas.DataFrame
        ``rows, value_bytes, p50_bytes, p90_bytes, p99_bytes, max_bytes, share``,
        largest first.
    top_rows : pandas.DataFrame
        The largest single values.
    daily : pandas.DataFrame
        ``rows, value_bytes`` written per UTC day (by ``timestamp``), every day from the
        first to the last, zeros included.
    mapped : pandas.DataFrame
        Per mapped task (``dag_id, task_id``): ``runs, rows, mean_fan_out, max_fan_out``.
    """

    summary: dict[str, Any]
    by_dag: pd.DataFrame
    by_task: pd.DataFrame
    by_key: pd.DataFrame
    top_rows: pd.DataFrame
    daily: pd.DataFrame
    mapped: pd.DataFrame
    sizes: pd.Series

    def plot_sizes(self, ax: Any = None, *, cdf: bool = False) -> Any:
        """Log-scale histogram (or CDF) of value sizes; returns the matplotlib Axes."""
        from xcomlab import plots  # imported on use: it loads matplotlib

        return plots.size_cdf(self.sizes, ax=ax) if cdf else plots.size_hist(self.sizes, ax=ax)

    def plot_top(self, by: str = "dag", n: int = 10, ax: Any = None) -> Any:
        """Bar chart of the ``n`` largest DAGs, tasks or keys by bytes."""
        from xcomlab import plots  # imported on use: it loads matplotlib

        table = {"dag": self.by_dag, "task": self.by_task, "key": self.by_key}[by]
        return plots.top_bar(table, n=n, ax=ax, title=f"Largest {by}s by value bytes")

    def plot_daily(self, ax: Any = None) -> Any:
        """Bytes written per day."""
        from xcomlab import plots  # imported on use: it loads matplotlib

        return plots.daily(self.daily, ax=ax)

    def __repr__(self) -> str:
        s = self.summary
        return (f"Profile({s['rows']:,} rows, {s['value_bytes']:,} value bytes, "
                f"{len(self.by_dag)} DAGs, schema {s['airflow_schema']})")

    def _repr_html_(self) -> str:
        head = f"<p><b>{self!r}</b></p>"
        return head + self.by_dag.head(10).to_html(float_format=lambda x: f"{x:,.1f}")


def profile(frame: pd.DataFrame | Summary, *, top: int = 10) -> Profile:
    """Profile the live rows of an XCom frame, or of its :class:`~xcomlab.summary.Summary`.

    From a summary the rows, bytes and largest sizes are exact and the quantiles within
    :data:`~xcomlab.summary.QUANTILE_RELATIVE_ERROR`; ``top_rows`` and ``mapped`` come
    from its ``largest`` and ``mapped`` tables when it has them (else empty), and
    ``sizes`` holds one entry per size bucket (its representative size) with the bucket's
    rows as ``sizes.attrs["rows"]``.

    Examples
    --------
    >>> p = xcomlab.profile(frame)  # doctest: +SKIP
    >>> p.by_dag.head()  # doctest: +SKIP
    """
    if isinstance(frame, Summary):
        return _summary_profile(frame, top)
    rows = primary_rows(S.validate_frame(frame))
    cols = [S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.VALUE_BYTES, S.ENCODING]
    top_rows = rows.nlargest(top, S.VALUE_BYTES)[cols] if len(rows) else rows[cols]
    return Profile(
        summary=summarize(frame),
        by_dag=_group(rows, [S.DAG_ID]),
        by_task=_group(rows, [S.DAG_ID, S.TASK_ID]),
        by_key=_group(rows, [S.KEY]),
        top_rows=top_rows.reset_index(drop=True),
        daily=daily(rows),
        mapped=_mapped(rows),
        sizes=rows[S.VALUE_BYTES].dropna().astype("int64").reset_index(drop=True),
    )


_TOP_COLUMNS = [S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.VALUE_BYTES, S.ENCODING]


def _summary_profile(whole: Summary, top: int) -> Profile:
    live = whole.primary()
    per_day = live.daily.groupby(level="day")[["rows", "value_bytes"]].sum()
    if len(per_day):
        full = pd.date_range(per_day.index.min(), per_day.index.max(), freq="D", name="date")
        per_day = per_day.reindex(full, fill_value=0)
    else:
        per_day = daily(primary_rows(S.empty_frame()))
    largest = getattr(live, "largest", None)
    if largest is not None and len(largest):
        rows = largest.reset_index()
        top_rows = rows.nlargest(top, S.VALUE_BYTES)[_TOP_COLUMNS].reset_index(drop=True)
    else:
        top_rows = S.empty_frame()[_TOP_COLUMNS]
    mapped = getattr(live, "mapped", None)
    buckets = live.histogram.groupby(level="bucket")["rows"].sum()
    sizes = pd.Series(representative(buckets.index.to_numpy()), dtype="float64")
    sizes.attrs["rows"] = buckets.to_numpy()
    return Profile(
        summary=summarize(whole),
        by_dag=live.sizes((S.DAG_ID,)), by_task=live.sizes((S.DAG_ID, S.TASK_ID)),
        by_key=live.sizes((S.KEY,)), top_rows=top_rows, daily=per_day,
        mapped=mapped if mapped is not None else pd.DataFrame(
            columns=["runs", "rows", "mean_fan_out", "max_fan_out"]),
        sizes=sizes)


def daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows and value bytes written per UTC day, with empty days as zeros."""
    if not len(frame):
        return pd.DataFrame({"rows": pd.Series(dtype="int64"), "value_bytes": pd.Series(dtype="int64")})
    day = frame[S.TIMESTAMP].dt.floor("D")
    g = frame[S.VALUE_BYTES].astype("float64").groupby(day)
    out = pd.DataFrame({"rows": g.size(), "value_bytes": g.sum().astype("int64")})
    full = pd.date_range(out.index.min(), out.index.max(), freq="D", name="date")
    return out.reindex(full, fill_value=0)


def _mapped(frame: pd.DataFrame) -> pd.DataFrame:
    m = frame[frame[S.MAP_INDEX] >= 0]
    cols = ["runs", "rows", "mean_fan_out", "max_fan_out"]
    if not len(m):
        return pd.DataFrame(columns=cols)
    per_run = m.groupby([S.DAG_ID, S.TASK_ID, S.RUN_ID], observed=True)[S.MAP_INDEX].max() + 1
    g = per_run.groupby(level=[0, 1], observed=True)
    out = pd.DataFrame({"runs": g.size(), "rows": m.groupby([S.DAG_ID, S.TASK_ID], observed=True).size(),
                        "mean_fan_out": g.mean(), "max_fan_out": g.max()})
    return out.sort_values("rows", ascending=False)


def summarize(frame: pd.DataFrame | Summary, *, secrets: SecretReport | None = None, dialect: str | None = None,
              airflow: str | None = None) -> dict[str, Any]:
    """The headline numbers of an XCom frame, as plain JSON-ready values.

    Keys: ``airflow_schema, rows, value_bytes, by_dag ({dag_id: {rows, value_bytes}}),
    references, pickled, nan_values, internal_rows, first_timestamp, last_timestamp,
    sizes_exact, tables ({table: {rows, value_bytes}})``, and from the audit
    ``limit_violations ({target: rows})``, ``migration_blockers ({kind: rows}``, empty
    for Airflow 3 exports) and ``secrets`` (rows flagged: from ``secrets``, a
    :class:`~xcomlab.analysis.secrets.SecretReport`, or by scanning the ``value`` column
    when the frame kept values; else None — values were not seen). On-disk figures
    (docs/figures.md), each ``{dialect: …}`` predicted by
    :func:`~xcomlab.analysis.disk.estimate`: ``on_disk_bytes`` — the live ``xcom``
    table; ``on_disk_bytes_all_tables`` — every table read, archives included;
    ``disk_ratio`` — the live table's on-disk bytes per value byte, the ratio forecasts
    and retention use; ``on_disk_scope`` names what each covers. Counts cover the live
    ``xcom`` table (see :func:`primary_rows`); ``tables`` lists every table read.
    ``deployment`` (``dialect, dialect_from, airflow, airflow_from``) is what the source says
    (:func:`~xcomlab.ingest.deployment.infer_deployment`; ``dialect``/``airflow`` override);
    ``limit_violations_here`` counts only the limits that hold on it.
    """
    if isinstance(frame, Summary):
        return _summarize_summary(frame, secrets, dialect, airflow)
    S.validate_frame(frame)
    rows = primary_rows(frame)
    sizes = rows[S.VALUE_BYTES]
    by_dag = rows.groupby(S.DAG_ID, observed=True)[S.VALUE_BYTES].agg(["size", "sum"])
    tables = frame.groupby(S.SOURCE_TABLE, observed=True)[S.VALUE_BYTES].agg(["size", "sum"])
    schema = rows[S.AIRFLOW_SCHEMA].mode()
    exact = bool(rows[S.SIZE_EXACT].all())
    with contextlib.suppress(XcomlabError):  # a frame built by hand carries no load report
        exact = exact and load_report(frame).sizes_exact
    ts = rows[S.TIMESTAMP]
    dep = infer_deployment(frame, dialect=dialect, airflow=airflow)
    lim = check_limits(frame, dialect=dep.dialect, airflow=dep.airflow)
    return {
        "deployment": dep.as_dict(),
        "airflow_schema": str(schema.iloc[0]) if len(schema) else None,
        "rows": len(rows),
        "value_bytes": int(sizes.sum()),
        "by_dag": {str(k): {"rows": int(v["size"]), "value_bytes": int(v["sum"])}
                   for k, v in by_dag.sort_values("sum", ascending=False).iterrows()},
        "references": int(rows[S.REF_URI].notna().sum()),
        "pickled": int((rows[S.ENCODING] == "pickle").sum()),
        "nan_values": int(rows[S.HAS_NAN].sum()),
        "internal_rows": int(rows[S.INTERNAL].sum()),
        "first_timestamp": ts.min().isoformat() if len(ts) else None,
        "last_timestamp": ts.max().isoformat() if len(ts) else None,
        "sizes_exact": exact,
        "tables": {str(k): {"rows": int(v["size"]), "value_bytes": int(v["sum"])}
                   for k, v in tables.iterrows()},
        "limit_violations": lim.counts,
        "limit_violations_here": {k: v for k, v in lim.counts.items() if lim.summary.loc[k, "applies"]},
        "migration_blockers": migration_audit(frame, dialect=dep.dialect_or_default).blockers,
        "secrets": (secrets.rows_flagged if secrets is not None
                    else scan_secrets(frame).rows_flagged if S.VALUE in frame.columns else None),
        **_on_disk(frame),
    }


def _summarize_summary(whole: Summary, secrets: SecretReport | None, dialect: str | None,
                       airflow: str | None) -> dict[str, Any]:
    """:func:`summarize` on a summary: every count and byte exact, on-disk figures from
    the weighted groups (:func:`~xcomlab.analysis.disk.estimate`)."""
    live = whole.primary()
    report = whole.report
    by_dag = live.keys.groupby(level=S.DAG_ID, sort=True)[["rows", "value_bytes"]].sum()
    tables = whole.keys.groupby(level=S.SOURCE_TABLE, sort=True)[["rows", "value_bytes"]].sum()
    if report is not None:  # in the order the export holds them, as a frame's categories
        order = list(dict.fromkeys(t.table for t in report.tables if t.table in tables.index))
        tables = tables.reindex(order + [t for t in tables.index if t not in order])
    classes = live.classes.reset_index()
    first, last = live.timestamps()
    schema = live.airflow_schema()
    exact = int(live.sources["inexact_rows"].sum()) == 0 and (report is None or report.sizes_exact)
    dep = deployment_of(report, schema, dialect=dialect, airflow=airflow)
    lim = check_limits(whole, dialect=dep.dialect, airflow=dep.airflow)
    found = summary_secrets(whole) if secrets is None else secrets
    return {
        "deployment": dep.as_dict(),
        "airflow_schema": schema,
        "rows": live.rows,
        "value_bytes": live.value_bytes,
        "by_dag": _per_label(by_dag.sort_values("value_bytes", ascending=False, kind="stable")),
        "references": int(classes.loc[classes["reference"].astype(bool), "rows"].sum()),
        "pickled": int(classes.loc[classes[S.ENCODING].astype(str) == "pickle", "rows"].sum()),
        "nan_values": int(classes.loc[classes[S.HAS_NAN].astype(bool), "rows"].sum()),
        "internal_rows": int(classes.loc[classes[S.INTERNAL].astype(bool), "rows"].sum()),
        "first_timestamp": first.isoformat() if first is not None else None,
        "last_timestamp": last.isoformat() if last is not None else None,
        "sizes_exact": exact,
        "tables": _per_label(tables),
        "limit_violations": lim.counts,
        "limit_violations_here": {k: v for k, v in lim.counts.items() if lim.summary.loc[k, "applies"]},
        "migration_blockers": migration_audit(whole, dialect=dep.dialect_or_default).blockers,
        "secrets": found.rows_flagged if found is not None else None,
        **_on_disk(whole),
    }


def _per_label(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{label: {"rows": .., "value_bytes": ..}}`` of a table indexed by one label, in order
    (columns read whole: a row at a time costs seconds at 50,000 DAGs)."""
    rows, size = table["rows"].tolist(), table["value_bytes"].tolist()
    return {str(k): {"rows": int(r), "value_bytes": int(b)}
            for k, r, b in zip(table.index.tolist(), rows, size, strict=True)}


def _on_disk(frame: pd.DataFrame | Summary) -> dict[str, Any]:
    """The on-disk figures of :func:`summarize`: live table, all tables, ratio, and their labels."""
    live = {d: estimate_disk(frame, d, tables="live") for d in DIALECTS}
    every = {d: estimate_disk(frame, d, tables="all") for d in DIALECTS}
    first = next(iter(every.values()))
    return {
        "on_disk_bytes": {d: e.total_bytes for d, e in live.items()},
        "on_disk_bytes_all_tables": {d: e.total_bytes for d, e in every.items()},
        "disk_ratio": {d: e.ratio if e.logical_bytes else None for d, e in live.items()},
        "on_disk_scope": {"on_disk_bytes": scope_label(next(iter(live.values())).tables),
                          "on_disk_bytes_all_tables": scope_label(first.tables)},
    }



