"""Maintenance: reconcile rows with objects, apply retention, rotate encryption keys.

Nothing here runs on its own: a scheduler (or an Airflow maintenance DAG) calls
:meth:`XComStore.reconcile`, :meth:`~XComStore.cleanup` and :meth:`~XComStore.rotate`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from xcomlab.backend.codecs import EXTENSIONS, IntegrityError, dumps_json, sha256_hex
from xcomlab.backend.envelope import Envelope, is_envelope
from xcomlab.backend.measure import Timer
from xcomlab.backend.objects import TMP_MARK
from xcomlab.policy import RetentionPolicy

if TYPE_CHECKING:  # for annotations only: the store imports this module
    from xcomlab.backend.store import XComStore

__all__ = ["CleanupReport", "ReconcileReport", "RetentionPolicy", "cleanup", "reconcile", "rotate"]

RowKey = tuple[str, str, str, int, str]  # dag_id, run_id, task_id, map_index, key


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found (and removed, when asked to purge).

    ``orphans``: object URIs no row points to (older than the grace period; temporary files
    of interrupted writes included). ``young_orphans``: unreferenced objects still inside
    the grace period (possibly a write in flight), never purged. ``dangling``: rows whose
    object is missing, as ``(dag_id, run_id, task_id, map_index, key)``.
    """

    rows: int = 0
    objects: int = 0
    orphans: list[str] = field(default_factory=list)
    young_orphans: list[str] = field(default_factory=list)
    dangling: list[RowKey] = field(default_factory=list)
    purged_objects: int = 0
    purged_rows: int = 0

    def summary(self) -> dict[str, int]:
        """Counts only."""
        return {"rows": self.rows, "objects": self.objects, "orphans": len(self.orphans),
                "young_orphans": len(self.young_orphans), "dangling": len(self.dangling),
                "purged_objects": self.purged_objects, "purged_rows": self.purged_rows}


def reconcile(store: XComStore, *, purge: bool = False, grace_s: float = 300.0) -> ReconcileReport:
    """Compare rows and objects.

    Rows are read first and objects listed second: since a ``set`` writes its object
    before its row, every row seen has its object in the listing unless it was really
    lost. Objects younger than ``grace_s`` seconds may belong to a ``set`` whose row is not
    committed yet, so they are reported apart and never purged.
    """
    t = Timer("reconcile", tier="object")
    report = ReconcileReport()
    refs = _referenced(store, t)
    report.rows = len(refs)
    if store.objects is None:
        store.recorder.add(t)
        return report
    with t.phase("object"):
        listed = list(store.objects.listing())
    report.objects = len(listed)
    present = {o["uri"] for o in listed}
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
    for o in listed:
        if o["uri"] in refs:
            continue
        young = o["modified"] is not None and o["modified"] > cutoff
        (report.young_orphans if young else report.orphans).append(o["uri"])
    report.dangling = [k for uri, k in refs.items()
                       if uri.startswith(store.objects.base + "/") and uri not in present]
    if purge:
        _purge(store, report, t)
    store.recorder.add(t)
    return report


def _referenced(store: XComStore, t: Timer) -> dict[str, RowKey]:
    """URI → row key of every offloaded row."""
    x = store.xcom
    out: dict[str, RowKey] = {}
    with t.phase("db"):
        rows = store.read(sa.select(x.c.dag_id, x.c.run_id, x.c.task_id, x.c.map_index, x.c.key,
                                    x.c.value))
    for r in rows:
        v = r[5]
        if is_envelope(v) and isinstance(v.get("uri"), str):
            out[v["uri"]] = (r[0], r[1], r[2], int(r[3]), r[4])
    return out


def _purge(store: XComStore, report: ReconcileReport, t: Timer) -> None:
    assert store.objects is not None
    with t.phase("object"):
        for uri in report.orphans:
            report.purged_objects += store.objects.delete(uri)
    for dag_id, run_id, task_id, map_index, key in report.dangling:
        current = _current_uri(store, dag_id, run_id, task_id, map_index, key)
        if current is None or store.objects.exists(current):
            continue  # rewritten since, or the object came back
        with t.phase("db"):
            report.purged_rows += store.delete(key, dag_id=dag_id, run_id=run_id,
                                               task_id=task_id, map_index=map_index)


def _current_uri(store: XComStore, dag_id: str, run_id: str, task_id: str, map_index: int,
                 key: str) -> str | None:
    try:
        v = store.get_stored(key, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    except KeyError:
        return None
    return v.get("uri") if is_envelope(v) else None


@dataclass(frozen=True)
class CleanupReport:
    """Rows deleted and objects purged by :func:`cleanup`, with the bytes they held."""

    rows: int
    objects: int
    row_bytes: int
    object_bytes: int


def cleanup(store: XComStore, policy: RetentionPolicy, *, now: datetime | None = None) -> CleanupReport:
    """Delete the XComs ``policy`` selects (rows first, then their objects).

    The rule is :meth:`RetentionPolicy.removes`, the same as the what-if
    :func:`xcomlab.analysis.retention.retention`. Only the version that was selected
    goes: a row rewritten since keeps its new value.
    """
    x = store.xcom
    now = now or datetime.now(UTC)
    q = sa.select(x.c.dag_id, x.c.run_id, x.c.task_id, x.c.map_index, x.c.key, x.c.timestamp)
    if policy.dag_ids is not None:
        q = q.where(x.c.dag_id.in_(policy.dag_ids))
    rows = store.read(q)
    doomed = policy.removes(((r[0], r[1], r[4], r[5]) for r in rows), now)
    n_rows = n_obj = row_bytes = obj_bytes = 0
    for dag_id, run_id, task_id, map_index, key, ts in sorted(rows[i] for i in doomed):
        try:
            v = store.get_stored(key, dag_id=dag_id, run_id=run_id, task_id=task_id,
                                 map_index=map_index)
        except KeyError:
            continue
        if store.delete_version(key, dag_id=dag_id, run_id=run_id, task_id=task_id,
                                map_index=map_index, timestamp=ts, op="cleanup"):
            n_rows += 1
            row_bytes += len(dumps_json(v))
            if is_envelope(v) and v.get("uri"):
                n_obj += 1
                obj_bytes += int(v.get("stored_bytes", 0))
    return CleanupReport(n_rows, n_obj, row_bytes, obj_bytes)


def rotate(store: XComStore) -> int:
    """Re-encrypt every encrypted value (inline or object) with the first Fernet key.

    Each row is updated only if it still holds the version that was read (same
    ``timestamp``), so a value rewritten meanwhile by ``set`` is never overwritten.
    """
    x = store.xcom
    rows = store.read(sa.select(x.c.dag_run_id, x.c.task_id, x.c.map_index, x.c.key, x.c.timestamp,
                                x.c.value))
    n = 0
    for run_pk, task_id, map_index, key, ts, v in rows:
        if not (is_envelope(v) and str(v["codec"]).endswith("+fernet")):
            continue
        t = Timer("rotate", {"task_id": task_id, "map_index": map_index, "key": key})
        new = _rotated(store, Envelope.from_json(v), t)
        where = sa.and_(x.c.dag_run_id == run_pk, x.c.task_id == task_id,
                        x.c.map_index == map_index, x.c.key == key, x.c.timestamp == ts)
        try:
            with t.phase("db"), store.engine.begin() as conn:
                changed = conn.execute(x.update().where(where).values(value=new.to_json())).rowcount
        except BaseException:
            store.purge(new.to_json())
            raise
        store.purge(v if changed else new.to_json())
        store.recorder.add(t)
        n += changed
    return n


def _rotated(store: XComStore, env: Envelope, t: Timer) -> Envelope:
    if env.uri is None:
        with t.phase("encrypt"):
            token = store.codec.rotate(env.payload())
        return replace(env, data=Envelope.pack_data(env.codec, token), sha256=sha256_hex(token),
                       stored_bytes=len(token))
    assert store.objects is not None
    with t.phase("object"):
        data = store.objects.get(env.uri)
    if sha256_hex(data) != env.sha256:
        msg = f"{env.uri}: sha256 mismatch; not rotating a corrupted object"
        raise IntegrityError(msg)
    with t.phase("encrypt"):
        token = store.codec.rotate(data)
    rel = env.uri[len(store.objects.base) + 1:]
    head, _, _ = rel.rpartition("/")
    stem = rel.rsplit("/", 1)[1].rsplit("-", 1)[0]
    ext = "".join(EXTENSIONS[p] for p in env.codec.split("+"))
    new_rel = f"{head}/{stem}-{uuid.uuid4().hex}{ext}"
    assert TMP_MARK not in new_rel
    with t.phase("object"):
        uri = store.objects.put(new_rel, token)
    t.tier, t.bytes_stored = "object", len(token)
    return replace(env, uri=uri, sha256=sha256_hex(token), stored_bytes=len(token))
