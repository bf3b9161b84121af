"""Hostile rows: what a task can write into ``xcom.value`` must never hurt another row.

Rows are inserted directly, as Airflow's API server stores whatever JSON a task sends. Each
test pins one finding of issue 12 (1–7) or one property that held (path confinement, id
encoding, serde class allow-list, pickle refusal, sha256 integrity).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import zstandard
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

import xcomlab
from xcomlab.backend import (
    CodecError,
    ConfigError,
    ForeignObjectError,
    IntegrityError,
    RowRef,
    SerdeError,
    StoreConfig,
    StoredRowError,
    XComStore,
    deny_cross_dag,
    object_key,
)
from xcomlab.backend.codecs import sha256_hex
from xcomlab.backend.config import TOOLING_ENV_PREFIXES, check_names, setting_names
from xcomlab.errors import XcomlabError

from .conftest import StoreFactory

VICTIM = {"dag_id": "victim", "run_id": "r1", "task_id": "load"}
ATTACKER = {"dag_id": "attacker", "run_id": "r1", "task_id": "push"}
SECRET = {"payroll": list(range(300))}


def plant(store: XComStore, key: str, value: Any, *, dag_id: str, run_id: str, task_id: str,
          map_index: int = -1, raw_json: str | None = None) -> None:
    """Write a row as the API server would: any JSON, no backend involved."""
    r, x = store.runs, store.xcom
    with store.engine.begin() as conn:
        pk = conn.execute(sa.select(r.c.id).where(r.c.dag_id == dag_id, r.c.run_id == run_id)).scalar()
        if pk is None:
            conn.execute(r.insert().values(dag_id=dag_id, run_id=run_id))
            pk = conn.execute(sa.select(r.c.id).where(r.c.dag_id == dag_id,
                                                      r.c.run_id == run_id)).scalar()
        where = sa.and_(x.c.dag_run_id == pk, x.c.task_id == task_id, x.c.map_index == map_index,
                        x.c.key == key)
        conn.execute(x.delete().where(where))
        conn.execute(x.insert().values(dag_run_id=pk, task_id=task_id, map_index=map_index, key=key,
                                       dag_result=False, dag_id=dag_id, run_id=run_id,
                                       value=value, timestamp=datetime.now(UTC)))
        if raw_json is not None:  # bypass the JSON serializer (e.g. nesting json.dumps refuses)
            conn.execute(sa.text(f"UPDATE {x.name} SET value = :v WHERE dag_run_id = :p AND "
                                 "task_id = :t AND map_index = :m AND key = :k"),
                         {"v": raw_json, "p": pk, "t": task_id, "m": map_index, "k": key})


def _objects(store: XComStore) -> set[str]:
    assert store.objects is not None
    return {o["uri"] for o in store.objects.listing()}


def _packed(codec: str, payload: bytes, value_bytes: int, **extra: Any) -> dict[str, Any]:
    data = payload.decode("ascii") if codec.endswith("+fernet") else base64.b64encode(payload).decode()
    return {"__xcomlab__": 1, "codec": codec, "data": data, "stored_bytes": len(payload),
            "value_bytes": value_bytes, "sha256": sha256_hex(payload), **extra}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    """A file SQLite store with a file object store (the always-available pair)."""
    with XComStore(url=f"sqlite:///{tmp_path / 'h.db'}", object_base=f"file://{tmp_path / 'obj'}",
                   threshold=0) as store:
        yield store


# -- finding 1: an envelope URI is bound to its row ------------------------------------------

def test_copied_uri_is_refused_by_every_path(make_store: StoreFactory,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A row of DAG attacker carrying victim's envelope: get, delete, clear, re-set, purge and
    reconcile neither read nor delete victim's object (finding 1)."""
    store = make_store(threshold=0, access_policy=deny_cross_dag)
    store.set("v", SECRET, **VICTIM)
    env = store.get_stored("v", **VICTIM)
    victim_uri = env["uri"]
    attacker_row = RowRef(ATTACKER["dag_id"], ATTACKER["run_id"], ATTACKER["task_id"], -1, "stolen")

    plant(store, "stolen", env, **ATTACKER)
    with pytest.raises(ForeignObjectError, match=r"attacker/r1/push\[-1\].*not an object of this row"):
        store.get("stolen", **ATTACKER, reader_dag_id="attacker")
    with pytest.raises(PermissionError):
        store.decode(env, row=attacker_row)
    with pytest.raises(ForeignObjectError):
        store.purge(env, row=attacker_row)
    with pytest.raises(ForeignObjectError, match="pass row="):
        store.decode(env)  # no ids: an offloaded value is never read
    same_dag = RowRef(VICTIM["dag_id"], VICTIM["run_id"], VICTIM["task_id"], -1, "other_key")
    with pytest.raises(ForeignObjectError):
        store.decode(env, row=same_dag)  # another key of the same task owns nothing either

    with caplog.at_level(logging.WARNING, logger="xcomlab.backend"):
        assert store.delete("stolen", **ATTACKER) is True  # the attacker's row goes ...
        plant(store, "stolen", env, **ATTACKER)
        assert store.clear(dag_id="attacker") == 1
        plant(store, "stolen", env, **ATTACKER)
        store.set("stolen", "overwritten", **ATTACKER)  # re-set: the old "object" is not purged
    assert caplog.text.count("ForeignObjectError") == 3 and "attacker" in caplog.text
    assert victim_uri in _objects(store)  # ... victim's object stays
    assert store.get("v", **VICTIM) == SECRET

    plant(store, "stolen", env, **ATTACKER)
    report = store.reconcile(purge=True, grace_s=0)
    assert report.foreign == [("attacker", "r1", "push", -1, "stolen")]
    assert report.dangling == [] and report.purged_rows == 0 and victim_uri in _objects(store)
    assert store.get("v", **VICTIM) == SECRET


def test_rotate_skips_a_copied_uri_and_leaves_no_dangling_row(tmp_path: Path) -> None:
    """rotate() neither reads, re-writes nor deletes another row's object (finding 1)."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    cfg = StoreConfig(url=f"sqlite:///{tmp_path / 'r.db'}", object_base=f"file://{tmp_path / 'o'}",
                      threshold=0, fernet_keys=(old,))
    with XComStore(cfg) as store:
        store.set("v", SECRET, **VICTIM)
        plant(store, "stolen", store.get_stored("v", **VICTIM), **ATTACKER)
    with XComStore(cfg.replace(fernet_keys=(new, old))) as store:
        report = store.rotate()
        assert report.rotated == 1
        assert [k for k, _ in report.failed] == [("attacker", "r1", "push", -1, "stolen")]
        assert "ForeignObjectError" in report.failed[0][1]
        assert store.reconcile(grace_s=0).dangling == []
    with XComStore(cfg.replace(fernet_keys=(new,))) as store:
        assert store.get("v", **VICTIM) == SECRET


def test_uri_outside_the_base_or_with_dot_segments_is_refused(sqlite_store: XComStore,
                                                              tmp_path: Path) -> None:
    """Path confinement (held): no envelope reaches a file outside the row's own prefix."""
    secret = tmp_path / "secret.txt"
    secret.write_text('"top secret"')
    base = sqlite_store.objects.base  # type: ignore[union-attr]
    own = f"{base}/attacker/r1/push/-1"
    for uri in (f"file://{secret}", f"{own}/../../../../../secret.txt",
                f"{own}/x-{'0' * 32}.json/../../../secret.txt", f"{base}/../secret.txt"):
        env = {"__xcomlab__": 1, "codec": "json", "uri": uri, "stored_bytes": 12,
               "value_bytes": 12, "sha256": sha256_hex(b'"top secret"')}
        plant(sqlite_store, "k", env, **ATTACKER)
        with pytest.raises(ForeignObjectError):
            sqlite_store.get("k", **ATTACKER)
        assert sqlite_store.delete("k", **ATTACKER) is True
    assert secret.exists()


@settings(max_examples=60, deadline=None)
@given(ids=st.tuples(*[st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s)] * 4),
       map_index=st.integers(-1, 5000))
def test_object_keys_are_owned_by_their_row_only(ids: tuple[str, str, str, str],
                                                 map_index: int) -> None:
    """Id encoding (held) + binding: the key of a row is owned by it and by no row that
    differs in any one id."""
    dag, run, task, key = ids
    uri = "s3://b/x/" + object_key(dag_id=dag, run_id=run, task_id=task, map_index=map_index,
                                   key=key, ext=".json.zst")
    assert RowRef(dag, run, task, map_index, key).owns(uri, "s3://b/x")
    assert RowRef(None, None, None, None, key).owns(uri, "s3://b/x/")
    for i in range(5):
        other = [dag, run, task, map_index, key]
        other[i] = other[i] + 1 if i == 3 else other[i] + "/"  # type: ignore[operator]
        assert not RowRef(*other).owns(uri, "s3://b/x")  # type: ignore[arg-type]
    assert not RowRef(dag, run, task, map_index, key).owns(uri, "s3://b")


# -- finding 2: decompression bombs ----------------------------------------------------------

def _zstd_bomb(n_bytes: int) -> bytes:
    """A zstd frame of ``n_bytes`` spaces without a content size in its header."""
    obj = zstandard.ZstdCompressor(level=1, write_content_size=False).compressobj()
    chunk = b" " * (1 << 20)
    parts = [obj.compress(chunk) for _ in range(n_bytes >> 20)]
    return b"".join([*parts, obj.flush()])


def test_decompression_is_capped_at_the_stated_size(sqlite_store: XComStore) -> None:
    """A few kB stating 100 bytes but expanding to 64 MiB is refused, not expanded (finding 2)."""
    bomb = _zstd_bomb(64 << 20)
    assert len(bomb) < 10_000
    plant(sqlite_store, "z", _packed("json+zstd", bomb, 100), **ATTACKER)
    with pytest.raises(CodecError, match=r"attacker/r1/push\[-1\].*expands past 100 bytes"):
        sqlite_store.get("z", **ATTACKER)
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    gbomb = gz.compress(b" " * (64 << 20)) + gz.flush()
    plant(sqlite_store, "g", _packed("json+gzip", gbomb, 100), **ATTACKER)
    with pytest.raises(CodecError, match="expands past 100 bytes"):
        sqlite_store.get("g", **ATTACKER)


def test_stated_size_is_bounded_by_the_read_limit(tmp_path: Path) -> None:
    """An envelope stating more than max_value_bytes (or the 256 MiB default) is refused
    before any decompression (finding 2)."""
    bomb = _zstd_bomb(8 << 20)
    with XComStore(url=f"sqlite:///{tmp_path / 'l.db'}", max_value_bytes=1000) as store:
        plant(store, "z", _packed("json+zstd", bomb, 8 << 20), **ATTACKER)
        with pytest.raises(CodecError, match="over the read limit of 1,000 bytes"):
            store.get("z", **ATTACKER)
    with XComStore(url=f"sqlite:///{tmp_path / 'd.db'}") as store:
        plant(store, "z", _packed("json+zstd", bomb, 1 << 30), **ATTACKER)
        with pytest.raises(CodecError, match="over the read limit of 268,435,456"):
            store.get("z", **ATTACKER)


@pytest.mark.parametrize("codec", ["json+zstd+zstd", "json+gzip+zstd", "json+fernet+zstd",
                                   "json+zstd+fernet+fernet", "yaml", "json+brotli", "zstd"])
def test_codec_chains_come_from_an_allow_list(sqlite_store: XComStore, codec: str) -> None:
    """Nested or unknown codec chains are refused before decoding (finding 2)."""
    plant(sqlite_store, "c", _packed(codec, b"x" * 10, 10), **ATTACKER)
    with pytest.raises(CodecError, match="codec"):
        sqlite_store.get("c", **ATTACKER)


def test_pickle_is_refused_before_decompressing(sqlite_store: XComStore, tmp_path: Path) -> None:
    """Pickle refusal (held), and now before any byte is decompressed (finding 2): the
    payload below is not even valid zstd, yet the error is the pickle refusal."""
    plant(sqlite_store, "p", _packed("pickle+zstd", b"not zstd at all", 1 << 20), **ATTACKER)
    with pytest.raises(CodecError, match="pickle is disabled"):
        sqlite_store.get("p", **ATTACKER)
    marker = tmp_path / "pwned"
    evil = (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    plant(sqlite_store, "q", _packed("pickle", evil, len(evil)), **ATTACKER)
    with pytest.raises(CodecError, match="pickle is disabled"):
        sqlite_store.get("q", **ATTACKER)
    assert not marker.exists()


def test_decoded_size_must_match_the_envelope(sqlite_store: XComStore) -> None:
    """A value decoding to fewer bytes than stated is refused as tampered."""
    payload = zstandard.ZstdCompressor().compress(b'"abc"')
    plant(sqlite_store, "s", _packed("json+zstd", payload, 50), **ATTACKER)
    with pytest.raises(IntegrityError, match="decodes to 5 bytes"):
        sqlite_store.get("s", **ATTACKER)


# -- finding 3: rotate rotates what it can ---------------------------------------------------

def test_rotate_goes_on_past_bad_rows(tmp_path: Path) -> None:
    """One undecryptable row first, one dangling and one malformed: the 50 good rows are
    rotated, the 3 bad ones reported with their ids and reason (finding 3)."""
    old, new, stranger = (Fernet.generate_key().decode() for _ in range(3))
    cfg = StoreConfig(url=f"sqlite:///{tmp_path / 'rot.db'}", object_base=f"file://{tmp_path / 'o'}",
                      threshold=200, fernet_keys=(old,))
    with XComStore(cfg) as store:
        token = Fernet(stranger.encode()).encrypt(b'"x"')
        plant(store, "a_bad", _packed("json+fernet", token, 3), dag_id="d", run_id="r", task_id="t")
        for i in range(50):
            store.set(f"k{i}", {"i": i} if i % 2 else {"rows": list(range(100 + i))},
                      dag_id="d", run_id="r", task_id="t")
        store.set("lost", {"rows": list(range(300))}, dag_id="d", run_id="r", task_id="t")
        lost = store.get_stored("lost", dag_id="d", run_id="r", task_id="t")
        Path(lost["uri"].removeprefix("file://")).unlink()
        plant(store, "malformed", {"__xcomlab__": 1, "codec": "json+fernet", "data": 5},
              dag_id="d", run_id="r", task_id="t")
    with XComStore(cfg.replace(fernet_keys=(new, old))) as store:
        report = store.rotate()
    assert report.rotated == 50
    reasons = {k[4]: why for k, why in report.failed}
    assert set(reasons) == {"a_bad", "lost", "malformed"}
    assert "cannot be decrypted" in reasons["a_bad"] and "missing" in reasons["lost"]
    assert "EnvelopeError" in reasons["malformed"]
    with XComStore(cfg.replace(fernet_keys=(new,))) as store:
        assert all(store.get(f"k{i}", dag_id="d", run_id="r", task_id="t") is not None
                   for i in range(50))
        assert store.get_stored("lost", dag_id="d", run_id="r", task_id="t") == lost  # untouched


# -- finding 4: reading never changes the caller's connection --------------------------------

@pytest.mark.parametrize("in_memory", [False, True])
def test_load_export_leaves_the_store_writable(db_url: str, in_memory: bool) -> None:
    """load_export(store.engine) then store.set: works on SQLite, PostgreSQL and MariaDB
    (finding 4: the pooled connection was left query_only / READ ONLY)."""
    if in_memory and not db_url.startswith("sqlite"):
        pytest.skip("in-memory applies to SQLite")
    with XComStore(url="sqlite://" if in_memory else db_url) as store:
        store.set("a", 1, **VICTIM)
        assert len(xcomlab.load_export(store.engine)) == 1
        assert len(xcomlab.load_export(store.engine)) == 1  # twice: the same pooled connection
        store.set("b", 2, **VICTIM)
        assert store.get("b", **VICTIM) == 2
        with store.engine.connect() as conn:
            d = store.engine.dialect.name
            if d == "sqlite":
                assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 0
            elif d in ("mysql", "mariadb"):
                assert conn.exec_driver_sql("SELECT @@session.tx_read_only").scalar() == 0
            else:
                assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "off"


# -- finding 5: every failure on a stored row is an XcomlabError naming it --------------------

MALFORMED: list[Any] = [
    {"__classname__": "datetime.datetime", "__version__": 2, "__data__": {}},         # KeyError
    {"__classname__": "datetime.datetime", "__version__": 2, "__data__": 5},          # AttributeError
    {"__classname__": "datetime.timedelta", "__version__": 2, "__data__": 1e300},     # OverflowError
    {"__classname__": "decimal.Decimal", "__version__": 1, "__data__": "abc"},        # InvalidOperation
    {"__classname__": "builtins.tuple", "__version__": 1, "__data__": 5},             # TypeError
    {"__classname__": "datetime.date", "__version__": 2, "__data__": "not a date"},   # ValueError
    {"__classname__": "uuid.UUID", "__version__": 1, "__data__": "zz"},               # ValueError
    {"__classname__": "datetime.datetime", "__version__": 2, "__data__": {            # zoneinfo
        "timestamp": 0, "tz": {"__classname__": "builtins.tuple", "__version__": 1,
                               "__data__": ["No/Such_Zone", "zoneinfo.ZoneInfo", 1, True]}}},
    {"__classname__": "datetime.datetime", "__version__": 2, "__data__": {"timestamp": 1e20}},
    {"__xcomlab__": 1},                                                               # no codec
    {"__xcomlab__": 1, "codec": 7},
    {"__xcomlab__": 1, "codec": "json", "uri": 5, "stored_bytes": 1, "value_bytes": 1,
     "sha256": "0" * 64},
    {"__xcomlab__": 1, "codec": "json+zstd", "data": "!!!", "stored_bytes": 1, "value_bytes": 1,
     "sha256": "0" * 64},
    {"__xcomlab__": 1, "codec": "json", "data": "", "stored_bytes": "1", "value_bytes": 1,
     "sha256": "0" * 64},
    {"__xcomlab__": 1, "codec": "json+fernet", "data": "é", "stored_bytes": 1, "value_bytes": 1,
     "sha256": "0" * 64},
    _packed("json", b"{not json", 9),
    _packed("json+zstd", b"\x28\xb5\x2f\xfd garbage", 9),
]


def test_malformed_rows_raise_errors_naming_the_row(db_url: str) -> None:
    """~20 malformed payloads: each is an XcomlabError naming dag/run/task/map_index/key
    (finding 5), on every database."""
    with XComStore(url=db_url) as store:
        for i, bad in enumerate(MALFORMED):
            plant(store, f"bad{i}", bad, **ATTACKER, map_index=3)
            with pytest.raises(XcomlabError, match=rf"'bad{i}' of attacker/r1/push\[3\]") as info:
                store.get(f"bad{i}", **ATTACKER, map_index=3)
            assert isinstance(info.value, ValueError | TypeError), (i, info.value)


def test_unreadable_json_and_deep_nesting_name_the_row(tmp_path: Path) -> None:
    """A value cell that is not JSON Python can read (invalid text, 5,000 levels deep) is
    an error naming the row, and does not break queries over many rows (finding 5)."""
    with XComStore(url=f"sqlite:///{tmp_path / 'u.db'}") as store:
        plant(store, "deep", 0, **ATTACKER, raw_json="[" * 5000 + "]" * 5000)
        plant(store, "text", 0, **ATTACKER, raw_json="{not json")
        plant(store, "deep_serde", 0, **ATTACKER,
              raw_json='{"__classname__": "builtins.tuple", "__data__": ' + "[" * 900 + "]" * 900 + "}")
        store.set("fine", 1, **ATTACKER)
        for key in ("deep", "text", "deep_serde"):
            with pytest.raises((StoredRowError, SerdeError), match=rf"'{key}' of attacker"):
                store.get(key, **ATTACKER)
        assert len(store.rows()) == 4
        assert store.clear(dag_id="attacker") == 4


def test_set_does_not_raise_when_the_old_object_cannot_be_purged(
        sqlite_store: XComStore, caplog: pytest.LogCaptureFixture) -> None:
    """The new row is committed: a failed purge of the old object is logged, not raised
    (finding 5)."""
    plant(sqlite_store, "k", {"__xcomlab__": 1, "codec": "json", "uri": "file:///etc/passwd",
                              "stored_bytes": 1, "value_bytes": 1, "sha256": "0" * 64}, **ATTACKER)
    with caplog.at_level(logging.WARNING, logger="xcomlab.backend"):
        sqlite_store.set("k", [1, 2, 3], **ATTACKER)
    assert sqlite_store.get("k", **ATTACKER) == [1, 2, 3]
    assert "'k' of attacker/r1/push[-1]" in caplog.text and "reconcile" in caplog.text


def test_clear_with_a_malformed_envelope_purges_the_rest(
        sqlite_store: XComStore, caplog: pytest.LogCaptureFixture) -> None:
    """clear(dag) deletes every row, purges every good object (no orphans) and reports the
    bad row (finding 5)."""
    for i in range(4):
        sqlite_store.set(f"k{i}", list(range(50)), **ATTACKER)
    plant(sqlite_store, "bad", {"__xcomlab__": 1, "uri": "s3://elsewhere/x"}, **ATTACKER)
    with caplog.at_level(logging.WARNING, logger="xcomlab.backend"):
        assert sqlite_store.clear(dag_id="attacker") == 5
    assert _objects(sqlite_store) == set()
    assert "'bad' of attacker/r1/push[-1]" in caplog.text


# -- finding 6: trailing spaces are distinct keys ---------------------------------------------

def test_keys_differing_by_trailing_space_are_distinct_rows(db_url: str) -> None:
    """On MariaDB ``k`` and ``k `` were one row (PAD SPACE); now distinct everywhere (finding 6)."""
    with XComStore(url=db_url) as store:
        store.set("k", "plain", **VICTIM)
        store.set("k ", "spaced", **VICTIM)
        store.set("k", "dag", dag_id="d ", run_id="r", task_id="t")
        store.set("k", "dag-no-space", dag_id="d", run_id="r", task_id="t")
        assert store.get("k", **VICTIM) == "plain" and store.get("k ", **VICTIM) == "spaced"
        assert store.get("k", dag_id="d ", run_id="r", task_id="t") == "dag"
        assert len(store.rows()) == 4
        assert store.delete("k ", **VICTIM) and store.get("k", **VICTIM) == "plain"


# -- finding 7: settings ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "hint"), [
    ("XCOMLAB_FERNET_KEY", "did you mean XCOMLAB_FERNET_KEYS"),
    ("AIRFLOW__XCOMLAB__THRESHHOLD", "did you mean AIRFLOW__XCOMLAB__THRESHOLD"),
    ("XCOMLAB_OBJECTBASE", "did you mean XCOMLAB_OBJECT_BASE"),
    ("XCOMLAB_NONSENSE", "known settings"),
])
def test_unknown_setting_names_raise(name: str, hint: str) -> None:
    """A misspelt setting is an error with a suggestion, not silently ignored (finding 7)."""
    with pytest.raises(ConfigError, match=re.escape(hint)):
        StoreConfig.from_env(environ={name: "x"})
    with pytest.raises(ConfigError, match=r"\[xcomlab\].*did you mean threshold"):
        check_names(["threshhold"], (), origin="key of the [xcomlab] section of airflow.cfg")
    check_names(["threshold", "fernet_keys"], ())


def test_every_xcomlab_env_name_in_the_repo_is_known() -> None:
    """Names used by the tooling are exempt; every other XCOMLAB_* name is a setting, so the
    strict check cannot break CI or the Airflow test DAGs."""
    root = Path(__file__).resolve().parents[2]
    text = "\n".join(p.read_text(errors="replace") for d in ("xcomlab", "tests", ".ci", "Makefile")
                     for p in ([root / d] if (root / d).is_file() else (root / d).rglob("*"))
                     if p.is_file() and p.suffix in ("", ".py", ".md", ".sh", ".yml", ".cfg")
                     and p.name != "test_hostile.py")  # this file spells bad names on purpose
    known = {n.upper() for n in setting_names()}
    for name in set(re.findall(r"\b(XCOMLAB_[A-Z0-9_]*[A-Z0-9])\b", text)):
        assert name.startswith(TOOLING_ENV_PREFIXES) or name.removeprefix("XCOMLAB_") in known \
            or name == "XCOMLAB_BACKEND", name  # a constant in recommend.py, not a variable


def test_reprs_mask_every_secret(tmp_path: Path) -> None:
    """Fernet keys, the URL password and storage_options values never appear in a repr (finding 7)."""
    key = Fernet.generate_key().decode()
    cfg = StoreConfig(url="postgresql://user:hunter2@127.0.0.1/db?password=pw2", fernet_keys=(key,),
                      object_base="memory://AKIDSECRET:s3cr3t@bucket/x",
                      storage_options={"key": "AKIAXXX", "secret": "wJalr", "client_kwargs": {
                          "aws_session_token": "T0KEN9"}})
    shown = repr(cfg)
    for secret in (key, "hunter2", "pw2", "AKIAXXX", "wJalr", "T0KEN9", "s3cr3t", "AKIDSECRET"):
        assert secret not in shown, secret
    assert "***" in shown and "user" in shown
    store = XComStore(url=f"sqlite:///{tmp_path / 'm.db'}", fernet_keys=(key,))
    assert key not in repr(store) and "encrypted=True" in repr(store)
    store.close()


# -- properties that held ---------------------------------------------------------------------

def test_serde_class_allow_list_is_not_bypassed(sqlite_store: XComStore) -> None:
    """A row naming an arbitrary class is refused before its module is imported (held)."""
    plant(sqlite_store, "cls", {"__classname__": "xcomlab_hostile_probe.Evil", "__version__": 0,
                                "__data__": {}}, **ATTACKER)
    plant(sqlite_store, "os", {"__classname__": "os.system", "__version__": 0,
                               "__data__": "touch /tmp/x"}, **ATTACKER)
    for key in ("cls", "os"):
        with pytest.raises(SerdeError, match="not allowed for deserialization"):
            sqlite_store.get(key, **ATTACKER)
    assert "xcomlab_hostile_probe" not in sys.modules


def test_sha256_integrity_holds_for_rows_and_objects(make_store: StoreFactory) -> None:
    """A packed payload or object that differs from its recorded sha256 is refused (held)."""
    store = make_store(threshold=0)
    store.set("v", SECRET, **ATTACKER)
    env = store.get_stored("v", **ATTACKER)
    plant(store, "v", {**env, "sha256": "f" * 64}, **ATTACKER)
    with pytest.raises(IntegrityError, match=r"'v' of attacker.*sha256"):
        store.get("v", **ATTACKER)
    payload = json.dumps([1, 2]).encode()
    plant(store, "p", _packed("json", payload, len(payload), sha256="0" * 64), **ATTACKER)
    with pytest.raises(IntegrityError):
        store.get("p", **ATTACKER)


# -- the Airflow adapter, in the Airflow venv -------------------------------------------------

ADAPTER_PROBE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from airflow.sdk.execution_time.comms import XComResult
    from xcomlab.backend.airflow import XComlabBackend as X, _asking
    out = {}
    env = X.serialize_value({"payroll": list(range(300))}, key="v", dag_id="victim",
                            run_id="r1", task_id="load")
    path = Path(env["uri"].removeprefix("file://"))
    def attempt(fn):
        try:
            fn()
            return None
        except Exception as exc:
            return type(exc).__name__
    out["wrong_key"] = attempt(lambda: X.deserialize_value(XComResult(key="stolen", value=env)))
    with _asking({"dag_id": "attacker", "run_id": "r1", "task_id": "push", "key": "v"}):
        out["wrong_dag"] = attempt(lambda: X.deserialize_value(XComResult(key="v", value=env)))
        out["purge"] = attempt(lambda: X.purge(XComResult(key="v", value=env)))
    out["kept"] = path.exists()
    with _asking({"dag_id": "victim", "run_id": "r1", "task_id": "load", "key": "v"}):
        out["own"] = X.deserialize_value(XComResult(key="v", value=env)) == {"payroll": list(range(300))}
    json.dump(out, sys.stdout)
""")

CFG_PROBE = textwrap.dedent("""
    import json, sys
    from xcomlab.backend.airflow import store
    try:
        store()
        print(json.dumps(None))
    except Exception as exc:
        print(json.dumps([type(exc).__name__, str(exc)]))
""")


def _airflow_run(code: str, tmp_path: Path, **env: str) -> Any:
    py = Path(os.environ.get("XCOMLAB_AIRFLOW_PYTHON",
                             Path(__file__).resolve().parents[2] / ".venv-airflow/bin/python"))
    if not py.exists():
        pytest.skip("no Airflow venv (make airflow-env)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XCOMLAB_", "AIRFLOW"))}
    clean.update(PYTHONPATH=str(Path(__file__).resolve().parents[2]), AIRFLOW_HOME=str(tmp_path),
                 **env)
    proc = subprocess.run([str(py), "-c", code], env=clean, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_airflow_adapter_binds_uris_to_the_ids_asked_for(tmp_path: Path) -> None:
    """deserialize_value / purge refuse an envelope copied from another row (finding 1)."""
    out = _airflow_run(ADAPTER_PROBE, tmp_path, XCOMLAB_OBJECT_BASE=f"file://{tmp_path / 'o'}",
                       XCOMLAB_THRESHOLD="0")
    assert out == {"wrong_key": "ForeignObjectError", "wrong_dag": "ForeignObjectError",
                   "purge": "ForeignObjectError", "kept": True, "own": True}


def test_airflow_cfg_section_with_an_unknown_key_raises(tmp_path: Path) -> None:
    """A misspelt key of ``[xcomlab]`` in airflow.cfg is a ConfigError (finding 7)."""
    (tmp_path / "airflow.cfg").write_text("[xcomlab]\nobject_base = memory://c\nthreshhold = 5\n")
    out = _airflow_run(CFG_PROBE, tmp_path)
    assert out[0] == "ConfigError" and "did you mean threshold" in out[1] and "[xcomlab]" in out[1]
