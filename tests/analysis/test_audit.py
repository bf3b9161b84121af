"""Limits and the Airflow 2 → 3 upgrade audit."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT

import xcomlab
from xcomlab.analysis.audit import JSONB_MAX_BYTES, Limit, check_limits, limits, migration_audit

HEADER = "dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"


def _frame(tmp_path, values: list[bytes], dag_run_ids: list[int] | None = None) -> pd.DataFrame:
    """An Airflow 2 psql CSV with these raw values."""
    ids = dag_run_ids or list(range(1, len(values) + 1))
    lines = [f"{r},t{i},-1,return_value,d,run{r},\\x{v.hex()},2026-01-01 00:00:0{i % 10}+00"
             for i, (r, v) in enumerate(zip(ids, values, strict=True))]
    p = tmp_path / "xcom.csv"
    p.write_text(HEADER + "\n".join(lines) + "\n")
    return xcomlab.load_export(p)


def test_every_bundled_limit_has_a_source_and_date() -> None:
    lims = limits()
    assert {lim.target for lim in lims} >= {"mysql_blob", "postgresql_jsonb", "sqlite_max_length",
                                           "mariadb_max_allowed_packet", "policy_48kb"}
    assert all(lim.source and lim.date for lim in lims)
    assert next(lim for lim in lims if lim.target == "postgresql_jsonb").limit_bytes == JSONB_MAX_BYTES


def test_rows_over_each_limit(tmp_path) -> None:
    """Exactly the rows strictly over a limit count; a user policy is added by name."""
    sizes = [10, 49_344, 49_345, 65_535, 65_536, 2_000_000]
    frame = _frame(tmp_path, [b"1" * n for n in sizes])
    rep = check_limits(frame, policy_bytes={"team_policy_1mb": 1_000_000})
    c = rep.counts
    assert c["policy_48kb"] == 4 and c["mysql_blob"] == 2 and c["team_policy_1mb"] == 1
    assert c["postgresql_jsonb"] == 0 and c["mariadb_max_allowed_packet"] == 0
    assert rep.violations["value_bytes"].tolist() == [2_000_000, 65_536, 65_535, 49_345]
    assert rep.violations["targets"].iloc[0] == "mysql_blob, policy_48kb, policy_1mib, team_policy_1mb"  # CSV order
    assert "4 rows over a limit" in repr(rep)


def test_custom_targets_only(tmp_path) -> None:
    frame = _frame(tmp_path, [b"12345", b"1"])
    rep = check_limits(frame, [Limit("tiny", 3, "hard")])
    assert rep.counts == {"tiny": 1}


def test_migration_audit_finds_pickles_nan_and_non_json(tmp_path) -> None:
    values = [b'{"a": 1}', b"\x80\x04K*.", b"[1.5, NaN]", b"not json at all", b'"ok"']
    frame = _frame(tmp_path, values)
    pg = migration_audit(frame, target="3.0.6", dialect="postgresql")
    assert pg.blockers == {"pickled": 1, "nan_values": 1, "not_json": 1, "jsonb_oversize": 0}
    assert pg.verdict == "blocked"
    assert pg.summary.loc["nan_values", "severity"] == "blocker"  # 3.0.x: the cast fails
    new = migration_audit(frame, target="3.3.2", dialect="postgresql")
    assert new.summary.loc["nan_values", "severity"] == "warning"
    assert "null" in new.summary.loc["nan_values", "explanation"]
    mysql = migration_audit(frame, target="3.3.2", dialect="mysql")
    assert mysql.verdict == "data loss"  # pickles archived; nothing fails on MySQL
    assert set(pg.rows["kind"]) == {"pickled", "nan_values", "not_json"}


def test_migration_audit_dag_runs(tmp_path) -> None:
    frame = _frame(tmp_path, [b"1", b"2", b"3"], dag_run_ids=[1, 2, 3])
    audit = migration_audit(frame, dag_run_ids=[1, 3])
    assert audit.blockers["dag_run_missing"] == 1 and audit.verdict == "data loss"
    assert "dag_run not checked" in migration_audit(frame).notes[0]


def test_migration_audit_rejects_bad_target(tmp_path) -> None:
    with pytest.raises(ValueError, match="expected an Airflow 3 release"):
        migration_audit(_frame(tmp_path, [b"1"]), target="2.11")


def test_audit_of_bundled_samples() -> None:
    af2 = xcomlab.load_export(ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql")
    audit = migration_audit(af2, target="3.3.2")
    assert audit.blockers["pickled"] == 56 and audit.blockers["nan_values"] == 2
    assert audit.verdict == "data loss"
    af3 = xcomlab.load_export(ROOT / "data" / "samples" / "af3" / "airflow.db")
    assert migration_audit(af3).verdict == "not applicable"
    rep = check_limits(af3)
    assert rep.counts["policy_48kb"] == 3 and rep.counts["mysql_blob"] == 2
