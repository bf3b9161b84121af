"""The scale benchmark (issue 13): its inputs are valid exports, and its quick mode runs and agrees.

The quick runs (``--rows 20000``, every shape) check only that the harness runs end to end and
that ``xcomlab profile --json`` agrees with DuckDB, not the timing goals.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import xcomlab
from benchmarks.ingest import Result
from benchmarks.scale import (
    ALL_SHAPES,
    BIG_ROWS,
    agreement,
    bench2,
    duckdb_query,
    export,
    prefilter_count,
)
from benchmarks.shapes import SHAPES, planted_secrets, write_shape

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_are_valid_airflow_33_psql_exports(shape: str, tmp_path: Path) -> None:
    path = tmp_path / f"{shape}.csv"
    write_shape(shape, 2_000, path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == (
        "dag_run_id,task_id,map_index,key,dag_result,dag_id,run_id,value,timestamp")
    frame = xcomlab.load_export(str(path))
    report = xcomlab.load_report(frame)
    assert len(frame) == 2_000 and not report.rejections
    assert set(frame["airflow_schema"].astype(str)) == {"3.3+"}
    assert not frame.duplicated(["dag_run_id", "task_id", "map_index", "key"]).any()  # Airflow's PK
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    totals, _ = duckdb_query(str(path))
    by_dag = frame.groupby("dag_id", observed=True)["value_bytes"].agg(["size", "sum"])
    assert totals == {str(d): (int(r["size"]), int(r["sum"])) for d, r in by_dag.iterrows()}


def test_mixed_plants_secrets_at_a_known_rate(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    write_shape("mixed", 3_000, path)
    found = xcomlab.scan_secrets(str(path))
    assert found.rows_flagged == planted_secrets("mixed", 3_000) == 15 + 6
    _, candidates = duckdb_query(str(path))
    assert candidates > 5 * found.rows_flagged  # decoys: the prefilter has real work to do


def test_disagreement_exits_and_the_prefilter_count_is_found() -> None:
    a = Result("profile", 3, 1.0, 1, 1.0, {"d1": (2, 10), "d2": (1, 5)})
    b = Result("duckdb", 3, 1.0, 1, 1.0, {"d1": (2, 10), "d2": (1, 6)})
    with pytest.raises(SystemExit, match=r"TOTALS DISAGREE: .* differ on 1 DAGs.*d2"):
        agreement(a, {}, b, 0)
    assert "does not expose" in agreement(a, {"secrets": 0}, a, 7)[1]
    assert prefilter_count({"secrets": {"rows_flagged": 1, "candidates": 7}}) == ("secrets.candidates", 7)
    assert prefilter_count({"scan": {"prefilter_rows": 7}}) == ("scan.prefilter_rows", 7)
    with pytest.raises(SystemExit, match="PREFILTER DISAGREES"):
        agreement(a, {"secret_prefilter_rows": 8}, a, 7)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_quick_scale_run_agrees_with_duckdb(shape: str) -> None:
    cmd = [sys.executable, "-m", "benchmarks.scale", "--rows", "20000", "--shape", shape]
    if shape != "generator":
        cmd.append("--no-report")  # the report runs once, on the generator's export
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    names = ("profile", "report", "duckdb") if shape == "generator" else ("profile", "duckdb")
    for name in names:
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+\d+\.\d\dx\s+[\d,]+\s+\d+\.\d\d$", out, re.M), out
    assert re.search(r"^totals agree \(profile, duckdb\): [\d,]+ DAGs, 20,000 rows, [\d,]+ value bytes",
                     out, re.M), out
    assert re.search(r"^prefilter( agrees|: duckdb [\d,]+ candidate rows)", out, re.M), out
    assert re.search(r"^ratio profile/duckdb time: \d+\.\d\dx \(goal <= 1\.5x: (NOT )?MET\)", out, re.M), out
    if shape == "generator":
        assert re.search(r"^ratio report/profile time: \d+\.\d\dx", out, re.M), out
    if shape == "mixed":
        assert "secrets planted: 140 rows; profile flags 140" in out, out


def test_benchmark_2_refuses_without_disk_space_and_for_the_in_memory_generator(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"not enough disk under .*GB free, this run writes ~265,000\.0 GB"):
        export("mixed", 10**12, tmp_path, [])
    with pytest.raises(SystemExit, match="generator holds its whole plan in memory"):
        export("generator", BIG_ROWS, tmp_path, [])
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_benchmark_2_report_lines(tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    write_shape("mixed", 2_000, small)
    write_shape("mixed", 8_000, big)
    lines = bench2(big, tmp_path, compare_to=None, small=small)
    text = "\n".join(lines)
    assert re.search(r"^profile at 2,000 rows: \d+\.\d\d s", text, re.M), text
    assert re.search(r"^profile at 8,000 rows: .* MiB peak RSS, CPU [\d.]+ s; [\d,]+ DAGs", text, re.M), text
    assert re.search(r"^peak RSS: \d\.\d\d GB \(goal <= 1\.5 GB: MET\)", text, re.M), text
    assert re.search(r"^ratio to the 5M time \(\d+\.\d\d s\): \d+\.\dx \(goal <= 25x: MET\)", text, re.M), text
