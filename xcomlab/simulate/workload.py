"""Workload: what a deployment writes to XCom, per stream (dag_id, task_id, key), as arrays.

A :class:`Workload` holds one entry per *stream* — the XComs one task writes under one key —
as parallel numpy arrays, so the Monte Carlo in :mod:`xcomlab.simulate.montecarlo` can draw
a day of writes for every stream at once. It is either fitted from an XCom frame
(:func:`fit_workload`) or described synthetically (:func:`synthetic_workload`).

Model of one stream
-------------------
* Runs per day ~ Poisson(``runs_per_day`` × (1 + ``growth_per_month`` × day / 30)), from
  day ``start_day`` on (a DAG that appeared part-way through an export starts late).
* Writes per run: 1 when unmapped; ``1 + Poisson(fan_out - 1)`` when mapped, so the mean
  is ``fan_out`` (Airflow stores one row per ``map_index``, docs/airflow-xcom.md#mapping;
  ``[core] max_map_length`` = 1024 is not enforced per run by this model).
* Size of a write: drawn uniformly from the stream's sketch ``sizes[s]`` — ``M`` quantiles
  of ``value_bytes`` at levels ``(i + 0.5) / M`` (``inverted_cdf``: every entry is an
  observed size, so a stream with fewer than ``M`` rows is resampled as it is) — times
  ``1 + size_growth_per_month × day / 30``. A fitted workload shares one growth rate
  among the streams whose size varies; constant-size streams (flags, counts) get 0.
* Pulls per push: how many times a downstream task reads the value (fan-in).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import ParameterError, SchemaMismatchError
from xcomlab.randomness import seed_of
from xcomlab.schema import primary_rows
from xcomlab.simulate.fit_summary import fit_summary
from xcomlab.summary import Summary

__all__ = ["SKETCH_SIZE", "ObservedWrites", "Workload", "fit_workload", "observed_writes",
           "synthetic_workload"]

#: Default number of quantiles kept per stream (float32: 1 KiB per stream).
SKETCH_SIZE: Final = 256
_NS_PER_DAY: Final = 86_400 * 10**9
_DAYS_PER_MONTH: Final = 30.0


@dataclass(frozen=True, eq=False)
class Workload:
    """Per-stream write model; every array has one entry per stream (``sizes``: one row).

    Attributes
    ----------
    dag_id, task_id, key : numpy.ndarray of str
        The stream's identifiers.
    runs_per_day : numpy.ndarray of float
        Mean runs per day at day 0.
    fan_out : numpy.ndarray of float
        Mean writes per run (1 when unmapped; the mean mapped count when mapped).
    mapped : numpy.ndarray of bool
        True when the task is mapped (``map_index >= 0``).
    sizes : numpy.ndarray of float32, shape (streams, M)
        Sorted quantile sketch of ``value_bytes`` at day 0.
    pulls_per_push : numpy.ndarray of float
        Mean reads of each value by downstream tasks.
    growth_per_month : numpy.ndarray of float
        Linear growth of the run rate per 30 days (0.1 = +10 % of the day-0 rate a month).
    size_growth_per_month : numpy.ndarray of float
        Linear growth of value sizes per 30 days.
    start_day : numpy.ndarray of float
        Day the stream starts writing (0 = from the start).
    source : str
        What the workload was fitted on or generated from.
    """

    dag_id: np.ndarray
    task_id: np.ndarray
    key: np.ndarray
    runs_per_day: np.ndarray
    fan_out: np.ndarray
    mapped: np.ndarray
    sizes: np.ndarray
    pulls_per_push: np.ndarray
    growth_per_month: np.ndarray
    size_growth_per_month: np.ndarray
    start_day: np.ndarray
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.dag_id)
        sizes = np.asarray(self.sizes, dtype=np.float32)
        if sizes.ndim != 2 or sizes.shape[0] != n or sizes.shape[1] < 1:
            msg = f"sizes has shape {sizes.shape}; expected ({n}, M) with M ≥ 1 (one sketch per stream)"
            raise ParameterError(msg)
        if n and (not np.isfinite(sizes).all() or sizes.min() < 0):
            msg = "sizes must be finite and ≥ 0 bytes"
            raise ParameterError(msg)
        object.__setattr__(self, "sizes", np.sort(sizes, axis=1))
        for name in ("task_id", "key"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=object))
        object.__setattr__(self, "dag_id", np.asarray(self.dag_id, dtype=object))
        for name in ("runs_per_day", "fan_out", "pulls_per_push", "growth_per_month",
                     "size_growth_per_month", "start_day"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (n,)).copy()
            if not np.isfinite(arr).all():
                msg = f"{name} must be finite"
                raise ParameterError(msg)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "mapped", np.broadcast_to(np.asarray(self.mapped, bool), (n,)).copy())
        for name in ("task_id", "key"):
            if len(getattr(self, name)) != n:
                msg = f"{name} has {len(getattr(self, name))} entries; expected {n}"
                raise ParameterError(msg)
        if (self.runs_per_day < 0).any() or (self.fan_out < 1).any() or (self.pulls_per_push < 0).any():
            msg = "need runs_per_day ≥ 0, fan_out ≥ 1 and pulls_per_push ≥ 0"
            raise ParameterError(msg)

    def __len__(self) -> int:
        return len(self.dag_id)

    @property
    def streams(self) -> pd.DataFrame:
        """One row per stream: ids, rates, ``mean_bytes``, ``p50_bytes``, ``max_bytes``."""
        return pd.DataFrame({
            "dag_id": self.dag_id, "task_id": self.task_id, "key": self.key,
            "runs_per_day": self.runs_per_day, "fan_out": self.fan_out, "mapped": self.mapped,
            "pulls_per_push": self.pulls_per_push, "start_day": self.start_day,
            "growth_per_month": self.growth_per_month,
            "size_growth_per_month": self.size_growth_per_month,
            "mean_bytes": self.sizes.mean(axis=1, dtype=np.float64),
            "p50_bytes": self.sizes[:, self.sizes.shape[1] // 2],
            "max_bytes": self.sizes[:, -1],
        })

    def select(self, streams: Any) -> Workload:
        """The workload of some streams (a boolean mask or integer positions)."""
        idx = np.arange(len(self))[streams]
        arrays = {name: getattr(self, name)[idx] for name in (
            "dag_id", "task_id", "key", "runs_per_day", "fan_out", "mapped", "sizes", "pulls_per_push",
            "growth_per_month", "size_growth_per_month", "start_day")}
        return Workload(**arrays, source=f"{len(idx):,} of {len(self):,} streams of {self.source}",
                        meta=dict(self.meta))

    def writes_per_day(self, day: float = 0.0) -> float:
        """Expected XCom writes on ``day`` (streams started by then)."""
        active = self.start_day <= day
        rate = self.runs_per_day * (1 + self.growth_per_month * day / _DAYS_PER_MONTH)
        return float((rate * self.fan_out)[active].sum())

    def bytes_per_day(self, day: float = 0.0) -> float:
        """Expected value bytes written on ``day``."""
        active = self.start_day <= day
        rate = self.runs_per_day * (1 + self.growth_per_month * day / _DAYS_PER_MONTH)
        size = self.sizes.mean(axis=1, dtype=np.float64) * (1 + self.size_growth_per_month * day / _DAYS_PER_MONTH)
        return float((rate * self.fan_out * size)[active].sum())

    def __repr__(self) -> str:
        return (f"Workload({len(self):,} streams, {len(set(self.dag_id)):,} DAGs, "
                f"{self.writes_per_day():,.0f} writes/day at day 0; {self.source})")


# --- fitting -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ObservedWrites:
    """The writes an XCom frame records: its live rows, one entry each.

    The one reading of a frame as a workload: :func:`fit_workload` models it per stream,
    :func:`xcomlab.recommend.recommend` evaluates candidates on it row by row.

    Attributes
    ----------
    rows : pandas.DataFrame
        The live rows (:func:`xcomlab.schema.primary_rows`), in frame order.
    sizes : numpy.ndarray of float64
        Bytes of each value: the object's size (``ref_bytes``) for a value a custom backend
        offloaded, when the export knows it, else ``value_bytes``; NaN when lost.
    span_days : float
        Days from the first write to the last, at least 1.
    airflow3 : bool
        Most rows have an Airflow 3 schema (or none says).
    weights : numpy.ndarray of float64 or None
        Rows each entry stands for: None (one each) for a frame's rows; a summary's
        groups stand for many (:func:`xcomlab.analysis.disk.sized_groups`), and then
        ``rows`` holds one entry per group with its ``internal`` flag only.
    """

    rows: pd.DataFrame
    sizes: np.ndarray
    span_days: float
    airflow3: bool
    weights: np.ndarray | None = None

    @property
    def weight(self) -> np.ndarray:
        """Rows each entry stands for (ones for a frame's rows)."""
        return np.ones(len(self.sizes)) if self.weights is None else self.weights

    @property
    def count(self) -> float:
        """Rows written (the sum of :attr:`weight`)."""
        return float(len(self.rows)) if self.weights is None else float(self.weights.sum())

    @property
    def sized(self) -> np.ndarray:
        """Rows whose size is known."""
        return ~np.isnan(self.sizes)

    @property
    def internal(self) -> np.ndarray:
        """Rows Airflow wrote itself (``internal``): they bypass a custom XCom backend."""
        return self.rows[S.INTERNAL].to_numpy(dtype=bool)

    @property
    def values(self) -> pd.Series | None:
        """The ``value`` column when the frame kept values, else None."""
        return self.rows.get(S.VALUE)

    @property
    def writes_per_day(self) -> float:
        """Rows written per day over :attr:`span_days`."""
        return self.count / self.span_days

    def only_sized(self) -> ObservedWrites:
        """The same writes without the rows whose size the export lost."""
        keep = self.sized
        return ObservedWrites(self.rows[keep], self.sizes[keep], self.span_days, self.airflow3,
                              None if self.weights is None else self.weights[keep])


def observed_writes(frame: pd.DataFrame, *, sized_only: bool = False) -> ObservedWrites:
    """Read the live rows of an XCom frame as writes (see :class:`ObservedWrites`).

    Raises
    ------
    SchemaMismatchError
        When the frame has no live rows (with a known size, when ``sized_only``).
    """
    rows = primary_rows(S.validate_frame(frame))
    sizes = rows[S.REF_BYTES].fillna(rows[S.VALUE_BYTES]).astype("float64").to_numpy(na_value=np.nan)
    ts = rows[S.TIMESTAMP].dropna()
    span = (ts.max() - ts.min()).total_seconds() / 86_400 if len(ts) > 1 else 0.0
    schema = rows[S.AIRFLOW_SCHEMA].dropna().astype(str)
    af3 = bool(len(schema) == 0 or schema.str.startswith("3").mean() >= 0.5)
    obs = ObservedWrites(rows, sizes, max(span, 1.0), af3)
    if sized_only:
        obs = obs.only_sized()
    if not len(obs.rows):
        what = "live xcom rows with a size" if sized_only else "live xcom rows"
        msg = f"the frame has no {what}; load an export whose xcom table has rows"
        raise SchemaMismatchError(msg)
    return obs


def fit_workload(frame: pd.DataFrame | Summary, *, sketch_size: int = SKETCH_SIZE,
                 pulls_per_push: float = 1.0, fit_growth: bool = True) -> Workload:
    """Fit a workload to the live rows of an XCom frame, or to its summary.

    Parameters
    ----------
    frame
        An XCom frame (:func:`xcomlab.load_export`); rows of the ``xcom`` table are used
        when present (archives hold rows Airflow no longer writes). Or its
        :class:`~xcomlab.summary.Summary`: the same model from its groups
        (:mod:`xcomlab.simulate.fit_summary` says what differs).
    sketch_size
        Quantiles kept per stream.
    pulls_per_push
        Reads per value: an export does not record pulls, so this is an assumption.
    fit_growth
        Fit linear growth of sizes and run rates per month (pooled over streams); else 0.

    Notes
    -----
    Day 0 is the UTC day of the first timestamp. A stream's rate is its distinct runs
    divided by the days from its first write to the export's last one, so DAGs that
    appeared late get ``start_day > 0`` and their own rate.

    Growth is a linear trend over the export's window, extrapolated as it is: a step in
    the data (an Airflow upgrade that re-encodes values, a new DAG) reads as growth. Check
    ``workload.streams`` and override with ``dataclasses.replace(workload,
    size_growth_per_month=0.05)`` (scalars are broadcast to every stream).
    """
    if isinstance(frame, Summary):
        return Workload(**fit_summary(frame, sketch_size=sketch_size, pulls_per_push=pulls_per_push,
                                      fit_growth=fit_growth))
    obs = observed_writes(frame)
    rows = obs.rows
    ts = rows[S.TIMESTAMP].to_numpy("datetime64[ns]").astype(np.int64)
    t0 = ts.min() - ts.min() % _NS_PER_DAY
    day = (ts - t0) / _NS_PER_DAY
    stream = rows.groupby([S.DAG_ID, S.TASK_ID, S.KEY], observed=True, sort=True).ngroup().to_numpy()
    run = _run_codes(rows)
    size = obs.sizes
    size = np.where(np.isnan(size), np.nanmedian(size) if np.isfinite(size).any() else 0.0, size)
    n = int(stream.max()) + 1
    first = np.full(n, np.inf)
    np.minimum.at(first, stream, day)
    runs = pd.DataFrame({"s": stream, "r": run}).drop_duplicates().groupby("s").size().to_numpy()
    rows_per = np.bincount(stream, minlength=n)
    window = np.maximum(day.max() - first, 1.0)
    # Streams whose size never changes (flags, counts, fixed shapes) do not grow.
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(lo, stream, size)
    np.maximum.at(hi, stream, size)
    varies = hi > lo
    pooled = _size_growth(stream, day, size, varies[stream]) if fit_growth else 0.0
    size_g = np.where(varies, pooled, 0.0)
    run_g = _run_growth(stream, run, day, first) if fit_growth else 0.0
    detrended = size / (1 + size_g[stream] * day / _DAYS_PER_MONTH)
    mapped = np.zeros(n, bool)
    np.logical_or.at(mapped, stream, rows[S.MAP_INDEX].to_numpy() >= 0)
    ids = rows.groupby([S.DAG_ID, S.TASK_ID, S.KEY], observed=True, sort=True).size().index
    return Workload(
        dag_id=np.array([str(t[0]) for t in ids], object),
        task_id=np.array([str(t[1]) for t in ids], object),
        key=np.array([str(t[2]) for t in ids], object),
        runs_per_day=runs / window,
        fan_out=np.maximum(rows_per / runs, 1.0),
        mapped=mapped,
        sizes=_sketches(stream, detrended, n, sketch_size),
        pulls_per_push=np.full(n, float(pulls_per_push)),
        growth_per_month=np.full(n, run_g),
        size_growth_per_month=size_g,
        start_day=np.floor(first),
        source=f"fitted on {len(rows):,} rows over {day.max():.1f} days",
        meta={"start": pd.Timestamp(t0, tz="UTC"), "rows": len(rows), "days": float(day.max())},
    )


def _run_codes(rows: pd.DataFrame) -> np.ndarray:
    """One code per Airflow run: run_id (2.3+), else logical_date, else dag_run_id."""
    for col in (S.RUN_ID, S.LOGICAL_DATE, S.DAG_RUN_ID):
        if rows[col].notna().all():
            return rows.groupby([S.DAG_ID, col], observed=True, sort=False).ngroup().to_numpy()
    msg = "rows without run_id, logical_date or dag_run_id: cannot tell runs apart"
    raise SchemaMismatchError(msg)


def _sketches(stream: np.ndarray, size: np.ndarray, n: int, m: int) -> np.ndarray:
    """``m`` quantiles per stream at ``(i + 0.5)/m``, each an observed size."""
    order = np.lexsort((size, stream))
    s_sorted, v_sorted = stream[order], size[order]
    counts = np.bincount(stream, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    levels = (np.arange(m) + 0.5) / m
    pos = np.minimum((levels[None, :] * counts[:, None]).astype(np.int64), counts[:, None] - 1)
    del s_sorted
    return v_sorted[starts[:, None] + pos].astype(np.float32)


def _line_ratio(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Slope over intercept of a weighted least-squares line ``y = a + b x`` (0 if unfit)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    b, a = np.polyfit(x, y, 1, w=np.sqrt(w))
    return float(b / a) if a > 0 else 0.0


def _size_growth(stream: np.ndarray, day: np.ndarray, size: np.ndarray, use: np.ndarray) -> float:
    """Pooled relative growth of sizes per month, over the rows ``use`` of varying streams.

    Per stream and week, the mean size over the stream's mean (clipped at 10 so that one
    huge value does not make a trend); weeks average the streams weighted by their bytes.
    """
    if day.max() < 14 or not (size[use] > 0).any():
        return 0.0
    stream, day, size = stream[use], day[use], size[use]
    week = (day // 7).astype(int)
    per = pd.Series(size).groupby([stream, week]).mean().unstack()
    total = pd.Series(size).groupby(stream).sum()
    base = pd.Series(size).groupby(stream).mean()
    keep = base.to_numpy() > 0
    rel = per[keep].div(base[keep], axis=0).clip(upper=10.0)
    w = pd.DataFrame(np.where(rel.notna(), total[keep].to_numpy()[:, None], 0.0), index=rel.index,
                     columns=rel.columns)
    weekly = (rel.fillna(0) * w).sum(axis=0) / w.sum(axis=0)
    x = (weekly.index.to_numpy() + 0.5) * 7 / _DAYS_PER_MONTH
    return _line_ratio(x, weekly.to_numpy(), w.sum(axis=0).to_numpy() / w.to_numpy().sum())


def _run_growth(stream: np.ndarray, run: np.ndarray, day: np.ndarray, first: np.ndarray) -> float:
    """Pooled relative growth of runs per month: weekly runs / the stream's mean.

    Only a stream's full weeks count: the weeks holding its first and last write are partial.
    Under eight weeks of history the trend is noise: 0.
    """
    if day.max() < 56:
        return 0.0
    runs = pd.DataFrame({"s": stream, "r": run, "d": day}).groupby(["s", "r"]).d.min().reset_index()
    runs["w"] = (runs["d"] // 7).astype(int)
    first_w = first // 7
    last_w = runs.groupby("s")["w"].max().reindex(range(len(first)), fill_value=-1).to_numpy()
    per = runs.groupby(["s", "w"]).size().unstack(fill_value=0)
    weeks, owner = per.columns.to_numpy()[None, :], per.index.to_numpy()
    per = per.mask((weeks <= first_w[owner][:, None]) | (weeks >= last_w[owner][:, None]))
    per = per.loc[:, per.notna().any(axis=0)]
    if per.shape[1] < 2:
        return 0.0
    rel = per.div(per.mean(axis=1), axis=0)
    weekly = rel.mean(axis=0)
    x = weekly.index.to_numpy() * 7 / _DAYS_PER_MONTH
    return _line_ratio(x, weekly.to_numpy(), rel.notna().sum(axis=0).to_numpy())


# --- synthetic ---------------------------------------------------------------------------

#: Schedule mix (period hours, weekdays only, weight): the same as :mod:`xcomlab.synth`.
SCHEDULES: Final = ((1, False, 0.12), (6, False, 0.15), (24, False, 0.5), (24, True, 0.13),
                    (168, False, 0.10))


def synthetic_workload(dags: int = 1000, tasks_per_dag: tuple[int, int] = (5, 15), *,
                       rng: np.random.Generator | int | None = 0,
                       median_value_bytes: float = 160.0, mapped_share: float = 0.1,
                       fan_out: tuple[int, int] = (3, 40), large_share: float = 0.01,
                       large_value_bytes: float = 2_000_000.0, pulls_per_push: float = 1.0,
                       growth_per_month: float = 0.0, size_growth_per_month: float = 0.0,
                       sketch_size: int = SKETCH_SIZE) -> Workload:
    """Describe a deployment without an export.

    Parameters
    ----------
    dags, tasks_per_dag
        DAG count and the inclusive range of tasks (streams) per DAG.
    rng
        Seed or generator for the draws (the workload's ``source`` records the seed).
    median_value_bytes
        Median over tasks of each task's median value size; a task's sizes are lognormal
        with σ drawn in [0.3, 1.0] (the shape :mod:`xcomlab.synth` uses).
    mapped_share, fan_out
        Share of mapped tasks and the range of their mean fan-out.
    large_share, large_value_bytes
        Share of tasks that push DataFrame-sized values, and their median size.
    pulls_per_push, growth_per_month, size_growth_per_month
        As in :class:`Workload`, the same for every stream.
    """
    seed = seed_of(rng)
    rng = np.random.default_rng(seed)
    per_dag = rng.integers(tasks_per_dag[0], tasks_per_dag[1] + 1, dags)
    n = int(per_dag.sum())
    dag_no = np.repeat(np.arange(dags), per_dag)
    task_no = np.arange(n) - np.repeat(np.cumsum(per_dag) - per_dag, per_dag)
    weights = np.array([w for *_, w in SCHEDULES])
    pick = rng.choice(len(SCHEDULES), dags, p=weights / weights.sum())
    rate = np.array([24 / p * (5 / 7 if wd else 1) for p, wd, _ in SCHEDULES])[pick]
    mapped = rng.random(n) < mapped_share
    mean_fan = np.where(mapped, rng.integers(fan_out[0], fan_out[1] + 1, n), 1).astype(float)
    large = rng.random(n) < large_share
    median = np.where(large, large_value_bytes, median_value_bytes) * rng.lognormal(0, 0.8, n)
    sigma = rng.uniform(0.3, 1.0, n)
    z = np.array([statistics.NormalDist().inv_cdf((i + 0.5) / sketch_size) for i in range(sketch_size)])
    sizes = (median[:, None] * np.exp(sigma[:, None] * z[None, :])).astype(np.float32)
    return Workload(
        dag_id=np.array([f"dag_{d:05d}" for d in dag_no], object),
        task_id=np.array([f"task_{t:02d}" for t in task_no], object),
        key=np.full(n, "return_value", object),
        runs_per_day=rate[dag_no], fan_out=mean_fan, mapped=mapped, sizes=sizes,
        pulls_per_push=np.full(n, float(pulls_per_push)),
        growth_per_month=np.full(n, float(growth_per_month)),
        size_growth_per_month=np.full(n, float(size_growth_per_month)),
        start_day=np.zeros(n),
        source=f"synthetic(dags={dags}, tasks_per_dag={tasks_per_dag}, seed={seed})",
    )
