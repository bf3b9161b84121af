"""The CLI: a thin shell over the public API; output checked against the sample's truth."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert "Upgrade to Airflow 3.0.6 on postgresql: blocked" in text  # NaN fails the 3.0 cast
    assert "mysql_blob" in text


def test_scan_masks_values(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "scan", str(AF3), "--json")
    assert out["rows_flagged"] == 7 and out["by_kind"]["aws_access_key"] == 1
    evidence = [f["evidence"] for f in out["findings"]]
    assert any(e.startswith("ghp_…(") for e in evidence)
    assert all("chars)" in e for e in evidence if not e.startswith("BEGIN"))
    assert main(["scan", str(AF3)]) == 0
    assert "Secrets: 7 of 10,020 rows flagged" in capsys.readouterr().out


def test_bad_source_exits_2(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["audit", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith("xcomlab: ")


def test_forecast_json(capsys: pytest.CaptureFixture[str]) -> None:
    truth = json.loads((AF3.parent / "truth.json").read_text())
    out = _json(capsys, "forecast", str(AF3), "--json", "--ceiling", "5MB", "--ceiling", "20GB",
                "--disk-ratio", "1", "--horizon", "90")
    assert out["current_bytes"] == truth["value_bytes"] and out["disk_ratio"] == 1
    by_name = {t["ceiling"]: t for t in out["thresholds"]}
    assert by_name["5MB"]["ceiling_bytes"] == 5e6 and by_name["20GB"]["days"] is None
    assert [p["date"][:10] for p in out["projection"]][-1] > out["now"][:10]
    assert out["fit"][0]["dag_id"] == "(total)" and len(out["fit"]) == len(truth["by_dag"]) + 1
    # Twice the on-disk bytes per value byte: a 5 MB ceiling comes sooner.
    ceiling = _json(capsys, "forecast", str(AF3), "--json", "--ceiling", "5MB", "--disk-ratio", "1")
    doubled = _json(capsys, "forecast", str(AF3), "--json", "--ceiling", "5MB", "--disk-ratio", "2")
    assert doubled["thresholds"][0]["days"] < ceiling["thresholds"][0]["days"]


def test_forecast_with_a_retention_policy_levels_off(capsys: pytest.CaptureFixture[str]) -> None:
    plain = _json(capsys, "forecast", str(AF3), "--json", "--disk-ratio", "1")
    kept = _json(capsys, "forecast", str(AF3), "--json", "--disk-ratio", "1", "--max-age", "7")
    assert kept["retention"] and not plain["retention"]
    assert kept["start_bytes"] < kept["current_bytes"] == plain["start_bytes"]
    assert kept["projection"][-1]["expected"] < plain["projection"][0]["expected"]


def test_forecast_text_uses_the_default_ceilings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forecast", str(AF3), "--by-dag", "--dialect", "sqlite"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Value bytes now 1.2 MiB") and "20 GB" in text and "50 GiB" in text
    assert "on-disk ratio" in text and "note: fitted" in text


def test_forecast_bad_ceiling_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["forecast", str(AF3), "--ceiling", "lots"])
    assert "expected a size such as 20GB" in capsys.readouterr().err


def test_retention_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "retention", str(AF3), "--json", "--max-age", "30", "--disk-ratio", "2")
    t = out["totals"]
    assert 0 < t["rows_freed"] < t["rows"] and t["on_disk_bytes_freed"] == 2 * t["bytes_freed"]
    assert out["db_clean_command"].startswith("airflow db clean --clean-before-timestamp '2026-08-05")
    assert sum(d["rows_freed"] for d in out["by_dag"]) == t["rows_freed"]
    assert any("object-store" in n for n in out["limitations"])
    keep = _json(capsys, "retention", str(AF3), "--json", "--keep-last", "3", "--disk-ratio", "1")
    assert keep["db_clean_command"] is None


def test_retention_text_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retention", str(AF3), "--max-age", "30", "--dag-max-age", "ads_sync=7"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Frees ") and "--dag-ids ads_sync" in text
    assert main(["retention", str(AF3)]) == 2
    assert "give a policy" in capsys.readouterr().err
    assert main(["retention", str(AF3), "--dag-max-age", "ads_sync"]) == 2
    assert "DAG_ID=DAYS" in capsys.readouterr().err


def test_recommend_json(capsys: pytest.CaptureFixture[str]) -> None:
    # af3 is an airflow.db (SQLite): --dialect prices the database as RDS PostgreSQL instead
    out = _json(capsys, "recommend", str(AF3), "--json", "--object-stores", "s3,gcs", "--dialect", "postgresql")
    cands = {c["name"]: c for c in out["candidates"]}
    assert out["best"] in cands and out["reason"].startswith(out["best"])
    assert {c["object_store"] for c in cands.values()} == {"", "s3", "gcs"}
    assert set(out["pareto"]) == {n for n, c in cands.items() if c["pareto"]}
    db = cands["db"]  # bundled RDS gp3 price, docs/prices.md#database-storage: $0.115 per GB-month
    assert db["db_storage_usd"] == pytest.approx(db["peak_db_bytes"] / 1e9 * 0.115)
    assert set(out["settings"]) == {"common_io", "xcomlab"} and out["notes"]


def test_recommend_price_override_and_ceiling(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "recommend", str(AF3), "--json", "--object-stores", "s3", "--dialect", "postgresql",
                "--price", "rds-postgresql-gp3.storage=100", "--db-ceiling", "1MB")
    db = {c["name"]: c for c in out["candidates"]}["db"]
    assert db["db_storage_usd"] == pytest.approx(db["peak_db_bytes"] / 1e9 * 100)
    assert "OVER your ceiling" in out["reason"]  # no candidate keeps the DB under 1 MB


def test_recommend_text_and_errors(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["recommend", str(AF3), "--object-stores", "gcs", "--latency-budget-ms", "50"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Recommended: ") and "object-gcs" in text and "note: " in text
    assert ("AIRFLOW__XCOMLAB__THRESHOLD=" in text) != ("Settings: none needed" in text)
    assert main(["recommend", str(AF3), "--price", "s3.put"]) == 2
    assert "SERVICE.ITEM=USD" in capsys.readouterr().err
    bad = tmp_path / "prices.csv"
    bad.write_text("provider,service\naws,s3\n")
    assert main(["recommend", str(AF3), "--prices", str(bad)]) == 2
    assert "missing columns" in capsys.readouterr().err


def test_without_the_lab_extra_the_cli_names_it(tmp_path: Path) -> None:
    """A base install (backend only) has no pandas: the command says which extra to add."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pandas'] = None; sys.argv = ['xcomlab', 'profile', 'x']; "
            "from xcomlab.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("xcomlab: the command line needs the toolkit, which this "
                                   "install lacks (pandas is missing): pip install 'xcomlab[lab]'")
