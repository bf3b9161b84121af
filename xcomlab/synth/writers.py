"""Write a synthetic deployment the way each real export spells it.

Every spelling below is what real tools write (docs/airflow-xcom.md#user-exports, docs/airflow-xcom.md#export-archived):

``psql_csv``
    ``\\copy (SELECT * FROM xcom) TO … WITH CSV HEADER``: bytea as ``\\x`` hex, jsonb as
    text, ``2026-11-24 06:08:08.751217+00`` timestamps, ``t``/``f``, NULL as empty.
``pgdump``
    ``pg_dump -t xcom [-t _xcom_archive]``: DDL plus ``COPY … FROM stdin;`` blocks in
    COPY text format (tab separated, ``\\N``, backslash escapes, bytea ``\\\\x…``).
``sqlite``
    An ``airflow.db`` holding ``xcom`` and any archive tables (``CREATE TABLE AS``
    copies, as ``airflow db clean`` makes them).
``archive_csv`` / ``archive_csv_postgres``
    ``airflow db export-archived`` output, one ``<table>.csv`` per archive table (CRLF,
    physical column order). From SQLite, bytes are ``b'…'`` reprs; from PostgreSQL they
    are ``<memory at 0x…>`` (lost) and JSON is the repr of the decoded value. Live
    ``xcom`` rows are exported as if ``db clean`` had just archived them.
``jsonl``, ``parquet``
    The xcom columns, one object per line with ``value`` as the stored text (bytea as
    ``\\x`` hex), or Parquet (``value`` binary for bytea, string for JSON).
``database``
    A live database by SQLAlchemy URL (PostgreSQL, MySQL/MariaDB, SQLite).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from xcomlab.airflow_tables import create_statements
from xcomlab.errors import ParameterError, UnsupportedSourceError
from xcomlab.synth.generate import Deployment

__all__ = ["FORMATS", "write"]

FORMATS: Final = ("psql_csv", "pgdump", "sqlite", "archive_csv", "archive_csv_postgres",
                  "jsonl", "parquet", "database")


def write(dep: Deployment, fmt: str, dest: str | Path, *, tables: list[str] | None = None,
          chunk_rows: int = 50_000) -> str:
    """Write ``dep`` to ``dest`` in format ``fmt``; return what was written (path or URL).

    ``tables`` limits the tables written (default: ``xcom`` only for ``psql_csv``,
    ``jsonl`` and ``parquet``, which hold one table; every table otherwise). For
    ``database``, ``dest`` is a SQLAlchemy URL and the tables must not exist yet.
    """
    if fmt not in FORMATS:
        msg = f"format {fmt!r}; expected one of {FORMATS}"
        raise ParameterError(msg)
    single = fmt in ("psql_csv", "jsonl", "parquet")
    chosen = tables or (["xcom"] if single and "xcom" in dep.tables else dep.tables)
    if single and len(chosen) != 1:
        msg = f"{fmt} holds one table; got {chosen}"
        raise ParameterError(msg)
    if fmt == "database":
        return _write_database(dep, str(dest), chosen, chunk_rows)
    path = Path(dest)
    if fmt.startswith("archive_csv"):
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    writer: Callable[..., None] = {
        "psql_csv": _psql_csv, "pgdump": _pgdump, "sqlite": _sqlite, "jsonl": _jsonl,
        "parquet": _parquet, "archive_csv": _archive_csv, "archive_csv_postgres": _archive_csv,
    }[fmt]
    writer(dep, path, chosen, chunk_rows, postgres=fmt == "archive_csv_postgres")
    return str(path)


# --- spellings ----------------------------------------------------------------------

def _pg_ts(ts: pd.Series) -> pd.Series:
    """PostgreSQL's timestamptz text in UTC: trailing fraction zeros dropped, ``+00``."""
    text = ts.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str.rstrip("0").str.rstrip(".")
    return (text + "+00").astype(object)


def _pg_value(v: str | bytes | None) -> str | None:
    if v is None:
        return None
    return "\\x" + v.hex() if isinstance(v, bytes) else v


def _pg_bool(v: Any) -> str | None:
    return None if v is None or v is pd.NA else ("t" if v else "f")


def _columns(dep: Deployment, table: str, chunk: pd.DataFrame) -> pd.DataFrame:
    return chunk[dep.columns(table)]


# --- psql \copy CSV ---------------------------------------------------------------------

def _psql_csv(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, **_: Any) -> None:
    (table,) = tables
    cols = dep.columns(table)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for chunk in dep.chunks(table, chunk_rows):
            out = _columns(dep, table, chunk).copy()
            out["value"] = [_pg_value(v) for v in out["value"]]
            out["timestamp"] = _pg_ts(out["timestamp"])
            if "dag_result" in out:
                out["dag_result"] = [_pg_bool(v) for v in out["dag_result"]]
            w.writerows(out.itertuples(index=False, name=None))


# --- pg_dump plain SQL ------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(v: Any) -> str:
    if v is None or v is pd.NA:
        return "\\N"
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    if isinstance(v, bool | np.bool_):
        return "t" if v else "f"
    return str(v).translate(_COPY_ESCAPES)


_PG_DUMP_HEAD = """--
-- PostgreSQL database dump
--

-- Dumped from database version 15.19 (Debian 15.19-0+deb12u1)
-- Dumped by pg_dump version 15.19 (Debian 15.19-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;

SET default_tablespace = '';

SET default_table_access_method = heap;

"""


def _pgdump(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, **_: Any) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(_PG_DUMP_HEAD)
        for table in tables:
            cols = dep.columns(table)
            f.write(f"--\n-- Name: {table}; Type: TABLE; Schema: public; Owner: airflow\n--\n\n")
            for stmt in create_statements("postgresql", table, cols, dep.table_kind(table)):
                f.write(stmt.replace(f"TABLE {table} (", f"TABLE public.{table} (")
                        .replace(f" ON {table} ", f" ON public.{table} ") + ";\n\n")
            f.write(f"ALTER TABLE public.{table} OWNER TO airflow;\n\n")
        for table in tables:
            cols = dep.columns(table)
            names = ", ".join('"timestamp"' if c == "timestamp" else c for c in cols)
            f.write(f"--\n-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: airflow\n--\n\n")
            f.write(f"COPY public.{table} ({names}) FROM stdin;\n")
            for chunk in dep.chunks(table, chunk_rows):
                out = _columns(dep, table, chunk).copy()
                out["timestamp"] = _pg_ts(out["timestamp"])
                f.writelines("\t".join(_copy_field(v) for v in row) + "\n"
                             for row in out.itertuples(index=False, name=None))
            f.write("\\.\n\n\n")
        f.write("--\n-- PostgreSQL database dump complete\n--\n\n")


# --- SQLite airflow.db ------------------------------------------------------------------

def _sqlite_rows(dep: Deployment, table: str, chunk: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    out = _columns(dep, table, chunk).copy()
    # SQLAlchemy's SQLite DateTime storage format (Airflow's UtcDateTime, naive UTC).
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype(object)
    if "dag_result" in out:
        out["dag_result"] = [None if v is None else int(bool(v)) for v in out["dag_result"]]
    return out.itertuples(index=False, name=None)


def _sqlite(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, **_: Any) -> None:
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    try:
        _fill_sqlite(dep, con, tables, chunk_rows)
        con.commit()
        con.execute("VACUUM")
    finally:
        con.close()


def _fill_sqlite(dep: Deployment, con: sqlite3.Connection, tables: list[str], chunk_rows: int) -> None:
    for table in tables:
        cols = dep.columns(table)
        kind = dep.table_kind(table)
        archive = table.startswith("_airflow_deleted__")
        # db clean makes its archives with CREATE TABLE AS from the live table (docs/airflow-xcom.md#db-clean).
        target = "__xcomlab_tmp" if archive else table
        for stmt in create_statements("sqlite", "xcom" if archive else table, cols, kind):
            if archive and stmt.startswith("CREATE INDEX"):
                continue
            con.execute(stmt.replace("CREATE TABLE xcom (", f"CREATE TABLE {target} (", 1))
        marks = ", ".join("?" for _ in cols)
        names = ", ".join(f'"{c}"' for c in cols)
        for chunk in dep.chunks(table, chunk_rows):
            con.executemany(f"INSERT INTO {target} ({names}) VALUES ({marks})",
                            _sqlite_rows(dep, table, chunk))
        if archive:
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {target}')
            con.execute(f"DROP TABLE {target}")


# --- airflow db export-archived -----------------------------------------------------------

def _archive_name(dep: Deployment, table: str) -> str:
    if table != "xcom":
        return table
    last = pd.Timestamp(int(dep.plan["ts_us"].max()) * 1000, tz="UTC") + pd.Timedelta(hours=1)
    return f"_airflow_deleted__xcom__{last:%Y%m%d%H%M%S}"


def _archive_csv(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, *,
                 postgres: bool) -> None:
    for table in tables:
        cols = dep.columns(table)
        rng = np.random.default_rng(len(table))
        with (path / f"{_archive_name(dep, table)}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)  # excel dialect: CRLF, QUOTE_MINIMAL, as Airflow writes it
            w.writerow(cols)
            for chunk in dep.chunks(table, chunk_rows):
                out = _columns(dep, table, chunk).copy()
                if postgres:
                    out["value"] = [_psycopg2_str(v, rng) for v in out["value"]]
                    out["timestamp"] = [str(t.to_pydatetime()) for t in out["timestamp"]]
                else:
                    out["value"] = [_sqlite_str(v) for v in out["value"]]
                    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
                    if "dag_result" in out:
                        out["dag_result"] = [None if v is None else int(bool(v)) for v in out["dag_result"]]
                w.writerows(out.itertuples(index=False, name=None))


def _sqlite_str(v: str | bytes | None) -> str | None:
    """``str()`` of what sqlite3 returns: bytes repr for BLOB, the text (or number) for JSON."""
    if v is None:
        return None
    return repr(v) if isinstance(v, bytes) else v


def _psycopg2_str(v: str | bytes | None, rng: np.random.Generator) -> str | None:
    """``str()`` of what psycopg2 returns: a memoryview for bytea, decoded JSON for jsonb."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return f"<memory at 0x7f{int(rng.integers(0, 16**10)):010x}>"
    decoded = json.loads(v)
    return None if decoded is None else str(decoded)


# --- JSON Lines and Parquet --------------------------------------------------------------

def _jsonl(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, **_: Any) -> None:
    (table,) = tables
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for chunk in dep.chunks(table, chunk_rows):
            out = _columns(dep, table, chunk).copy()
            ts = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.rstrip("0").str.rstrip(".")
            out["timestamp"] = ts + "+00:00"
            for row in out.to_dict("records"):
                # The stored text as a string (jsonb text; bytea as "\\x…" hex), as a
                # client that reads the column as text dumps it.
                row["value"] = _pg_value(row["value"])
                row["dag_run_id"], row["map_index"] = int(row["dag_run_id"]), int(row["map_index"])
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _parquet(dep: Deployment, path: Path, tables: list[str], chunk_rows: int, **_: Any) -> None:
    (table,) = tables
    cols = dep.columns(table)
    vtype = pa.string() if dep.table_kind(table) == "json" else pa.binary()
    types = {"dag_run_id": pa.int32(), "task_id": pa.string(), "map_index": pa.int32(),
             "key": pa.string(), "dag_result": pa.bool_(), "dag_id": pa.string(),
             "run_id": pa.string(), "value": vtype, "timestamp": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(c, types[c]) for c in cols])
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for chunk in dep.chunks(table, chunk_rows):
            out = _columns(dep, table, chunk)
            arrays = [pa.array(out[c].tolist() if c != "timestamp" else out[c], types[c]) for c in cols]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema))


# --- live databases ----------------------------------------------------------------------

def _write_database(dep: Deployment, url: str, tables: list[str], chunk_rows: int) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    dialect = engine.dialect.name
    try:
        if dialect == "sqlite":
            raw = engine.raw_connection()
            try:
                _fill_sqlite(dep, raw.driver_connection, tables, chunk_rows)  # type: ignore[arg-type]
                raw.commit()
            finally:
                raw.close()
        elif dialect == "postgresql":
            _fill_postgres(dep, engine, tables, chunk_rows)
        elif dialect in ("mysql", "mariadb"):
            _fill_mysql(dep, engine, tables, chunk_rows)
        else:
            msg = f"{dialect} databases are not supported; use PostgreSQL, MySQL/MariaDB or SQLite"
            raise UnsupportedSourceError(msg)
    finally:
        engine.dispose()
    return url


def _fill_postgres(dep: Deployment, engine: Any, tables: list[str], chunk_rows: int) -> None:
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection  # psycopg 3: COPY is the fast, faithful path
        with con.cursor() as cur:
            for table in tables:
                cols = dep.columns(table)
                for stmt in create_statements("postgresql", table, cols, dep.table_kind(table)):
                    cur.execute(stmt)
                names = ", ".join(f'"{c}"' for c in cols)
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for chunk in dep.chunks(table, chunk_rows):
                        for row in _columns(dep, table, chunk).itertuples(index=False, name=None):
                            copy.write_row([_pg_param(v) for v in row])
        con.commit()
    finally:
        raw.close()


def _pg_param(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.integer):
        return int(v)
    return v


def _fill_mysql(dep: Deployment, engine: Any, tables: list[str], chunk_rows: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET time_zone = '+00:00'")  # TIMESTAMP columns hold UTC (docs/airflow-xcom.md#schema-2-3)
        for table in tables:
            cols = dep.columns(table)
            for stmt in create_statements("mysql", table, cols, dep.table_kind(table)):
                cur.execute(stmt)
            names = ", ".join(f"`{c}`" for c in cols)
            marks = ", ".join("%s" for _ in cols)
            for chunk in dep.chunks(table, chunk_rows):
                out = _columns(dep, table, chunk).copy()
                out["timestamp"] = out["timestamp"].dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
                rows = [tuple(_pg_param(v) for v in r) for r in out.itertuples(index=False, name=None)]
                cur.executemany(f"INSERT INTO `{table}` ({names}) VALUES ({marks})", rows)
        raw.commit()
        cur.close()
    finally:
        raw.close()
