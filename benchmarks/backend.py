"""Backend benchmark: xcomlab's XComStore against Airflow 3.3's own XCom paths and raw I/O.

Usage::

    python -m benchmarks.backend [--quick] [--airflow-python PATH] [--json FILE]

Two parts, every contender on the same machine in the same run, ratios printed at the end:

(a) small values (100 B and 1 KB of JSON), set then get, on one SQLite file — and on one
PostgreSQL database when a server answers on 127.0.0.1:5432 (a throwaway database, dropped
afterwards; ``--no-pg`` skips it):

``xcomlab``
    ``XComStore.set`` + ``XComStore.get`` (table ``xcomlab_xcom`` next to Airflow's).
``airflow``
    What Airflow 3.3's API server does for a task's push and pull, minus the HTTP hop:
    ``BaseXCom.serialize_value`` (task SDK serde), then ``XComModel.set(..., serialize=False)``
    in a session that commits; ``XComModel.get_many(...).limit(1)`` in a new session (the
    execution API's ``get_xcom``), then ``BaseXCom.deserialize_value``. The DB is created by
    Airflow's ``initdb`` with a real ``dag_run`` and ``task_instance`` row (setup, not timed).
``raw``
    SQLAlchemy Core: one ``INSERT`` of the JSON in a transaction, one ``SELECT`` by primary
    key, same table shape — the floor any store pays.

Goals (issue 5 item 8): xcomlab ≥ 2× faster than ``airflow`` and ≤ 1.3× ``raw``.

(b) 10 MB values, set then get, objects on local disk, reference rows in the same SQLite file:

``xcomlab``
    ``threshold=0``, zstd, ``file://``.
``common-io``
    ``apache-airflow-providers-common-io``'s ``XComObjectStorageBackend`` with
    ``compression=gzip``, threshold 0, ``file://`` path (``AIRFLOW__COMMON_IO__*``), its
    ``serialize_value`` / ``deserialize_value`` plus the ``XComModel`` row as in (a).
``raw``
    ``json.dumps`` + write the file; read the file + ``json.loads`` (no compression, no row).

Goals: xcomlab ≥ 2× faster than common-io at an equal or better compression ratio, and
≤ 1.5× ``raw``.

The Airflow contenders run in a subprocess under an Airflow 3.3 interpreter (this file,
run as a script with ``--worker``; it imports only the standard library at module level):
``--airflow-python``, else ``$XCOMLAB_AIRFLOW_PYTHON``, else the Makefile's
``.venv-airflow/bin/python``. Without one, those contenders are reported as skipped.
The worker stays up for the whole run and the rounds are interleaved (each round runs every
contender once, in a rotating order), so all contenders see the same machine load; times are
the median over rounds of the mean per op within a round (``--quick``: fewer rounds and ops).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

__all__ = ["GOALS", "main"]

#: Goals from issue 5 item 8: (name, contender, "min" speed-up or "max" slowdown, bound).
GOALS = (("small", "airflow", "min", 2.0), ("small", "raw", "max", 1.3),
         ("large", "common-io", "min", 2.0), ("large", "raw", "max", 1.5))
SMALL_SIZES = (100, 1_000)
LARGE_SIZE = 10_000_000
DAG_ID, RUN_ID, TASK_ID = "bench_dag", "bench_run", "bench_task"
ROOT = Path(__file__).resolve().parents[1]
#: The loopback PostgreSQL (trust auth), for this process and for the Airflow venv's driver.
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_SERVER_AIRFLOW = "postgresql://postgres@127.0.0.1:5432"  # the worker picks the driver
Timing = dict[str, float]
#: One round of a contender: round number → (seconds per set, seconds per get).
Round = Callable[[int], tuple[float, float]]


# --- timing (shared by both processes) -----------------------------------------------------


def _round(n_ops: int, set_op: Callable[[str], object], get_op: Callable[[str], object],
           prefix: str) -> Round:
    """A round runner: ``n_ops`` sets then ``n_ops`` gets of fresh keys; mean s per set/get."""

    def run(rnd: int) -> tuple[float, float]:
        keys = [f"{prefix}{rnd}_{i}" for i in range(n_ops)]
        t0 = time.perf_counter()
        for k in keys:
            set_op(k)
        t1 = time.perf_counter()
        for k in keys:
            get_op(k)
        t2 = time.perf_counter()
        return (t1 - t0) / n_ops, (t2 - t1) / n_ops

    return run


def _summary(samples: list[tuple[float, float]]) -> Timing:
    """Median over rounds of the mean seconds per set, per get and per set+get."""
    return {"set_s": statistics.median(s for s, _ in samples),
            "get_s": statistics.median(g for _, g in samples),
            "op_s": statistics.median(s + g for s, g in samples)}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _checked(name: str, set_op: Callable[[str], object], get_op: Callable[[str], Any],
             value: Any, key: str) -> None:
    """Write and read one value before timing (a contender that loses data does not count)."""
    set_op(key)
    if get_op(key) != value:
        msg = f"{name} read back a different value"
        raise AssertionError(msg)


# --- the Airflow worker (runs under the Airflow interpreter) --------------------------------


def _worker(cfg: dict[str, Any]) -> None:
    """Set up Airflow's DB, then run the rounds main() asks for on stdin (one JSON per line)."""
    work = Path(cfg["work"])
    os.environ.update({
        "AIRFLOW_HOME": str(work / "airflow_home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _with_pg_driver(cfg["db_url"]),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": f"file://{work / 'common_io'}",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "0",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION": "gzip",
    })
    import logging

    import airflow
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.utils.db import initdb

    logging.disable(logging.WARNING)
    initdb()
    _airflow_rows()
    values = json.loads(Path(cfg["values"]).read_text())
    runners: dict[str, Round] = {}
    for size in cfg["small_sizes"]:
        push, pull = _airflow_pair(BaseXCom, values[str(size)])
        _checked("Airflow", push, pull, values[str(size)], f"s{size}_probe")
        runners[f"small/{size}"] = _round(cfg["ops"], push, pull, f"s{size}_")
    ready: dict[str, Any] = {"airflow_version": airflow.__version__}
    if cfg["large"]:
        _common_io_runner(values["large"], work, runners, ready)
    del values
    _say("READY", ready)
    for line in sys.stdin:
        cmd = json.loads(line)
        _say("RESULT", list(runners[cmd["part"]](cmd["round"])))


def _common_io_runner(value: Any, work: Path, runners: dict[str, Round],
                      ready: dict[str, Any]) -> None:
    try:
        from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend
    except ImportError as exc:
        ready["common_io_skipped"] = f"apache-airflow-providers-common-io is not installed ({exc})"
    else:
        push, pull = _airflow_pair(XComObjectStorageBackend, value)
        _checked("common-io", push, pull, value, "Lprobe")
        ready["common_io_stored_bytes"] = _dir_bytes(work / "common_io")
        runners["large"] = _round(1, push, pull, "L")


def _with_pg_driver(url: str) -> str:
    """``postgresql://`` → with whichever driver this interpreter has (psycopg2, else psycopg 3)."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    driver = "psycopg2" if importlib.util.find_spec("psycopg2") else "psycopg"
    return url.replace("postgresql://", f"postgresql+{driver}://", 1)


def _say(tag: str, obj: Any) -> None:
    print(f"@@{tag} {json.dumps(obj)}", flush=True)


def _airflow_rows() -> None:
    """A dag_run and a task_instance for the XCom rows to hang on (Airflow's FK)."""
    from datetime import UTC, datetime

    from airflow.settings import engine
    from sqlalchemy import text

    ids = {"dag_id": DAG_ID, "run_id": RUN_ID, "task_id": TASK_ID, "id": str(uuid.uuid4()),
           "now": datetime.now(UTC)}
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, state, clear_number, "
            "updated_at) VALUES (:dag_id, :run_id, 'manual', :now, 'running', 0, :now)"), ids)
        conn.execute(text(
            "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, pool, "
            "pool_slots, priority_weight, max_tries, updated_at) VALUES (:id, :task_id, :dag_id, "
            ":run_id, -1, 1, 'default_pool', 1, 1, 0, :now)"), ids)


def _airflow_pair(backend: Any, value: Any) -> tuple[Callable[[str], None], Callable[[str], Any]]:
    """Push and pull the way Airflow 3.3's task SDK + execution API do, minus HTTP."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    def push(key: str) -> None:
        stored = backend.serialize_value(value, key=key, dag_id=DAG_ID, run_id=RUN_ID,
                                         task_id=TASK_ID, map_index=-1)
        with create_session() as session:
            XComModel.set(key, stored, dag_id=DAG_ID, task_id=TASK_ID, run_id=RUN_ID,
                          serialize=False, session=session)

    def pull(key: str) -> Any:
        with create_session() as session:
            q = XComModel.get_many(run_id=RUN_ID, key=key, task_ids=TASK_ID, dag_ids=DAG_ID)
            row = session.scalars(q.where(XComModel.map_index == -1).limit(1)).first()
            stored = row.value if row is not None else None
        return backend.deserialize_value(_Result(stored))

    return push, pull


class _Result:
    """What the task SDK hands ``deserialize_value``: an object with ``.value``."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _Remote:
    """The Airflow worker process, seen from main(): one round per request."""

    def __init__(self, python: str, cfg: dict[str, Any], stack: ExitStack) -> None:
        self.log = stack.enter_context((Path(cfg["work"]) / "worker.log").open("w+"))
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        stack.callback(self.close)
        self.ready: dict[str, Any] = self._read("READY")

    def _read(self, tag: str) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(f"@@{tag} "):
                return json.loads(line.split(" ", 1)[1])
        self.log.seek(0)
        tail = "\n".join(self.log.read().strip().splitlines()[-8:])
        msg = f"Airflow worker exited {self.proc.wait()}: {tail}"
        raise RuntimeError(msg)

    def runner(self, part: str) -> Round:
        def run(rnd: int) -> tuple[float, float]:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"part": part, "round": rnd}) + "\n")
            self.proc.stdin.flush()
            s, g = self._read("RESULT")
            return float(s), float(g)

        return run

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the xcomlab-side contenders (run in this interpreter) ---------------------------------


def _xcomlab(db_url: str, value: Any, n_ops: int, prefix: str, stack: ExitStack,
             **cfg: Any) -> Round:
    from xcomlab.backend import XComStore

    store = stack.enter_context(XComStore(url=db_url, table="xcomlab_xcom", **cfg))
    ids: dict[str, Any] = {"dag_id": DAG_ID, "run_id": RUN_ID, "task_id": TASK_ID}

    def set_op(key: str) -> None:
        store.set(key, value, **ids)

    def get_op(key: str) -> Any:
        return store.get(key, **ids)

    _checked("xcomlab", set_op, get_op, value, prefix + "probe")
    return _round(n_ops, set_op, get_op, prefix)


def _raw_small(db_url: str, value: Any, n_ops: int, prefix: str, stack: ExitStack) -> Round:
    """SQLAlchemy Core: one INSERT in a transaction, one SELECT by primary key."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from xcomlab.backend.table import make_tables

    md, table, _ = make_tables("raw_xcom")
    engine = sa.create_engine(db_url)
    stack.callback(engine.dispose)
    md.create_all(engine, checkfirst=True)
    c, stamp = table.c, datetime.now(UTC)

    def put(key: str) -> None:
        with engine.begin() as conn:
            conn.execute(table.insert().values(dag_run_id=1, task_id=TASK_ID, map_index=-1, key=key,
                                               dag_id=DAG_ID, run_id=RUN_ID, value=value,
                                               timestamp=stamp))

    def get(key: str) -> Any:
        with engine.connect() as conn:
            return conn.execute(sa.select(c.value).where(
                c.dag_run_id == 1, c.task_id == TASK_ID, c.map_index == -1, c.key == key)).scalar()

    _checked("raw SQLAlchemy", put, get, value, prefix + "probe")
    return _round(n_ops, put, get, prefix)


def _raw_large(value: Any, base: Path) -> Round:
    """``json.dumps`` + write a file; read it + ``json.loads`` (no compression, no row)."""
    base.mkdir(parents=True, exist_ok=True)

    def put(key: str) -> None:
        (base / f"{key}.json").write_bytes(json.dumps(value).encode())

    def get(key: str) -> Any:
        return json.loads((base / f"{key}.json").read_bytes())

    _checked("raw json", put, get, value, "Lprobe")
    return _round(1, put, get, "L")


# --- driver -------------------------------------------------------------------------------------


def _airflow_python(arg: str | None) -> tuple[str | None, str]:
    """The interpreter for the Airflow contenders, or None and why not."""
    if arg:
        return (arg, "--airflow-python") if Path(arg).exists() else (None, f"--airflow-python={arg} does not exist")
    env = os.environ.get("XCOMLAB_AIRFLOW_PYTHON")
    if env:
        return (env, "$XCOMLAB_AIRFLOW_PYTHON") if Path(env).exists() else (
            None, f"$XCOMLAB_AIRFLOW_PYTHON={env} does not exist")
    default = ROOT / ".venv-airflow" / "bin" / "python"
    if default.exists():
        return str(default), "the Makefile's .venv-airflow"
    return None, "no Airflow interpreter: pass --airflow-python or run `make airflow-env`"


def _fmt_ms(t: Timing) -> str:
    return f"{t['op_s'] * 1e3:9.3f} ms/op  (set {t['set_s'] * 1e3:.3f}, get {t['get_s'] * 1e3:.3f})"


def _verdict(part: str, name: str, xcomlab_s: float, other_s: float) -> tuple[str, bool]:
    kind, bound = next((k, b) for p, n, k, b in GOALS if p == part and n == name)
    if kind == "min":
        ratio = other_s / xcomlab_s
        ok = ratio >= bound
        text = f"ratio {name}/xcomlab = {ratio:.2f}×  (goal ≥ {bound}×)  {'PASS' if ok else 'MISS'}"
    else:
        ratio = xcomlab_s / other_s
        ok = ratio <= bound
        text = f"ratio xcomlab/{name} = {ratio:.2f}×  (goal ≤ {bound}×)  {'PASS' if ok else 'MISS'}"
    return text, ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print per-op times, compression ratios and goal ratios."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.backend",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few ops and rounds (CI smoke run)")
    ap.add_argument("--airflow-python", help="Python of an Airflow 3.3 venv (with common-io)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL even when it answers")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    rounds, ops, large_rounds = (2, 20, 1) if args.quick else (5, 200, 5)
    python, why = _airflow_python(args.airflow_python)
    work = Path(tempfile.mkdtemp(prefix="xcomlab-bench-backend-"))
    try:
        res = _measure(work, python, why, rounds, ops, large_rounds, pg=not args.no_pg)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = _report(res, rounds, ops, large_rounds)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0 if ok else 1


def _measure(work: Path, python: str | None, why: str, rounds: int, ops: int,
             large_rounds: int, pg: bool) -> dict[str, Any]:
    """Set every contender up (not timed), then run the rounds interleaved."""
    from xcomlab.measure import value_of

    values: dict[str, Any] = {str(s): value_of(s, seed=1) for s in SMALL_SIZES}
    values["large"] = value_of(LARGE_SIZE, seed=1)
    (work / "values.json").write_text(json.dumps(values))
    res: dict[str, Any] = {"airflow": {"skipped": why}, "stored_bytes": {}, "databases": []}
    parts: dict[str, dict[str, Round]] = {}
    with ExitStack() as stack:
        # (label, URL for xcomlab and raw, URL for Airflow)
        sqlite = f"sqlite:///{work / 'bench.db'}"
        dbs = [("sqlite", sqlite, sqlite)]
        if pg and (name := _pg_database(stack)) is not None:
            dbs.append(("postgresql", f"{PG_SERVER}/{name}", f"{PG_SERVER_AIRFLOW}/{name}"))
        for label, url, af_url in dbs:
            res["databases"].append(label)
            for s in SMALL_SIZES:
                parts[f"small/{label}/{s}"] = {}
            if python:
                _airflow_contenders(python, work, label, af_url, ops, parts, res, stack)
            for s in SMALL_SIZES:
                v = values[str(s)]
                parts[f"small/{label}/{s}"]["xcomlab"] = _xcomlab(url, v, ops, f"s{s}_", stack)
                parts[f"small/{label}/{s}"]["raw"] = _raw_small(url, v, ops, f"s{s}_", stack)
        objects = work / "xcomlab_objects"
        parts.setdefault("large", {})
        parts["large"]["xcomlab"] = _xcomlab(sqlite, values["large"], 1, "L", stack,
                                             object_base=f"file://{objects}", threshold=0,
                                             compression="zstd")
        res["stored_bytes"]["xcomlab"] = _dir_bytes(objects)
        parts["large"]["raw"] = _raw_large(values["large"], work / "raw_files")
        res["stored_bytes"]["raw"] = LARGE_SIZE
        del values
        res["parts"] = _interleave(parts, rounds, large_rounds)
    return res


def _airflow_contenders(python: str, work: Path, label: str, af_url: str, ops: int,
                        parts: dict[str, dict[str, Round]], res: dict[str, Any],
                        stack: ExitStack) -> None:
    """Start a worker on one database; the SQLite one also runs common-io (10 MB)."""
    large = label == "sqlite"
    if not large and not _has_pg_driver(python):
        res["airflow"].setdefault("skipped_on", {})[label] = (
            f"{python} has no PostgreSQL driver (psycopg2 or psycopg)")
        return
    cfg: dict[str, Any] = {"work": str(work / f"af_{label}"), "db_url": af_url, "values": str(work / "values.json"),
           "small_sizes": list(SMALL_SIZES), "ops": ops, "large": large}
    Path(cfg["work"]).mkdir()
    try:
        remote = _Remote(python, cfg, stack)
    except RuntimeError as exc:
        res["airflow"].setdefault("errors", {})[label] = str(exc)
        return
    res["airflow"].pop("skipped", None)
    res["airflow"].update(version=remote.ready["airflow_version"], python=python)
    for s in SMALL_SIZES:
        parts[f"small/{label}/{s}"]["airflow"] = remote.runner(f"small/{s}")
    if not large:
        return
    if "common_io_stored_bytes" in remote.ready:
        parts["large"] = {"common-io": remote.runner("large")}
        res["stored_bytes"]["common-io"] = remote.ready["common_io_stored_bytes"]
    else:
        res["airflow"]["common_io_skipped"] = remote.ready.get("common_io_skipped")


def _has_pg_driver(python: str) -> bool:
    code = "import importlib.util as u; print(bool(u.find_spec('psycopg2') or u.find_spec('psycopg')))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() == "True"


def _pg_database(stack: ExitStack) -> str | None:
    """A throwaway database on the loopback PostgreSQL (dropped on exit), or None."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    import sqlalchemy as sa

    name = f"xcomlab_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.SQLAlchemyError:
        engine.dispose()
        return None

    def drop() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()

    stack.callback(drop)
    return name


def _interleave(parts: dict[str, dict[str, Round]], rounds: int,
                large_rounds: int) -> dict[str, dict[str, Timing]]:
    """Each round runs every contender once, the order rotating from round to round."""
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        p: {n: [] for n in cs} for p, cs in parts.items()}
    for rnd in range(max(rounds, large_rounds)):
        for part, contenders in parts.items():
            if rnd >= (large_rounds if part == "large" else rounds):
                continue
            names = list(contenders)
            shift = rnd % len(names)
            for name in names[shift:] + names[:shift]:
                samples[part][name].append(contenders[name](rnd))
    return {p: {n: _summary(v) for n, v in cs.items()} for p, cs in samples.items()}


def _report(res: dict[str, Any], rounds: int, ops: int, large_rounds: int) -> bool:
    """Print the tables and goal lines; True unless a contender failed to run."""
    af = res["airflow"]
    print(f"xcomlab backend benchmark — {' + '.join(res['databases'])}, rounds interleaved: "
          f"{rounds} × {ops} set+get (small), {large_rounds} × 1 (10 MB)")
    if "version" in af:
        print(f"Airflow {af['version']} contenders via {af['python']}")
    elif "skipped" in af:
        print(f"Airflow contenders skipped: {af['skipped']}")
    for label, why_not in af.get("skipped_on", {}).items():
        print(f"Airflow contenders on {label} skipped: {why_not}")
    for label, err in af.get("errors", {}).items():
        print(f"Airflow contenders on {label} FAILED: {err}")
    for part, row in res["parts"].items():
        if part == "large":
            continue
        _, db, size = part.split("/")
        print(f"\n(a) small values, {int(size):,} B JSON, set+get, {db}")
        for name, t in row.items():
            print(f"  {name:10s} {_fmt_ms(t)}")
        for name in ("airflow", "raw"):
            if name in row:
                print("  " + _verdict("small", name, row["xcomlab"]["op_s"], row[name]["op_s"])[0])
    large, stored = res["parts"]["large"], res["stored_bytes"]
    print(f"\n(b) {LARGE_SIZE / 1e6:.0f} MB values, set+get (objects on local disk)")
    for name, t in large.items():
        print(f"  {name:10s} {_fmt_ms(t)}  stored {stored[name]:,} B  "
              f"compression {LARGE_SIZE / stored[name]:.2f}×")
    for name in ("common-io", "raw"):
        if name in large:
            print("  " + _verdict("large", name, large["xcomlab"]["op_s"], large[name]["op_s"])[0])
    if "common-io" in large:
        rel = stored["common-io"] / stored["xcomlab"]
        print(f"  compression xcomlab/common-io = {rel:.2f}×  (goal ≥ 1×, equal or better)  "
              f"{'PASS' if rel >= 1 else 'MISS'}")
    elif af.get("common_io_skipped"):
        print(f"  common-io skipped: {af['common_io_skipped']}")
    return not af.get("errors")


if __name__ == "__main__":
    if "--worker" not in sys.argv:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
