"""A TaskFlow DAG that exercises xcomlab's Airflow 2 XCom backend (run by ``dag.test()``).

Run by tests/backend/test_airflow2_integration.py in the Airflow 2.10 venv, as a script:
``python xcomlab_backend_dag_af2.py`` with AIRFLOW_HOME, the backend settings and
``XCOMLAB_TEST_OUT`` (a directory) in the environment. Downstream tasks assert what they
receive (a mismatch fails the task, hence the run) and write it to ``<out>/<task>.json``.
The same shape as the Airflow 3 DAG (xcomlab_backend_dag.py), with Airflow 2 imports.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.decorators import dag, task
from airflow.operators.python import get_current_context

#: ~5.4 MB of JSON: offloaded at any threshold below that.
BIG_N = 800_000
SMALL = {"rows": 3, "name": "small", "ok": True, "ratio": 0.5, "none": None}
TYPED = {"when": datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC), "pair": (1, "a"),
         "tags": {"x", "y"}, "wait": timedelta(minutes=5)}
MAPPED_X = [1, 2, 3, 4]
#: Characters per unit of x in a mapped result: x=1 stays inline (< 64 KiB), x≥2 offloads.
MAPPED_CHARS = 40_000
SCRATCH_CHARS = 300_000


def _out(name: str, payload: Any) -> None:
    out = Path(os.environ["XCOMLAB_TEST_OUT"])
    (out / f"{name}.json").write_text(json.dumps(payload, default=repr))


def _objects() -> list[str]:
    base = Path(os.environ["XCOMLAB_TEST_OBJECTS"])
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


@dag(dag_id="xcomlab_backend_af2", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC),
     catchup=False, tags=["xcomlab-test"])
def xcomlab_backend_af2() -> None:
    @task(multiple_outputs=False)
    def small() -> dict[str, Any]:
        return dict(SMALL)

    @task
    def big() -> list[int]:
        return list(range(BIG_N))

    @task(multiple_outputs=False)
    def typed() -> dict[str, Any]:
        return dict(TYPED)

    @task(multiple_outputs=False)
    def square(x: int) -> dict[str, Any]:
        return {"x": x, "sq": x * x, "blob": "m" * (x * MAPPED_CHARS)}

    @task(multiple_outputs=True)
    def split() -> dict[str, Any]:
        return {"count": 7, "payload": "p" * 200_000}

    @task
    def check(s: dict[str, Any], b: list[int], t: dict[str, Any], squares: Any,
              count: int, payload: str) -> None:
        assert s == SMALL, s
        assert len(b) == BIG_N and b[:3] == [0, 1, 2] and b[-1] == BIG_N - 1
        assert t == TYPED, t
        assert type(t["pair"]) is tuple and type(t["tags"]) is set, t
        got = [dict(v) for v in squares]
        assert [g["sq"] for g in got] == [x * x for x in MAPPED_X], got
        assert all(g["blob"] == "m" * (g["x"] * MAPPED_CHARS) for g in got)
        assert count == 7 and payload == "p" * 200_000
        _out("check", {"small": s, "big_len": len(b), "big_sum": sum(b), "typed": repr(t),
                       "squares": [g["sq"] for g in got], "count": count,
                       "payload_len": len(payload)})

    @task
    def pull() -> None:
        ti = get_current_context()["ti"]
        b = ti.xcom_pull(task_ids="big")
        parts = ti.xcom_pull(task_ids="split", key="payload")
        squares = ti.xcom_pull(task_ids="square")  # lazy sequence: rows carry the value only
        one = ti.xcom_pull(task_ids="square", map_indexes=2)
        both = ti.xcom_pull(task_ids=["big", "small"])
        assert len(b) == BIG_N and b[-1] == BIG_N - 1
        assert parts == "p" * 200_000
        assert [v["sq"] for v in squares] == [x * x for x in MAPPED_X], squares
        assert one["x"] == 3 and len(one["blob"]) == 3 * MAPPED_CHARS
        assert len(both[0]) == BIG_N and both[1] == SMALL
        _out("pull", {"big_len": len(b), "squares": [v["sq"] for v in squares],
                      "one": one["x"], "both": [len(both[0]), both[1]["name"]]})

    @task(retries=1, retry_delay=timedelta(0))
    def flaky() -> str:
        ti = get_current_context()["ti"]
        if ti.try_number == 1:
            ti.xcom_push(key="scratch", value="s" * SCRATCH_CHARS)
            _out("flaky_try1", {"objects": _objects()})
            msg = "first try fails on purpose; the retry must purge the 'scratch' object"
            raise RuntimeError(msg)
        _out("flaky_try2", {"objects": _objects(), "try_number": ti.try_number})
        return "recovered"

    counts, blob = split(), big()
    squares = square.expand(x=MAPPED_X)
    s = small()
    check(s, blob, typed(), squares, counts["count"], counts["payload"])
    [counts, blob, squares, s] >> pull()
    flaky()


the_dag = xcomlab_backend_af2()

if __name__ == "__main__":
    run = the_dag.test()
    _out("run", {"state": str(run.state), "run_id": run.run_id})
