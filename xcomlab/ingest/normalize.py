"""From a reader's raw batch to rows of the XCom frame: types, checks, classification.

Readers hand over :class:`RawBatch` objects whose identifier columns may still be
text. This module coerces them (reporting the exact row of any bad field), drops or
raises on rejected rows, classifies the values and returns the batch's frame columns
as typed pieces (:mod:`xcomlab.ingest.pieces`) for the frame builder to copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError, Reason, Rejection
from xcomlab.ingest.classify import CODES, RawValues, classify
from xcomlab.ingest.pieces import ALL_NULL, BatchPieces, Coded, Masked, Refs

__all__ = ["BatchContext", "RawBatch", "build_batch", "detect_schema", "hex_to_binary"]

_TS = pa.timestamp("us", tz="UTC")
REQUIRED = (S.DAG_ID, S.TASK_ID, S.KEY, S.TIMESTAMP)


@dataclass
class RawBatch:
    """One batch of rows as a reader produced it.

    ``columns`` holds identifier columns by their frame names (strings or already
    typed); ``values`` the stored values; ``lost`` marks rows whose value the export
    replaced by a placeholder, ``approx`` rows whose size was rebuilt.
    """

    columns: dict[str, pa.Array]
    values: RawValues
    first_row: int
    lost: np.ndarray | None = None
    approx: np.ndarray | None = None
    kept: pa.Array | None = None
    #: Rows whose value text does not fit the export's spelling, and what was expected.
    bad_values: np.ndarray | None = None
    bad_detail: str = ""
    #: Rows the reader could not even split into fields (they are not in the batch).
    rejected: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values.head)


@dataclass
class BatchContext:
    """Where a batch comes from, and what to do with bad rows."""

    path: str
    table: str
    airflow_schema: str
    collect: bool
    rejections: list[Rejection] = field(default_factory=list)
    #: Maps a 1-based row number to its physical line (slow path, errors only).
    locate_line: Callable[[int], int | None] | None = None

    def add(self, rej: Rejection) -> None:
        """Record a rejection a reader built itself, or raise at once when not collecting."""
        rej = Rejection(rej.path, self.table, rej.row, rej.line, rej.column, rej.reason,
                        rej.detail, rej.text)
        if not self.collect:
            raise ExportFormatError.from_rejection(rej)
        self.rejections.append(rej)

    def reject(self, row: int, column: str | None, reason: Reason, detail: str, text: str) -> None:
        """Record one bad row, or raise at once when not collecting."""
        line = self.locate_line(row) if self.locate_line is not None else None
        rej = Rejection(self.path, self.table, row, line, column, reason, detail, text)
        if not self.collect:
            raise ExportFormatError.from_rejection(rej)
        self.rejections.append(rej)


def detect_schema(columns: set[str], *, json_values: bool) -> str:
    """Name the Airflow xcom schema from column names and the value column's type.

    Rules (docs/airflow-xcom.md#version-detection): ``dag_result`` ⇒ 3.3+; an ``id`` column
    ⇒ 1.10; ``execution_date`` without ``run_id`` ⇒ 2.0–2.2; JSON values ⇒ 3.0–3.2;
    otherwise 2.3–2.11.
    """
    if "dag_result" in columns:
        return "3.3+"
    if "id" in columns and "execution_date" in columns:
        return "1.10"
    if "execution_date" in columns and "run_id" not in columns:
        return "2.0-2.2"
    return "3.0-3.2" if json_values else "2.3-2.11"


def is_json_schema(airflow_schema: str) -> bool:
    """True for the Airflow 3 schemas, whose value column holds JSON."""
    return airflow_schema.startswith("3")


_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


def hex_to_binary(arr: pa.Array, prefix_len: int) -> tuple[pa.Array, np.ndarray]:
    """Decode PostgreSQL hex bytea text (``\\x7b22…``) to bytes, vectorized.

    Returns the binary array and a mask of rows that were not valid hex.
    """
    # An explicit stop: pyarrow 26 fails on a positive start with the default stop.
    body = pc.binary_slice(pc.cast(arr, pa.binary()), prefix_len, 2**31 - 1)
    if isinstance(body, pa.ChunkedArray):
        body = body.combine_chunks()
    offsets = np.frombuffer(body.buffers()[1], dtype=np.int32)[body.offset : body.offset + len(body) + 1]
    data = np.frombuffer(body.buffers()[2], dtype=np.uint8) if body.buffers()[2] else np.empty(0, np.uint8)
    start, stop = int(offsets[0]), int(offsets[-1])
    chunk = data[start:stop]
    lengths = np.diff(offsets)
    bad = (lengths % 2) == 1
    if chunk.size % 2 or bad.any():
        # Odd-length rows break the pairing: decode row by row (rare, errors only).
        return _hex_rowwise(body)
    hi = _HEX[chunk[0::2]]
    lo = _HEX[chunk[1::2]]
    invalid = (hi == 255) | (lo == 255)
    decoded = (hi << 4) | (lo & 0x0F)
    new_offsets = ((offsets - start) // 2).astype(np.int32)
    if invalid.any():
        pos = np.flatnonzero(invalid) * 2 + start
        bad_rows = np.searchsorted(offsets, pos, side="right") - 1
        bad = np.zeros(len(body), dtype=bool)
        bad[bad_rows] = True
    validity = body.buffers()[0]
    if body.offset and validity is not None:
        validity = pc.is_valid(body).buffers()[1]
    out = pa.Array.from_buffers(
        pa.binary(), len(body), [validity, pa.py_buffer(new_offsets), pa.py_buffer(decoded)],
        null_count=body.null_count,
    )
    return out, bad


def _hex_rowwise(body: pa.Array) -> tuple[pa.Array, np.ndarray]:
    out: list[bytes | None] = []
    bad = np.zeros(len(body), dtype=bool)
    for i, v in enumerate(body.to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(bytes.fromhex(v.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            out.append(b"")
            bad[i] = True
    return pa.array(out, pa.binary()), bad


def build_batch(raw: RawBatch, ctx: BatchContext, *,
                keep_values: bool = False) -> tuple[BatchPieces, pa.Table | None]:
    """Coerce, check and classify one raw batch.

    Returns the batch's frame columns as :class:`~xcomlab.ingest.pieces.BatchPieces` and, when
    ``keep_values``, also as an Arrow table with the stored values (for scans that
    see every value).
    """
    return _build(raw, ctx, keep_values)


def _build(raw: RawBatch, ctx: BatchContext, keep_values: bool) -> tuple[BatchPieces, pa.Table | None]:
    for rej in raw.rejected:
        ctx.add(rej)
    n = len(raw)
    ok = np.ones(n, dtype=bool)
    cols = dict(raw.columns)
    for name in REQUIRED:
        if name not in cols:
            msg = f"{ctx.path}: table {ctx.table} has no {name!r} column; expected Airflow's xcom columns"
            raise ExportFormatError(msg)
    for name in (S.DAG_ID, S.TASK_ID, S.KEY):
        _require_present(cols[name], name, raw, ctx, ok)
    cols[S.MAP_INDEX] = _to_int(cols.get(S.MAP_INDEX), n, S.MAP_INDEX, raw, ctx, ok, default=-1)
    cols[S.DAG_RUN_ID] = _to_int(cols.get(S.DAG_RUN_ID), n, S.DAG_RUN_ID, raw, ctx, ok, default=None)
    cols[S.TIMESTAMP] = _to_ts(cols[S.TIMESTAMP], S.TIMESTAMP, raw, ctx, ok, required=True)
    cols[S.LOGICAL_DATE] = _to_ts(cols.get(S.LOGICAL_DATE), S.LOGICAL_DATE, raw, ctx, ok, required=False, n=n)
    cols[S.DAG_RESULT] = _to_bool(cols.get(S.DAG_RESULT), n)
    if raw.bad_values is not None:
        for i in _rows(raw.bad_values & ok):
            ctx.reject(raw.first_row + int(i), S.VALUE, Reason.BAD_VALUE, raw.bad_detail,
                       _row_text(raw, int(i)))
            ok[i] = False
    if not ok.all():
        keep = pa.array(ok)
        cols = {k: v.filter(keep) for k, v in cols.items()}
        raw = _filter_raw(raw, ok)
    return _assemble(raw, cols, ctx, keep_values)


def _assemble(raw: RawBatch, cols: dict[str, pa.Array], ctx: BatchContext,
              keep_values: bool) -> tuple[BatchPieces, pa.Table | None]:
    n = len(raw)
    c = classify(raw.values, json_3x=is_json_schema(ctx.airflow_schema))
    codes, value_bytes, size_exact = _sizes(raw, c.codes)
    keys = _dict(cols[S.KEY])
    run_id = cols.get(S.RUN_ID, pa.nulls(n, pa.string()))
    ids = {S.DAG_ID: _dict(cols[S.DAG_ID]), S.TASK_ID: _dict(cols[S.TASK_ID]),
           S.RUN_ID: _dict(run_id), S.KEY: keys}
    ref_rows = c.ref_rows if len(c.ref_rows) else None
    value = (raw.kept if raw.kept is not None else raw.values.head) if keep_values else None
    pieces = BatchPieces(
        source_table=Coded(0, [ctx.table]),
        dag_id=_codes_and_words(ids[S.DAG_ID]),
        task_id=_codes_and_words(ids[S.TASK_ID]),
        run_id=_codes_and_words(ids[S.RUN_ID]),
        key=_codes_and_words(keys),
        map_index=_numpy(cols[S.MAP_INDEX].fill_null(-1)),
        dag_run_id=_masked(cols[S.DAG_RUN_ID]),
        logical_date=_micros(cols[S.LOGICAL_DATE]),
        timestamp=_micros(cols[S.TIMESTAMP]),
        dag_result=_masked(cols[S.DAG_RESULT]),
        value_bytes=_masked(value_bytes),
        size_exact=size_exact,
        encoding=codes.astype(np.int8, copy=False),
        ref_uri=None if ref_rows is None else Refs(ref_rows, [c.ref_uri[i] for i in ref_rows]),
        ref_bytes=_masked(_sparse(c.ref_bytes, pa.int64())),
        internal=_internal(keys),
        has_nan=c.has_nan,
        airflow_schema=S.AIRFLOW_SCHEMAS.index(ctx.airflow_schema),
        value=value,
    )
    if value is None:
        return pieces, None
    return pieces, _values_table(ctx.table, ids, cols[S.MAP_INDEX], value)


def _sizes(raw: RawBatch, codes: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Encoding codes, value sizes and exactness flags, with lost and rebuilt values marked."""
    value_bytes = raw.values.value_bytes
    size_exact = np.ones(len(raw), dtype=bool)
    if raw.lost is not None and raw.lost.any():
        codes[raw.lost] = CODES["lost"]
        size_exact[raw.lost] = False
        value_bytes = pc.if_else(pa.array(raw.lost), pa.scalar(None, pa.int64()), value_bytes)
    if raw.approx is not None:
        size_exact &= ~raw.approx
    return codes, value_bytes, size_exact


def _values_table(table: str, ids: dict[str, pa.Array], map_index: pa.Array,
                  value: pa.Array) -> pa.Table:
    """The ids and stored values of a batch, as ``on_values`` callers see them."""
    n = len(value)
    return pa.table({
        S.SOURCE_TABLE: pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                                       pa.array([table])),
        **ids,
        S.MAP_INDEX: map_index.fill_null(-1),
        S.VALUE: value,
    })


def _codes_and_words(arr: pa.Array) -> Coded:
    """A dictionary array as codes (-1: null) into the words its rows use."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    idx = arr.indices
    codes = _numpy(idx.fill_null(-1) if idx.null_count else idx)
    words = arr.dictionary
    if len(words) > 1:  # filtered rows may leave words unused
        used = np.bincount(codes[codes >= 0] if idx.null_count else codes,
                           minlength=len(words)) > 0
        if not used.all():
            renumber = np.full(len(words) + 1, -1, dtype=np.int32)
            renumber[np.flatnonzero(used)] = np.arange(int(used.sum()), dtype=np.int32)
            codes = renumber[codes]
            words = words.filter(pa.array(used))
    if words.type != pa.string():
        words = words.cast(pa.string())
    return Coded(codes, words.to_pylist())


def _numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free Arrow array as numpy (a view where Arrow's layout allows)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False)


def _masked(arr: pa.Array | pa.ChunkedArray) -> Masked:
    """Values and null mask (None without nulls); :data:`ALL_NULL` when every row is null."""
    if arr.null_count == len(arr):
        return ALL_NULL
    if not arr.null_count:
        return Masked(_numpy(arr), None)
    mask = _numpy(pc.is_null(arr))
    fill = False if pa.types.is_boolean(arr.type) else 0
    return Masked(_numpy(arr.fill_null(fill)), mask)


def _micros(arr: pa.Array | pa.ChunkedArray) -> Masked:
    """UTC timestamps as ``(microseconds since the epoch, null mask)``."""
    return _masked(arr.cast(_TS).view(pa.int64()) if arr.null_count < len(arr) else arr)


def _sparse(values: list[Any], typ: pa.DataType) -> pa.Array:
    """An Arrow array of ``values``, which are mostly None (references are rare)."""
    if values.count(None) == len(values):  # C-level scan, no Python loop
        return pa.nulls(len(values), typ)
    return pa.array(values, typ)


_NO_ROWS = np.empty(0, dtype=np.intp)


def _rows(mask: np.ndarray) -> np.ndarray:
    """Positions of a mask's true rows (most masks here are all false: checked first)."""
    return np.flatnonzero(mask) if mask.any() else _NO_ROWS


def _text(arr: pa.Array) -> pa.Array:
    """``arr`` as ``string`` (a cast only when it is not one already)."""
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _dict(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        return arr
    return pc.dictionary_encode(pc.cast(arr, pa.string()))


def _internal(keys: pa.Array) -> np.ndarray:
    enc = _dict(keys)
    flags = np.array([S.is_internal_key(k) for k in enc.dictionary.to_pylist()], dtype=bool)
    if not len(flags):
        return np.zeros(len(keys), dtype=bool)
    return flags[np.asarray(enc.indices.fill_null(0))]


def _row_text(raw: RawBatch, i: int) -> str:
    parts = []
    for name, arr in raw.columns.items():
        v = arr[i].as_py()
        parts.append(f"{name}={v!r}")
    return ", ".join(parts)


def _require_present(arr: pa.Array, name: str, raw: RawBatch, ctx: BatchContext, ok: np.ndarray) -> None:
    if pa.types.is_dictionary(arr.type):
        if not arr.null_count and not pc.any(pc.equal(_text(arr.dictionary), "")).as_py():
            return  # every row has one of the words, and none is empty
        empty = _on_words(arr, lambda words: np.asarray(pc.equal(words, "").fill_null(False)))
        missing = np.asarray(pc.is_null(arr)) | empty
    else:
        missing = np.asarray(pc.is_null(arr))
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            missing = missing | np.asarray(pc.equal(arr, "").fill_null(False))
    for i in _rows(missing & ok):
        ctx.reject(raw.first_row + int(i), name, Reason.NULL_IDENTIFIER,
                   f"expected a non-empty {name}, found none", _row_text(raw, int(i)))
        ok[i] = False


def _on_words(arr: pa.Array, test: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """Apply a per-value boolean ``test`` to a dictionary array's distinct values only."""
    words = _text(arr.dictionary)
    per_word = test(words)
    if not len(per_word):
        return np.zeros(len(arr), dtype=bool)
    idx = arr.indices
    return per_word[np.asarray(idx.fill_null(0))] & np.asarray(pc.is_valid(idx))


def _to_int(
    arr: pa.Array | None, n: int, name: str, raw: RawBatch, ctx: BatchContext, ok: np.ndarray,
    *, default: int | None,
) -> pa.Array:
    if arr is None:
        return pa.array(np.full(n, default), pa.int64()) if default is not None else pa.nulls(n, pa.int64())
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    # Ids repeat (map_index, dag_run_id): check and parse each distinct text once.
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(pc.cast(arr, pa.string()))
    words = pc.utf8_trim_whitespace(_text(enc.dictionary))
    words = pc.if_else(pc.equal(words, ""), pa.scalar(None, pa.string()), words)
    bad_word = np.asarray(pc.invert(pc.match_substring_regex(words, r"^[+-]?[0-9]{1,18}$")).fill_null(False))
    # PostgreSQL reads '+5' as 5; Arrow's cast does not take the sign: drop it first.
    unsigned = pc.replace_substring_regex(words, r"^\+", "")
    numbers = pc.cast(pc.if_else(pa.array(bad_word, pa.bool_()), pa.scalar(None, pa.string()), unsigned),
                      pa.int64())
    idx = enc.indices
    bad = (bad_word[np.asarray(idx.fill_null(0))] & np.asarray(pc.is_valid(idx))
           if len(bad_word) else np.zeros(n, dtype=bool))
    for i in _rows(bad & ok):
        found = words[idx[int(i)].as_py()].as_py()
        ctx.reject(raw.first_row + int(i), name, Reason.BAD_INTEGER,
                   f"expected an integer {name}, found {found!r}", _row_text(raw, int(i)))
        ok[i] = False
    out = pc.take(numbers, idx)
    return out.fill_null(default) if default is not None else out


_TS_FORMATS = (r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$",)


def _to_ts(
    arr: pa.Array | None, name: str, raw: RawBatch, ctx: BatchContext, ok: np.ndarray,
    *, required: bool, n: int | None = None,
) -> pa.Array:
    if arr is None:
        return pa.nulls(n if n is not None else len(raw), _TS)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, "UTC")
        return arr.cast(_TS)
    text = _text(arr)
    try:
        return _parse_ts(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    good = np.asarray(pc.match_substring_regex(text, _TS_FORMATS[0]).fill_null(not required))
    parsed = _parse_ts_rowwise(pc.if_else(pa.array(good), text, pa.scalar(None, pa.string())))
    good &= np.asarray(pc.is_valid(parsed)) | np.asarray(pc.is_null(text))
    for i in _rows(~good & ok):
        ctx.reject(raw.first_row + int(i), name, Reason.BAD_TIMESTAMP,
                   f"expected an ISO timestamp for {name} such as '2024-01-01 00:00:00+00', "
                   f"found {text[int(i)].as_py()!r}", _row_text(raw, int(i)))
        ok[i] = False
    return parsed


def _parse_ts(text: pa.Array) -> pa.Array:
    """Parse ISO timestamps; naive ones are UTC (Airflow stores UTC everywhere)."""
    if len(text) and text.null_count < len(text):
        # PostgreSQL's timestamptz output in a UTC session ends in "+00": cut it and
        # parse the naive rest, which is then UTC (a cast that only adds the zone).
        utc = pc.all(pc.ends_with(text, "+00")).as_py()
        if utc and pc.min(pc.utf8_length(text)).as_py() >= len("2024-01-01 00:00:00+00"):
            try:  # Arrow reads the "+00" offset itself
                return pc.cast(text, _TS)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return pc.cast(pc.cast(pc.utf8_slice_codeunits(text, 0, -3), pa.timestamp("us")), _TS)
    text = pc.replace_substring_regex(text, r"([+-]\d{2})$", r"\1:00")
    aware = pc.match_substring_regex(text, r"(Z|[+-]\d{2}:?\d{2})$")
    if pc.all(aware.fill_null(True)).as_py():
        return pc.cast(text, _TS)
    if not pc.any(aware.fill_null(False)).as_py():
        naive = pc.cast(text, pa.timestamp("us"))
        return pc.assume_timezone(naive, "UTC")
    msg = "mixed naive and aware timestamps"
    raise ValueError(msg)


def _parse_ts_rowwise(text: pa.Array) -> pa.Array:
    """Row by row (mixed offsets, odd forms); unparseable rows become null."""
    import pandas as pd

    s = pd.to_datetime(pd.Series(text.to_pylist(), dtype=object), utc=True, format="ISO8601",
                       errors="coerce")
    return pa.array(s.dt.as_unit("us"), _TS)


def _to_bool(arr: pa.Array | None, n: int) -> pa.Array:
    if arr is None:
        return pa.nulls(n, pa.bool_())
    if pa.types.is_boolean(arr.type):
        return arr
    if pa.types.is_integer(arr.type):
        return pc.not_equal(arr, 0)
    if pa.types.is_dictionary(arr.type):  # decide each distinct text once
        return pc.take(_to_bool(arr.dictionary, len(arr.dictionary)), arr.indices)
    text = pc.utf8_lower(pc.cast(arr, pa.string()))
    true = pc.is_in(text, pa.array(["t", "true", "1"]))
    false = pc.is_in(text, pa.array(["f", "false", "0"]))
    return pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))


def _filter_raw(raw: RawBatch, ok: np.ndarray) -> RawBatch:
    keep = pa.array(ok)
    v = raw.values
    values = RawValues(
        head=v.head.filter(keep),
        value_bytes=v.value_bytes.filter(keep),
        complete=v.complete,
        tail=None if v.tail is None else v.tail.filter(keep),
        nan_hint=None if v.nan_hint is None else v.nan_hint.filter(keep),
        full=None if v.full is None else v.full.filter(keep),
    )
    return RawBatch(
        columns={k: a.filter(keep) for k, a in raw.columns.items()},
        values=values,
        first_row=raw.first_row,
        lost=None if raw.lost is None else raw.lost[ok],
        approx=None if raw.approx is None else raw.approx[ok],
        kept=None if raw.kept is None else raw.kept.filter(keep),
        bad_values=None,
    )
