"""On-disk model on a summary: entries that do not grow with the DAGs (issue 13), same figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xcomlab
from xcomlab.analysis import disk
from xcomlab.summary import Summary, summarize_file


@pytest.fixture(scope="module")
def many_dags(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Summary]:
    """A psql CSV export of 3,000 DAGs with one run of two tasks each (the ``many_dags``
    shape of benchmarks/shapes.py, small): one histogram group per row."""
    rng = np.random.default_rng(13)
    dags, tasks = 3000, 2
    n = dags * tasks
    sizes = np.where(rng.random(n) < 0.9, rng.integers(20, 120, n), rng.integers(2500, 2600, n))
    rows = pd.DataFrame({
        "dag_run_id": np.repeat(np.arange(1, dags + 1), tasks),
        "task_id": np.tile([f"task_{j}" for j in range(tasks)], dags), "map_index": -1,
        "key": "return_value", "dag_result": "f",
        "dag_id": np.repeat([f"dag_{i:05d}" for i in range(dags)], tasks),
        "run_id": np.repeat([("manual__" if i % 3 else "scheduled__") + "2026-01-01T00:00:00+00:00"
                             for i in range(dags)], tasks),
        "value": ['"' + "x" * (k - 2) + '"' for k in sizes],
        "timestamp": [f"2026-01-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00" for i in range(n)],
    })
    path = Path(tmp_path_factory.mktemp("disk_summary")) / "many_dags.csv"
    rows.to_csv(path, index=False)
    return xcomlab.load_export(path), summarize_file(path)


def test_entries_do_not_grow_with_dags(many_dags: tuple[pd.DataFrame, Summary]) -> None:
    frame, summary = many_dags
    per_group, *_ = disk._summary_rows(summary.primary(), "3.3+")
    r, names, owners, _ = disk._summary_rows_of(summary, "live", None)
    assert len(per_group.weight) >= len(frame)  # one group (or more) per row before merging
    assert len(names) * 10 < len(frame)
    assert r.weight.sum() == pytest.approx(len(frame))
    assert (r.value * r.weight).sum() == pytest.approx(frame["value_bytes"].sum())
    assert len(owners.labels) == frame["dag_id"].nunique()


@pytest.mark.parametrize("dialect", disk.DIALECTS)
def test_merged_entries_keep_the_figures(many_dags: tuple[pd.DataFrame, Summary], dialect: str) -> None:
    """Within the summary bound of docs/figures.md#summary (1 %) of the rows, and of the
    per-group entries; per-DAG bytes add up to the total, every DAG kept."""
    frame, summary = many_dags
    merged = disk.estimate(summary, dialect)
    rows = disk.estimate(frame, dialect)
    live = summary.primary()
    r, names, dags, _ = disk._summary_rows(live, "3.3+")
    ratio = np.full(len(names), merged.compressibility or 1.0)
    per_group = disk._estimate(disk.canonical_dialect(dialect), "3.3+", r, ratio, "", "", names, dags)
    assert abs(merged.total_bytes / rows.total_bytes - 1) <= 0.01
    assert abs(merged.total_bytes / per_group.total_bytes - 1) <= 0.002
    assert abs(int(merged.per_dag.sum()) - merged.total_bytes) <= len(merged.per_dag)
    assert set(merged.per_dag.index) == set(rows.per_dag.index.astype(str))
    both = pd.concat([merged.per_dag, per_group.per_dag], axis=1).fillna(0)
    assert (both.iloc[:, 0] / both.iloc[:, 1] - 1).abs().max() <= 0.05


def test_run_widths_in_index_codes_equal_a_group_by_of_every_run(tmp_path: Path) -> None:
    """``_run_widths`` groups ``runs`` and the rolled ``old_runs`` in their index codes; it
    equals the group-by of every run as a row (the code before, kept here as the oracle),
    order of first appearance included."""
    from conftest import ROOT

    from xcomlab import schema as S
    from xcomlab.summary.runs import label_bytes

    s = summarize_file(ROOT / "data/samples/af3/xcom_copy.csv", max_run_keys=40)
    assert len(s.runs) and len(s.old_runs)
    runs = s.runs.reset_index()
    runs["run_bytes"] = label_bytes(runs[S.RUN_ID])
    runs = pd.concat([runs, s.old_runs.reset_index()], ignore_index=True)
    ids = runs["dag_run_id"].where(runs["dag_run_id"] >= 0, 1).to_numpy(np.int64)
    runs["width"] = disk._sqlite_int(ids)
    runs["dag_run_id"] = ids
    g = runs.groupby([S.SOURCE_TABLE, S.DAG_ID, "run_bytes", "width"], sort=False).agg(
        rows=("rows", "sum"), dag_run_id=("dag_run_id", "max")).reset_index()
    total = g.groupby([S.SOURCE_TABLE, S.DAG_ID])["rows"].transform("sum")
    g["share"] = np.where(total > 0, g["rows"] / total.where(total > 0, 1), 0.0)
    want = g[[S.SOURCE_TABLE, S.DAG_ID, "run_bytes", "dag_run_id", "share"]]
    got = disk._run_widths(s)
    assert len(got) > 1
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert got[S.DAG_ID].tolist() == want[S.DAG_ID].tolist()
