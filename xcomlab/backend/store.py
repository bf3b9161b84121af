"""Store: XComStore, a tiered XCom store usable without Airflow (SQL rows + fsspec objects).

Write order (crash safety): the object first (atomic: temporary name then rename, or one
PUT), then the row in one transaction (DELETE + INSERT, as Airflow's ``XCom.set``); if the
transaction fails the new object is removed, and an object the replaced row pointed to is
removed after the commit. Deletes go the other way: rows first (committed), then objects. A
crash can therefore leave orphan objects (no row) but never a row whose object was not
fully written; :meth:`XComStore.reconcile` finds and purges orphans, and also reports
dangling rows (object lost by other means, e.g. a bucket lifecycle rule).

For the Airflow adapter, :meth:`XComStore.encode` / :meth:`~XComStore.decode` /
:meth:`~XComStore.purge` are the ``serialize_value`` / ``deserialize_value`` / ``purge``
halves that do not touch the xcom table (Airflow writes the row itself).

Rows are untrusted (any task can push any JSON): an offloaded value is read or deleted only
when its URI is the one the row's own ids produce (:mod:`xcomlab.backend.rows`); every
failure on a stored row is an :class:`~xcomlab.errors.XcomlabError` naming the row. Work on
many rows (``clear``, cleanup, ``rotate``) goes on past a bad row and reports it (log
warning on ``xcomlab.backend``, or the maintenance report).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from xcomlab.backend import maintenance, operations, serde
from xcomlab.backend.codecs import (
    DEFAULT_READ_LIMIT_BYTES,
    EXTENSIONS,
    Codec,
    CodecError,
    IntegrityError,
    dumps_json,
    sha256_hex,
)
from xcomlab.backend.config import AccessRequest, ConfigError, StoreConfig
from xcomlab.backend.envelope import Envelope, fit, has_marker, is_envelope, preview_of
from xcomlab.backend.measure import Recorder, Timer
from xcomlab.backend.objects import ObjectStore, ObjectStoreError
from xcomlab.backend.paths import check_ids, object_key
from xcomlab.backend.rows import ForeignObjectError, RowRef, StoredRowError, name_row
from xcomlab.backend.sacompat import delete_returning
from xcomlab.backend.table import Unreadable, make_engine, make_tables
from xcomlab.errors import XcomlabError, XComTooLargeError
from xcomlab.policy import RetentionPolicy

if TYPE_CHECKING:  # pandas is loaded only by rows() / measurements(), never on a worker's path
    import pandas as pd

__all__ = ["AccessDeniedError", "XComStore"]

#: Attempts of a row transaction that lost a race (unique violation, deadlock, busy).
WRITE_ATTEMPTS: Final = 8
_MISSING: Final = object()
log = logging.getLogger("xcomlab.backend")


class AccessDeniedError(XcomlabError, PermissionError):
    """The store's access policy refused a read."""


class XComStore:
    """XComs in an Airflow-3-shaped SQL table, large values in object storage.

    Parameters
    ----------
    config
        A :class:`StoreConfig`; keyword ``overrides`` replace its fields.
    create
        Create the tables when they do not exist.

    Examples
    --------
    >>> store = XComStore(url="sqlite://")
    >>> store.set("return_value", {"rows": 3}, dag_id="d", run_id="r", task_id="t")
    >>> store.get("return_value", dag_id="d", run_id="r", task_id="t")
    {'rows': 3}
    """

    def __init__(self, config: StoreConfig | None = None, *, create: bool = True,
                 **overrides: Any) -> None:
        cfg = (config or StoreConfig()).replace(**overrides) if overrides else (config or StoreConfig())
        self.config = cfg
        self.codec = Codec(cfg.compression, tuple(cfg.fernet_keys), cfg.allow_pickle,
                           zstd_level=cfg.zstd_level, zstd_threads=cfg.zstd_threads)
        self.objects = ObjectStore(cfg.object_base, cfg.storage_options) if cfg.object_base else None
        self.engine = make_engine(cfg.url)
        self.metadata, self.xcom, self.runs = make_tables(cfg.table)
        self.recorder = Recorder(dialect=self.engine.dialect.name,
                                 protocol=self.objects.protocol if self.objects else "",
                                 enabled=cfg.measure,
                                 listeners=operations.listeners(cfg, self.engine))  # audit, metrics
        self.cache = operations.make_cache(cfg)  # fan-in cache of offloaded values, or None
        self._run_ids: dict[tuple[str, str], int] = {}
        self._stmts = _Statements(self.xcom)
        if create:
            self.metadata.create_all(self.engine, checkfirst=True)

    @classmethod
    def from_env(cls, **overrides: Any) -> XComStore:
        """A store configured from ``XCOMLAB_*`` / ``AIRFLOW__XCOMLAB__*`` variables
        (see :meth:`StoreConfig.from_env`); keyword ``overrides`` win."""
        return cls(StoreConfig.from_env(**overrides))

    def __repr__(self) -> str:
        cfg = self.config
        return (f"XComStore(url={cfg.masked('url')!r}, object_base={cfg.masked('object_base')!r}, "
                f"threshold={cfg.threshold}, encrypted={self.codec.encrypted})")

    def __enter__(self) -> XComStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    # -- encode / decode: the serialize_value / deserialize_value halves ------------------

    def encode(self, value: Any, *, key: str, dag_id: str, run_id: str, task_id: str,
               map_index: int = -1) -> Any:
        """Serialize ``value`` and return what the row's ``value`` column should hold.

        Writes the object first when the value is offloaded. The result is JSON-able:
        the value's own JSON (Airflow 3 serde) when inline and plain, else an envelope.

        Raises
        ------
        XComTooLargeError
            When the serialized value exceeds ``max_value_bytes`` (nothing is written).
        """
        check_ids(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index)
        t = Timer("encode", _ids(dag_id, run_id, task_id, map_index, key))
        try:
            stored = self._encode(value, t)
        except BaseException:
            self.recorder.add(t, ok=False)
            raise
        self.recorder.add(t)
        return stored

    def _encode(self, value: Any, t: Timer) -> Any:
        kind, jsonable, raw = self._serialize(value, t)
        t.bytes_in = len(raw)
        limit = self.config.max_value_bytes
        if limit is not None and len(raw) > limit:
            msg = (f"XCom {t.ids['key']!r} of {t.ids['dag_id']}.{t.ids['task_id']} is {len(raw):,} "
                   f"bytes serialized, over max_value_bytes={limit:,}; nothing was written")
            raise XComTooLargeError(msg)
        th, on = self.config.threshold, self.config.threshold_on
        offload = th == 0 or (th > 0 and on == "serialized" and len(raw) >= th)
        if offload or (th > 0 and on == "stored"):
            chain = self.codec.chain(kind)
            stored = self._transform(raw, chain, t)
            offload = offload or len(stored) >= th
            if offload:
                return self._offload(jsonable, raw, stored, chain, t)
        return self._inline(kind, jsonable, raw, t)

    def _serialize(self, value: Any, t: Timer) -> tuple[str, Any, bytes]:
        with t.phase("serialize"):
            try:
                jsonable = serde.serialize(value)
            except serde.SerdeError:
                if not self.codec.allow_pickle:
                    raise
                return "pickle", None, self.codec.pickle_dumps(value)
            return "json", jsonable, dumps_json(jsonable)

    def _transform(self, raw: bytes, chain: str, t: Timer) -> bytes:
        data = raw
        if chain.split("+")[1:2] in (["zstd"], ["gzip"]):
            with t.phase("compress"):
                data = self.codec.compress(data)
        if chain.endswith("+fernet"):
            with t.phase("encrypt"):
                data = self.codec.encrypt(data)
        return data

    def _offload(self, jsonable: Any, raw: bytes, stored: bytes, chain: str, t: Timer) -> Any:
        assert self.objects is not None  # config guarantees object_base when threshold != -1
        ids = t.ids
        ext = "".join(EXTENSIONS[p] for p in chain.split("+"))
        rel = object_key(dag_id=ids["dag_id"], run_id=ids["run_id"], task_id=ids["task_id"],
                         map_index=ids["map_index"], key=ids["key"], ext=ext)
        with t.phase("object"):
            uri = self.objects.put(rel, stored)
        kind = length = preview = None
        if not self.codec.encrypted and self.config.preview_chars and jsonable is not None:
            kind, length, preview = preview_of(jsonable, self.config.preview_chars)
        env = fit(Envelope(codec=chain, stored_bytes=len(stored), value_bytes=len(raw),
                           sha256=sha256_hex(stored), uri=uri, kind=kind, length=length,
                           preview=preview))
        t.tier, t.codec, t.bytes_stored = "object", chain, len(stored)
        return env.to_json()

    def _inline(self, kind: str, jsonable: Any, raw: bytes, t: Timer) -> Any:
        pack = kind != "json" or self.codec.encrypted or self.config.compress_inline
        if pack:
            chain = self.codec.chain(kind, compress=self.config.compress_inline)
            stored = self._transform(raw, chain, t)
            env = Envelope(codec=chain, stored_bytes=len(stored), value_bytes=len(raw),
                           sha256=sha256_hex(stored), data=Envelope.pack_data(chain, stored))
            out = env.to_json()
            if kind != "json" or self.codec.encrypted or len(dumps_json(out)) < len(raw):
                t.codec, t.bytes_stored = chain, len(dumps_json(out))
                return out
        t.codec, t.bytes_stored = "json", len(raw)
        return jsonable

    def decode(self, stored: Any, *, row: RowRef | None = None) -> Any:
        """Rebuild the value from what a row's ``value`` column holds (see :meth:`encode`).

        Parameters
        ----------
        stored
            The row's ``value`` (JSON-decoded).
        row
            The row's ids. An offloaded value is read only when its URI is one these ids
            produce; ids left ``None`` are not checked (an adapter that is not told them).
            Without ``row`` an offloaded value is refused.

        Raises
        ------
        ForeignObjectError
            The envelope points to an object that is not this row's.
        IntegrityError
            When the stored bytes do not match the sha256 or sizes recorded at write time.
        StoredRowError
            Any other malformed content (every error names the row).
        """
        t = Timer("decode")
        try:
            value = self._decode(stored, t, row)
        except Exception as exc:
            self.recorder.add(t, ok=False)
            err = name_row(exc, row)
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            self.recorder.add(t, ok=False)
            raise
        self.recorder.add(t)
        return value

    def read_limit(self) -> int:
        """Largest serialized value a read accepts (``max_value_bytes``, else the default)."""
        limit = self.config.max_value_bytes
        return DEFAULT_READ_LIMIT_BYTES if limit is None else limit

    def owned_uri(self, stored: Any, row: RowRef | None) -> str | None:
        """The object URI of a row's value, None when it has none; refuse (before any I/O)
        a URI the row's ids do not produce (:class:`ForeignObjectError`)."""
        if not has_marker(stored) or stored.get("uri") is None:
            return None
        if row is None:
            msg = (f"an offloaded value ({str(stored.get('uri'))[:200]!r}) is read or deleted only "
                   "for the row it belongs to; pass row=RowRef(dag_id, run_id, task_id, map_index, key)")
            raise ForeignObjectError(msg)
        return row.check_uri(stored["uri"], self.objects.base if self.objects else None)

    def _decode(self, stored: Any, t: Timer, row: RowRef | None) -> Any:
        if isinstance(stored, Unreadable):
            raise StoredRowError(stored.reason, row=row)
        if not has_marker(stored):
            with t.phase("serialize"):
                return serde.deserialize(stored, allowed_classes=self.config.allowed_classes)
        env = Envelope.from_json(stored)
        kind = self.codec.check_chain(env.codec)  # pickle refused before any decoding
        limit = self.read_limit()
        if env.value_bytes > limit:
            msg = (f"envelope states a {env.value_bytes:,}-byte value, over the read limit of "
                   f"{limit:,} bytes (max_value_bytes); not decoded")
            raise CodecError(msg)
        t.codec, t.bytes_in = env.codec, env.value_bytes
        # The row must own the URI before anything is read, from the cache or the store.
        uri = self.owned_uri(stored, row) if env.uri is not None else None
        # Fan-in cache: keyed by (uri, sha256), filled only after the sha256 matched.
        data = self._cached(env, uri, t)
        if data is None:
            data = self._plaintext(env, uri, t)
            if self.cache is not None and uri is not None:
                self.cache.put(uri, env.sha256, data)
        with t.phase("serialize"):
            if kind == "json":
                return serde.deserialize_json(data, allowed_classes=self.config.allowed_classes)
            return self.codec.unpickle(data)  # check_chain refused it unless allowed

    def _cached(self, env: Envelope, uri: str | None, t: Timer) -> bytes | None:
        if self.cache is None or uri is None:
            return None
        data = self.cache.get(uri, env.sha256)
        t.cache = "miss" if data is None else "hit"
        if data is not None:
            t.tier, t.bytes_stored = "object", env.stored_bytes
        return data

    def _plaintext(self, env: Envelope, uri: str | None, t: Timer) -> bytes:
        """The serialized bytes of an envelope's value: fetched, checked, decrypted, decompressed."""
        if uri is not None:
            assert self.objects is not None
            t.tier = "object"
            with t.phase("object"):
                data = self.objects.get(uri, max_bytes=env.stored_bytes)
        else:
            data = env.payload()
        t.bytes_stored = len(data)
        where = env.uri or "the row's packed data"
        if len(data) != env.stored_bytes or sha256_hex(data) != env.sha256:
            msg = (f"{where}: {len(data):,} bytes with sha256 {sha256_hex(data)[:16]}… do not match "
                   f"the {env.stored_bytes:,} bytes and {env.sha256[:16]}… recorded at write time; "
                   "the value was modified or corrupted")
            raise IntegrityError(msg)
        with t.phase("encrypt"):
            if env.codec.endswith("+fernet"):
                data = self.codec.decrypt(data)
        with t.phase("compress"):
            chain = env.codec.removesuffix("+fernet")
            data = self.codec.decode_bytes(chain, data, max_bytes=env.value_bytes)
        if len(data) != env.value_bytes:
            msg = (f"{where}: decodes to {len(data):,} bytes, not the {env.value_bytes:,} its "
                   "envelope states")
            raise IntegrityError(msg)
        return data

    def purge(self, stored: Any, *, row: RowRef | None = None) -> bool:
        """Remove the object a row's value points to; False when there is none.

        Raises
        ------
        ForeignObjectError
            The URI is not one ``row``'s ids produce (or ``row`` is missing): nothing is deleted.
        """
        uri = self.owned_uri(stored, row)
        if uri is None or self.objects is None:
            return False
        t = Timer("purge", tier="object")
        if self.cache is not None:
            self.cache.discard(uri)
        with t.phase("object"):
            gone = self.objects.delete(uri)
        self.recorder.add(t)
        return gone

    def _purge_quietly(self, stored: Any, row: RowRef, t: Timer) -> bool:
        """Purge after the rows are committed: a failure is logged (naming the row) and left
        to :meth:`reconcile`, never raised. Returns False when the object was kept."""
        try:
            with t.phase("object"):
                self.purge(stored, row=row)
        except Exception as exc:
            err = name_row(exc, row)
            log.warning("xcomlab: %s (%s); its object was not purged, see XComStore.reconcile",
                        err, type(err).__name__)
            return False
        return True

    # -- rows -------------------------------------------------------------------------------

    def set(self, key: str, value: Any, *, dag_id: str, run_id: str, task_id: str,
            map_index: int = -1, dag_result: bool = False) -> None:
        """Store ``value``, replacing the XCom with the same ids (object first, then the row)."""
        check_ids(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index)
        t = Timer("set", _ids(dag_id, run_id, task_id, map_index, key))
        try:
            stored = self._encode(value, t)
            old = self._write_row(t, stored, dag_result)
        except BaseException:
            self.recorder.add(t, ok=False)
            raise
        if old is not _MISSING and _uri(old) is not None and _uri(old) != _uri(stored):
            self._purge_quietly(old, _row(t.ids), t)  # never raises: the new row is committed
        self.recorder.add(t)

    def _write_row(self, t: Timer, stored: Any, dag_result: bool) -> Any:
        ids = t.ids
        try:
            run_pk = self._dag_run_id(ids["dag_id"], ids["run_id"])
            with t.phase("db"):
                return self._retry(lambda conn: self._replace(conn, run_pk, ids, stored, dag_result))
        except BaseException:
            self.purge(stored, row=_row(ids))
            raise

    def _replace(self, conn: sa.Connection, run_pk: int, ids: dict[str, Any], stored: Any,
                 dag_result: bool) -> Any:
        st = self._stmts
        pk = {"b_run": run_pk, "b_task": ids["task_id"], "b_map": ids["map_index"],
              "b_key": ids["key"]}
        if delete_returning(self.engine.dialect):  # known once the dialect has connected
            old = [r[0] for r in conn.execute(st.delete_returning, pk)]
        else:
            old = [r[0] for r in conn.execute(st.select_for_update, pk)]
            if old:
                conn.execute(st.delete, pk)
        conn.execute(st.insert, {
            "dag_run_id": run_pk, "task_id": ids["task_id"], "map_index": ids["map_index"],
            "key": ids["key"], "dag_result": dag_result, "dag_id": ids["dag_id"],
            "run_id": ids["run_id"], "value": stored, "timestamp": datetime.now(UTC)})
        return old[0] if old else _MISSING

    def _delete_returning(self, conn: sa.Connection, where: Any) -> list[tuple[RowRef, Any]]:
        """Delete rows matching ``where``; return their ids and values (RETURNING where supported)."""
        x = self.xcom
        cols = (x.c.dag_id, x.c.run_id, x.c.task_id, x.c.map_index, x.c.key, x.c.value)
        if delete_returning(self.engine.dialect):
            got = list(conn.execute(x.delete().where(where).returning(*cols)))
        else:
            got = list(conn.execute(sa.select(*cols).where(where).with_for_update()))
            conn.execute(x.delete().where(where))
        return [(RowRef(r[0], r[1], r[2], int(r[3]), r[4]), r[5]) for r in got]

    def _retry(self, work: Any) -> Any:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except (sa.exc.IntegrityError, sa.exc.OperationalError):
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        msg = "unreachable"
        raise AssertionError(msg)

    def _dag_run_id(self, dag_id: str, run_id: str) -> int:
        """The integer id of (dag_id, run_id), minted once like Airflow's ``dag_run.id``."""
        cached = self._run_ids.get((dag_id, run_id))
        if cached is not None:
            return cached
        r = self.runs
        where = sa.and_(r.c.dag_id == dag_id, r.c.run_id == run_id)
        for _ in range(WRITE_ATTEMPTS):
            with self._reading() as conn:
                found = conn.execute(sa.select(r.c.id).where(where)).scalar()
            if found is not None:
                self._run_ids[(dag_id, run_id)] = int(found)
                return int(found)
            try:
                with self.engine.begin() as conn:
                    conn.execute(r.insert().values(dag_id=dag_id, run_id=run_id))
            except (sa.exc.IntegrityError, sa.exc.OperationalError):
                time.sleep(0.01)
        msg = f"could not register dag run {dag_id!r}/{run_id!r} after {WRITE_ATTEMPTS} attempts"
        raise XcomlabError(msg)

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A read-only connection (SQLite: a deferred transaction that takes no write lock)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(xcomlab_read=True)

    def read(self, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
        """The rows of one ``SELECT`` on the store's tables, read without taking a write lock."""
        with self._reading() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def get_stored(self, key: str, *, dag_id: str, run_id: str, task_id: str,
                   map_index: int = -1) -> Any:
        """The raw ``value`` column of one XCom (an envelope or native JSON), or KeyError."""
        params = {"b_dag": dag_id, "b_run": run_id, "b_task": task_id, "b_map": map_index,
                  "b_key": key}
        # one statement: SQLite runs it in its own read transaction (no BEGIN/ROLLBACK trips)
        with self.engine.connect() as conn:
            row = conn.execution_options(xcomlab_read="single").execute(
                self._stmts.select_value, params).first()
        if row is None:
            msg = f"no XCom {key!r} for {dag_id}/{run_id}/{task_id}[{map_index}]"
            raise KeyError(msg)
        return row[0]

    def get(self, key: str, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1,
            default: Any = None, reader_dag_id: str | None = None) -> Any:
        """Return the value of one XCom, or ``default`` when there is none.

        Naming another ``dag_id`` reads across DAGs; the store's ``access_policy`` sees the
        request (with ``reader_dag_id``) and may refuse it with :class:`AccessDeniedError`.
        """
        t = Timer("get", _ids(dag_id, run_id, task_id, map_index, key))
        try:
            self._check_access("get", reader_dag_id, dag_id, run_id, task_id, key, map_index)
            value = self._get(t, default)
        except AccessDeniedError:  # a refused request, not a fault of the stored row
            self.recorder.add(t, ok=False)
            raise
        except Exception as exc:
            self.recorder.add(t, ok=False)
            err = name_row(exc, _row(t.ids))
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            self.recorder.add(t, ok=False)
            raise
        self.recorder.add(t)
        return value

    def _get(self, t: Timer, default: Any) -> Any:
        """Read the row, then its object. A concurrent ``set`` may replace the row and purge
        the old object between the two reads: then the row is read again, so a reader sees
        the old or the new value, never an error (only a row still pointing to a missing
        object is dangling)."""
        ids = t.ids
        seen: str | None = None
        for _ in range(WRITE_ATTEMPTS):
            with t.phase("db"):
                try:
                    stored = self.get_stored(ids["key"], dag_id=ids["dag_id"], run_id=ids["run_id"],
                                             task_id=ids["task_id"], map_index=ids["map_index"])
                except KeyError:
                    t.tier = "none"
                    return default
            uri = _uri(stored)
            try:
                return self._decode(stored, t, _row(ids))
            except ForeignObjectError:
                raise
            except ObjectStoreError:
                if uri is None or uri == seen:
                    raise
                seen = uri
        msg = f"XCom {ids['key']!r} kept changing while being read; try again"
        raise ObjectStoreError(msg)

    def _check_access(self, op: str, reader: str | None, dag_id: str, run_id: str,
                      task_id: str, key: str, map_index: int) -> None:
        policy = self.config.access_policy
        if policy is None:
            return
        req = AccessRequest(op, reader, dag_id, run_id, task_id, key, map_index)
        if not policy(req):
            who = f"dag {reader!r}" if reader is not None else "an unnamed reader"
            msg = f"access policy refused {who} reading {dag_id}/{run_id}/{task_id}[{map_index}] {key!r}"
            raise AccessDeniedError(msg)

    def delete(self, key: str, *, dag_id: str, run_id: str, task_id: str,
               map_index: int = -1) -> bool:
        """Delete one XCom (row first, then its object); False when it did not exist."""
        x = self.xcom
        n = self._delete_where(sa.and_(x.c.dag_id == dag_id, x.c.run_id == run_id,
                                       x.c.task_id == task_id, x.c.map_index == map_index,
                                       x.c.key == key),
                               Timer("delete", _ids(dag_id, run_id, task_id, map_index, key)))
        return n > 0

    def clear(self, *, dag_id: str, run_id: str | None = None, task_id: str | None = None,
              map_index: int | None = None, key: str | None = None) -> int:
        """Delete every XCom of a DAG (narrowed by the other ids) and purge their objects."""
        x = self.xcom
        conds = [x.c.dag_id == dag_id]
        for col, v in (("run_id", run_id), ("task_id", task_id), ("map_index", map_index),
                       ("key", key)):
            if v is not None:
                conds.append(x.c[col] == v)
        ids = {"dag_id": dag_id, "run_id": run_id or "", "task_id": task_id or "",
               "map_index": -1 if map_index is None else map_index, "key": key or ""}
        return self._delete_where(sa.and_(*conds), Timer("clear", ids))

    def delete_version(self, key: str, *, dag_id: str, run_id: str, task_id: str, map_index: int,
                       timestamp: datetime, op: str = "delete") -> bool:
        """Delete one XCom only if it is still the version written at ``timestamp``.

        A value rewritten since (by ``set``) keeps its new row and object; returns whether
        the row went. ``op`` names the operation in :meth:`measurements`.
        """
        x = self.xcom
        where = sa.and_(x.c.dag_id == dag_id, x.c.run_id == run_id, x.c.task_id == task_id,
                        x.c.map_index == map_index, x.c.key == key, x.c.timestamp == timestamp)
        return self._delete_where(where, Timer(op, _ids(dag_id, run_id, task_id, map_index, key))) > 0

    def _delete_where(self, where: Any, t: Timer) -> int:
        """Delete the rows (committed), then purge each one's own object. A row whose object
        cannot be purged (foreign or malformed envelope, store error) is logged, naming the
        row, and the others go on: no orphans beyond the reported rows."""
        try:
            with t.phase("db"):
                olds = self._retry(lambda conn: self._delete_returning(conn, where))
        except BaseException:
            self.recorder.add(t, ok=False)
            raise
        ok = True
        for row, old in olds:
            if _uri(old) is not None:
                t.tier = "object"
                ok = self._purge_quietly(old, row, t) and ok
        self.recorder.add(t, ok=ok)
        return len(olds)

    def rows(self, *, dag_id: str | None = None, run_id: str | None = None) -> pd.DataFrame:
        """The table's rows (ids, timestamp, whether offloaded and the object's URI)."""
        import pandas as pd

        x = self.xcom
        q = sa.select(x.c.dag_id, x.c.run_id, x.c.task_id, x.c.map_index, x.c.key,
                      x.c.timestamp, x.c.value)
        if dag_id is not None:
            q = q.where(x.c.dag_id == dag_id)
        if run_id is not None:
            q = q.where(x.c.run_id == run_id)
        with self._reading() as conn:
            data = [dict(r._mapping) for r in conn.execute(q)]
        for d in data:
            v = d.pop("value")
            d["uri"] = _uri(v)
            d["codec"] = (str(v["codec"]) if is_envelope(v) else
                          "unreadable" if isinstance(v, Unreadable) else "json")
        cols = ["dag_id", "run_id", "task_id", "map_index", "key", "timestamp", "uri", "codec"]
        return pd.DataFrame(data, columns=cols)

    # -- maintenance (see xcomlab.backend.maintenance) ---------------------------------------

    def reconcile(self, *, purge: bool = False, grace_s: float = 300.0) -> Any:
        """Find orphan objects and dangling rows; with ``purge=True`` remove them.

        See :func:`xcomlab.backend.maintenance.reconcile`.
        """
        return maintenance.reconcile(self, purge=purge, grace_s=grace_s)

    def cleanup(self, policy: RetentionPolicy, *, now: datetime | None = None) -> Any:
        """Apply a :class:`~xcomlab.policy.RetentionPolicy`; return what went."""
        return maintenance.cleanup(self, policy, now=now)

    def rotate(self) -> maintenance.RotateReport:
        """Re-encrypt every encrypted value with the first Fernet key.

        Returns a :class:`~xcomlab.backend.maintenance.RotateReport`: how many rows were
        rotated, and each row that could not be (ids and reason); one bad row never stops
        the others.
        """
        if not self.codec.encrypted:
            msg = "rotate() needs fernet_keys: put the new key first and keep the old ones after it"
            raise ConfigError(msg)
        return maintenance.rotate(self)

    def measurements(self) -> pd.DataFrame:
        """One row per operation so far (see :mod:`xcomlab.backend.measure` for columns)."""
        return self.recorder.frame()


class _Statements:
    """The per-operation statements, built once: SQLAlchemy then reuses their compiled form
    from its cache without rebuilding and re-keying a new statement on every call."""

    def __init__(self, x: sa.Table) -> None:
        b = sa.bindparam
        by_pk = sa.and_(x.c.dag_run_id == b("b_run"), x.c.task_id == b("b_task"),
                        x.c.map_index == b("b_map"), x.c.key == b("b_key"))
        self.select_value = sa.select(x.c.value).where(
            x.c.dag_id == b("b_dag"), x.c.run_id == b("b_run"), x.c.task_id == b("b_task"),
            x.c.map_index == b("b_map"), x.c.key == b("b_key"))
        self.delete = x.delete().where(by_pk)
        self.delete_returning = self.delete.returning(x.c.value)
        self.select_for_update = sa.select(x.c.value).where(by_pk).with_for_update()
        self.insert = x.insert()


def _ids(dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> dict[str, Any]:
    return {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
            "key": key}


def _row(ids: dict[str, Any]) -> RowRef:
    return RowRef(ids["dag_id"], ids["run_id"], ids["task_id"], ids["map_index"], ids["key"])


def _uri(stored: Any) -> Any:
    """The ``uri`` field of anything carrying the envelope marker (unchecked), else None."""
    return stored.get("uri") if has_marker(stored) else None

