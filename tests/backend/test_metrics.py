"""Metrics through Airflow's own Stats: a real Airflow sends them to a StatsD listener here.

The store runs in a subprocess under an Airflow venv's python (see ``_airflow.py``) with
``AIRFLOW__METRICS__STATSD_ON=True`` pointing at a UDP socket this test binds on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xcomlab.backend import ConfigError, StoreConfig, XComStore

from . import _airflow

PROBE = textwrap.dedent("""
    import json, sys
    from xcomlab.backend import XComStore
    from xcomlab.backend.serde import SerdeError

    d = sys.argv[1]
    s = XComStore(url=f"sqlite:///{d}/s.db", object_base=f"file://{d}/o", threshold=1000,
                  metrics=True, cache_max_bytes=1 << 20, measure=False)
    ids = dict(dag_id="d", run_id="r", task_id="t")
    s.set("small", {"a": 1}, **ids)
    s.set("big", list(range(2000)), **ids)
    assert s.get("big", **ids) == list(range(2000))
    assert s.get("big", **ids) == list(range(2000))
    assert s.get("none", **ids) is None
    try:
        s.set("bad", object(), **ids)
    except SerdeError:
        pass
    s.delete("big", **ids)
    print(json.dumps({"airflow_loaded": "airflow" in sys.modules}))
""")


@pytest.mark.parametrize("py", _airflow.pythons())
def test_statsd_receives_push_pull_bytes_tier_and_errors(py: str, tmp_path: Path) -> None:
    _airflow.require(py, "statsd")
    listener = _airflow.StatsdListener()
    env = _airflow.clean_env(AIRFLOW_HOME=str(tmp_path), **listener.env("af"))
    proc = listener.run([py, "-c", PROBE, str(tmp_path)], tmp_path / "probe.log", env=env,
                        cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    counts = {n: int(sum(v)) for n, v in listener.values("c").items()}
    timings = listener.values("ms")
    assert counts["af.xcomlab.push.db.count"] == 1
    assert counts["af.xcomlab.push.object.count"] == 1
    assert counts["af.xcomlab.pull.object.count"] == 2
    assert counts["af.xcomlab.pull.none.count"] == 1
    assert counts["af.xcomlab.push.errors"] == 1
    assert counts["af.xcomlab.pull.cache_miss"] == 1 and counts["af.xcomlab.pull.cache_hit"] == 1
    assert counts["af.xcomlab.delete.object.count"] == 1
    assert 0 < counts["af.xcomlab.push.object.bytes"] < len(json.dumps(list(range(2000))))
    assert counts["af.xcomlab.pull.object.bytes"] == 2 * counts["af.xcomlab.push.object.bytes"]
    assert counts["af.xcomlab.push.db.bytes"] == len(json.dumps({"a": 1}))
    for name in ("af.xcomlab.push.db.duration", "af.xcomlab.pull.object.duration"):
        assert timings[name] and all(0 <= v < 60_000 for v in timings[name]), timings
    assert len(timings["af.xcomlab.pull.object.duration"]) == 2
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"airflow_loaded": True}


OFF_PROBE = textwrap.dedent("""
    import json, sys
    from xcomlab.backend import XComStore
    s = XComStore(url="sqlite://", measure=False)
    s.set("k", 1, dag_id="d", run_id="r", task_id="t")
    assert s.get("k", dag_id="d", run_id="r", task_id="t") == 1
    print(json.dumps(sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))))
""")


@pytest.mark.parametrize("py", [sys.executable, *_airflow.pythons()])
def test_off_by_default_and_never_imports_airflow(py: str, tmp_path: Path) -> None:
    """Off by default; with metrics off nothing imports Airflow, even where it is installed."""
    if py != sys.executable:
        _airflow.require(py)
    assert StoreConfig().metrics is False
    proc = subprocess.run([py, "-c", OFF_PROBE], env=_airflow.clean_env(AIRFLOW_HOME=str(tmp_path)),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_on_without_airflow_is_a_config_error() -> None:
    try:
        import airflow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("Airflow is importable in this venv")
    with pytest.raises(ConfigError, match="Airflow cannot be imported"):
        XComStore(url="sqlite://", metrics=True)


@pytest.mark.parametrize("prefix", ["", "a b", "x" * 65, ".start"])
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError, match="metrics_prefix"):
        StoreConfig(metrics_prefix=prefix)


def test_settings_from_environment() -> None:
    cfg = StoreConfig.from_env(environ={"XCOMLAB_METRICS": "true",
                                        "AIRFLOW__XCOMLAB__METRICS_PREFIX": "team_a.xcom"})
    assert cfg.metrics is True and cfg.metrics_prefix == "team_a.xcom"
