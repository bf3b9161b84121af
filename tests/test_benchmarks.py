"""The ingest benchmark runs end to end and its contenders agree on what they count."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ingest import Result, _check_totals

ROOT = Path(__file__).resolve().parent.parent
HEADER = "dag_run_id,task_id,map_index,key,dag_result,dag_id,run_id,value,timestamp\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.ingest", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_small_run_prints_ratios_and_agreeing_totals() -> None:
    proc = _run("--rows", "20000")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("xcomlab", "duckdb", "pandas"):
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+\d+\s", out, re.M), out
    assert re.search(r"^ratio xcomlab/duckdb time: \d+\.\d\dx \(goal <= 1\.5x: (NOT )?MET\)", out, re.M), out
    assert re.search(r"^ratio xcomlab/duckdb peak RSS: \d+\.\d\dx", out, re.M), out
    assert re.search(r"^totals agree \(xcomlab, duckdb, pandas\): \d+ DAGs, 20,000 rows, [\d,]+ value bytes",
                     out, re.M), out
    m = re.search(r"^flatness: xcomlab peak RSS [\d,]+ MiB at 5,000 rows, [\d,]+ MiB at 20,000 rows", out, re.M)
    assert m, out


def test_counts_stored_utf8_bytes_of_a_known_export(tmp_path: Path) -> None:
    """Hand-made psql CSV: multi-byte text, a SQL NULL, quotes; every contender must count bytes."""
    values = ['{"a": "é"}', '"naïve – ✓"', "42", None, '[1, "x,y"]']
    rows = []
    for i, v in enumerate(values):
        cell = "" if v is None else '"' + v.replace('"', '""') + '"'
        dag = "dag_a" if i % 2 else "dag_b"
        rows.append(f"{i + 1},t{i},-1,return_value,f,{dag},manual__{i},{cell},"
                    f"2026-05-01 06:01:0{i}.5+00\n")
    path = tmp_path / "xcom.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    proc = _run("--path", str(path), "--no-flat")
    assert proc.returncode == 0, proc.stderr
    expect = sum(len(v.encode("utf-8")) for v in values if v is not None)
    assert f"2 DAGs, 5 rows, {expect:,} value bytes" in proc.stdout, proc.stdout


def test_disagreeing_totals_fail_loudly() -> None:
    a = Result("xcomlab", 2, 1.0, 1, 0.5, {"d1": (2, 100)})
    b = Result("duckdb", 2, 1.0, 1, 0.5, {"d1": (2, 101)})
    assert _check_totals([a, a])[0].startswith("totals agree")
    with pytest.raises(SystemExit, match="TOTALS DISAGREE: xcomlab vs duckdb differ on 1 DAGs"):
        _check_totals([a, b])
