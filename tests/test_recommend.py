"""Recommender: candidates, evaluation table, Pareto front, and advice that moves with prices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xcomlab
from xcomlab import schema as S
from xcomlab import simulate as simulation
from xcomlab.analysis.audit import hard_limit
from xcomlab.errors import ParameterError, SchemaMismatchError
from xcomlab.models.cost import Prices
from xcomlab.recommend import (
    COMMON_IO_EXAMPLE,
    LATENCY_TOLERANCE,
    POLICY_48KB,
    Candidate,
    candidates,
    evaluate,
    measure_compression_ratio,
    pareto_front,
    recommend,
)

SAMPLE_AF3 = Path(__file__).resolve().parents[1] / "data" / "samples" / "af3" / "airflow.db"
OBJECT_SERVICES = ("s3", "gcs", "blob", "file")


def make_frame(sizes: np.ndarray, *, days: float = 30, airflow: str = "3.3+", seed: int = 0,
               values: list[str] | None = None) -> pd.DataFrame:
    """An XCom frame (the documented contract) whose live rows have these value sizes."""
    n = len(sizes)
    rng = np.random.default_rng(seed)
    secs = np.sort(rng.uniform(0, days * 86_400, n))
    i = np.arange(n)
    data = {
        S.SOURCE_TABLE: ["xcom"] * n,
        S.DAG_ID: [f"dag_{k % 7}" for k in i],
        S.TASK_ID: [f"task_{k % 13}" for k in i],
        S.RUN_ID: [f"scheduled__{k // 20}" for k in i],
        S.KEY: ["return_value"] * n,
        S.MAP_INDEX: np.full(n, -1),
        S.DAG_RUN_ID: i // 20,
        S.LOGICAL_DATE: pd.Series(pd.NaT, index=i),
        S.TIMESTAMP: pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(secs, unit="s"),
        S.DAG_RESULT: [False] * n,
        S.VALUE_BYTES: np.asarray(sizes, dtype="int64"),
        S.SIZE_EXACT: [True] * n,
        S.ENCODING: ["json"] * n,
        S.REF_URI: [None] * n,
        S.REF_BYTES: [None] * n,
        S.INTERNAL: [False] * n,
        S.HAS_NAN: [False] * n,
        S.AIRFLOW_SCHEMA: [airflow] * n,
    }
    frame = pd.DataFrame({c: pd.Series(list(v) if not isinstance(v, pd.Series) else v.to_numpy(),
                                       dtype=S.DTYPES[c]) for c, v in data.items()})  # type: ignore[call-overload]
    if values is not None:
        frame[S.VALUE] = values
    return S.validate_frame(frame)


def lognormal_sizes(median: float, sigma: float, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(2, np.round(median * np.exp(sigma * rng.standard_normal(n)))).astype("int64")


@pytest.fixture(scope="module")
def big_values() -> pd.DataFrame:
    """5,000 writes a day, median 50 kB, a long tail of multi-MB values."""
    return make_frame(lognormal_sizes(50_000, 1.5, 5_000), days=1)


@pytest.fixture(scope="module")
def tiny_values() -> pd.DataFrame:
    return make_frame(lognormal_sizes(100, 0.5, 5_000), days=10)


def test_candidates_cover_db_tiered_and_object_on_each_store() -> None:
    sizes = lognormal_sizes(20_000, 2.0, 2_000)
    cands = candidates(sizes)
    kinds = [c.kind for c in cands]
    assert kinds[:2] == ["db", "db+compression"]
    for store in ("s3", "gcs", "azure"):
        mine = [c for c in cands if c.object_store == store]
        assert mine[-1].backend == "object" and mine[-1].threshold_bytes == 0
        cuts = [c.threshold_bytes for c in mine if c.backend == "tiered"]
        want = {int(np.ceil(np.quantile(sizes, q))) for q in (0.9, 0.99, 0.999)}
        want |= {t for t in (POLICY_48KB, COMMON_IO_EXAMPLE) if t <= sizes.max()}
        assert set(cuts) == want
        assert cuts == sorted(cuts)
    # thresholds above the largest value would move nothing: dropped
    small = candidates(np.array([10, 20, 30]))
    assert all(c.threshold_bytes <= 30 for c in small if c.backend == "tiered")
    assert len({c.name for c in cands}) == len(cands)


def test_candidate_rejects_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="expected db"):
        Candidate("x", "tiered", -1, object_store="s3")
    with pytest.raises(ValueError, match="needs an object_store"):
        Candidate("x", "object", 0)


def test_settings_match_common_io_and_xcomlab_names() -> None:
    tiered = Candidate("t", "tiered", 1_048_576, "gzip", "s3")
    env = tiered.settings("s3://aws_default@my-bucket/xcom")
    cio = env["common_io"]
    assert cio["AIRFLOW__CORE__XCOM_BACKEND"].endswith("common.io.xcom.backend.XComObjectStorageBackend")
    assert cio["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"] == "s3://aws_default@my-bucket/xcom"
    assert cio["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD"] == "1048576"
    assert cio["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION"] == "gzip"  # not "gz"
    xl = env["xcomlab"]
    assert xl["AIRFLOW__CORE__XCOM_BACKEND"] == "xcomlab.backend.airflow.XComlabBackend"
    for prefix in ("XCOMLAB_", "AIRFLOW__XCOMLAB__"):
        assert xl[f"{prefix}THRESHOLD"] == "1048576"
        assert xl[f"{prefix}COMPRESSION"] == "gzip"
        assert xl[f"{prefix}OBJECT_BASE"] == "s3://aws_default@my-bucket/xcom"
    packed = Candidate("p", "db", -1, "zstd").settings()
    assert packed["common_io"] == {}  # common-io cannot compress inline values
    assert packed["xcomlab"]["XCOMLAB_COMPRESS_INLINE"] == "true"
    assert Candidate("d", "db", -1, "none").settings() == {"common_io": {}, "xcomlab": {}}
    assert Candidate("o", "object", 0, "none", "gcs").settings()["common_io"][
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD"] == "0"


def test_pareto_front_on_a_hand_built_table() -> None:
    t = pd.DataFrame({"monthly_cost_usd": [1, 2, 0.5, 1, 1, 3],
                      "push_p99_ms": [1, 2, 5, 1, 1, 0.5],
                      "pull_p99_ms": [1, 2, 5, 1, 1, 0.5],
                      "violations": [0, 0, 0, 0, 3, 0]},
                     index=["a", "b", "c", "a_twin", "a_bad", "d"])
    front = pareto_front(t)
    assert front.to_dict() == {"a": True, "b": False, "c": True, "a_twin": True,
                               "a_bad": False, "d": True}
    with pytest.raises(SchemaMismatchError, match="missing"):
        pareto_front(t.drop(columns=["violations"]))


def test_pareto_latency_within_the_model_error_decides_no_dominance() -> None:
    """Latencies within the model's error tie: a 5–10 % faster candidate no longer dominates
    one that costs the same or less, while a latency beyond the tolerance still decides."""
    t = pd.DataFrame({"monthly_cost_usd": [1.0, 1.0, 1.0, 0.9],
                      "push_p99_ms": [10.0, 11.0, 13.0, 10.5],
                      "pull_p99_ms": [10.0, 10.0, 10.0, 10.0],
                      "violations": [0, 0, 0, 0]},
                     index=["fast", "near", "slow", "cheap"])
    exact = pareto_front(t, latency_tolerance=0.0)
    assert exact.to_dict() == {"fast": True, "near": False, "slow": False, "cheap": True}
    tol = pareto_front(t)  # LATENCY_TOLERANCE
    assert pytest.approx(0.2) == LATENCY_TOLERANCE
    # cheap is cheaper and its 10.5 ms ties with fast's 10 ms: it dominates fast, near and slow
    assert tol.to_dict() == {"fast": False, "near": False, "slow": False, "cheap": True}
    # without cheap, fast and near (11 ms vs 10 ms) tie and both stay; slow (13 ms) does not
    assert pareto_front(t.drop(index="cheap")).to_dict() == {"fast": True, "near": True, "slow": False}
    with pytest.raises(ParameterError, match="latency_tolerance"):
        pareto_front(t, latency_tolerance=-0.1)


def test_evaluate_table_shape_and_pareto_consistency(big_values: pd.DataFrame) -> None:
    table = evaluate(big_values)
    assert {"monthly_cost_usd", "push_p50_ms", "push_p99_ms", "pull_p50_ms", "pull_p99_ms",
            "peak_db_bytes", "objects", "violations", "pareto"} <= set(table.columns)
    assert table["pareto"].any()
    assert table["pareto"].equals(pareto_front(table))
    assert (table["push_p99_ms"] >= table["push_p50_ms"]).all()
    assert (table.loc["object-s3", "push_p50_ms"] > 3 * table.loc["db", "push_p50_ms"])
    assert table.loc["db", "objects"] == 0
    assert table.loc["object-s3", "offloaded_share"] == 1.0
    assert any("writes/day" in n for n in table.attrs["notes"])


def test_volumes_are_monotone_in_the_threshold(big_values: pd.DataFrame) -> None:
    table = evaluate(big_values)
    for store in ("s3", "gcs", "azure"):
        rows = table[(table["object_store"] == store)].sort_values("threshold_bytes")
        rows = pd.concat([rows, table.loc[["db"]]])  # threshold -1 ≡ never: the far end
        assert rows["peak_db_bytes"].is_monotonic_increasing
        assert rows["object_bytes"].is_monotonic_decreasing
        assert rows["puts_per_month"].is_monotonic_decreasing
        assert rows["requests_usd"].is_monotonic_decreasing


def test_cost_is_monotone_in_prices(big_values: pd.DataFrame) -> None:
    base = evaluate(big_values)
    dear = evaluate(big_values, prices=Prices().scaled(2, services=("rds-postgresql-gp3",)))
    assert (dear["monthly_cost_usd"] >= base["monthly_cost_usd"]).all()
    assert (dear["monthly_cost_usd"] > base["monthly_cost_usd"]).all()  # every config has a DB


def test_same_seed_same_table_other_seed_other_draws(tiny_values: pd.DataFrame) -> None:
    a = evaluate(tiny_values, rng=3)
    b = evaluate(tiny_values, rng=3)
    pd.testing.assert_frame_equal(a, b)
    c = evaluate(tiny_values, rng=4)
    assert not np.allclose(a["push_p99_ms"], c["push_p99_ms"])
    pd.testing.assert_series_equal(a["monthly_cost_usd"], c["monthly_cost_usd"])


def test_tiny_values_stay_in_the_database(tiny_values: pd.DataFrame) -> None:
    rec = recommend(tiny_values, cost_tolerance_usd=0.0)
    assert rec.best.name == "db"
    assert rec.settings["common_io"] == {}
    assert "$" in rec.reason and "ms" in rec.reason


def test_dear_object_storage_means_database(big_values: pd.DataFrame) -> None:
    base = recommend(big_values, cost_tolerance_usd=0.0)
    assert base.best.backend == "tiered"  # at list prices, offloading the big half is cheapest
    rec = recommend(big_values, cost_tolerance_usd=0.0,
                    prices=Prices().scaled(100, services=OBJECT_SERVICES))
    assert rec.best.backend == "db"


def test_dear_database_storage_means_offloading(big_values: pd.DataFrame) -> None:
    rec = recommend(big_values, cost_tolerance_usd=0.0,
                    prices=Prices().scaled(100, services=("rds-postgresql-gp3",)))
    assert rec.best.backend in ("tiered", "object")
    assert rec.settings["common_io"]["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD"] == str(
        rec.best.threshold_bytes)
    assert "offloaded" in rec.reason
    assert rec.table.loc[rec.best.name, "monthly_cost_usd"] < rec.table.loc["db", "monthly_cost_usd"] / 10


def test_a_db_ceiling_moves_the_threshold(big_values: pd.DataFrame) -> None:
    table = evaluate(big_values)
    ceiling = 2 * 2**30
    rec = recommend(big_values, db_ceiling_bytes=ceiling)
    assert rec.table.loc["db", "peak_db_bytes"] > ceiling
    assert rec.table.loc[rec.best.name, "peak_db_bytes"] <= ceiling
    assert rec.best.backend in ("tiered", "object")
    assert "under your ceiling" in rec.reason
    # without the ceiling the cheap-and-simple rule keeps the database
    assert recommend(big_values).best.backend == "db"
    assert table["peak_db_bytes"].min() <= ceiling


def test_rows_over_the_hard_limit_rule_out_database_only() -> None:
    limit = hard_limit("mysql")
    assert limit == 16_777_216  # MariaDB's max_allowed_packet default (limits.csv)
    sizes = np.concatenate([lognormal_sizes(300, 0.5, 3_000), [20 * 2**20] * 5])
    frame = make_frame(sizes, days=5)
    rec = recommend(frame, dialect="mysql")
    assert rec.table.loc["db", "violations"] == 5
    assert rec.table.loc[rec.best.name, "violations"] == 0
    assert rec.best.name != "db"
    assert "hard limit" in rec.reason
    # incompressible values: packing cannot save them either, only offloading does
    rec = recommend(frame, dialect="mysql", compression_ratio=1.0)
    assert rec.table.loc["db+zstd", "violations"] == 5
    assert rec.best.backend == "tiered"
    assert rec.table.loc[rec.best.name, "violations"] == 0
    assert hard_limit("postgresql") == 268_435_455
    assert hard_limit("postgresql", "2.10") == 260_000_000


def test_compression_ratio_measured_on_values() -> None:
    values = ['{"rows": [' + ", ".join(['{"id": 1, "name": "abc"}'] * (k + 50)) + "]}"
              for k in range(300)]
    assert measure_compression_ratio(values, "gzip") < 0.1
    with pytest.raises(ParameterError, match="no bytes to measure"):
        measure_compression_ratio([], "gzip")
    assert measure_compression_ratio is xcomlab.simulate.measure_compression_ratio
    frame = make_frame(np.array([len(v) for v in values]), values=values)
    # InnoDB does not compress rows by default, so packing shows on MySQL
    cands = [Candidate("db", "db", dialect="mysql"),
             Candidate("db+gzip", "db", -1, "gzip", dialect="mysql")]
    table = evaluate(frame, candidates=cands)
    assert any("gzip ratio" in n and "measured" in n for n in table.attrs["notes"])
    assert table.loc["db+gzip", "peak_db_bytes"] < 0.5 * table.loc["db", "peak_db_bytes"]
    # a ratio that does not pay for base64 leaves values unpacked: the DB as without compression
    fixed = evaluate(frame, compression_ratio={"gzip": 0.9}, candidates=cands)
    assert fixed.loc["db+gzip", "peak_db_bytes"] == pytest.approx(table.loc["db", "peak_db_bytes"])


def test_recommend_on_the_bundled_airflow3_sample() -> None:
    frame = xcomlab.load_export(SAMPLE_AF3)
    rec = recommend(frame)
    assert rec.best.name in rec.table.index
    assert len(rec.pareto) >= 1
    html = rec._repr_html_()
    assert "Recommended" in html
    assert ("XCOMLAB_THRESHOLD" in html) == bool(rec.settings["xcomlab"])
    assert rec.best.name in repr(rec)


def test_simulated_volumes_agree_with_the_frame_arithmetic(big_values: pd.DataFrame) -> None:
    cands = [Candidate("db", "db"), Candidate("tiered", "tiered", POLICY_48KB, "zstd", "s3"),
             Candidate("object", "object", 0, "zstd", "s3")]
    direct = evaluate(big_values, candidates=cands)
    sim = evaluate(big_values, candidates=cands, simulate=True)
    assert list(sim.index) == list(direct.index)
    assert sim["monthly_cost_usd"].gt(0).all()
    # same workload, two methods: volumes within a factor of two
    for col in ("peak_db_bytes", "puts_per_month"):
        a, b = direct[col].to_numpy(float), sim[col].to_numpy(float)
        ok = (a == 0) & (b == 0) | (np.abs(np.log(np.maximum(a, 1) / np.maximum(b, 1))) < np.log(2))
        assert ok.all(), (col, a, b)


def test_empty_frame_is_a_clear_error() -> None:
    with pytest.raises(SchemaMismatchError, match="no live xcom rows"):
        evaluate(S.empty_frame())


def test_evaluate_takes_simulation_results_you_ran() -> None:
    frame = make_frame(lognormal_sizes(5_000, 1.0, 2_000), days=3)
    cand = Candidate("tiered", "tiered", 20_000, "zstd", "s3")
    res = simulation.simulate(
        simulation.fit_workload(frame),
        simulation.SimConfig("tiered", threshold_bytes=20_000, compression_ratio=0.33),
        horizon_days=40, rng=1)
    table = evaluate(frame, candidates=[cand], simulate={"tiered": res})
    assert table.loc["tiered", "peak_db_bytes"] == pytest.approx(
        float(res.daily["db_on_disk_bytes"].max() if "db_on_disk_bytes" in res.daily else res.daily["db_bytes"].max()))
    assert table.loc["tiered", "violations"] == int(res.violations)


def test_object_stores_can_be_restricted_to_your_cloud(big_values: pd.DataFrame) -> None:
    rec = recommend(big_values, cost_tolerance_usd=0.0, object_stores=("s3",))
    assert set(rec.table["object_store"]) == {"", "s3"}
    assert rec.best.object_store == "s3"
    assert any("rds-postgresql-gp3" in n for n in rec.notes)


def test_offloading_moves_monotonically_with_relative_prices(big_values: pd.DataFrame) -> None:
    """Dearer object storage never offloads more; dearer DB storage never offloads less."""
    factors = (0.01, 0.3, 1.0, 3.0, 100.0)
    share_obj, share_db = [], []
    for k in factors:
        for services, out in ((("s3",), share_obj), (("rds-postgresql-gp3",), share_db)):
            rec = recommend(big_values, cost_tolerance_usd=0.0, object_stores=("s3",),
                            prices=Prices().scaled(k, services=services))
            out.append(rec.table.loc[rec.best.name, "offloaded_share"])
    assert share_obj == sorted(share_obj, reverse=True) and share_obj[0] == 1.0 and share_obj[-1] == 0.0
    assert share_db == sorted(share_db) and share_db[0] == 0.0 and share_db[-1] == 1.0
