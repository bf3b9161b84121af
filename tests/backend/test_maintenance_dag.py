"""The maintenance DAG: its logic on the store, then the shipped factory in a real Airflow.

In Airflow (each interpreter of ``_airflow.pythons()``): ``airflow db migrate``, two runs of a
producer DAG through the xcomlab backend (one small, one offloaded XCom each), an old and a
young orphan object, then ``airflow dags test xcomlab_maintenance`` with ``keep_last_runs=1``
and ``purge_orphans=True``; metrics on, received by a StatsD listener on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from xcomlab.backend import RetentionPolicy, StoreConfig, XComStore
from xcomlab.backend.maintenance_dag import run_maintenance, size_summary, store_for_maintenance

from . import _airflow

DAGS = Path(__file__).parent / "airflow_dags"
#: Adapter per Airflow major version (Airflow 2's comes with helper af2's adapter).
BACKENDS = {"3": "xcomlab.backend.airflow.XComlabBackend",
            "2": os.environ.get("XCOMLAB_AIRFLOW2_BACKEND", "xcomlab.backend.airflow2.XComlabBackend")}
# Airflow's DAG discovery (safe mode) parses only files that mention "airflow" and "dag".
MAINTENANCE_DAG = """# the xcomlab maintenance DAG for Airflow
from datetime import timedelta
from xcomlab.backend.maintenance_dag import maintenance_dag

dag = maintenance_dag(keep_last_runs=1, purge_orphans=True, grace=timedelta(minutes=10))
"""
IDS = {"run_id": "r", "task_id": "t"}


def _old(path: Path, data: bytes = b"orphan") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    two_days_ago = time.time() - 2 * 86400
    os.utime(path, (two_days_ago, two_days_ago))
    return path


def test_run_maintenance_on_the_store(tmp_path: Path) -> None:
    """Cleanup by retention, reconcile orphans, summary: the DAG's three steps without Airflow."""
    objects = tmp_path / "o"
    store = XComStore(url=f"sqlite:///{tmp_path / 's.db'}", object_base=f"file://{objects}",
                      threshold=1000, measure=False)
    for run in ("r1", "r2"):
        store.set("small", {"a": 1}, dag_id="d", run_id=run, task_id="t")
        store.set("big", list(range(3000)), dag_id="d", run_id=run, task_id="t")
        time.sleep(0.01)
    store.set("big", list(range(5000)), dag_id="e", **IDS)
    orphan = _old(objects / "ghost" / "r" / "t" / "-1" / "k-1.json.zst")
    young = objects / "ghost" / "r" / "t" / "-1" / "k-2.json.zst"
    young.write_bytes(b"in flight")
    report = run_maintenance(store, policy=RetentionPolicy(keep_last_runs=1), purge_orphans=True)
    assert report["cleanup"]["rows"] == 2 and report["cleanup"]["objects"] == 1
    assert report["reconcile"]["purged_objects"] == 1 and report["reconcile"]["young_orphans"] == 1
    assert not orphan.exists() and young.exists()
    s = report["summary"]
    assert (s["rows"], s["offloaded_rows"], s["dags"]) == (3, 2, 2)
    assert s["top_dags"][0]["dag_id"] == "e"
    rows = store.rows()
    assert set(rows.run_id[rows.dag_id == "d"]) == {"r2"}
    envs = [store.get_stored("big", dag_id=d, run_id=r, task_id="t") for d, r in (("d", "r2"), ("e", "r"))]
    assert s["object_bytes"] == sum(e["stored_bytes"] for e in envs)


def test_no_rule_deletes_nothing(tmp_path: Path) -> None:
    store = XComStore(url=f"sqlite:///{tmp_path / 's.db'}", measure=False)
    store.set("k", 1, dag_id="d", **IDS)
    report = run_maintenance(store)
    assert report["cleanup"]["rows"] == 0 and size_summary(store)["rows"] == 1


def test_store_defaults_to_airflows_xcom_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XCOMLAB_URL", f"sqlite:///{tmp_path / 'a.db'}")
    store = store_for_maintenance()
    assert store.xcom.name == "xcom" and store.config.measure is False
    explicit = store_for_maintenance(StoreConfig(url="sqlite://", table="mine"))
    assert explicit.xcom.name == "mine"


@dataclass(frozen=True)
class Deployment:
    """What the Airflow run left behind."""

    home: Path
    objects: Path
    listener: _airflow.StatsdListener
    version: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "airflow.db") as con:
            return con.execute(sql).fetchall()

    def xcom(self, dag_id: str, task_id: str) -> Any:
        (value,) = self.query(f"SELECT value FROM xcom WHERE dag_id = '{dag_id}' "
                              f"AND task_id = '{task_id}' AND key = 'return_value'")[0]
        value = value.decode() if isinstance(value, bytes) else value
        return json.loads(value)


def _step(py: str, args: list[str], env: dict[str, str], home: Path, name: str,
          listener: _airflow.StatsdListener | None = None) -> None:
    log = home.parent / f"{name}.log"
    cmd = [py, "-m", "airflow", *args]
    if listener is not None:
        proc = listener.run(cmd, log, env=env, cwd=home.parent)
    else:
        with log.open("w") as out:
            proc = subprocess.run(cmd, env=env, cwd=home.parent, stdout=out,  # type: ignore[assignment]
                                  stderr=subprocess.STDOUT, timeout=600, check=False)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}; last lines of {log}:\n{tail}")


@pytest.fixture(scope="module", params=_airflow.pythons())
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    py = request.param
    version = _airflow.require(py, "statsd")
    base = tmp_path_factory.mktemp("maint")
    home, dags, objects = base / "home", base / "dags", base / "objects"
    for d in (home, dags, objects):
        d.mkdir()
    shutil.copy(DAGS / "xcomlab_producer_dag.py", dags)
    (dags / "xcomlab_maintenance.py").write_text(MAINTENANCE_DAG)
    listener = _airflow.StatsdListener()
    env = _airflow.clean_env(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__XCOM_BACKEND=BACKENDS[version.split(".")[0]],
        AIRFLOW__XCOMLAB__OBJECT_BASE=f"file://{objects}", XCOMLAB_THRESHOLD="65536",
        **listener.env("af"))
    _step(py, ["db", "migrate"], env, home, "migrate")
    for day in ("2026-01-01", "2026-01-02"):
        _step(py, ["dags", "test", "xcomlab_producer", day], env, home, f"producer-{day}")
    _old(objects / "ghost" / "r" / "t" / "-1" / "k-1.json.zst")
    (objects / "ghost" / "r" / "t" / "-1" / "k-2.json.zst").write_bytes(b"young")
    env["XCOMLAB_METRICS"] = "1"
    _step(py, ["dags", "test", "xcomlab_maintenance", "2026-01-03"], env, home, "maintenance",
          listener)
    return Deployment(home, objects, listener, version)


def test_every_maintenance_task_succeeds(deployment: Deployment) -> None:
    states = deployment.query("SELECT task_id, state FROM task_instance "
                              "WHERE dag_id = 'xcomlab_maintenance'")
    assert sorted(states) == [("cleanup", "success"), ("reconcile", "success"),
                              ("summary", "success")]


def test_retention_keeps_the_last_run_and_its_object(deployment: Deployment) -> None:
    rows = deployment.query("SELECT run_id, task_id, value FROM xcom WHERE dag_id = 'xcomlab_producer'")
    assert {(r[1]) for r in rows} == {"small", "big"} and len({r[0] for r in rows}) == 1
    runs = deployment.query("SELECT run_id FROM dag_run WHERE dag_id = 'xcomlab_producer' ORDER BY id")
    assert len(runs) == 2 and rows[0][0] == runs[-1][0]  # the later run's XComs stay
    files = {p.name for p in deployment.objects.rglob("*") if p.is_file()}
    cleanup = deployment.xcom("xcomlab_maintenance", "cleanup")
    assert (cleanup["rows"], cleanup["objects"]) == (2, 1)
    assert 0 < cleanup["row_bytes"] < 2_000 and 10_000 < cleanup["object_bytes"] < 400_000
    big = next(r for r in rows if r[1] == "big")[2]
    uri = json.loads(big.decode() if isinstance(big, bytes) else big)["uri"]
    producer_files = {p for p in files if p.startswith("return_value-")}
    assert producer_files == {uri.rsplit("/", 1)[1]}


def test_reconcile_purges_the_old_orphan_only(deployment: Deployment) -> None:
    r = deployment.xcom("xcomlab_maintenance", "reconcile")
    assert r["purged_objects"] == 1 and r["young_orphans"] == 1 and r["dangling"] == 0
    ghost = deployment.objects / "ghost" / "r" / "t" / "-1"
    assert not (ghost / "k-1.json.zst").exists() and (ghost / "k-2.json.zst").exists()


def test_summary_is_returned_and_sent_as_gauges(deployment: Deployment) -> None:
    s = deployment.xcom("xcomlab_maintenance", "summary")
    # producer's last run (small + big) and the cleanup and reconcile results
    assert (s["rows"], s["offloaded_rows"]) == (4, 1) and s["object_bytes"] > 0
    assert {d["dag_id"] for d in s["top_dags"]} == {"xcomlab_producer", "xcomlab_maintenance"}
    gauges = deployment.listener.values("g")
    assert gauges["af.xcomlab.store.rows"] == [4.0]
    assert gauges["af.xcomlab.store.object_bytes"] == [float(s["object_bytes"])]
    counts = deployment.listener.values("c")
    assert sum(counts["af.xcomlab.cleanup.db.count"]) >= 2 or sum(
        counts.get("af.xcomlab.cleanup.object.count", [0])) >= 1
    assert sum(counts["af.xcomlab.reconcile.object.count"]) == 1


SHIPPED_PROBE = """
import json, runpy, sys
ns = runpy.run_path(sys.argv[1])
dag = ns["dag"]
print(json.dumps({"dag_id": dag.dag_id, "tasks": sorted(t.task_id for t in dag.tasks),
                  "upstream": sorted(dag.get_task("summary").upstream_task_ids)}))
"""


@pytest.mark.parametrize("py", _airflow.pythons())
def test_shipped_dag_file_loads_in_airflow(py: str, tmp_path: Path) -> None:
    """The DAG file in the package parses into the three-task DAG (cleanup → reconcile → summary)."""
    _airflow.require(py)
    shipped = Path(__file__).resolve().parents[2] / "xcomlab" / "backend" / "dags" / "xcomlab_maintenance.py"
    proc = subprocess.run([py, "-c", SHIPPED_PROBE, str(shipped)], capture_output=True, text=True,
                          env=_airflow.clean_env(AIRFLOW_HOME=str(tmp_path)), cwd=tmp_path,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "dag_id": "xcomlab_maintenance", "tasks": ["cleanup", "reconcile", "summary"],
        "upstream": ["reconcile"]}
