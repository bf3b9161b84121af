"""Push-down benchmark: ``xcomlab profile URL --summary --json`` against one SQL aggregate.

Usage::

    python -m benchmarks.pushdown [--rows N] [--dialect postgresql|mariadb] [--url URL]
                                  [--repeat R] [--keep] [--loader] [--name NAME] [--tree DIR]

Loads ``N`` rows of an Airflow 3.3 deployment written by ``python -m xcomlab.synth
--format database`` into a schema (PostgreSQL, ``--name``, default ``pushdown_bench_<N>``)
or database (MariaDB, same name) of the server at ``--url`` (default the loopback test
servers), unless a previous ``--keep`` run left it there, then times, one after the other
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
import json
import os
import subprocess
import sys
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


def _prepare(dialect: str, base: str, url: str, name: str, rows: int) -> float:
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
    subprocess.run([sys.executable, "-m", "xcomlab.synth", "--format", "database", "--out", url,
                    "--airflow", "3.3", "--rows", str(rows), "--seed", "13"],
                   cwd=ROOT, env=_env(), check=True, capture_output=True)
    if dialect == "postgresql":  # the catalog estimate and visibility map, as a live table has them
        eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.exec_driver_sql("VACUUM ANALYZE xcom")
        eng.dispose()
    return time.perf_counter() - start


def _drop(dialect: str, base: str, name: str) -> None:
    admin = sa.create_engine(base)
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE" if dialect == "postgresql"
                          else f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def _cli(url: str, tree: Path = ROOT) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xcomlab.cli", "profile", url, "--summary", "--json"],
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
    p.add_argument("--tree", type=Path, default=ROOT, help="xcomlab source tree whose CLI is timed")
    args = p.parse_args(argv)
    base = args.url or DEFAULT_URLS[args.dialect]
    url, name = _target(args.dialect, base, args.rows, args.name)
    loaded = _prepare(args.dialect, base, url, name, args.rows)
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
