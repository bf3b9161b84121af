"""Benchmark 4 (issue 13): one dataset in every format gives one summary.

``python -m benchmarks.scale --equality [--rows N] [--shape mixed]`` writes a
:mod:`benchmarks.shapes` export, loads it into a real ``xcom`` table (Airflow 3.3's DDL, in a
schema of its own) on the PostgreSQL server of ``XCOMLAB_TEST_PG`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), and takes from there:

* **psql CSV**: ``COPY (SELECT * FROM xcom) TO STDOUT WITH CSV HEADER``, the bytes
  ``psql \\copy`` writes;
* **pg_dump**: ``pg_dump --format=plain --table=<schema>.xcom`` (the loader reads plain SQL);
* **live PostgreSQL**: the table itself, by URL (``search_path`` set to the schema);
* **SQLite** ``airflow.db`` (Airflow's SQLite DDL, SQLAlchemy's naive-UTC timestamp text) and
  **Parquet** (``value`` as string, ``timestamp`` as UTC microseconds), both written from the
  psql CSV, so every format holds the text PostgreSQL's ``jsonb`` prints.

For each source it computes the summary three ways: ``xcomlab profile SRC --summary --json``
(a whole process), :func:`xcomlab.summary.summarize_file` and the frame path
(``summarize_frame(load_export(SRC))``), and exits 1 unless rows, value bytes, per-DAG rows,
bytes, quantiles and largest size, and the rows over every threshold are the same everywhere.
A source that can be cut into shards (a CSV file; Parquet of several row groups) is also
summarised with ``summarize_file(jobs=2)``, whose whole summary must equal the one-process one.
Without a PostgreSQL server the shape's own CSV stands in for the psql CSV and the pg_dump and
live parts are skipped with the reason; without ``pg_dump`` only that part is skipped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.ingest import _CACHE, _repo_root
from benchmarks.shapes import COLUMNS, write_shape

__all__ = ["figures", "run_equality"]

PG_URL = os.environ.get("XCOMLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_READ = ("read_csv('{path}', header = true, all_varchar = true, quote = '\"', escape = '\"', "
         "delim = ',', nullstr = '', max_line_size = 67108864)")


# --------------------------------------------------------------------------- figures


def _clean(obj: Any) -> Any:
    """JSON-comparable: NaN as None, numpy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def figures(summary: Any) -> dict[str, Any]:
    """What must agree, from a :class:`xcomlab.summary.Summary` (the live table, as the CLI)."""
    live = summary.primary()
    by_dag = live.sizes()
    cols = ["rows", "value_bytes", "p50_bytes", "p90_bytes", "p99_bytes", "max_bytes"]
    return _clean({"rows": live.rows, "value_bytes": live.value_bytes,
                   "by_dag": {k: {c: r[c] for c in cols} for k, r in by_dag.iterrows()},
                   "rows_over": live.threshold_counts()})


def _cli_figures(doc: dict[str, Any]) -> dict[str, Any]:
    by_dag = {d: {k: (int(v) if k in ("rows", "value_bytes") else v) for k, v in f.items()}
              for d, f in doc["by_dag"].items()}
    return _clean({"rows": doc["rows"], "value_bytes": doc["value_bytes"], "by_dag": by_dag,
                   "rows_over": doc["rows_over"]})


def _int_floats(obj: Any) -> Any:
    """Floats that are whole numbers as ints (JSON prints 5.0 where pandas holds 5)."""
    if isinstance(obj, dict):
        return {k: _int_floats(v) for k, v in obj.items()}
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


def _differences(ref: dict[str, Any], got: dict[str, Any]) -> list[str]:
    ref, got = _int_floats(ref), _int_floats(got)
    out = [f"{k}: {ref[k]} vs {got[k]}" for k in ("rows", "value_bytes") if ref[k] != got[k]]
    if ref["rows_over"] != got["rows_over"]:
        out.append(f"rows_over: {ref['rows_over']} vs {got['rows_over']}")
    dags = sorted(d for d in set(ref["by_dag"]) | set(got["by_dag"])
                  if ref["by_dag"].get(d) != got["by_dag"].get(d))
    if dags:
        d = dags[0]
        out.append(f"{len(dags)} DAGs differ, e.g. {d}: {ref['by_dag'].get(d)} vs {got['by_dag'].get(d)}")
    return out


# --------------------------------------------------------------------------- sources


def _pg_answers(url: str) -> str | None:
    """None when the server answers, else why not."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 5432), timeout=2):
            return None
    except OSError as exc:
        return f"no PostgreSQL server answers at {u.host}:{u.port or 5432} ({exc.strerror or exc})"


@contextmanager
def _pg_schema(url: str) -> Iterator[tuple[Any, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    schema = f"xcomlab_scale_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield engine, schema
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


def _load_pg(engine: Any, schema: str, src: Path) -> None:
    from xcomlab.airflow_tables import create_statements

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SET search_path TO {schema}")
        for stmt in create_statements("postgresql", "xcom", list(COLUMNS), "json"):
            cur.execute(stmt)
        with src.open("rb") as f, cur.copy("COPY xcom FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        raw.commit()
    finally:
        raw.close()


def _psql_csv(engine: Any, schema: str, dest: Path) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with dest.open("wb") as f, cur.copy(
                f"COPY (SELECT * FROM {schema}.xcom) TO STDOUT WITH CSV HEADER") as cp:
            for chunk in cp:
                f.write(chunk)
    finally:
        raw.close()


def _pg_dump(url: str, schema: str, dest: Path) -> str | None:
    """Write a plain pg_dump of the table; None, or why it was skipped."""
    import sqlalchemy as sa

    exe = shutil.which("pg_dump")
    if exe is None:
        return "pg_dump is not on PATH"
    u = sa.engine.make_url(url)
    env = {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}
    cmd = [exe, "--format=plain", f"--table={schema}.xcom", "-h", u.host or "127.0.0.1",
           "-p", str(u.port or 5432), "-U", u.username or "postgres", "-f", str(dest),
           u.database or "postgres"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"pg_dump failed: {proc.stderr.strip()[:300]}"
    return None


def _sqlite(csv: Path, dest: Path) -> None:
    import sqlite3

    import duckdb

    from xcomlab.airflow_tables import create_statements

    con = sqlite3.connect(dest)
    try:
        for stmt in create_statements("sqlite", "xcom", list(COLUMNS), "json"):
            con.execute(stmt)
        duck = duckdb.connect()
        cur = duck.execute(f"""
            SELECT dag_run_id::INTEGER, task_id, map_index::INTEGER, key,
                   CASE dag_result WHEN 't' THEN 1 WHEN 'f' THEN 0 END, dag_id, run_id, value,
                   strftime(CAST(replace("timestamp", '+00', '') AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')
            FROM {_READ.format(path=csv)}""")
        marks = ", ".join("?" * len(COLUMNS))
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        while batch := cur.fetchmany(20_000):
            con.executemany(f"INSERT INTO xcom ({names}) VALUES ({marks})", batch)
        con.commit()
    finally:
        con.close()


def _parquet(csv: Path, dest: Path) -> None:
    import duckdb

    duckdb.connect().execute(f"""
        COPY (SELECT dag_run_id::INTEGER AS dag_run_id, task_id, map_index::INTEGER AS map_index,
                     key, (dag_result = 't') AS dag_result, dag_id, run_id, value,
                     CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"
              FROM {_READ.format(path=csv)})
        TO '{dest}' (FORMAT parquet, COMPRESSION zstd)""")


def _sources(workdir: Path, src: Path, engine: Any, schema: str | None,
             skipped: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    csv = src
    if engine is not None and schema is not None:
        _load_pg(engine, schema, src)
        csv = workdir / "xcom.csv"
        _psql_csv(engine, schema, csv)
        dump = workdir / "xcom.sql"
        if (why := _pg_dump(PG_URL, schema, dump)) is None:
            out["pg_dump"] = str(dump)
        else:
            skipped.append(f"pg_dump: {why}")
        out["live PostgreSQL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    out = {"psql CSV": str(csv), **out}
    _sqlite(csv, workdir / "airflow.db")
    out["SQLite airflow.db"] = str(workdir / "airflow.db")
    _parquet(csv, workdir / "xcom.parquet")
    out["Parquet"] = str(workdir / "xcom.parquet")
    return out


# --------------------------------------------------------------------------- compare


def _cli(source: str) -> tuple[dict[str, Any], float, int]:
    """``xcomlab profile SOURCE --summary --json`` as a whole process: figures, seconds, peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "xcomlab", "profile", source, "--summary",
                             "--json"], cwd=_repo_root(), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"xcomlab profile {source} --summary --json failed")
    return _cli_figures(json.loads(out)), time.perf_counter() - t0, usage.ru_maxrss * 1024


def _shardable(src: str) -> bool:
    """Whether ``summarize_file(src, jobs=2)`` cuts ``src`` into shards."""
    from xcomlab.ingest.formats import resolve_format
    from xcomlab.ingest.split import shards

    if "://" in src:
        return False
    spans = shards(src, resolve_format(src, None)[0], 2)
    return spans is not None and len(spans) > 1


def compare(sources: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every source × path against the first source's ``summarize_file``: (lines, failures)."""
    import xcomlab
    from xcomlab.summary import summarize_file, summarize_frame

    lines: list[str] = []
    failures: list[str] = []
    ref: dict[str, Any] | None = None
    whole: dict[str, Any] = {}
    for name, src in sources.items():
        streamed = summarize_file(src)
        got = {"summarize_file": figures(streamed),
               "frame": figures(summarize_frame(xcomlab.load_export(src)))}
        got["profile --summary --json"], seconds, rss = _cli(src)
        if _shardable(src):
            two = summarize_file(src, jobs=2)
            got["summarize_file jobs=2"] = figures(two)
            if not two.equals(streamed):
                failures.append(f"{name} / summarize_file jobs=2: the whole summary differs from jobs=1's")
        whole[name] = streamed
        ref = ref or got["summarize_file"]
        for path, fig in got.items():
            failures += [f"{name} / {path}: {d}" for d in _differences(ref, fig)]
        lines.append(f"{name:<18} {got['summarize_file']['rows']:>10,} rows "
                     f"{got['summarize_file']['value_bytes']:>14,} bytes "
                     f"{len(got['summarize_file']['by_dag']):>6,} DAGs; cli {seconds:.2f} s, "
                     f"{rss / 2**20:,.0f} MiB")
    first = next(iter(whole.values()))
    same = [n for n, s in whole.items() if s.equals(first)]
    lines.append(f"whole summaries (every table: keys, histogram, daily, runs, classes, over) "
                 f"identical to {next(iter(whole))}'s: {', '.join(same)}")
    return lines, failures


def run_equality(*, rows: int, shape: str, keep: bool = False) -> int:
    """Benchmark 4; 0 when every format agrees, 1 otherwise."""
    _CACHE.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="equality-", dir=_CACHE))
    skipped: list[str] = []
    try:
        src = workdir / f"{shape}.csv"
        write_shape(shape, rows, src)
        why = _pg_answers(PG_URL)
        if why is not None:
            skipped.append(f"pg_dump, live PostgreSQL: {why}")
            sources = _sources(workdir, src, None, None, skipped)
            lines, failures = compare(sources)
        else:
            with _pg_schema(PG_URL) as (engine, schema):
                sources = _sources(workdir, src, engine, schema, skipped)
                lines, failures = compare(sources)
        print(f"equality benchmark: {shape}, {rows:,} rows, {len(sources)} sources")
        print("\n".join(lines))
        for s in skipped:
            print(f"skipped {s}")
        if failures:
            print("FORMATS DISAGREE:\n  " + "\n  ".join(failures[:20]))
            return 1
        print(f"formats agree ({', '.join(sources)}): rows, value bytes, per-DAG figures and "
              "threshold counts, by profile --summary --json, summarize_file (jobs=2 too for "
              "files cut into shards) and the frame path")
        return 0
    finally:
        if keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
