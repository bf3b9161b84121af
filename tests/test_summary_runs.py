"""Per-run tables kept bounded (:mod:`xcomlab.summary.runs`): the newest runs exact, the
older ones rolled up per day — no row, byte or run lost, the analyses that read runs
(retention, forecast, on-disk, audit) as on the exact summary where the bound allows and
within a day's rows where it does not, and memory held by the newest runs only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xcomlab import load_export
from xcomlab import schema as S
from xcomlab.analysis.audit import migration_audit
from xcomlab.analysis.disk import on_disk_bytes
from xcomlab.analysis.forecast import forecast
from xcomlab.analysis.retention import retention
from xcomlab.policy import RetentionPolicy
from xcomlab.summary import Summary, summarize_file, summarize_frame
from xcomlab.summary.accumulate import Accumulator
from xcomlab.summary.core import (
    ROLLED_NOTE,
    TABLES,
    coarsen,
    exact_since,
    frame_columns,
    grouped_parts,
)

DB = Path(__file__).resolve().parents[1] / "data" / "samples" / "af3" / "airflow.db"
BOUND = 1_000  # the sample holds 3,883 run_keys groups of 1,045 runs in 10 DAGs
_PER_RUN = ("runs", "run_keys", "old_runs", "old_run_keys")


@pytest.fixture(scope="module")
def exact() -> Summary:
    return summarize_file(DB)


@pytest.fixture(scope="module")
def rolled() -> Summary:
    return summarize_file(DB, max_run_keys=BOUND, chunk_rows=400)  # several rolls while streaming


def test_the_sample_is_big_enough_to_roll(exact: Summary, rolled: Summary) -> None:
    assert len(exact.run_keys) > 3 * BOUND and not len(exact.old_runs)
    assert 0 < len(rolled.run_keys) <= BOUND
    assert len(rolled.old_runs) and len(rolled.old_run_keys)
    # the load report says so (the CLI prints its notes), once
    assert rolled.report is not None and exact.report is not None
    notes = [n for n in rolled.report.notes if n.startswith(ROLLED_NOTE)]
    assert len(notes) == 1 and f"{len(rolled.runs):,} newer runs exactly" in notes[0]
    assert not any(n.startswith(ROLLED_NOTE) for n in exact.report.notes)


def test_nothing_is_lost(exact: Summary, rolled: Summary) -> None:
    for col in ("rows", "value_bytes"):
        assert rolled.runs[col].sum() + rolled.old_runs[col].sum() == exact.runs[col].sum()
        assert rolled.run_keys[col].sum() + rolled.old_run_keys[col].sum() == exact.run_keys[col].sum()
    for col in ("refs", "ref_bytes"):
        assert rolled.run_keys[col].sum() + rolled.old_run_keys[col].sum() == exact.run_keys[col].sum()
    # an export in insertion order: every run counted once, every (run, key) group too
    assert len(rolled.runs) + rolled.old_runs["runs"].sum() == len(exact.runs)
    assert len(rolled.run_keys) + rolled.old_run_keys["runs"].sum() == len(exact.run_keys)
    for name in TABLES:
        if name not in _PER_RUN:
            assert getattr(rolled, name).equals(getattr(exact, name)), name


def test_the_newest_runs_stay_exact(exact: Summary, rolled: Summary) -> None:
    since = exact_since(rolled)
    assert since is not None
    assert (rolled.runs["last_timestamp"] > since).all()
    assert (rolled.old_runs["last_timestamp"] <= since).all()
    # the runs kept are the exact summary's newest, with the same figures
    newest = exact.runs[exact.runs["last_timestamp"] > since]
    assert rolled.runs.equals(newest)
    assert rolled.run_keys.equals(exact.run_keys[exact.run_keys.index.droplevel(S.KEY).isin(newest.index)])
    # old_runs per day: the days its runs ended, run-id lengths as the labels' own
    lengths = exact.runs[exact.runs["last_timestamp"] <= since].index.get_level_values(S.RUN_ID).str.len()
    assert set(rolled.old_runs.index.get_level_values("run_bytes")) == set(lengths)


def test_coarsen_of_the_exact_summary_rolls_at_the_same_bound(exact: Summary, rolled: Summary) -> None:
    once = coarsen(exact, BOUND)
    assert len(once.run_keys) <= BOUND
    for col in ("rows", "value_bytes"):
        assert once.runs[col].sum() + once.old_runs[col].sum() == exact.runs[col].sum()
    assert coarsen(once, BOUND) is once  # nothing more to roll: the same summary back
    assert coarsen(exact) is exact  # under the default bound
    with pytest.raises(ValueError, match="max_run_keys=0"):
        coarsen(exact, 0)


def test_merged_summaries_roll_at_the_newest_cut(rolled: Summary) -> None:
    frame = load_export(DB)
    half = len(frame) // 2
    a = coarsen(summarize_frame(frame.iloc[:half]), BOUND // 2)
    b = summarize_frame(frame.iloc[half:])
    merged = a.merge(b)
    since = exact_since(merged)
    assert since is not None and since >= exact_since(a)  # type: ignore[operator]
    assert (merged.runs["last_timestamp"] > since).all()
    assert merged.rows == a.rows + b.rows
    assert merged.runs["rows"].sum() + merged.old_runs["rows"].sum() == merged.rows
    assert len(merged.runs) + merged.old_runs["runs"].sum() == len(summarize_frame(frame).runs)


def test_the_bound_holds_while_streaming() -> None:
    frame = load_export(DB)
    acc = Accumulator(max_run_keys=BOUND)
    worst = 0
    for start in range(0, len(frame), 300):
        acc.add(grouped_parts(frame_columns(frame.iloc[start:start + 300])))
        keys = acc.tables["run_keys"]
        worst = max(worst, len(keys) + keys._waiting)
        live_labels = len(acc.labels[S.RUN_ID].index())
        assert live_labels <= len(acc.tables["runs"]) + acc.tables["runs"]._waiting + 300
    assert worst <= BOUND + 2 * 300 * 2  # the bound, plus the batch that crossed it
    runs = acc.tables["runs"]
    runs.fold(acc._sizes("runs"))
    # the rolled runs' labels are gone: those left are the exact runs' (run ids repeat across DAGs)
    assert acc.labels[S.RUN_ID]._dropped > 0
    assert len(acc.labels[S.RUN_ID].index()) == len(np.unique(runs.codes[2]))
    got = acc.frames()
    assert got["runs"]["rows"].sum() + got["old_runs"]["rows"].sum() == len(frame)


def test_save_and_load_keep_the_rolled_tables(rolled: Summary, tmp_path: Path) -> None:
    back = Summary.load(rolled.save(tmp_path / "s.xcomlab"))
    assert back.equals(rolled)
    assert len(back.old_run_keys) == len(rolled.old_run_keys)


def test_retention_age_rules_agree_with_the_exact_summary(exact: Summary, rolled: Summary) -> None:
    for days in (3, 10, 30):
        policy = RetentionPolicy(max_age_days=days)
        a, b = retention(exact, policy), retention(rolled, policy)
        rows = a.totals["rows"]
        assert b.totals["rows"] == rows
        # the rolled groups' rows split at the cut in proportion to time, per day not per run
        assert abs(b.totals["rows_freed"] - a.totals["rows_freed"]) <= 0.02 * rows, days


def test_keep_last_n_is_exact_while_the_runs_fit_after_the_cut(exact: Summary, rolled: Summary) -> None:
    kept = rolled.runs.groupby(level=S.DAG_ID).size()
    n = int(kept.min())
    assert n >= 3
    a = retention(exact, RetentionPolicy(keep_last_runs=n))
    b = retention(rolled, RetentionPolicy(keep_last_runs=n))
    cols = ["rows", "value_bytes", "rows_freed", "bytes_freed"]
    pd.testing.assert_frame_equal(a.by_dag[cols].sort_index(), b.by_dag[cols].sort_index())


def test_keep_last_n_beyond_the_cut_keeps_whole_days(exact: Summary, rolled: Summary) -> None:
    runs_per_dag = exact.runs.groupby(level=S.DAG_ID).size()
    n = int(rolled.runs.groupby(level=S.DAG_ID).size().max()) + 20
    assert (runs_per_dag > n).sum() >= 5  # most DAGs: some old runs kept, some not
    a = retention(exact, RetentionPolicy(keep_last_runs=n))
    b = retention(rolled, RetentionPolicy(keep_last_runs=n))
    diff = (a.by_dag["rows_freed"] - b.by_dag["rows_freed"]).abs()
    per_day = exact.daily.groupby(level=S.DAG_ID)["rows"].max().reindex(diff.index)
    assert (diff <= per_day).all(), pd.DataFrame({"diff": diff, "rows_per_day": per_day})
    assert b.totals["rows_freed"] > 0


def test_forecast_disk_and_audit_read_the_rolled_runs(exact: Summary, rolled: Summary) -> None:
    policy = RetentionPolicy(keep_last_runs=30)
    fa, fb = forecast(exact, retention=policy, boot=20), forecast(rolled, retention=policy, boot=20)
    pa, pb = fa.projection["expected"].to_numpy(), fb.projection["expected"].to_numpy()
    assert np.allclose(pa, pb, rtol=0.02), (pa[-1], pb[-1])
    da, db = on_disk_bytes(exact), on_disk_bytes(rolled)
    assert da.keys() == db.keys()
    for dialect in da:
        assert abs(db[dialect] - da[dialect]) <= 0.005 * da[dialect], dialect



def test_the_audit_says_what_its_dag_run_check_left_out() -> None:
    af2 = summarize_file(DB.parents[1] / "af2" / "xcom_pgdump.sql")
    small = coarsen(af2, max(len(af2.run_keys) // 3, 1))
    assert len(small.old_runs)
    ids = af2.runs["dag_run_id"].tolist()
    audit = migration_audit(small, dag_run_ids=ids)
    assert any("rolled up per day" in n for n in audit.notes), audit.notes
    full = migration_audit(af2, dag_run_ids=ids[: len(ids) // 2])
    assert full.summary.loc["dag_run_missing", "rows"] > 0  # the check can fail
    assert audit.summary.loc["dag_run_missing", "rows"] == 0


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_label_bytes_counts_utf8_bytes_in_the_labels_own_dtype(dtype: str) -> None:
    """UTF-8 bytes per label (a null has none), the same from object labels, pandas' string
    dtype (factorized as it is, no Python string per row), an index or a plain list."""
    from xcomlab.summary.runs import label_bytes

    words = ["run", "rün", None, "run", "日本", ""]
    want = [3, 4, 0, 3, 6, 0]
    assert label_bytes(pd.Series(words, dtype=dtype)).tolist() == want
    assert label_bytes(pd.Index(words, dtype=dtype)).tolist() == want
    assert label_bytes(words).tolist() == want  # type: ignore[arg-type]
