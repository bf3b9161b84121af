"""JSON Lines and Parquet exports with the xcom table's columns.

``value`` may be a string holding the stored JSON text (Airflow 3), a ``\\x``-hex
string (Airflow 2, as psql writes bytea), a Parquet ``binary`` column with the raw
stored bytes, or — in JSON Lines made by ``row_to_json`` — the JSON value itself,
which is re-serialised the way PostgreSQL prints jsonb (``", "`` and ``": "``). In
that embedded form a JSON ``null`` value and SQL NULL look the same (both ``null``);
they load as NULL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from xcomlab.errors import ExportFormatError, Reason, Rejection
from xcomlab.ingest.classify import RawValues
from xcomlab.ingest.compressed import compressed_tell, inner_name, open_text
from xcomlab.ingest.csvfile import REQUIRED_EXPORT, frame_columns
from xcomlab.ingest.failures import guard
from xcomlab.ingest.normalize import RawBatch, detect_schema
from xcomlab.ingest.source import TableSource, is_xcom_table
from xcomlab.ingest.values import ValueMode, detect_mode, values_from_text

__all__ = ["read_jsonl", "read_parquet"]


def _table_name(path: str) -> str:
    stem = Path(inner_name(path)).stem
    return stem if is_xcom_table(stem) else "xcom"


@guard
def read_parquet(path: str, *, value_mode: ValueMode | None, airflow_schema: str | None,
                 chunk_rows: int, span: tuple[int, int] | None = None) -> Iterator[TableSource]:
    """Yield the table a Parquet export holds, streamed by row batches (only row groups
    ``span`` when given: :func:`xcomlab.ingest.split.parquet_spans`)."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        msg = f"{path}: not a readable Parquet file ({exc}); expected a Parquet export of xcom"
        raise ExportFormatError(msg) from exc
    names = [n.lower() for n in pf.schema_arrow.names]
    table = _table_name(path)
    missing = [c for c in REQUIRED_EXPORT if c not in names]
    if missing:
        msg = f"{path}: Parquet columns {names} lack {missing}; expected Airflow's xcom columns"
        raise ExportFormatError(msg)
    vtype = pf.schema_arrow.field(pf.schema_arrow.names[names.index("value")]).type
    binary = pa.types.is_binary(vtype) or pa.types.is_large_binary(vtype)
    mode = value_mode
    if mode is None and not binary:
        first = next(pf.iter_batches(batch_size=200, columns=[pf.schema_arrow.names[names.index("value")]]), None)
        sample = [] if first is None else first.column(0).to_pylist()
        mode = detect_mode(sample, crlf=False)
    json_values = not binary and mode in (ValueMode.JSON, ValueMode.PYTHON_REPR)
    schema = airflow_schema or detect_schema(set(names), json_values=json_values)
    used = frame_columns(names)
    original = {n.lower(): n for n in pf.schema_arrow.names}

    def batches() -> Iterator[RawBatch]:
        row = 1
        groups = None if span is None else list(range(*span))
        for rb in pf.iter_batches(batch_size=chunk_rows, row_groups=groups,
                                  columns=[original[n] for n in used]):
            cols = {used[n]: rb.column(original[n]) for n in used}
            value = cols.pop("value")
            if binary:
                head = value.cast(pa.binary())
                vals = RawValues(head, pa.compute.binary_length(head).cast(pa.int64()), complete=True)
                yield RawBatch(cols, vals, row)
            else:
                vt = values_from_text(value.cast(pa.string()), mode or ValueMode.JSON)
                yield RawBatch(cols, vt.values, row, lost=vt.lost, approx=vt.approx,
                               bad_values=vt.bad, bad_detail="value does not match the file's spelling")
            row += rb.num_rows

    yield TableSource(path=path, table=table, columns=names, airflow_schema=schema,
                      batches=batches, total_bytes=None)


@guard
def read_jsonl(path: str, *, value_mode: ValueMode | None, airflow_schema: str | None,
               chunk_rows: int) -> Iterator[TableSource]:
    """Yield the table a JSON Lines export holds (one object per line)."""
    first = _first_object(path)
    names = [k.lower() for k in first]
    missing = [c for c in REQUIRED_EXPORT if c not in names]
    if missing:
        msg = (f"{path}, line 1: keys {names} lack {missing}; expected one JSON object per line "
               "with Airflow's xcom columns")
        raise ExportFormatError(msg)
    sample = _sample_values(path)
    mode = value_mode or detect_mode([s for s in sample if isinstance(s, str)], crlf=False)
    # row_to_json embeds jsonb as JSON: objects, numbers and strings alike. Then a
    # string value is the JSON string itself and must be re-encoded, quotes included.
    embedded = any(s is not None and not isinstance(s, str) for s in sample)
    if embedded:
        mode = ValueMode.JSON
    schema = airflow_schema or detect_schema(
        set(names), json_values=mode in (ValueMode.JSON, ValueMode.PYTHON_REPR))
    reader = _JsonlReader(path, frame_columns(names), mode, chunk_rows, embedded=embedded)
    yield TableSource(path=path, table=_table_name(path), columns=names, airflow_schema=schema,
                      batches=reader.batches, total_bytes=Path(path).stat().st_size,
                      bytes_read=reader.tell)


def _first_object(path: str) -> dict[str, Any]:
    with open_text(path, errors="replace", newline="\n") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                msg = f"{path}, line {line_no}: not JSON ({exc}); expected one JSON object per line"
                raise ExportFormatError(msg) from exc
            if not isinstance(obj, dict):
                msg = f"{path}, line {line_no}: a JSON {type(obj).__name__}; expected an object per line"
                raise ExportFormatError(msg)
            return obj
    msg = f"{path}: the file is empty; expected one JSON object per line"
    raise ExportFormatError(msg)


def _sample_values(path: str, n: int = 200) -> list[Any]:
    out: list[Any] = []
    with open_text(path, errors="replace", newline="\n") as f:
        for line in f:
            if len(out) >= n:
                break
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                out.append(obj.get("value"))
    return out


class _JsonlReader:
    def __init__(self, path: str, used: dict[str, str], mode: ValueMode, chunk_rows: int, *,
                 embedded: bool = False) -> None:
        self.embedded = embedded
        self.path = path
        self.used = used
        self.mode = mode
        self.chunk_rows = chunk_rows
        self._f: Any = None

    def tell(self) -> int:
        return 0 if self._f is None or self._f.closed else compressed_tell(self._f.buffer)

    def batches(self) -> Iterator[RawBatch]:
        keys = [k for k in self.used if k != "value"]
        with open_text(self.path, newline="\n") as self._f:  # lines end at \n only
            rows: list[dict[str, Any]] = []
            rejected: list[Rejection] = []
            first = row = 1
            for line_no, line in enumerate(self._f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        msg = f"a JSON {type(obj).__name__}, not an object"
                        raise ValueError(msg)
                except RecursionError:
                    rejected.append(Rejection(self.path, "", row, line_no, None, Reason.BAD_JSON,
                                              "expected a JSON object nested less than ~1,000 "
                                              "levels deep (Python's JSON reader stops there)",
                                              line[:200].strip()))
                except ValueError as exc:
                    rejected.append(Rejection(self.path, "", row, line_no, None, Reason.BAD_JSON,
                                              f"expected a JSON object ({exc})", line.strip()))
                else:
                    rows.append({k.lower(): v for k, v in obj.items()})
                row += 1
                if len(rows) >= self.chunk_rows or rejected:
                    yield self._batch(rows, keys, first, rejected)
                    first, rows, rejected = row, [], []
            if rows or rejected:
                yield self._batch(rows, keys, first, rejected)

    def _batch(self, rows: list[dict[str, Any]], keys: list[str], first: int,
               rejected: list[Rejection]) -> RawBatch:
        cols = {self.used[k]: _column([r.get(k) for r in rows]) for k in keys}
        text = [_value_text(r.get("value"), self.embedded) for r in rows]
        vt = values_from_text(pa.array(text, pa.string()), self.mode)
        raw = RawBatch(cols, vt.values, first, lost=vt.lost, approx=vt.approx, bad_values=vt.bad,
                       bad_detail="value does not match the file's spelling")
        raw.rejected = rejected
        return raw


def _value_text(v: Any, embedded: bool) -> str | None:
    if v is None or (isinstance(v, str) and not embedded):
        return v
    # jsonb's text form: ", " and ": " separators, non-ASCII as UTF-8 rather than \u escapes.
    return json.dumps(v, ensure_ascii=False)


def _column(values: list[Any]) -> pa.Array:
    if all(v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)) for v in values):
        return pa.array(values, pa.int64())
    if all(v is None or isinstance(v, bool) for v in values):
        return pa.array(values, pa.bool_())
    return pa.array([None if v is None else str(v) for v in values], pa.string())
