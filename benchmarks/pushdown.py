"""Push-down benchmark: ``xcomlab profile URL --summary --json`` against one SQL aggregate.

Usage::

    python -m benchmarks.pushdown [--rows N] [--dialect postgresql|mariadb] [--url URL]
                                  [--repeat R] [--keep] [--loader] [--name NAME] [--tree DIR]
                                  [--load copy|writer]

Loads ``N`` rows of an Airflow 3.3 deployment (``python -m xcomlab.synth``, seed 13) into a
schema (PostgreSQL, ``--name``, default ``pushdown_bench_<N>``) or database (MariaDB, same
name) of the server at ``--url`` (default the loopback test servers), unless a previous
``--keep`` run left it there: by default its ``psql_csv`` export streamed into ``COPY`` /
``LOAD DATA LOCAL INFILE`` (:func:`bulk_load`; the same table as ``--load writer``, the synth's
``--format database`` writer, gives), then ``VACUUM ANALYZE`` / ``ANALYZE TABLE``. Then it
times, one after the other
(``--tree``: the xcomlab source tree whose CLI is timed, e.g. a checkout of an earlier
commit, so two versions are compared in one session on one schema):

``cli``
    the whole process ``xcomlab profile URL --summary --json`` (interpreter start,
    imports, inspection, the summary's statements, JSON output): the summary is pushed
    down to the database (:func:`xcomlab.summary.summarize_db`).
``sql``
    the baseline: one statement computing rows and stored value bytes per ``dag_id`` and
    the count of secret-prefilter candidates (the prefilter of
    :mod:`xcomlab.ingest.secret_rules`, spelled as the push-down spells it:
    :data:`xcomlab.summary.sqlrules.SECRET_CS` and ``SECRET_CI``), on an open connection.
``loader`` (with ``--loader``)
    :func:`xcomlab.summary.summarize_file` on the URL, in its own process: the SQL loader,
    which moves every value's head and tail (what ``profile --summary`` did before).

Prints each time (best of ``--repeat``), the ratio to ``sql`` and the bytes the summary
received (all cells, and cells holding value text: only the rows fetched for Python's
classifier and the secret candidates' values). Exits 1 unless ``cli`` and ``sql`` find
the same rows and bytes for every DAG, and the same prefilter count when the CLI reports
one (``secrets.candidates``). The schema is dropped unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URLS = {"postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test"}
Totals = dict[str, tuple[int, int]]


def _env(tree: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH", "")) if p)
    return env


def _target(dialect: str, base: str, rows: int, name: str | None = None) -> tuple[str, str]:
    """(URL of the benchmark's own schema/database, its name)."""
    name = name or f"pushdown_bench_{rows}"
    if dialect == "postgresql":
        return f"{base}?options=-csearch_path%3D{name}", name
    return base.rsplit("/", 1)[0] + f"/{name}", name


def _prepare(dialect: str, base: str, url: str, name: str, rows: int, load: str = "copy") -> float:
    """Create and fill the schema unless it already holds ``rows`` rows; seconds spent loading."""
    admin = sa.create_engine(base)
    try:
        with admin.begin() as c:
            if dialect == "postgresql":
                there = c.exec_driver_sql(
                    f"SELECT 1 FROM information_schema.tables WHERE table_schema = '{name}' "
                    "AND table_name = 'xcom'").scalar()
                count = c.exec_driver_sql(f"SELECT count(*) FROM {name}.xcom").scalar() if there else None
            else:
                there = c.exec_driver_sql(
                    f"SELECT 1 FROM information_schema.tables WHERE table_schema = '{name}' "
                    "AND table_name = 'xcom'").scalar()
                count = c.exec_driver_sql(f"SELECT count(*) FROM `{name}`.xcom").scalar() if there else None
            if count == rows:
                return 0.0
            if dialect == "postgresql":
                c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                c.exec_driver_sql(f"CREATE SCHEMA {name}")
            else:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
                c.exec_driver_sql(f"CREATE DATABASE `{name}`")
    finally:
        admin.dispose()
    start = time.perf_counter()
    if load == "writer":
        subprocess.run(_synth(rows, "database", url), cwd=ROOT, env=_env(), check=True, capture_output=True)
    else:
        bulk_load(url, rows)
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:  # the catalog estimate (and on PostgreSQL the visibility map), as a live table has them
        if dialect == "postgresql":
            c.exec_driver_sql("VACUUM ANALYZE xcom")
        else:
            c.exec_driver_sql("ANALYZE TABLE xcom").all()
    eng.dispose()
    return time.perf_counter() - start


def _synth(rows: int, fmt: str, out: str) -> list[str]:
    """The command writing the benchmark's deployment (Airflow 3.3, seed 13) as ``fmt`` to ``out``."""
    return [sys.executable, "-m", "xcomlab.synth", "--format", fmt, "--out", out, "--airflow", "3.3",
            "--rows", str(rows), "--seed", "13"]


def bulk_load(url: str, rows: int) -> None:
    """Load the deployment ``python -m xcomlab.synth --format database`` writes, in bulk.

    The synth writes its ``psql_csv`` export into a pipe while this process streams it to the
    server: PostgreSQL ``COPY xcom FROM STDIN (FORMAT csv)`` (psycopg's copy API),
    MySQL/MariaDB ``LOAD DATA LOCAL INFILE`` (the empty field is NULL, ``t``/``f`` a
    boolean, the ``+00`` of the UTC timestamps dropped as the session's time zone is UTC).
    The table is made by the synth database writer's own DDL
    (:func:`xcomlab.airflow_tables.create_statements`) for the CSV header's columns, so the
    rows, values and types are the writer's (tests/test_benchmark_pushdown.py compares them);
    generation and loading overlap, one core each.
    """
    from xcomlab.airflow_tables import create_statements

    engine = sa.create_engine(url, connect_args={"local_infile": True} if url.startswith("mysql") else {})
    r, w = os.pipe()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_synth(rows, "psql_csv", f"/dev/fd/{w}"), cwd=ROOT, env=_env(), pass_fds=(w,),
                                stdout=subprocess.DEVNULL, stderr=err)
        os.close(w)
        try:
            header = b""
            while not header.endswith(b"\n"):  # byte by byte: what follows stays in the pipe
                got = os.read(r, 1)
                if not got:
                    break
                header += got
            cols = next(csv.reader([header.decode()]), [])
            if not cols:
                err.seek(0)
                msg = f"synth wrote no CSV header: {err.read().decode(errors='replace')[-2000:]}"
                raise RuntimeError(msg)
            dialect = "postgresql" if engine.dialect.name == "postgresql" else "mysql"
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                if dialect == "mysql":
                    cur.execute("SET time_zone = '+00:00'")  # as the writer: TIMESTAMP columns hold UTC
                for stmt in create_statements(dialect, "xcom", cols, "json"):
                    cur.execute(stmt)
                if dialect == "postgresql":
                    names = ", ".join(f'"{c}"' for c in cols)
                    with cur.copy(f"COPY xcom ({names}) FROM STDIN (FORMAT csv)") as copy:
                        while block := os.read(r, 1 << 20):
                            copy.write(block)
                else:
                    cur.execute(_load_data(f"/dev/fd/{r}", cols))
                raw.commit()
            finally:
                raw.close()
        finally:
            os.close(r)
            proc.wait()
            engine.dispose()
        if proc.returncode:
            err.seek(0)
            msg = f"synth exited {proc.returncode}: {err.read().decode(errors='replace')[-2000:]}"
            raise RuntimeError(msg)


def _load_data(path: str, cols: list[str]) -> str:
    """MySQL/MariaDB ``LOAD DATA LOCAL INFILE`` of a ``psql_csv`` body (no header) into ``xcom``."""
    sets = []
    for c in cols:
        v = f"NULLIF(@{c}, '')"  # psql's CSV: an empty unquoted field is NULL
        if c == "dag_result":
            v = f"CASE @{c} WHEN 't' THEN 1 WHEN 'f' THEN 0 END"
        elif c == "timestamp":
            v = f"LEFT(@{c}, LENGTH(@{c}) - 3)"  # '2026-05-02 00:01:59.446778+00' in UTC
        sets.append(f"`{c}` = {v}")
    return (f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE xcom CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
            f"({', '.join(f'@{c}' for c in cols)}) SET {', '.join(sets)}")


def _drop(dialect: str, base: str, name: str) -> None:
    admin = sa.create_engine(base)
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE" if dialect == "postgresql"
                          else f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def _cli(url: str, tree: Path = ROOT) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xcomlab", "profile", url, "--summary", "--json"],
                          cwd=tree, env=_env(tree), capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(1)
    return took, json.loads(proc.stdout)


def _baseline_sql(dialect: str) -> str:
    from xcomlab.summary.sqlrules import SECRET_CI, SECRET_CS

    cs, ci = (p.replace("'", "''") for p in (SECRET_CS, SECRET_CI))
    if dialect == "postgresql":
        return ("SELECT dag_id, count(*), sum(octet_length(v)), "
                f"count(*) FILTER (WHERE v ~ '{cs}' OR v ~* '{ci}') "
                "FROM (SELECT dag_id, value::text AS v FROM xcom) x GROUP BY dag_id")
    cs, ci = (p.replace("\\", "\\\\") for p in (cs, ci))  # MariaDB string literals read backslashes
    return ("SELECT dag_id, count(*), sum(LENGTH(v)), "
            f"SUM(CAST(v AS BINARY) REGEXP '{cs}|(?i:{ci})') "
            "FROM (SELECT dag_id, CAST(value AS CHAR) AS v FROM xcom) x GROUP BY dag_id")


def _sql(url: str, dialect: str) -> tuple[float, Totals, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
            start = time.perf_counter()
            rows = c.exec_driver_sql(_baseline_sql(dialect).replace("%", "%%")).all()
            took = time.perf_counter() - start
    finally:
        engine.dispose()
    totals = {str(d): (int(n), int(b or 0)) for d, n, b, _ in rows}
    return took, totals, int(sum(int(p or 0) for *_, p in rows))


def _loader(url: str) -> float:
    code = ("from xcomlab.summary import summarize_file; import sys; "
            "s = summarize_file(sys.argv[1]); print(s.rows)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pushdown", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dialect", choices=sorted(DEFAULT_URLS), default="postgresql")
    p.add_argument("--url", help="server URL (a database the benchmark may create schemas in)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="leave the loaded schema for the next run")
    p.add_argument("--loader", action="store_true", help="also time the SQL loader's summarize_file")
    p.add_argument("--name", help="schema (PostgreSQL) or database (MariaDB) to load into; "
                                  "default pushdown_bench_<rows>")
    p.add_argument("--load", choices=("copy", "writer"), default="copy",
                   help="fill the schema by bulk load of the synth's CSV (default) or its database writer")
    p.add_argument("--tree", type=Path, default=ROOT, help="xcomlab source tree whose CLI is timed")
    args = p.parse_args(argv)
    base = args.url or DEFAULT_URLS[args.dialect]
    url, name = _target(args.dialect, base, args.rows, args.name)
    loaded = _prepare(args.dialect, base, url, name, args.rows, args.load)
    from benchmarks.ingest import compiled

    compiled(args.tree.resolve())  # bytecode as an installed package has it
    try:
        runs = [_cli(url, args.tree.resolve()) for _ in range(args.repeat)]
        cli_s, doc = min(runs, key=lambda r: r[0])
        sqls = [_sql(url, args.dialect) for _ in range(args.repeat)]
        sql_s, totals, candidates = min(sqls, key=lambda r: r[0])
        loader_s = min(_loader(url) for _ in range(args.repeat)) if args.loader else None
    finally:
        if not args.keep:
            _drop(args.dialect, base, name)
    got = {d: (int(v["rows"]), int(v["value_bytes"])) for d, v in doc["by_dag"].items()}
    push = doc.get("pushdown", {})
    how = f"loaded in {loaded:.1f} s" if loaded else "schema reused"
    print(f"push-down benchmark: {args.dialect}, {args.rows:,} rows ({how}), best of {args.repeat}")
    print(f"{'contender':<10}{'seconds':>10}{'ratio':>9}")
    print(f"{'cli':<10}{cli_s:>10.2f}{cli_s / sql_s:>8.2f}x")
    print(f"{'sql':<10}{sql_s:>10.2f}{1:>8.2f}x")
    if loader_s is not None:
        print(f"{'loader':<10}{loader_s:>10.2f}{loader_s / sql_s:>8.2f}x")
    print(f"bytes received by the summary: {push.get('bytes_received', 0):,} in "
          f"{push.get('statements', 0)} statements, of which value text {push.get('value_bytes_received', 0):,} "
          f"({push.get('classified_rows', 0):,} rows classified in Python); table holds "
          f"{sum(b for _, b in totals.values()):,} value bytes; prefilter candidates {candidates:,}")
    if got != totals:
        print(f"totals differ: cli {len(got)} DAGs, sql {len(totals)} DAGs")
        return 1
    shown = (doc.get("secrets") or {}).get("candidates")
    if shown is not None and shown != candidates:
        print(f"prefilter differs: cli secrets.candidates {shown:,}, sql {candidates:,}")
        return 1
    print(f"prefilter: sql {candidates:,} candidate rows; cli secrets.candidates "
          f"{'not reported' if shown is None else f'{shown:,} (agrees)'}; values fetched for "
          f"{push.get('secret_candidates', shown or 0):,} candidate rows (prefilter and secret-like key names)")
    print(f"totals agree (cli, sql): {len(got)} DAGs, {sum(n for n, _ in got.values()):,} rows")
    print(f"ratio cli/sql time: {cli_s / sql_s:.2f}x (goal <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
