"""One RetentionPolicy: the what-if on an export and the backend's cleanup remove the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import xcomlab
from xcomlab.analysis.retention import KeyRule as OldPathKeyRule
from xcomlab.analysis.retention import RetentionPolicy as AnalysisPolicy
from xcomlab.analysis.retention import retention
from xcomlab.backend import RetentionPolicy as BackendPolicy
from xcomlab.backend import XComStore
from xcomlab.errors import ParameterError
from xcomlab.policy import KeyRule, RetentionPolicy


def test_both_old_import_paths_name_the_one_class() -> None:
    assert AnalysisPolicy is BackendPolicy is RetentionPolicy is xcomlab.RetentionPolicy
    assert OldPathKeyRule is KeyRule


def _ids(frame: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    cols = ["dag_id", "run_id", "task_id", "key"]
    return set(frame[cols].astype(str).itertuples(index=False, name=None))


POLICIES = [
    RetentionPolicy(keep_last_runs=2),
    RetentionPolicy(key_rules=(KeyRule("tmp_*", 0),), dag_ids=("a", "b")),
    RetentionPolicy(keep_last_runs=3, per_dag={"b": RetentionPolicy(keep_last_runs=1)}),
    RetentionPolicy(max_age_days=0, dag_ids=("c",)),
    RetentionPolicy(key_rules=(KeyRule("*", 0, internal=True),)),
]


@pytest.mark.parametrize("policy", POLICIES, ids=range(len(POLICIES)))
def test_store_cleanup_removes_what_the_what_if_predicts(tmp_path: Path, policy: RetentionPolicy) -> None:
    url = f"sqlite:///{tmp_path / 'xcom.db'}"
    with XComStore(url=url) as store:
        for dag in ("a", "b", "c"):
            for run in range(4):
                for key in ("return_value", "tmp_part", "skipmixin_key"):
                    store.set(key, {"run": run}, dag_id=dag, run_id=f"r{run}", task_id="t")
        before = xcomlab.load_export(url, tables=["xcom"])
        now = before["timestamp"].max()
        predicted = retention(before, policy, now=now)
        doomed = _ids(before[predicted.removed.to_numpy()])
        report = store.cleanup(policy, now=now.to_pydatetime())
    after = xcomlab.load_export(url, tables=["xcom"])
    assert report.rows == len(doomed) > 0
    assert _ids(before) - _ids(after) == doomed


def test_policy_values_are_checked() -> None:
    with pytest.raises(ParameterError, match="keep_last_runs=0"):
        RetentionPolicy(keep_last_runs=0)
    with pytest.raises(ParameterError, match="not one string"):
        RetentionPolicy(dag_ids="a")  # type: ignore[arg-type]
    assert RetentionPolicy(dag_ids=["a"]).dag_ids == ("a",)  # type: ignore[arg-type]
    assert RetentionPolicy(max_age_days=1).removes(
        [("a", "r", "k", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))], dt.datetime(2026, 1, 3, tzinfo=dt.UTC)) == {0}
