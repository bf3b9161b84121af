"""On-disk size: from the logical bytes of an XCom frame to what each database really stores.

The model follows each engine's storage layout for the ``xcom`` table Airflow creates
(docs/airflow-xcom.md#schema-2-3, docs/airflow-xcom.md#schema-3; ``xcomlab.airflow_tables`` defines the same table):

PostgreSQL
    Heap tuples (23 B header padded to MAXALIGN, column alignment, 1 B or 4 B varlena
    headers, 4 B line pointer, 8 kB pages); a tuple over 2032 B has its value compressed
    (pglz: kept when it saves ≥ 25 %) and, when still too long, moved to TOAST in 1996 B
    chunks behind an 18 B pointer; the TOAST index; ``xcom_pkey``,
    ``idx_xcom_task_instance`` and the deduplicated ``idx_xcom_key``; FSM and VM forks.
    Airflow 3's ``jsonb`` is binary: its size is the JSON text plus a calibrated constant.
MySQL / MariaDB (InnoDB, DYNAMIC)
    Records (5 B header, length bytes, 13 B of transaction columns) in 16 kB pages; a
    record over about half a page moves its value off-page (20 B pointer, whole 16 kB
    pages per value); secondary indexes carry the primary key; segments grow by 1 MiB
    extents after 32 single pages, as ``data_length``/``index_length`` count them.
    Modelled as rebuilt (``OPTIMIZE TABLE``, pages 15/16 full): how full inserts leave
    InnoDB pages depends on their order — as-inserted tables measured 0.96–1.26× the
    rebuilt size here.
SQLite
    Record format (varint serial types), table and index B-trees in 4 kB pages, payloads
    over 4061 B spilling to overflow pages; modelled after ``VACUUM``.

Every constant comes from ``xcomlab/data/storage.csv`` with its source and date; an
estimate lists the ones it used in ``assumptions``. PostgreSQL's index fill factors
depend on insert order: they were measured here ([L], seed 1) on databases loaded the
way Airflow writes (rows in time order); :func:`validate` checks the model against
PostgreSQL, MariaDB and SQLite (within 4 % on other seeds).
"""

from __future__ import annotations

import csv
import weakref
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import resources
from typing import Any, Final, Literal, cast

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.analysis.compressibility import compressibility as measure_compressibility
from xcomlab.analysis.compressibility import measure_values
from xcomlab.constants import DIALECT_ALIASES, DIALECTS
from xcomlab.errors import XcomlabError
from xcomlab.summary import Summary
from xcomlab.summary.histogram import _HIGHEST, EDGES, bucket_of, representative
from xcomlab.summary.runs import label_bytes

__all__ = [
    "DIALECTS",
    "TABLE_SCOPES",
    "TOAST_CODECS",
    "DiskEstimate",
    "SizedGroups",
    "canonical_dialect",
    "constants",
    "disk_ratio",
    "estimate",
    "estimate_compressibility",
    "on_disk_bytes",
    "scope_label",
    "sized_groups",
]

#: Which rows an estimate covers (docs/figures.md): ``live``, the ``xcom`` table Airflow
#: reads and writes (every row when the frame has no ``xcom`` rows); ``all``, every table
#: of the frame (``xcom`` plus ``_xcom_archive`` and ``_airflow_deleted__xcom__*``).
TABLE_SCOPES: Final = ("live", "all")
TableScope = Literal["live", "all"]
_JSON_SCHEMAS: Final = ("3.0-3.2", "3.3+")
_SCHEMA_ALIASES: Final = {"2": "2.3-2.11", "2.x": "2.3-2.11", "2.10": "2.3-2.11",
                          "3": "3.3+", "3.x": "3.3+", "3.3": "3.3+"}


class DiskModelError(XcomlabError, ValueError):
    """A dialect, schema or parameter the on-disk model does not know."""


@dataclass(frozen=True)
class Constant:
    """One storage constant with its source (a row of ``data/storage.csv``)."""

    dialect: str
    name: str
    value: float
    unit: str
    meaning: str
    source: str
    date: str

    def __str__(self) -> str:
        return f"{self.name} = {self.value:g} {self.unit}: {self.meaning} [{self.source}, {self.date}]"


@cache
def constants() -> dict[tuple[str, str], Constant]:
    """The bundled storage constants keyed by ``(dialect, name)``."""
    text = resources.files("xcomlab").joinpath("data/storage.csv").read_text(encoding="utf-8")
    return {(r["dialect"], r["name"]): Constant(r["dialect"], r["name"], float(r["value"]), r["unit"],
                                                r["meaning"], r["source"], r["date"])
            for r in csv.DictReader(text.splitlines())}


@dataclass(frozen=True)
class DiskEstimate:
    """Predicted on-disk bytes of an XCom frame in one database.

    Attributes
    ----------
    dialect : str
        ``postgresql``, ``mysql`` or ``sqlite``.
    schema : str
        Airflow schema modelled (``2.3-2.11``: ``bytea``/``LONGBLOB``/``BLOB`` value;
        ``3.x``: ``jsonb``/``JSON``).
    rows : int
        Rows modelled.
    logical_bytes : int
        Sum of ``value_bytes``.
    total_bytes : int
        Predicted bytes on disk (PostgreSQL ``pg_total_relation_size`` after ``VACUUM``,
        InnoDB ``data_length + index_length`` of the rebuilt table, SQLite pages of the
        table and its indexes after ``VACUUM``).
    breakdown : dict
        Bytes per part: ``table`` (heap, clustered index or table B-tree),
        ``out_of_line`` (TOAST with its index, off-page BLOB pages or overflow pages)
        and one entry per index.
    per_row_overhead : float
        ``(total_bytes - logical_bytes) / rows``.
    per_dag : pandas.Series
        Predicted bytes per ``dag_id`` (sums to ``total_bytes``), largest first.
    compressibility : float or None
        Compressed/raw ratio applied to TOASTed values (PostgreSQL only).
    compression_source : str
        Where that ratio comes from: ``"given"``, ``"measured on N values"`` (the export's
        own values: its ``value`` column or the sample :func:`xcomlab.load_export` keeps,
        see :mod:`xcomlab.analysis.compressibility`) or ``"default"`` (no values: the
        documented ``default_ratio``). ``"n/a"`` where the engine does not compress.
    assumptions : tuple of str
        The constants used, each with its source and date.
    tables : tuple of str
        The tables modelled, each as its own table (own pages, indexes and segments).
    by_table : dict
        Predicted bytes per table (sums to ``total_bytes``).
    """

    dialect: str
    schema: str
    rows: int
    logical_bytes: int
    total_bytes: int
    breakdown: dict[str, int]
    per_row_overhead: float
    per_dag: pd.Series = field(repr=False)
    compressibility: float | None = None
    assumptions: tuple[str, ...] = field(default=(), repr=False)
    compression_source: str = "n/a"
    tables: tuple[str, ...] = ("xcom",)
    by_table: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def scope(self) -> str:
        """What the figure covers, in words (see :func:`scope_label`)."""
        return scope_label(self.tables)

    @property
    def ratio(self) -> float:
        """On-disk bytes per logical value byte (inf when there are no value bytes)."""
        return self.total_bytes / self.logical_bytes if self.logical_bytes else float("inf")

    def _repr_html_(self) -> str:
        parts = pd.Series(self.breakdown, name="bytes").to_frame().to_html()
        return (f"<p><b>{self.dialect}</b>: {self.total_bytes:,} B for {self.rows:,} rows "
                f"({self.scope})</p>{parts}")


def scope_label(tables: tuple[str, ...] | list[str]) -> str:
    """The words every surface prints for the tables a figure covers.

    ``("xcom",)`` → ``"xcom table"``; several → ``"all XCom tables (xcom + 2 archive)"``.
    """
    tables = tuple(tables)
    if tables == ("xcom",) or not tables:
        return "xcom table"
    archives = sum(t != "xcom" for t in tables)
    if "xcom" not in tables:
        return f"archive tables ({archives})" if archives > 1 else f"{tables[0]} table"
    return f"all XCom tables (xcom + {archives} archive)"


# --- inputs ------------------------------------------------------------------------------

def _utf8_len(col: pd.Series) -> np.ndarray:
    """UTF-8 byte length per row (0 for missing), computed once per category."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        lens = np.array([len(str(c).encode()) for c in col.cat.categories] + [0], dtype=np.int64)
        codes = col.cat.codes.to_numpy()
        return lens[np.where(codes < 0, len(lens) - 1, codes)]
    return col.fillna("").astype(str).map(lambda s: len(s.encode())).to_numpy(np.int64)


@dataclass(frozen=True)
class _Rows:
    """Per-row widths the models read (numpy arrays of equal length)."""

    task: np.ndarray
    key: np.ndarray
    dag: np.ndarray
    run: np.ndarray
    value: np.ndarray  # value bytes as stored (0 when NULL)
    null_value: np.ndarray
    json: np.ndarray  # value column is JSON (else bytes)
    dag_result: np.ndarray  # the row has a non-NULL dag_result column
    has_result_col: np.ndarray
    dag_run_id: np.ndarray
    map_index: np.ndarray
    indexed: np.ndarray  # live xcom table: PK and both indexes
    keyed: np.ndarray  # has a primary key (xcom, _xcom_archive)
    key_codes: np.ndarray
    #: Rows each entry stands for: 1 for a frame's rows; a summary's groups stand for
    #: many (fractions where a group is split by run-id length).
    weight: np.ndarray


def _schema(frame: pd.DataFrame, schema: str | None) -> str:
    if schema is None:
        mode = frame[S.AIRFLOW_SCHEMA].mode() if S.AIRFLOW_SCHEMA in frame else pd.Series([], dtype=object)
        return str(mode.iloc[0]) if len(mode) else "3.3+"
    schema = _SCHEMA_ALIASES.get(schema, schema)
    if schema not in S.AIRFLOW_SCHEMAS:
        msg = f"schema={schema!r}; expected one of {S.AIRFLOW_SCHEMAS} (or '2.x', '3.x')"
        raise DiskModelError(msg)
    return schema


def _rows(frame: pd.DataFrame, schema: str) -> _Rows:
    n = len(frame)
    table = frame[S.SOURCE_TABLE].astype(str).to_numpy() if S.SOURCE_TABLE in frame else np.full(n, "xcom")
    vb = frame[S.VALUE_BYTES]
    null = vb.isna().to_numpy()
    value = vb.astype("float64").fillna(0).to_numpy(np.int64)
    json = np.full(n, schema in _JSON_SCHEMAS) & (table != "_xcom_archive")
    result_col = np.full(n, schema == "3.3+") & (table != "_xcom_archive")
    if S.DAG_RESULT in frame:
        dag_result = result_col & frame[S.DAG_RESULT].notna().to_numpy()
    else:
        dag_result = result_col.copy()
    run_ids = frame[S.DAG_RUN_ID] if S.DAG_RUN_ID in frame else pd.Series(np.ones(n))
    key = frame[S.KEY]
    codes = (key.cat.codes.to_numpy() if isinstance(key.dtype, pd.CategoricalDtype)
             else pd.factorize(key)[0])
    return _Rows(
        task=_utf8_len(frame[S.TASK_ID]), key=_utf8_len(key), dag=_utf8_len(frame[S.DAG_ID]),
        run=_utf8_len(frame[S.RUN_ID]) if S.RUN_ID in frame else np.zeros(n, np.int64),
        value=value, null_value=null, json=json, dag_result=dag_result,
        has_result_col=result_col,
        dag_run_id=run_ids.astype("float64").fillna(1).to_numpy(np.int64),
        map_index=frame[S.MAP_INDEX].to_numpy(np.int64) if S.MAP_INDEX in frame else np.full(n, -1),
        indexed=table == "xcom", keyed=np.isin(table, ["xcom", "_xcom_archive"]), key_codes=codes,
        weight=np.ones(n),
    )


def _align(x: np.ndarray | int, a: int) -> Any:
    return (x + a - 1) // a * a


def _pages_bytes(item_bytes: np.ndarray, usable: float, page: int, w: np.ndarray) -> tuple[int, float]:
    """Pages needed to append items of these sizes, and the effective bytes per item byte.

    Items fill pages in order; a page closes when the next item does not fit, which
    wastes on average the size-biased half item ``E[X²] / 2E[X]`` per page.
    """
    total = float((item_bytes * w).sum())
    if total <= 0:
        return 0, 0.0
    sq = float((item_bytes.astype(np.float64) ** 2 * w).sum())
    waste = min(sq / (2 * total), usable / 2, max(usable - total / w.sum(), 0.0))
    pages = int(np.ceil(total / (usable - waste)))
    return pages, pages * page / total


# --- compressibility -----------------------------------------------------------------------

#: TOAST compressors the model knows (``default_toast_compression``).
TOAST_CODECS: Final = ("pglz", "lz4")
_MAX_PREFIX: Final = 256 * 1024


def _encoded(v: Any) -> bytes | None:
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    return None


def estimate_compressibility(values: pd.Series | list[Any], *, min_bytes: int = 2032,
                             sample: int = 500, rng: np.random.Generator | int | None = 0,
                             codec: str = "pglz") -> float | None:
    """Compressed/raw ratio TOAST reaches on the long values, measured with ``codec``.

    Values of at least ``min_bytes`` (those PostgreSQL tries to compress) are sampled
    (``sample`` at most) and compressed one by one with pglz
    (:mod:`xcomlab.analysis.pglz`, PostgreSQL's algorithm, sizes within bytes of
    ``pg_column_size``) or lz4; a value TOAST would keep raw counts as 1. Returns None
    when no value is long enough.
    """
    if codec.removesuffix("_jsonb") not in TOAST_CODECS:
        msg = f"codec={codec!r}; expected one of {TOAST_CODECS} (or with _jsonb)"
        raise DiskModelError(msg)
    gen = np.random.default_rng(rng)
    long = [v for v in map(_encoded, values) if v is not None and len(v) >= min_bytes]
    if not long:
        return None
    if len(long) > sample:
        long = [long[i] for i in gen.choice(len(long), sample, replace=False)]
    stored, raw = measure_values([v[:_MAX_PREFIX] for v in long], codec)
    return min(1.0, stored / raw)


def _row_ratios(frame: pd.DataFrame, values: Any, default: float, codec: str, *, min_bytes: int = 1024,
                max_values: int = 2000, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Per-row TOAST ratio: measured where values are known, else the (dag, task) mean, else ``default``.

    Up to ``max_values`` long values are compressed (each on its first 256 KiB); beyond
    that a seeded sample is, and the other rows take the byte-weighted ratio of their
    task's sampled rows.
    """
    n = len(frame)
    out = np.full(n, default)
    vals = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(object), dtype=object)
    enc = vals.map(_encoded)
    size = enc.map(lambda v: 0 if v is None else len(v)).to_numpy(np.int64)
    idx = np.flatnonzero(size >= min_bytes)
    if not len(idx):
        return out
    gen = np.random.default_rng(rng)
    picked = np.sort(gen.choice(idx, max_values, replace=False)) if len(idx) > max_values else idx
    pairs = [measure_values([v[:_MAX_PREFIX]], codec) for v in enc.iloc[picked]]
    comp = np.array([c for c, _ in pairs], dtype=np.float64)
    raw = np.array([r for _, r in pairs], dtype=np.float64)
    out[picked] = np.minimum(1.0, comp / raw)
    rest = np.setdiff1d(idx, picked)
    if len(rest):
        task = frame[S.DAG_ID].astype(str).to_numpy() + "\x00" + frame[S.TASK_ID].astype(str).to_numpy()
        s = pd.DataFrame({"t": task[picked], "c": comp, "n": raw}).groupby("t")[["c", "n"]].sum()
        by_task = (s["c"] / s["n"]).clip(upper=1.0)
        overall = float(min(1.0, comp.sum() / raw.sum()))
        out[rest] = pd.Series(task[rest]).map(by_task).fillna(overall).to_numpy()
    return out


# --- PostgreSQL ----------------------------------------------------------------------------

def _const(dialect: str, name: str) -> float:
    return constants()[dialect, name].value


def _pg_varlena(n: np.ndarray) -> np.ndarray:
    """Bytes of an uncompressed inline varlena holding ``n`` payload bytes (alignment apart)."""
    return np.where(n <= 126, 1 + n, 4 + n)


def _pg_heap_data(r: _Rows, value_datum: np.ndarray, value_aligned: np.ndarray) -> np.ndarray:
    """Tuple data bytes (after the header) for the columns in Airflow's physical order."""
    off = 4 + _pg_varlena(r.task)  # dag_run_id int4, task_id varchar
    off = _align(off, 4) + 4 + _pg_varlena(r.key)  # map_index int4, key
    off = off + r.dag_result + _pg_varlena(r.dag) + _pg_varlena(r.run)  # dag_result bool, dag_id, run_id
    off = np.where(value_aligned, _align(off, 4), off) + value_datum
    return _align(off, 8) + 8  # timestamptz


def _postgresql(r: _Rows, ratio: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per-row bytes and fixed bytes per part for PostgreSQL."""
    page = int(_const("postgresql", "page_bytes"))
    usable = page - _const("postgresql", "page_header_bytes")
    lp = int(_const("postgresql", "line_pointer_bytes"))
    ma = int(_const("postgresql", "maxalign"))
    threshold = int(_const("postgresql", "toast_threshold_bytes"))
    chunk = int(_const("postgresql", "toast_chunk_bytes"))
    ncols = 8 + r.has_result_col
    nulls = r.null_value | (r.has_result_col & ~r.dag_result)
    hoff = np.where(nulls, _align(23 + (ncols + 7) // 8, ma), _align(23, ma))
    # The stored datum: bytea holds the bytes, jsonb its binary form (text + a constant).
    jsonb_extra = int(_const("postgresql", "jsonb_extra_bytes")) - 4
    payload = np.where(r.json & ~r.null_value, r.value + jsonb_extra, r.value)
    payload = np.where(r.null_value, 0, payload)
    datum = np.where(r.null_value, 0, _pg_varlena(payload))
    aligned = ~r.null_value & (payload > 126)
    tup = hoff + _pg_heap_data(r, datum, aligned)
    toast = _align(tup, ma) > threshold
    # Compress (pglz keeps a result ≥ 25 % smaller), then move out of line if still long.
    compressible = toast & (payload >= _const("postgresql", "pglz_min_bytes"))
    comp = np.ceil(payload * ratio).astype(np.int64)
    took = compressible & (comp <= payload * _const("postgresql", "pglz_max_ratio"))
    stored = np.where(took, comp + 4, payload)  # compressed data keep a 4 B size/method word
    datum = np.where(took, 4 + stored, datum)
    tup = np.where(toast, hoff + _pg_heap_data(r, datum, aligned | took), tup)
    external = toast & (tup > threshold) & (stored > 0)
    tptr = int(_const("postgresql", "toast_pointer_bytes"))
    tup = np.where(external, hoff + _pg_heap_data(r, np.full(len(tup), tptr), np.zeros(len(tup), bool)), tup)
    heap_item = (_align(tup, ma) + lp).astype(np.int64)
    # TOAST chunks: full ones are 2032 B tuples (4 a page), the last one shorter.
    ext = np.where(external, stored, 0)
    n_full, rest = ext // chunk, ext % chunk
    last = np.where(rest > 0, _align(24 + 8 + _pg_varlena(rest), ma) + lp, 0)
    toast_item = n_full * (_align(24 + 8 + 4 + chunk, ma) + lp) + last
    out: dict[str, np.ndarray] = {}
    fixed: dict[str, int] = {}
    out["table"], fixed["table"] = _pg_relation(heap_item, usable, page, r.weight)
    full = int(_align(24 + 8 + 4 + chunk, ma) + lp)
    out["out_of_line"], fixed["out_of_line"] = _pg_toast(toast_item, n_full, last, full, usable, page,
                                                         r.weight)
    for name, (per_row, fx) in _pg_indexes(r).items():
        out[name], fixed[name] = per_row, fx
    return out, fixed


def _pg_relation(items: np.ndarray, usable: float, page: int, w: np.ndarray) -> tuple[np.ndarray, int]:
    """Heap bytes per row and the fixed forks (FSM ≥ 3 pages, VM ≥ 1 page after VACUUM)."""
    pages, scale = _pages_bytes(items, usable, page, w)
    if not pages:
        return np.zeros(len(items)), 0
    fsm = 3 + pages // 4000  # one FSM leaf page maps ~4,000 heap pages (fsm_internals.h)
    vm = 1 + pages // 32672  # two bits per heap page (visibilitymap.c)
    return items * scale, (fsm + vm) * page


def _pg_toast(items: np.ndarray, n_full: np.ndarray, last: np.ndarray, full: int, usable: float,
             page: int, w: np.ndarray) -> tuple[np.ndarray, int]:
    """TOAST heap plus its (chunk_id, chunk_seq) index: 20 B per chunk, rightmost splits.

    Chunk rows are appended page after page as values are stored; the packing is
    followed value by value (full chunks fit ``usable // full`` to a page). An entry
    standing for ``w`` equal values is followed for its first :data:`_TOAST_STEPS`
    values; the rest add their chunk bytes over ``usable`` (a summary's groups).
    """
    pages, free, cap = 0.0, 0.0, int(usable // full)
    stored = n_full + last > 0
    for k0, tail, times in zip(n_full[stored].tolist(), last[stored].tolist(), w[stored].tolist(),
                               strict=True):
        steps = min(int(times), _TOAST_STEPS)
        for _ in range(steps):
            k = k0
            fit = min(k, int(free // full))
            k, free = k - fit, free - fit * full
            if k:
                q, rem = divmod(k, cap)
                pages += q + (rem > 0)
                free = usable - (rem or cap) * full
            if tail:
                if tail > free:
                    pages, free = pages + 1, usable
                free -= tail
        pages += (times - steps) * (k0 * full + tail) / usable
    pages = float(np.ceil(pages - 1e-9))
    total = float((items * w).sum())
    n_chunks = n_full + (last > 0)
    entry = 20 / 0.9 * page / (page - 40)  # IndexTuple 8 + oid 4 + int4 4, line pointer 4
    index = n_chunks * entry
    if not pages:
        return index, page  # the index metapage exists even when the TOAST table is empty
    forks = int(3 + pages // 4000 + 1 + pages // 32672) * page  # FSM and VM, as for the heap
    return items * (pages * page / total) + index, forks + page


#: Equal values followed one by one through the TOAST packing (:func:`_pg_toast`).
_TOAST_STEPS: Final = 16


def _btree(entries: np.ndarray, fill: float, page: int, special: float,
           w: np.ndarray) -> tuple[np.ndarray, int]:
    """B-tree bytes per row (leaves at ``fill``) and fixed pages (metapage, root, inner)."""
    usable = (page - 24 - special) * fill
    total = float((entries * w).sum())
    if total <= 0:
        return np.zeros(len(entries)), page  # an empty index keeps its metapage
    leaves = int(np.ceil(total / usable))
    inner = 0 if leaves == 1 else int(np.ceil(leaves * 24 / usable)) + 1  # short pivot tuples
    return entries * (leaves * page / total), (1 + inner) * page


def _pg_indexes(r: _Rows) -> dict[str, tuple[np.ndarray, int]]:
    page = int(_const("postgresql", "page_bytes"))
    special = _const("postgresql", "btree_special_bytes")
    itup = int(_const("postgresql", "index_tuple_header_bytes"))
    lp = int(_const("postgresql", "line_pointer_bytes"))
    pk_data = _align(4 + _pg_varlena(r.task), 4) + 4 + _pg_varlena(r.key)
    pk = np.where(r.keyed, _align(itup + pk_data, 8) + lp, 0)
    ti_data = _align(_pg_varlena(r.dag) + _pg_varlena(r.task) + _pg_varlena(r.run), 4) + 4
    ti = np.where(r.indexed, _align(itup + ti_data, 8) + lp, 0)
    # idx_xcom_key: equal keys share posting-list tuples (PG 13+ deduplication): 6 B of heap
    # TID a row plus one tuple per ~200 rows (lists stop near BTMaxItemSize/2, nbtdedup.c).
    codes = np.where(r.indexed, np.clip(r.key_codes, 0, None), -1)
    same = np.bincount(codes[codes >= 0], weights=r.weight[codes >= 0], minlength=1)[np.clip(codes, 0, None)]
    whole = _align(itup + _pg_varlena(r.key), 8) + lp
    tid = _const("postgresql", "posting_tid_bytes")
    key = np.where(codes < 0, 0, np.where(same > 1, tid + whole * np.ceil(same / 200) / np.maximum(same, 1), whole))
    return {
        "xcom_pkey": _btree(pk, _const("postgresql", "pkey_fill"), page, special, r.weight),
        "idx_xcom_key": _btree(key, _const("postgresql", "key_index_fill"), page, special, r.weight),
        "idx_xcom_task_instance": _btree(ti, _const("postgresql", "task_instance_fill"), page, special,
                                         r.weight),
    }


# --- MySQL / MariaDB (InnoDB) --------------------------------------------------------------

def _innodb_len(n: np.ndarray) -> np.ndarray:
    """Length bytes of a variable column whose maximum exceeds 255 bytes."""
    return np.where(n <= 127, 1, 2)


def _innodb_reserved(pages: int) -> int:
    """Pages a segment reserves: its first 32 pages one by one, then whole extents, keeping
    at least 1/8 of the segment free (at most ``segment_free_max_extents``) for growth."""
    if pages <= 32:
        return pages
    ext = int(_const("mysql", "extent_pages"))
    cap = ext * int(_const("mysql", "segment_free_max_extents"))
    want = pages + min(int(np.ceil(pages / 7)), cap)
    return 32 + ext * int(np.ceil((want - 32) / ext))


def _mysql(r: _Rows, ratio: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    del ratio  # InnoDB does not compress DYNAMIC rows
    page = int(_const("mysql", "page_bytes"))
    usable = page - _const("mysql", "page_overhead_bytes")
    hdr = int(_const("mysql", "record_header_bytes"))
    ids = r.task + r.key + r.dag + r.run
    id_lens = _innodb_len(r.task) + _innodb_len(r.key) + _innodb_len(r.dag) + _innodb_len(r.run)
    fixed_cols = 4 + 4 + _const("mysql", "hidden_columns_bytes") + 7 + r.dag_result  # ints, trx, TIMESTAMP(6)
    base = hdr + 1 + id_lens + ids + fixed_cols  # 1 B null bitmap (value, dag_result nullable)
    inline = base + np.where(r.null_value, 0, _innodb_len(r.value) + r.value)
    off = ~r.null_value & (inline > _const("mysql", "max_inline_record_bytes")) & (r.value > 40)
    record = np.where(off, base + 2 + _const("mysql", "offpage_pointer_bytes"), inline)
    blob_pages = np.where(off, np.ceil(r.value / _const("mysql", "blob_page_payload_bytes")), 0)
    out: dict[str, np.ndarray] = {}
    fixed: dict[str, int] = {}
    fill = _const("mysql", "fill")
    leaf_pages, scale = _pages_bytes(record + 0.4, usable * fill, page, r.weight)  # + a 2 B slot per ~5 records
    node_ptr = hdr + 1 + _innodb_len(r.task) + _innodb_len(r.key) + 12 + r.task + r.key
    out["table"], fixed["table"] = _innodb_index(record * scale, leaf_pages, node_ptr, usable, r.weight)
    out["out_of_line"] = blob_pages * page
    # BLOB pages live in the clustered index's leaf segment: round them together.
    blobs = round(float((blob_pages * r.weight).sum()))
    reserved = _innodb_reserved(leaf_pages + blobs)
    fixed["table"] += (reserved - leaf_pages - blobs) * page
    fixed["out_of_line"] = 0
    pk = 4 + 4 + r.task + r.key + _innodb_len(r.task) + _innodb_len(r.key)
    key_rec = np.where(r.indexed, hdr + pk, 0)
    ti_rec = np.where(r.indexed, hdr + pk + r.dag + r.run + _innodb_len(r.dag) + _innodb_len(r.run), 0)
    for name, rec in (("idx_xcom_key", key_rec), ("idx_xcom_task_instance", ti_rec)):
        leaves, sc = _pages_bytes(rec + 0.4, usable * fill, page, r.weight) if rec.any() else (1, 0.0)
        per_row, fx = _innodb_index(rec * sc, leaves, rec, usable, r.weight)
        out[name] = per_row
        fixed[name] = fx + (_innodb_reserved(leaves) - leaves) * page
    return out, fixed


def _innodb_index(per_row: np.ndarray, leaves: int, node_ptr: np.ndarray, usable: float,
                  w: np.ndarray) -> tuple[np.ndarray, int]:
    """Leaf bytes per row and the non-leaf segment (node pointers, one per leaf page)."""
    page = int(_const("mysql", "page_bytes"))
    if leaves <= 1:
        return per_row, page if not per_row.any() else 0
    ptr = float((node_ptr * w).sum() / w.sum()) + 4
    return per_row, int(np.ceil(leaves * ptr / usable)) * page


# --- SQLite --------------------------------------------------------------------------------

def _varint(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    return 1 + (x >= 1 << 7) + (x >= 1 << 14) + (x >= 1 << 21) + (x >= 1 << 28) + (x >= 1 << 35)


def _sqlite_int(v: np.ndarray) -> np.ndarray:
    """Content bytes of an integer (0 and 1 take none with schema format 4)."""
    a = np.abs(v)
    return np.select([(v == 0) | (v == 1), a < 128, a < 32768, a < 1 << 23, a < 1 << 31, a < 1 << 47],
                     [0, 1, 2, 3, 4, 6], 8)


def _sqlite_record(ints: list[np.ndarray], texts: list[np.ndarray], blobs: list[np.ndarray],
                   nulls: int = 0) -> np.ndarray:
    """Bytes of a record: header (size varint, a serial-type varint per column) and body."""
    hdr = sum((_varint(2 * t + 13) for t in texts), np.zeros_like(ints[0]))
    hdr = hdr + sum((_varint(2 * b + 12) for b in blobs), np.zeros_like(ints[0])) + len(ints) + nulls
    body = sum((_sqlite_int(i) for i in ints), np.zeros_like(ints[0]))
    body = body + sum(texts, np.zeros_like(ints[0])) + sum(blobs, np.zeros_like(ints[0]))
    return hdr + 1 + body


def _sqlite(r: _Rows, ratio: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    del ratio  # SQLite stores values as given
    page = int(_const("sqlite", "page_bytes"))
    usable = (page - _const("sqlite", "leaf_header_bytes")) * _const("sqlite", "fill")
    ptr = int(_const("sqlite", "cell_pointer_bytes"))
    n = len(r.value)
    rowid = np.cumsum(r.weight) - r.weight / 2 + 0.5  # 1..n for a frame; a group's middle row
    ts = np.full(n, 26)  # '2026-05-01 01:02:03.123456': SQLAlchemy's SQLite DateTime text
    value = np.where(r.null_value, 0, r.value)
    payload = _sqlite_record([r.dag_run_id, r.map_index], [r.task, r.key, r.dag, r.run, ts], [value],
                             nulls=1) + r.has_result_col  # dag_result: serial type only
    x, m = int(_const("sqlite", "max_local_bytes")), int(_const("sqlite", "min_local_bytes"))
    over = int(_const("sqlite", "overflow_payload_bytes"))
    k = m + (payload - m) % over
    local = np.where(payload <= x, payload, np.where(k <= x, k, m))
    spilled = payload > x
    cell = ptr + _varint(payload) + _varint(rowid) + local + 4 * spilled
    out: dict[str, np.ndarray] = {}
    fixed: dict[str, int] = {}
    out["table"], fixed["table"] = _sqlite_btree(cell, usable, page, 9.0, r.weight)
    out["out_of_line"] = np.ceil((payload - local) / over) * page
    fixed["out_of_line"] = 0
    indexes = {
        "sqlite_autoindex_xcom_1": (r.keyed, _sqlite_record([r.dag_run_id, r.map_index, rowid], [r.task, r.key], [])),
        "idx_xcom_key": (r.indexed, _sqlite_record([rowid], [r.key], [])),
        "idx_xcom_task_instance": (r.indexed, _sqlite_record([r.map_index, rowid], [r.dag, r.task, r.run], [])),
    }
    for name, (mask, rec) in indexes.items():
        cells = np.where(mask, ptr + _varint(rec) + rec, 0)
        inner = float((cells * r.weight).sum() / r.weight.sum()) + 4 if n else 0
        out[name], fixed[name] = _sqlite_btree(cells, usable, page, inner, r.weight)
    return out, fixed


def _sqlite_btree(cells: np.ndarray, usable: float, page: int, inner_cell: float,
                  w: np.ndarray) -> tuple[np.ndarray, int]:
    if not cells.any():
        return np.zeros(len(cells)), page  # an empty B-tree still has its root page
    leaves, scale = _pages_bytes(cells, usable, page, w)
    inner = 0 if leaves == 1 else int(np.ceil(leaves * inner_cell / usable))
    return cells * scale, inner * page


# --- the estimate --------------------------------------------------------------------------

_MODELS: Final = {"postgresql": _postgresql, "mysql": _mysql, "sqlite": _sqlite}
def canonical_dialect(dialect: str) -> str:
    """The dialect name the model uses for ``dialect`` (``postgres``/``pg`` → ``postgresql``, ``mariadb`` → ``mysql``)."""
    d = DIALECT_ALIASES.get(dialect.lower(), dialect.lower())
    if d not in DIALECTS:
        msg = f"dialect {dialect!r}; expected one of {DIALECTS} (or 'postgres', 'mariadb')"
        raise DiskModelError(msg)
    return d


def _ratio(frame: pd.DataFrame, compressibility: float | None, values: Any,
           codec: str, json: bool) -> tuple[np.ndarray, str, str]:
    """Per-row TOAST ratio, the note for ``assumptions`` and the ``compression_source``.

    For a ``jsonb`` value column (``json``) the ratio is measured on the binary form TOAST
    compresses, and applied to the modelled jsonb size.
    """
    n = len(frame)
    if codec not in TOAST_CODECS:
        msg = f"toast_compression={codec!r}; expected one of {TOAST_CODECS}"
        raise DiskModelError(msg)
    codec = f"{codec}_jsonb" if json else codec
    if compressibility is not None:
        if not 0 < compressibility <= 1:
            msg = f"compressibility={compressibility!r}; expected a compressed/raw ratio in (0, 1]"
            raise DiskModelError(msg)
        return np.full(n, float(compressibility)), f"compressibility = {compressibility:g} (given)", "given"
    default = constants()["postgresql", "default_ratio"]
    if values is None and S.VALUE in frame:
        values = frame[S.VALUE]
    if values is not None and len(values) == n:
        ratios = _row_ratios(frame, values, default.value, codec)
        long = int(sum(1 for v in values if (e := _encoded(v)) is not None and len(e) >= 1024))
        if long:
            return ratios, (f"compressibility measured per value with {codec} on the values; "
                            f"rows without a long value: default {default.value:g}"), f"measured on {long} values"
    elif values is not None:
        est = estimate_compressibility(values, codec=codec)
        if est is not None:
            return np.full(n, est), f"compressibility = {est:.3f}, {codec} on a sample of the values", \
                "measured on the given values"
    measured = measure_compressibility(frame)
    per_row = measured.per_row(codec, frame[S.VALUE_BYTES].astype("float64").fillna(0).to_numpy())
    if per_row is not None:
        return per_row, (f"compressibility measured with {codec} per size class on the export's value "
                         f"sample ({measured.source}; xcomlab.analysis.compressibility)"), measured.source
    return np.full(n, default.value), f"compressibility = {default.value:g} (default, no values): {default}", "default"


def estimate(frame: pd.DataFrame | Summary, dialect: str = "postgresql", *, tables: TableScope = "live",
             schema: str | None = None, compressibility: float | None = None,
             values: Any = None, toast_compression: str = "pglz") -> DiskEstimate:
    """Predict the bytes the rows of ``frame`` take on disk in ``dialect``.

    Parameters
    ----------
    frame
        An XCom frame (one row per XCom; ``value_bytes`` and the id columns are read).
        Each table is modelled as its own table (own pages, indexes, segments): live
        ``xcom`` rows carry the primary key and both indexes, ``_xcom_archive`` rows the
        primary key only, ``db clean`` archives none.
    dialect
        ``"postgresql"``, ``"mysql"`` (InnoDB, DYNAMIC rows; MariaDB too) or ``"sqlite"``.
    tables
        ``"live"`` (default): the ``xcom`` table only — the figure the profile, the CLI
        and the report print as "on disk (xcom table)"; ``"all"``: every table of the
        frame, archives included (docs/figures.md).
    schema
        Airflow schema (``"2.x"``/``"2.3-2.11"``: bytes value; ``"3.x"``/``"3.3+"``:
        JSON value). Default: the frame's most common ``airflow_schema``.
    compressibility
        Compressed/raw ratio of TOASTed values (PostgreSQL). Default: measured with
        ``toast_compression`` on ``values``, else on the frame's ``value`` column
        (``load_export(keep_values=True)``), else per size class on the value sample
        :func:`xcomlab.load_export` keeps (:func:`xcomlab.analysis.compressibility.compressibility`);
        the documented default 0.48 only when there are no values
        (``compression_source`` says which).
    values
        Stored values (str or bytes) to measure compressibility on.
    toast_compression
        ``"pglz"`` (PostgreSQL's ``default_toast_compression`` up to 18) or ``"lz4"``.

    Returns
    -------
    DiskEstimate

    Examples
    --------
    >>> est = estimate(frame, "postgresql")  # doctest: +SKIP
    >>> est.total_bytes, est.breakdown  # doctest: +SKIP
    """
    d = canonical_dialect(dialect)
    if isinstance(frame, Summary):
        return _summary_estimate(frame, d, tables, schema, compressibility, values, toast_compression)
    frame, values = _scoped(frame, tables, values)
    sch = _schema(frame, schema)
    r = _rows(frame, sch)
    ratio, ratio_note, source = _ratio(frame, compressibility, values, toast_compression,
                                       sch in _JSON_SCHEMAS) \
        if d == "postgresql" else (np.ones(len(frame)), "", "n/a")
    return _estimate(d, sch, r, ratio, ratio_note, source, _table_names(frame),
                     frame[S.DAG_ID].astype(str).to_numpy(object))


def _estimate(d: str, sch: str, r: _Rows, ratio: np.ndarray, ratio_note: str, source: str,
              names: np.ndarray, dags: np.ndarray | _Owners) -> DiskEstimate:
    """The model over per-row (or per-group, weighted) widths: one formula for both shapes.

    ``dags``: each entry's DAG, or whose rows each entry stands for (:func:`_summary_entries`)."""
    w = r.weight
    per_row, fixed, by_table = _per_table(d, r, ratio, names)
    breakdown = {name: round(float((v * w).sum()) + fixed.get(name, 0)) for name, v in per_row.items()}
    total = sum(breakdown.values())
    by_table[next(iter(by_table))] += total - sum(by_table.values())  # rounding: parts add up
    rows = float(w.sum())
    share = np.zeros(len(names))
    for name, v in per_row.items():
        s = float((v * w).sum())
        share += v * (breakdown[name] / s) if s else breakdown[name] / max(rows, 1)
    if isinstance(dags, _Owners):
        per_dag = dags.per_dag(share)
    else:
        per_dag = pd.Series(share * w).groupby(dags).sum()
    logical = round(float((r.value * w).sum()))
    used = [str(c) for (dl, _), c in constants().items() if dl == d]
    if d == "postgresql":
        used.append(ratio_note)
    n = round(rows)
    return DiskEstimate(
        dialect=d, schema=sch, rows=n, logical_bytes=logical, total_bytes=total,
        breakdown=breakdown, per_row_overhead=(total - logical) / n if n else 0.0,
        per_dag=per_dag.round().astype("int64").sort_values(ascending=False),
        compressibility=_weighted(ratio, r.value, w) if d == "postgresql" else None, assumptions=tuple(used),
        tables=tuple(by_table), by_table=by_table,
        compression_source=source,
    )


# --- a summary's groups as weighted rows -------------------------------------------------

def _summary_estimate(summary: Summary, d: str, tables: str, schema: str | None,
                      compressibility: float | None, values: Any, codec: str) -> DiskEstimate:
    """:func:`estimate` on a summary's groups (see :func:`_summary_rows` for what is approximate)."""
    if tables not in TABLE_SCOPES:
        msg = f"tables={tables!r}; expected one of {TABLE_SCOPES}"
        raise DiskModelError(msg)
    r, names, dags, sch = _summary_rows_of(summary, tables, schema)
    if d != "postgresql":
        return _estimate(d, sch, r, np.ones(len(names)), "", "n/a", names, dags)
    if codec not in TOAST_CODECS:
        msg = f"toast_compression={codec!r}; expected one of {TOAST_CODECS}"
        raise DiskModelError(msg)
    json = sch in _JSON_SCHEMAS
    full = f"{codec}_jsonb" if json else codec
    default = constants()["postgresql", "default_ratio"]
    if compressibility is not None:
        if not 0 < compressibility <= 1:
            msg = f"compressibility={compressibility!r}; expected a compressed/raw ratio in (0, 1]"
            raise DiskModelError(msg)
        ratio, note, source = np.full(len(names), float(compressibility)), \
            f"compressibility = {compressibility:g} (given)", "given"
    elif values is not None and (est := estimate_compressibility(values, codec=full)) is not None:
        ratio, note, source = np.full(len(names), est), \
            f"compressibility = {est:.3f}, {full} on a sample of the values", "measured on the given values"
    else:
        sample = getattr(summary, "sample", None)
        measured = measure_compressibility(sample) if sample is not None else None
        per_row = measured.per_row(full, r.value) if measured is not None else None
        if per_row is not None and measured is not None:
            ratio, note, source = per_row, (
                f"compressibility measured with {full} per size class on the export's value "
                f"sample ({measured.source}; xcomlab.analysis.compressibility)"), measured.source
        else:
            ratio, note, source = np.full(len(names), default.value), \
                f"compressibility = {default.value:g} (default, no values): {default}", "default"
    return _estimate(d, sch, r, ratio, note, source, names, dags)


def _schema_of(summary: Summary, schema: str | None) -> str:
    if schema is not None:
        return _schema(pd.DataFrame(), schema)
    found = summary.airflow_schema()
    return found if found is not None else "3.3+"


@dataclass(frozen=True)
class _Owners:
    """Whose rows the entries of :func:`_summary_entries` stand for: each group of the
    summary (its DAG a code into ``labels``, ``weight`` rows) went into a part; each part
    was split into entries, ``split_share`` of its rows into ``split_entry``."""

    part: np.ndarray
    dag: np.ndarray
    labels: np.ndarray
    weight: np.ndarray
    split_part: np.ndarray
    split_entry: np.ndarray
    split_share: np.ndarray

    def per_dag(self, share: np.ndarray) -> pd.Series:
        """Bytes per DAG, given each entry's bytes per row."""
        n = int(self.split_part.max()) + 1 if len(self.split_part) else 0
        part = np.bincount(self.split_part, weights=self.split_share * share[self.split_entry], minlength=n)
        return pd.Series(np.bincount(self.dag, weights=self.weight * part[self.part], minlength=len(self.labels)),
                         index=self.labels)


def _alike(cols: list[Any]) -> np.ndarray:
    """One code per distinct tuple of ``cols`` (equal-length arrays), in first-seen order."""
    code = np.zeros(len(cols[0]), np.int64)
    for col in cols:
        k, u = pd.factorize(col, use_na_sentinel=False)
        code, _ = pd.factorize(code * max(len(u), 1) + k)
    return code


def _pool(code: np.ndarray, weight: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code: its first member, its rows, and its rows' mean value (value bytes kept exact)."""
    _, first = np.unique(code, return_index=True)
    w = np.bincount(code, weights=weight, minlength=len(first))
    vw = np.bincount(code, weights=weight * value, minlength=len(first))
    return first, w, np.where(w > 0, vw / np.where(w > 0, w, 1), value[first])


def _summary_entries(summary: Summary, schema: str) -> tuple[_Rows, np.ndarray, _Owners]:
    """The weighted rows of :func:`_summary_rows` with the entries the model cannot tell
    apart merged (issue 13): the same figures from entries that do not grow with the DAGs
    and tasks of an export (one per group split by runs made ~1.4 per row on 50,000 DAGs).

    Groups of one table and key with the same id widths, NULL-ness, value size to the byte
    and DAG run profile (the shares of its rows per ``run_id`` length and ``dag_run_id``
    width) are merged into a part, each part split by its run profile, and the entries of
    equal widths and size merged again; rows add up, a merged value is the rows' mean.
    What changes is only what depends on where a row sits (page packing and SQLite rowid
    widths, followed per entry). Per-DAG bytes go back to the groups (:class:`_Owners`)."""
    tb, dg = S.SOURCE_TABLE, S.DAG_ID
    groups = _summary_groups(summary)
    runs = _run_widths(summary)
    runs["width"] = _sqlite_int(runs["dag_run_id"].to_numpy(np.int64))
    runs = runs.sort_values([tb, dg, "run_bytes", "width"], kind="stable")
    # A DAG's run profile: its sequence of (run bytes, width, share) entries; DAGs with equal
    # sequences share a profile (tuples of codes: a text signature per DAG cost seconds at
    # 50,000 DAGs).
    runs = runs.reset_index(drop=True)
    dag_of = runs.groupby([tb, dg], sort=False, observed=True).ngroup().to_numpy()
    named = runs[dag_of >= 0].reset_index(drop=True)  # a null id is in no group, as before
    dag_of = dag_of[dag_of >= 0]
    entry = pd.MultiIndex.from_arrays([named["run_bytes"], named["width"], named["share"].round(12)]).factorize()[0]
    starts = np.flatnonzero(np.r_[True, dag_of[1:] != dag_of[:-1]]) if len(named) else np.zeros(0, np.int64)
    seqs = pd.Series([tuple(s) for s in np.split(entry, starts[1:])] if len(named) else [], dtype=object)
    prof = named.loc[starts, [tb, dg]].reset_index(drop=True)
    prof["profile"], uniq = pd.factorize(seqs)
    first_dag = prof.drop_duplicates("profile")[[tb, dg, "profile"]]
    classes = runs.merge(first_dag, on=[tb, dg])[["profile", "run_bytes", "dag_run_id", "share"]]
    none = len(uniq)  # groups of a DAG without runs: one class, as _summary_rows fills in
    classes = pd.concat([classes, pd.DataFrame({"profile": [none], "run_bytes": [0], "dag_run_id": [1],
                                                "share": [1.0]})], ignore_index=True).sort_values(
        "profile", kind="stable")
    profile = groups[[tb, dg]].merge(prof[[tb, dg, "profile"]], on=[tb, dg], how="left")[
        "profile"].fillna(none).to_numpy(np.int64)
    table_code, tables = pd.factorize(groups[tb].astype(str))
    key_code = pd.factorize(groups[S.KEY], use_na_sentinel=False)[0]
    null = groups["null"].to_numpy(bool)
    lens = {c: label_bytes(groups[c]) for c in (S.TASK_ID, S.KEY, dg)}
    value = groups["value"].to_numpy(np.float64)
    rows = groups["rows"].to_numpy(np.float64)
    part = _alike([table_code, key_code, null, lens[S.TASK_ID], lens[dg], np.rint(value), profile])
    first, w, v = _pool(part, rows, value)
    # Split each part by its profile's classes.
    c_prof = classes["profile"].to_numpy(np.int64)
    count = np.bincount(c_prof, minlength=none + 1)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    p_prof = profile[first]
    rep = count[p_prof]
    split_part = np.repeat(np.arange(len(first)), rep)
    offset = np.arange(len(split_part)) - np.repeat(np.cumsum(rep) - rep, rep)
    cls = start[p_prof][split_part] + offset
    share = classes["share"].to_numpy(np.float64)[cls]
    run = classes["run_bytes"].to_numpy(np.int64)[cls]
    drid = classes["dag_run_id"].to_numpy(np.int64)[cls]
    g = first[split_part]  # a group of each split entry, for what the part's groups share
    entry = _alike([table_code[g], key_code[g], null[g], lens[S.TASK_ID][g], lens[dg][g],
                    np.rint(v[split_part]), run, _sqlite_int(drid)])
    top, weight, value_e = _pool(entry, w[split_part] * share, v[split_part])
    g, top_part = first[split_part[top]], top
    table = np.asarray(tables.astype(str), dtype=object)[table_code[g]]
    r = _group_rows(summary, schema, table, task=lens[S.TASK_ID][g], key=lens[S.KEY][g], dag=lens[dg][g],
                    run=run[top_part], value=value_e, null_value=null[g], dag_run_id=drid[top_part],
                    key_codes=key_code[g], weight=weight)
    dag, labels = pd.factorize(groups[dg], use_na_sentinel=False)
    owners = _Owners(part, dag, np.asarray(pd.Index(labels).astype(str), dtype=object), rows,
                     split_part, entry, share)
    return r, table, owners


#: Weighted rows of the summaries estimated lately, per (tables, schema): a profile asks
#: for three dialects of the same summary, and the rows do not depend on the dialect.
_ROWS_OF: weakref.WeakKeyDictionary[Summary, dict[tuple[str, str | None], Any]] = weakref.WeakKeyDictionary()


def _summary_rows_of(summary: Summary, tables: str, schema: str | None
                     ) -> tuple[_Rows, np.ndarray, _Owners, str]:
    """:func:`_summary_entries` of ``summary``'s ``tables`` scope, made once per summary."""
    memo = _ROWS_OF.setdefault(summary, {})
    if tables == "live" and summary.tables() == ["xcom"]:
        tables = "all"  # the live table is every table: the same rows
    if (tables, schema) not in memo:
        part = summary if tables == "all" else summary.primary()
        sch = _schema_of(part, schema)
        memo[tables, schema] = (*_summary_entries(part, sch), sch)
    out: tuple[_Rows, np.ndarray, _Owners, str] = memo[tables, schema]
    return out


def _summary_groups(summary: Summary) -> pd.DataFrame:
    """A summary's groups with their rows and value size (what the model needs of them).

    One entry per ``(table, dag, task, key, size bucket)`` of the histogram (and one per key
    group for rows without a size); :func:`_summary_rows` splits each by its DAG's runs.
    Each bucket's
    size is its representative, clamped to the group's exact minimum and maximum and
    scaled so the group's value bytes are exact. What the rows would say and the groups do
    not: where in a page each value falls (the page packing is followed per group, not
    per row), which run each size belongs to (run lengths and sizes are taken as
    independent within a DAG), ``map_index`` (taken as -1: at most one byte a mapped row
    in SQLite) and which rows have a ``dag_result`` (in proportion per table). The cost,
    measured on the bundled samples and synthetic exports: see
    ``tests/analysis/test_summary_analyses.py`` (and ``tests/analysis/test_disk_summary.py`` for
    the merged entries of :func:`_summary_entries`).
    """
    hist = summary.histogram.reset_index()
    keys = summary.keys.reset_index()
    ids = [S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.KEY]
    hist["value"] = representative(hist["bucket"].to_numpy())
    hist = hist.merge(keys[[*ids, "value_bytes", "min_bytes", "max_bytes"]], on=ids, how="left")
    lo = hist["min_bytes"].astype("float64").to_numpy()
    hi = hist["max_bytes"].astype("float64").to_numpy()
    v = np.clip(hist["value"].to_numpy(), np.nan_to_num(lo, nan=0), np.nan_to_num(hi, nan=np.inf))
    hist["value"] = v
    est = (hist["value"] * hist["rows"]).groupby([hist[c] for c in ids], sort=False).transform("sum")
    scale = np.where(est > 0, hist["value_bytes"] / est.where(est > 0, 1), 1.0)
    hist["value"] = hist["value"] * scale
    hist["null"] = False
    nulls = keys[keys["rows"] > keys["sized_rows"]].assign(
        rows=lambda k: k["rows"] - k["sized_rows"], value=0.0, null=True)
    return pd.concat([hist[[*ids, "rows", "value", "null"]], nulls[[*ids, "rows", "value", "null"]]],
                     ignore_index=True)


def _summary_rows(summary: Summary, schema: str) -> tuple[_Rows, np.ndarray, np.ndarray, np.ndarray]:
    """A summary's groups as weighted rows of the model, with each entry's table, DAG and key.

    One entry per group of :func:`_summary_groups`, split by the distinct ``run_id``
    lengths and ``dag_run_id`` widths of its DAG's runs in proportion to their rows (run
    lengths and sizes are taken as independent within a DAG). :func:`_summary_entries`
    makes the same figures from far fewer entries."""
    groups = _summary_groups(summary)
    runs = _run_widths(summary)
    groups = groups.merge(runs, on=[S.SOURCE_TABLE, S.DAG_ID], how="left")
    groups["share"] = groups["share"].fillna(1.0)
    groups["run_bytes"] = groups["run_bytes"].fillna(0).astype(np.int64)
    groups["dag_run_id"] = groups["dag_run_id"].fillna(1).astype(np.int64)
    weight = groups["rows"].to_numpy(np.float64) * groups["share"].to_numpy()
    table = groups[S.SOURCE_TABLE].astype(str).to_numpy(object)
    lens = {c: label_bytes(groups[c]) for c in (S.TASK_ID, S.KEY, S.DAG_ID)}
    r = _group_rows(summary, schema, table, task=lens[S.TASK_ID], key=lens[S.KEY], dag=lens[S.DAG_ID],
                    run=groups["run_bytes"].to_numpy(np.int64), value=groups["value"].to_numpy(np.float64),
                    null_value=groups["null"].to_numpy(bool), dag_run_id=groups["dag_run_id"].to_numpy(np.int64),
                    key_codes=pd.factorize(groups[S.KEY].astype(str))[0], weight=weight)
    return (r, table, groups[S.DAG_ID].astype(str).to_numpy(object),
            groups[S.KEY].astype(str).to_numpy(object))


def _group_rows(summary: Summary, schema: str, table: np.ndarray, **cols: np.ndarray) -> _Rows:
    """:class:`_Rows` of entries of ``table`` with the given widths; what follows from the
    table and the schema (JSON value, ``dag_result``, indexes) filled in."""
    n = len(table)
    json = np.full(n, schema in _JSON_SCHEMAS) & (table != "_xcom_archive")
    result_col = np.full(n, schema == "3.3+") & (table != "_xcom_archive")
    src = summary.sources.groupby(level=S.SOURCE_TABLE)[["rows", "result_rows"]].sum()
    with_result = (src["result_rows"] * 2 >= src["rows"]).to_dict()
    dag_result = result_col & np.array([bool(with_result.get(t, True)) for t in table], dtype=bool)
    return _Rows(json=json, dag_result=dag_result, has_result_col=result_col,
                 map_index=np.full(n, -1, dtype=np.int64), indexed=table == "xcom",
                 keyed=np.isin(table, ["xcom", "_xcom_archive"]), **cols)


@dataclass(frozen=True, eq=False)
class SizedGroups:
    """The live groups of a summary whose size is known, as weighted rows of the model
    (:func:`_summary_rows`): what a what-if sizes when the values change (the backends
    compared by :func:`xcomlab.recommend.evaluate`)."""

    rows: _Rows
    names: np.ndarray
    dags: np.ndarray
    keys: np.ndarray
    schema: str
    summary: Summary

    @property
    def value(self) -> np.ndarray:
        """Bytes of each group's values (its bucket's representative, exact per key group)."""
        return self.rows.value

    @property
    def weight(self) -> np.ndarray:
        """Rows each group stands for."""
        return self.rows.weight

    def split(self, cuts: Any) -> SizedGroups:
        """The same rows with each group whose size bucket holds a cut ``T`` (``lo < T <= hi``)
        split in two at ``T``: the rows below and at-or-above, in proportion to the bucket's
        integers on each side (sizes taken as uniform within a bucket), each part's size the
        middle of its integers times the group's own scale. So a threshold inside a bucket
        moves that share of its rows, not all or none."""
        value, weight = self.value.copy(), self.weight.copy()
        parent = np.arange(len(value))
        for cut in sorted({int(c) for c in cuts if c > 0}):
            b = bucket_of(np.round(value).astype(np.int64))
            lo, hi = EDGES[b].astype(np.float64), _HIGHEST[b].astype(np.float64)
            hit = np.flatnonzero((lo < cut) & (cut <= hi) & (hi < 2.0**62))
            if not len(hit):
                continue
            below = (cut - lo[hit]) / (hi[hit] - lo[hit] + 1)
            scale = value[hit] / representative(b[hit])
            up = np.maximum((cut + hi[hit]) / 2 * scale, cut)
            down = np.minimum((lo[hit] + cut - 1) / 2 * scale, cut - 1)
            value = np.concatenate([value, up])
            weight = np.concatenate([weight, weight[hit] * (1 - below)])
            parent = np.concatenate([parent, parent[hit]])
            value[hit], weight[hit] = down, weight[hit] * below
        rows = replace(_Rows(**{f.name: getattr(self.rows, f.name)[parent] for f in fields(_Rows)}),
                       value=value, weight=weight)
        return replace(self, rows=rows, names=self.names[parent], dags=self.dags[parent], keys=self.keys[parent])

    def estimate(self, dialect: str, value: np.ndarray, *, compressibility: float | None = None) -> DiskEstimate:
        """:func:`estimate` of these rows with each group's values ``value`` bytes long;
        PostgreSQL's TOAST ratio per size class from the summary's value sample unless given."""
        d = canonical_dialect(dialect)
        r = replace(self.rows, value=np.asarray(value, dtype=np.float64))
        n = len(self.names)
        if d != "postgresql":
            return _estimate(d, self.schema, r, np.ones(n), "", "n/a", self.names, self.dags)
        if compressibility is not None:
            return _estimate(d, self.schema, r, np.full(n, float(compressibility)),
                             f"compressibility = {compressibility:g} (given)", "given", self.names, self.dags)
        full = "pglz_jsonb" if self.schema in _JSON_SCHEMAS else "pglz"
        sample = self.summary.sample
        measured = measure_compressibility(sample) if sample is not None else None
        per_row = measured.per_row(full, r.value) if measured is not None else None
        if per_row is not None and measured is not None:
            return _estimate(d, self.schema, r, per_row, f"compressibility measured with {full} per size class",
                             measured.source, self.names, self.dags)
        default = constants()["postgresql", "default_ratio"]
        return _estimate(d, self.schema, r, np.full(n, default.value),
                         f"compressibility = {default.value:g} (default, no values): {default}", "default",
                         self.names, self.dags)


def sized_groups(summary: Summary) -> SizedGroups:
    """The live groups of ``summary`` with a known size (see :class:`SizedGroups`)."""
    live = summary.primary()
    sch = _schema_of(live, None)
    r, names, dags, keys = _summary_rows(live, sch)
    keep = ~r.null_value
    sub = _Rows(**{f.name: getattr(r, f.name)[keep] for f in fields(_Rows)})
    return SizedGroups(sub, names[keep], dags[keep], keys[keep], sch, summary)


def _run_widths(summary: Summary) -> pd.DataFrame:
    """Per ``(table, dag)``: the share of rows in runs of each ``run_id`` length and
    ``dag_run_id`` width (SQLite integer bytes), with a ``dag_run_id`` of that width."""
    # Each table grouped in its index's codes (runs rolled up per day keep their run ids'
    # lengths: ~4M groups at 100M rows, no Python label per row), then the groups of both
    # in order of first appearance, as one group-by over the rows of both would give.
    runs_index = cast(pd.MultiIndex, summary.runs.index)
    parts = [_widths(summary.runs, label_bytes(runs_index.levels[2])),
             _widths(summary.old_runs, None)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=[S.SOURCE_TABLE, S.DAG_ID, "run_bytes", "dag_run_id", "share"])
    g = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    g = g.groupby([S.SOURCE_TABLE, S.DAG_ID, "run_bytes", "width"], sort=False).agg(
        rows=("rows", "sum"), dag_run_id=("dag_run_id", "max")).reset_index()
    total = g.groupby([S.SOURCE_TABLE, S.DAG_ID])["rows"].transform("sum")
    g["share"] = np.where(total > 0, g["rows"] / total.where(total > 0, 1), 0.0)
    return g[[S.SOURCE_TABLE, S.DAG_ID, "run_bytes", "dag_run_id", "share"]]


def _widths(table: pd.DataFrame, run_label_bytes: np.ndarray | None) -> pd.DataFrame:
    """``runs`` (``run_label_bytes``: each ``run_id`` label's bytes) or ``old_runs`` (None:
    ``run_bytes`` is a level) grouped per table, DAG, run-id bytes and ``dag_run_id`` width:
    rows summed, the largest ``dag_run_id`` (none: 1)."""
    if not len(table):
        return pd.DataFrame()
    index = cast(pd.MultiIndex, table.index)
    if run_label_bytes is None:
        run_bytes = index.get_level_values("run_bytes").to_numpy(np.int64)
    else:  # a null run id has no bytes
        c = np.asarray(index.codes[2])
        run_bytes = np.where(c < 0, 0, np.asarray(run_label_bytes, dtype=np.int64)[np.maximum(c, 0)])
    ids = table["dag_run_id"].to_numpy(np.int64)
    ids = np.where(ids >= 0, ids, 1)
    coded = pd.DataFrame({"t": index.codes[0], "d": index.codes[1], "run_bytes": run_bytes,
                          "width": _sqlite_int(ids), "rows": table["rows"].to_numpy(np.int64), "dag_run_id": ids})
    g = coded.groupby(["t", "d", "run_bytes", "width"], sort=False).agg(
        rows=("rows", "sum"), dag_run_id=("dag_run_id", "max")).reset_index()
    out: dict[str, np.ndarray] = {}
    for col, level in (("t", 0), ("d", 1)):
        codes = g[col].to_numpy()
        labels = index.levels[level].take(np.maximum(codes, 0)).to_numpy(object)
        out[str(index.names[level])] = np.where(codes < 0, np.nan, labels)
    return pd.DataFrame({**out, **{c: g[c] for c in ("run_bytes", "width", "rows", "dag_run_id")}})


def _scoped(frame: pd.DataFrame, tables: str, values: Any) -> tuple[pd.DataFrame, Any]:
    """The rows ``tables`` covers, and the matching ``values`` when they were given per row."""
    if tables not in TABLE_SCOPES:
        msg = f"tables={tables!r}; expected one of {TABLE_SCOPES}"
        raise DiskModelError(msg)
    if tables == "all" or S.SOURCE_TABLE not in frame:
        return frame, values
    live = (frame[S.SOURCE_TABLE] == "xcom").to_numpy()
    if not live.any() or live.all():
        return frame, values
    if values is not None and len(values) == len(frame):
        values = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(object),
                           dtype=object)[live].reset_index(drop=True)
    return frame[live], values


def _table_names(frame: pd.DataFrame) -> np.ndarray:
    if S.SOURCE_TABLE not in frame:
        return np.full(len(frame), "xcom", dtype=object)
    return frame[S.SOURCE_TABLE].astype(str).to_numpy(object)


def _per_table(d: str, r: _Rows, ratio: np.ndarray, names: np.ndarray
               ) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, int]]:
    """Model each table on its own — pages, B-trees and segments are per table — and add up.

    An index a table does not have (archives made by ``CREATE TABLE AS``) gets no pages.
    """
    n = len(names)
    per_row: dict[str, np.ndarray] = {}
    fixed: dict[str, int] = {}
    by_table: dict[str, int] = {}
    order = sorted(set(names.tolist()), key=lambda t: (t != "xcom", t)) or ["xcom"]
    for table in order:
        idx = np.flatnonzero(names == table) if n else np.arange(0)
        part = _Rows(**{f.name: getattr(r, f.name)[idx] for f in fields(_Rows)})
        rows, fx = _MODELS[d](part, ratio[idx])
        total = 0.0
        for name, v in rows.items():
            has = name in ("table", "out_of_line") or bool(v.any()) or not n
            per_row.setdefault(name, np.zeros(n))[idx] = v
            fixed[name] = fixed.get(name, 0) + (fx.get(name, 0) if has else 0)
            total += float((v * part.weight).sum()) + (fx.get(name, 0) if has else 0)
        by_table[table] = round(total)
    return per_row, fixed, by_table


def _weighted(ratio: np.ndarray, value: np.ndarray, rows: np.ndarray) -> float:
    big = value >= 2032
    w = (value * rows)[big] if big.any() else value * rows
    r = ratio[big] if big.any() else ratio
    if w.sum():
        return float((r * w).sum() / w.sum())
    return float((ratio * rows).sum() / rows.sum()) if len(ratio) and rows.sum() else 0.0


def on_disk_bytes(frame: pd.DataFrame | Summary, *, tables: TableScope = "live", **kwargs: Any) -> dict[str, int]:
    """Predicted on-disk bytes per dialect (``postgresql, mysql, sqlite``).

    ``tables="live"`` (default): the ``xcom`` table, the figure ``summarize`` reports as
    ``on_disk_bytes``; ``tables="all"``: archives included (``on_disk_bytes_all_tables``).
    Other keyword arguments go to :func:`estimate`.
    """
    return {d: estimate(frame, d, tables=tables, **kwargs).total_bytes for d in DIALECTS}


def disk_ratio(frame: pd.DataFrame | Summary, dialect: str = "postgresql", *, tables: TableScope = "live",
               **kwargs: Any) -> float:
    """On-disk bytes per logical value byte of the ``xcom`` table (``tables="live"``) in ``dialect``.

    The ratio the forecast and the retention what-if multiply live value bytes by
    (see :func:`estimate`).
    """
    return estimate(frame, dialect, tables=tables, **kwargs).ratio
