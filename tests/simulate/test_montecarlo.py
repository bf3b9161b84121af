"""The Monte Carlo: determinism, conservation, monotonicity, retention, limits, cost, latency."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcomlab.models.cost import Prices
from xcomlab.models.latency import LatencyModel
from xcomlab.simulate import (
    DAILY_COLUMNS,
    SimConfig,
    Workload,
    hard_limit,
    measure_compression_ratio,
    simulate,
    synthetic_workload,
)


@pytest.fixture(scope="module")
def work() -> Workload:
    return synthetic_workload(dags=60, rng=4, large_share=0.05, size_growth_per_month=0.05)


def _hand(sizes: list[float], runs_per_day: float = 50.0) -> Workload:
    """One unmapped stream whose values take the given sizes with equal probability."""
    return Workload(dag_id=["d"], task_id=["t"], key=["return_value"], runs_per_day=[runs_per_day],
                    fan_out=[1.0], mapped=[False], sizes=np.array([sizes], dtype=np.float32),
                    pulls_per_push=[1.0], growth_per_month=[0.0], size_growth_per_month=[0.0],
                    start_day=[0.0], source="hand-made")


class LinearPrices:
    """Stand-in for the cost model (an external collaborator): linear list prices."""

    def monthly(self, *, db_bytes: float, object_bytes: float, puts: float, gets: float) -> float:
        return db_bytes / 1e9 * 0.115 + object_bytes / 1e9 * 0.023 + puts * 5e-6 + gets * 4e-7


class SizeLatency:
    """Stand-in latency model: a fixed cost per backend plus bytes over a link, with jitter."""

    fixed: ClassVar[dict[str, float]] = {"postgresql": 2e-3, "sqlite": 1e-3, "s3": 30e-3}

    def sample(self, op: str, backend: str, nbytes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        jitter = rng.lognormal(0.0, 0.3, len(nbytes))
        return self.fixed[backend] * jitter + np.asarray(nbytes) / 100e6


def test_same_seed_same_result_and_another_seed_differs(work: Workload) -> None:
    cfg = SimConfig("tiered", threshold_bytes=4096)
    a = simulate(work, cfg, horizon_days=40, rng=11, latency=SizeLatency())
    b = simulate(work, cfg, horizon_days=40, rng=11, latency=SizeLatency())
    c = simulate(work, cfg, horizon_days=40, rng=12, latency=SizeLatency())
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.push_sizes, b.push_sizes)
    pd.testing.assert_frame_equal(a.latency, b.latency)
    assert a.seed == 11
    assert not a.daily["writes"].equals(c.daily["writes"])
    assert a.summary["peak_db_bytes"] != c.summary["peak_db_bytes"]


def test_daily_columns_add_up(work: Workload) -> None:
    r = simulate(work, SimConfig("tiered", threshold_bytes=2048, compression_ratio=0.4), horizon_days=30, rng=1)
    d = r.daily
    assert list(d.columns) == list(DAILY_COLUMNS)
    assert (d["writes"] == d["db_writes"] + d["object_writes"]).all()
    assert (d["puts"] == d["object_writes"]).all() and (d["heads"] == d["puts"]).all()
    assert (d["db_rows"] == d["writes"].cumsum()).all()  # no retention: every write is a row
    assert (d["object_count"] == d["object_writes"].cumsum()).all()
    assert (d["gets"] <= d["pulls"]).all()
    assert r.writes == int(r.push_sizes.loc["all", "writes"])
    assert r.push_sizes.loc["object", "p50_bytes"] >= 2048 > r.push_sizes.loc["db", "max_bytes"]


def test_writes_follow_the_workload_rate(work: Workload) -> None:
    r = simulate(work, horizon_days=60, rng=3)
    expected = sum(work.writes_per_day(d) for d in range(60))
    assert r.writes == pytest.approx(expected, rel=0.02)
    bytes_expected = sum(work.bytes_per_day(d) for d in range(60))
    assert r.daily["value_bytes"].sum() == pytest.approx(bytes_expected, rel=0.1)


def test_draws_do_not_depend_on_the_configuration(work: Workload) -> None:
    runs = [simulate(work, cfg, horizon_days=20, rng=5).daily
            for cfg in (SimConfig(), SimConfig("object", compression_ratio=0.3), SimConfig("tiered", threshold_bytes=999))]
    for d in runs[1:]:
        pd.testing.assert_series_equal(d["writes"], runs[0]["writes"])
        pd.testing.assert_series_equal(d["value_bytes"], runs[0]["value_bytes"])


def test_db_bytes_fall_as_the_threshold_falls(work: Workload) -> None:
    thresholds = [-1, 1_000_000, 100_000, 10_000, 1_000, 200, 0]
    peak = []
    for thr in thresholds:
        cfg = SimConfig("tiered", threshold_bytes=thr, ref_bytes=0)
        peak.append(simulate(work, cfg, horizon_days=30, rng=2).daily["db_bytes"].iloc[-1])
    assert all(a >= b for a, b in itertools.pairwise(peak)), peak
    assert peak[0] > peak[3] > peak[-1] == 0
    # With reference rows the DB still shrinks while the threshold is above the row's size.
    with_refs = [simulate(work, SimConfig("tiered", threshold_bytes=t), horizon_days=30, rng=2)
                 .daily["db_bytes"].iloc[-1] for t in (-1, 100_000, 10_000, 1_000)]
    assert all(a >= b for a, b in itertools.pairwise(with_refs))


@settings(max_examples=25, deadline=None, database=None)
@given(st.integers(-1, 3_000_000), st.integers(-1, 3_000_000), st.integers(0, 2**16))
def test_db_value_bytes_never_grow_when_the_threshold_falls(t1: int, t2: int, seed: int) -> None:
    w = synthetic_workload(dags=8, rng=1, large_share=0.2)
    high, low = (t1, t2) if (t1 == -1 or (t2 != -1 and t1 >= t2)) else (t2, t1)
    at = {t: simulate(w, SimConfig("tiered", threshold_bytes=t, ref_bytes=0), horizon_days=10, rng=seed).daily
          for t in (high, low)}
    assert (at[high]["db_bytes"] >= at[low]["db_bytes"]).all()
    assert (at[high]["object_bytes"] <= at[low]["object_bytes"]).all()


def test_object_bytes_and_cost_rise_with_the_compression_ratio(work: Workload) -> None:
    prev_bytes, prev_cost, prev_p50 = -1, -1.0, -1.0
    for ratio in (0.1, 0.3, 0.6, 1.0):
        r = simulate(work, SimConfig("object", compression_ratio=ratio), horizon_days=35, rng=8,
                     prices=LinearPrices(), latency=SizeLatency())
        obj = int(r.daily["object_bytes"].iloc[-1])
        assert obj > prev_bytes
        assert r.usd_per_month is not None and r.usd_per_month >= prev_cost
        p50 = float(r.latency.loc[("push", "object"), "p50_s"])  # type: ignore[union-attr]
        assert p50 >= prev_p50
        prev_bytes, prev_cost, prev_p50 = obj, r.usd_per_month, p50


def test_retention_bounds_the_database(work: Workload) -> None:
    keep = 14
    kept = simulate(work, SimConfig(retention_days=keep), horizon_days=60, rng=9).daily
    full = simulate(work, SimConfig(), horizon_days=60, rng=9).daily
    assert (kept["db_rows"] <= full["db_rows"]).all()
    assert int(kept["db_rows"].iloc[-1]) == int(kept["writes"].iloc[-keep:].sum())
    steady = kept["db_rows"].iloc[keep:]
    assert steady.max() <= 1.1 * keep * kept["writes"].mean()
    assert full["db_rows"].iloc[-1] > 3 * kept["db_rows"].iloc[-1]


def test_orphaned_objects_when_db_clean_does_not_purge(work: Workload) -> None:
    cfg = SimConfig("tiered", threshold_bytes=4096, retention_days=7)
    purged = simulate(work, cfg, horizon_days=30, rng=1).daily
    orphans = simulate(work, replace(cfg, purge_objects=False), horizon_days=30, rng=1).daily
    assert orphans["object_bytes"].iloc[-1] > 3 * purged["object_bytes"].iloc[-1]
    pd.testing.assert_series_equal(orphans["db_bytes"], purged["db_bytes"])


def test_violations_counted_when_big_values_stay_in_the_db() -> None:
    w = _hand([100.0, 500.0, 5_000.0, 50_000.0])  # half the writes over 1 000 bytes
    db = simulate(w, SimConfig(hard_limit_bytes=1_000), horizon_days=20, rng=0)
    assert db.violations == pytest.approx(db.writes / 2, rel=0.15)
    tiered = simulate(w, SimConfig("tiered", threshold_bytes=1_000, hard_limit_bytes=1_000), horizon_days=20, rng=0)
    assert tiered.violations == 0
    squeezed = simulate(w, SimConfig(hard_limit_bytes=1_000, db_compression=True, compression_ratio=0.1),
                        horizon_days=20, rng=0)
    assert squeezed.violations == pytest.approx(squeezed.writes / 4, rel=0.2)  # only the 50 000-byte ones


def test_default_hard_limits_come_from_limits_csv() -> None:
    assert hard_limit("postgresql", "3.3") == 268_435_455
    assert hard_limit("sqlite") == 1_000_000_000
    assert hard_limit("mysql", "3.3") == 16_777_216
    assert hard_limit("mysql", "2.8") == 65_535
    assert SimConfig(dialect="sqlite").hard_limit_bytes == 1_000_000_000
    big = _hand([2e9])
    assert simulate(big, SimConfig(dialect="sqlite"), horizon_days=3, rng=0).violations > 0


def test_latency_quantiles_per_tier(work: Workload) -> None:
    r = simulate(work, SimConfig("tiered", threshold_bytes=4096), horizon_days=20, rng=0, latency=SizeLatency())
    lat = r.latency
    assert lat is not None
    assert set(lat.index) == {(op, t) for op in ("push", "pull") for t in ("db", "object", "all")}
    assert lat.loc[("push", "object"), "p50_s"] > lat.loc[("push", "db"), "p99_s"]
    assert (lat["p99_s"] >= lat["p50_s"]).all()
    assert "push_p99_ms" in r.summary


def test_with_the_real_latency_and_cost_models(work: Workload) -> None:
    r = simulate(work, SimConfig("tiered", threshold_bytes=4096), horizon_days=31, rng=0,
                 latency=LatencyModel().fit(), prices=Prices())
    assert r.usd_per_month is not None and r.usd_per_month > 0
    assert r.latency is not None and r.latency.loc[("push", "object"), "p50_s"] > r.latency.loc[("push", "db"), "p50_s"]


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="backend='disk'"):
        SimConfig("disk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold_bytes=-2"):
        SimConfig("tiered", threshold_bytes=-2)
    with pytest.raises(ValueError, match="retention_days=0"):
        SimConfig(retention_days=0)
    with pytest.raises(ValueError, match="horizon_days"):
        simulate(_hand([1.0]), horizon_days=0)


def test_measured_compression_ratio() -> None:
    values = ['{"files": [' + ", ".join(f'"s3://lake/t/part-{i:05d}.parquet"' for i in range(200)) + "]}"] * 3
    zstd = measure_compression_ratio(values, "zstd")
    gzip = measure_compression_ratio(values, "gzip")
    assert 0 < zstd < 0.3 and 0 < gzip < 0.3
    assert measure_compression_ratio([bytes(np.random.default_rng(0).bytes(4000))], "zstd") > 0.99
    with pytest.raises(ValueError, match="codec='lz77'"):
        measure_compression_ratio(values, "lz77")


def test_threshold_on_is_spelled_as_in_the_backend() -> None:
    assert SimConfig("tiered", threshold_bytes=10).threshold_on == "serialized"
    with pytest.warns(DeprecationWarning, match="now spelled 'serialized'"):
        old = SimConfig("tiered", threshold_bytes=10, threshold_on="original")  # type: ignore[arg-type]
    assert old.threshold_on == "serialized"
    with pytest.raises(ValueError, match="expected 'serialized' or 'stored'"):
        SimConfig("tiered", threshold_bytes=10, threshold_on="compressed")  # type: ignore[arg-type]
