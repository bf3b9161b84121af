"""fit_workload on a summary against the frame path: bounds on the bundled samples and a synthetic export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import xcomlab
from xcomlab import synth
from xcomlab.simulate import Workload, fit_workload
from xcomlab.summary import Summary, summarize_frame
from xcomlab.summary.core import weekly_table

SAMPLES = [ROOT / "data/samples/af3/airflow.db", ROOT / "data/samples/af2/xcom_pgdump.sql",
           ROOT / "data/samples/af2/export_archived"]
_IDS = ["dag_id", "task_id", "key"]


def _pair(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, Workload, Workload]:
    a, b = fit_workload(frame), fit_workload(summarize_frame(frame))
    sa, sb = a.streams.set_index(_IDS), b.streams.set_index(_IDS)
    assert sorted(sa.index) == sorted(sb.index)
    return sa, sb.reindex(sa.index), a, b


def _check(frame: pd.DataFrame, *, bytes_per_day: float, mean_bytes: float) -> None:
    """Runs, fan-out, start day and writes per day exact; sizes within the stated bounds."""
    sa, sb, a, b = _pair(frame)
    for col in ("runs_per_day", "fan_out", "start_day"):
        np.testing.assert_allclose(sb[col], sa[col], rtol=1e-9, err_msg=col)
    assert (sa["mapped"] == sb["mapped"]).all()
    assert b.writes_per_day() == pytest.approx(a.writes_per_day(), rel=1e-9)
    assert b.bytes_per_day() == pytest.approx(a.bytes_per_day(), rel=bytes_per_day)
    rel = ((sb["mean_bytes"] - sa["mean_bytes"]).abs() / sa["mean_bytes"].clip(lower=1)).mean()
    assert rel <= mean_bytes
    assert abs(b.size_growth_per_month.max() - a.size_growth_per_month.max()) <= 0.05
    assert abs(b.growth_per_month[0] - a.growth_per_month[0]) <= 0.02
    assert b.meta["rows"] == a.meta["rows"] and b.meta["days"] == pytest.approx(a.meta["days"])


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_summary_fit_matches_the_frame_on_the_samples(path: Path) -> None:
    # measured 2026-12-07: bytes/day within 3.1 % (af3: size growth 0.45/month read per
    # ISO week), mean stream size within 1.4 % on average
    _check(xcomlab.load_export(path), bytes_per_day=0.05, mean_bytes=0.03)


@pytest.mark.slow
def test_summary_fit_matches_the_frame_on_a_synthetic_export(tmp_path: Path) -> None:
    dep = synth.generate(seed=5, dags=8, days=70, growth_per_month=0.2, late_dag_share=0.3, max_fan_out=64)
    path = tmp_path / "xcom.parquet"
    synth.write(dep, "parquet", path)
    _check(xcomlab.load_export(path), bytes_per_day=0.05, mean_bytes=0.05)


def test_runs_are_rows_at_the_lowest_map_index() -> None:
    """One run per (dag_run, task, key) whatever its fan-out: map_index -1 or 0 (Airflow's
    primary key), counted per stream and ISO week."""
    frame = xcomlab.load_export(SAMPLES[0])
    table = weekly_table(xcomlab.summary.core.frame_columns(frame))
    assert int(table["rows"].sum()) == len(frame)
    runs = frame[frame["map_index"] <= 0].groupby(["dag_id", "task_id", "key"], observed=True).size()
    got = table.groupby(level=_IDS)["runs"].sum()
    assert got.loc[runs.index].tolist() == runs.tolist()


def test_a_summary_without_the_weekly_table_falls_back() -> None:
    """A pushed-down or older summary has no weekly table: runs from run_keys, no growth."""
    frame = xcomlab.load_export(SAMPLES[1])
    whole = summarize_frame(frame)
    bare = replace(whole, weekly=Summary.empty().weekly)
    w = fit_workload(bare)
    assert "no weekly table" in w.source
    assert (w.growth_per_month == 0).all() and (w.size_growth_per_month == 0).all()
    assert w.writes_per_day() == pytest.approx(fit_workload(frame).writes_per_day(), rel=0.25)
