"""A workload fitted on a summary: the same model as :func:`~xcomlab.simulate.fit_workload`, from groups.

Reads the live groups of a :class:`~xcomlab.summary.Summary`: ``keys`` (rows, size range per
stream), ``histogram`` (the size sketches), ``weekly`` (runs, first write, bytes per stream and
ISO week) and ``mapped``. What differs from the frame path (bounded on the bundled samples and
a synthetic export in ``tests/simulate/test_fit_summary.py``):

* runs are the rows with ``map_index <= 0`` (one per run of a stream, by Airflow's primary
  key; see :func:`xcomlab.summary.core.weekly_table`), not distinct run ids: equal unless a
  mapped run lost its index 0;
* sketches are quantiles of the size buckets (each a bucket's representative clamped to the
  stream's exact extremes: within ≈ 2 %, :data:`~xcomlab.summary.histogram.QUANTILE_RELATIVE_ERROR`),
  detrended by one factor per stream (its weeks' bytes over the growth at each week's middle)
  instead of row by row;
* weekly means and runs are per ISO week (Monday, UTC), not per 7 days from the first write;
* stored sizes throughout (the frame path takes an offloaded value's ``ref_bytes`` when
  known), and rows whose size the export lost are left out of the sketches (the frame path
  gives them the median).

A summary without ``weekly`` (pushed down to a database, or saved before the table existed)
is fitted from ``run_keys`` instead: a stream's runs are the runs of its DAG that wrote its
key (at most its rows), its start the first of them, and growth 0; ``source`` says so.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import SchemaMismatchError
from xcomlab.summary import Summary
from xcomlab.summary.histogram import representative

__all__ = ["fit_summary"]

_DAY_NS: Final = 86_400 * 10**9
_DAYS_PER_MONTH: Final = 30.0
_STREAM: Final = [S.DAG_ID, S.TASK_ID, S.KEY]


def fit_summary(summary: Summary, *, sketch_size: int, pulls_per_push: float,
                fit_growth: bool) -> dict[str, Any]:
    """The :class:`~xcomlab.simulate.Workload` fields fitted on ``summary``'s live groups."""
    live = summary.primary()
    keys = live.keys.groupby(level=_STREAM, sort=True, dropna=False).agg(
        rows=("rows", "sum"), sized_rows=("sized_rows", "sum"), value_bytes=("value_bytes", "sum"),
        lo=("min_bytes", "min"), hi=("max_bytes", "max"))
    first_ts, last_ts = live.timestamps()
    if not len(keys) or first_ts is None or last_ts is None:
        msg = "the summary has no live xcom rows with a timestamp; summarise an export whose xcom table has rows"
        raise SchemaMismatchError(msg)
    t0 = first_ts.floor("D")
    last = (last_ts - t0) / pd.Timedelta(days=1)
    weekly = live.weekly.groupby(level=[*_STREAM, "week"], sort=True, dropna=False).agg(
        rows=("rows", "sum"), sized_rows=("sized_rows", "sum"), value_bytes=("value_bytes", "sum"),
        runs=("runs", "sum"), first_timestamp=("first_timestamp", "min"))
    full = len(weekly) > 0
    if full:
        runs, first = _from_weekly(weekly, keys.index, t0)
    else:
        runs, first = _from_run_keys(live, keys, t0)
    rows = keys["rows"].to_numpy(np.float64)
    runs = np.clip(runs, 1.0, np.maximum(rows, 1.0))
    window = np.maximum(last - first, 1.0)
    varies = (keys["hi"].astype("float64") > keys["lo"].astype("float64")).fillna(False).to_numpy(bool)
    growth = fit_growth and full
    pooled = _size_growth(weekly, keys, varies, t0, last) if growth else 0.0
    size_g = np.where(varies, pooled, 0.0)
    run_g = _run_growth(weekly, keys.index, first, t0, last) if growth else 0.0
    sketches = _sketches(live, keys, sketch_size) * _detrend(weekly, keys.index, size_g, t0)[:, None]
    mapped = _mapped(live, keys.index)
    ids = keys.index
    how = "" if full else "; no weekly table (pushed down or saved before it): runs from run_keys, no growth"
    return dict(
        dag_id=np.array([str(t[0]) for t in ids], object),
        task_id=np.array([str(t[1]) for t in ids], object),
        key=np.array([str(t[2]) for t in ids], object),
        runs_per_day=runs / window,
        fan_out=np.maximum(rows / runs, 1.0),
        mapped=mapped,
        sizes=sketches.astype(np.float32),
        pulls_per_push=np.full(len(ids), float(pulls_per_push)),
        growth_per_month=np.full(len(ids), run_g),
        size_growth_per_month=size_g,
        start_day=np.floor(first),
        source=f"fitted on a summary of {int(rows.sum()):,} rows over {last:.1f} days{how}",
        meta={"start": t0, "rows": int(rows.sum()), "days": float(last), "shape": "summary"},
    )


def _streams(index: pd.Index) -> pd.MultiIndex:
    """The ``(dag_id, task_id, key)`` of each entry of a grouped table's index."""
    return pd.MultiIndex.from_arrays([index.get_level_values(c) for c in _STREAM])


def _days(stamps: Any, t0: pd.Timestamp) -> np.ndarray:
    return np.asarray((pd.DatetimeIndex(stamps) - t0) / pd.Timedelta(days=1), dtype=np.float64)


def _from_weekly(weekly: pd.DataFrame, ids: pd.Index, t0: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Runs (rows at ``map_index <= 0``) and first write day per stream."""
    per = weekly.groupby(level=_STREAM, sort=False, dropna=False).agg(
        runs=("runs", "sum"), first=("first_timestamp", "min")).reindex(ids)
    return per["runs"].fillna(0).to_numpy(np.float64), _days(per["first"], t0)


def _from_run_keys(live: Summary, keys: pd.DataFrame, t0: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Fallback: per stream, the runs of its DAG that wrote its key and the first of them."""
    rk = live.run_keys.groupby(level=[S.DAG_ID, S.KEY], sort=False, dropna=False).agg(
        runs=("rows", "size"), first=("first_timestamp", "min"))
    if len(live.old_run_keys):  # runs rolled up per day (xcomlab.summary.runs) count too
        old = live.old_run_keys.groupby(level=[S.DAG_ID, S.KEY], sort=False, dropna=False).agg(
            runs=("runs", "sum"), first=("first_timestamp", "min"))
        both = pd.concat([rk, old])
        rk = both.groupby(level=[0, 1], sort=False, dropna=False).agg(runs=("runs", "sum"), first=("first", "min"))
    at = pd.MultiIndex.from_arrays([keys.index.get_level_values(S.DAG_ID), keys.index.get_level_values(S.KEY)])
    got = rk.reindex(at)
    first = _days(got["first"], t0)
    return got["runs"].fillna(1).to_numpy(np.float64), np.nan_to_num(first, nan=0.0)


def _week_days(weekly: pd.DataFrame, t0: pd.Timestamp) -> np.ndarray:
    """Day (from ``t0``) of each week's middle."""
    return _days(weekly.index.get_level_values("week"), t0) + 3.5


def _detrend(weekly: pd.DataFrame, ids: pd.Index, growth: np.ndarray, t0: pd.Timestamp) -> np.ndarray:
    """Per stream, its mean size at day 0 over its mean size: each week's bytes divided by the
    growth at the week's middle, as the frame path divides each row's size at its day."""
    if not len(weekly):
        return np.ones(len(ids))
    g = pd.Series(growth, index=ids).reindex(_streams(weekly.index)).to_numpy(np.float64)
    raw = weekly["value_bytes"].to_numpy(np.float64)
    at0 = raw / (1 + g * np.maximum(_week_days(weekly, t0), 0.0) / _DAYS_PER_MONTH)
    per = pd.DataFrame({"at0": at0, "raw": raw}, index=weekly.index).groupby(level=_STREAM, sort=False).sum()
    per = per.reindex(ids)
    return (per["at0"] / per["raw"].where(per["raw"] > 0)).fillna(1.0).to_numpy(np.float64)


def _line_ratio(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Slope over intercept of a weighted least-squares line ``y = a + b x`` (0 if unfit)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    b, a = np.polyfit(x, y, 1, w=np.sqrt(w))
    return float(b / a) if a > 0 else 0.0


def _size_growth(weekly: pd.DataFrame, keys: pd.DataFrame, varies: np.ndarray, t0: pd.Timestamp,
                 last: float) -> float:
    """Pooled relative size growth per month, as the frame path: per stream and week the mean
    size over the stream's mean (clipped at 10); weeks average the streams weighted by bytes."""
    if last < 14:
        return 0.0
    use = pd.Series(varies, index=keys.index)
    w = weekly[weekly["sized_rows"] > 0]
    w = w[use.reindex(_streams(w.index)).to_numpy(bool)]
    if not len(w) or not (w["value_bytes"] > 0).any():
        return 0.0
    total = w["value_bytes"].groupby(level=_STREAM, sort=False).transform("sum").to_numpy(np.float64)
    sized = w["sized_rows"].groupby(level=_STREAM, sort=False).transform("sum").to_numpy(np.float64)
    base = total / sized
    keep = base > 0
    rel = np.clip(w["value_bytes"].to_numpy(np.float64) / w["sized_rows"].to_numpy(np.float64)
                  / np.where(keep, base, 1.0), None, 10.0)
    day = _week_days(w, t0)
    frame = pd.DataFrame({"rel": rel * total, "w": total, "x": day / _DAYS_PER_MONTH})[keep]
    per_week = frame.groupby("x", sort=True).sum()
    weekly_rel = per_week["rel"] / per_week["w"]
    return _line_ratio(per_week.index.to_numpy(np.float64), weekly_rel.to_numpy(),
                       (per_week["w"] / per_week["w"].sum()).to_numpy())


def _run_growth(weekly: pd.DataFrame, ids: pd.Index, first: np.ndarray, t0: pd.Timestamp,
                last: float) -> float:
    """Pooled relative run growth per month over each stream's full weeks (8 weeks at least)."""
    if last < 56:
        return 0.0
    per = weekly["runs"].unstack("week", fill_value=0).reindex(ids).fillna(0)
    if per.shape[1] < 2:
        return 0.0
    start = _days(per.columns, t0)
    seen = per.to_numpy() > 0
    first_week = np.floor((first[:, None] - start[None, :]) / 7.0) >= 0  # week holds or precedes the first write
    last_col = np.where(seen.any(axis=1), seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1), -1)
    cols = np.arange(per.shape[1])[None, :]
    partial = first_week | (cols >= last_col[:, None])
    masked = per.mask(partial)
    masked = masked.loc[:, masked.notna().any(axis=0)]
    if masked.shape[1] < 2:
        return 0.0
    rel = masked.div(masked.mean(axis=1), axis=0)
    weekly_rel = rel.mean(axis=0)
    x = _days(weekly_rel.index, t0) / _DAYS_PER_MONTH
    return _line_ratio(x, weekly_rel.to_numpy(), rel.notna().sum(axis=0).to_numpy())


def _sketches(live: Summary, keys: pd.DataFrame, m: int) -> np.ndarray:
    """``m`` quantiles per stream at ``(i + 0.5)/m`` from its size buckets (clamped to its
    exact extremes); streams without a known size get the median bucket of all."""
    hist = live.histogram.groupby(level=[*_STREAM, "bucket"], sort=True, dropna=False)["rows"].sum()
    n = len(keys)
    out = np.zeros((n, m))
    if not len(hist):
        return out
    stream = pd.MultiIndex.from_arrays([hist.index.get_level_values(c) for c in _STREAM])
    code = keys.index.get_indexer(stream)
    counts = hist.to_numpy(np.int64)
    values = representative(hist.index.get_level_values("bucket").to_numpy(np.int64))
    lo = keys["lo"].astype("float64").fillna(0).to_numpy()[code]
    hi = keys["hi"].astype("float64").fillna(np.inf).to_numpy()[code]
    values = np.clip(values, lo, hi)
    per = np.bincount(code, weights=counts, minlength=n).astype(np.int64)
    cum = np.cumsum(counts)
    start = np.zeros(n, np.int64)
    has = per > 0
    first_entry = np.full(n, len(counts))
    np.minimum.at(first_entry, code, np.arange(len(code)))
    start[has] = (cum - counts)[first_entry[has]]
    levels = (np.arange(m) + 0.5) / m
    pos = np.minimum((levels[None, :] * per[:, None]).astype(np.int64), np.maximum(per, 1)[:, None] - 1)
    entry = np.searchsorted(cum, start[:, None] + pos, side="right")
    out[has] = values[np.minimum(entry[has], len(values) - 1)]
    if not has.all():
        order = np.argsort(values, kind="stable")
        half = int(np.searchsorted(np.cumsum(counts[order]), counts.sum() // 2, side="right"))
        out[~has] = values[order][min(half, len(values) - 1)]
    return out


def _mapped(live: Summary, ids: pd.Index) -> np.ndarray:
    """Streams of a task with mapped rows (``map_index >= 0``)."""
    m = live.mapped
    if not len(m):
        return np.zeros(len(ids), bool)
    on = m[m["mapped_rows"] > 0].index
    tasks = set(zip(on.get_level_values(S.DAG_ID), on.get_level_values(S.TASK_ID), strict=True))
    return np.array([(d, t) in tasks for d, t, _ in ids], dtype=bool)
