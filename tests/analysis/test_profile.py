"""Profile tables, daily series, mapped fan-out and plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
from conftest import ROOT

import xcomlab
from xcomlab import synth
from xcomlab.synth.samples import SAMPLES

SAMPLE = ROOT / "data" / "samples" / "af3" / "airflow.db"


def test_profile_tables_match_truth() -> None:
    frame = xcomlab.load_export(SAMPLE)
    p = xcomlab.profile(frame)
    truth = synth.generate(SAMPLES["af3"][0]).truth
    assert p.by_dag["value_bytes"].to_dict() == {k: v["value_bytes"] for k, v in truth["by_dag"].items()}
    assert abs(p.by_dag["share"].sum() - 1.0) < 1e-12
    assert (p.by_dag["p50_bytes"] <= p.by_dag["p99_bytes"]).all()
    assert (p.by_dag["p99_bytes"] <= p.by_dag["max_bytes"]).all()
    assert p.top_rows["value_bytes"].is_monotonic_decreasing


def test_daily_series_has_every_day_and_sums_to_total() -> None:
    frame = xcomlab.load_export(SAMPLE)
    p = xcomlab.profile(frame)
    assert p.daily["value_bytes"].sum() == p.summary["value_bytes"]
    assert p.daily["rows"].sum() == p.summary["rows"]
    assert (p.daily.index.to_series().diff().dropna() == pd.Timedelta(days=1)).all()


def test_mapped_fan_out(tmp_path) -> None:
    dep = synth.generate(seed=1, dags=3, days=10, max_fan_out=50)
    frame = xcomlab.load_export(synth.write(dep, "parquet", tmp_path / "mapped.parquet"))
    m = xcomlab.profile(frame).mapped
    plan = dep.plan[dep.plan["map_index"] >= 0]
    widest = plan.groupby(["dag_id", "task_id", "run_id"], observed=True)["map_index"].max().max() + 1
    assert m["max_fan_out"].max() == widest <= 50
    assert m["rows"].sum() == len(plan)


def test_plots_draw_what_they_say() -> None:
    p = xcomlab.profile(xcomlab.load_export(SAMPLE))
    ax = p.plot_top(n=5)
    assert len(ax.patches) == 5 and ax.get_yticklabels()[-1].get_text() == p.by_dag.index[0]
    ax = p.plot_sizes()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ax = p.plot_sizes(cdf=True)
    assert ax.lines[0].get_ydata()[-1] == 1.0
    ax = p.plot_daily()
    assert len(ax.lines[0].get_xdata()) == len(p.daily)
