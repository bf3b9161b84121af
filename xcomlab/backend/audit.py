"""Audit: an append-only trail of store operations (JSON Lines file, SQL table or logging).

Selected by :attr:`StoreConfig.audit_sink <xcomlab.backend.StoreConfig>` (off by default):

``"jsonl:///var/log/xcomlab/audit.jsonl"``
    One JSON object per line, appended with a single ``write`` on a file opened with
    ``O_APPEND`` (mode 0600), so concurrent processes never interleave or overwrite
    lines; the file is reopened for every record, so ``logrotate`` may move it freely.
``"table"`` or ``"table:<name>"``
    A row per record in table ``xcomlab_audit`` (or ``<name>``) of the store's database,
    inserted in its own transaction; the store only ever inserts into it.
``"logging"`` or ``"logging:<logger>"``
    The same JSON line, at INFO, on logger ``xcomlab.audit`` (or ``<logger>``), so it
    lands wherever the process's logs go (Airflow task logs, journald, ...).

What a record holds (:data:`FIELDS`): ``at`` (UTC, ISO 8601), ``op`` (set, get, delete,
clear, purge, encode, decode, rotate, cleanup, reconcile), the ids ``dag_id``, ``run_id``,
``task_id``, ``map_index``, ``key`` (empty for bulk operations), ``tier`` (db, object,
none), ``codec``, ``encrypted``, ``value_bytes`` (serialized), ``stored_bytes`` (where the
value lives), ``cache`` (hit/miss/""), ``outcome`` (ok/error), ``error`` (exception class
name only: messages can quote values), ``duration_s``, ``host`` and ``pid``. Never a
value, a preview, a URI or a key. Ids are untrusted (any task names its own XCom): each
string is cut to :data:`MAX_FIELD_CHARS` characters (``truncated`` is then true) and JSON
escapes every control and non-ASCII character, so a record is one line of at most a few
KiB whatever the ids hold.

A sink that fails (disk full, database down) never fails the XCom operation, which has
already happened: the failure is logged on ``xcomlab.audit`` and counted in
``sink.failures``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import sqlalchemy as sa

from xcomlab.audit_records import AUDIT_TABLE, FIELDS, MAX_FIELD_CHARS, VERSION, audit_table
from xcomlab.errors import XcomlabError

__all__ = ["AUDIT_TABLE", "FIELDS", "MAX_FIELD_CHARS", "AuditError", "AuditSink", "audit_record",
           "audit_table", "make_sink", "parse_sink", "to_line"]

LOGGER: Final = "xcomlab.audit"
_SCHEMES: Final = ("jsonl", "table", "logging")
_log = logging.getLogger(LOGGER)


class AuditError(XcomlabError, ValueError):
    """An audit sink setting is invalid, or an audit trail cannot be read."""


class AuditSink(Protocol):
    """Something that appends one record; ``failures`` counts records it could not write."""

    failures: int

    def __call__(self, record: Mapping[str, Any]) -> None: ...


def parse_sink(spec: str) -> tuple[str, str]:
    """``(scheme, target)`` of an ``audit_sink`` setting, or :class:`AuditError`.

    Examples
    --------
    >>> parse_sink("jsonl:///var/log/xcomlab/audit.jsonl")
    ('jsonl', '/var/log/xcomlab/audit.jsonl')
    >>> parse_sink("table")
    ('table', 'xcomlab_audit')
    """
    scheme, sep, rest = spec.partition(":")
    if scheme not in _SCHEMES:
        msg = (f"audit_sink {spec!r} is not understood; expected 'jsonl:///path/audit.jsonl', "
               "'table', 'table:<name>', 'logging' or 'logging:<logger>'")
        raise AuditError(msg)
    if scheme == "jsonl":
        path = rest.removeprefix("//")
        if not sep or not path.startswith("/"):
            msg = f"audit_sink {spec!r}: a JSON Lines sink needs an absolute path, e.g. jsonl:///var/log/xcomlab/audit.jsonl"
            raise AuditError(msg)
        return scheme, path
    if scheme == "table":
        name = rest or AUDIT_TABLE
        if not name.replace("_", "").isalnum() or len(name) > 63:
            msg = f"audit_sink {spec!r}: table name must be letters, digits and _ (≤ 63 characters)"
            raise AuditError(msg)
        return scheme, name
    return scheme, rest or LOGGER


def audit_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The audit record of one operation record (see :class:`~xcomlab.backend.measure.Recorder`)."""
    out: dict[str, Any] = {"v": VERSION}
    truncated = False
    for name in ("dag_id", "run_id", "task_id", "key"):
        text, cut = _bounded(row.get(name, ""))
        out[name] = text
        truncated |= cut
    at = row.get("at")
    codec, _ = _bounded(row.get("codec", ""), 64)
    error = row.get("error") or None
    out.update({
        "at": at.isoformat() if isinstance(at, datetime) else datetime.now(UTC).isoformat(),
        "op": str(row.get("op", ""))[:16], "map_index": _int(row.get("map_index", -1)),
        "tier": str(row.get("tier", ""))[:8], "codec": codec,
        "encrypted": codec.endswith("+fernet"),
        "value_bytes": _int(row.get("bytes_in", 0)), "stored_bytes": _int(row.get("bytes_stored", 0)),
        "cache": str(row.get("cache", ""))[:8],
        "outcome": "ok" if row.get("ok", True) else "error",
        "error": _bounded(error, 100)[0] if error else None,
        "duration_s": round(float(row.get("total_s", 0.0)), 6),
        "host": _HOST, "pid": os.getpid(), "truncated": truncated})
    return {k: out[k] for k in FIELDS}


def _bounded(value: Any, limit: int = MAX_FIELD_CHARS) -> tuple[str, bool]:
    text = value if isinstance(value, str) else str(value)
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


_HOST: Final = socket.gethostname()[:255]


def to_line(record: Mapping[str, Any]) -> str:
    """One line of JSON (ASCII only: no raw newline or control character can appear)."""
    return json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class JsonlSink:
    """Append records to a JSON Lines file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.failures = 0
        parent = os.path.dirname(path)
        if parent and not os.path.isdir(parent):
            msg = f"audit_sink: directory {parent!r} does not exist; create it (writable by the workers)"
            raise AuditError(msg)

    def __repr__(self) -> str:
        return f"JsonlSink({self.path!r})"

    def __call__(self, record: Mapping[str, Any]) -> None:
        data = (to_line(record) + "\n").encode("ascii")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                     0o600)
        try:
            os.write(fd, data)  # one write: O_APPEND places it whole at the end
        finally:
            os.close(fd)




class TableSink:
    """Insert records into an audit table of ``engine``'s database (created when missing)."""

    def __init__(self, engine: sa.Engine, name: str = AUDIT_TABLE) -> None:
        self.engine = engine
        self.table = audit_table(name)
        self.failures = 0
        self.table.create(engine, checkfirst=True)

    def __repr__(self) -> str:
        return f"TableSink({self.table.name!r})"

    def __call__(self, record: Mapping[str, Any]) -> None:
        row = dict(record)
        row["at"] = datetime.fromisoformat(row["at"])
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), row)


class LoggingSink:
    """Log each record as one JSON line at INFO on a logger."""

    def __init__(self, name: str = LOGGER) -> None:
        self.logger = logging.getLogger(name)
        self.failures = 0

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r})"

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.logger.info("%s", to_line(record))


def make_sink(spec: str, engine: sa.Engine) -> AuditSink:
    """The sink an ``audit_sink`` setting names (``engine``: the store's, for ``table``)."""
    scheme, target = parse_sink(spec)
    if scheme == "jsonl":
        return JsonlSink(target)
    if scheme == "table":
        return TableSink(engine, target)
    return LoggingSink(target)


class AuditListener:
    """A :class:`~xcomlab.backend.measure.Recorder` listener writing each record to a sink."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink

    def __repr__(self) -> str:
        return f"AuditListener({self.sink!r})"

    def __call__(self, row: Mapping[str, Any]) -> None:
        try:
            self.sink(audit_record(row))
        except Exception as exc:  # the operation already happened: never fail it
            self.sink.failures += 1
            _log.warning("audit record of %s not written to %r: %s", row.get("op"), self.sink,
                         type(exc).__name__)
