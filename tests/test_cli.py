"""The CLI: a thin shell over the public API; output checked against the sample's truth."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from xcomlab.cli import main

AF2 = ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql"
AF3 = ROOT / "data" / "samples" / "af3" / "airflow.db"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_profile_json_has_the_summary_keys(capsys: pytest.CaptureFixture[str]) -> None:
    s = _json(capsys, "profile", str(AF3), "--json")
    truth = json.loads((AF3.parent / "truth.json").read_text())
    assert (s["rows"], s["value_bytes"], s["by_dag"]) == (truth["rows"], truth["value_bytes"], truth["by_dag"])
    assert s["secrets"] == len({(x["table"], x["dag_id"], x["task_id"], x["run_id"], x["key"], x["map_index"])
                                for x in truth["secrets"]})
    assert s["limit_violations"]["mysql_blob"] == 2 and s["migration_blockers"] == {}
    for key in ("airflow_schema", "references", "pickled", "nan_values", "internal_rows",
                "first_timestamp", "last_timestamp", "sizes_exact", "tables"):
        assert key in s


def test_audit_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "audit", str(AF2), "--json", "--policy", "10000")
    assert out["limit_violations"]["policy_10000"] == 2
    assert out["migration"]["verdict"] == "data loss"
    assert out["migration"]["blockers"]["pickled"] == 56
    assert [v["value_bytes"] for v in out["violations"]] == sorted(
        (v["value_bytes"] for v in out["violations"]), reverse=True)


def test_audit_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(AF2), "--target", "3.0.6"]) == 0
    text = capsys.readouterr().out
    assert "MigrationAudit(to 3.0.6 on postgresql: blocked" in text  # NaN fails the 3.0 cast
    assert "mysql_blob" in text


def test_scan_masks_values(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "scan", str(AF3), "--json")
    assert out["rows_flagged"] == 7 and out["by_kind"]["aws_access_key"] == 1
    evidence = [f["evidence"] for f in out["findings"]]
    assert any(e.startswith("ghp_…(") for e in evidence)
    assert all("chars)" in e for e in evidence if not e.startswith("BEGIN"))
    assert main(["scan", str(AF3)]) == 0
    assert "SecretReport(7 of" in capsys.readouterr().out


def test_bad_source_exits_2(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["audit", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith("xcomlab: ")
