"""Maintenance: reconcile rows with objects, apply retention, rotate encryption keys.

Nothing here runs on its own: a scheduler (or an Airflow maintenance DAG) calls
:meth:`XComStore.reconcile`, :meth:`~XComStore.cleanup` and :meth:`~XComStore.rotate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xcomlab.backend.codecs import EXTENSIONS, IntegrityError, dumps_json, sha256_hex
from xcomlab.backend.envelope import Envelope, has_marker
from xcomlab.backend.measure import Timer
from xcomlab.backend.objects import TMP_MARK
from xcomlab.backend.paths import object_key
from xcomlab.backend.rows import RowRef, name_row
from xcomlab.policy import RetentionPolicy

if TYPE_CHECKING:  # for annotations only: the store imports this module
    from xcomlab.backend.store import XComStore

__all__ = ["CleanupReport", "ReconcileReport", "RetentionPolicy", "RotateReport", "cleanup",
           "reconcile", "rotate"]

RowKey = tuple[str, str, str, int, str]  # dag_id, run_id, task_id, map_index, key


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found (and removed, when asked to purge).

    ``orphans``: object URIs no row points to (older than the grace period; temporary files
    of interrupted writes included). ``young_orphans``: unreferenced objects still inside
    the grace period (possibly a write in flight), never purged. ``dangling``: rows whose
    object is missing, as ``(dag_id, run_id, task_id, map_index, key)``. ``foreign``: rows
    whose envelope points to an object their own ids do not produce (copied from another
    row, or outside the base): such a URI protects no object, and is never checked, read or
    deleted.
    """

    rows: int = 0
    objects: int = 0
    orphans: list[str] = field(default_factory=list)
    young_orphans: list[str] = field(default_factory=list)
    dangling: list[RowKey] = field(default_factory=list)
    foreign: list[RowKey] = field(default_factory=list)
    purged_objects: int = 0
    purged_rows: int = 0

    def summary(self) -> dict[str, int]:
        """Counts only."""
        return {"rows": self.rows, "objects": self.objects, "orphans": len(self.orphans),
                "young_orphans": len(self.young_orphans), "dangling": len(self.dangling),
                "foreign": len(self.foreign),
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
    refs = _referenced(store, t, report)
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


def _referenced(store: XComStore, t: Timer, report: ReconcileReport) -> dict[str, RowKey]:
    """URI → row key of every offloaded row whose URI is its own (others go to ``foreign``)."""
    x = store.xcom
    out: dict[str, RowKey] = {}
    base = store.objects.base if store.objects else None
    with t.phase("db"):
        rows = store.read(sa.select(x.c.dag_id, x.c.run_id, x.c.task_id, x.c.map_index, x.c.key,
                                    x.c.value))
    for r in rows:
        v = r[5]
        if not has_marker(v) or v.get("uri") is None:
            continue
        report.rows += 1  # offloaded rows, as before
        key: RowKey = (r[0], r[1], r[2], int(r[3]), r[4])
        if base is not None and RowRef(*key).owns(v["uri"], base):
            out[v["uri"]] = key
        else:
            report.foreign.append(key)
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
    uri = v.get("uri") if has_marker(v) else None
    owner = RowRef(dag_id, run_id, task_id, map_index, key)
    if not isinstance(uri, str) or store.objects is None:
        return None
    return uri if owner.owns(uri, store.objects.base) else None


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
            row_bytes += _json_bytes(v)
            if has_marker(v) and v.get("uri") is not None:
                n_obj += 1
                size = v.get("stored_bytes")
                obj_bytes += size if isinstance(size, int) and not isinstance(size, bool) else 0
    return CleanupReport(n_rows, n_obj, row_bytes, obj_bytes)


def _json_bytes(v: Any) -> int:
    try:
        return len(dumps_json(v))
    except Exception:  # an unreadable or NaN-holding value: its size is unknown
        return 0


@dataclass
class RotateReport:
    """What :func:`rotate` did: ``rotated`` rows, and ``failed`` ones as
    ``((dag_id, run_id, task_id, map_index, key), reason)`` — left as they were."""

    rotated: int = 0
    failed: list[tuple[RowKey, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Counts only."""
        return {"rotated": self.rotated, "failed": len(self.failed)}


def rotate(store: XComStore) -> RotateReport:
    """Re-encrypt every encrypted value (inline or object) with the first Fernet key.

    Each row is updated only if it still holds the version that was read (same
    ``timestamp``), so a value rewritten meanwhile by ``set`` is never overwritten. A row
    that cannot be rotated (wrong key, corrupted or foreign object, malformed envelope) is
    left untouched and reported; the others are rotated.
    """
    x = store.xcom
    rows = store.read(sa.select(x.c.dag_run_id, x.c.dag_id, x.c.run_id, x.c.task_id,
                                x.c.map_index, x.c.key, x.c.timestamp, x.c.value))
    report = RotateReport()
    for run_pk, dag_id, run_id, task_id, map_index, key, ts, v in rows:
        if not (has_marker(v) and str(v.get("codec")).endswith("+fernet")):
            continue
        row = RowRef(dag_id, run_id, task_id, int(map_index), key)
        t = Timer("rotate", {"dag_id": dag_id, "run_id": run_id, "task_id": task_id,
                             "map_index": map_index, "key": key})
        where = sa.and_(x.c.dag_run_id == run_pk, x.c.task_id == task_id,
                        x.c.map_index == map_index, x.c.key == key, x.c.timestamp == ts)
        try:
            report.rotated += _rotate_row(store, v, row, where, t)
        except Exception as exc:
            store.recorder.add(t, ok=False)
            err = name_row(exc, row)
            report.failed.append((row.as_tuple(), f"{type(err).__name__}: {err}"))  # type: ignore[arg-type]
    return report


def _rotate_row(store: XComStore, v: Any, row: RowRef, where: Any, t: Timer) -> int:
    env = Envelope.from_json(v)
    store.codec.check_chain(env.codec)
    if env.uri is not None:
        store.owned_uri(v, row)  # a foreign URI is neither read nor replaced
    new = _rotated(store, env, row, t)
    x = store.xcom
    try:
        with t.phase("db"), store.engine.begin() as conn:
            changed = conn.execute(x.update().where(where).values(value=new.to_json())).rowcount
    except BaseException:
        store.purge(new.to_json(), row=row)
        raise
    store._purge_quietly(v if changed else new.to_json(), row, t)
    store.recorder.add(t)
    return int(changed)


def _rotated(store: XComStore, env: Envelope, row: RowRef, t: Timer) -> Envelope:
    if env.uri is None:
        with t.phase("encrypt"):
            token = store.codec.rotate(env.payload())
        return replace(env, data=Envelope.pack_data(env.codec, token), sha256=sha256_hex(token),
                       stored_bytes=len(token))
    assert store.objects is not None
    with t.phase("object"):
        data = store.objects.get(env.uri, max_bytes=env.stored_bytes)
    if len(data) != env.stored_bytes or sha256_hex(data) != env.sha256:
        msg = f"{env.uri}: size or sha256 mismatch; not rotating a corrupted object"
        raise IntegrityError(msg)
    with t.phase("encrypt"):
        token = store.codec.rotate(data)
    ext = "".join(EXTENSIONS[p] for p in env.codec.split("+"))
    assert row.dag_id is not None and row.run_id is not None and row.task_id is not None
    assert row.map_index is not None and row.key is not None
    new_rel = object_key(dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id,
                         map_index=row.map_index, key=row.key, ext=ext)
    assert TMP_MARK not in new_rel
    with t.phase("object"):
        uri = store.objects.put(new_rel, token)
    t.tier, t.bytes_stored = "object", len(token)
    return replace(env, uri=uri, sha256=sha256_hex(token), stored_bytes=len(token))
