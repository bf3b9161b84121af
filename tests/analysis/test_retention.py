"""Retention what-if: rows and bytes freed, steady state, and the db clean equivalent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES

import xcomlab
from xcomlab import schema as S
from xcomlab.analysis.retention import KeyRule, RetentionPolicy, db_clean_commands, retention
from xcomlab.errors import XcomlabError
from xcomlab.schema import primary_rows

from .test_forecast import make_frame

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-01-01 12:00", tz="UTC")


def _runs(dag: str, days: int = 10, *, ref: bool = False) -> list[dict[str, Any]]:
    """One run a day: a 100-byte return_value (a stored reference when ``ref``) and a
    10-byte ``skipmixin_key`` written by Airflow itself."""
    out = []
    for d in range(days):
        run = f"scheduled__{d}"
        out.append({S.DAG_ID: dag, S.RUN_ID: run, S.TIMESTAMP: T0 + d * DAY, S.VALUE_BYTES: 100,
                    S.REF_URI: f"s3://b/{dag}/{d}" if ref else pd.NA, S.REF_BYTES: 5000 if ref else pd.NA})
        out.append({S.DAG_ID: dag, S.RUN_ID: run, S.TIMESTAMP: T0 + d * DAY, S.VALUE_BYTES: 10,
                    S.KEY: "skipmixin_key", S.INTERNAL: True, S.TASK_ID: "branch"})
    return out


FRAME = make_frame(_runs("a") + _runs("b", ref=True))
NOW = T0 + 9 * DAY  # the last write


def test_max_age_frees_what_db_clean_would() -> None:
    r = retention(FRAME, RetentionPolicy(max_age_days=5))
    # Rows with timestamp < now - 5 days: days 0..3 of each DAG (day 4 is exactly at the cut).
    assert r.now == NOW
    assert (r.totals["rows_freed"], r.totals["bytes_freed"]) == (2 * 4 * 2, 2 * 4 * 110)
    assert r.totals["rows_left"] == 2 * 6 * 2 and r.totals["value_bytes"] == 2 * 10 * 110
    assert r.by_dag.loc["b", "orphaned_refs"] == 4 and r.totals["orphaned_ref_bytes"] == 4 * 5000
    cut = (NOW - 5 * DAY).isoformat()
    assert r.db_clean_command == (f"airflow db clean --clean-before-timestamp '{cut}' --tables xcom "
                                  "--skip-archive --yes")
    assert any("never purges object-store values: 4 referenced" in n for n in r.limitations)
    assert any("keeps the latest non-manual dag_run" in n for n in r.limitations)


def test_steady_state_is_rate_times_window() -> None:
    r = retention(FRAME, RetentionPolicy(max_age_days=5), disk_ratio=3.0)
    assert r.by_dag.loc["a", "bytes_per_day"] == pytest.approx(110)
    assert r.by_dag.loc["a", "steady_state_bytes"] == pytest.approx(550)
    assert r.totals["steady_state_bytes"] == pytest.approx(1100)
    assert r.totals["steady_state_on_disk_bytes"] == pytest.approx(3300)
    assert r.totals["on_disk_bytes_freed"] == pytest.approx(3 * r.totals["bytes_freed"])
    unbounded = retention(FRAME, RetentionPolicy(per_dag={"a": RetentionPolicy(max_age_days=5)}))
    assert np.isnan(unbounded.by_dag.loc["b", "steady_state_bytes"])
    assert np.isnan(unbounded.totals["steady_state_bytes"])


def test_keep_last_runs_cannot_be_a_db_clean() -> None:
    r = retention(FRAME, RetentionPolicy(keep_last_runs=3))
    assert r.totals["rows_left"] == 2 * 3 * 2
    assert r.by_dag.loc["a", "steady_state_bytes"] == pytest.approx(330)  # one run a day
    assert r.db_clean_command is None
    assert any(n.startswith("keep-last-N runs cannot be expressed") for n in r.limitations)
    kept = r.removed[~r.removed.to_numpy()].index
    assert set(FRAME.loc[kept, S.RUN_ID]) == {"scheduled__7", "scheduled__8", "scheduled__9"}


def test_per_dag_overrides_give_one_command_per_age() -> None:
    policy = RetentionPolicy(max_age_days=5, per_dag={"b": RetentionPolicy(max_age_days=2)})
    r = retention(FRAME, policy)
    assert r.by_dag.loc["b", "rows_freed"] == 2 * 7  # days 0..6 are older than 2 days
    assert r.by_dag.loc["a", "rows_freed"] == 2 * 4
    lines = (r.db_clean_command or "").splitlines()
    assert len(lines) == 2
    assert "--exclude-dag-ids b " in lines[0] and (NOW - 5 * DAY).isoformat() in lines[0]
    assert "--dag-ids b " in lines[1] and (NOW - 2 * DAY).isoformat() in lines[1]
    assert any("need Airflow 3.3" in n for n in r.limitations)
    only_b = db_clean_commands(RetentionPolicy(per_dag={"b": RetentionPolicy(max_age_days=2)}), NOW)
    assert len(only_b) == 1 and "--dag-ids b " in only_b[0]  # DAGs without an age keep all


def test_key_rules_drop_internal_keys() -> None:
    policy = RetentionPolicy(key_rules=(KeyRule("*", 0, internal=True),))
    r = retention(FRAME, policy)
    assert (r.totals["rows_freed"], r.totals["bytes_freed"]) == (20, 200)
    assert r.by_dag.loc["a", "steady_state_bytes"] != r.by_dag.loc["a", "steady_state_bytes"]  # NaN
    assert r.db_clean_command is None
    assert any(n.startswith("key rules cannot be expressed") for n in r.limitations)
    # A key rule sets the age of its keys only; the DAG's age still applies to the rest.
    mixed = retention(FRAME, RetentionPolicy(max_age_days=5, key_rules=(KeyRule("skip*", 1),)))
    assert mixed.totals["rows_freed"] == 2 * (4 + 8)
    assert mixed.by_dag.loc["a", "steady_state_bytes"] == pytest.approx(100 * 5 + 10 * 1)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(XcomlabError, match="no live xcom rows"):
        retention(S.empty_frame(), RetentionPolicy(max_age_days=1))
    with pytest.raises(XcomlabError, match="keep_last_runs=0"):
        RetentionPolicy(keep_last_runs=0)
    with pytest.raises(XcomlabError, match="max_age_days=-1"):
        RetentionPolicy(max_age_days=-1)
    with pytest.raises(XcomlabError, match="disk_ratio"):
        retention(FRAME, RetentionPolicy(max_age_days=1), disk_ratio=0)


def test_sample_matches_the_timestamp_cut() -> None:
    frame = xcomlab.load_export(SAMPLES / "af3" / "airflow.db")
    live = primary_rows(frame)
    r = retention(frame, RetentionPolicy(max_age_days=30), now="2026-09-01")
    cut = pd.Timestamp("2026-09-01", tz="UTC") - 30 * DAY
    old = live[S.TIMESTAMP] < cut
    assert r.totals["rows_freed"] == int(old.sum())
    assert r.totals["bytes_freed"] == int(live.loc[old, S.VALUE_BYTES].sum())
    assert r.totals["orphaned_refs"] == int(live.loc[old, S.REF_URI].notna().sum()) > 0
    assert f"--clean-before-timestamp '{cut.isoformat()}'" in (r.db_clean_command or "")
    assert "RetentionReport(frees" in r._repr_html_()
