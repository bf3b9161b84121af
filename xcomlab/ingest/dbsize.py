"""Measured sizes: what a connected database itself reports for its XCom tables.

Read-only, in one short transaction with a statement timeout:

PostgreSQL
    ``pg_total_relation_size`` per table, split into heap (``pg_table_size`` minus TOAST:
    main fork, FSM, VM), TOAST (the TOAST relation with its index) and ``pg_indexes_size``;
    ``n_live_tup`` / ``n_dead_tup`` from ``pg_stat_user_tables`` (dead tuples: the bloat a
    ``VACUUM`` would make reusable); ``pg_column_size(value)`` against the raw length on a
    sample of long values (what TOAST compression achieved).
MariaDB / MySQL
    ``information_schema.tables``: ``data_length`` (clustered index with off-page BLOB
    pages), ``index_length``, ``data_free`` and ``table_rows``. These are statistics: InnoDB
    refreshes them after about 10 % of a table changes, and MySQL 8 caches them for
    ``information_schema_stats_expiry`` seconds (default 86,400), so they can lag. The
    table's own ``.ibd`` file (``INNODB_SYS_TABLESPACES`` on MariaDB, ``INNODB_TABLESPACES``
    on MySQL 8; file-per-table) is current: when the statistics are far below it, the file
    size is the figure used (``file_bytes``) and a note says so.
SQLite
    ``dbstat`` (pages per table and index, overflow pages apart) when SQLite was compiled
    with it, else ``page_count × page_size`` of the whole file; ``freelist_count`` pages are
    free either way.

Nothing here writes: no ``VACUUM``, ``ANALYZE`` or ``OPTIMIZE``, so the figures are the
database as it is (with its bloat), not the rebuilt state the on-disk model predicts.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from xcomlab.errors import UnsupportedSourceError, mask_url
from xcomlab.ingest.dburl import resolve_url, sqlite_url
from xcomlab.ingest.source import is_xcom_table

__all__ = ["MeasuredSize", "TableSize", "measure_sizes"]

#: Longest any one statement may run (seconds): sizes come from catalogs, never scans.
STATEMENT_TIMEOUT_S: Final = 10.0
#: Long values whose stored size ``pg_column_size`` measures (PostgreSQL).
SAMPLE_ROWS: Final = 1000
_TOAST_MIN_BYTES: Final = 2032


@dataclass(frozen=True)
class TableSize:
    """One table's size as its database reports it (None: the database does not say).

    ``total_bytes`` = ``table_bytes`` + ``out_of_line_bytes`` + ``index_bytes`` where the
    parts are known (InnoDB counts off-page BLOBs inside ``table_bytes``).
    """

    table: str
    total_bytes: int
    table_bytes: int | None = None
    out_of_line_bytes: int | None = None
    index_bytes: int | None = None
    free_bytes: int | None = None
    live_rows: int | None = None
    dead_rows: int | None = None
    file_bytes: int | None = None


@dataclass(frozen=True)
class MeasuredSize:
    """Sizes of the XCom tables of one database, measured by the database.

    Attributes
    ----------
    dialect : str
        ``postgresql``, ``mysql`` or ``sqlite``.
    method : str
        What was read (``pg_total_relation_size``, ``information_schema.tables``, ``dbstat``,
        ``page_count``).
    tables : dict
        :class:`TableSize` per XCom table (empty when only the whole file is known).
    database_bytes : int or None
        The whole database file (SQLite), when known.
    free_bytes : int or None
        Free pages of the whole file (SQLite ``freelist_count × page_size``).
    value_sample : dict or None
        PostgreSQL: ``rows``, ``stored_bytes`` (``pg_column_size``) and ``raw_bytes`` of a
        sample of values of at least 2,032 B, and their ``ratio``.
    notes : tuple of str
    """

    dialect: str
    method: str
    tables: dict[str, TableSize]
    database_bytes: int | None = None
    free_bytes: int | None = None
    value_sample: dict[str, float] | None = None
    notes: tuple[str, ...] = field(default=())

    def total_bytes(self, tables: str = "live") -> int | None:
        """Measured bytes of the ``xcom`` table (``"live"``) or of every XCom table (``"all"``)."""
        if tables == "live":
            t = self.tables.get("xcom")
            return t.total_bytes if t is not None else None
        return sum(t.total_bytes for t in self.tables.values()) if self.tables else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``dialect, method, xcom_bytes, all_tables_bytes, tables, …``."""
        return {"dialect": self.dialect, "method": self.method,
                "xcom_bytes": self.total_bytes("live"), "all_tables_bytes": self.total_bytes("all"),
                "tables": {k: vars(v) for k, v in self.tables.items()},
                "database_bytes": self.database_bytes, "free_bytes": self.free_bytes,
                "value_sample": self.value_sample, "notes": list(self.notes)}

    def __repr__(self) -> str:
        live, every = self.total_bytes("live"), self.total_bytes("all")
        shown = (f"xcom table {live:,} B, all XCom tables {every:,} B" if live is not None and every is not None
                 else f"database file {self.database_bytes:,} B" if self.database_bytes else "no XCom table")
        return f"MeasuredSize({self.dialect} via {self.method}: {shown})"


def measure_sizes(source: str | os.PathLike[str] | sa.Engine, *,
                  timeout_s: float = STATEMENT_TIMEOUT_S, sample_rows: int = SAMPLE_ROWS) -> MeasuredSize:
    """Ask a database how much its XCom tables take, read-only.

    Parameters
    ----------
    source
        A database URL (``postgresql://…``, ``mysql://…``, ``sqlite:///…``), an SQLite file
        (``airflow.db``) or an Engine.
    timeout_s
        Statement timeout (PostgreSQL ``statement_timeout``, MariaDB ``max_statement_time``,
        MySQL ``max_execution_time``).
    sample_rows
        Long values whose ``pg_column_size`` is read (PostgreSQL; 0: none).

    Raises
    ------
    UnsupportedSourceError
        A source that is not a database.
    """
    engine, own = _engine(source)
    try:
        d = engine.dialect.name
        with _transaction(engine, timeout_s) as conn:
            if d == "postgresql":
                return _postgresql(conn, sample_rows)
            if d in ("mysql", "mariadb"):
                return _mysql(conn)
            if d == "sqlite":
                return _sqlite(conn)
    finally:
        if own:
            engine.dispose()
    msg = f"cannot measure a {d} database; expected PostgreSQL, MySQL/MariaDB or SQLite"
    raise UnsupportedSourceError(msg)


def _engine(source: Any) -> tuple[sa.Engine, bool]:
    if isinstance(source, sa.Engine):
        return source, False
    text = os.fspath(source)
    if "://" not in text:
        p = Path(text)
        with p.open("rb") as f:  # FileNotFoundError names the path
            if f.read(16) != b"SQLite format 3\x00":
                msg = f"{text}: not a database (an SQLite file or a database URL); export files have no measured size"
                raise UnsupportedSourceError(msg)
        return sa.create_engine(sqlite_url(p)), True
    try:
        return sa.create_engine(resolve_url(text)), True
    except sa.exc.ArgumentError as exc:
        msg = f"{mask_url(text)}: not a database URL"
        raise UnsupportedSourceError(msg) from exc


@contextmanager
def _transaction(engine: sa.Engine, timeout_s: float) -> Any:
    """One read-only transaction with a statement timeout, rolled back at the end."""
    with engine.connect() as conn:
        d = engine.dialect.name
        if d == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
        elif d in ("mysql", "mariadb"):
            for sql in (f"SET SESSION max_statement_time = {float(timeout_s)}",  # MariaDB
                        f"SET SESSION max_execution_time = {int(timeout_s * 1000)}"):  # MySQL
                try:
                    conn.exec_driver_sql(sql)
                except sa.exc.DBAPIError:
                    conn.rollback()
            conn.exec_driver_sql("START TRANSACTION READ ONLY")
        try:
            yield conn
        finally:
            conn.rollback()


_PG_TABLES: Final = """
SELECT c.relname, pg_total_relation_size(c.oid),
       pg_table_size(c.oid) - coalesce(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0),
       coalesce(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0), pg_indexes_size(c.oid),
       s.n_live_tup, s.n_dead_tup
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
  AND (c.relname IN ('xcom', '_xcom_archive') OR c.relname LIKE :archives)
"""
#: ``_airflow_deleted__xcom__<ts>`` as a LIKE pattern (``_`` escaped: it matches any character).
_ARCHIVES: Final = {"archives": "\\_airflow\\_deleted\\_\\_xcom\\_\\_%"}


def _postgresql(conn: sa.Connection, sample_rows: int) -> MeasuredSize:
    tables = {}
    for name, total, heap, toast, index, live, dead in conn.execute(sa.text(_PG_TABLES), _ARCHIVES).all():
        if is_xcom_table(name):
            tables[name] = TableSize(name, int(total), int(heap), int(toast), int(index), None,
                                     None if live is None else int(live), None if dead is None else int(dead))
    notes = []
    if any((t.dead_rows or 0) > 0 for t in tables.values()):
        dead = sum(t.dead_rows or 0 for t in tables.values())
        notes.append(f"{dead:,} dead tuples: space VACUUM makes reusable (the model predicts a vacuumed table)")
    sample = _pg_sample(conn, sample_rows) if "xcom" in tables and sample_rows > 0 else None
    return MeasuredSize("postgresql", "pg_total_relation_size", tables, value_sample=sample, notes=tuple(notes))


def _pg_sample(conn: sa.Connection, n: int) -> dict[str, float] | None:
    kind = conn.exec_driver_sql(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = 'xcom'::regclass AND a.attname = 'value'").scalar()
    raw = "octet_length(value)" if kind == "bytea" else "octet_length(value::text)"
    row = conn.exec_driver_sql(
        f"SELECT count(*), sum(pg_column_size(value)), sum({raw}) FROM "
        f"(SELECT value FROM xcom WHERE value IS NOT NULL "
        f"AND {raw} >= {_TOAST_MIN_BYTES} LIMIT {int(n)}) s").one()
    if not row[0]:
        return None
    return {"rows": int(row[0]), "stored_bytes": int(row[1]), "raw_bytes": int(row[2]),
            "ratio": round(int(row[1]) / int(row[2]), 4)}


def _mysql(conn: sa.Connection) -> MeasuredSize:
    rows = conn.execute(sa.text(
        "SELECT table_name, data_length, index_length, data_free, table_rows "
        "FROM information_schema.tables WHERE table_schema = DATABASE() "
        "AND (table_name IN ('xcom', '_xcom_archive') OR table_name LIKE :archives)"), _ARCHIVES).all()
    files = _innodb_files(conn)
    tables, notes = {}, ["information_schema sizes are InnoDB statistics: they can lag recent writes "
                         "(ANALYZE TABLE refreshes them; MySQL 8 caches them for information_schema_stats_expiry)"]
    for n, d, i, f, r in rows:
        name = str(n)
        if not is_xcom_table(name):
            continue
        stats, file = int(d or 0) + int(i or 0), files.get(name)
        total = stats
        if file is not None and stats < 0.5 * (file - int(f or 0)):  # statistics far behind the file
            total = file - int(f or 0)
            notes.append(f"{name}: statistics say {stats:,} B but its file holds {file:,} B "
                         f"({int(f or 0):,} free): the file is used")
        tables[name] = TableSize(name, total, int(d or 0), None, int(i or 0), int(f or 0),
                                 None if r is None else int(r), file_bytes=file)
    return MeasuredSize("mysql", "information_schema.tables", tables, notes=tuple(notes))


def _innodb_files(conn: sa.Connection) -> dict[str, int]:
    """Allocated bytes of each table's ``.ibd`` file in this database (empty when not readable)."""
    for view in ("INNODB_SYS_TABLESPACES", "INNODB_TABLESPACES"):  # MariaDB, MySQL 8
        try:
            rows = conn.execute(sa.text(
                f"SELECT name, allocated_size FROM information_schema.{view} "
                "WHERE name LIKE CONCAT(DATABASE(), '/%')")).all()
        except sa.exc.DBAPIError:
            conn.rollback()
            conn.exec_driver_sql("START TRANSACTION READ ONLY")
            continue
        return {str(n).split("/", 1)[1]: int(a) for n, a in rows if a is not None}
    return {}


def _sqlite(conn: sa.Connection) -> MeasuredSize:
    page = int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 0)
    pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0) * page
    owner = {str(n): str(t) for n, t in conn.exec_driver_sql(
        "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')").all()}
    try:
        stats = conn.exec_driver_sql(
            "SELECT name, sum(pgsize), sum(CASE WHEN pagetype = 'overflow' THEN pgsize ELSE 0 END) "
            "FROM dbstat GROUP BY name").all()
    except sa.exc.OperationalError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
        conn.rollback()
        note = "dbstat is not compiled into this SQLite: only the whole file is known"
        return MeasuredSize("sqlite", "page_count", {}, pages * page, free, notes=(note,))
    parts: dict[str, list[int]] = {}
    for name, size, overflow in stats:
        table = owner.get(str(name), str(name))
        if not is_xcom_table(table):
            continue
        acc = parts.setdefault(table, [0, 0, 0])
        if str(name) == table:
            acc[0] += int(size) - int(overflow)
            acc[1] += int(overflow)
        else:
            acc[2] += int(size)
    tables = {t: TableSize(t, sum(v), v[0], v[1], v[2]) for t, v in parts.items()}
    return MeasuredSize("sqlite", "dbstat", tables, pages * page, free)
