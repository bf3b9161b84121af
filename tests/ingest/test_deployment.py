"""Deployment inference: the database and Airflow release an export came from."""

from __future__ import annotations

import pytest
from conftest import SAMPLES

import xcomlab
from xcomlab.analysis.audit import Limit, check_limits
from xcomlab.errors import ParameterError
from xcomlab.ingest.deployment import DEFAULT_DIALECT, infer_deployment
from xcomlab.schema import empty_frame


@pytest.mark.parametrize(("path", "dialect", "how", "airflow"), [
    ("af3/airflow.db", "sqlite", "sqlite file", "3.3"),
    ("af2/xcom_pgdump.sql", "postgresql", "pg_dump", "2.x"),
    ("af3/xcom_copy.csv", None, "unknown", "3.3"),  # JSON text: any database could have written it
])
def test_inferred_from_the_source(path: str, dialect: str | None, how: str, airflow: str) -> None:
    dep = infer_deployment(xcomlab.load_export(SAMPLES / path))
    assert (dep.dialect, dep.dialect_from, dep.airflow) == (dialect, how, airflow)
    assert dep.dialect_or_default == (dialect or DEFAULT_DIALECT)
    assert bool(dep.notes) == (dialect is None or airflow == "2.x")


def test_a_psql_csv_of_bytea_is_postgresql(tmp_path) -> None:
    csv = tmp_path / "xcom.csv"
    csv.write_text("dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
                   "1,t,-1,return_value,d,r,\\x8004,2026-05-01 00:00:00+00\n"
                   "2,t,-1,return_value,d,r2,\\x7b7d,2026-05-02 00:00:00+00\n")
    dep = infer_deployment(xcomlab.load_export(csv))
    assert (dep.dialect, dep.dialect_from) == ("postgresql", "psql CSV of bytea hex")


def test_a_url_says_itself(tmp_path) -> None:
    db = SAMPLES / "af3" / "airflow.db"
    dep = infer_deployment(xcomlab.load_export(f"sqlite:///{db}"))
    assert (dep.dialect, dep.dialect_from) == ("sqlite", "database URL")


def test_overrides_win_and_are_checked() -> None:
    frame = xcomlab.load_export(SAMPLES / "af3" / "airflow.db")
    dep = infer_deployment(frame, dialect="mariadb", airflow="2.8")
    assert (dep.dialect, dep.dialect_from, dep.airflow, dep.airflow_from) == ("mysql", "given", "2.8", "given")
    with pytest.raises(ParameterError, match="dialect='oracle'"):
        infer_deployment(frame, dialect="oracle")
    hand_made = infer_deployment(empty_frame())
    assert hand_made.dialect is None and "assumed" in hand_made.describe()


def test_limits_that_apply_to_the_deployment() -> None:
    blob = Limit("mysql_blob", 65535, "hard", "mysql", "<=2.8")
    assert blob.applies("mysql", "2.8") and blob.applies("mysql", "2.x") and blob.applies(None, None)
    assert not blob.applies("sqlite", "3.3") and not blob.applies("mysql", "3.3")
    frame = xcomlab.load_export(SAMPLES / "af3" / "airflow.db")
    here = check_limits(frame, dialect="sqlite", airflow="3.3").summary
    assert not here.loc["mysql_blob", "applies"] and here.loc["mysql_blob", "rows_over"] == 2
    assert here.loc["sqlite_max_length", "applies"] and here.loc["policy_48kb", "applies"]
    assert check_limits(frame).summary["applies"].all()  # deployment unknown: every limit may apply


def test_summarize_and_cli_headline_what_applies(capsys: pytest.CaptureFixture[str]) -> None:
    from xcomlab.cli import main

    s = xcomlab.summarize(xcomlab.load_export(SAMPLES / "af3" / "airflow.db"))
    assert s["deployment"]["dialect"] == "sqlite" and "mysql_blob" not in s["limit_violations_here"]
    assert s["limit_violations"]["mysql_blob"] == 2
    assert main(["audit", str(SAMPLES / "af3" / "airflow.db")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Deployment: sqlite (sqlite file), Airflow 3.3 (schema 3.3+)")
    lines = [line for line in text.splitlines() if line.startswith(("mysql_blob", "sqlite_max_length"))]
    assert lines[0].startswith("sqlite_max_length") and "elsewhere" in lines[1]
    assert main(["audit", str(SAMPLES / "af3" / "airflow.db"), "--dialect", "mysql", "--airflow", "2.8",
                 "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["deployment"]["dialect"] == "mysql" and out["limit_violations_here"]["mysql_blob"] == 2
