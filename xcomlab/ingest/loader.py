"""``load_export``: any xcom export or live database → the XCom frame, with a load report."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError, Rejection, UnsupportedSourceError, XcomlabError
from xcomlab.ingest.normalize import BatchContext, RawBatch, build_batch
from xcomlab.ingest.source import SlowPath, TableSource, is_xcom_table
from xcomlab.ingest.values import ValueMode

__all__ = ["LoadReport", "TableReport", "load_export", "load_report"]

Format = Literal["csv", "pgdump", "sqlite", "jsonl", "parquet", "sql"]
FORMATS: tuple[str, ...] = ("csv", "pgdump", "sqlite", "jsonl", "parquet", "sql")
_REPORT_ATTR = "xcomlab.load_report"
#: Exports above this size get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 64 * 2**20
_SUFFIXES = {".csv": "csv", ".sql": "pgdump", ".db": "sqlite", ".sqlite": "sqlite",
             ".sqlite3": "sqlite", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
_SQL_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")


@dataclass(frozen=True)
class TableReport:
    """Row accounting for one table: ``rows_read == rows_loaded + rows_rejected``."""

    table: str
    airflow_schema: str
    columns: tuple[str, ...]
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    sizes_exact: bool


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_export` read, what it rejected and what it could not measure.

    Attached to the frame as ``frame.attrs["xcomlab.load_report"]``; get it back with
    :func:`load_report`. Immutable, so pandas may share it between derived frames.
    """

    source: str
    format: str
    tables: tuple[TableReport, ...]
    rejections: tuple[Rejection, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def sizes_exact(self) -> bool:
        """False when any table's export lost or approximated values."""
        return all(t.sizes_exact for t in self.tables)

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables)

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables)

    def rejected_frame(self) -> pd.DataFrame:
        """The rejected rows: file, table, row, line, column, reason, detail, text."""
        cols = ["path", "table", "row", "line", "column", "reason", "detail", "text"]
        return pd.DataFrame(
            [[r.path, r.table, r.row, r.line, r.column, r.reason.value, r.detail, r.text]
             for r in self.rejections], columns=cols)

    def summary(self) -> pd.DataFrame:
        """One line per table with its row accounting."""
        return pd.DataFrame([t.__dict__ for t in self.tables]).drop(columns="columns")

    def __deepcopy__(self, memo: dict[int, Any]) -> LoadReport:
        return self

    def __repr__(self) -> str:
        tables = ", ".join(f"{t.table}: {t.rows_loaded} rows" for t in self.tables)
        return (f"LoadReport({self.format} {self.source!r}; {tables}; "
                f"{self.rows_rejected} rejected; sizes_exact={self.sizes_exact})")


def load_report(frame: pd.DataFrame) -> LoadReport:
    """Return the :class:`LoadReport` attached to a frame by :func:`load_export`."""
    rep = frame.attrs.get(_REPORT_ATTR)
    if not isinstance(rep, LoadReport):
        msg = "this frame carries no load report; it was not built by xcomlab.load_export"
        raise XcomlabError(msg)
    return rep


def load_export(
    source: str | os.PathLike[str] | Any,
    *,
    format: Format | None = None,
    tables: str | list[str] | None = None,
    errors: Literal["raise", "collect"] = "raise",
    keep_values: bool = False,
    airflow_schema: str | None = None,
    value_mode: str | None = None,
    chunk_rows: int = 100_000,
    progress: bool | None = None,
    on_values: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Read an Airflow xcom export, or a live metadata database, into the XCom frame.

    Parameters
    ----------
    source
        A file (CSV from ``psql \\copy`` or ``airflow db export-archived``, ``pg_dump``
        plain SQL, an ``airflow.db`` SQLite file, JSON Lines, Parquet), a directory of
        such files (``export-archived`` output), a SQLAlchemy URL
        (``postgresql://…``, ``mysql+pymysql://…``, ``sqlite:///…``) or an Engine.
    format
        One of ``csv, pgdump, sqlite, jsonl, parquet, sql``; guessed from the suffix
        and the first bytes when omitted.
    tables
        Xcom-like tables to read (``xcom``, ``_xcom_archive``,
        ``_airflow_deleted__xcom__<ts>``); all that are present by default. Each row
        names its table in ``source_table``.
    errors
        ``"raise"`` (default) stops at the first malformed row with an
        :class:`~xcomlab.errors.ExportFormatError` naming file, line/row and column;
        ``"collect"`` loads the good rows and lists the rest in the load report.
    keep_values
        Keep the stored value bytes in a ``value`` column (exports may hold secrets).
    airflow_schema, value_mode
        Override detection of the Airflow schema (one of
        :data:`xcomlab.schema.AIRFLOW_SCHEMAS`) or of the value spelling in text
        exports (``hex``, ``bytes_repr``, ``json``, ``memory``, ``python_repr``).
    chunk_rows
        Rows per batch for SQL sources.
    progress
        Show a progress bar; by default only for exports over 64 MiB on a terminal.
    on_values
        Called with each batch as it streams — ids (``source_table, dag_id, task_id,
        run_id, key, map_index``) and the stored ``value`` — so a scan (e.g.
        :func:`xcomlab.analysis.secrets.scan_secrets`) sees every value while the
        frame keeps none unless ``keep_values``.

    Returns
    -------
    pandas.DataFrame
        The XCom frame (:mod:`xcomlab.schema`), with a :class:`LoadReport` in
        ``frame.attrs["xcomlab.load_report"]``.

    Examples
    --------
    >>> import xcomlab
    >>> frame = xcomlab.load_export("data/samples/af3/xcom_copy.csv")  # doctest: +SKIP
    >>> xcomlab.load_report(frame).sizes_exact  # doctest: +SKIP
    True
    """
    if errors not in ("raise", "collect"):
        msg = f"errors={errors!r}; expected 'raise' or 'collect'"
        raise ValueError(msg)
    if airflow_schema is not None and airflow_schema not in S.AIRFLOW_SCHEMAS:
        msg = f"airflow_schema={airflow_schema!r}; expected one of {S.AIRFLOW_SCHEMAS}"
        raise ValueError(msg)
    mode = ValueMode(value_mode) if value_mode is not None else None
    fmt, label = _resolve_format(source, format)
    wanted = [tables] if isinstance(tables, str) else tables
    opts = _Options(errors == "collect", keep_values, airflow_schema, mode, chunk_rows, progress,
                    on_values)
    columns = _Columns(opts.keep_values)
    reports: list[TableReport] = []
    rejections: list[Rejection] = []
    notes: list[str] = []
    for src in _open(source, fmt, wanted, opts):
        rep, rej = _load_table(src, opts, columns)
        reports.append(rep)
        rejections.extend(rej)
        notes.extend(src.notes)
    if wanted:
        found = {r.table for r in reports}
        absent = [t for t in wanted if t not in found]
        if absent:
            msg = f"{label}: no table {absent} in this export; it has {sorted(found) or 'none'}"
            raise ExportFormatError(msg)
    if not reports:
        msg = (f"{label}: no xcom table found; expected a table named xcom, _xcom_archive "
               "or _airflow_deleted__xcom__<timestamp>")
        raise ExportFormatError(msg)
    frame = columns.frame()
    rejections.sort(key=lambda r: (r.path, r.table, r.row or 0))
    frame.attrs[_REPORT_ATTR] = LoadReport(label, fmt, tuple(reports), tuple(rejections),
                                           tuple(notes))
    return frame


@dataclass(frozen=True)
class _Options:
    collect: bool
    keep_values: bool
    airflow_schema: str | None
    value_mode: ValueMode | None
    chunk_rows: int
    progress: bool | None
    on_values: Callable[[pd.DataFrame], None] | None = None

    @property
    def fetch_values(self) -> bool:
        return self.keep_values or self.on_values is not None


def _resolve_format(source: Any, fmt: str | None) -> tuple[str, str]:
    if fmt is not None and fmt not in FORMATS:
        msg = f"format={fmt!r}; expected one of {FORMATS}"
        raise UnsupportedSourceError(msg)
    if not isinstance(source, (str, os.PathLike)):
        if hasattr(source, "dialect") and hasattr(source, "connect"):
            return "sql", repr(source.url.render_as_string(hide_password=True))
        msg = f"cannot read a {type(source).__name__}; pass a path, a SQLAlchemy URL or an Engine"
        raise UnsupportedSourceError(msg)
    text = os.fspath(source)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme in _SQL_SCHEMES:
            return fmt or "sql", _hide_password(text)
        msg = (f"{text!r}: URL scheme {scheme!r} is not a database xcomlab reads; expected one of "
               f"{_SQL_SCHEMES}, or a local file path")
        raise UnsupportedSourceError(msg)
    p = Path(text)
    if not p.exists():
        msg = f"{text}: no such file or directory"
        raise FileNotFoundError(msg)
    if fmt is not None:
        return fmt, text
    if p.is_dir():
        return "csv", text
    return _sniff(p), text


def _sniff(p: Path) -> str:
    with p.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PGDMP"):
        msg = (f"{p}: a pg_dump custom-format archive; convert it to plain SQL first with "
               f"`pg_restore -f {p.stem}.sql {p.name}` (or dump with `pg_dump -Fp`)")
        raise UnsupportedSourceError(msg)
    if head.startswith((b"\x1f\x8b", b"(\xb5/\xfd")):
        msg = f"{p}: compressed input; decompress it first (gunzip / zstd -d)"
        raise UnsupportedSourceError(msg)
    suffix = p.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if b"PostgreSQL database dump" in head or b"COPY " in head:
        return "pgdump"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    msg = (f"{p}: cannot tell the export format from its name or first bytes; pass "
           f"format= one of {FORMATS}")
    raise UnsupportedSourceError(msg)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _open(source: Any, fmt: str, wanted: list[str] | None, opts: _Options) -> Iterator[TableSource]:
    if fmt == "csv" and isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        yield from _open_directory(Path(source), wanted, opts)
        return
    for src in _readers(source, fmt, opts):
        if wanted is None or src.table in wanted:
            yield src


def _open_directory(d: Path, wanted: list[str] | None, opts: _Options) -> Iterator[TableSource]:
    files = sorted(f for f in d.iterdir() if f.suffix.lower() == ".csv" and is_xcom_table(f.stem))
    if not files:
        msg = (f"{d}: no xcom CSV in this directory; expected files such as xcom.csv, "
               "_xcom_archive.csv or _airflow_deleted__xcom__<ts>.csv")
        raise ExportFormatError(msg)
    for f in files:
        if wanted is None or f.stem in wanted:
            yield from _readers(str(f), "csv", opts)


def _readers(source: Any, fmt: str, opts: _Options) -> Iterator[TableSource]:
    if fmt == "csv":
        from xcomlab.ingest.csvfile import read_csv

        return read_csv(os.fspath(source), value_mode=opts.value_mode,
                        airflow_schema=opts.airflow_schema)
    if fmt == "pgdump":
        from xcomlab.ingest.pgdump import read_pgdump

        return read_pgdump(os.fspath(source), airflow_schema=opts.airflow_schema)
    if fmt in ("sqlite", "sql"):
        from xcomlab.ingest.sqlsource import read_sql

        return read_sql(source, sqlite_file=fmt == "sqlite", chunk_rows=opts.chunk_rows,
                        airflow_schema=opts.airflow_schema, keep_values=opts.fetch_values)
    from xcomlab.ingest.columnar import read_jsonl, read_parquet

    reader = read_jsonl if fmt == "jsonl" else read_parquet
    return reader(os.fspath(source), value_mode=opts.value_mode,
                  airflow_schema=opts.airflow_schema, chunk_rows=opts.chunk_rows)


def _load_table(src: TableSource, opts: _Options, columns: _Columns) -> tuple[TableReport, list[Rejection]]:
    mark = columns.rows
    try:
        return _stream(src, opts, src.batches(), columns)
    except SlowPath:
        if src.fallback is None:
            raise
        columns.truncate(mark)  # drop what the fast path kept before it gave up
        return _stream(src, opts, src.fallback(), columns)


def _stream(src: TableSource, opts: _Options, batches: Iterator, columns: _Columns) -> tuple[TableReport, list[Rejection]]:  # type: ignore[type-arg]
    ctx = BatchContext(src.path, src.table, src.airflow_schema, opts.collect,
                       locate_line=src.locate_line)
    start = columns.rows
    read = 0
    bar = _progress_bar(src, opts)
    try:
        for size, batch in _built(batches, ctx, opts.fetch_values):
            read += size
            if opts.on_values is not None:
                opts.on_values(_value_rows(batch))
            columns.add(batch)
            del batch
            if bar is not None and src.bytes_read is not None:
                bar.update(src.bytes_read() - bar.n)
    finally:
        if bar is not None:
            bar.close()
    loaded = columns.rows - start
    if loaded + len(ctx.rejections) != read:  # pragma: no cover - an internal invariant
        msg = f"{src.path}: {read} rows read but {loaded} loaded and {len(ctx.rejections)} rejected"
        raise XcomlabError(msg)
    rep = TableReport(src.table, src.airflow_schema, tuple(src.columns), read, loaded,
                      len(ctx.rejections), src.sizes_exact)
    return rep, ctx.rejections


#: Batches classified at once: Arrow's kernels and numpy release the GIL, so a second
#: batch is checked while the first one's results are kept (and the reader reads ahead).
_IN_FLIGHT = 2


def _built(batches: Iterator[RawBatch], ctx: BatchContext,
           keep_values: bool) -> Iterator[tuple[int, pa.Table]]:
    """``(rows read, built batch)`` in order, building up to :data:`_IN_FLIGHT` at a time.

    Errors surface in batch order: a batch's error is raised only once every earlier
    batch was handed over (rejections are sorted by row at the end of a load).
    """
    def build(raw: RawBatch) -> tuple[int, pa.Table]:
        return len(raw) + len(raw.rejected), build_batch(raw, ctx, keep_values=keep_values)

    with ThreadPoolExecutor(max_workers=_IN_FLIGHT, thread_name_prefix="xcomlab-ingest") as pool:
        pending: deque[Future[tuple[int, pa.Table]]] = deque()
        try:
            for raw in batches:
                pending.append(pool.submit(build, raw))
                del raw
                if len(pending) >= _IN_FLIGHT:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


_VALUE_ROW_COLUMNS = [S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.VALUE]


def _value_rows(batch: pa.Table) -> pd.DataFrame:
    cols = {c: batch.column(c) for c in _VALUE_ROW_COLUMNS}
    return pd.DataFrame({c: a.to_pylist() for c, a in cols.items()})


def _progress_bar(src: TableSource, opts: _Options) -> Any:
    show = opts.progress
    if show is None:
        show = bool(src.total_bytes and src.total_bytes >= PROGRESS_MIN_BYTES and sys.stderr.isatty())
    if not show or src.total_bytes is None:
        return None
    from tqdm import tqdm

    return tqdm(total=src.total_bytes, unit="B", unit_scale=True, leave=False,
                desc=f"{Path(src.path).name}:{src.table}")


_CATEGORIES = (S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY)
_CODES = (S.ENCODING, S.AIRFLOW_SCHEMA)  # fixed dictionaries: codes are category codes
_NULLABLE_INT = (S.DAG_RUN_ID, S.VALUE_BYTES, S.REF_BYTES)
_BOOLS = (S.SIZE_EXACT, S.INTERNAL, S.HAS_NAN)
_TIMES = (S.LOGICAL_DATE, S.TIMESTAMP)
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


class _Columns:
    """The frame's columns, kept batch by batch in their final (numpy) form.

    Each batch's Arrow table is turned into numpy pieces as it arrives, so the loader
    never holds the batches *and* the frame: peak memory is the frame plus one batch
    in flight plus, at the end, one column being joined.
    """

    def __init__(self, keep_values: bool) -> None:
        self.keep_values = keep_values
        self.pieces: dict[str, list[Any]] = {c: [] for c in S.DTYPES}
        if keep_values:
            self.pieces[S.VALUE] = []
        self.sizes: list[int] = []

    @property
    def rows(self) -> int:
        return sum(self.sizes)

    def truncate(self, rows: int) -> None:
        """Forget the batches added after the first ``rows`` rows."""
        keep, total = 0, 0
        while keep < len(self.sizes) and total + self.sizes[keep] <= rows:
            total += self.sizes[keep]
            keep += 1
        del self.sizes[keep:]
        for lst in self.pieces.values():
            del lst[keep:]

    def add(self, batch: pa.Table) -> None:
        """Keep one batch from :func:`~xcomlab.ingest.normalize.build_batch`."""
        self.sizes.append(batch.num_rows)
        for col, lst in self.pieces.items():
            lst.append(_piece(col, batch.column(col).combine_chunks()))

    def frame(self) -> pd.DataFrame:
        """Join the pieces column by column, releasing each column's pieces as it goes."""
        out: dict[str, Any] = {}
        for col in list(self.pieces):
            pieces = self.pieces.pop(col)
            out[col] = _join(col, pieces, sum(self.sizes))
            del pieces
            _trim_heap()
        return S.validate_frame(pd.DataFrame(out, copy=False))


def _trim_heap() -> None:
    """Hand the heap pages of freed pieces back to the OS (glibc's ``malloc_trim``).

    Pieces are many small arrays on the C heap; freed between live allocations they
    would stay in the RSS while the joined columns are allocated anew. A no-op where
    there is no glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _piece(col: str, arr: pa.Array) -> Any:
    """One batch's column in a compact form :func:`_join` can concatenate.

    Pieces are numpy copies, not views of Arrow buffers: long-lived data then stays
    out of Arrow's memory pool, which can reuse its pages for the next batches
    instead of fragmenting as the load grows.
    """
    if col in _CATEGORIES:
        idx = arr.indices
        codes = np.array(idx.fill_null(-1) if idx.null_count else idx, dtype=np.int32)
        return codes, arr.dictionary
    if col in _CODES:
        return np.array(arr.indices, dtype=np.int8)
    if col == S.MAP_INDEX:
        return np.array(arr, dtype=np.int64)
    if col in _BOOLS:
        return arr.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    if arr.null_count == len(arr):
        return len(arr)  # all null (no logical date in 3.x, no refs): nothing to keep
    if col in _NULLABLE_INT or col == S.DAG_RESULT:
        mask = np.asarray(pc.is_null(arr)) if arr.null_count else None
        fill = False if col == S.DAG_RESULT else 0
        return np.array(arr.fill_null(fill).to_numpy(zero_copy_only=False)), mask
    if col in _TIMES:
        return np.array(arr.cast(pa.timestamp("ns", tz="UTC")).to_numpy(zero_copy_only=False))
    return arr  # ref_uri (mostly null), value: kept in Arrow


def _join(col: str, pieces: list[Any], n: int) -> Any:
    dtype = S.DTYPES.get(col)
    if col in _CATEGORIES:
        return _join_categories(pieces)
    if col in _CODES:
        assert isinstance(dtype, pd.CategoricalDtype)
        codes = np.concatenate(pieces) if pieces else np.empty(0, np.int8)
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if col == S.MAP_INDEX:
        return np.concatenate(pieces) if pieces else np.empty(0, np.int64)
    if col in _BOOLS:
        return np.concatenate(pieces) if pieces else np.empty(0, bool)
    if col in _NULLABLE_INT or col == S.DAG_RESULT:
        np_type = np.bool_ if col == S.DAG_RESULT else np.int64
        values: np.ndarray = np.empty(n, dtype=np_type)
        mask = np.zeros(n, dtype=bool)
        at = 0
        for p in pieces:
            if isinstance(p, int):
                values[at:at + p] = 0
                mask[at:at + p] = True
                at += p
                continue
            v, m = p
            values[at:at + len(v)] = v
            if m is not None:
                mask[at:at + len(v)] = m
            at += len(v)
        if col == S.DAG_RESULT:
            return pd.arrays.BooleanArray(values, mask)
        return pd.arrays.IntegerArray(values, mask)
    if col in _TIMES:
        out = np.empty(n, dtype="datetime64[ns]")
        at = 0
        for p in pieces:
            size = p if isinstance(p, int) else len(p)
            out[at:at + size] = np.datetime64("NaT") if isinstance(p, int) else p
            at += size
        # Nanoseconds since the epoch are UTC instants: no localization pass is needed.
        return pd.array(out.view(np.int64), dtype=_UTC_NS)
    chunks = [pa.nulls(p, pa.string() if col == S.REF_URI else pa.binary())
              if isinstance(p, int) else p for p in pieces]
    arr = pa.chunked_array(chunks, type=pa.string() if col == S.REF_URI else pa.binary())
    return arr.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def _join_categories(pieces: list[tuple[np.ndarray, pa.Array]]) -> pd.Categorical:
    """One categorical from per-batch dictionaries: categories in order of first use.

    "First use" walks the batches in order and, within a batch, its dictionary in
    index order. The used words of all batches are concatenated in that order, and
    one Arrow hash pass numbers them (first occurrence first).
    """
    n = sum(len(codes) for codes, _ in pieces)
    out = np.empty(n, dtype=np.int32)
    used_words: list[pa.Array] = []
    used_index: list[np.ndarray] = []
    for codes, dictionary in pieces:
        words = dictionary if dictionary.type == pa.string() else dictionary.cast(pa.string())
        used = np.bincount(codes[codes >= 0], minlength=len(words)) > 0
        if not used.all():
            words = words.filter(pa.array(used))
        used_words.append(words)
        used_index.append(np.flatnonzero(used))
    if used_words:
        numbered = pc.dictionary_encode(pa.concat_arrays(used_words))
        number = np.asarray(numbered.indices, dtype=np.int32)
        categories = numbered.dictionary.to_pylist()
    else:
        number, categories = np.empty(0, np.int32), []
    at = 0
    first = 0
    for (codes, dictionary), index in zip(pieces, used_index, strict=True):
        remap = np.full(len(dictionary) + 1, -1, dtype=np.int32)  # last slot: null (-1)
        remap[index] = number[first:first + len(index)]
        first += len(index)
        out[at:at + len(codes)] = remap[codes]
        at += len(codes)
    cats = pd.Index(categories, dtype=_category_values_dtype())
    return pd.Categorical.from_codes(out, categories=cats)


def _category_values_dtype() -> Any:
    """The dtype pandas gives string categories converted from Arrow."""
    return pa.array(["a"]).dictionary_encode().to_pandas().cat.categories.dtype
