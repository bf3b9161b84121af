"""The forecast and the retention what-if computed across DAGs at once give the numbers the
per-DAG loops they replaced gave, bit for bit.

The references below are those loops as they stood (forecast: ``_fits`` with ``np.median``
over every pairwise slope and per weekday, the projection summed over the stacked DAGs; retention:
``_summary_retention`` with ``_summary_steady`` per DAG), run on the same summaries: the
Airflow 3 sample (exact and with its older runs rolled up per day), an Airflow 2 dump and
a sparse "mixed" export like benchmark 1's (DAGs writing on a few days in ten, where most
Theil–Sen slopes are zero).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks.shapes import write_shape
from xcomlab import schema as S
from xcomlab.analysis.retention import KeyRule, RetentionPolicy
from xcomlab.summary import Summary, summarize_file
from xcomlab.summary.core import coarsen

# the modules, not the functions of the same name that ``xcomlab.analysis`` exports
fc = importlib.import_module("xcomlab.analysis.forecast")
rt = importlib.import_module("xcomlab.analysis.retention")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("data/samples/af3/airflow.db", "data/samples/af2/xcom_pgdump.sql")


NAMES = [*SAMPLES, f"{SAMPLES[0]}:rolled", "mixed"]


@cache
def _summary(name: str, tmp: Path) -> Summary:
    if name == "mixed":  # 30,000 rows over 2,000 DAGs, each writing on ~13 % of its days
        csv = tmp / "mixed.csv"
        write_shape("mixed", 30_000, csv, threads=1)
        return summarize_file(csv)
    base, _, rolled = name.partition(":")
    s = summarize_file(ROOT / base)
    return coarsen(s, 200) if rolled else s  # rolled: runs before the newest ~200 groups per day


@pytest.fixture(scope="module", params=NAMES)
def summary(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Summary:
    return _summary(request.param, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Summary:
    return _summary("mixed", tmp_path_factory.getbasetemp())


# --- the forecast's reference: one DAG at a time --------------------------------------------

def _ref_theil_sen(x: np.ndarray, z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.median((z[:, j] - z[:, i]) / (x[j] - x[i]), axis=1)


def _ref_pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, 1)
    if len(i) > fc.MAX_PAIRS:
        pick = rng.choice(len(i), fc.MAX_PAIRS, replace=False)
        i, j = i[pick], j[pick]
    return i, j


def _ref_weekly_factors(seg: np.ndarray, wd: np.ndarray) -> tuple[np.ndarray, bool]:
    ones = np.ones(7)
    if len(seg) < fc.MIN_WEEKLY_DAYS:
        return ones, False
    ma = pd.Series(seg).rolling(7, center=True, min_periods=7).mean().to_numpy()
    ok = ma > 0
    if ok.sum() < fc.MIN_WEEKLY_DAYS - 6:
        return ones, False
    r, w = seg[ok] / ma[ok], wd[ok]
    f = np.array([np.median(r[w == d]) if (w == d).any() else 1.0 for d in range(7)])
    if f.mean() <= 0:
        return ones, False
    f = f / f.mean()
    before, after = np.median(np.abs(r - 1)), np.median(np.abs(r - f[w]))
    return (f, True) if before > 0 and after <= fc.WEEKLY_GAIN * before else (ones, False)


def _ref_fit(y: np.ndarray, first: int, last: int, weekday0: int, active: bool,
             idx: np.ndarray, rng: np.random.Generator) -> Any:
    seg = y[first:last + 1].astype("float64")
    n = len(seg)
    days = np.arange(first, last + 1)
    wd = (weekday0 + days) % 7
    x = (days - first).astype("float64")
    factors, weekly = _ref_weekly_factors(seg, wd)
    f = factors[wd]
    if n < fc.MIN_TREND_DAYS:
        level = float(seg.mean())
        b = len(idx)
        return fc._Fit(first, last, level, 0.0, factors, False, active, seg - level,
                       np.full(b, level), np.zeros(b))
    use = f > 0.05
    i, j = _ref_pairs(int(use.sum()), rng)
    xs, fs = x[use], f[use]
    slope = float(_ref_theil_sen(xs, (seg[use] / fs)[None, :], i, j)[0])
    level = float(fc._level(seg, f, x, slope))
    fitted = f * (level + slope * x)
    resid = seg - fitted
    boot = fitted + resid[idx[:, :n] % n]
    b_slope = _ref_theil_sen(xs, boot[:, use] / fs, i, j)
    b_level = fc._level(boot, f, x, b_slope)
    return fc._Fit(first, last, level, slope, factors, weekly, active, resid, b_level, b_slope)


def _ref_forecast(summary: Summary, seed: int, boot: int, horizon_days: int = 180) -> dict[str, Any]:
    grid, _ = fc._history(summary, "forecast")
    lo, hi = grid.window()
    gen = np.random.default_rng(seed)
    idx = fc._block_positions(hi - lo + 1, hi - lo + 1, boot, gen)
    fits = []
    for k in range(len(grid.dags)):
        y = grid.rate[:, k]
        on = np.flatnonzero(y[lo:hi + 1] > 0)
        first = lo + int(on[0]) if len(on) else lo
        fits.append(_ref_fit(y, first, hi, grid.weekday0, fc._active(y, hi), idx + (lo - first), gen))
    idx = fc._block_positions(hi - lo + 1, hi - lo + 1, boot, gen)
    total = _ref_fit(grid.rate.sum(axis=1), lo, hi, grid.weekday0, True, idx, gen)
    n = len(grid.dates)
    days = np.arange(n, n + horizon_days)
    pos = fc._block_positions(hi - lo + 1, horizon_days, boot, gen)
    long_days = np.arange(n, n + max(fc.MAX_DAYS, horizon_days))
    per_dag, expected_long = [], np.zeros(len(long_days))
    for k, fit in enumerate(fits):
        hist = grid.written[:, k]
        exp_writes = fit.daily(long_days, grid.weekday0)
        exp_size = fc._sizes(hist, exp_writes, None)
        expected_long += exp_size
        paths = fc._sizes(hist, fc._future(fit, days, grid.weekday0, pos), None)
        per_dag.append((exp_writes[:horizon_days], exp_size[:horizon_days], paths))
    dates = pd.date_range(grid.dates[-1] + fc._DAY, periods=horizon_days, freq="D")
    projection = fc._projection(dates, *(np.sum([p[i] for p in per_dag], axis=0) for i in range(3)))
    return {"fit": fc._fit_table(grid, [total, *fits], hi), "projection": projection,
            "expected_path": expected_long,
            "boot": np.stack([np.concatenate([f.boot_level, f.boot_slope]) for f in [total, *fits]])}


def test_forecast_equals_the_per_dag_loop(summary: Summary) -> None:
    ref = _ref_forecast(summary, seed=7, boot=40)
    new = fc.forecast(summary, rng=7, boot=40)
    assert new.fit.equals(ref["fit"])
    assert new.projection.equals(ref["projection"])
    assert np.array_equal(new.expected_path, ref["expected_path"])


def test_the_mixed_export_takes_the_zero_slope_shortcut(mixed: Summary) -> None:
    """Most of the mixed export's replicates are settled by counting zero pairs: the
    comparison above covers the shortcut, not only the slopes."""
    grid, _ = fc._history(mixed, "forecast")
    lo, hi = grid.window()
    y = grid.rate[:, int(np.argmax((grid.rate > 0).sum(axis=0)))]
    first = lo + int(np.flatnonzero(y[lo:hi + 1] > 0)[0])
    z = np.tile(y[first:hi + 1], (8, 1))
    i, j = fc._pairs(len(z[0]), np.random.default_rng(0))
    n = len(i)
    assert (fc._zero_pairs(z, i, j) > n - (n // 2 - 1 if n % 2 == 0 else n // 2)).all()


@pytest.mark.parametrize("n", [2, 3, 8, 9, 40, 91, 300])
def test_theil_sen_is_np_median_of_the_slopes(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(30):
        b = int(rng.integers(1, 60))
        z = rng.lognormal(5, 2, size=(b, n)) * (rng.random((b, n)) < rng.random())
        if trial % 4 == 0:
            z[rng.random(z.shape) < 0.05] = 7.0  # ties that are not zero
        if trial % 5 == 0:
            z = -z
        if trial % 6 == 0:
            z[rng.random(z.shape) < 0.3] = -0.0
        if trial % 9 == 0:
            z[rng.random(z.shape) < 0.02] = np.nan
        if trial % 11 == 0:
            z[rng.random(z.shape) < 0.02] = np.inf
        x = np.sort(rng.choice(2 * n, n, replace=False)).astype(float)
        r1, r2 = np.random.default_rng(trial), np.random.default_rng(trial)
        i, j = fc._pairs(n, r1)
        assert all(np.array_equal(a, b) for a, b in zip((i, j), _ref_pairs(n, r2), strict=True))
        assert r1.random() == r2.random()  # the same draws, in the same number
        with np.errstate(invalid="ignore"):
            want, got = _ref_theil_sen(x, z, i, j), fc._theil_sen(x, z, i, j)
        assert np.array_equal(got, want, equal_nan=True), trial
        assert np.array_equal(np.signbit(got), np.signbit(want)), trial


def test_weekly_factors_are_the_per_weekday_medians() -> None:
    rng = np.random.default_rng(0)
    kept = 0
    for trial in range(600):
        n = int(rng.integers(15, 400))
        seg = rng.lognormal(8, 1, n) * (rng.random(n) < rng.random())
        if trial % 3 == 0:  # a weekly pattern strong enough to keep
            seg *= np.array([1, 1, 1, 1, 1, 0.2, 0.1])[np.arange(n) % 7]
        if trial % 7 == 0:  # ties
            seg = np.round(seg / 1000) * 1000
        if trial % 50 == 0:
            seg[rng.integers(0, n)] = np.inf
        wd = (int(rng.integers(0, 7)) + np.arange(n)) % 7
        with np.errstate(invalid="ignore"):
            (want, kw), (got, kg) = _ref_weekly_factors(seg, wd), fc._weekly_factors(seg, wd)
        assert kw == kg and np.array_equal(got, want, equal_nan=True), trial
        kept += kw
    assert 100 < kept < 500  # both outcomes were tested


# --- the retention reference: one DAG at a time ---------------------------------------------

def _ref_steady(part: pd.DataFrame, pol: RetentionPolicy, now: pd.Timestamp,
                limit: np.ndarray, days: pd.Series) -> tuple[float, float]:
    oldest = part["first_timestamp"].min()
    span = min(float(rt.RECENT_DAYS), max((now - oldest) / rt._DAY, 1.0))
    older, _ = rt._older(part, now, np.full(len(part), span), inclusive=True)
    recent = 1.0 - older
    rate = part["value_bytes"].to_numpy(np.float64) * recent / span
    keep = np.inf
    if pol.keep_last_runs is not None:
        exact = ~part["old"].to_numpy(dtype=bool)
        old_recent = float(days[np.asarray(pd.DatetimeIndex(days.index) > now - pd.Timedelta(days=span))].sum()) \
            if len(days) else 0.0
        runs_per_day = (part.loc[(recent > 0) & exact, "run"].nunique() + old_recent) / span
        keep = pol.keep_last_runs / runs_per_day if runs_per_day else 0.0
    kept = np.minimum(np.where(recent > 0, limit, 0.0), keep)
    if np.isinf(kept[rate > 0]).any():
        return float(rate.sum()), float("nan")
    return float(rate.sum()), float((rate * kept).sum())


def _ref_retention(summary: Summary, policy: RetentionPolicy) -> dict[str, Any]:
    live = summary.primary()
    g = rt._run_key_groups(live)
    g = g[g["first_timestamp"].notna()] if g["first_timestamp"].notna().any() else g
    _, last = live.timestamps()
    when = rt._now_of(last, None)
    g[S.DAG_ID] = g[S.DAG_ID].astype(str)
    g["key_name"] = g[S.KEY].astype(str)
    g["internal"] = [S.is_internal_key(k) for k in g["key_name"]]
    g["run"] = g[S.RUN_ID].astype("object").fillna("")
    old = live.old_runs.reset_index()
    old_days = old.groupby([old[S.DAG_ID].astype(str), "day"], sort=False, dropna=False)["runs"].sum()
    by_dag_days = {str(d): s.droplevel(0) for d, s in old_days.groupby(level=0, sort=False)}
    parts, straddle, rates = [], 0.0, {}
    for dag_id, part in g.groupby(S.DAG_ID, sort=False):
        applies = policy.applies_to(str(dag_id))
        pol = policy.for_dag(str(dag_id)) if applies else rt._KEEP_ALL
        limit = rt._age_limits(pd.DataFrame({S.KEY: part["key_name"], S.INTERNAL: part["internal"]}), pol)
        share, unsure = rt._older(part, when, limit)
        gone = np.where(limit == 0, 1.0, share) if applies else np.zeros(len(part))
        days = by_dag_days.get(str(dag_id), pd.Series(dtype="int64"))
        if applies and pol.keep_last_runs is not None:
            gone = rt._keep_last(part, gone, pol.keep_last_runs, days)
        straddle += float((part["rows"].to_numpy() * (unsure & (gone < 1))).sum()) if applies else 0.0
        parts.append(part.assign(gone=gone))
        rates[str(dag_id)] = _ref_steady(part, pol, when, limit, days)
    g = pd.concat(parts)
    g["rows_freed"] = g["rows"] * g["gone"]
    g["bytes_freed"] = g["value_bytes"] * g["gone"]
    g["refs_freed"] = g["refs"] * g["gone"]
    by = g.groupby(S.DAG_ID)
    out = pd.DataFrame({"rows": by["rows"].sum(), "value_bytes": by["value_bytes"].sum(),
                        "rows_freed": by["rows_freed"].sum().round(), "bytes_freed": by["bytes_freed"].sum().round()})
    out["rows_left"] = out["rows"] - out["rows_freed"]
    out["bytes_left"] = out["value_bytes"] - out["bytes_freed"]
    out["bytes_per_day"] = [rates[d][0] for d in out.index]
    out["steady_state_bytes"] = [rates[d][1] for d in out.index]
    out["orphaned_refs"] = by["refs_freed"].sum().round()
    out = out.astype({c: "int64" for c in rt._COUNTS})
    out.index.name = "dag_id"
    return {"by_dag": out.sort_values(["bytes_freed", "value_bytes"], ascending=False),
            "orphaned_ref_bytes": round(float((g["ref_bytes"] * g["gone"]).sum())),
            "straddling_rows": round(straddle)}


def _policies(summary: Summary) -> list[RetentionPolicy]:
    dags = sorted(map(str, summary.primary().daily.reset_index()[S.DAG_ID].astype(str).unique()))
    return [RetentionPolicy(max_age_days=30), RetentionPolicy(keep_last_runs=3),
            RetentionPolicy(max_age_days=7, key_rules=(KeyRule("return_value", 2),)),
            RetentionPolicy(max_age_days=10, keep_last_runs=5),
            RetentionPolicy(key_rules=(KeyRule(internal=True, max_age_days=0),)),
            RetentionPolicy(max_age_days=3, dag_ids=(*dags[: len(dags) // 2], dags[-1]),
                            per_dag={dags[0]: RetentionPolicy(keep_last_runs=2),
                                     dags[-1]: RetentionPolicy(max_age_days=1)})]


def _same_retention(summary: Summary, policy: RetentionPolicy) -> None:
    new = rt.retention(summary, policy)
    ref = _ref_retention(summary, policy)
    assert new.by_dag.equals(ref["by_dag"]), policy
    assert list(new.by_dag.index) == list(ref["by_dag"].index), policy
    assert new.totals["orphaned_ref_bytes"] == ref["orphaned_ref_bytes"], policy
    assert new.straddling_rows == ref["straddling_rows"], policy


def test_retention_equals_the_per_dag_loop(summary: Summary) -> None:
    policies = _policies(summary)
    if len(policies[-1].dag_ids or ()) > 500:  # mixed, 2,000 DAGs: the reference takes ~6 s a policy
        policies = [policies[0]]  # the report's default; the rest under test_..._every_policy
    for policy in policies:
        _same_retention(summary, policy)


@pytest.mark.slow
def test_retention_on_the_mixed_export_equals_the_per_dag_loop_for_every_policy(mixed: Summary) -> None:
    for policy in _policies(mixed):
        _same_retention(mixed, policy)
