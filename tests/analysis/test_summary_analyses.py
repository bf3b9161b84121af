"""Every analysis on a summary agrees with the same analysis on the frame.

Rows, bytes and threshold counts are exact; size quantiles within
:data:`~xcomlab.summary.QUANTILE_RELATIVE_ERROR`; on-disk figures within
:data:`DISK_BOUND` (the model over size buckets instead of rows); retention exact but for
the rows of (run, key) groups whose writes straddle an age cut.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xcomlab
from xcomlab import synth
from xcomlab.analysis.audit import check_limits, migration_audit
from xcomlab.analysis.disk import estimate
from xcomlab.analysis.forecast import backtest, forecast
from xcomlab.analysis.retention import KeyRule, RetentionPolicy, retention
from xcomlab.analysis.secrets import scan_secrets, summary_secrets
from xcomlab.summary import QUANTILE_RELATIVE_ERROR, Summary, summarize_file, summarize_frame

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [ROOT / "data/samples/af3/airflow.db", ROOT / "data/samples/af2/xcom_pgdump.sql",
           ROOT / "data/samples/af2/export_archived"]
#: On-disk bytes from a summary's size buckets against the per-row model (worst seen on
#: the samples and synthetic exports: 0.73 %, SQLite's 4 KiB pages on a 650 KB sample).
DISK_BOUND = 0.01
_DISK_KEYS = ("on_disk_bytes", "on_disk_bytes_all_tables", "disk_ratio")
POLICIES = [RetentionPolicy(max_age_days=30), RetentionPolicy(keep_last_runs=3),
            RetentionPolicy(max_age_days=7, key_rules=(KeyRule("return_value", 2),)),
            RetentionPolicy(max_age_days=10, keep_last_runs=5),
            RetentionPolicy(key_rules=(KeyRule(internal=True, max_age_days=0),))]


@cache
def _pair(path: Path) -> tuple[pd.DataFrame, Summary]:
    return xcomlab.load_export(path), summarize_file(path)


def _close(a: float, b: float, bound: float) -> bool:
    return a == b or abs(a - b) <= bound * max(abs(a), abs(b))


def check_summarize(frame: pd.DataFrame, summary: Summary) -> None:
    a, b = xcomlab.summarize(frame), xcomlab.summarize(summary)
    assert list(a) == list(b)
    for key in a:
        if key in _DISK_KEYS:
            for d, v in a[key].items():
                assert _close(v, b[key][d], DISK_BOUND), (key, d, v, b[key][d])
        elif key == "by_dag":
            assert (a[key] == b[key] and list(a[key]) == list(b[key])) or \
                sorted(a[key].items()) == sorted(b[key].items())
        elif key == "secrets" and a[key] is None:  # the frame kept no values; see test_secrets_*
            assert b[key] is None or b[key] >= 0
        else:
            assert a[key] == b[key], key


def check_profile(frame: pd.DataFrame, summary: Summary) -> None:
    a, b = xcomlab.profile(frame), xcomlab.profile(summary)
    for name in ("by_dag", "by_task", "by_key"):
        x, y = getattr(a, name), getattr(b, name)
        assert set(x.index) == set(y.index), name
        y = y.reindex(x.index)
        assert (x[["rows", "value_bytes"]].to_numpy() == y[["rows", "value_bytes"]].to_numpy()).all()
        assert np.allclose(x["max_bytes"], y["max_bytes"], equal_nan=True)
        assert np.allclose(x["share"], y["share"])
        for q in ("p50_bytes", "p90_bytes", "p99_bytes"):
            err = (x[q] - y[q]).abs() / x[q].where(x[q] > 0)
            assert float(err.max(skipna=True) if err.notna().any() else 0) <= QUANTILE_RELATIVE_ERROR + 1e-12
    assert a.daily.equals(b.daily)


def check_audit(frame: pd.DataFrame, summary: Summary) -> None:
    for all_tables in (False, True):
        a = check_limits(frame, all_tables=all_tables, dialect="postgresql", airflow="3.3")
        b = check_limits(summary, all_tables=all_tables, dialect="postgresql", airflow="3.3")
        cols = ["limit_bytes", "rows_over", "bytes_over", "largest_bytes", "applies"]
        assert a.summary[cols].equals(b.summary[cols])
    for target, dialect in (("3.3.2", "postgresql"), ("3.0.0", "mysql")):
        m, n = migration_audit(frame, target=target, dialect=dialect), \
            migration_audit(summary, target=target, dialect=dialect)
        assert (m.verdict, m.notes, m.blockers) == (n.verdict, n.notes, n.blockers)
        assert m.summary.equals(n.summary)
    runs = frame[xcomlab.schema.DAG_RUN_ID].dropna().unique()[::2].tolist()
    if runs:
        m, n = migration_audit(frame, dag_run_ids=runs), migration_audit(summary, dag_run_ids=runs)
        assert m.summary.equals(n.summary)


def check_disk(frame: pd.DataFrame, summary: Summary) -> None:
    for d in ("postgresql", "mysql", "sqlite"):
        for scope in ("live", "all"):
            kw = {"compressibility": 0.5} if d == "postgresql" else {}
            a, b = estimate(frame, d, tables=scope, **kw), estimate(summary, d, tables=scope, **kw)
            assert (a.rows, a.logical_bytes, a.tables) == (b.rows, b.logical_bytes, b.tables)
            assert _close(a.total_bytes, b.total_bytes, DISK_BOUND), (d, scope, a.total_bytes, b.total_bytes)
            assert set(a.per_dag.index.astype(str)) == set(b.per_dag.index.astype(str))


def check_forecast(frame: pd.DataFrame, summary: Summary) -> None:
    a, b = forecast(frame, by="dag_id", boot=50), forecast(summary, by="dag_id", boot=50)
    assert (a.current_bytes, a.now, a.notes) == (b.current_bytes, b.now, b.notes)
    assert a.fit.equals(b.fit)
    pd.testing.assert_frame_equal(a.projection, b.projection)
    assert a.time_to_thresholds().equals(b.time_to_thresholds())
    with_policy = [forecast(x, retention=RetentionPolicy(max_age_days=5, keep_last_runs=4), boot=20)
                   for x in (frame, summary)]
    assert with_policy[0].start_bytes == with_policy[1].start_bytes
    try:
        bt = backtest(frame, boot=20)
    except xcomlab.errors.InsufficientDataError:
        return
    assert bt.by_dag.equals(backtest(summary, boot=20).by_dag)


def check_retention(frame: pd.DataFrame, summary: Summary) -> None:
    for pol in POLICIES:
        a, b = retention(frame, pol), retention(summary, pol)
        assert a.now == b.now and a.db_clean_command == b.db_clean_command
        assert a.limitations == b.limitations or a.totals["orphaned_refs"] != b.totals["orphaned_refs"]
        x, y = a.by_dag.sort_index(), b.by_dag.sort_index()
        assert x[["rows", "value_bytes"]].equals(y[["rows", "value_bytes"]])
        assert int((x["rows_freed"] - y["rows_freed"]).abs().sum()) <= b.straddling_rows, pol
        if b.straddling_rows == 0:
            cols = ["rows_freed", "bytes_freed", "rows_left", "bytes_left", "orphaned_refs"]
            assert x[cols].equals(y[cols]), pol
        both = x["steady_state_bytes"].isna()
        assert both.equals(y["steady_state_bytes"].isna())


CHECKS = [check_summarize, check_profile, check_audit, check_disk, check_forecast, check_retention]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_summary_agrees_with_frame_on_a_sample(check: object) -> None:
    frame, summary = _pair(SAMPLES[0])
    check(frame, summary)  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_summary_agrees_with_frame_on_an_airflow2_dump(check: object) -> None:
    frame, summary = _pair(SAMPLES[1])
    check(frame, summary)  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_summary_agrees_on_export_archived_and_from_a_frame(check: object) -> None:
    frame, summary = _pair(SAMPLES[2])
    check(frame, summary)  # type: ignore[operator]
    check(frame, summarize_frame(frame))  # type: ignore[operator]


@cache
def _synthetic(kind: str, tmp: Path) -> tuple[pd.DataFrame, Summary]:
    if kind == "af2_pgdump":
        dep = synth.generate(seed=21, airflow="2.10", rows=30_000, dags=9, max_fan_out=64)
        path = synth.write(dep, "pgdump", tmp / "af2.sql")
    else:
        dep = synth.generate(seed=22, airflow="3.3", rows=40_000, dags=11, max_fan_out=256,
                             growth_per_month=0.3)
        path = synth.write(dep, "psql_csv", tmp / "af3.csv")
    return xcomlab.load_export(path), summarize_file(path)


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["af2_pgdump", "af3_csv"])
def test_summary_agrees_with_frame_on_synthetic_exports(kind: str, check: object,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    frame, summary = _synthetic(kind, tmp_path_factory.getbasetemp())
    check(frame, summary)  # type: ignore[operator]


def test_user_threshold_from_buckets_is_close() -> None:
    """A threshold not in limits.csv is read from the histogram: exact where no bucket
    straddles it, else within the straddling bucket's rows."""
    frame, summary = _pair(SAMPLES[0])
    live = frame[frame["source_table"] == "xcom"]
    for limit in (100, 1000, 5000):
        rows, _ = summary.primary().rows_over(limit)
        exact = int((live["value_bytes"] > limit).sum())
        assert abs(rows - exact) <= max(2, math.ceil(0.05 * exact))


@pytest.mark.parametrize("path", SAMPLES[:2], ids=lambda p: p.name)
def test_secrets_from_a_summary_match_the_streamed_scan(path: Path) -> None:
    report = scan_secrets(path)
    summary = _pair(path)[1]
    got = summary_secrets(summary)
    assert got is not None
    assert (got.rows_flagged, got.by_kind, got.rows_scanned) == \
        (report.rows_flagged, report.by_kind, report.rows_scanned)
    ids = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index", "kind"]
    want = report.findings.sort_values(ids).reset_index(drop=True)
    have = got.findings.sort_values(ids).reset_index(drop=True)
    assert want.astype(str).equals(have.astype(str))
    assert xcomlab.summarize(summary)["secrets"] == report.rows_flagged
    counted = got.counted()  # what `xcomlab profile` keeps: the counts, no findings
    assert (counted.rows_flagged, counted.by_kind, counted.rows_scanned) == \
        (report.rows_flagged, report.by_kind, report.rows_scanned)
    assert not len(counted.findings) and list(counted.findings.columns) == list(got.findings.columns)
    assert report.rows_flagged > 0
