"""Benchmark 4 (issue 13): one dataset as psql CSV, pg_dump, live PostgreSQL, SQLite and Parquet
gives the same rows, bytes, per-DAG figures and threshold counts, by every path."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.equality import PG_URL, _pg_answers, compare
from benchmarks.shapes import write_shape

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_every_format_gives_the_same_summary() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--equality", "--rows", "3000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    expected = ["psql CSV", "SQLite airflow.db", "Parquet"]
    why = _pg_answers(PG_URL)
    if why is None:
        expected[1:1] = [*(["pg_dump"] if shutil.which("pg_dump") else []), "live PostgreSQL"]
    else:
        assert f"skipped pg_dump, live PostgreSQL: {why}" in out, out
    assert re.search(rf"^formats agree \({re.escape(', '.join(expected))}\)", out, re.M), out
    for name in expected:
        assert re.search(rf"^{re.escape(name)}\s+3,000 rows\s+[\d,]+ bytes", out, re.M), out


def test_a_missing_row_is_a_disagreement(tmp_path: Path) -> None:
    whole = tmp_path / "xcom.csv"
    write_shape("mixed", 1_000, whole)
    short = tmp_path / "short" / "xcom.csv"
    short.parent.mkdir()
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    short.write_text("".join(lines[:-1]), encoding="utf-8")
    _, failures = compare({"whole": str(whole), "short": str(short)})
    assert any(f.startswith("short / summarize_file: rows: 1000 vs 999") for f in failures), failures
    assert any(f.startswith("short / profile --summary --json: ") for f in failures), failures
    assert any("DAGs differ" in f for f in failures), failures
