"""``xcomlab`` / ``python -m xcomlab`` (:mod:`xcomlab.__main__`): the settings the program
makes for itself reach Arrow's allocator, which reads them as its library loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

_PROBE = """
import os, sys
import xcomlab.__main__ as program
assert "pyarrow" not in sys.modules, "the entry point loaded Arrow before setting its options"
sys.argv = ["xcomlab", "profile", sys.argv[1], "--json"]
code = program.main()
print("purge_delay=" + os.environ["MIMALLOC_PURGE_DELAY"], "code=" + str(code))
"""
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "af3" / "airflow.db"


@pytest.mark.skipif(pa.default_memory_pool().backend_name != "mimalloc",
                    reason="Arrow's default pool here is not mimalloc: the setting does not apply")
@pytest.mark.parametrize(("given", "want"), [(None, "0"), ("250", "250")])
def test_the_program_sets_arrows_purge_delay_before_arrow_loads(given: str | None, want: str) -> None:
    """mimalloc prints its options as it starts (``MIMALLOC_VERBOSE``): the command's run
    starts it with no purge delay, or with the delay the environment gave."""
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    if given is not None:
        env["MIMALLOC_PURGE_DELAY"] = given
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(SAMPLE)], capture_output=True,
                          text=True, env={**env, "MIMALLOC_VERBOSE": "1"}, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"option 'purge_delay': {want}" in proc.stderr
    assert f"purge_delay={want} code=0" in proc.stdout
