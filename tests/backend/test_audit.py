"""The audit trail: what each sink records (never values), hostile ids, failures, reading back."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

import xcomlab
from xcomlab.backend import ConfigError, StoreConfig, XComStore
from xcomlab.backend.audit import (
    AUDIT_TABLE,
    FIELDS,
    MAX_FIELD_CHARS,
    audit_record,
    parse_sink,
    to_line,
)
from xcomlab.errors import ExportFormatError
from xcomlab.ingest import audit as ingest_audit

IDS = {"dag_id": "d", "run_id": "r", "task_id": "t"}
SECRET = "hunter2-SECRET-VALUE"
KEY = Fernet.generate_key().decode()


def _store(tmp_path: Path, sink: str, **kw: Any) -> XComStore:
    return XComStore(url=f"sqlite:///{tmp_path / 's.db'}", object_base=f"file://{tmp_path / 'o'}",
                     threshold=1000, audit_sink=sink, measure=False, **kw)


def _workload(store: XComStore) -> None:
    store.set("small", {"password": SECRET}, **IDS)
    store.set("big", [SECRET] * 200, **IDS)
    assert store.get("big", **IDS) == [SECRET] * 200
    assert store.get("missing", **IDS) is None
    with pytest.raises(xcomlab.backend.SerdeError):
        store.set("bad", object(), **IDS)
    store.delete("big", **IDS)
    store.clear(dag_id="d")


def test_jsonl_records_every_operation_and_never_a_value(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    store = _store(tmp_path, f"jsonl://{path}")
    _workload(store)
    text = path.read_text()
    assert SECRET not in text and "password" not in text and "file://" not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    trail = xcomlab.load_audit(path)
    assert list(trail.columns) == list(FIELDS)
    got = [(r.op, r.key, r.tier, r.outcome, r.error) for r in trail.itertuples()]
    assert got == [
        ("set", "small", "db", "ok", None),
        ("set", "big", "object", "ok", None),
        ("get", "big", "object", "ok", None),
        ("get", "missing", "none", "ok", None),
        ("set", "bad", "db", "error", "SerdeError"),
        ("purge", "", "object", "ok", None),
        ("delete", "big", "object", "ok", None),
        ("clear", "", "db", "ok", None),
    ]
    big = trail[(trail.op == "set") & (trail.key == "big")].iloc[0]
    assert big.codec == "json+zstd" and not big.encrypted
    assert big.value_bytes == len(json.dumps([SECRET] * 200))
    assert 0 < big.stored_bytes < big.value_bytes
    assert (trail.dag_id[trail.op != "purge"] == "d").all()
    assert str(trail["at"].dtype) == "datetime64[ns, UTC]" and (trail.duration_s >= 0).all()
    assert (trail.pid == os.getpid()).all()


def test_encrypted_values_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    store = _store(tmp_path, f"jsonl://{path}", fernet_keys=(KEY,))
    store.set("k", {"x": 1}, **IDS)
    rec = json.loads(path.read_text())
    assert rec["encrypted"] is True and rec["codec"].endswith("+fernet")


def test_hostile_ids_stay_one_bounded_line(tmp_path: Path) -> None:
    """Ids are untrusted: newlines, control characters, fake JSON, the longest key allowed."""
    path = tmp_path / "a.jsonl"
    store = _store(tmp_path, f"jsonl://{path}")
    evil = ('x"}\n{"op":"delete","v":1}\r\x1b\u2028é' + "y" * 2000)[:MAX_FIELD_CHARS]
    store.set(evil, 1, dag_id="d\nfake", run_id="r", task_id="t")
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 2 and lines[1] == b"" and lines[0].isascii() and len(lines[0]) < 4096
    rec = json.loads(lines[0])
    assert rec["dag_id"] == "d\nfake" and rec["key"] == evil and rec["truncated"] is False
    trail = xcomlab.load_audit(path)
    assert len(trail) == 1 and trail.key[0] == evil


def test_ids_over_the_bound_are_cut_and_flagged() -> None:
    """Records built elsewhere than the store (whose ids are already checked) are bounded too."""
    rec = audit_record({"op": "decode", "key": "k" * 5000, "dag_id": "\udc80" * 600,
                        "error": "E" * 500, "codec": "c" * 500, "ok": False})
    assert rec["truncated"] is True and len(rec["key"]) == MAX_FIELD_CHARS
    assert len(rec["error"]) == 100 and len(rec["codec"]) == 64 and rec["outcome"] == "error"
    assert len(to_line(rec)) < 8 * 1024 and to_line(rec).isascii()


def _append(path: str, n: int) -> None:
    store = XComStore(url="sqlite://", audit_sink=f"jsonl://{path}", measure=False)
    for i in range(n):
        store.set(f"k{i}", "v" * 10, dag_id=f"p{os.getpid()}", run_id="r", task_id="t")


def test_concurrent_processes_append_whole_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "a.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(path, 200)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    trail = xcomlab.load_audit(path)
    assert len(trail) == 600 and trail.groupby("pid").size().tolist() == [200, 200, 200]


def test_table_sink_round_trip_and_leaves_the_connection_writable(tmp_path: Path) -> None:
    store = _store(tmp_path, "table")
    _workload(store)
    trail = xcomlab.load_audit(store.engine)
    assert list(trail.columns) == ["id", *FIELDS]
    assert trail.op.tolist() == ["set", "set", "get", "get", "set", "purge", "delete", "clear"]
    assert trail.error.tolist()[4] == "SerdeError"
    store.set("after", 1, **IDS)  # reading did not leave the pool read-only
    assert xcomlab.load_audit(str(store.engine.url)).op.iloc[-1] == "set"
    with store.engine.connect() as conn:
        values = conn.execute(sa.text(f"SELECT * FROM {AUDIT_TABLE}")).fetchall()
    assert SECRET not in repr(values)


@pytest.mark.parametrize("fixture", ["pg_url", "mysql_url"])
def test_table_sink_on_postgresql_and_mariadb(request: pytest.FixtureRequest, fixture: str) -> None:
    url = request.getfixturevalue(fixture)  # a throwaway schema / database
    store = XComStore(url=url, audit_sink="table:ops_audit", measure=False)
    try:
        store.set("k", "v", dag_id="d\n", run_id="r", task_id="t" * 250)
        trail = xcomlab.load_audit(store.engine, table="ops_audit")
        assert trail.dag_id.tolist() == ["d\n"] and trail.task_id.tolist() == ["t" * 250]
        assert trail.op.tolist() == ["set"] and trail["at"].iloc[0].tzinfo is not None
    finally:
        store.close()


def test_logging_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = _store(tmp_path, "logging:ops.audit")
    with caplog.at_level(logging.INFO, logger="ops.audit"):
        store.set("k", {"password": SECRET}, **IDS)
    (rec,) = [r for r in caplog.records if r.name == "ops.audit"]
    assert json.loads(rec.getMessage())["op"] == "set" and SECRET not in rec.getMessage()


def test_a_failing_sink_never_fails_the_operation(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    store = _store(tmp_path, f"jsonl://{d / 'a.jsonl'}")
    (d / "a.jsonl").mkdir()  # the path is now a directory: every append fails
    with caplog.at_level(logging.WARNING, logger="xcomlab.audit"):
        store.set("k", 1, **IDS)
    assert store.get("k", **IDS) == 1
    sink = store.recorder.listeners[0].sink  # type: ignore[attr-defined]
    assert sink.failures == 2 and "not written" in caplog.text


@pytest.mark.parametrize(("spec", "match"), [
    ("jsonl://relative/a.jsonl", "absolute path"), ("jsonl", "absolute path"),
    ("syslog", "not understood"), ("table:bad name;", "table name"),
])
def test_bad_settings_are_config_errors(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StoreConfig(audit_sink=spec)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        XComStore(url="sqlite://", audit_sink=f"jsonl://{tmp_path}/nope/a.jsonl")


def test_setting_from_environment(tmp_path: Path) -> None:
    cfg = StoreConfig.from_env(environ={"XCOMLAB_AUDIT_SINK": f"jsonl://{tmp_path}/a.jsonl"})
    assert parse_sink(cfg.audit_sink or "") == ("jsonl", f"{tmp_path}/a.jsonl")
    assert StoreConfig().audit_sink is None  # off by default


@pytest.mark.parametrize(("line", "match"), [
    (b"not json", "line 2: not JSON"), (b'{"v": 2}', "line 2: not an xcomlab audit record"),
    (b"[1]", "not an xcomlab audit record"),
])
def test_reader_names_the_bad_line(tmp_path: Path, line: bytes, match: str) -> None:
    path = tmp_path / "a.jsonl"
    _store(tmp_path, f"jsonl://{path}").set("k", 1, **IDS)
    with path.open("ab") as f:
        f.write(line + b"\n")
    with pytest.raises(ExportFormatError, match=match):
        xcomlab.load_audit(path)


def test_reader_checks_field_types_and_line_length(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _store(tmp_path, f"jsonl://{path}").set("k", 1, **IDS)
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "map_index": "0"}) + "\n")
    with pytest.raises(ExportFormatError, match="line 1: field 'map_index'"):
        xcomlab.load_audit(path)
    path.write_text(json.dumps({**rec, "key": "k" * 70_000}) + "\n")
    with pytest.raises(ExportFormatError, match="over 65,536"):
        xcomlab.load_audit(path)
    with pytest.raises(ExportFormatError, match="does not exist"):
        xcomlab.load_audit(tmp_path / "none.jsonl")
    with pytest.raises(ExportFormatError, match="no audit table"):
        xcomlab.load_audit(f"sqlite:///{tmp_path / 'empty.db'}")


def test_reader_accepts_the_setting_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("")
    assert xcomlab.load_audit(f"jsonl://{path}").empty
    assert isinstance(xcomlab.load_audit(path), pd.DataFrame)
    assert ingest_audit.AUDIT_TABLE == AUDIT_TABLE
