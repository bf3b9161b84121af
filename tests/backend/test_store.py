"""Conformance suite: every metadata DB × every object store behaves the same."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from fsspec.core import url_to_fs

import xcomlab
from xcomlab.backend import (
    AccessDeniedError,
    CodecError,
    IntegrityError,
    RowRef,
    XComStore,
    XComTooLargeError,
    deny_cross_dag,
    serialize,
)
from xcomlab.backend.codecs import dumps_json

from .conftest import StoreFactory

IDS = {"dag_id": "etl", "run_id": "manual__2024-01-01T00:00:00+00:00", "task_id": "extract"}


@dataclass
class Point:
    """A user dataclass (rebuilt only when allowed)."""

    x: int
    label: str


VALUES: list[Any] = [
    None, 42, 1.5, "hello", True, [1, "x", None], {"a": 1, "b": [1, 2]},
    (1, 2), {3, 1, 2}, frozenset({"a"}),
    dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
    dt.datetime(2024, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2024, 1, 2, 3, 4, 5),
    dt.date(2024, 1, 2), dt.timedelta(hours=1, microseconds=5),
    decimal.Decimal("1.10"), uuid.UUID(int=1), Point(1, "a"),
    {"nested": [(1, dt.date(2020, 2, 29)), {"u": uuid.UUID(int=2)}], "é": "ünïcode ✓"},
]


def _object_fs(store: XComStore, uri: str) -> tuple[Any, str]:
    fs, path = url_to_fs(uri, **dict(store.config.storage_options))
    return fs, path


def _listing(store: XComStore) -> list[str]:
    assert store.objects is not None
    return sorted(o["uri"] for o in store.objects.listing())


@pytest.mark.parametrize("threshold", [-1, 0])
def test_round_trip_of_every_codec_type(make_store: StoreFactory, threshold: int) -> None:
    """Each supported type comes back equal, inline (-1) and offloaded (0)."""
    store = make_store(threshold=threshold, allowed_classes=["*.Point"])
    for i, value in enumerate(VALUES):
        store.set(f"k{i}", value, **IDS)
    for i, value in enumerate(VALUES):
        got = store.get(f"k{i}", **IDS)
        assert got == value and type(got) is type(value), (i, value, got)
    offloaded = [r for r in store.rows().itertuples() if r.uri]
    assert len(offloaded) == (len(VALUES) if threshold == 0 else 0)
    assert len(_listing(store)) == len(offloaded)


def test_inline_rows_hold_airflow_json(make_store: StoreFactory) -> None:
    """Below the threshold a row holds Airflow 3's serde JSON, not an envelope."""
    store = make_store(threshold=-1)
    store.set("t", (1, 2), **IDS)
    store.set("n", 42, **IDS)
    assert store.get_stored("t", **IDS) == {"__classname__": "builtins.tuple", "__version__": 1,
                                            "__data__": [1, 2]}
    assert store.get_stored("n", **IDS) == 42
    utc = serialize(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    # docs/airflow-xcom.md#serialization-2: the bytes Airflow writes for this datetime
    assert json.dumps(utc) == (
        '{"__classname__": "datetime.datetime", "__version__": 2, "__data__": {"timestamp": '
        '1704164645.0, "tz": {"__classname__": "builtins.tuple", "__version__": 1, "__data__": '
        '["UTC", "pendulum.tz.timezone.FixedTimezone", 1, true]}}}')


def test_threshold_boundary_is_at_or_above(make_store: StoreFactory) -> None:
    """common-io semantics: size ≥ threshold goes to the object store, size < stays."""
    n = 100
    store = make_store(threshold=n)
    at = "x" * (n - 2)  # JSON text '"xxx…"' is exactly n bytes
    assert len(dumps_json(at)) == n
    store.set("at", at, **IDS)
    store.set("below", at[:-1], **IDS)
    rows = store.rows().set_index("key")
    assert not pd_isna(rows.loc["at", "uri"])
    assert pd_isna(rows.loc["below", "uri"])
    assert store.get("at", **IDS) == at and store.get("below", **IDS) == at[:-1]


def test_threshold_zero_and_minus_one(make_store: StoreFactory) -> None:
    """0 offloads every value (even null); -1 never offloads (even 1 MB)."""
    always = make_store(threshold=0)
    always.set("null", None, **IDS)
    assert always.rows()["uri"].notna().all()
    assert always.get("null", **IDS, default="missing") is None
    never = make_store(threshold=-1, table="xcom_never")
    never.set("big", "y" * 1_000_000, **IDS)
    assert never.rows()["uri"].isna().all()
    assert never.get("big", **IDS) == "y" * 1_000_000


def test_threshold_on_stored_size(make_store: StoreFactory) -> None:
    """A compressible value over the threshold stays inline when judged on stored bytes."""
    value = ["same"] * 2000  # 16 kB of JSON, ~50 bytes of zstd
    serialized = make_store(threshold=1000)
    stored = make_store(threshold=1000, threshold_on="stored", table="xcom_stored")
    serialized.set("v", value, **IDS)
    stored.set("v", value, **IDS)
    assert serialized.rows()["uri"].notna().all()
    assert stored.rows()["uri"].isna().all()
    assert stored.get("v", **IDS) == value


@pytest.mark.parametrize(("compression", "magic", "ext"), [
    ("zstd", b"\x28\xb5\x2f\xfd", ".json.zst"), ("gzip", b"\x1f\x8b", ".json.gz"),
    ("none", b"[", ".json")])
def test_compression_variants(make_store: StoreFactory, compression: str, magic: bytes,
                              ext: str) -> None:
    """Objects carry the codec's bytes and extension; the envelope records both sizes."""
    store = make_store(threshold=0, compression=compression)
    value = list(range(500))
    store.set("v", value, **IDS)
    env = store.get_stored("v", **IDS)
    fs, path = _object_fs(store, env["uri"])
    data = fs.cat_file(path)
    assert data.startswith(magic) and env["uri"].endswith(ext)
    assert env["stored_bytes"] == len(data)
    assert env["value_bytes"] == len(dumps_json(value))
    assert env["codec"] == ("json" if compression == "none" else f"json+{compression}")
    assert env["kind"] == "list" and env["length"] == 500 and env["preview"].startswith("[0, 1, 2")
    assert store.get("v", **IDS) == value


def test_encryption_and_rotate(make_store: StoreFactory) -> None:
    """Values are encrypted inline and in objects; rotate() re-encrypts all with the new key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = make_store(threshold=200, fernet_keys=[old])
    small, big = {"password": "hunter2"}, {"rows": list(range(200))}
    store.set("small", small, **IDS)
    store.set("big", big, **IDS)
    inline, ref = store.get_stored("small", **IDS), store.get_stored("big", **IDS)
    assert inline["codec"] == "json+fernet" and "hunter2" not in json.dumps(inline)
    assert ref["codec"] == "json+zstd+fernet" and "preview" not in ref
    fs, path = _object_fs(store, ref["uri"])
    assert fs.cat_file(path).startswith(b"gAAAAA")  # a Fernet token

    rotated = make_store(threshold=200, fernet_keys=[new, old])
    assert rotated.get("big", **IDS) == big  # old key still decrypts
    report = rotated.rotate()
    assert (report.rotated, report.failed) == (2, [])
    only_new = make_store(threshold=200, fernet_keys=[new])
    assert only_new.get("small", **IDS) == small and only_new.get("big", **IDS) == big
    only_old = make_store(threshold=200, fernet_keys=[old])
    with pytest.raises(CodecError, match="cannot be decrypted"):
        only_old.get("small", **IDS)
    assert not fs.exists(path)  # the old object was removed after the row moved on
    assert len(_listing(store)) == 1


def test_tampered_object_is_detected(make_store: StoreFactory) -> None:
    """Changing an object's bytes makes get() fail with IntegrityError, not garbage."""
    store = make_store(threshold=0)
    store.set("v", {"a": list(range(100))}, **IDS)
    env = store.get_stored("v", **IDS)
    fs, path = _object_fs(store, env["uri"])
    data = bytearray(fs.cat_file(path))
    data[-1] ^= 0xFF
    fs.pipe_file(path, bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        store.get("v", **IDS)


def test_tampered_packed_value_is_detected(make_store: StoreFactory) -> None:
    """An inline compressed value whose payload was edited in the DB is refused."""
    store = make_store(threshold=-1, compress_inline=True)
    value = ["abc"] * 300
    store.set("v", value, **IDS)
    env = store.get_stored("v", **IDS)
    assert env["codec"] == "json+zstd"
    assert store.get("v", **IDS) == value
    env["data"] = env["data"][:-8] + "AAAAAAA="
    store.set("raw", 0, **IDS)
    with store.engine.begin() as conn:
        conn.execute(store.xcom.update().where(store.xcom.c.key == "raw").values(value=env))
    with pytest.raises(IntegrityError):
        store.get("raw", **IDS)


@pytest.mark.parametrize("threshold", [-1, 0])
def test_max_size_raises_before_any_write(make_store: StoreFactory, threshold: int) -> None:
    """Over max_value_bytes: XComTooLargeError, no row, no object; at the limit: stored."""
    store = make_store(threshold=threshold, max_value_bytes=100)
    with pytest.raises(XComTooLargeError, match="101 bytes"):
        store.set("v", "x" * 99, **IDS)
    assert store.rows().empty and _listing(store) == []
    with pytest.raises(ValueError, match="max_value_bytes"):  # also a ValueError
        store.encode("x" * 99, key="v", **IDS)
    assert _listing(store) == []
    store.set("v", "x" * 98, **IDS)
    assert len(store.rows()) == 1


def test_delete_clear_and_overwrite_remove_objects(make_store: StoreFactory) -> None:
    """Objects go with their rows: delete, clear by run, clear by dag, and overwrite."""
    store = make_store(threshold=0)
    for run in ("r1", "r2"):
        for task in ("a", "b"):
            store.set("v", [run, task], dag_id="d", run_id=run, task_id=task)
    store.set("v", "other", dag_id="other", run_id="r1", task_id="a")
    assert len(_listing(store)) == 5
    store.set("v", "again", dag_id="d", run_id="r1", task_id="a")  # replaces, purges old
    assert len(_listing(store)) == 5
    assert store.delete("v", dag_id="d", run_id="r1", task_id="a") is True
    assert store.delete("v", dag_id="d", run_id="r1", task_id="a") is False
    assert len(_listing(store)) == 4
    assert store.clear(dag_id="d", run_id="r2") == 2
    assert len(_listing(store)) == 2
    assert store.clear(dag_id="d") == 1
    assert len(_listing(store)) == 1 and store.get("v", dag_id="other", run_id="r1", task_id="a") == "other"


def test_reconcile_finds_and_purges(make_store: StoreFactory) -> None:
    """Orphan objects and dangling rows are reported, then purged; live data is untouched."""
    store = make_store(threshold=0)
    store.set("keep", 1, **IDS)
    store.set("lost", 2, **IDS)
    assert store.objects is not None
    orphan = store.objects.put("etl/x/y/-1/stray-0.json", b"{}")
    lost = store.get_stored("lost", **IDS)["uri"]
    store.purge(store.get_stored("lost", **IDS),
                row=RowRef(IDS["dag_id"], IDS["run_id"], IDS["task_id"], -1, "lost"))  # dangling

    fresh = store.reconcile()  # default grace: a just-written orphan may be a write in flight
    assert fresh.young_orphans == [orphan] and fresh.orphans == []
    report = store.reconcile(grace_s=0)
    assert report.orphans == [orphan]
    assert report.dangling == [(IDS["dag_id"], IDS["run_id"], IDS["task_id"], -1, "lost")]
    assert lost not in _listing(store)
    done = store.reconcile(purge=True, grace_s=0)
    assert (done.purged_objects, done.purged_rows) == (1, 1)
    assert store.reconcile(grace_s=0).summary()["orphans"] == 0
    assert store.get("keep", **IDS) == 1 and store.get("lost", **IDS, default="gone") == "gone"


def test_cross_dag_reads_and_policy(make_store: StoreFactory) -> None:
    """Another dag's XCom is read by naming its dag_id; a policy can refuse it."""
    open_store = make_store(threshold=0)
    open_store.set("v", "shared", **IDS)
    assert open_store.get("v", **IDS, reader_dag_id="reporting") == "shared"
    guarded = make_store(threshold=0, access_policy=deny_cross_dag)
    assert guarded.get("v", **IDS, reader_dag_id=IDS["dag_id"]) == "shared"
    with pytest.raises(AccessDeniedError, match="reporting"):
        guarded.get("v", **IDS, reader_dag_id="reporting")
    with pytest.raises(PermissionError):
        guarded.get("v", **IDS, reader_dag_id="other")


def test_load_export_reads_the_store(make_store: StoreFactory, db_url: str) -> None:
    """xcomlab ingests its own store as an Airflow 3.3 table; refs and sizes are recognised."""
    store = make_store(threshold=500)
    store.set("small", {"a": 1}, **IDS)
    store.set("tuple", (1, 2), **IDS)
    store.set("big", list(range(1000)), **IDS)
    store.close()
    df = xcomlab.load_export(db_url).set_index("key")
    assert set(df.index) == {"small", "tuple", "big"}
    assert (df["airflow_schema"].astype(str) == "3.3+").all()
    big = store.get_stored("big", **IDS)
    assert df.loc["big", "ref_uri"] == big["uri"]
    assert df.loc["big", "ref_bytes"] == big["stored_bytes"]
    assert str(df.loc["tuple", "encoding"]) == "serde"
    assert str(df.loc["small", "encoding"]) == "json" and pd_isna(df.loc["small", "ref_uri"])


def pd_isna(v: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_encode_decode_purge_for_an_adapter(make_store: StoreFactory) -> None:
    """encode() gives the row value (writing the object), decode() reverses, purge() cleans."""
    store = make_store(threshold=50)
    small = store.encode({"a": 1}, key="k", **IDS)
    big = store.encode(list(range(100)), key="k", **IDS)
    row = RowRef(IDS["dag_id"], IDS["run_id"], IDS["task_id"], -1, "k")
    assert small == {"a": 1}
    assert big["__xcomlab__"] == 1 and len(_listing(store)) == 1
    assert store.decode(small) == {"a": 1} and store.decode(big, row=row) == list(range(100))
    assert store.purge(big, row=row) is True and store.purge(small, row=row) is False
    assert _listing(store) == []
