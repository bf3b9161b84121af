"""The Airflow 2 adapter in a real Airflow 2.10.5: a TaskFlow DAG run by ``dag.test()`` on SQLite.

Airflow 2 lives in its own venv (``make airflow2-env`` → ``.venv-airflow2``; another path via
``XCOMLAB_AIRFLOW2_PYTHON``), on SQLAlchemy 1.4 as Airflow 2.10 pins it. The DAG
(airflow_dags/xcomlab_backend_dag_af2.py) runs in a subprocess with that venv's python; the
probes below run Airflow's own ``XCom`` model there after the run. Without that venv the
tests skip, unless ``XCOMLAB_REQUIRE_AIRFLOW=1`` (set by ``make test``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

import xcomlab

from .test_airflow_integration import AirflowRun, _clean_env, _run

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = Path(__file__).parent / "airflow_dags" / "xcomlab_backend_dag_af2.py"
BACKEND = "xcomlab.backend.airflow2.XComlabBackend"
THRESHOLD = 65_536
BIG_N, MAPPED_X = 800_000, [1, 2, 3, 4]
STEP_TIMEOUT_S = 300
AIRFLOW2_PYTHON = Path(os.environ.get("XCOMLAB_AIRFLOW2_PYTHON",
                                      ROOT / ".venv-airflow2" / "bin" / "python"))
REQUIRE_AIRFLOW = os.environ.get("XCOMLAB_REQUIRE_AIRFLOW") == "1"


@functools.cache
def _unusable(py: Path) -> str:
    if not py.exists():
        return f"no Airflow 2 venv at {py} (run `make airflow2-env` or set XCOMLAB_AIRFLOW2_PYTHON)"
    probe = subprocess.run(
        [str(py), "-c", "import airflow, sys; sys.exit(not airflow.__version__.startswith('2.'))"],
        capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode:
        return f"{py} is not an Airflow 2 python: {probe.stderr.strip()[-400:]}"
    return ""


def _airflow2_python() -> Path:
    if reason := _unusable(AIRFLOW2_PYTHON):
        if REQUIRE_AIRFLOW:
            pytest.fail(f"XCOMLAB_REQUIRE_AIRFLOW=1 but {reason}")
        pytest.skip(reason)
    return AIRFLOW2_PYTHON


def _env(run: AirflowRun, dags: Path, **extra: str) -> dict[str, str]:
    return _clean_env(
        AIRFLOW_HOME=str(run.home), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{run.db}",
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__XCOMLAB__OBJECT_BASE=f"file://{run.objects}",
        AIRFLOW__XCOMLAB__COMPRESSION="zstd", XCOMLAB_THRESHOLD=str(THRESHOLD),
        XCOMLAB_TEST_OUT=str(run.out), XCOMLAB_TEST_OBJECTS=str(run.objects), **extra)


def _probe(code: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([str(_airflow2_python()), "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def airflow2_run(tmp_path_factory: pytest.TempPathFactory) -> AirflowRun:
    """``airflow db migrate`` then the DAG's ``dag.test()`` with the xcomlab backend."""
    py = _airflow2_python()
    base = tmp_path_factory.mktemp("airflow2")
    run = AirflowRun(home=base / "home", objects=base / "objects", out=base / "out")
    dags = base / "dags"
    for d in (run.home, run.objects, run.out, dags):
        d.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    env = _env(run, dags)
    _run([str(py), "-m", "airflow", "db", "migrate"], env, base, base / "migrate.log")
    _run([str(py), str(dags / DAG_FILE.name)], env, base, base / "dag_test.log")
    return run


def test_dag_run_succeeds_and_tasks_receive_the_values(airflow2_run: AirflowRun) -> None:
    """Every task succeeds (the flaky one on its retry); TaskFlow arguments, ``xcom_pull``
    of one task, of a mapped task (lazy sequence: rows carry only the value), of one map
    index and of a list of tasks give back what was pushed."""
    assert airflow2_run.output("run")["state"] == "success"
    tis = airflow2_run.query("SELECT task_id, map_index, state, try_number FROM task_instance")
    assert {state for _, _, state, _ in tis} == {"success"}
    assert {t: n for t, _, _, n in tis}["flaky"] == 2
    check = airflow2_run.output("check")
    assert check["big_len"] == BIG_N and check["big_sum"] == BIG_N * (BIG_N - 1) // 2
    assert check["squares"] == [x * x for x in MAPPED_X] and check["payload_len"] == 200_000
    assert "datetime.datetime(2026, 1, 2, 3, 4, 5, 678901" in check["typed"]
    assert airflow2_run.output("pull") == {"big_len": BIG_N, "squares": [1, 4, 9, 16],
                                           "one": 3, "both": [BIG_N, "small"]}


def test_large_values_are_offloaded_and_the_rows_read_as_an_airflow2_export(
        airflow2_run: AirflowRun) -> None:
    """Rows over 64 KiB hold envelopes (bytes in Airflow 2's LargeBinary column) pointing to
    zstd objects; ``xcomlab.load_export`` reads the Airflow 2 DB and finds each object."""
    rows = {(t, m, k): bytes(v) for t, m, k, v in airflow2_run.query(
        "SELECT task_id, map_index, key, value FROM xcom")}
    env = json.loads(rows["big", -1, "return_value"])
    assert env["__xcomlab__"] == 1 and env["codec"] == "json+zstd"
    assert json.loads(rows["small", -1, "return_value"])["rows"] == 3
    df = xcomlab.load_export(airflow2_run.db)
    offloaded = df[df["ref_uri"].notna()]
    assert set(zip(offloaded["task_id"], offloaded["map_index"], strict=True)) == {
        ("big", -1), ("split", -1), ("square", 1), ("square", 2), ("square", 3)}
    assert {u.removeprefix("file://") for u in offloaded["ref_uri"]} == airflow2_run.files()


def test_a_retry_purges_the_object_of_the_first_try(airflow2_run: AirflowRun) -> None:
    """Airflow 2 clears a task's XComs when a try starts (``XCom.clear`` → ``purge``)."""
    before = [p for p in airflow2_run.output("flaky_try1")["objects"] if "/flaky/" in p]
    assert len(before) == 1 and "scratch-" in before[0]
    assert not (airflow2_run.objects / before[0]).exists()
    assert not [p for p in airflow2_run.output("flaky_try2")["objects"] if "/flaky/" in p]


AFTER_RUN_PROBE = textwrap.dedent("""
    import json, os, sys, warnings
    from pathlib import Path
    from airflow.models.xcom import XCom, BaseXCom, resolve_xcom_backend
    from airflow.utils.session import create_session
    from xcomlab.backend.airflow2 import XComlabBackend

    out = {"resolved": XCom is XComlabBackend}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve_xcom_backend()
    out["signature_warnings"] = [str(w.message) for w in caught if "signature" in str(w.message)]
    objects = Path(os.environ["XCOMLAB_TEST_OBJECTS"])
    hidden = objects.with_name("objects-hidden")
    objects.rename(hidden)  # the UI path must not read any object
    try:
        with create_session() as s:
            shown = {(x.task_id, x.map_index, x.key): x.value for x in s.query(XCom)}
            base_shown = {(x.task_id, x.map_index, x.key): x.value for x in s.query(BaseXCom)}
    finally:
        hidden.rename(objects)
    big = shown[("big", -1, "return_value")]
    out["ui_big"] = sorted(big) if isinstance(big, dict) else repr(big)
    out["ui_big_preview"] = big.get("preview", "")[:10] if isinstance(big, dict) else None
    out["ui_small"] = shown[("small", -1, "return_value")]
    out["base_big_is_envelope"] = base_shown[("big", -1, "return_value")].get("__xcomlab__")
    run_id = json.loads((Path(os.environ["XCOMLAB_TEST_OUT"]) / "run.json").read_text())["run_id"]
    def files(task):
        return sorted(p.name for p in objects.rglob("*") if p.is_file() and f"/{task}/" in str(p))
    out["before"] = {t: len(files(t)) for t in ("big", "square", "split")}
    XCom.clear(dag_id="xcomlab_backend_af2", task_id="big", run_id=run_id)
    with create_session() as s:
        XCom.delete(s.query(XCom).filter_by(task_id="square", map_index=2).all(), session=s)
        out["square_rows"] = s.query(XCom).filter_by(task_id="square").count()
    out["after"] = {t: len(files(t)) for t in ("big", "square", "split")}
    json.dump(out, sys.stdout)
""")


def test_ui_listing_never_fetches_and_clear_delete_purge(airflow2_run: AirflowRun) -> None:
    """Loading ``XCom`` ORM objects (UI, REST listings) works with the object store gone
    and shows the envelope with its preview; ``XCom.clear`` and ``XCom.delete`` purge the
    objects of the rows they delete and leave the others."""
    env = _env(airflow2_run, airflow2_run.home)
    out = _probe(AFTER_RUN_PROBE, env, airflow2_run.home)
    assert out["resolved"] is True and out["signature_warnings"] == []
    assert out["ui_big"] == ["__xcomlab__", "codec", "kind", "length", "preview", "sha256",
                             "stored_bytes", "uri", "value_bytes"]
    assert out["ui_big_preview"] == "[0, 1, 2, "
    assert out["ui_small"] == {"rows": 3, "name": "small", "ok": True, "ratio": 0.5, "none": None}
    assert out["base_big_is_envelope"] == 1
    assert out["before"] == {"big": 1, "square": 3, "split": 2}
    assert out["after"] == {"big": 0, "square": 2, "split": 2}
    assert out["square_rows"] == 3


ROUND_TRIP_PROBE = textwrap.dedent("""
    import json, os, pickle, sys, warnings
    from pathlib import Path
    from types import SimpleNamespace as Row
    from xcomlab.backend.airflow2 import XComlabBackend as X
    from xcomlab.errors import XcomlabError

    out = {"heavy": sorted(m for m in ("pandas", "pyarrow", "matplotlib") if m in sys.modules)}
    ids = dict(key="k", dag_id="d", run_id="r", task_id="t", map_index=2)
    big = {"rows": list(range(5000))}
    stored = X.serialize_value(big, **ids)
    env = json.loads(stored)
    path = Path(env["uri"].removeprefix("file://"))
    out["bytes"] = isinstance(stored, bytes)
    out["offloaded"] = [path.exists(), "/d/r/t/2/k-" in env["uri"]]
    out["round_trip"] = X.deserialize_value(Row(value=stored)) == big
    out["memoryview"] = X.deserialize_value(Row(value=memoryview(stored))) == big
    small = X.serialize_value({"a": (1, 2)}, **ids)
    out["small_back"] = X.deserialize_value(Row(value=small)) == {"a": (1, 2)}
    out["none"] = X.deserialize_value(Row(value=None))
    pickled = pickle.dumps({"x": 1})
    try:
        X.deserialize_value(Row(value=pickled, **ids))
        out["pickled"] = None
    except XcomlabError as exc:
        out["pickled"] = [type(exc).__name__, "pickled" in str(exc), "'k' of d.t[2] @ r" in str(exc)]
    out["ui_pickled"] = X.orm_deserialize_value(Row(value=pickled)).startswith("[xcomlab: ")
    X.purge(Row(value=pickled))  # not ours: nothing to purge, no error
    X.purge(Row(value=stored))
    out["purged"] = not path.exists()
    json.dump(out, sys.stdout)
""")


def test_adapter_round_trip_refusals_and_import_cost(tmp_path: Path) -> None:
    """The methods Airflow 2 calls, on bytes and memoryviews as the drivers return them; a
    pickled row is refused with a clear error (shown as a note in the UI), never unpickled;
    importing the adapter loads no pandas, pyarrow or matplotlib (all installed there)."""
    env = _clean_env(AIRFLOW_HOME=str(tmp_path), XCOMLAB_OBJECT_BASE=f"file://{tmp_path / 'o'}",
                     XCOMLAB_THRESHOLD="1024")
    out = _probe(ROUND_TRIP_PROBE, env, tmp_path)
    assert out == {"heavy": [], "bytes": True, "offloaded": [True, True], "round_trip": True,
                   "memoryview": True, "small_back": True, "none": None,
                   "pickled": ["CodecError", True, True], "ui_pickled": True, "purged": True}


SETTINGS_PROBE = textwrap.dedent("""
    import json, os, sys
    from airflow.models.xcom import XCom
    from xcomlab.backend.airflow2 import XComlabBackend, store

    out = {"resolved": XCom is XComlabBackend}
    def cfg():
        c = store().config
        return [c.object_base, c.threshold, c.compression]
    out["cfg_file"] = cfg()
    os.environ["AIRFLOW__XCOMLAB__THRESHOLD"] = "200"
    out["airflow_env"] = cfg()
    os.environ["XCOMLAB_THRESHOLD"] = "300"
    out["both_env"] = cfg()
    json.dump(out, sys.stdout)
""")


def test_settings_come_from_both_prefixes_and_airflow_cfg(tmp_path: Path) -> None:
    """``[xcomlab]`` of airflow.cfg < ``AIRFLOW__XCOMLAB__*`` < ``XCOMLAB_*``, as on Airflow 3."""
    (tmp_path / "airflow.cfg").write_text(
        "[xcomlab]\nobject_base = memory://from-cfg\nthreshold = 100\n")
    env = _clean_env(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
                     AIRFLOW__CORE__LOAD_EXAMPLES="False")
    out = _probe(SETTINGS_PROBE, env, tmp_path)
    assert out == {"resolved": True, "cfg_file": ["memory://from-cfg", 100, "zstd"],
                   "airflow_env": ["memory://from-cfg", 200, "zstd"],
                   "both_env": ["memory://from-cfg", 300, "zstd"]}
