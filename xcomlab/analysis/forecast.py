"""Growth forecast: how fast the xcom table grows, and when it reaches a ceiling.

The model, per DAG, on the bytes written per UTC day (live ``xcom`` rows only):

- the fitted window runs from the DAG's first write to the last full day of the export
  (the first and last calendar days are partial, and trailing near-empty days are the
  tail of an export, not a trend);
- multiplicative day-of-week factors (median of the ratio to a centred 7-day mean), kept
  when they cut the dispersion of those ratios by at least 30 % (the weekly pattern is
  significant) and there are 3 weeks of data;
- a linear trend of the de-seasonalized volume: Theil–Sen slope (median of pairwise
  slopes, robust to spikes), level matched so the fitted days sum to the bytes written
  (cumulative bytes, which is what a table's size is, stay unbiased); single values
  far above their task's usual size (:data:`ONE_OFF_RATIO`) are one-off offenders, counted
  in today's size but not projected as a rate;
- a DAG whose writes stopped is projected at zero.

The table size ahead is today's size plus the expected writes, minus what a retention
policy keeps deleting (each DAG keeps a window of days). The band comes from a moving-block
bootstrap (7-day blocks, the same days for every DAG so cross-DAG correlation is kept):
refit the trend on resampled residuals, add resampled future residuals, take quantiles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.analysis.retention import RetentionPolicy
from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.constants import ONE_OFF_MIN_BYTES as _ONE_OFF_MIN_BYTES
from xcomlab.errors import InsufficientDataError, ParameterError
from xcomlab.randomness import seed_of
from xcomlab.schema import primary_rows
from xcomlab.summary import Summary
from xcomlab.summary.histogram import _HIGHEST, EDGES

__all__ = ["DEFAULT_CEILINGS", "Backtest", "Crossing", "Forecast", "backtest", "forecast"]

MAX_DAYS: Final = 3650  # how far the expected path is followed to find a crossing
MIN_TREND_DAYS: Final = 7  # fewer fitted days: a flat rate, no trend
MIN_WEEKLY_DAYS: Final = 21  # fewer: no day-of-week factors
WEEKLY_GAIN: Final = 0.7  # factors kept when they cut the ratio dispersion to ≤ 70 %
BLOCK_DAYS: Final = 7
MAX_PAIRS: Final = 4000  # Theil–Sen pairs sampled per series (all pairs when fewer)
BAND: Final = (0.05, 0.95)
#: A value this many times its task's median size (and at least 64 KiB) is a one-off
#: offender: kept in the table size, left out of the write rate. A lognormal task with
#: σ = 1 reaches 100× its median at 4.6 σ (about 2 rows in a million).
ONE_OFF_RATIO: Final = 100
ONE_OFF_MIN_BYTES: Final = _ONE_OFF_MIN_BYTES
TOTAL: Final = "(total)"
_DAY = pd.Timedelta(days=1)


# --- fitting one series ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Fit:
    """Fitted daily write volume of one series on the day grid (day 0 = first write day)."""

    first: int
    last: int
    level: float  # de-seasonalized bytes/day at ``first``
    slope: float  # bytes/day gained per day
    factors: np.ndarray  # (7,) by weekday, Monday = 0, mean 1
    weekly: bool
    active: bool
    resid: np.ndarray  # bytes written minus fitted, over first..last
    boot_level: np.ndarray  # (B,) bootstrap replicates
    boot_slope: np.ndarray

    def daily(self, days: np.ndarray, weekday0: int, level: Any = None, slope: Any = None) -> np.ndarray:
        """Expected bytes written on grid ``days`` (broadcast over replicate arrays)."""
        if not self.active:
            return np.zeros((len(level), len(days)) if level is not None else len(days))
        a = self.level if level is None else np.asarray(level)[:, None]
        b = self.slope if slope is None else np.asarray(slope)[:, None]
        f = self.factors[(weekday0 + days) % 7]
        return np.clip(f * (a + b * (days - self.first)), 0.0, None)

    @property
    def growth_per_month(self) -> float:
        """Relative growth per 30 days, against the level at the start of the fitted window."""
        return 30 * self.slope / self.level if self.level > 0 else float("nan")


def _pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of ``n`` points: all of them, or :data:`MAX_PAIRS` drawn without
    replacement, by their position in ``np.triu_indices(n, 1)``."""
    total = n * (n - 1) // 2
    if total <= MAX_PAIRS:
        return np.triu_indices(n, 1)
    pick = rng.choice(total, MAX_PAIRS, replace=False)
    starts = np.concatenate([[0], np.cumsum(np.arange(n - 1, 0, -1))])  # row i's first pair
    i = np.searchsorted(starts, pick, side="right") - 1
    return i, pick - starts[i] + i + 1


def _theil_sen(x: np.ndarray, z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Median pairwise slope of each row of ``z`` (shape (B, n)) against ``x``: ``np.median``
    of the slopes, bit for bit.

    A DAG that writes on few days has mostly zero slopes: two quiet days, in the data or
    in a bootstrap replicate. When a row is finite and more than half of its pairs join
    two zeros, its median is known without the slopes: the two middle ranks are zeros, and
    ``np.median``, a mean of zeros of either sign, gives +0.0 (there may be more zero
    slopes than such pairs, never fewer). Other rows get their slopes and ``np.median``,
    :data:`_ROWS` replicates at a time (the (rows, pairs) block stays in cache).
    """
    out = np.zeros(len(z))
    rest = np.ones(len(z), dtype=bool)
    n = len(i)
    if n and np.isfinite(z).all():
        lower = n // 2 - 1 if n % 2 == 0 else n // 2  # the lower middle rank
        rest = n - _zero_pairs(z, i, j) > lower
    dx = x[j] - x[i]
    for k in range(0, len(z), _ROWS):
        rows = np.flatnonzero(rest[k:k + _ROWS]) + k
        if len(rows):
            out[rows] = np.median((z[rows][:, j] - z[rows][:, i]) / dx, axis=1)
    return out


_ROWS: Final = 25  # bootstrap replicates per block: 25 × 4000 pairs × 8 B = 800 KB


def _zero_pairs(z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per row of ``z``: how many pairs ``(i, j)`` join two zeros (bits of 8 rows per byte)."""
    zero = np.packbits(np.ascontiguousarray((z == 0).T), axis=1)  # (n, ceil(B / 8))
    both = np.unpackbits(zero[j] & zero[i], axis=1, count=len(z))  # (pairs, B) of 0/1
    count = np.zeros(len(z), dtype=np.int64)
    for k in range(0, len(both), 255):  # byte sums of 255 pairs cannot overflow
        count += np.add.reduce(both[k:k + 255], axis=0, dtype=np.uint8)
    return count


def _weekly_factors(seg: np.ndarray, wd: np.ndarray) -> tuple[np.ndarray, bool]:
    ones = np.ones(7)
    if len(seg) < MIN_WEEKLY_DAYS:
        return ones, False
    ma = pd.Series(seg).rolling(7, center=True, min_periods=7).mean().to_numpy()
    ok = ma > 0
    if ok.sum() < MIN_WEEKLY_DAYS - 6:
        return ones, False
    r, w = seg[ok] / ma[ok], wd[ok]
    order = np.lexsort((r, w))  # by weekday, then ratio: each weekday's ratios sorted
    ends = np.searchsorted(w[order], np.arange(8))
    f = np.array([_median_sorted(r[order[a:b]]) if b > a else 1.0 for a, b in pairwise(ends)])
    if f.mean() <= 0:
        return ones, False
    f = f / f.mean()
    before, after = _median_sorted(np.sort(np.abs(r - 1))), _median_sorted(np.sort(np.abs(r - f[w])))
    return (f, True) if before > 0 and after <= WEEKLY_GAIN * before else (ones, False)


def _median_sorted(s: np.ndarray) -> float:
    """``np.median`` of a sorted 1-D array (NaN last), without its partition: the mean of the
    middle one or two values, NaN when there is one."""
    n = len(s)
    if np.isnan(s[-1]):
        return float("nan")
    h = n // 2
    return float(np.mean(s[h:h + 1] if n % 2 else s[h - 1:h + 1]))


def _level(seg: np.ndarray, f: np.ndarray, x: np.ndarray, slope: Any) -> Any:
    """Level making the fitted days sum to what was written (vectorized over slopes)."""
    return (seg.sum(axis=-1) - np.asarray(slope) * (f * x).sum()) / f.sum()


def _fit(y: np.ndarray, first: int, last: int, weekday0: int, active: bool,
         idx: np.ndarray, rng: np.random.Generator) -> _Fit:
    """Fit ``y[first:last+1]``; ``idx`` (B, ≥ n) are bootstrap day positions for residuals."""
    return _solve(_draw(y, first, last, weekday0, active, rng), idx)


@dataclass(frozen=True)
class _Draw:
    """A series ready to fit: its window, day-of-week factors and Theil–Sen pairs (the
    only random draw of a fit, so fits can be solved in any order or thread)."""

    seg: np.ndarray
    first: int
    last: int
    active: bool
    factors: np.ndarray
    weekly: bool
    wd: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray] | None


def _draw(y: np.ndarray, first: int, last: int, weekday0: int, active: bool,
          rng: np.random.Generator) -> _Draw:
    seg = y[first:last + 1].astype("float64")
    wd = (weekday0 + np.arange(first, last + 1)) % 7
    factors, weekly = _weekly_factors(seg, wd)
    pairs = None
    if len(seg) >= MIN_TREND_DAYS:
        pairs = _pairs(int((factors[wd] > 0.05).sum()), rng)
    return _Draw(seg, first, last, active, factors, weekly, wd, pairs)


def _solve(d: _Draw, idx: np.ndarray) -> _Fit:
    """The fit of a drawn series (no randomness: ``idx`` are the bootstrap positions)."""
    seg, n = d.seg, len(d.seg)
    x = np.arange(n, dtype="float64")
    f = d.factors[d.wd]
    if d.pairs is None:
        level = float(seg.mean())
        b = len(idx)
        return _Fit(d.first, d.last, level, 0.0, d.factors, False, d.active, seg - level,
                    np.full(b, level), np.zeros(b))
    i, j = d.pairs
    use = f > 0.05
    xs, fs = x[use], f[use]
    slope = float(_theil_sen(xs, (seg[use] / fs)[None, :], i, j)[0])
    level = float(_level(seg, f, x, slope))
    fitted = f * (level + slope * x)
    resid = seg - fitted
    boot = fitted + resid[idx[:, :n] % n]
    b_slope = _theil_sen(xs, boot[:, use] / fs, i, j)
    b_level = _level(boot, f, x, b_slope)
    return _Fit(d.first, d.last, level, slope, d.factors, d.weekly, d.active, resid, b_level, b_slope)


def _block_positions(n: int, length: int, boot: int, rng: np.random.Generator) -> np.ndarray:
    """(boot, length) positions in 0..n-1 made of consecutive 7-day blocks."""
    block = min(BLOCK_DAYS, n)
    k = -(-length // block)
    starts = rng.integers(0, n - block + 1, size=(boot, k))
    return (starts[:, :, None] + np.arange(block)).reshape(boot, -1)[:, :length]


# --- the day grid ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grid:
    dates: pd.DatetimeIndex  # every UTC day from the first write to the last
    dags: list[str]
    written: np.ndarray  # (days, dags) value bytes written
    rate: np.ndarray  # (days, dags) the same without one-off offenders: what is fitted
    one_offs: tuple[int, int]  # rows, bytes left out of ``rate``
    rows: np.ndarray  # (days,) rows written, all DAGs
    runs_per_day: np.ndarray  # (dags,) over the last 28 days

    @property
    def weekday0(self) -> int:
        return int(self.dates[0].weekday())

    def window(self) -> tuple[int, int]:
        """Fitted days: drop the partial first/last days and near-empty days at both ends."""
        n = len(self.dates)
        lo, hi = (1, n - 2) if n >= 4 else (0, n - 1)
        floor = 0.05 * np.median(self.rows[lo:hi + 1])
        while hi > lo and self.rows[hi] <= floor:
            hi -= 1
        while lo < hi and self.rows[lo] <= floor:
            lo += 1
        return lo, hi


def _grid(rows: pd.DataFrame) -> _Grid:
    day = rows[S.TIMESTAMP].dt.floor("D")
    dates = pd.date_range(day.min(), day.max(), freq="D")
    dag = rows[S.DAG_ID].astype(str)
    size = rows[S.VALUE_BYTES].astype("float64").fillna(0.0)
    one_off = _one_offs(rows, size)

    def table(values: pd.Series) -> pd.DataFrame:
        t = values.groupby([day, dag]).sum().unstack(fill_value=0)
        return t.reindex(dates, fill_value=0).astype("float64")

    written = table(size)
    rate = table(size.where(~one_off, 0.0)).reindex(columns=written.columns, fill_value=0.0)
    count = size.groupby(day).size().reindex(dates, fill_value=0).to_numpy()
    recent = rows[S.TIMESTAMP] > rows[S.TIMESTAMP].max() - 28 * _DAY
    span = min(28.0, max(len(dates), 1))
    runs = rows[recent].groupby(dag[recent])[S.RUN_ID].nunique() / span
    dags = [str(c) for c in written.columns]
    return _Grid(dates, dags, written.to_numpy(), rate.to_numpy(),
                 (int(one_off.sum()), int(size[one_off].sum())), count,
                 runs.reindex(dags, fill_value=0.0).to_numpy())


def _summary_grid(live: Summary) -> _Grid:
    """:func:`_grid` from a summary's ``daily``, ``runs``, ``histogram`` and ``big`` tables.

    Bytes and rows per day and runs per DAG are exact. One-off offenders are read from
    ``big`` against each task's median from the histogram (within
    :data:`~xcomlab.summary.QUANTILE_RELATIVE_ERROR`); a size bucket straddling the
    one-off threshold is split in proportion to its integers above it.
    """
    d = live.daily.reset_index()
    d = d[d["day"].notna()]
    dates = pd.date_range(d["day"].min(), d["day"].max(), freq="D")
    dag = d[S.DAG_ID].astype(str)

    def table(values: pd.Series, days: pd.Series, dags: pd.Series) -> pd.DataFrame:
        t = values.astype("float64").groupby([days, dags]).sum().unstack(fill_value=0)
        return t.reindex(dates, fill_value=0).astype("float64")

    written = table(d["value_bytes"], d["day"], dag)
    off_rows, off_bytes, off = _summary_one_offs(live)
    rate = written.copy()
    if len(off):
        per = table(off["bytes"], off["day"], off[S.DAG_ID].astype(str)).reindex(
            columns=written.columns, fill_value=0.0)
        rate = (written - per).clip(lower=0.0)
    count = d.groupby("day")["rows"].sum().reindex(dates, fill_value=0).to_numpy()
    _, now = live.timestamps()
    assert now is not None  # _history checked there are rows with a timestamp
    runs = live.runs.reset_index()
    recent = runs[(runs["last_timestamp"] > now - 28 * _DAY) & runs[S.RUN_ID].notna()]
    span = min(28.0, max(len(dates), 1))
    per_dag = recent.groupby(recent[S.DAG_ID].astype(str))[S.RUN_ID].nunique().astype("float64")
    old = live.old_runs.reset_index()  # runs rolled up per day (xcomlab.summary.runs)
    old = old[old["last_timestamp"] > now - 28 * _DAY]
    if len(old):
        per_dag = per_dag.add(old.groupby(old[S.DAG_ID].astype(str))["runs"].sum(), fill_value=0)
    per_dag = per_dag / span
    dags = [str(c) for c in written.columns]
    return _Grid(dates, dags, written.to_numpy(), rate.to_numpy(), (off_rows, off_bytes), count,
                 per_dag.reindex(dags, fill_value=0.0).to_numpy())


def _summary_one_offs(live: Summary) -> tuple[int, int, pd.DataFrame]:
    """Rows and bytes of one-off offenders in a summary, and their bytes per (dag, day)."""
    big = live.big.reset_index()
    none = pd.DataFrame(columns=[S.DAG_ID, "day", "bytes"])
    if not len(big):
        return 0, 0, none
    ids = [S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.KEY]
    sizes = live.sizes(tuple(ids), qs=(0.5,))
    many = sizes["rows"] >= 10
    limit = (ONE_OFF_RATIO * sizes["p50_bytes"]).where(many, np.inf).clip(lower=ONE_OFF_MIN_BYTES)
    big = big.merge(limit.rename("limit").reset_index(), on=ids, how="left")
    b = big["bucket"].to_numpy()
    lo, hi = EDGES[b].astype(np.float64), _HIGHEST[b].astype(np.float64)
    share = np.clip((hi - big["limit"].to_numpy() + 1) / (hi - lo + 1), 0.0, 1.0)
    big["n"] = big["rows"] * share
    big["bytes"] = big["value_bytes"] * share
    hit = big[big["n"] > 0]
    return round(float(hit["n"].sum())), round(float(hit["bytes"].sum())), hit[[S.DAG_ID, "day", "bytes"]]


def _one_offs(rows: pd.DataFrame, size: pd.Series) -> pd.Series:
    """Rows far above their task's median size (:data:`ONE_OFF_RATIO`): one-off offenders."""
    keys = [rows[S.DAG_ID].astype(str), rows[S.TASK_ID].astype(str), rows[S.KEY].astype(str)]
    g = size.groupby(keys)
    median = g.transform("median")
    many = g.transform("size") >= 10
    return many & (size >= ONE_OFF_RATIO * median) & (size >= ONE_OFF_MIN_BYTES)


def _active(y: np.ndarray, hi: int) -> bool:
    """False when a DAG's writes stopped: silent for over max(14 d, 3× its usual gap)."""
    on = np.flatnonzero(y[: hi + 1] > 0)
    if not len(on):
        return False
    gap = float(np.median(np.diff(on))) if len(on) > 1 else 1.0
    return bool(hi - on[-1] <= max(14.0, 3 * gap))


def _fits(grid: _Grid, lo: int, hi: int, boot: int, rng: np.random.Generator) -> list[_Fit]:
    """Every DAG's fit. The pairs are drawn DAG by DAG in order (the same draws whatever
    the threads); the Theil–Sen medians, the bulk of the work, are solved on
    :func:`_workers` threads (numpy's partition and fancy indexing release the GIL),
    :data:`_CHUNK` DAGs at a time so that drawn series do not pile up."""
    idx = _block_positions(hi - lo + 1, hi - lo + 1, boot, rng)
    out: list[_Fit] = []
    workers = _workers(len(grid.dags))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="xcomlab-forecast") if workers > 1 else None
    try:
        for start in range(0, len(grid.dags), _CHUNK):
            draws = []
            for k in range(start, min(start + _CHUNK, len(grid.dags))):
                y = grid.rate[:, k]
                on = np.flatnonzero(y[lo:hi + 1] > 0)
                first = lo + int(on[0]) if len(on) else lo
                draws.append(_draw(y, first, hi, grid.weekday0, _active(y, hi), rng))
            # Same calendar days for every DAG (joint bootstrap), shifted into its own window.
            solve = lambda d: _solve(d, idx + (lo - d.first))  # noqa: E731
            out.extend(pool.map(solve, draws) if pool is not None else map(solve, draws))
    finally:
        if pool is not None:
            pool.shutdown()
    return out


#: DAGs drawn, then solved, at a time.
_CHUNK: Final = 64


def _workers(dags: int) -> int:
    """Threads for the fits: one per CPU up to 4, one for a few DAGs."""
    return 1 if dags < 8 else max(1, min(4, os.cpu_count() or 1))


def _total_fit(grid: _Grid, lo: int, hi: int, boot: int, rng: np.random.Generator) -> _Fit:
    idx = _block_positions(hi - lo + 1, hi - lo + 1, boot, rng)
    return _fit(grid.rate.sum(axis=1), lo, hi, grid.weekday0, True, idx, rng)


# --- projecting -----------------------------------------------------------------------------

def _future(fit: _Fit, days: np.ndarray, weekday0: int, pos: np.ndarray) -> np.ndarray:
    """(B, len(days)) bootstrap paths of daily writes: refitted trend + resampled residuals."""
    paths = fit.daily(days, weekday0, fit.boot_level, fit.boot_slope)
    if fit.active and len(fit.resid):
        paths = paths + fit.resid[pos % len(fit.resid)]
    return np.clip(paths, 0.0, None)


def _sizes(history: np.ndarray, future: np.ndarray, window: int | None) -> np.ndarray:
    """Table size after each future day: all rows, or the last ``window`` days' writes."""
    if window is None:
        return history.sum() + np.cumsum(future, axis=-1)
    hist = np.broadcast_to(history, future.shape[:-1] + history.shape)
    cs = np.cumsum(np.concatenate([hist, future], axis=-1), axis=-1)
    cs = np.concatenate([np.zeros((*cs.shape[:-1], 1)), cs], axis=-1)
    end = np.arange(len(history), len(history) + future.shape[-1]) + 1
    return cs[..., end] - cs[..., np.maximum(end - window, 0)]


@dataclass(frozen=True)
class Crossing:
    """When the expected table size (on disk) first reaches a ceiling.

    ``days`` after the export's last day (0: already over), ``date``; ``earliest_days``
    and ``latest_days`` from the band's upper and lower edges (None: not within the
    forecast horizon).
    """

    ceiling_bytes: float
    days: int
    date: pd.Timestamp
    earliest_days: int | None
    latest_days: int | None


@dataclass(frozen=True)
class Forecast:
    """A fitted growth forecast of the live xcom table.

    Attributes
    ----------
    fit : pandas.DataFrame
        Index ``dag_id`` with ``(total)`` first (the total series fitted as one, so DAGs
        that appear part-way count as growth; the projection sums the per-DAG fits):
        ``first_day, days_fitted, level_bytes_per_day`` (de-seasonalized, at the last
        day), ``trend_bytes_per_day_per_month``, ``growth_per_month`` (relative to the
        level at the start of the fitted window), ``weekly, active``.
    weekly_factors : pandas.DataFrame
        Day-of-week factors (Mon..Sun, mean 1; all 1 when not significant) per row of ``fit``.
    projection : pandas.DataFrame
        Index ``date`` (each day after the export): ``written`` (expected value bytes
        written that day), ``expected, lower, upper`` (table size in logical value bytes;
        the band is the 5–95 % bootstrap interval).
    projection_by_dag : pandas.DataFrame or None
        Columns ``dag_id, date, written, expected, lower, upper`` when ``by="dag_id"``.
    current_bytes : int
        Live value bytes now. Multiply by ``disk_ratio`` for on-disk bytes.
    start_bytes : float
        The size the projection starts from: ``current_bytes``, or what ``retention``
        keeps when it runs now.
    """

    fit: pd.DataFrame
    weekly_factors: pd.DataFrame
    projection: pd.DataFrame
    projection_by_dag: pd.DataFrame | None
    history: pd.Series  # value bytes written per day (all live rows), for plots
    current_bytes: int
    start_bytes: float  # size once ``retention`` has run now (= current_bytes without one)
    now: pd.Timestamp
    disk_ratio: float
    retention: RetentionPolicy | None
    seed: int
    expected_path: np.ndarray = field(repr=False)  # expected size for MAX_DAYS days
    notes: list[str] = field(default_factory=list)

    def time_to(self, ceiling_bytes: float) -> Crossing | None:
        """When the on-disk size (logical × ``disk_ratio``) reaches ``ceiling_bytes``.

        With a retention policy the size starts from what the policy keeps today.

        Returns None when the expected size stays below it for :data:`MAX_DAYS` days.
        """
        r = self.disk_ratio
        now = self.start_bytes * r
        if now >= ceiling_bytes:
            return Crossing(ceiling_bytes, 0, self.now.normalize(), 0, 0)
        days = _first_at(self.expected_path * r, ceiling_bytes)
        if days is None:
            return None
        return Crossing(ceiling_bytes, days, self.now.normalize() + days * _DAY,
                        _first_at(self.projection["upper"].to_numpy() * r, ceiling_bytes),
                        _first_at(self.projection["lower"].to_numpy() * r, ceiling_bytes))

    def time_to_thresholds(self, ceilings: dict[str, float] | None = None) -> pd.DataFrame:
        """One row per ceiling (default :data:`DEFAULT_CEILINGS`): when it is reached."""
        out = []
        for name, size in (ceilings or DEFAULT_CEILINGS).items():
            c = self.time_to(size)
            out.append({"ceiling": name, "ceiling_bytes": size,
                        "days": None if c is None else c.days,
                        "date": None if c is None else c.date.date().isoformat(),
                        "earliest_days": None if c is None else c.earliest_days,
                        "latest_days": None if c is None else c.latest_days})
        days = {c: "Int64" for c in ("days", "earliest_days", "latest_days")}
        return pd.DataFrame(out).astype(days).set_index("ceiling")

    def plot(self, ax: Any = None, ceilings: dict[str, float] | None = None) -> Any:
        """History and projection of the on-disk size with its band and ceilings."""
        from xcomlab import plots  # imported on use: it loads matplotlib

        return plots.forecast(self, ax=ax, ceilings=ceilings)

    def __repr__(self) -> str:
        t = self.fit.loc[TOTAL]
        last = self.projection["expected"].iloc[-1]
        return (f"Forecast({self.current_bytes:,} value bytes now, {t['growth_per_month']:+.1%}/month, "
                f"{last:,.0f} in {len(self.projection)} days; {len(self.fit) - 1} DAGs)")

    def _repr_html_(self) -> str:
        return (f"<p><b>{self!r}</b></p>" + self.time_to_thresholds().to_html()
                + self.fit.head(15).to_html(float_format=lambda x: f"{x:,.3g}"))


def _first_at(path: np.ndarray, ceiling: float) -> int | None:
    hit = np.flatnonzero(path >= ceiling)
    return int(hit[0]) + 1 if len(hit) else None


def _live(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    rows = primary_rows(S.validate_frame(frame))
    rows = rows[rows[S.TIMESTAMP].notna()]
    if not len(rows):
        msg = f"{what}: the frame has no live xcom rows with a timestamp; nothing to forecast"
        raise InsufficientDataError(msg)
    return rows


def _history(frame: pd.DataFrame | Summary, what: str) -> tuple[_Grid, pd.Timestamp]:
    """The day grid of the live rows and the last write, from a frame or a summary."""
    if isinstance(frame, Summary):
        live = frame.primary()
        _, last = live.timestamps()
        if last is None:
            msg = f"{what}: the summary has no live xcom rows with a timestamp; nothing to forecast"
            raise InsufficientDataError(msg)
        return _summary_grid(live), pd.Timestamp(last)
    rows = _live(frame, what)
    return _grid(rows), pd.Timestamp(rows[S.TIMESTAMP].max())


def forecast(frame: pd.DataFrame | Summary, *, horizon_days: int = 180, by: str | None = None,
             retention: RetentionPolicy | None = None, disk_ratio: float = 1.0,
             rng: np.random.Generator | int | None = 0, boot: int = 200) -> Forecast:
    """Fit the growth of the live xcom table and project it ``horizon_days`` ahead.

    Parameters
    ----------
    frame
        An XCom frame, or its :class:`~xcomlab.summary.Summary` (the same history per day
        and DAG; one-off offenders read from size buckets, see :func:`_summary_grid`);
        only ``source_table == "xcom"`` rows count.
    horizon_days
        Days projected with a band (the expected path is followed for :data:`MAX_DAYS`
        to find ceilings further out).
    by
        ``"dag_id"`` for a projection per DAG too; None for the total only.
    retention
        A policy applied from now on: each DAG keeps its window of days (age limit, or
        ``keep_last_runs`` at its recent run rate; key rules are not modelled here).
    disk_ratio
        On-disk bytes per logical value byte (``xcomlab.analysis.disk.disk_ratio``);
        ceilings are compared with logical size × ``disk_ratio``.
    rng, boot
        Bootstrap seed or generator (the forecast records the seed it ran) and replicates.

    Examples
    --------
    >>> fc = forecast(frame, horizon_days=365, disk_ratio=2.4)  # doctest: +SKIP
    >>> fc.time_to_thresholds()  # doctest: +SKIP
    """
    if by not in (None, "dag_id"):
        msg = f"by={by!r}; expected None or 'dag_id'"
        raise ParameterError(msg)
    if horizon_days < 1 or boot < 2 or disk_ratio <= 0:
        msg = (f"horizon_days={horizon_days}, boot={boot}, disk_ratio={disk_ratio}; expected "
               "horizon_days ≥ 1, boot ≥ 2 and a positive disk_ratio")
        raise ParameterError(msg)
    seed = seed_of(rng)
    grid, now = _history(frame, "forecast")
    lo, hi = grid.window()
    gen = np.random.default_rng(seed)
    fits = _fits(grid, lo, hi, boot, gen)
    total = _total_fit(grid, lo, hi, boot, gen)
    notes = _notes(grid, lo, hi, fits)
    n = len(grid.dates)
    days = np.arange(n, n + horizon_days)
    pos = _block_positions(hi - lo + 1, horizon_days, boot, gen)
    windows = [_window(retention, d, r) for d, r in zip(grid.dags, grid.runs_per_day, strict=True)]
    long_days = np.arange(n, n + max(MAX_DAYS, horizon_days))
    per_dag, expected_long = [], np.zeros(len(long_days))
    sums: list[np.ndarray] = []
    for exp_writes, exp_size, paths in _projections(grid, fits, windows, days, long_days, pos):
        expected_long += exp_size
        parts = (exp_writes[:horizon_days], exp_size[:horizon_days], paths)
        if sums:  # DAG after DAG, as np.sum over the stacked DAGs adds them
            for acc, part in zip(sums, parts, strict=True):
                acc += part
        else:
            sums = [part.copy() for part in parts]
        if by == "dag_id":
            per_dag.append(parts)
    dates = pd.date_range(grid.dates[-1] + _DAY, periods=horizon_days, freq="D")
    projection = _projection(dates, *sums)
    by_dag: pd.DataFrame | None = None
    if by == "dag_id":
        by_dag = pd.concat([_projection(dates, *p).reset_index().assign(dag_id=d)
                            for d, p in zip(grid.dags, per_dag, strict=True)], ignore_index=True)
        by_dag = by_dag[["dag_id", "date", "written", "expected", "lower", "upper"]]
    return Forecast(
        fit=_fit_table(grid, [total, *fits], hi), weekly_factors=_factor_table(grid, [total, *fits]),
        projection=projection, projection_by_dag=by_dag,
        history=pd.Series(grid.written.sum(axis=1), index=grid.dates, name="value_bytes"),
        current_bytes=int(grid.written.sum()),
        start_bytes=float(sum(grid.written[-w:, k].sum() if w else grid.written[:, k].sum()
                              for k, w in enumerate(windows))),
        now=now,
        disk_ratio=disk_ratio, retention=retention, seed=seed, expected_path=expected_long, notes=notes)


_DAGS_PER_BATCH: Final = 32  # DAGs projected together: 32 × 200 paths × 180 days × 8 B = 9 MB


def _projections(grid: _Grid, fits: list[_Fit], windows: list[int | None], days: np.ndarray,
                 long_days: np.ndarray, pos: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per DAG, in order: expected writes and size over ``long_days``, and the bootstrap
    size paths over ``days``. DAGs without a retention window are projected
    :data:`_DAGS_PER_BATCH` at a time (the same elementwise arithmetic as
    :meth:`_Fit.daily`, :func:`_future` and :func:`_sizes`, which the others still use)."""
    wd = grid.weekday0
    for start in range(0, len(fits), _DAGS_PER_BATCH):
        ks = range(start, min(start + _DAGS_PER_BATCH, len(fits)))
        batch = [k for k in ks if windows[k] is None]
        made = dict(zip(batch, _batch(grid, [fits[k] for k in batch], batch, days, long_days, pos),
                        strict=True)) if batch else {}
        for k in ks:
            if k in made:
                yield made[k]
                continue
            hist, fit = grid.written[:, k], fits[k]
            exp_writes = fit.daily(long_days, wd)
            yield (exp_writes, _sizes(hist, exp_writes, windows[k]),
                   _sizes(hist, _future(fit, days, wd, pos), windows[k]))


def _batch(grid: _Grid, fits: list[_Fit], ks: list[int], days: np.ndarray, long_days: np.ndarray,
           pos: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`_projections` of DAGs ``ks`` (no retention window) as whole arrays."""
    wd = grid.weekday0
    active = np.array([f.active for f in fits])
    first = np.array([f.first for f in fits])[:, None]
    factors = np.stack([f.factors for f in fits])
    level = np.array([f.level for f in fits])[:, None]
    slope = np.array([f.slope for f in fits])[:, None]
    exp_writes = np.clip(factors[:, (wd + long_days) % 7] * (level + slope * (long_days - first)), 0.0, None)
    exp_writes[~active] = 0.0
    b_level = np.stack([f.boot_level for f in fits])[:, :, None]
    b_slope = np.stack([f.boot_slope for f in fits])[:, :, None]
    f = factors[:, (wd + days) % 7][:, None, :]
    paths = np.clip(f * (b_level + b_slope * (days - first)[:, None, :]), 0.0, None)
    paths[~active] = 0.0
    for c, (k, fit) in enumerate(zip(ks, fits, strict=True)):
        hist = grid.written[:, k].sum()
        future = paths[c]
        if fit.active and len(fit.resid):
            future = np.clip(future + fit.resid[pos % len(fit.resid)], 0.0, None)
        yield exp_writes[c], hist + np.cumsum(exp_writes[c]), hist + np.cumsum(future, axis=-1)


def _window(policy: RetentionPolicy | None, dag_id: str, runs_per_day: float) -> int | None:
    if policy is None:
        return None
    w = policy.window_days(dag_id, runs_per_day)
    return None if w is None else max(round(w), 1)


def _projection(dates: pd.DatetimeIndex, written: np.ndarray, expected: np.ndarray,
                paths: np.ndarray) -> pd.DataFrame:
    lower, upper = np.quantile(paths, BAND, axis=0)
    out = pd.DataFrame({"written": written, "expected": expected,
                        "lower": np.minimum(lower, expected), "upper": np.maximum(upper, expected)},
                       index=pd.DatetimeIndex(dates, name="date"))
    return out


def _fit_table(grid: _Grid, fits: list[_Fit], hi: int) -> pd.DataFrame:
    names = [TOTAL, *grid.dags]
    return pd.DataFrame({
        "first_day": [grid.dates[f.first].date() for f in fits],
        "days_fitted": [f.last - f.first + 1 for f in fits],
        "level_bytes_per_day": [max(f.level + f.slope * (hi - f.first), 0.0) if f.active else 0.0
                                for f in fits],
        "trend_bytes_per_day_per_month": [30 * f.slope for f in fits],
        "growth_per_month": [f.growth_per_month for f in fits],
        "weekly": [f.weekly for f in fits],
        "active": [f.active for f in fits],
    }, index=pd.Index(names, name="dag_id"))


def _factor_table(grid: _Grid, fits: list[_Fit]) -> pd.DataFrame:
    cols = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    return pd.DataFrame([f.factors for f in fits], columns=cols,
                        index=pd.Index([TOTAL, *grid.dags], name="dag_id"))


def _notes(grid: _Grid, lo: int, hi: int, fits: list[_Fit]) -> list[str]:
    n = hi - lo + 1
    out = [f"fitted {n} day(s), {grid.dates[lo].date()} to {grid.dates[hi].date()}"]
    if n < MIN_TREND_DAYS:
        out.append(f"fewer than {MIN_TREND_DAYS} days: a flat rate, no trend; the band is residual noise only")
    rows, size = grid.one_offs
    if rows:
        out.append(f"{rows} one-off value(s) over {ONE_OFF_RATIO}× their task's median "
                   f"({size:,} bytes) count in today's size but not in the write rate")
    stopped = [d for d, f in zip(grid.dags, fits, strict=True) if not f.active]
    if stopped:
        out.append(f"{len(stopped)} DAG(s) stopped writing and are projected at zero: {', '.join(stopped[:5])}")
    return out


# --- backtest -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Backtest:
    """Fit on the first part of the history, score the bytes written in the rest.

    Attributes
    ----------
    by_dag : pandas.DataFrame
        Index ``dag_id`` (``(total)`` first): ``actual_bytes, predicted_bytes, lower,
        upper`` (bytes written over the test days, one-off offenders aside: the model
        does not forecast them), ``one_off_bytes`` (those offenders' bytes in the test
        days) and ``error`` (relative: (predicted − actual) / actual; NaN when nothing
        was written).
    error : float
        The total's relative error.
    error_with_one_offs : float
        The same against every byte written, one-off offenders included.
    """

    train_days: int
    test_days: int
    cut: pd.Timestamp
    by_dag: pd.DataFrame
    error: float
    error_with_one_offs: float
    covered: bool

    def __repr__(self) -> str:
        return (f"Backtest(train {self.train_days} d, test {self.test_days} d from {self.cut:%Y-%m-%d}: "
                f"error {self.error:+.1%} ({self.error_with_one_offs:+.1%} with one-offs), band {'covers' if self.covered else 'misses'} the actual)")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.by_dag.to_html(float_format=lambda x: f"{x:,.3g}")


def backtest(frame: pd.DataFrame | Summary, *, train_fraction: float = 0.7,
             rng: np.random.Generator | int | None = 0, boot: int = 200) -> Backtest:
    """Fit :func:`forecast`'s model on the first ``train_fraction`` of the fitted window and
    compare the bytes it expects to be written over the remaining days with the actual."""
    if not 0 < train_fraction < 1:
        msg = f"train_fraction={train_fraction}; expected a fraction strictly between 0 and 1"
        raise ParameterError(msg)
    grid, _ = _history(frame, "backtest")
    lo, hi = grid.window()
    cut = lo + round(train_fraction * (hi - lo + 1))
    if cut - lo < 2 or cut > hi:
        msg = (f"backtest needs at least 2 training days and 1 test day; the history has "
               f"{hi - lo + 1} usable day(s)")
        raise InsufficientDataError(msg)
    gen = np.random.default_rng(seed_of(rng))
    fits = _fits(grid, lo, cut - 1, boot, gen)
    days = np.arange(cut, hi + 1)
    pos = _block_positions(cut - lo, len(days), boot, gen)
    pred = np.array([f.daily(days, grid.weekday0).sum() for f in fits])
    paths = np.stack([_future(f, days, grid.weekday0, pos).sum(axis=1) for f in fits])  # (dags, B)
    actual = grid.rate[cut:hi + 1].sum(axis=0)
    one_off = grid.written[cut:hi + 1].sum(axis=0) - actual
    lower, upper = np.quantile(paths, BAND, axis=1)
    tot_lo, tot_hi = np.quantile(paths.sum(axis=0), BAND)
    table = pd.DataFrame({"actual_bytes": [actual.sum(), *actual], "predicted_bytes": [pred.sum(), *pred],
                          "lower": [tot_lo, *lower], "upper": [tot_hi, *upper],
                          "one_off_bytes": [one_off.sum(), *one_off]},
                         index=pd.Index([TOTAL, *grid.dags], name="dag_id"))
    table["error"] = (table["predicted_bytes"] - table["actual_bytes"]) / table["actual_bytes"].where(
        table["actual_bytes"] > 0)
    err = float(table["error"].iloc[0])
    every = float(pred.sum() / (actual.sum() + one_off.sum()) - 1) if actual.sum() + one_off.sum() else float("nan")
    covered = bool(tot_lo <= actual.sum() <= tot_hi)
    return Backtest(cut - lo, hi - cut + 1, grid.dates[cut], table, err, every, covered)
