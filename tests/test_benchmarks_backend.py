"""The backend benchmark runs end to end (--quick) and prints per-op times and goal ratios."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.backend import GOALS, _verdict

ROOT = Path(__file__).resolve().parent.parent
# read before the autouse fixture strips XCOMLAB_* from the environment
AIRFLOW_PYTHON = Path(os.environ.get("XCOMLAB_AIRFLOW_PYTHON", ROOT / ".venv-airflow" / "bin" / "python"))
RATIO = r"ratio (\S+)/(\S+) = (\d+\.\d\d)×  \(goal ([≥≤]) (\d+\.\d+)×\)  (PASS|MISS)"


def test_quick_run_prints_times_ratios_and_goals(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    args = [sys.executable, "-m", "benchmarks.backend", "--quick", "--json", str(out_json)]
    have_airflow = AIRFLOW_PYTHON.exists()
    if have_airflow:
        args += ["--airflow-python", str(AIRFLOW_PYTHON)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for size in ("100 B", "1,000 B"):
        assert f"(a) small values, {size} JSON, set+get, sqlite" in out, out
    assert re.search(r"^  xcomlab\s+\d+\.\d{3} ms/op  \(set \d+\.\d{3}, get \d+\.\d{3}\)", out, re.M), out
    ratios = re.findall(RATIO, out)
    pairs = {(a, b) for a, b, *_ in ratios}
    assert ("xcomlab", "raw") in pairs, out
    for a, b, value, sign, bound, verdict in ratios:
        ok = float(value) >= float(bound) if sign == "≥" else float(value) <= float(bound)
        assert verdict == ("PASS" if ok else "MISS"), (a, b, value, verdict)
    assert re.search(r"^  xcomlab .* compression (\d+\.\d\d)×$", out, re.M), out
    raw_line = re.search(r"^  raw .*stored 10,000,000 B  compression 1\.00×$", out, re.M)
    assert raw_line, out  # raw json is the uncompressed 10 MB value
    results = json.loads(out_json.read_text())
    assert results["stored_bytes"]["xcomlab"] < 10_000_000 / 2  # zstd on JSON records
    dbs = results["databases"]
    assert dbs[0] == "sqlite" and set(dbs) <= {"sqlite", "postgresql"}
    assert set(results["parts"]) == {f"small/{db}/{n}" for db in dbs for n in (100, 1000)} | {"large"}
    for timings in results["parts"].values():
        for t in timings.values():
            assert 0 < t["set_s"] < t["op_s"] and 0 < t["get_s"] < t["op_s"]
    if have_airflow and "Airflow contenders skipped" not in out:
        assert ("airflow", "xcomlab") in pairs and ("common-io", "xcomlab") in pairs, out
        assert re.search(r"^  compression xcomlab/common-io = \d+\.\d\d×", out, re.M), out
    else:
        assert "Airflow contenders skipped:" in out, out


@pytest.mark.parametrize(("part", "name", "x", "other", "verdict"), [
    ("small", "airflow", 1.0, 2.5, "PASS"), ("small", "airflow", 1.0, 1.5, "MISS"),
    ("small", "raw", 1.2, 1.0, "PASS"), ("small", "raw", 1.4, 1.0, "MISS"),
    ("large", "common-io", 1.0, 2.0, "PASS"), ("large", "raw", 1.6, 1.0, "MISS"),
])
def test_verdicts_follow_the_goals(part: str, name: str, x: float, other: float, verdict: str) -> None:
    text, ok = _verdict(part, name, x, other)
    assert text.endswith(verdict) and ok == (verdict == "PASS")
    assert {(p, n) for p, n, _, _ in GOALS} >= {(part, name)}


def test_missing_airflow_python_is_reported_as_skipped(tmp_path: Path) -> None:
    from benchmarks.backend import _airflow_python

    python, why = _airflow_python(str(tmp_path / "nope" / "python"))
    assert python is None and "does not exist" in why
