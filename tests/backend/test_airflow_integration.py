"""The Airflow 3 adapter in a real Airflow 3.3: TaskFlow DAGs run by ``dag.test()`` on SQLite.

Airflow lives in its own venv (``make airflow-env`` → ``.venv-airflow``; another path via
``XCOMLAB_AIRFLOW_PYTHON``) so that its ~90 dependencies never enter the main test venv.
The DAG (airflow_dags/xcomlab_backend_dag.py) runs in a subprocess with that venv's python;
this module reads what it left behind: the task outputs, the Airflow metadata DB (through
``xcomlab.load_export``) and the object store directory.

Without that venv the Airflow tests skip, unless ``XCOMLAB_REQUIRE_AIRFLOW=1`` (set by
``make test``), which turns the skip into a failure so CI cannot skip silently.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard

import xcomlab
from xcomlab.backend.envelope import ENVELOPE_KEY

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = Path(__file__).parent / "airflow_dags" / "xcomlab_backend_dag.py"
BACKEND = "xcomlab.backend.airflow.XComlabBackend"
#: Offload threshold of the run: 64 KiB of serialized JSON.
THRESHOLD = 65_536
#: The DAG's figures (airflow_dags/xcomlab_backend_dag.py).
BIG_N, MAPPED_X, MAPPED_CHARS = 800_000, [1, 2, 3, 4], 40_000
STEP_TIMEOUT_S = 300
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Read at import: the autouse ``_clean_environ`` fixture removes XCOMLAB_* from each test.
AIRFLOW_PYTHON = Path(os.environ.get("XCOMLAB_AIRFLOW_PYTHON",
                                     ROOT / ".venv-airflow" / "bin" / "python"))
REQUIRE_AIRFLOW = os.environ.get("XCOMLAB_REQUIRE_AIRFLOW") == "1"


@functools.cache
def _unusable(py: Path) -> str:
    """Why ``py`` cannot run the DAG ("" when it can)."""
    if not py.exists():
        return f"no Airflow venv at {py} (run `make airflow-env` or set XCOMLAB_AIRFLOW_PYTHON)"
    probe = subprocess.run([str(py), "-c", "import airflow.sdk, xcomlab.backend.airflow"],
                           capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode:
        return f"{py} cannot import airflow.sdk and the adapter: {probe.stderr.strip()[-400:]}"
    return ""


def _airflow_python() -> Path:
    """The Airflow venv's python, or skip (fail under XCOMLAB_REQUIRE_AIRFLOW=1)."""
    if reason := _unusable(AIRFLOW_PYTHON):
        if REQUIRE_AIRFLOW:
            pytest.fail(f"XCOMLAB_REQUIRE_AIRFLOW=1 but {reason}")
        pytest.skip(reason)
    return AIRFLOW_PYTHON


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Airflow/xcomlab settings of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "XCOMLAB_", "PYTHONPATH"))}
    env.update(extra)
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
    with log.open("w") as out:
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              timeout=STEP_TIMEOUT_S, check=False)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}; last lines of {log}:\n{tail}")


@dataclass(frozen=True)
class AirflowRun:
    """What one ``dag.test()`` run left behind."""

    home: Path
    objects: Path
    out: Path

    @property
    def db(self) -> Path:
        return self.home / "airflow.db"

    def output(self, name: str) -> Any:
        return json.loads((self.out / f"{name}.json").read_text())

    def files(self) -> set[str]:
        """Paths of the files in the object store."""
        return {str(p) for p in self.objects.rglob("*") if p.is_file()}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as con:
            return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def airflow_run(tmp_path_factory: pytest.TempPathFactory) -> AirflowRun:
    """``airflow db migrate`` then the DAG's ``dag.test()``, with the xcomlab backend:
    objects under ``file://<tmp>/objects``, threshold 64 KiB, zstd. The settings come from
    both prefixes (``AIRFLOW__XCOMLAB__*`` and ``XCOMLAB_*``)."""
    py = _airflow_python()
    base = tmp_path_factory.mktemp("airflow")
    run = AirflowRun(home=base / "home", objects=base / "objects", out=base / "out")
    dags = base / "dags"
    for d in (run.home, run.objects, run.out, dags):
        d.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    env = _clean_env(
        AIRFLOW_HOME=str(run.home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{run.db}",
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__XCOMLAB__OBJECT_BASE=f"file://{run.objects}",
        AIRFLOW__XCOMLAB__COMPRESSION="zstd",
        XCOMLAB_THRESHOLD=str(THRESHOLD),
        XCOMLAB_TEST_OUT=str(run.out),
        XCOMLAB_TEST_OBJECTS=str(run.objects),
    )
    _run([str(py), "-m", "airflow", "db", "migrate"], env, base, base / "migrate.log")
    _run([str(py), str(dags / DAG_FILE.name)], env, base, base / "dag_test.log")
    return run


def test_dag_run_and_every_task_succeed(airflow_run: AirflowRun) -> None:
    """The run succeeds; the flaky task succeeded on its second try."""
    assert airflow_run.output("run")["state"] == "success"
    tis = airflow_run.query("SELECT task_id, map_index, state, try_number FROM task_instance")
    assert {(t, m) for t, m, _, _ in tis} == {
        ("small", -1), ("big", -1), ("typed", -1), ("split", -1), ("check", -1), ("pull", -1),
        ("flaky", -1), *(("square", i) for i in range(len(MAPPED_X)))}
    assert {state for _, _, state, _ in tis} == {"success"}
    assert {t: n for t, _, _, n in tis}["flaky"] == 2


def test_downstream_tasks_receive_the_values(airflow_run: AirflowRun) -> None:
    """TaskFlow arguments (incl. a mapped task's results and multiple_outputs keys) and
    ``ti.xcom_pull`` give back what was pushed; the tasks also assert it themselves."""
    check = airflow_run.output("check")
    assert check["small"] == {"rows": 3, "name": "small", "ok": True, "ratio": 0.5, "none": None}
    assert check["big_len"] == BIG_N and check["big_sum"] == BIG_N * (BIG_N - 1) // 2
    assert check["squares"] == [x * x for x in MAPPED_X]
    assert check["count"] == 7 and check["payload_len"] == 200_000
    assert "datetime.datetime(2026, 1, 2, 3, 4, 5, 678901" in check["typed"]
    assert "'pair': (1, 'a')" in check["typed"] and "'tags': {" in check["typed"]
    pull = airflow_run.output("pull")
    assert pull == {"big_len": BIG_N, "squares": [x * x for x in MAPPED_X], "one": 3,
                    "whole_count": 7}


def test_large_values_sit_in_the_object_store(airflow_run: AirflowRun) -> None:
    """Rows at or over 64 KiB of JSON hold envelopes pointing to zstd objects; the others
    hold the value itself; every object belongs to a row."""
    df = xcomlab.load_export(airflow_run.db)
    assert set(df["airflow_schema"]) == {"3.3+"}
    offloaded = df[df["ref_uri"].notna()]
    assert set(zip(offloaded["task_id"], offloaded["map_index"], offloaded["key"], strict=True)) == {
        ("big", -1, "return_value"), ("split", -1, "payload"), ("split", -1, "return_value"),
        ("square", 1, "return_value"), ("square", 2, "return_value"), ("square", 3, "return_value")}
    inline = df[df["ref_uri"].isna()]
    assert ("square", 0, "return_value") in set(
        zip(inline["task_id"], inline["map_index"], inline["key"], strict=True))
    assert (inline["value_bytes"] < THRESHOLD).all()
    assert {u.removeprefix("file://") for u in offloaded["ref_uri"]} == airflow_run.files()

    rows = airflow_run.query("SELECT task_id, key, value FROM xcom WHERE task_id = 'big'")
    envelope = json.loads(rows[0][2])
    assert envelope[ENVELOPE_KEY] == 1 and envelope["codec"] == "json+zstd"
    data = Path(envelope["uri"].removeprefix("file://")).read_bytes()
    assert data.startswith(ZSTD_MAGIC) and len(data) == envelope["stored_bytes"]
    raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=envelope["value_bytes"])
    assert json.loads(raw) == list(range(BIG_N))


def test_small_and_typed_values_stay_in_the_row_as_airflow_serde(airflow_run: AirflowRun) -> None:
    """Inline values are Airflow 3 serde JSON, readable without xcomlab."""
    rows = dict(((t, k), json.loads(v)) for t, k, v in airflow_run.query(
        "SELECT task_id, key, value FROM xcom WHERE task_id IN ('small', 'typed')"))
    assert rows["small", "return_value"]["rows"] == 3
    assert rows["typed", "pair"] == {"__classname__": "builtins.tuple", "__version__": 1,
                                     "__data__": [1, "a"]}
    assert rows["typed", "tags"]["__data__"] == ["x", "y"]
    assert rows["typed", "when"]["__classname__"] == "datetime.datetime"


def test_retry_purges_the_object_of_the_cleared_xcom(airflow_run: AirflowRun) -> None:
    """Airflow's own purge path: on the retry the task runner deletes the keys of the first
    try (``xcom_keys_to_clear``) through ``XComlabBackend.delete`` → ``purge``."""
    before = [p for p in airflow_run.output("flaky_try1")["objects"] if "/flaky/" in p]
    assert len(before) == 1 and "scratch-" in before[0]
    assert not (airflow_run.objects / before[0]).exists()
    after = airflow_run.output("flaky_try2")
    assert after["try_number"] == 2
    assert not [p for p in after["objects"] if "/flaky/" in p]
    assert airflow_run.query("SELECT key FROM xcom WHERE task_id = 'flaky'") == [("return_value",)]


CONFIG_PROBE = textwrap.dedent("""
    import json, os, sys
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend
    from xcomlab.backend.airflow import XComlabBackend, store

    out = {"resolved": resolve_xcom_backend() is XComlabBackend}
    def cfg():
        c = store().config
        return [c.object_base, c.threshold, c.compression, c.measure]
    out["cfg_file"] = cfg()
    os.environ["AIRFLOW__XCOMLAB__THRESHOLD"] = "200"
    os.environ["AIRFLOW__XCOMLAB__COMPRESSION"] = "gzip"
    out["airflow_env"] = cfg()
    os.environ["XCOMLAB_THRESHOLD"] = "300"
    os.environ["XCOMLAB_OBJECT_BASE"] = "memory://from-env"
    os.environ["XCOMLAB_MEASURE"] = "1"
    out["both_env"] = cfg()
    os.environ["XCOMLAB_THRESHOLD"] = "lots"
    try:
        store()
    except Exception as exc:
        out["bad"] = type(exc).__name__
    json.dump(out, sys.stdout)
""")


def test_settings_come_from_both_prefixes_and_airflow_cfg(tmp_path: Path) -> None:
    """``[xcomlab]`` of airflow.cfg < ``AIRFLOW__XCOMLAB__*`` < ``XCOMLAB_*``; the backend
    resolves through Airflow's own ``[core] xcom_backend`` lookup."""
    py = _airflow_python()
    (tmp_path / "airflow.cfg").write_text(
        "[xcomlab]\nobject_base = memory://from-cfg\nthreshold = 100\n")
    env = _clean_env(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
                     AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run([str(py), "-c", CONFIG_PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "resolved": True,
        "cfg_file": ["memory://from-cfg", 100, "zstd", False],
        "airflow_env": ["memory://from-cfg", 200, "gzip", False],
        "both_env": ["memory://from-env", 300, "gzip", True],
        "bad": "ConfigError",
    }


def test_adapter_needs_airflow_and_nothing_else_imports_it(tmp_path: Path) -> None:
    """In the main venv: xcomlab and xcomlab.backend never import airflow; without Airflow
    the adapter's ImportError names the extra."""
    code = textwrap.dedent("""
        import importlib.util, json, sys
        import xcomlab, xcomlab.backend, xcomlab.cli
        out = {"airflow_loaded": any(m == "airflow" or m.startswith("airflow.") for m in sys.modules),
               "has_airflow": importlib.util.find_spec("airflow") is not None}
        try:
            import xcomlab.backend.airflow
            out["error"] = None
        except ImportError as exc:
            out["error"] = str(exc)
        json.dump(out, sys.stdout)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["airflow_loaded"] is False
    if out["has_airflow"]:
        assert out["error"] is None
    else:
        assert out["error"] is not None and "xcomlab[airflow]" in out["error"]


ROUND_TRIP_PROBE = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from airflow.sdk.execution_time.comms import XComResult
    from xcomlab.backend.airflow import XComlabBackend as X
    from xcomlab.errors import XComTooLargeError
    from xcomlab.backend.serde import SerdeError

    ids = dict(key="k", dag_id="d", run_id="r", task_id="t", map_index=2)
    out = {}
    big = {"rows": list(range(5000))}
    stored = X.serialize_value(big, **ids)
    wire = XComResult(key="k", value=json.loads(json.dumps(stored)))  # as the API returns it
    path = Path(stored["uri"].removeprefix("file://"))
    out["offloaded"] = [path.exists(), "/d/r/t/2/k-" in stored["uri"]]
    out["round_trip"] = X.deserialize_value(wire) == big
    out["small"] = X.serialize_value({"a": (1, 2)}, **ids)
    out["small_back"] = X.deserialize_value(XComResult(key="k", value=out["small"])) == {"a": (1, 2)}
    X.purge(wire)
    out["purged"] = not path.exists()
    X.purge(XComResult(key="k", value=out["small"]))  # nothing to purge: no error
    unnamed = X.serialize_value(big)  # Airflow may call it without ids
    out["unnamed"] = "/NO_DAG_ID/NO_RUN_ID/NO_TASK_ID/-1/NO_KEY-" in unnamed["uri"]
    for name, value in (("too_large", "x" * 3_000_000), ("bytes", b"raw"), ("object", object())):
        try:
            X.serialize_value(value, **ids)
            out[name] = None
        except (XComTooLargeError, SerdeError) as exc:
            out[name] = type(exc).__name__
    json.dump(out, sys.stdout)
""")


def test_adapter_round_trip_in_the_airflow_venv(tmp_path: Path) -> None:
    """The classmethods Airflow calls, on Airflow's own ``XComResult``: offload, read back,
    purge; oversized and non-JSON values are refused before anything is written."""
    py = _airflow_python()
    objects = tmp_path / "objects"
    env = _clean_env(AIRFLOW_HOME=str(tmp_path), XCOMLAB_OBJECT_BASE=f"file://{objects}",
                     XCOMLAB_THRESHOLD="1024", XCOMLAB_MAX_VALUE_BYTES="2000000")
    proc = subprocess.run([str(py), "-c", ROUND_TRIP_PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "offloaded": [True, True], "round_trip": True,
        "small": {"a": {"__classname__": "builtins.tuple", "__version__": 1, "__data__": [1, 2]}},
        "small_back": True, "purged": True, "unnamed": True,
        "too_large": "XComTooLargeError", "bytes": "SerdeError", "object": "SerdeError",
    }
    left = [p for p in objects.rglob("*") if p.is_file()]  # purged: only the unnamed one
    assert len(left) == 1 and left[0].name.startswith("NO_KEY-")
