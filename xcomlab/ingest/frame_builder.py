"""The XCom frame's columns, filled batch by batch in place from the builders' typed pieces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from xcomlab import schema as S
from xcomlab.ingest.pieces import BatchPieces, Coded, Masked, Refs

__all__ = ["FrameBuilder"]

_CATEGORIES = (S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY)
_CODES = (S.ENCODING, S.AIRFLOW_SCHEMA)  # fixed dictionaries: codes are category codes
_NULLABLE_INT = (S.DAG_RUN_ID, S.VALUE_BYTES, S.REF_BYTES)
_BOOLS = (S.SIZE_EXACT, S.INTERNAL, S.HAS_NAN)
_TIMES = (S.LOGICAL_DATE, S.TIMESTAMP)
_MASKED = (*_NULLABLE_INT, S.DAG_RESULT)
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_NAT = np.iinfo(np.int64).min
#: Numpy buffer of each fixed-width column.
_BUFFERS: dict[str, Any] = {
    # int16 codes, widened to int32 for a column that outgrows them (run_id may)
    **{c: np.int16 for c in _CATEGORIES},
    **{c: np.int8 for c in _CODES},
    S.MAP_INDEX: np.int64,
    **{c: np.bool_ for c in _BOOLS},
    **{c: np.int64 for c in _NULLABLE_INT},
    S.DAG_RESULT: np.bool_,
    **{c: np.int64 for c in _TIMES},  # nanoseconds since the epoch, NaT for null
}


class FrameBuilder:
    """The frame's columns, filled batch by batch in their final numpy form.

    Builder threads turn each batch into :class:`~xcomlab.ingest.pieces.BatchPieces`
    (:func:`~xcomlab.ingest.normalize.build_batch`); here they are copied into one
    preallocated buffer per column, and identifier codes renumbered against one
    dictionary per column. The frame then wraps the buffers without a copy: each byte
    of the frame is written once. (On machines where first touching memory is slow, a
    join of pieces at the end costs more than the parsing.)

    Buffers start at ``capacity`` rows (a reader's estimate; untouched pages cost no
    memory) and double when a load outgrows them. Categories are numbered in order of
    first use: batch by batch, and within a batch in its dictionary's order (Arrow
    numbers a batch's words as they first occur).
    """

    def __init__(self, keep_values: bool, capacity: int = 1 << 16) -> None:
        self.keep_values = keep_values
        self.rows = 0
        self.capacity = 0
        self.values: dict[str, np.ndarray] = {}
        self.masks: dict[str, np.ndarray] = {}
        #: Per batch: the rows holding a reference (frame positions) and their URIs.
        self.refs: list[Refs | None] = []
        #: Per batch: the stored values (only when kept).
        self.kept: list[pa.Array] = []
        self.words: dict[str, list[str]] = {c: [] for c in _CATEGORIES}
        self.number: dict[str, dict[str, int]] = {c: {} for c in _CATEGORIES}
        #: Per batch: rows before it and the words each category had (for truncate).
        self.marks: list[tuple[int, dict[str, int]]] = []
        self._grow(max(capacity, 1))

    def _grow(self, capacity: int) -> None:
        for col, dtype in _BUFFERS.items():
            old = self.values.get(col)
            self.values[col] = _resized(old, capacity, dtype if old is None else old.dtype,
                                        self.rows)
        for col in _MASKED:
            self.masks[col] = _resized(self.masks.get(col), capacity, np.bool_, self.rows)
        self.capacity = capacity

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in all (a reader's size estimate)."""
        if rows > self.capacity:
            self._grow(rows)

    def truncate(self, rows: int) -> None:
        """Forget the batches added after the first ``rows`` rows."""
        keep = 0
        while keep < len(self.marks) and self.marks[keep][0] < rows:
            keep += 1
        if keep < len(self.marks):
            for col, count in self.marks[keep][1].items():
                for word in self.words[col][count:]:
                    del self.number[col][word]
                del self.words[col][count:]
        del self.marks[keep:]
        del self.refs[keep:]
        del self.kept[keep:]
        self.rows = rows

    def add(self, pieces: BatchPieces) -> None:
        """Copy one batch's pieces into the buffers."""
        n = len(pieces)
        if self.rows + n > self.capacity:
            self._grow(max(2 * self.capacity, self.rows + n))
        self.marks.append((self.rows, {c: len(w) for c, w in self.words.items()}))
        at, end = self.rows, self.rows + n
        for col, coded in pieces.identifiers():
            self._add_coded(col, coded, at, end)
        for col, plain in pieces.plain():
            self.values[col][at:end] = plain
        for col, masked in pieces.masked():
            self._add_masked(col, masked, at, end)
        for col, micros in pieces.times():
            self._add_time(col, micros, at, end)
        refs = pieces.ref_uri
        self.refs.append(None if refs is None else Refs(refs.rows + at, refs.uris))
        if self.keep_values:
            assert pieces.value is not None, "values are kept but the batch has none"
            self.kept.append(pieces.value)
        self.rows = end

    def _add_coded(self, col: str, coded: Coded, at: int, end: int) -> None:
        """Renumber a batch's identifier codes against the column's dictionary."""
        number = self.number[col]
        known = self.words[col]
        remap = np.empty(len(coded.words) + 1, dtype=np.int64)
        remap[-1] = -1  # null
        for i, word in enumerate(coded.words):
            code = number.get(word)
            if code is None:
                code = number[word] = len(known)
                known.append(word)
            remap[i] = code
        if len(known) > np.iinfo(self.values[col].dtype).max:
            self.values[col] = _resized(self.values[col], self.capacity, np.int32, at)
        remap = remap.astype(self.values[col].dtype)
        if isinstance(coded.codes, int):
            self.values[col][at:end] = remap[coded.codes]
        else:
            np.take(remap, coded.codes, out=self.values[col][at:end])

    def _add_masked(self, col: str, masked: Masked, at: int, end: int) -> None:
        if masked.values is None:  # all null: the values stay zero, as allocated
            self.masks[col][at:end] = True
        else:
            self.values[col][at:end] = masked.values
            self.masks[col][at:end] = False if masked.mask is None else masked.mask

    def _add_time(self, col: str, micros: Masked, at: int, end: int) -> None:
        out = self.values[col][at:end]
        if micros.values is None:
            out[:] = _NAT
        else:
            np.multiply(micros.values, 1000, out=out)
            if micros.mask is not None:
                out[micros.mask] = _NAT

    def frame(self) -> pd.DataFrame:
        """The frame over the buffers (views, not copies); the builder is emptied."""
        n = self.rows
        out = {col: self._column(col, n) for col in S.DTYPES}
        if self.keep_values:
            out[S.VALUE] = pa.chunked_array(self.kept, type=pa.binary()).to_pandas()
        self.values, self.masks, self.refs, self.kept = {}, {}, [], []
        return S.validate_frame(pd.DataFrame(out, copy=False))

    def _column(self, col: str, n: int) -> Any:
        """One frame column over the first ``n`` rows of its buffer."""
        if col in _CATEGORIES:
            cats = pd.Index(self.words[col], dtype=_category_values_dtype())
            return pd.Categorical.from_codes(self.values[col][:n], categories=cats,
                                             validate=False)
        if col in _CODES:
            dtype = S.DTYPES[col]
            assert isinstance(dtype, pd.CategoricalDtype)
            return pd.Categorical.from_codes(self.values[col][:n], dtype=dtype, validate=False)
        if col in _MASKED:
            values, mask = self.values[col][:n], self.masks[col][:n]
            return (pd.arrays.BooleanArray(values, mask) if col == S.DAG_RESULT
                    else pd.arrays.IntegerArray(values, mask))
        if col in _TIMES:
            return _utc_times(self.values[col][:n])
        if col == S.REF_URI:
            return _ref_column(n, self.refs)
        return self.values[col][:n]


def _resized(old: np.ndarray | None, capacity: int, dtype: Any, rows: int) -> np.ndarray:
    new = np.zeros(capacity, dtype=dtype)  # calloc: pages are touched only as rows arrive
    if old is not None and rows:
        new[:rows] = old[:rows]
    return new


def _utc_times(nanos: np.ndarray) -> Any:
    """A ``datetime64[ns, UTC]`` array over ``nanos`` (UTC instants), without a copy
    where pandas allows it."""
    values = nanos.view("datetime64[ns]")
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is not None:
        try:
            return simple_new(values, dtype=_UTC_NS)
        except TypeError:  # pragma: no cover - another pandas signature
            pass
    return pd.array(values, dtype=_UTC_NS)  # pragma: no cover


def _ref_column(n: int, refs: list[Refs | None]) -> Any:
    """The ``ref_uri`` column: null but for the rows holding a reference."""
    rows = [got.rows for got in refs if got is not None]
    if not rows:
        uris = pa.nulls(n, pa.string())
    else:
        pick = np.full(n, -1, dtype=np.int32)
        pick[np.concatenate(rows)] = np.arange(sum(len(r) for r in rows), dtype=np.int32)
        words = pa.array([u for got in refs if got is not None for u in got.uris], pa.string())
        uris = words.take(pa.array(pick, mask=pick < 0))
    return pd.array(uris.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get),
                    dtype=pd.StringDtype())


def _category_values_dtype() -> Any:
    """The dtype pandas gives string categories converted from Arrow."""
    return pa.array(["a"]).dictionary_encode().to_pandas().cat.categories.dtype
