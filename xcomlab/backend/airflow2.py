"""Airflow 2 adapter: :class:`XComlabBackend` for Airflow 2.10 and 2.11 (``airflow.models.xcom``).

Enable it on every Airflow component (in Airflow 2 the scheduler, webserver and workers
all resolve ``[core] xcom_backend`` when they import ``airflow.models.xcom``)::

    AIRFLOW__CORE__XCOM_BACKEND=xcomlab.backend.airflow2.XComlabBackend
    AIRFLOW__XCOMLAB__OBJECT_BASE=s3://bucket/xcom     # or XCOMLAB_OBJECT_BASE
    AIRFLOW__XCOMLAB__THRESHOLD=65536                   # offload values of ≥ 64 KiB

Settings are the same as the Airflow 3 adapter's (:mod:`xcomlab.backend.airflow_settings`):
the fields of :class:`~xcomlab.backend.StoreConfig` from ``XCOMLAB_<NAME>``, then
``AIRFLOW__XCOMLAB__<NAME>``, then the ``[xcomlab]`` section of ``airflow.cfg``.

How Airflow 2.10 calls it (``airflow/models/xcom.py`` and ``taskinstance.py`` of the
apache-airflow 2.10.5 wheel, read on this project's machine):

- ``serialize_value(value, *, key, task_id, dag_id, run_id, map_index)`` inside
  ``XCom.set``, in the task process; the returned bytes go into the ``xcom.value``
  column (``LargeBinary``; ``LONGBLOB`` on MySQL). Here: :meth:`XComStore.encode` (the
  object is written first when offloaded), as UTF-8 JSON.
- ``deserialize_value(result)`` gets an object whose ``.value`` is the column's bytes: the
  ORM row, a ``Row`` of ids and value for a single pull, or a ``Row`` of the value alone
  for each item of a mapped task's lazy sequence. Here: :meth:`XComStore.decode`.
- ``orm_deserialize_value(self)`` runs whenever an ``XCom`` ORM object is loaded (UI lists,
  REST listings, ``XCom.clear``): it must be cheap and must never fail. It never fetches an
  object: an offloaded value shows as its envelope (URI, sizes, codec, preview), an inline
  one as its stored JSON. ``self.value`` is replaced by what it returns, which is why
  :meth:`XComlabBackend.purge` also accepts an envelope dict.
- ``purge(xcom, session)`` from ``XCom.clear`` (called by the task runner when a try
  starts, so a retry or a cleared task removes the objects of the previous try) and from
  ``XCom.delete``. ``airflow db clean`` and a second ``XCom.set`` of the same key in one
  try delete rows without it: :meth:`XComStore.reconcile` finds such orphan objects.

Airflow 2's own ``enable_xcom_pickling`` must stay off: xcomlab never unpickles a row.
Importing this module needs Airflow 2.10/2.11 (``pip install 'xcomlab[airflow2]'``).
"""

from __future__ import annotations

import json
from typing import Any

try:
    import airflow
    from airflow.models.xcom import BaseXCom
except ImportError as exc:  # Airflow missing
    _msg = ("xcomlab.backend.airflow2 needs Apache Airflow 2.10 or 2.11; install the extra: "
            "pip install 'xcomlab[airflow2]'")
    raise ImportError(_msg) from exc
if not str(airflow.__version__).startswith("2."):
    _msg = (f"xcomlab.backend.airflow2 is the Airflow 2 adapter, this is Airflow "
            f"{airflow.__version__}: set AIRFLOW__CORE__XCOM_BACKEND="
            "xcomlab.backend.airflow.XComlabBackend")
    raise ImportError(_msg)

from xcomlab.backend.airflow_settings import encode, store
from xcomlab.backend.codecs import CodecError, dumps_json
from xcomlab.backend.envelope import is_envelope
from xcomlab.backend.rows import RowRef

__all__ = ["XComlabBackend", "store"]


class XComlabBackend(BaseXCom):  # type: ignore[misc]
    """XCom backend for Airflow 2.10/2.11: small values in the ``xcom`` row, large ones in
    object storage, compressed (zstd by default), optionally encrypted, checked by sha256.

    Examples
    --------
    ``AIRFLOW__CORE__XCOM_BACKEND=xcomlab.backend.airflow2.XComlabBackend``
    """

    @staticmethod
    def serialize_value(value: Any, *, key: str | None = None, task_id: str | None = None,
                        dag_id: str | None = None, run_id: str | None = None,
                        map_index: int | None = None) -> bytes:
        """The bytes of the row's ``value`` column (the object is written first when offloaded).

        Raises
        ------
        XComTooLargeError
            Over ``max_value_bytes``; nothing is written and the task fails.
        SerdeError
            A value with no JSON form while ``allow_pickle`` is off.
        """
        return dumps_json(encode(value, key=key, task_id=task_id, dag_id=dag_id, run_id=run_id,
                                 map_index=map_index))

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """The Python value of ``result.value`` (reading the object when offloaded)."""
        raw = getattr(result, "value", None)
        if raw is None:
            return None
        return store().decode(stored_json(raw, where=_where(result)), row=row_of(result))

    def orm_deserialize_value(self) -> Any:
        """What the UI and listings show: the stored JSON, an offloaded value as its envelope
        (never fetched). Never raises: an unreadable row shows as a one-line note."""
        raw = self.value
        if raw is None or is_envelope(raw):
            return raw
        try:
            obj = stored_json(raw, where=_where(self))
        except CodecError as exc:
            return f"[xcomlab: {exc}]"
        if is_envelope(obj) and "data" in obj:  # packed: compressed/encrypted bytes, not shown
            return {k: v for k, v in obj.items() if k != "data"}
        return obj

    @staticmethod
    def purge(xcom: Any, session: Any = None) -> None:
        """Delete the object the row points to, if any (``xcom.value``: the column's bytes,
        or the envelope :meth:`orm_deserialize_value` left there)."""
        raw = getattr(xcom, "value", None)
        if is_envelope(raw):
            store().purge(raw, row=row_of(xcom))
        elif isinstance(raw, bytes | bytearray | memoryview | str):
            try:
                obj = stored_json(raw, where=_where(xcom))
            except CodecError:
                return  # not ours (e.g. a row written before the backend): nothing to purge
            store().purge(obj, row=row_of(xcom))


def stored_json(raw: bytes | bytearray | memoryview | str, *, where: str = "an XCom row") -> Any:
    """The JSON a row's ``value`` column holds.

    Raises
    ------
    CodecError
        When the bytes are not UTF-8 JSON (e.g. pickled by ``enable_xcom_pickling``:
        xcomlab never unpickles).
    """
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        head = bytes(raw[:8]) if not isinstance(raw, str) else raw[:8].encode()
        hint = " (pickled? xcomlab never unpickles)" if head[:1] == b"\x80" else ""
        msg = (f"{where} holds {len(raw):,} bytes that are not UTF-8 JSON{hint}: "
               f"starts {head!r}; expected what xcomlab or Airflow's JSON XCom wrote")
        raise CodecError(msg) from exc


def row_of(result: Any) -> RowRef:
    """The ids an offloaded value must belong to (its URI must be one they produce).

    An ORM row and a single pull's ``Row`` carry all five ids. The items of a mapped task's
    lazy sequence carry only the value: their ids are unknown (``None``, not checked), so
    the URI must still be a well-formed object name under ``object_base``."""
    def pick(name: str) -> Any:
        return getattr(result, name, None)
    return RowRef(pick("dag_id"), pick("run_id"), pick("task_id"), pick("map_index"), pick("key"))


def _where(row: Any) -> str:
    """``XCom 'key' of dag.task[map] @ run`` as far as ``row`` carries the ids."""
    ids = {n: getattr(row, n, None) for n in ("dag_id", "task_id", "map_index", "run_id", "key")}
    if ids["dag_id"] is None:
        return "an XCom row"
    mapped = f"[{ids['map_index']}]" if (ids["map_index"] or -1) >= 0 else ""
    return f"XCom {ids['key']!r} of {ids['dag_id']}.{ids['task_id']}{mapped} @ {ids['run_id']}"
