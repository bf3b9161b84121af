"""Workloads: fitted from a synthetic deployment's export, or described synthetically."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xcomlab
from xcomlab import synth
from xcomlab.analysis.profile import daily
from xcomlab.simulate import SimConfig, Workload, fit_workload, simulate, synthetic_workload


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    dep = synth.generate(seed=5, dags=8, days=70, growth_per_month=0.2, late_dag_share=0.3, max_fan_out=64)
    path = Path(tmp_path_factory.mktemp("wl")) / "xcom.parquet"
    synth.write(dep, "parquet", path)
    return xcomlab.load_export(path)


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> Workload:
    return fit_workload(frame)


@pytest.mark.slow
def test_fit_finds_streams_runs_and_fan_out(frame: pd.DataFrame, fitted: Workload) -> None:
    live = frame[frame["source_table"] == "xcom"]
    assert len(fitted) == live.groupby(["dag_id", "task_id", "key"], observed=True).ngroups
    s = fitted.streams.set_index(["dag_id", "task_id", "key"])
    wide = s[s["mapped"]].sort_values("fan_out").iloc[-1]
    assert 0.6 * 64 < wide["fan_out"] < 0.9 * 64  # synth maps one task ~0.75 × max_fan_out
    assert (s.loc[~s["mapped"], "fan_out"] == 1).all()
    assert s["runs_per_day"].max() == pytest.approx(24, rel=0.1)  # hourly DAGs exist
    assert (s["start_day"] > 0).any()  # late DAGs start late
    varying = fitted.sizes[:, -1] > fitted.sizes[:, 0]
    assert fitted.size_growth_per_month[varying].max() == pytest.approx(0.2, abs=0.1)
    assert (fitted.size_growth_per_month[~varying] == 0).all()
    assert "fitted on" in repr(fitted)


@pytest.mark.slow
def test_sketch_keeps_observed_sizes(frame: pd.DataFrame, fitted: Workload) -> None:
    live = frame[frame["source_table"] == "xcom"]
    sizes = set(live["value_bytes"].dropna().astype(int))
    growth = 1 + fitted.size_growth_per_month.max() * 70 / 30
    assert fitted.sizes.max() <= max(sizes) and fitted.sizes.min() >= min(sizes) / growth
    const = fitted.streams[fitted.streams["key"] == "past_depends_met"]
    if len(const):  # a constant value stays constant
        row = fitted.sizes[const.index[0]]
        assert row.min() == row.max()


@pytest.mark.slow
def test_fitted_workload_reproduces_daily_volume(frame: pd.DataFrame, fitted: Workload) -> None:
    observed = daily(frame[frame["source_table"] == "xcom"])
    n = len(observed)
    sim = simulate(fitted, SimConfig(), horizon_days=n, rng=0).daily
    for lo, hi in ((0, n // 2), (n // 2, n)):
        rows_obs, rows_sim = observed["rows"].iloc[lo:hi].sum(), sim["writes"].iloc[lo:hi].sum()
        bytes_obs, bytes_sim = observed["value_bytes"].iloc[lo:hi].sum(), sim["value_bytes"].iloc[lo:hi].sum()
        assert rows_sim == pytest.approx(rows_obs, rel=0.1), (lo, hi)
        assert bytes_sim == pytest.approx(bytes_obs, rel=0.15), (lo, hi)


def test_fit_refuses_an_empty_frame() -> None:
    from xcomlab.schema import empty_frame

    with pytest.raises(ValueError, match="no live xcom rows"):
        fit_workload(empty_frame())


def test_synthetic_workload_is_seeded_and_shaped() -> None:
    a = synthetic_workload(dags=200, tasks_per_dag=(4, 8), rng=3)
    b = synthetic_workload(dags=200, tasks_per_dag=(4, 8), rng=3)
    c = synthetic_workload(dags=200, tasks_per_dag=(4, 8), rng=4)
    assert np.array_equal(a.sizes, b.sizes) and not np.array_equal(a.sizes[:5], c.sizes[:5])
    assert 800 <= len(a) <= 1600 and len(set(a.dag_id)) == 200
    assert np.all(np.diff(a.sizes, axis=1) >= 0)
    assert 0.05 < a.mapped.mean() < 0.15
    assert 50 < float(np.median(a.sizes[:, a.sizes.shape[1] // 2])) < 600
    assert a.writes_per_day() > a.runs_per_day.sum()


def test_workload_validates_its_arrays() -> None:
    ok = dict(dag_id=["d"], task_id=["t"], key=["k"], runs_per_day=[1.0], fan_out=[1.0], mapped=[False],
              pulls_per_push=[1.0], growth_per_month=[0.0], size_growth_per_month=[0.0], start_day=[0.0])
    with pytest.raises(ValueError, match="sizes has shape"):
        Workload(sizes=np.ones((2, 4)), **ok)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fan_out ≥ 1"):
        Workload(sizes=np.ones((1, 4)), **{**ok, "fan_out": [0.5]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Workload(sizes=np.full((1, 4), np.nan), **ok)  # type: ignore[arg-type]


def test_fit_on_the_bundled_airflow3_sample() -> None:
    root = Path(__file__).resolve().parents[2]
    frame = xcomlab.load_export(root / "data" / "samples" / "af3" / "airflow.db")
    w = fit_workload(frame)
    assert abs(w.growth_per_month[0]) < 0.03  # schedules are steady: no run-rate trend
    observed = daily(frame[frame["source_table"] == "xcom"])["rows"].iloc[-35:-7].mean()
    assert w.writes_per_day(90) == pytest.approx(observed, rel=0.15)
    flat = replace(w, size_growth_per_month=0.0)  # scalars broadcast to every stream
    assert flat.size_growth_per_month.shape == (len(w),) and not flat.size_growth_per_month.any()
