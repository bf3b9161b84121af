"""Audit reader: the reference backend's audit trail (JSON Lines file or table) as a DataFrame.

The trail is written by :mod:`xcomlab.backend.audit` (``StoreConfig.audit_sink``); its
records are untrusted text like any export, so each line is checked and a bad one is an
:class:`~xcomlab.errors.ExportFormatError` naming the file and line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from xcomlab.audit_records import FIELDS, VERSION, audit_table
from xcomlab.errors import ExportFormatError

if TYPE_CHECKING:  # loaded for an audit table (a URL or an Engine), not for a JSON Lines file
    import sqlalchemy as sa

__all__ = ["load_audit"]

#: Default table of ``audit_sink="table"`` (xcomlab.backend.audit.AUDIT_TABLE; not imported
#: here so that ``import xcomlab`` does not load the backend).
AUDIT_TABLE: Final = "xcomlab_audit"

#: Longest line accepted (a record is a few hundred bytes; ids are cut at 512 characters).
MAX_LINE_BYTES: Final = 64 * 1024
_INTS: Final = ("map_index", "value_bytes", "stored_bytes", "pid")
_BOOLS: Final = ("encrypted", "truncated")
_STRS: Final = ("at", "op", "dag_id", "run_id", "task_id", "key", "tier", "codec", "cache",
                "outcome", "host")


def load_audit(source: str | os.PathLike[str] | sa.Engine, *, table: str = AUDIT_TABLE) -> pd.DataFrame:
    """Read an audit trail: one row per recorded store operation.

    Parameters
    ----------
    source
        A JSON Lines file (path or the ``jsonl:///path`` setting itself), a SQLAlchemy URL
        or Engine of the database holding the audit table.
    table
        Name of the audit table (SQL sources).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`xcomlab.backend.audit.FIELDS` (``at`` as UTC timestamps, ``id`` first
        for tables), in the order written.

    Examples
    --------
    >>> import xcomlab
    >>> trail = xcomlab.load_audit("/var/log/xcomlab/audit.jsonl")  # doctest: +SKIP
    >>> trail.groupby(["op", "outcome"]).size()  # doctest: +SKIP
    """
    if not isinstance(source, str | os.PathLike):  # an Engine: a path needs no SQLAlchemy
        import sqlalchemy as sa

        if isinstance(source, sa.Engine):
            return _from_sql(source, table)
    text = os.fspath(source)
    if "://" in text and not text.startswith("jsonl:"):
        import sqlalchemy as sa

        engine = sa.create_engine(text)
        try:
            return _from_sql(engine, table)
        finally:
            engine.dispose()
    return _from_jsonl(Path(text.removeprefix("jsonl://")))


def _from_sql(engine: sa.Engine, table: str) -> pd.DataFrame:
    import sqlalchemy as sa

    t = audit_table(table)
    if not sa.inspect(engine).has_table(table):
        msg = f"{engine.url.render_as_string(hide_password=True)} has no audit table {table!r}"
        raise ExportFormatError(msg)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c.id))]
    for r in rows:
        r["at"] = r["at"].isoformat()
    return _frame(rows, ["id", *FIELDS])


def _from_jsonl(path: Path) -> pd.DataFrame:
    if not path.is_file():
        msg = f"audit trail {str(path)!r} does not exist or is not a file"
        raise ExportFormatError(msg)
    rows = []
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if len(line) > MAX_LINE_BYTES:
                msg = f"{path}, line {n}: {len(line):,} bytes, over {MAX_LINE_BYTES:,}; not an audit record"
                raise ExportFormatError(msg)
            if line.strip():
                rows.append(_record(path, n, line))
    return _frame(rows, list(FIELDS))


def _record(path: Path, n: int, line: bytes) -> dict[str, Any]:
    where = f"{path}, line {n}"
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{where}: not JSON ({exc}); expected one audit record per line"
        raise ExportFormatError(msg) from None
    if not isinstance(rec, dict) or rec.get("v") != VERSION:
        msg = f"{where}: not an xcomlab audit record of version {VERSION} (no \"v\": {VERSION})"
        raise ExportFormatError(msg)
    for names, kind in ((_INTS, int), (_BOOLS, bool), (_STRS, str)):
        for name in names:
            v = rec.get(name)
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                msg = f"{where}: field {name!r} is {v!r}; expected {kind.__name__}"
                raise ExportFormatError(msg)
    if not isinstance(rec.get("duration_s"), int | float) or not isinstance(rec.get("error"), str | None):
        msg = f"{where}: field 'duration_s' or 'error' has the wrong type"
        raise ExportFormatError(msg)
    return {k: rec[k] for k in FIELDS}


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    try:
        df["at"] = pd.to_datetime(df["at"], utc=True, format="ISO8601").dt.as_unit("ns")
    except (ValueError, TypeError) as exc:
        msg = f"audit trail has a timestamp that is not ISO 8601 ({exc})"
        raise ExportFormatError(msg) from None
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df.astype({**dict.fromkeys(_INTS, "int64"), **dict.fromkeys(_BOOLS, "bool"),
                      "duration_s": "float64"})
