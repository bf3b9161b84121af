"""Airflow 3 adapter: :class:`XComlabBackend`, a task-SDK ``BaseXCom`` backed by :class:`XComStore`.

Enable it on the workers (in Airflow 3 only workers call the backend; the API server and
UI show the raw row, docs/airflow-xcom.md#backend-resolution)::

    AIRFLOW__CORE__XCOM_BACKEND=xcomlab.backend.airflow.XComlabBackend
    AIRFLOW__XCOMLAB__OBJECT_BASE=s3://bucket/xcom     # or XCOMLAB_OBJECT_BASE
    AIRFLOW__XCOMLAB__THRESHOLD=65536                   # offload values of ≥ 64 KiB

Settings are the fields of :class:`~xcomlab.backend.StoreConfig`, read (first hit wins)
from ``XCOMLAB_<NAME>``, ``AIRFLOW__XCOMLAB__<NAME>`` and the ``[xcomlab]`` section of
``airflow.cfg``. Measurements are off unless ``MEASURE`` is set (a worker lives long).

How Airflow 3.3 calls it (task SDK 1.3, read from apache-airflow 3.3.2 on 2026-11-25;
docs/airflow-xcom.md#basexcom-3 and docs/airflow-xcom.md#common-io):

- ``serialize_value`` runs in the task process before ``SetXCom`` goes to the API server,
  which stores the returned JSON in the ``xcom.value`` column. Here it is
  :meth:`XComStore.encode`: the value's own serde JSON when small, otherwise an envelope
  pointing at the object, which is written first.
- ``deserialize_value`` gets an object with ``.value`` (``XComResult`` or a wrapper, also
  for each item of a mapped task's lazy sequence): :meth:`XComStore.decode`.
- ``purge`` gets the ``XComResult`` of a row about to be deleted. Airflow calls it only
  from ``BaseXCom.delete``, which the task runner calls for each key the server lists in
  ``xcom_keys_to_clear`` when a task instance starts again (retry or clear). ``airflow db
  clean`` and the REST delete never purge; use :meth:`XComStore.reconcile` for orphans.

Rows are untrusted (a task can send any JSON to the API server). ``deserialize_value`` and
``purge`` are not handed the row's ids (``XComResult`` carries only ``key``), so the adapter
remembers the ids Airflow asked for in ``get_one`` / ``get_all`` / ``delete`` (and, for a
lazy sequence, the running task's DAG and run) and the store honours an offloaded value only
if its URI is one those ids produce (:mod:`xcomlab.backend.rows`); ids Airflow did not fix
(``map_index=None``, ``include_prior_dates``) are not checked.

Importing this module needs Airflow 3 (``pip install 'xcomlab[airflow]'``); nothing else
in xcomlab imports it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

try:
    from airflow.sdk.bases.xcom import BaseXCom
except ImportError as exc:  # Airflow missing, or Airflow 2 (no task SDK)
    _msg = ("xcomlab.backend.airflow needs Apache Airflow 3 with its task SDK "
            "(airflow.sdk.bases.xcom); install the extra: pip install 'xcomlab[airflow]'")
    raise ImportError(_msg) from exc

from xcomlab.backend.airflow_settings import encode, store
from xcomlab.backend.rows import RowRef

__all__ = ["XComlabBackend", "store"]

_asked: contextvars.ContextVar[RowRef | None] = contextvars.ContextVar("xcomlab_asked", default=None)


class XComlabBackend(BaseXCom):  # type: ignore[misc]
    """XCom backend for Airflow 3: small values in the ``xcom`` row, large ones in object
    storage, compressed (zstd by default), optionally encrypted, checked by sha256 on read.

    Examples
    --------
    ``AIRFLOW__CORE__XCOM_BACKEND=xcomlab.backend.airflow.XComlabBackend``
    """

    @staticmethod
    def serialize_value(value: Any, *, key: str | None = None, task_id: str | None = None,
                        dag_id: str | None = None, run_id: str | None = None,
                        map_index: int | None = None) -> Any:
        """What the row's ``value`` column holds (the object is written first when offloaded).

        Raises
        ------
        XComTooLargeError
            Over ``max_value_bytes``; nothing is written and the task fails.
        SerdeError
            A value with no JSON form while ``allow_pickle`` is off.
        """
        return encode(value, key=key, task_id=task_id, dag_id=dag_id, run_id=run_id,
                      map_index=map_index)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """The Python value of ``result.value`` (reading the object when offloaded, only if
        it belongs to the row asked for)."""
        return store().decode(result.value, row=_row_of(result))

    @classmethod
    def purge(cls, xcom: Any, *args: Any) -> None:
        """Delete the object the row ``xcom.value`` points to, if it is that row's own."""
        store().purge(getattr(xcom, "value", None), row=_row_of(xcom))

    @classmethod
    def get_one(cls, **kw: Any) -> Any:
        """``BaseXCom.get_one``, remembering the ids asked for (see the module docstring)."""
        with _asking(kw):
            return super().get_one(**kw)

    @classmethod
    async def aget_one(cls, **kw: Any) -> Any:
        """``BaseXCom.aget_one``, remembering the ids asked for."""
        with _asking(kw):
            return await super().aget_one(**kw)

    @classmethod
    def get_all(cls, **kw: Any) -> Any:
        """``BaseXCom.get_all``, remembering the ids asked for."""
        with _asking(kw):
            return super().get_all(**kw)

    @classmethod
    async def aget_all(cls, **kw: Any) -> Any:
        """``BaseXCom.aget_all``, remembering the ids asked for."""
        with _asking(kw):
            return await super().aget_all(**kw)

    @classmethod
    def delete(cls, key: str, task_id: str, dag_id: str, run_id: str,
               map_index: int | None = None) -> None:
        """``BaseXCom.delete`` (which calls :meth:`purge`), remembering the row's ids."""
        with _asking({"key": key, "task_id": task_id, "dag_id": dag_id, "run_id": run_id,
                      "map_index": map_index}):
            super().delete(key, task_id, dag_id, run_id, map_index)


@contextmanager
def _asking(kw: Mapping[str, Any]) -> Iterator[None]:
    run_id = None if kw.get("include_prior_dates") else kw.get("run_id")
    token = _asked.set(RowRef(kw.get("dag_id"), run_id, kw.get("task_id"), kw.get("map_index"),
                              kw.get("key")))
    try:
        yield
    finally:
        _asked.reset(token)


def _row_of(result: Any) -> RowRef:
    """The ids a value must belong to: those on ``result`` (an ORM row has them all), else
    those Airflow asked for, else the running task's DAG and run (a lazy sequence)."""
    asked = _asked.get() or _running_task()
    def pick(name: str) -> Any:
        v = getattr(result, name, None)
        return v if v is not None else getattr(asked, name)
    return RowRef(pick("dag_id"), pick("run_id"), pick("task_id"), pick("map_index"), pick("key"))


def _running_task() -> RowRef:
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        return RowRef(dag_id=ti.dag_id, run_id=ti.run_id)
    except Exception:  # outside a task: no ids known
        return RowRef()
