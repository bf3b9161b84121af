"""The push-down's SQL session: one read-only connection, timed out and counted.

:func:`session` opens the read-only transaction every statement of a
:func:`~xcomlab.summary.summarize_db` run shares (statement timeout, PostgreSQL's
``work_mem``, SQLite's functions); :class:`Runner` runs statements on it and counts in
:class:`PushdownStats` what each asked, took and received.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from operator import is_not, itemgetter
from typing import TYPE_CHECKING, Any

from xcomlab.errors import StatementTimeoutError, XcomlabError
from xcomlab.ingest.sqlsource import quote, readonly
from xcomlab.summary.sqlrules import sqlite_bucket, sqlite_instant, sqlite_regexp

if TYPE_CHECKING:  # loaded by the functions that run statements, not on import
    import sqlalchemy as sa

__all__ = ["FoundTable", "PushdownStats", "Runner", "bar", "estimate", "session", "timeout_error"]


@dataclass
class PushdownStats:
    """What a :func:`summarize_db` run asked and received (fill one by passing ``stats=``).

    ``bytes_received`` counts every fetched cell (text and bytes by length, numbers as 8
    bytes); ``value_bytes_received`` only the cells that hold (a part of) a stored value.
    """

    statements: int = 0
    rows_received: int = 0
    bytes_received: int = 0
    value_bytes_received: int = 0
    #: Rows whose head and tail were fetched for exact classification in Python.
    classified_rows: int = 0
    #: Rows the secret prefilter (or a secret-like key) picked, whose values were fetched.
    secret_candidates: int = 0
    #: Rows the SQL secret prefilter alone picked (no key names): ``profile --json``'s
    #: ``secrets.candidates``.
    prefilter_rows: int = 0
    #: Rows whose ids and size were fetched to draw the value sample (every row with a value).
    sample_id_rows: int = 0
    #: Rows whose values (their first ``max_value_bytes``) were fetched for the value sample.
    sample_values: int = 0
    rows_summarised: int = 0
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)
    #: Per statement, in order: ``(what it computed, seconds, rows received)``.
    timings: list[tuple[str, float, int]] = field(default_factory=list)

@dataclass(frozen=True)
class FoundTable:
    """An xcom table as the push-down reads it: its columns and how its values are stored."""

    name: str
    columns: list[str]
    is_json: bool
    json_3x: bool
    aware: bool  # timestamp with time zone (PostgreSQL)
    valid_json: bool  # a JSON type that refuses NaN tokens (PostgreSQL json/jsonb)
    airflow_schema: str  # as the loader detects it (:func:`~xcomlab.ingest.normalize.detect_schema`)


class Runner:
    """Runs statements on one read-only connection and counts what comes back."""

    def __init__(self, conn: sa.Connection, dialect: sa.Dialect, timeout: float | None,
                 stats: PushdownStats | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self.timeout = timeout
        self.stats = stats if stats is not None else PushdownStats()

    def _took(self, what: str, start: float, rows: int) -> None:
        self.stats.statements += 1
        self.stats.timings.append((what, time.perf_counter() - start, rows))

    def _timed(self, sql: str) -> str:
        if self.timeout is None or self.dialect.name not in ("mysql", "mariadb"):
            return sql
        if getattr(self.dialect, "is_mariadb", False):
            return f"SET STATEMENT max_statement_time={self.timeout:.3f} FOR {sql}"
        return sql.replace("SELECT", f"SELECT /*+ MAX_EXECUTION_TIME({max(1, round(self.timeout * 1000))}) */", 1)

    def fetch(self, what: str, sql: str, params: dict[str, Any] | None = None,
              values: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``what`` names it in :attr:`PushdownStats.timings`); the
        cells of the columns named in ``values`` count as value bytes received."""
        import sqlalchemy as sa

        st = self.stats
        start = time.perf_counter()
        result = self.conn.execute(sa.text(self._timed(sql)), params or {})
        names = list(result.keys()) if result.returns_rows else []
        # the driver's own rows (C code for psycopg): no per-row processing is asked of SQLAlchemy
        raw = result.cursor if result.returns_rows else None
        rows = list(map(tuple, raw.fetchall())) if raw is not None else []  # tuple() of a tuple is itself
        result.close()
        self._took(what, start, len(rows))
        st.rows_received += len(rows)
        for name, got in zip(names, self._bytes(rows, len(names)), strict=True):
            st.bytes_received += got
            if name in values:
                st.value_bytes_received += got
        return rows

    def _bytes(self, rows: list[tuple[Any, ...]], width: int) -> list[int]:
        """Per column, the bytes of ``rows``' cells (:func:`_column_bytes`); a column of a
        server database holds one Python type, SQLite's any."""
        uniform = self.dialect.name != "sqlite"
        return [_column_bytes(list(map(itemgetter(i), rows)), uniform) if rows else 0 for i in range(width)]

    def stream(self, what: str, sql: str, params: dict[str, Any] | None = None,
               size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``sql`` in lists of up to ``size`` (a server-side cursor where the
        driver has one), counted as :meth:`fetch` counts them (no value columns)."""
        st = self.stats
        start = time.perf_counter()
        total = 0
        try:
            for rows in self._chunks(sql, params or {}, size):
                total += len(rows)
                st.rows_received += len(rows)
                st.bytes_received += sum(self._bytes(rows, len(rows[0])))
                yield rows
        finally:
            self._took(what, start, total)

    def _chunks(self, sql: str, params: dict[str, Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        import sqlalchemy as sa

        if self.dialect.name == "postgresql":
            # a cursor of our own, read by FETCH: the driver's rows as they come (tuples),
            # where SQLAlchemy's streamed result makes a Row of each (1M rows: ~5 s of ~7)
            self.conn.execute(sa.text(f"DECLARE xcomlab_stream NO SCROLL CURSOR FOR {sql}"), params)
            try:
                while True:
                    result = self.conn.exec_driver_sql(f"FETCH FORWARD {int(size)} FROM xcomlab_stream")
                    rows = [tuple(r) for r in result.cursor.fetchall()] if result.cursor is not None else []
                    result.close()
                    if not rows:
                        return
                    yield rows
            finally:
                self.conn.exec_driver_sql("CLOSE xcomlab_stream")
        result = self.conn.execute(sa.text(self._timed(sql)), params,
                                   execution_options={"stream_results": True})
        try:
            while rows := [tuple(row) for row in result.fetchmany(size)]:
                yield rows
        finally:
            result.close()

    def scalars(self, what: str, sql: str) -> list[Any]:
        return [row[0] for row in self.fetch(what, sql)]

    def scalar(self, what: str, sql: str) -> Any:
        rows = self.fetch(what, sql)
        return rows[0][0] if rows else None


def _column_bytes(column: list[Any], uniform: bool = False) -> int:
    """:func:`_cell_bytes` summed over a fetched column: most cells of a grouping-sets
    result are NULL, and a column holds one type, so it is counted a column at a time
    (``uniform``: every cell that is not NULL has the first one's type, as a column of a
    typed database does, so the type is read off that cell instead of every cell)."""
    if uniform:
        first = next(filter(partial(is_not, None), column), None)
        types = set() if first is None else {type(first)}
    else:
        types = set(map(type, column)) - {type(None)}
    if not types:
        return 0
    if types == {list}:  # arrays (the fetched rows of PostgreSQL's groups statement): their cells
        return _column_bytes([x for v in column if v is not None for x in v], uniform)
    if types == {str}:
        return len("".join(filter(None, column)).encode())  # UTF-8 lengths add up: one encode
    if types <= {bytes, bytearray, memoryview}:
        return sum(map(len, filter(None, column)))
    if not types & {str, bytes, bytearray, memoryview}:
        return 8 * (len(column) - column.count(None))
    return sum(_cell_bytes(v) for v in column)  # mixed types (SQLite): cell by cell


def _cell_bytes(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return len(v)
    return 8


@contextmanager
def session(engine: sa.Engine, timeout: float | None, stats: PushdownStats | None = None,
            prepare: tuple[str, ...] = (), cleanup: tuple[str, ...] = ()) -> Iterator[Runner]:
    """One read-only transaction (:func:`~xcomlab.ingest.sqlsource.readonly`, with its
    ``prepare`` and ``cleanup`` statements) set up for the push-down's statements."""
    with readonly(engine, prepare, cleanup) as conn:
        d = engine.dialect.name
        if d == "postgresql":
            if timeout is not None:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            if (engine.dialect.server_version_info or (0,)) >= (13,):
                # hash tables (the groupings) up to 1 GB, spilling beyond: the planner cannot
                # estimate the groups of derived columns and, at 64 MB, sorts every row once
                # per grouping set in one process (3M rows, 7 Dec 2026: 34.4 s; hashed, 25.2 s
                # with 369 MB used; the parallel workers' share is the same either way)
                conn.exec_driver_sql("SET LOCAL hash_mem_multiplier = 16")
            # compiling the long per-row expressions costs about half a second a statement
            # (PostgreSQL 15, 1M rows), more than it saves on them
            conn.exec_driver_sql("SET LOCAL jit = off")
            # the planner cannot estimate the rows of a CTE's result (the groups statement's
            # rolled runs: pushdown._rolled_sql) and joins them by sorting both sides; hashed,
            # 3M rows with 696k run groups rolled to 100k (8 Dec 2026, load 4.5): the steps
            # past the groups 16 s -> 8 s of 44 s -> 31 s
            conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        elif d == "sqlite":
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.create_function("xcomlab_bucket", 1, sqlite_bucket, deterministic=True)
            raw.create_function("xcomlab_regexp", 2, sqlite_regexp, deterministic=True)
            raw.create_function("xcomlab_instant", 1, sqlite_instant, deterministic=True)
            if timeout is not None:
                deadline = time.monotonic() + timeout
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield Runner(conn, engine.dialect, timeout, stats)
        finally:
            if d == "sqlite":
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.set_progress_handler(None, 0)


def timeout_error(exc: BaseException, label: str, timeout: float | None) -> XcomlabError | None:
    if timeout is None:
        return None
    text = " ".join(str(getattr(exc, "orig", None) or exc).split()).lower()
    if any(s in text for s in ("statement timeout", "max_statement_time", "maximum statement execution time",
                               "interrupted")):
        return StatementTimeoutError(
            f"{label}: a statement ran longer than statement_timeout={timeout:g} s and was "
            "cancelled; nothing was written. Raise the timeout (--statement-timeout), summarise "
            "fewer tables (tables=…), or run it when the database is less busy")
    return None


def estimate(run: Runner, engine: sa.Engine, table: str) -> int:
    """About how many rows ``table`` holds, from the catalog where it keeps a count."""
    import sqlalchemy as sa

    d = engine.dialect.name
    try:
        if d == "postgresql":
            got = run.scalar("estimate", f"SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('{quote(engine, table)}')")
            if got is not None and got >= 0:
                return int(got)
        elif d in ("mysql", "mariadb"):
            got = run.scalar("estimate", "SELECT table_rows FROM information_schema.tables WHERE table_schema = DATABASE() "
                             f"AND table_name = '{table}'")
            if got is not None:
                return int(got)
    except sa.exc.DBAPIError:
        pass
    return int(run.scalar("count", f"SELECT count(*) FROM {quote(engine, table)}") or 0)


@contextmanager
def bar(progress: bool | None, total: int) -> Iterator[Callable[[int], None]]:
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="rows", unit_scale=True, leave=False, desc="summarising") as bar:
        yield bar.update

