"""Measured sizes: PostgreSQL, MariaDB and SQLite report their XCom tables, read-only, beside the model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SAMPLES

import xcomlab
from xcomlab.analysis.measured import compare, measured_ratio
from xcomlab.cli import main
from xcomlab.errors import UnsupportedSourceError
from xcomlab.ingest.dbsize import measure_sizes
from xcomlab.synth import SynthConfig, generate, write

AF3 = SAMPLES / "af3" / "airflow.db"
#: Values around and above the TOAST threshold, so heap, TOAST and indexes all hold bytes.
CONFIG = SynthConfig(seed=3, airflow="3.3", rows=2000, median_value_bytes=3000, offenders=0,
                     offload_threshold_bytes=None, pickled_dags=0, secrets=0, nan_values=0)


def _pages(path: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return con.execute("PRAGMA page_count").fetchone()[0], con.execute("PRAGMA page_size").fetchone()[0]


def test_sqlite_dbstat_on_the_af3_sample() -> None:
    before = AF3.stat().st_mtime_ns
    m = measure_sizes(AF3)
    assert m.method == "dbstat" and set(m.tables) == {"xcom", "_xcom_archive", "_airflow_deleted__xcom__20260516030000"}
    pages, size = _pages(AF3)
    assert m.database_bytes == pages * size and m.free_bytes == 0
    x = m.tables["xcom"]
    assert x.total_bytes == x.table_bytes + x.out_of_line_bytes + x.index_bytes and x.out_of_line_bytes > 0
    assert m.total_bytes("all") == sum(t.total_bytes for t in m.tables.values()) <= m.database_bytes
    assert AF3.stat().st_mtime_ns == before  # read-only
    frame = xcomlab.load_export(AF3)
    table = compare(frame, m)
    assert table.loc["on_disk_bytes", "measured_bytes"] == x.total_bytes
    assert abs(table.loc["on_disk_bytes", "error_pct"]) < 5  # the sample is a rebuilt (VACUUMed) file
    assert measured_ratio(frame, m) == pytest.approx(x.total_bytes / 1_212_127)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedSourceError, match="not a database"):
        measure_sizes(SAMPLES / "af2" / "xcom_pgdump.sql")
    with pytest.raises(FileNotFoundError):
        measure_sizes(tmp_path / "missing.db")


def test_postgresql(pg_url: str) -> None:
    write(generate(CONFIG), "database", pg_url)
    engine = sa.create_engine(pg_url)
    with engine.begin() as con:  # a dead tuple per deleted row until VACUUM
        con.exec_driver_sql("DELETE FROM xcom WHERE map_index = (SELECT max(map_index) FROM xcom)")
        con.exec_driver_sql("CREATE TABLE _airflow_deleted__xcom__20260101 AS SELECT * FROM xcom LIMIT 100")
        con.exec_driver_sql("CREATE TABLE other AS SELECT * FROM xcom LIMIT 10")
        truth = con.exec_driver_sql(
            "SELECT pg_total_relation_size('xcom'), pg_indexes_size('xcom'), "
            "pg_total_relation_size('_airflow_deleted__xcom__20260101')").one()
    engine.dispose()
    m = measure_sizes(pg_url)
    assert set(m.tables) == {"xcom", "_airflow_deleted__xcom__20260101"}  # `other` is not an XCom table
    x = m.tables["xcom"]
    assert (x.total_bytes, x.index_bytes) == (truth[0], truth[1])
    assert x.table_bytes + x.out_of_line_bytes + x.index_bytes == x.total_bytes and x.out_of_line_bytes > 0
    assert m.total_bytes("all") == truth[0] + truth[2]
    assert m.value_sample is not None and 0 < m.value_sample["ratio"] < 1  # pglz compressed the JSON
    frame = xcomlab.load_export(pg_url)
    table = compare(frame, m)
    print("\n" + table.to_string())
    assert table.loc["on_disk_bytes", "measured_bytes"] == truth[0]
    assert table.loc["on_disk_bytes_all_tables", "measured_bytes"] == truth[0] + truth[2]


def test_postgresql_through_the_cli(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    write(generate(CONFIG), "database", pg_url)
    assert main(["profile", pg_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = out["measured_on_disk"]
    assert out["deployment"]["dialect"] == "postgresql" and m["method"] == "pg_total_relation_size"
    live = m["comparison"][0]
    assert live["figure"] == "on_disk_bytes" and live["modelled_bytes"] == out["on_disk_bytes"]["postgresql"]
    assert live["measured_bytes"] == m["xcom_bytes"] > 0
    assert main(["forecast", pg_url, "--json"]) == 0
    fc = json.loads(capsys.readouterr().out)
    assert fc["disk_ratio"] == pytest.approx(m["xcom_bytes"] / out["value_bytes"])
    assert fc["disk_ratio_source"].startswith("postgresql measured (pg_total_relation_size)")


def test_mariadb(mysql_url: str) -> None:
    write(generate(CONFIG), "database", mysql_url)
    m = measure_sizes(mysql_url)
    assert m.dialect == "mysql" and set(m.tables) == {"xcom"}
    x = m.tables["xcom"]
    # right after the load InnoDB's statistics may still describe an empty table: the .ibd
    # file is the current figure then, and the note says so
    assert x.file_bytes is not None and x.total_bytes >= min(x.table_bytes + x.index_bytes, x.file_bytes)
    assert x.total_bytes > 2000 * 1000  # 2,000 rows of ~3 kB values
    frame = xcomlab.load_export(mysql_url)
    table = compare(frame, m)
    print("\n" + table.to_string())
    assert -50 < table.loc["on_disk_bytes", "error_pct"] < 50  # as inserted vs the model's rebuilt table
