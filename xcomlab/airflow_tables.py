"""Airflow's ``xcom`` tables as SQLAlchemy Core objects: the one definition xcomlab uses.

Column types, order, keys and indexes follow the ``xcom`` model of Airflow 2.10.5 and
3.3.2 (docs/airflow-xcom.md#schema-2-3, docs/airflow-xcom.md#schema-3): ids are ``VARCHAR`` (``utf8mb3_bin`` on
MySQL), ``map_index`` defaults to ``-1``, ``value`` is ``bytea``/``LONGBLOB``/``BLOB``
(Airflow 2) or ``jsonb``/``JSON`` (Airflow 3), primary key ``xcom_pkey (dag_run_id,
task_id, map_index, key)`` with indexes ``idx_xcom_key`` and ``idx_xcom_task_instance``.
Archive tables made by ``airflow db clean`` are ``CREATE TABLE AS`` copies without keys,
defaults or ``NOT NULL`` (docs/airflow-xcom.md#db-clean); ``_xcom_archive`` keeps the primary key
(docs/airflow-xcom.md#migration-0049).

:mod:`xcomlab.synth` writes exports with :func:`create_statements`,
:mod:`xcomlab.models.complexity` times queries on the same table, and the reference
backend (:mod:`xcomlab.backend.table`) stores its rows in :func:`xcom_table`. SQLAlchemy
Core only: importing this module loads neither pandas nor numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, CreateTable

from xcomlab.errors import ParameterError

__all__ = [
    "AIRFLOW3_COLUMNS",
    "DIALECTS",
    "MYSQL_ID_COLLATION",
    "NoPadId",
    "UtcDateTime",
    "create_statements",
    "id_type",
    "nopad_collation",
    "xcom_table",
]

#: Dialects :func:`create_statements` writes DDL for.
DIALECTS: Final = ("postgresql", "mysql", "sqlite")
#: Collation Airflow gives id columns on MySQL (case-sensitive, as ids compare in Airflow).
MYSQL_ID_COLLATION: Final = "utf8mb3_bin"
#: Identifier collations for xcomlab's own store on MySQL/MariaDB: binary (case-sensitive, as
#: Airflow's ``*_bin``) and NO PAD, so ``"k"`` and ``"k "`` are different keys. ``utf8mb4_bin``
#: is a PAD SPACE collation on MariaDB (trailing spaces ignored in comparisons and unique
#: keys); MariaDB has ``utf8mb4_nopad_bin`` since 10.2 and MySQL 8.0 ``utf8mb4_0900_bin``
#: (MariaDB KB "Character Sets and Collations", "NO PAD collations"; MySQL 8.0 manual §10.8.5
#: "Trailing Space Handling in Comparisons"; read 2026-11-25). Older servers keep ``utf8mb4_bin``.
MARIADB_NOPAD_COLLATION: Final = "utf8mb4_nopad_bin"
MYSQL8_NOPAD_COLLATION: Final = "utf8mb4_0900_bin"
MYSQL_BIN_COLLATION: Final = "utf8mb4_bin"
#: Physical column order of Airflow 3.3's ``xcom`` table (docs/airflow-xcom.md#column-order).
AIRFLOW3_COLUMNS: Final = ("dag_run_id", "task_id", "map_index", "key", "dag_result", "dag_id",
                           "run_id", "value", "timestamp")
_ID_LENGTHS: Final = {"task_id": 250, "key": 512, "dag_id": 250, "run_id": 250}
_SQL_DIALECTS: Final = {"postgresql": postgresql.dialect, "mysql": mysql.dialect,
                        "sqlite": sqlite.dialect}


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps in UTC: aware on PostgreSQL, naive UTC on MySQL/SQLite (as Airflow stores them).

    DDL: ``timestamp with time zone`` on PostgreSQL, ``TIMESTAMP(6)`` on MySQL,
    ``TIMESTAMP`` on SQLite.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.TIMESTAMP(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@compiles(UtcDateTime, "sqlite")
def _sqlite_timestamp(_type: UtcDateTime, _compiler: Any, **_kw: Any) -> str:
    return "TIMESTAMP"  # Airflow's declared type (NUMERIC affinity, as DATETIME)


class NoPadId(sa.types.TypeDecorator[str]):
    """An identifier column: VARCHAR, with a binary NO PAD collation on MySQL/MariaDB
    (chosen from the connected server's version, :func:`nopad_collation`)."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.VARCHAR(self.length,
                                                         collation=nopad_collation(dialect)))
        return dialect.type_descriptor(sa.String(self.length))


def nopad_collation(dialect: sa.Dialect) -> str:
    """The binary NO PAD identifier collation for a connected MySQL/MariaDB dialect."""
    version = tuple(getattr(dialect, "server_version_info", None) or ())
    if getattr(dialect, "is_mariadb", False):
        return MARIADB_NOPAD_COLLATION if version >= (10, 2) else MYSQL_BIN_COLLATION
    return MYSQL8_NOPAD_COLLATION if version >= (8, 0) else MYSQL_BIN_COLLATION


def id_type(length: int, collation: str | None = MYSQL_ID_COLLATION) -> sa.types.TypeEngine[str]:
    """An id column's type: ``VARCHAR(length)``, on MySQL/MariaDB with ``collation``
    (``None``: binary NO PAD for the connected server, :class:`NoPadId`)."""
    if collation is None:
        return NoPadId(length)
    binary = mysql.VARCHAR(length, collation=collation)
    # one dialect name per call: SQLAlchemy 1.4 (Airflow 2's) takes one, 2.x several
    return sa.String(length).with_variant(binary, "mysql").with_variant(binary, "mariadb")


def _value(kind: str) -> sa.types.TypeEngine[Any]:
    if kind == "json":
        return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    blob = mysql.LONGBLOB()
    return sa.LargeBinary().with_variant(blob, "mysql").with_variant(blob, "mariadb")


def _column(name: str, kind: str, collation: str | None, constrained: bool) -> sa.Column[Any]:
    nullable = not constrained
    if name in ("dag_run_id", "map_index"):
        default = sa.text("'-1'") if name == "map_index" and constrained else None
        return sa.Column(name, sa.Integer(), nullable=nullable, server_default=default, autoincrement=False)
    if name in _ID_LENGTHS:
        return sa.Column(name, id_type(_ID_LENGTHS[name], collation), nullable=nullable)
    if name == "dag_result":
        return sa.Column(name, sa.Boolean(), nullable=True, default=False)
    if name == "value":
        return sa.Column(name, _value(kind), nullable=True)
    if name == "timestamp":
        return sa.Column(name, UtcDateTime(), nullable=nullable)
    msg = f"column {name!r}; expected one of {list(AIRFLOW3_COLUMNS)}"
    raise ParameterError(msg)


def xcom_table(metadata: sa.MetaData, name: str = "xcom", *, columns: Sequence[str] = AIRFLOW3_COLUMNS,
               value_kind: str = "json",
               mysql_id_collation: str | None = MYSQL_ID_COLLATION) -> sa.Table:
    """Airflow's ``xcom`` table (or an archive copy) named ``name`` in ``metadata``.

    Parameters
    ----------
    metadata
        Where the table is defined.
    name
        ``xcom`` gets the primary key ``<name>_pkey`` and both indexes, ``_xcom_archive``
        the primary key only, ``_airflow_deleted__*`` neither (nor ``NOT NULL``).
    columns
        Physical column order (Airflow 2 tables have no ``dag_result``).
    value_kind
        ``"bytes"`` (bytea/BLOB, Airflow 2) or ``"json"`` (jsonb/JSON, Airflow 3).
    mysql_id_collation
        Collation of the id columns on MySQL; ``None``: binary NO PAD for the connected
        server (xcomlab's store, where ``"k"`` and ``"k "`` must differ).
    """
    if value_kind not in ("bytes", "json"):
        msg = f"value_kind={value_kind!r}; expected 'bytes' or 'json'"
        raise ParameterError(msg)
    constrained = not name.startswith("_airflow_deleted__")
    cols: list[Any] = [_column(c, value_kind, mysql_id_collation, constrained) for c in columns]
    if constrained:
        cols.append(sa.PrimaryKeyConstraint("dag_run_id", "task_id", "map_index", "key", name=f"{name}_pkey"))
    if constrained and name != "_xcom_archive":
        cols.append(sa.Index(f"idx_{name}_key", "key"))
        cols.append(sa.Index(f"idx_{name}_task_instance", "dag_id", "task_id", "run_id", "map_index"))
    return sa.Table(name, metadata, *cols)


def create_statements(dialect: str, table: str, columns: Sequence[str], value_kind: str) -> list[str]:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of :func:`xcom_table` in ``dialect``.

    ``dialect`` is one of :data:`DIALECTS`; the statements are plain SQL strings for a
    DBAPI cursor.
    """
    if dialect not in DIALECTS:
        msg = f"dialect {dialect!r}; expected one of {DIALECTS}"
        raise ParameterError(msg)
    t = xcom_table(sa.MetaData(), table, columns=columns, value_kind=value_kind)
    d = _SQL_DIALECTS[dialect]()
    table_sql = str(CreateTable(t).compile(dialect=d)).strip()
    out = ["\n".join(line.rstrip().replace("\t", "    ") for line in table_sql.splitlines())]
    out += [str(CreateIndex(i).compile(dialect=d)).strip()
            for i in sorted(t.indexes, key=lambda i: str(i.name))]
    return out
