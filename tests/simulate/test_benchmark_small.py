"""The simulation benchmark runs end to end (tiny) and reports its throughput and speedup."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "benchmarks.simulate", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_benchmark_reports_throughput_and_speedup() -> None:
    text = _run("--dags", "30", "--days", "20", "--naive-writes", "3000")
    rate = re.search(r"= ([\d,]+) writes/s \(chunk", text)
    assert rate and int(rate.group(1).replace(",", "")) > 0
    speedup = re.search(r"vectorised / naive speedup: ([\d,.]+)×", text)
    assert speedup and float(speedup.group(1).replace(",", "")) > 1
    assert "agree on the slice: yes" in text


def test_benchmark_measures_complexity_on_sqlite() -> None:
    text = _run("--complexity", "--max", "20000", "--repeats", "3")
    assert "ComplexityResult(sqlite" in text
    assert "EXPLAIN cleanup_by_timestamp" in text and "SCAN xcom" in text
