"""The push-down benchmark runs end to end on a live PostgreSQL and its contenders agree."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from conftest import ROOT, _answers


@pytest.mark.slow
def test_small_pushdown_run_prints_the_ratio_and_agreeing_totals() -> None:
    if not _answers(5432):
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    schema = f"pushdown_test_{uuid.uuid4().hex[:8]}"  # its own schema: runs at the same time do not collide
    proc = subprocess.run([sys.executable, "-m", "benchmarks.pushdown", "--rows", "3000", "--repeat", "1",
                           "--name", schema],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    out = proc.stdout
    for name in ("cli", "sql"):
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+\d+\.\d\dx", out, re.M), out
    assert re.search(r"^totals agree \(cli, sql\): \d+ DAGs, 3,000 rows", out, re.M), out
    assert re.search(r"^bytes received by the summary: [\d,]+ in \d+ statements", out, re.M), out
    # the database's prefilter count is the baseline's (secrets.candidates)
    assert re.search(r"^prefilter: sql [\d,]+ candidate rows; cli secrets\.candidates [\d,]+ \(agrees\)", out, re.M), out
