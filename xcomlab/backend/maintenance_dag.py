"""Maintenance DAG: retention cleanup, orphan reconcile and a size summary, on Airflow 2 and 3.

A DAG file needs one line (``xcomlab/backend/dags/xcomlab_maintenance.py`` is a ready one)::

    from datetime import timedelta
    from xcomlab.backend.maintenance_dag import maintenance_dag

    dag = maintenance_dag(max_age=timedelta(days=30), purge_orphans=True)

Three tasks run in order: ``cleanup`` (:meth:`XComStore.cleanup` with a
:class:`~xcomlab.backend.RetentionPolicy`; skipped when no rule is given), ``reconcile``
(:meth:`XComStore.reconcile`: orphan objects and dangling rows; removed only with
``purge_orphans=True``, objects younger than ``grace`` never) and ``summary`` (rows and
bytes in the database and in object storage, logged, returned as the task's XCom and, when
the store's ``metrics`` setting is on, sent as ``<prefix>.store.*`` gauges).

The store is the backend's: settings from ``XCOMLAB_*`` / ``AIRFLOW__XCOMLAB__*`` and the
``[xcomlab]`` section of airflow.cfg, as the adapter reads them, except that the table is
Airflow's own ``xcom`` table — in the database named by ``XCOMLAB_URL`` or else by
Airflow's ``[database] sql_alchemy_conn`` — because that is where Airflow writes the rows
the backend's envelopes live in. The tasks therefore need that database reachable (on
Airflow 3, where tasks normally reach the metadata DB only through the API server, run the
DAG on a worker that has the connection, or call :func:`run_maintenance` from cron).

The :func:`run_maintenance` and :func:`size_summary` functions hold the logic and need no
Airflow; the DAG is a thin shell built with ``airflow.sdk`` (Airflow 3) or
``airflow.decorators`` (Airflow 2.10/2.11).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from xcomlab.backend.codecs import dumps_json
from xcomlab.backend.config import ENV_PREFIXES, StoreConfig
from xcomlab.backend.envelope import is_envelope
from xcomlab.backend.maintenance import RetentionPolicy
from xcomlab.backend.operations import emitter_of
from xcomlab.backend.store import XComStore

__all__ = ["maintenance_dag", "run_maintenance", "size_summary", "store_for_maintenance"]

log = logging.getLogger("xcomlab.maintenance")
#: DAGs listed by name in the summary (largest first); the rest are summed.
TOP_DAGS: Final = 10


def size_summary(store: XComStore, *, top: int = TOP_DAGS) -> dict[str, Any]:
    """Rows and bytes of a store's table: totals, per tier, and the ``top`` DAGs by bytes.

    ``db_bytes`` is the JSON text of the ``value`` column (what the row holds: a value or an
    envelope), ``object_bytes`` the stored size of offloaded objects (from their envelopes).
    Rows are streamed, so memory grows with the number of DAGs only.
    """
    x = store.xcom
    totals = {"rows": 0, "offloaded_rows": 0, "db_bytes": 0, "object_bytes": 0}
    per_dag: dict[str, list[int]] = {}
    q = sa.select(x.c.dag_id, x.c.value).execution_options(yield_per=1000)
    with store.engine.connect() as conn:
        for dag_id, value in conn.execute(q):
            row_bytes = len(dumps_json(value)) if value is not None else 0
            obj = int(value.get("stored_bytes", 0)) if is_envelope(value) and value.get("uri") else 0
            totals["rows"] += 1
            totals["offloaded_rows"] += bool(obj)
            totals["db_bytes"] += row_bytes
            totals["object_bytes"] += obj
            acc = per_dag.setdefault(str(dag_id), [0, 0])
            acc[0] += 1
            acc[1] += row_bytes + obj
    ranked = sorted(per_dag.items(), key=lambda kv: -kv[1][1])
    return {**totals, "dags": len(per_dag),
            "top_dags": [{"dag_id": d, "rows": r, "bytes": b} for d, (r, b) in ranked[:top]]}


def run_maintenance(store: XComStore, *, policy: RetentionPolicy | None = None,
                    purge_orphans: bool = False, grace: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """Cleanup, reconcile and summary in one call (what the DAG's three tasks do)."""
    return {"cleanup": cleanup_step(store, policy),
            "reconcile": reconcile_step(store, purge_orphans, grace),
            "summary": summary_step(store)}


def cleanup_step(store: XComStore, policy: RetentionPolicy | None) -> dict[str, int]:
    """Apply the retention policy (nothing when it has no rule)."""
    if policy is None or (policy.max_age_days is None and policy.keep_last_runs is None
                          and not policy.per_dag and not policy.key_rules):
        log.info("xcomlab cleanup: no retention rule given; nothing deleted")
        return {"rows": 0, "objects": 0, "row_bytes": 0, "object_bytes": 0}
    r = store.cleanup(policy)
    out = {"rows": r.rows, "objects": r.objects, "row_bytes": r.row_bytes, "object_bytes": r.object_bytes}
    log.info("xcomlab cleanup: %s", out)
    return out


def reconcile_step(store: XComStore, purge: bool, grace: timedelta) -> dict[str, int]:
    """Find (and with ``purge``, remove) orphan objects and dangling rows."""
    counts = store.reconcile(purge=purge, grace_s=grace.total_seconds()).summary()
    log.info("xcomlab reconcile (purge=%s): %s", purge, counts)
    return counts


def summary_step(store: XComStore) -> dict[str, Any]:
    """Log the size summary and send it as gauges when metrics are on."""
    s = size_summary(store)
    log.info("xcomlab store: %s rows (%s offloaded) in %s DAGs, %s bytes in the database, "
             "%s bytes in object storage; largest DAGs: %s", s["rows"], s["offloaded_rows"],
             s["dags"], s["db_bytes"], s["object_bytes"], s["top_dags"])
    emitter = emitter_of(store.recorder.listeners)
    if emitter is not None:
        emitter.gauges("store", {k: s[k] for k in ("rows", "offloaded_rows", "db_bytes",
                                                   "object_bytes", "dags")})
    return s


def store_for_maintenance(config: StoreConfig | None = None) -> XComStore:
    """The backend's store on Airflow's ``xcom`` table (see the module docstring)."""
    if config is not None:
        return XComStore(config, create=False)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    conf = _airflow_conf()
    if conf is not None and conf.has_section("xcomlab"):
        for name, value in conf.getsection("xcomlab").items():
            env.setdefault(ENV_PREFIXES[1] + str(name).upper(), str(value))
    if not any(p + "URL" in env for p in ENV_PREFIXES) and conf is not None:
        env[ENV_PREFIXES[1] + "URL"] = conf.get("database", "sql_alchemy_conn")
    env.setdefault(ENV_PREFIXES[1] + "TABLE", "xcom")
    cfg = StoreConfig.from_env(environ=env)
    return XComStore(cfg.replace(measure=False), create=False)


def _airflow_conf() -> Any:
    try:
        from airflow.configuration import conf
    except ImportError:
        return None
    return conf


def maintenance_dag(dag_id: str = "xcomlab_maintenance", *, schedule: Any = "@daily",
                    max_age: timedelta | None = None, keep_last_runs: int | None = None,
                    dag_ids: Sequence[str] | None = None, purge_orphans: bool = False,
                    grace: timedelta = timedelta(hours=1), config: StoreConfig | None = None,
                    start_date: datetime | None = None, tags: Sequence[str] = ("xcomlab",)) -> Any:
    """Build the maintenance DAG (Airflow 3: ``airflow.sdk``; Airflow 2: ``airflow.decorators``).

    Parameters
    ----------
    dag_id, schedule, start_date, tags
        As for any DAG (``catchup`` is off, one run at a time).
    max_age, keep_last_runs, dag_ids
        The :class:`~xcomlab.backend.RetentionPolicy`; no rule: cleanup deletes nothing.
    purge_orphans
        Remove orphan objects (older than ``grace``) and dangling rows; else only count them.
    config
        The store's settings; default: the backend's, on Airflow's ``xcom`` table.

    Returns
    -------
    DAG
        Assign it to a module-level name in a file of the DAGs folder.
    """
    try:
        from airflow.sdk import dag, task  # Airflow 3
    except ImportError:
        from airflow.decorators import dag, task  # Airflow 2.10 / 2.11
    policy = RetentionPolicy(max_age_days=max_age.total_seconds() / 86400 if max_age is not None else None,
                             keep_last_runs=keep_last_runs,
                             dag_ids=tuple(dag_ids) if dag_ids is not None else None)

    @dag(dag_id=dag_id, schedule=schedule, start_date=start_date or datetime(2026, 1, 1, tzinfo=UTC),
         catchup=False, max_active_runs=1, tags=list(tags),
         doc_md=(__doc__ or "").split("\n\n")[0])
    def xcomlab_maintenance() -> None:
        @task(multiple_outputs=False)
        def cleanup() -> dict[str, int]:
            with store_for_maintenance(config) as store:
                return cleanup_step(store, policy)

        @task(multiple_outputs=False)
        def reconcile() -> dict[str, int]:
            with store_for_maintenance(config) as store:
                return reconcile_step(store, purge_orphans, grace)

        @task(multiple_outputs=False)
        def summary() -> dict[str, Any]:
            with store_for_maintenance(config) as store:
                return summary_step(store)

        cleanup() >> reconcile() >> summary()

    return xcomlab_maintenance()
