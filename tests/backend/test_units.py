"""Backend units: ids and paths (property-based), codecs, config, envelope, retention, measurements."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcomlab.backend import (
    CodecError,
    ConfigError,
    InvalidIdError,
    ObjectStoreError,
    PickleWarning,
    RetentionPolicy,
    SerdeError,
    StoreConfig,
    XComStore,
    deserialize,
    encode_segment,
    object_key,
    serialize,
)
from xcomlab.backend.envelope import MAX_ENVELOPE_BYTES
from xcomlab.backend.paths import MAX_KEY_BYTES, MAX_SEGMENT_BYTES

from .test_store import Point

IDS = {"dag_id": "d", "run_id": "r", "task_id": "t"}
ids_text = st.text(min_size=1, max_size=250)


def _store(tmp_path: Path, **kw: Any) -> XComStore:
    cfg = StoreConfig(url=f"sqlite:///{tmp_path / 's.db'}", object_base=f"file://{tmp_path / 'obj'}")
    return XComStore(cfg.replace(**kw))


@given(dag_id=ids_text, run_id=ids_text, task_id=ids_text, key=st.text(min_size=1, max_size=512),
       map_index=st.integers(-1, 2**31 - 1))
def test_object_keys_never_escape_and_fit_s3(dag_id: str, run_id: str, task_id: str, key: str,
                                             map_index: int) -> None:
    """Any ids give exactly five safe segments, no '.'/'..', under S3's 1,024-byte key limit."""
    rel = object_key(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index,
                     key=key, ext=".json.zst.fernet")
    parts = rel.split("/")
    assert len(parts) == 5
    assert all(p not in ("", ".", "..") and "\x00" not in p and "\\" not in p for p in parts)
    assert all(len(p) <= MAX_SEGMENT_BYTES + 60 for p in parts)
    assert len(("a" * 600 + "/" + rel).encode()) <= MAX_KEY_BYTES
    assert os.path.normpath("/base/" + rel).startswith("/base/")


@given(a=ids_text, b=ids_text)
def test_distinct_ids_give_distinct_segments(a: str, b: str) -> None:
    """Encoding is injective (hashing keeps long ids apart)."""
    if a != b:
        assert encode_segment(a) != encode_segment(b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dag_id=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]),
                      min_size=1, max_size=250),
       key=st.sampled_from(["../../../etc/passwd", "a/b", "..", ".", "%2F..%2F", "k" * 512, "✓"]))
def test_stored_objects_stay_under_the_base(tmp_path: Path, dag_id: str, key: str) -> None:
    """Through a real store on file://, hostile ids land inside the base directory."""
    base = tmp_path / "obj"
    with _store(tmp_path, threshold=0) as store:
        store.set(key, "v", dag_id=dag_id, run_id="../r", task_id="/t")
        uri = store.get_stored(key, dag_id=dag_id, run_id="../r", task_id="/t")["uri"]
        path = Path(uri.removeprefix("file://"))
        assert path.exists() and path.resolve().is_relative_to(base.resolve())
        assert store.get(key, dag_id=dag_id, run_id="../r", task_id="/t") == "v"


def test_uris_outside_the_base_are_refused(tmp_path: Path) -> None:
    """A forged envelope cannot make the store read or delete another file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    with _store(tmp_path, threshold=0) as store:
        assert store.objects is not None
        for uri in (f"file://{secret}", store.objects.base + "/../secret.txt", store.objects.base + "/"):
            with pytest.raises(ObjectStoreError, match="not under"):
                store.objects.get(uri)
            with pytest.raises(ObjectStoreError):
                store.objects.delete(uri)
    assert secret.exists()


@pytest.mark.parametrize(("ids", "match"), [
    ({"dag_id": ""}, "non-empty"), ({"task_id": "a\x00b"}, "NUL"), ({"run_id": "r" * 251}, "251"),
    ({"map_index": -2}, "map_index")])
def test_invalid_ids_are_refused_before_writing(tmp_path: Path, ids: dict[str, Any], match: str) -> None:
    with _store(tmp_path, threshold=0) as store:
        args = {**IDS, "map_index": -1, **ids}
        with pytest.raises(InvalidIdError, match=match):
            store.set("k", 1, **args)
        assert store.rows().empty


def test_nan_and_bytes_are_refused_with_a_fix(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        with pytest.raises(CodecError, match="NaN"):
            store.set("k", [1.0, float("nan")], **IDS)
        with pytest.raises(SerdeError, match="allow_pickle"):
            store.set("k", b"raw", **IDS)
        with pytest.raises(SerdeError, match="reserved"):
            store.set("k", {"__xcomlab__": 1, "codec": "json", "uri": "file:///etc/passwd"}, **IDS)
        assert store.rows().empty


def test_pickle_only_when_enabled(tmp_path: Path) -> None:
    """allow_pickle warns on write; a store without it refuses to unpickle."""
    with _store(tmp_path, threshold=0, allow_pickle=True) as store:
        with pytest.warns(PickleWarning):
            store.set("k", b"\x00bytes", **IDS)
        assert store.get("k", **IDS) == b"\x00bytes"
        assert store.get_stored("k", **IDS)["codec"] == "pickle+zstd"
    with _store(tmp_path, threshold=0) as strict, pytest.raises(CodecError, match="pickle"):
        strict.get("k", **IDS)


def test_dataclasses_need_an_allow_list() -> None:
    obj = serialize(Point(3, "p"))
    assert obj["__classname__"].endswith("test_store.Point") and obj["__version__"] == 0
    with pytest.raises(SerdeError, match="allowed_classes"):
        deserialize(obj)
    assert deserialize(obj, allowed_classes=["*.Point"]) == Point(3, "p")


def test_airflow_envelopes_decode() -> None:
    """Rows Airflow wrote (docs/airflow-xcom.md#serialization-3) decode to the same Python values."""
    rows = {
        '{"__classname__": "datetime.date", "__version__": 2, "__data__": "2024-01-02"}': dt.date(2024, 1, 2),
        '{"__classname__": "datetime.timedelta", "__version__": 2, "__data__": 3600.0}': dt.timedelta(hours=1),
        '{"__classname__": "decimal.Decimal", "__version__": 1, "__data__": 1.23}': __import__("decimal").Decimal("1.23"),
        '{"__classname__": "builtins.set", "__version__": 1, "__data__": [1]}': {1},
    }
    for text, value in rows.items():
        assert deserialize(json.loads(text)) == value


def test_envelopes_stay_small_with_long_ids_and_previews(tmp_path: Path) -> None:
    """Envelopes fit the 1,024-byte head that ingest reads, whatever the ids and preview."""
    with _store(tmp_path, threshold=0, preview_chars=5000) as store:
        ids = {"dag_id": "d" * 250, "run_id": "r" * 250, "task_id": "t" * 250}
        store.set("k" * 512, ["é" * 2000], **ids)
        env = store.get_stored("k" * 512, **ids)
        assert len(json.dumps(env).encode()) <= MAX_ENVELOPE_BYTES
        assert env["preview"].endswith("…")


def test_config_from_env() -> None:
    env = {"XCOMLAB_URL": "sqlite://", "XCOMLAB_OBJECT_BASE": "memory://x/y",
           "AIRFLOW__XCOMLAB__THRESHOLD": "1024", "XCOMLAB_FERNET_KEYS": "a, b",
           "XCOMLAB_ALLOW_PICKLE": "no", "XCOMLAB_STORAGE_OPTIONS": '{"anon": true}',
           "XCOMLAB_THRESHOLD_ON": "stored"}
    cfg = StoreConfig.from_env(environ=env)
    assert (cfg.url, cfg.object_base, cfg.threshold, cfg.threshold_on) == (
        "sqlite://", "memory://x/y", 1024, "stored")
    assert cfg.fernet_keys == ("a", "b") and cfg.allow_pickle is False
    assert cfg.storage_options == {"anon": True}
    with pytest.raises(ConfigError, match="threshold"):
        StoreConfig.from_env(environ={"XCOMLAB_THRESHOLD": "big"})
    with pytest.raises(ConfigError, match="object_base"):
        StoreConfig(threshold=0)
    with pytest.raises(ConfigError, match="compression"):
        StoreConfig(compression="snappy")  # type: ignore[arg-type]


def test_malformed_fernet_key_is_a_clear_error() -> None:
    with pytest.raises(CodecError, match="Fernet key is malformed"):
        XComStore(url="sqlite://", fernet_keys=["not-a-key"])


def test_cleanup_keeps_last_runs_and_age(tmp_path: Path) -> None:
    with _store(tmp_path, threshold=0) as store:
        for run in ("r1", "r2", "r3"):
            store.set("v", run, dag_id="d", run_id=run, task_id="t")
        store.set("v", "x", dag_id="other", run_id="r1", task_id="t")
        report = store.cleanup(RetentionPolicy(keep_last_runs=1, dag_ids=("d",)))
        assert (report.rows, report.objects) == (2, 2) and report.object_bytes > 0
        assert sorted(store.rows()["run_id"]) == ["r1", "r3"]
        future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        assert store.cleanup(RetentionPolicy(max_age_days=1), now=future).rows == 2
        assert store.rows().empty and store.reconcile(grace_s=0).objects == 0


def test_measurements_record_every_phase(tmp_path: Path) -> None:
    key = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet.generate_key().decode()
    with _store(tmp_path, threshold=100, fernet_keys=[key]) as store:
        store.set("big", list(range(100)), **IDS)
        store.set("small", 1, **IDS)
        store.get("big", **IDS)
        store.get("missing", **IDS)
        m = store.measurements()
    assert list(m["op"]) == ["set", "set", "get", "get"]
    assert list(m["tier"]) == ["object", "db", "object", "none"]
    big = m.iloc[0]
    assert big["bytes_in"] == 390 and big["bytes_stored"] > 0
    assert big["codec"] == "json+zstd+fernet" and big["dialect"] == "sqlite" and big["protocol"] == "file"
    for phase in ("serialize_s", "compress_s", "encrypt_s", "object_s", "db_s"):
        assert big[phase] > 0, phase
    assert (m["total_s"] >= m[["serialize_s", "compress_s", "encrypt_s", "object_s", "db_s"]].sum(axis=1)).all()
    assert str(m["at"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(m["at"].dtype)


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    """``sqlite://`` is one database for every thread of the store, not one per thread."""
    import threading

    with XComStore(url="sqlite://") as store:
        store.set("k", 1, **IDS)
        got: list[Any] = []
        t = threading.Thread(target=lambda: got.append(store.get("k", **IDS)))
        t.start()
        t.join()
        assert got == [1]


def test_missing_fsspec_driver_names_the_package() -> None:
    """gs:// without gcsfs (or az:// without adlfs) says what to install."""
    from xcomlab.backend import ObjectStore
    from xcomlab.errors import UnsupportedSourceError

    for base, lib in (("gs://bucket/xcom", "gcsfs"), ("az://container/xcom", "adlfs")):
        try:
            __import__(lib)
        except ImportError:
            with pytest.raises(UnsupportedSourceError, match=lib):
                ObjectStore(base)
    with pytest.raises(UnsupportedSourceError, match="no scheme"):
        ObjectStore("/srv/xcom")


_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
         | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
_typed = (st.dates() | st.uuids() | st.decimals(allow_nan=False, allow_infinity=False)
          | st.timedeltas(min_value=dt.timedelta(days=-10_000), max_value=dt.timedelta(days=10_000))
          # Airflow writes a float timestamp: microsecond-exact while |t| < 2**32 s (until 2106)
          | st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1),
                         timezones=st.just(dt.UTC)))
_keys = st.text(max_size=10).filter(lambda k: k not in ("__classname__", "__id__", "__xcomlab__"))
_values = st.recursive(
    _leaf | _typed,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(_keys, inner, max_size=4) | st.frozensets(_leaf, max_size=4)),
    max_leaves=15)


@settings(max_examples=200, deadline=None)
@given(value=_values)
def test_serde_round_trip_is_identity(value: Any) -> None:
    """serialize → JSON text → deserialize gives back an equal value of the same types."""
    text = json.dumps(serialize(value), allow_nan=False)
    back = deserialize(json.loads(text))
    assert back == value
    assert _types(back) == _types(value)


def _types(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return (type(v).__name__, [_types(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {k: _types(x) for k, x in v.items()})
    return type(v).__name__


def test_store_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__XCOMLAB__URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("AIRFLOW__XCOMLAB__OBJECT_BASE", f"file://{tmp_path / 'o'}")
    monkeypatch.setenv("XCOMLAB_THRESHOLD", "0")
    with XComStore.from_env(compression="gzip") as store:
        store.set("k", [1], **IDS)
        assert store.get_stored("k", **IDS)["codec"] == "json+gzip"
        assert "threshold=0" in repr(store)


def test_envelope_marker_is_the_one_ingest_recognises() -> None:
    from xcomlab.backend import ENVELOPE_KEY
    from xcomlab.ingest.classify import ENVELOPE_KEY as INGEST_KEY

    assert ENVELOPE_KEY == INGEST_KEY


def test_zstd_level_and_threads_come_from_config(tmp_path: Path) -> None:
    """A stock level changes what is stored; every setting still reads back the value."""
    cfg = StoreConfig.from_env(environ={"XCOMLAB_ZSTD_LEVEL": "1", "XCOMLAB_ZSTD_THREADS": "2"})
    assert (cfg.zstd_level, cfg.zstd_threads) == (1, 2)
    value = [{"event": "order", "id": i, "sku": f"SKU-{i % 97:05d}", "qty": i % 7}
             for i in range(20_000)]
    stored = {}
    for level in (None, 1):
        (tmp_path / str(level)).mkdir()
        with _store(tmp_path / str(level), threshold=0, zstd_level=level) as store:
            store.set("k", value, dag_id="d", run_id="r", task_id="t")
            stored[level] = store.get_stored("k", dag_id="d", run_id="r", task_id="t")["stored_bytes"]
            assert store.get("k", dag_id="d", run_id="r", task_id="t") == value
    assert stored[None] != stored[1]  # the level reached the codec: other bytes were stored
    with pytest.raises(ValueError, match="zstd_level"):
        _store(tmp_path, zstd_level=99)
