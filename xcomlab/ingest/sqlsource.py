"""Databases: an ``airflow.db`` SQLite file or a live metadata DB by SQLAlchemy URL.

Read-only, chunked with server-side cursors. Sizes are computed where the data is
(``octet_length`` / ``LENGTH`` / ``length(CAST(value AS BLOB))``); only a head and a
tail of each value cross the wire, plus the whole value of the rare rows that may
hold NaN/Infinity — unless ``keep_values`` asks for every value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError, UnsupportedSourceError
from xcomlab.ingest.classify import HEAD_BYTES, TAIL_BYTES, RawValues
from xcomlab.ingest.csvfile import REQUIRED_EXPORT, frame_columns
from xcomlab.ingest.dburl import resolve_url, sqlite_url
from xcomlab.ingest.failures import guard
from xcomlab.ingest.normalize import RawBatch, detect_schema
from xcomlab.ingest.source import TableSource, is_xcom_table

if TYPE_CHECKING:  # loaded by the functions that open a database, not on import
    import sqlalchemy as sa

__all__ = ["open_engine", "quote", "read_sql", "readonly", "row_source", "sqlite_url", "value_is_json",
           "value_sql", "xcom_table_names", "xcom_tables"]  # sqlite_url: defined in dburl, kept importable here


@guard
def read_sql(source: Any, *, sqlite_file: bool, chunk_rows: int, airflow_schema: str | None,
             keep_values: bool) -> Iterator[TableSource]:
    """Yield a table source per xcom-like table of a database."""
    engine, label, own = _engine(source, sqlite_file)
    try:
        for name, info, is_json in xcom_tables(engine, label):
            cols = list(info)
            schema = airflow_schema or detect_schema(set(cols), json_values=is_json)
            q = _Query(engine, name, cols, is_json, chunk_rows, keep_values, label)
            yield TableSource(path=label, table=name, columns=cols, airflow_schema=schema,
                              batches=q.batches, total_bytes=None, notes=q.notes)
    finally:
        if own:
            engine.dispose()


def xcom_table_names(engine: sa.Engine) -> list[str]:
    """The xcom-like tables of a database (:func:`~xcomlab.ingest.source.is_xcom_table`), the
    live ``xcom`` first, then by name."""
    import sqlalchemy as sa

    names = [t for t in sa.inspect(engine).get_table_names() if is_xcom_table(t)]
    return sorted(names, key=lambda t: (t != "xcom", t))


def xcom_tables(engine: sa.Engine, label: str,
                names: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """``(table, its columns by lower-case name, whether values are JSON text)`` for
    ``names`` (default :func:`xcom_table_names`), checking each has Airflow's xcom columns;
    the loader and the push-down read tables through this one check."""
    import sqlalchemy as sa

    insp = sa.inspect(engine)
    kinds: dict[str, bool] = {}
    for name in xcom_table_names(engine) if names is None else names:
        info = {c["name"].lower(): c for c in insp.get_columns(name)}
        missing = [c for c in REQUIRED_EXPORT if c not in info]
        if missing:
            msg = f"{label}: table {name} lacks columns {missing}; expected Airflow's xcom columns"
            raise ExportFormatError(msg)
        kinds[name] = is_json = value_is_json(engine, name, insp, kinds)
        yield name, info, is_json


def _engine(source: Any, sqlite_file: bool) -> tuple[sa.Engine, str, bool]:
    import sqlalchemy as sa

    if isinstance(source, sa.Engine):
        return source, source.url.render_as_string(hide_password=True), False
    text = os.fspath(source)
    if sqlite_file:
        return sa.create_engine(sqlite_url(text)), text, True
    url = resolve_url(text)  # postgres://, +psycopg2 without psycopg2, …; an SQLite file must exist
    label = sa.make_url(text).render_as_string(hide_password=True)
    engine = sa.create_engine(url)
    return engine, label, True


def _value_is_json(engine: sa.Engine, table: str, insp: Any, kinds: dict[str, bool]) -> bool:
    """Airflow 3 stores JSON (jsonb / JSON); Airflow 2 bytes (bytea / BLOB)."""
    if table == "_xcom_archive" or table.startswith("_airflow_deleted___xcom_archive"):
        return False  # the 3.0 migration's archive keeps the 2.x bytes (docs/airflow-xcom.md#migration-0049)
    col = next(c for c in insp.get_columns(table) if c["name"].lower() == "value")
    type_name = str(col["type"]).upper()
    if any(t in type_name for t in ("JSON", "TEXT", "CHAR")):
        return True
    if any(t in type_name for t in ("BYTEA", "BLOB", "BINARY")) and engine.dialect.name != "sqlite":
        return False
    if engine.dialect.name == "sqlite":
        import sqlalchemy as sa

        with engine.connect() as conn:
            kind = conn.execute(sa.text(
                f"SELECT typeof(value) FROM {_q(engine, table)} WHERE value IS NOT NULL LIMIT 1"
            )).scalar()
        if kind is not None:
            return kind != "blob"
        if "BLOB" in type_name:
            return False
    return kinds.get("xcom", "JSON" in type_name or type_name in ("NUM", "NUMERIC"))


def value_sql(dialect: str, is_json: bool, label: str) -> dict[str, str]:
    """SQL expressions the loader reads a value through, over the row source of
    :func:`row_source`: ``vb`` (stored size), ``head``, ``tail``, ``nan`` (NaN/Infinity
    hint), ``full`` (the value where ``nan``) and ``value``."""
    d = dialect
    h, t = HEAD_BYTES, TAIL_BYTES
    if d == "postgresql":
        v = "x.v"
        nan = f"(strpos({v}, 'NaN') > 0 OR strpos({v}, 'Infinity') > 0)"
        if not is_json:
            nan = (f"(position('\\x4e614e'::bytea in {v}) > 0 OR "
                   f"position('\\x496e66696e697479'::bytea in {v}) > 0)")
            return {"vb": f"octet_length({v})", "head": f"substring({v} from 1 for {h})",
                    "tail": f"substring({v} from greatest(octet_length({v}) - {t - 1}, 1))",
                    "nan": nan, "full": f"CASE WHEN {nan} THEN {v} END", "value": v}
        return {"vb": f"octet_length({v})", "head": f"left({v}, {h})", "tail": f"right({v}, {t})",
                "nan": nan, "full": f"CASE WHEN {nan} THEN {v} END", "value": v}
    if d in ("mysql", "mariadb"):
        v = "CAST(value AS CHAR)" if is_json else "value"
        nan = f"(LOCATE('NaN', {v}) > 0 OR LOCATE('Infinity', {v}) > 0)"
        return {"vb": f"LENGTH({v})", "head": f"LEFT({v}, {h})", "tail": f"RIGHT({v}, {t})",
                "nan": nan, "full": f"CASE WHEN {nan} THEN {v} END", "value": v}
    if d == "sqlite":
        v = "CAST(value AS BLOB)"
        nan = f"(instr({v}, CAST('NaN' AS BLOB)) > 0 OR instr({v}, CAST('Infinity' AS BLOB)) > 0)"
        return {"vb": f"length({v})", "head": f"substr({v}, 1, {h})", "tail": f"substr({v}, -{t})",
                "nan": f"CASE WHEN value IS NULL THEN 0 ELSE {nan} END",
                "full": f"CASE WHEN {nan} THEN {v} END", "value": v}
    msg = f"{label}: dialect {d!r} is not supported; expected PostgreSQL, MySQL/MariaDB or SQLite"
    raise UnsupportedSourceError(msg)


def _q(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


#: A select-list column that keeps a PostgreSQL subquery from being pulled up into the query
#: around it (the planner never pulls up a subquery whose select list has a volatile function,
#: and never drops such a column), so each of the subquery's expressions is computed once a
#: row. ``clock_timestamp()`` is volatile yet parallel-safe: unlike an ``OFFSET 0`` fence it
#: leaves parallel plans open (PostgreSQL 15, EXPLAIN VERBOSE: Parallel Seq Scan under Gather).
PG_FENCE: Final = "clock_timestamp() AS xcomlab_fence"


def row_source(engine: sa.Engine, table: str, is_json: bool) -> str:
    """The ``FROM`` item :func:`value_sql`'s expressions read, aliased ``x``
    (PostgreSQL renders a jsonb value's text once per row, as ``x.v``).

    On PostgreSQL the subquery is kept from being merged into the query around it (which
    would render the text once per use) by a volatile column, :data:`PG_FENCE`, not by
    ``OFFSET 0``: a subquery with ``OFFSET`` rules out parallel plans, a volatile but
    parallel-safe column does not, and conditions on the table's own columns still reach
    the scan (and its indexes)."""
    name = _q(engine, table)
    if engine.dialect.name == "postgresql":
        cast = "value::text" if is_json else "value"
        return f"(SELECT t.*, {cast} AS v, {PG_FENCE} FROM {name} t) x"
    return f"{name} x"


#: Public names of the helpers the push-down summary shares with this reader.
open_engine = _engine
quote = _q
value_is_json = _value_is_json


@dataclass
class _Query:
    engine: sa.Engine
    table: str
    columns: list[str]
    is_json: bool
    chunk_rows: int
    keep_values: bool
    label: str

    def __post_init__(self) -> None:
        self.notes: list[str] = []
        self.used = {k: v for k, v in frame_columns(self.columns).items() if k != "value"}

    def _value_exprs(self) -> dict[str, str]:
        return value_sql(self.engine.dialect.name, self.is_json, self.label)

    def sql(self) -> str:
        e = self._value_exprs()
        ids = ", ".join(f"x.{_q(self.engine, c)}" for c in self.used)
        parts = [ids, f"{e['vb']} AS vb", f"{e['head']} AS head", f"{e['tail']} AS tail",
                 f"{e['nan']} AS nan", f"{e['full']} AS full_value"]
        if self.keep_values:
            parts.append(f"{e['value']} AS kept")
        return f"SELECT {', '.join(parts)} FROM {row_source(self.engine, self.table, self.is_json)}"

    def batches(self) -> Iterator[RawBatch]:
        import sqlalchemy as sa

        with readonly(self.engine) as conn:
            expected = conn.execute(sa.text(f"SELECT count(*) FROM {_q(self.engine, self.table)}")).scalar()
            result = conn.execution_options(stream_results=True, yield_per=self.chunk_rows).execute(
                sa.text(self.sql()))
            row = 1
            seen = 0
            for part in result.partitions(self.chunk_rows):
                cols = list(zip(*part, strict=True))
                yield self._batch(cols, row)
                row += len(part)
                seen += len(part)
        if expected != seen:
            self.notes.append(f"{self.label}: table {self.table} had {expected} rows when counted "
                              f"and {seen} when read; the database changed during the load")

    def _batch(self, cols: list[tuple[Any, ...]], first_row: int) -> RawBatch:
        names = list(self.used.values())
        columns = {name: _arrow(cols[i]) for i, name in enumerate(names)}
        k = len(names)
        vb = pa.array(cols[k], pa.int64())
        head, tail, full = (_binary(cols[k + 1]), _binary(cols[k + 2]), _binary(cols[k + 4]))
        nan = pa.array([bool(x) for x in cols[k + 3]], pa.bool_())
        complete = False
        values = RawValues(head, vb, complete=complete, tail=tail, nan_hint=nan, full=full)
        kept = _binary(cols[k + 5]) if self.keep_values else None
        return RawBatch(columns, values, first_row, kept=kept)


def _arrow(values: tuple[Any, ...]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _binary(values: tuple[Any, ...]) -> pa.Array:
    out = [v.encode("utf-8") if isinstance(v, str) else (bytes(v) if v is not None else None)
           for v in values]
    return pa.array(out, pa.binary())


@contextmanager
def readonly(engine: sa.Engine, prepare: tuple[str, ...] = (),
             cleanup: tuple[str, ...] = ()) -> Iterator[sa.Connection]:
    """A read-only transaction that leaves the connection as it found it.

    The engine may be the caller's (``load_export(store.engine)``), so its pooled
    connection goes back unchanged: PostgreSQL and MySQL/MariaDB make only this transaction
    read-only (``SET TRANSACTION READ ONLY`` / ``START TRANSACTION READ ONLY``, never the
    session); SQLite's ``query_only`` pragma, which lasts for the connection, is put back to
    its previous value. ``xcomlab_read`` tells an xcomlab store's engine not to take its
    write lock (``BEGIN IMMEDIATE``) for this read. ``prepare`` runs on the connection
    before the transaction (MariaDB refuses ``CREATE TEMPORARY TABLE`` in a read-only one,
    yet lets it fill a temporary table) and ``cleanup`` after it.
    """
    with engine.connect() as raw:
        conn = raw.execution_options(xcomlab_read=True)
        for stmt in prepare:
            conn.exec_driver_sql(stmt)
        if prepare:
            conn.commit()
        d = engine.dialect.name
        restore: str | None = None
        if d == "sqlite":
            before = conn.exec_driver_sql("PRAGMA query_only").scalar()
            restore = f"PRAGMA query_only = {int(before or 0)}"
            conn.exec_driver_sql("PRAGMA query_only = ON")
        elif d == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif d in ("mysql", "mariadb"):
            conn.exec_driver_sql("START TRANSACTION READ ONLY")
        try:
            yield conn
        finally:
            conn.rollback()
            for stmt in cleanup:
                conn.exec_driver_sql(stmt)
            if cleanup:
                conn.commit()
            if restore is not None:
                try:
                    conn.exec_driver_sql(restore)
                    conn.commit()
                except Exception:  # cannot restore: never hand a changed connection back
                    raw.invalidate()
                    raise


_ = (np, pc, S)
