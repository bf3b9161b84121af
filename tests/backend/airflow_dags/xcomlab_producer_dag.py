"""A DAG that pushes one small and one offloaded XCom per run (for the maintenance DAG test).

Written for Airflow 3 (``airflow.sdk``) and Airflow 2.10 (``airflow.decorators``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

try:
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task


@dag(dag_id="xcomlab_producer", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC),
     catchup=False, tags=["xcomlab-test"])
def xcomlab_producer() -> None:
    @task(multiple_outputs=False)
    def small() -> dict[str, Any]:
        return {"rows": 3}

    @task
    def big() -> list[int]:
        return list(range(50_000))  # ~340 KB of JSON: offloaded at the test's 64 KiB threshold

    small()
    big()


the_dag = xcomlab_producer()
