"""Databases: airflow.db files and live PostgreSQL / MariaDB, sizes computed in SQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import xcomlab
from xcomlab.errors import ExportFormatError, UnsupportedSourceError

VALUES = ['42', '{"a": [1.5, 2]}', '"s3://aws_default@b/x/d/r/t/u.gz"', None, '"true"',
          '{"__classname__": "builtins.tuple", "__version__": 1, "__data__": ['
          + ", ".join(map(str, range(3000))) + "]}", '"{\\"a\\": NaN}"']
KEYS = ["return_value", "return_value", "return_value", "x", "past_depends_met", "return_value", "k"]
EXPECTED_ENC = ["json", "json", "json", "null", "double_json", "serde", "double_json"]


def _ddl(dialect: str, json_values: bool) -> str:
    key = "`key`" if dialect == "mysql" else "key"
    value = {("postgresql", True): "jsonb", ("postgresql", False): "bytea",
             ("mysql", True): "JSON", ("mysql", False): "LONGBLOB",
             ("sqlite", True): "JSON", ("sqlite", False): "BLOB"}[dialect, json_values]
    ts = "TIMESTAMP WITH TIME ZONE" if dialect == "postgresql" else "TIMESTAMP(6)" if dialect == "mysql" else "TIMESTAMP"
    return (f"CREATE TABLE xcom (dag_run_id INTEGER NOT NULL, task_id VARCHAR(250) NOT NULL, "
            f"map_index INTEGER NOT NULL DEFAULT -1, {key} VARCHAR(512) NOT NULL, "
            f"{'dag_result BOOLEAN, ' if json_values else ''}dag_id VARCHAR(250) NOT NULL, "
            f"run_id VARCHAR(250) NOT NULL, value {value}, timestamp {ts} NOT NULL)")


def _fill(url: str, json_values: bool) -> None:
    engine = sa.create_engine(url)
    d = engine.dialect.name
    with engine.begin() as c:
        c.exec_driver_sql(_ddl("mysql" if d == "mariadb" else d, json_values))
        cols = "dag_run_id, task_id, map_index, {k}, {dr}dag_id, run_id, value, timestamp".format(
            k="`key`" if d in ("mysql", "mariadb") else "key", dr="dag_result, " if json_values else "")
        params = ":a, :b, :c, :d, " + (":e, " if json_values else "") + ":f, :g, :h, :i"
        for i, (k, v) in enumerate(zip(KEYS, VALUES, strict=True)):
            value = v if json_values or v is None else v.encode()
            c.execute(sa.text(f"INSERT INTO xcom ({cols}) VALUES ({params})"),
                      dict(a=1, b=f"t{i}", c=-1, d=k, e=i == 0, f="d1", g="r1", h=value,
                           i="2026-11-24 06:07:28.326401"))
    engine.dispose()


def _check(frame, json_values: bool) -> None:  # type: ignore[no-untyped-def]
    sizes = [None if v is None else len(v.encode()) for v in VALUES]
    assert [None if pd.isna(x) else int(x) for x in frame["value_bytes"].astype(object)] == sizes
    expected = EXPECTED_ENC if json_values else [e if e != "double_json" else "json" for e in EXPECTED_ENC]
    assert frame["encoding"].tolist() == expected
    assert frame["has_nan"].tolist() == [False] * 6 + [json_values]  # 2.x: NaN inside a string
    assert frame["ref_uri"].iloc[2] == "s3://aws_default@b/x/d/r/t/u.gz"
    assert frame["airflow_schema"].iloc[0] == ("3.3+" if json_values else "2.3-2.11")


@pytest.mark.parametrize("json_values", [True, False], ids=["af3", "af2"])
def test_postgresql_live(pg_url: str, json_values: bool) -> None:
    """jsonb and bytea tables on a real PostgreSQL: sizes from octet_length, classes right."""
    _fill(pg_url, json_values)
    f = xcomlab.load_export(pg_url, chunk_rows=3)
    if json_values:  # jsonb re-renders values; compare with the server's own text
        engine = sa.create_engine(pg_url)
        with engine.connect() as c:
            server = c.exec_driver_sql("SELECT octet_length(value::text) FROM xcom ORDER BY task_id").scalars().all()
        engine.dispose()
        assert [None if pd.isna(x) else int(x) for x in f["value_bytes"].astype(object)] == server
    else:
        _check(f, json_values)
    assert f["encoding"].tolist()[-2:] == (["serde", "double_json"] if json_values else ["serde", "json"])


@pytest.mark.parametrize("json_values", [True, False], ids=["af3", "af2"])
def test_mariadb_live(mysql_url: str, json_values: bool) -> None:
    """JSON and LONGBLOB tables on a real MariaDB/MySQL server."""
    _fill(mysql_url, json_values)
    _check(xcomlab.load_export(mysql_url, chunk_rows=2), json_values)


@pytest.mark.parametrize("json_values", [True, False], ids=["af3", "af2"])
def test_sqlite_file(tmp_path: Path, json_values: bool) -> None:
    """An airflow.db file: NUMERIC-affinity JSON or BLOB, read through a read-only URI."""
    db = tmp_path / "airflow.db"
    _fill(f"sqlite:///{db}", json_values)
    before = db.read_bytes()
    _check(xcomlab.load_export(db), json_values)
    assert db.read_bytes() == before


def test_sqlite_archive_tables_are_reported_apart(tmp_path: Path) -> None:
    """_xcom_archive and db-clean copies load with their table names; summary counts xcom only."""
    db = tmp_path / "airflow.db"
    _fill(f"sqlite:///{db}", True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE _airflow_deleted__xcom__20260101000000 AS SELECT * FROM xcom WHERE task_id < 't3'")
    con.execute("CREATE TABLE _xcom_archive (dag_run_id INTEGER, task_id VARCHAR(250), map_index INTEGER, key VARCHAR(512), dag_id VARCHAR(250), run_id VARCHAR(250), value BLOB, timestamp TIMESTAMP)")
    con.execute("INSERT INTO _xcom_archive VALUES (1,'t','-1','return_value','d','r',?, '2026-01-01 00:00:00')", (b"\x80\x04K*.",))
    con.commit()
    con.close()
    f = xcomlab.load_export(db)
    assert f["source_table"].value_counts().to_dict() == {
        "xcom": 7, "_airflow_deleted__xcom__20260101000000": 3, "_xcom_archive": 1}
    arch = f[f["source_table"] == "_xcom_archive"]
    assert arch["encoding"].tolist() == ["pickle"] and arch["airflow_schema"].iloc[0] == "2.3-2.11"
    deleted = f[f["source_table"] == "_airflow_deleted__xcom__20260101000000"]
    assert deleted["airflow_schema"].iloc[0] == "3.3+"
    s = xcomlab.summarize(f)
    assert s["rows"] == 7 and s["tables"]["_xcom_archive"]["rows"] == 1
    only = xcomlab.load_export(db, tables="_xcom_archive")
    assert len(only) == 1
    with pytest.raises(ExportFormatError, match=r"no table \['nope'\]"):
        xcomlab.load_export(db, tables="nope")
    assert json.dumps(s)


def test_database_without_xcom_table(tmp_path: Path) -> None:
    """A database with no xcom-like table is named as such."""
    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("CREATE TABLE t (a int)").connection.commit()
    with pytest.raises(ExportFormatError, match="no xcom table found"):
        xcomlab.load_export(db)


def test_unknown_scheme() -> None:
    """A URL that is not a database says which schemes work."""
    with pytest.raises(UnsupportedSourceError, match="not a database xcomlab reads"):
        xcomlab.load_export("s3://bucket/xcom.csv")
