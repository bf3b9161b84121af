"""The summary benchmark runs end to end and its contenders agree on what they count."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_small_summary_run_prints_ratios_and_agreeing_totals() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.summary", "--rows", "20000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for name in ("summary", "sizes", "frame", "cli", "duckdb"):
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+\d+\.\d\dx\s+\d+\s", out, re.M), out
    assert re.search(r"^totals agree \(summary, sizes, frame, cli, duckdb\): \d+ DAGs, 20,000 rows, "
                     r"[\d,]+ value bytes", out, re.M), out
    assert re.search(r"^ratio summary/duckdb time: \d+\.\d\dx", out, re.M), out
