"""CREATE TABLE statements for the xcom tables, per database, as Airflow makes them.

Column types follow docs/airflow-xcom.md#schema-2-3 and #schema-3 (compiled from the 2.10.5 and
3.3.2 models); archive tables made by ``airflow db clean`` are ``CREATE TABLE AS`` copies
without keys or indexes (docs/airflow-xcom.md#db-clean), ``_xcom_archive`` keeps the primary key
(docs/airflow-xcom.md#migration-0049).
"""

from __future__ import annotations

from typing import Final

__all__ = ["create_statements"]

_TYPES: Final = {
    # column: (postgresql, mysql, sqlite)
    "dag_run_id": ("integer NOT NULL", "INTEGER NOT NULL", "INTEGER NOT NULL"),
    "task_id": ("character varying(250) NOT NULL", "VARCHAR(250) COLLATE utf8mb3_bin NOT NULL",
                "VARCHAR(250) NOT NULL"),
    "map_index": ("integer DEFAULT '-1'::integer NOT NULL", "INTEGER NOT NULL DEFAULT '-1'",
                  "INTEGER DEFAULT '-1' NOT NULL"),
    "key": ("character varying(512) NOT NULL", "VARCHAR(512) COLLATE utf8mb3_bin NOT NULL",
            "VARCHAR(512) NOT NULL"),
    "dag_result": ("boolean", "BOOL", "BOOLEAN"),
    "dag_id": ("character varying(250) NOT NULL", "VARCHAR(250) COLLATE utf8mb3_bin NOT NULL",
               "VARCHAR(250) NOT NULL"),
    "run_id": ("character varying(250) NOT NULL", "VARCHAR(250) COLLATE utf8mb3_bin NOT NULL",
               "VARCHAR(250) NOT NULL"),
    "timestamp": ("timestamp with time zone NOT NULL", "TIMESTAMP(6) NOT NULL", "TIMESTAMP NOT NULL"),
}
_VALUE: Final = {
    ("postgresql", "bytes"): "bytea", ("postgresql", "json"): "jsonb",
    ("mysql", "bytes"): "LONGBLOB", ("mysql", "json"): "JSON",
    ("sqlite", "bytes"): "BLOB", ("sqlite", "json"): "JSON",
}
_DIALECTS: Final = ("postgresql", "mysql", "sqlite")


def _quote(dialect: str, name: str) -> str:
    if dialect == "mysql":
        return f"`{name}`"
    return f'"{name}"' if name in ("key", "timestamp", "value") else name


def create_statements(dialect: str, table: str, columns: list[str], value_kind: str) -> list[str]:
    """Statements creating ``table`` with ``columns`` (physical order) in ``dialect``.

    ``value_kind`` is ``"bytes"`` (bytea/BLOB) or ``"json"``. Live ``xcom`` and
    ``_xcom_archive`` get Airflow's primary key; ``xcom`` also gets its two indexes.
    """
    if dialect not in _DIALECTS:
        msg = f"dialect {dialect!r}; expected one of {_DIALECTS}"
        raise ValueError(msg)
    d = _DIALECTS.index(dialect)
    cols = []
    for c in columns:
        typ = _VALUE[dialect, value_kind] if c == "value" else _TYPES[c][d]
        if table.startswith("_airflow_deleted__"):  # CREATE TABLE AS keeps no constraints
            typ = typ.replace(" NOT NULL", "").split(" DEFAULT")[0]
        cols.append(f"    {_quote(dialect, c)} {typ}")
    keyed = table in ("xcom", "_xcom_archive")
    if keyed:
        pk = ", ".join(_quote(dialect, c) for c in ("dag_run_id", "task_id", "map_index", "key"))
        name = "xcom_pkey" if table == "xcom" else f"{table}_pkey"
        cols.append(f"    CONSTRAINT {name} PRIMARY KEY ({pk})")
    tname = f"`{table}`" if dialect == "mysql" else table
    out = [f"CREATE TABLE {tname} (\n" + ",\n".join(cols) + "\n)"]
    if table == "xcom":
        k = _quote(dialect, "key")
        ti = ", ".join(_quote(dialect, c) for c in ("dag_id", "task_id", "run_id", "map_index"))
        out.append(f"CREATE INDEX idx_xcom_key ON {tname} ({k})")
        out.append(f"CREATE INDEX idx_xcom_task_instance ON {tname} ({ti})")
    return out
