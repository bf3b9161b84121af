"""Table: the store's metadata tables, shaped like Airflow 3.3's ``xcom`` table.

Columns, types and order follow ``XComModel`` of airflow-core 3.3.2
(docs/airflow-xcom.md#schema-3; defined in :mod:`xcomlab.airflow_tables`):
``dag_run_id, task_id, map_index, key, dag_result, dag_id, run_id, value, timestamp``,
primary key ``xcom_pkey (dag_run_id, task_id, map_index, key)``, indexes ``idx_xcom_key`` and
``idx_xcom_task_instance``. ``value`` is JSONB on PostgreSQL and JSON elsewhere, written with
``json.dumps`` defaults as Airflow writes it, so ``xcomlab.load_export(url)`` reads the store
as an Airflow 3.3 table. There is no ``task_instance`` table, hence no foreign key; a small
``xcomlab_dag_run`` table mints the integer ``dag_run_id`` per (dag_id, run_id), as Airflow's
``dag_run.id`` does.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import sqlalchemy as sa

from xcomlab.airflow_tables import id_type, xcom_table
from xcomlab.backend.sacompat import create_engine, dbapi_error, make_url

__all__ = ["Unreadable", "make_engine", "make_tables"]

#: Seconds an SQLite writer waits for the database lock before failing.
SQLITE_BUSY_TIMEOUT_S: Final = 60.0
#: A pooled server connection idle at least this long is pinged before it is handed out.
PING_IDLE_S: Final = 1.0

def make_tables(table: str = "xcom") -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """Build ``(metadata, xcom, dag_run)`` table objects; ``table`` names the xcom table."""
    md = sa.MetaData()
    # Airflow 3.3's table (xcomlab.airflow_tables), ids binary NO PAD on MySQL/MariaDB
    xcom = xcom_table(md, table, mysql_id_collation=None)
    runs = sa.Table(
        "xcomlab_dag_run", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dag_id", id_type(250, None), nullable=False),
        sa.Column("run_id", id_type(250, None), nullable=False),
        sa.UniqueConstraint("dag_id", "run_id", name="xcomlab_dag_run_dag_id_run_id_key"),
    )
    return md, xcom, runs


class Unreadable:
    """A ``value`` cell that is not JSON Python can read (invalid text, nesting too deep).

    Returned instead of raising, so one bad row cannot break a query over many rows
    (``clear``, ``rows``, ``reconcile``); decoding it raises an error naming the row.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreadable({self.reason!r})"


def _json_loads(value: Any) -> Any:
    """JSON from the driver; SQLite's NUMERIC affinity may hand back an int or float."""
    if isinstance(value, int | float):
        return value
    try:
        return json.loads(value)
    except (ValueError, TypeError, RecursionError) as exc:
        return Unreadable(f"the value column is not readable JSON ({type(exc).__name__}: "
                          f"{str(exc)[:120]})")


def make_engine(url: str) -> sa.Engine:
    """An engine for the store: SQLite in WAL mode with a busy timeout, others pooled."""
    u = make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": json.dumps, "json_deserializer": _json_loads}
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        if u.database in (None, "", ":memory:"):  # one in-memory DB shared by all threads
            kwargs["connect_args"]["check_same_thread"] = False
            kwargs["poolclass"] = sa.pool.StaticPool
        engine = create_engine(u, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    engine = create_engine(u, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pre-ping a pooled connection only when it sat idle for :data:`PING_IDLE_S` or more.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout; a connection
    checked in moments ago is as alive as the ping would show, and a failure on it is
    retried by the store's write loop like any other transient error. An idle connection
    that fails the ping is discarded and the pool hands out a fresh one (SQLAlchemy's
    "disconnect handling - pessimistic" via ``DisconnectionError`` from a checkout event).
    """

    @sa.event.listens_for(engine.pool, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["xcomlab_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("xcomlab_idle_since")  # None: connected just now
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except dbapi_error(engine.dialect) as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _sqlite_pragmas(engine: sa.Engine) -> None:
    """WAL (readers never block the writer) and ``BEGIN IMMEDIATE`` writes.

    pysqlite's own transaction handling is switched off so that each transaction takes
    the write lock up front; a deferred transaction that upgrades later can fail with
    "database is locked" without waiting for the busy timeout.
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        read = conn.get_execution_options().get("xcomlab_read", False)
        if read == "single":
            return  # one SELECT: autocommit mode gives it its own consistent read transaction
        # straight to the driver: the same statement without SQLAlchemy's execute machinery
        driver: Any = conn.connection.driver_connection
        driver.execute("BEGIN" if read else "BEGIN IMMEDIATE")
