"""``load_export``: any xcom export or live database → the XCom frame, with a load report."""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

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
    _tune_malloc()
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


#: glibc ``mallopt`` parameters (malloc.h) and the values set for loading.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: The ceiling of glibc's dynamic mmap threshold on 64-bit systems,
#: DEFAULT_MMAP_THRESHOLD_MAX = 4 MiB * sizeof(long) (mallopt(3), glibc 2.36; read
#: 2026-12-06).
_MMAP_THRESHOLD = 32 * 2**20
#: Free heap top kept for reuse; chosen by measurement (benchmarks/README.md, fourth
#: round, 2026-12-06): a 5M-row load peaks at 840–880 MiB with it.
_TRIM_THRESHOLD = 128 * 2**20


@functools.cache
def _tune_malloc() -> None:
    """Let glibc's malloc reuse freed memory instead of handing it back to the OS.

    A load allocates and frees batch-sized arrays (hundreds of KiB to a few MiB) all
    along. By default glibc serves those from fresh ``mmap`` pages and trims freed
    heap tops, so every batch pays first-touch page faults again; on virtual
    machines that costs more than the arithmetic (see benchmarks/README.md). Once per
    process: the mmap threshold is set to 32 MiB (where glibc's own dynamic
    threshold tops out) and up to 128 MiB of free heap top is kept for reuse. A
    no-op where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


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
    if src.rows_hint:
        columns.reserve(mark + src.rows_hint)
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
        for size, batch, pieces in _built(batches, ctx, opts.fetch_values, src.read_ahead):
            read += size
            if opts.on_values is not None:
                opts.on_values(_value_rows(batch))
            columns.add(pieces)
            del batch, pieces
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


#: Batches built at once: Arrow's kernels and numpy release the GIL, so two batches
#: are prepared, checked and classified side by side while the reader reads ahead.
_IN_FLIGHT = 2

Built = tuple[int, "pa.Table | None", dict[str, Any]]


def _built(batches: Iterator[RawBatch | Callable[[], RawBatch]], ctx: BatchContext,
           keep_values: bool, read_ahead: int = 0) -> Iterator[Built]:
    """``(rows read, built batch, its frame pieces)`` in order, :data:`_IN_FLIGHT` at a time.

    A reader may yield a callable instead of a batch: the work of making the batch
    (decoding, dictionary encoding, text checks) then runs in the pool too. The built
    Arrow table is kept only when ``keep_values`` (for ``on_values``). Errors surface
    in batch order: a batch's error is raised only once every earlier batch was
    handed over (rejections are sorted by row at the end of a load).
    """
    def build(item: RawBatch | Callable[[], RawBatch]) -> Built:
        raw = item if isinstance(item, RawBatch) else item()
        size = len(raw) + len(raw.rejected)
        pieces, table = build_batch(raw, ctx, keep_values=keep_values)
        return size, table, pieces

    source = _ReadAhead(batches, read_ahead) if read_ahead else batches
    with ThreadPoolExecutor(max_workers=_IN_FLIGHT, thread_name_prefix="xcomlab-ingest") as pool:
        pending: deque[Future[Built]] = deque()
        try:
            for item in source:
                pending.append(pool.submit(build, item))
                del item
                if len(pending) >= _IN_FLIGHT:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
            if isinstance(source, _ReadAhead):
                source.close()


class _ReadAhead:
    """Iterate ``items`` in a thread of its own, up to ``depth`` items ahead.

    The reader's own work (parsing, fetching) then overlaps with building the
    batches it already handed over. An exception in the reader is raised here, in
    order, after the items read before it; :meth:`close` stops the thread early.
    """

    _END = object()

    def __init__(self, items: Iterator[Any], depth: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._items = items
        self._thread = threading.Thread(target=self._run, name="xcomlab-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer
            self._put(_Raised(exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


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
    """The frame's columns, filled batch by batch in their final numpy form.

    Builder threads turn each batch into numpy pieces
    (:func:`~xcomlab.ingest.normalize.build_batch`); here they are copied into one
    preallocated buffer per column, and identifier codes renumbered
    against one dictionary per column. The frame then wraps the buffers without a
    copy: each byte of the frame is written once. (On machines where first touching
    memory is slow, a join of pieces at the end costs more than the parsing.)

    Buffers start at ``capacity`` rows (a reader's estimate; untouched pages cost no
    memory) and double when a load outgrows them. Categories are numbered in order
    of first use: batch by batch, and within a batch in its dictionary's order
    (Arrow numbers a batch's words as they first occur).
    """

    def __init__(self, keep_values: bool, capacity: int = 1 << 16) -> None:
        self.keep_values = keep_values
        self.rows = 0
        self.capacity = 0
        self.values: dict[str, np.ndarray] = {}
        self.masks: dict[str, np.ndarray] = {}
        #: Per batch: the rows holding a reference and their URIs.
        self.refs: list[tuple[np.ndarray, list[str]] | None] = []
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

    def add(self, pieces: dict[str, Any]) -> None:
        """Copy one batch's pieces (:data:`~xcomlab.ingest.normalize.Pieces`) into the
        buffers."""
        n = len(pieces[S.MAP_INDEX])
        if self.rows + n > self.capacity:
            self._grow(max(2 * self.capacity, self.rows + n))
        self.marks.append((self.rows, {c: len(w) for c, w in self.words.items()}))
        at, end = self.rows, self.rows + n
        for col in _CATEGORIES:
            codes, words = pieces[col]
            number = self.number[col]
            known = self.words[col]
            remap = np.empty(len(words) + 1, dtype=np.int64)
            remap[-1] = -1  # null
            for i, word in enumerate(words):
                code = number.get(word)
                if code is None:
                    code = number[word] = len(known)
                    known.append(word)
                remap[i] = code
            if len(known) > np.iinfo(self.values[col].dtype).max:
                self.values[col] = _resized(self.values[col], self.capacity, np.int32, at)
            remap = remap.astype(self.values[col].dtype)
            if isinstance(codes, int):
                self.values[col][at:end] = remap[codes]
            else:
                np.take(remap, codes, out=self.values[col][at:end])
        for col in _PLAIN:
            self.values[col][at:end] = pieces[col]
        for col in _MASKED:
            values, mask = pieces[col]
            if values is None:  # all null: the values stay zero, as allocated
                self.masks[col][at:end] = True
            else:
                self.values[col][at:end] = values
                self.masks[col][at:end] = False if mask is None else mask
        for col in _TIMES:
            micros, mask = pieces[col]
            out = self.values[col][at:end]
            if micros is None:
                out[:] = _NAT
            else:
                np.multiply(micros, 1000, out=out)
                if mask is not None:
                    out[mask] = _NAT
        refs = pieces[S.REF_URI]
        self.refs.append(None if refs is None else (refs[0] + at, refs[1]))
        if self.keep_values:
            self.kept.append(pieces[S.VALUE])
        self.rows = end

    def frame(self) -> pd.DataFrame:
        """The frame over the buffers (views, not copies)."""
        n = self.rows
        out: dict[str, Any] = {}
        for col in S.DTYPES:
            dtype = S.DTYPES[col]
            if col in _CATEGORIES:
                cats = pd.Index(self.words[col], dtype=_category_values_dtype())
                out[col] = pd.Categorical.from_codes(self.values[col][:n], categories=cats,
                                                     validate=False)
            elif col in _CODES:
                assert isinstance(dtype, pd.CategoricalDtype)
                out[col] = pd.Categorical.from_codes(self.values[col][:n], dtype=dtype,
                                                     validate=False)
            elif col in _MASKED:
                values, mask = self.values[col][:n], self.masks[col][:n]
                out[col] = (pd.arrays.BooleanArray(values, mask) if col == S.DAG_RESULT
                            else pd.arrays.IntegerArray(values, mask))
            elif col in _TIMES:
                out[col] = _utc_times(self.values[col][:n])
            elif col == S.REF_URI:
                out[col] = _ref_column(n, self.refs)
            else:
                out[col] = self.values[col][:n]
        if self.keep_values:
            out[S.VALUE] = pa.chunked_array(self.kept, type=pa.binary()).to_pandas()
        self.values, self.masks, self.refs, self.kept = {}, {}, [], []
        return S.validate_frame(pd.DataFrame(out, copy=False))


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
_MASKED = (*_NULLABLE_INT, S.DAG_RESULT)
_PLAIN = (*_CODES, S.MAP_INDEX, *_BOOLS)  # arrays, or one code for every row


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


def _ref_column(n: int, refs: list[tuple[np.ndarray, list[str]] | None]) -> Any:
    """The ``ref_uri`` column: null but for the rows holding a reference."""
    rows = [got[0] for got in refs if got is not None]
    if not rows:
        uris = pa.nulls(n, pa.string())
    else:
        pick = np.full(n, -1, dtype=np.int32)
        pick[np.concatenate(rows)] = np.arange(sum(len(r) for r in rows), dtype=np.int32)
        words = pa.array([u for got in refs if got is not None for u in got[1]], pa.string())
        uris = words.take(pa.array(pick, mask=pick < 0))
    return pd.array(uris.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get),
                    dtype=pd.StringDtype())


def _category_values_dtype() -> Any:
    """The dtype pandas gives string categories converted from Arrow."""
    return pa.array(["a"]).dictionary_encode().to_pandas().cat.categories.dtype
