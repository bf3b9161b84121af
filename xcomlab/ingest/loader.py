"""``load_export``: any xcom export or live database → the XCom frame, with a load report.

The load itself is spread over modules by concept: :mod:`~xcomlab.ingest.formats`
(which format, which reader), :mod:`~xcomlab.ingest.pipeline` (reader thread and
builder pool), :mod:`~xcomlab.ingest.frame_builder` (the frame's columns, filled in
place) and :mod:`~xcomlab.ingest.allocator` (opt-in malloc tuning).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError, Rejection, XcomlabError
from xcomlab.ingest import allocator
from xcomlab.ingest.formats import FORMATS, Format, ReaderOptions, open_tables, resolve_format
from xcomlab.ingest.frame_builder import FrameBuilder
from xcomlab.ingest.normalize import BatchContext
from xcomlab.ingest.pipeline import BatchSource, built_batches
from xcomlab.ingest.sample import SAMPLE_ATTR, ValueSample, batch_keys
from xcomlab.ingest.source import SlowPath, TableSource
from xcomlab.ingest.values import ValueMode

__all__ = ["FORMATS", "Format", "LoadReport", "TableReport", "load_export", "load_report"]

_REPORT_ATTR = "xcomlab.load_report"
#: Exports above this size get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 64 * 2**20


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
    tune_malloc: bool | None = None,
    sample_values: bool | None = None,
    on_value_table: Callable[[pa.Table], None] | None = None,
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
    on_value_table
        As ``on_values``, with the batch as the Arrow table itself (``value`` is an
        Arrow binary column, the ids dictionary columns): no Python object per row, for
        vectorized scans (:func:`xcomlab.ingest.secret_rules.scan_table`).
    tune_malloc
        Tune glibc's malloc for large loads first
        (:func:`xcomlab.ingest.allocator.tune_malloc`: freed memory is reused rather
        than returned to the OS). The change is process-wide and permanent, so it is
        off unless asked for here or with ``XCOMLAB_TUNE_MALLOC=1`` (read when this
        is None). No effect where the C library is not glibc.
    sample_values
        Keep a bounded, seeded sample of stored values per size class
        (:class:`~xcomlab.ingest.sample.ValueSample`, a few MiB at most) in
        ``frame.attrs["xcomlab.value_sample"]``, so on-disk estimates and the recommender
        measure compressibility on the export's own values
        (:mod:`xcomlab.analysis.compressibility`). Default (None): on for files, off for
        live database URLs and engines (every value would cross the wire).

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
    fmt, label = resolve_format(source, format)
    sample = ValueSample() if (fmt != "sql" if sample_values is None else sample_values) else None
    opts = _options(errors, keep_values, airflow_schema, value_mode, chunk_rows, progress,
                    on_values, sample, on_value_table)
    if allocator.tune_requested(tune_malloc):
        allocator.tune_malloc()
    wanted = [tables] if isinstance(tables, str) else tables
    columns = FrameBuilder(opts.keep_values)
    reports: list[TableReport] = []
    rejections: list[Rejection] = []
    notes: list[str] = []
    for src in open_tables(source, fmt, wanted, opts.readers):
        rep, rej = _load_table(src, opts, columns)
        reports.append(rep)
        rejections.extend(rej)
        notes.extend(src.notes)
    _check_found(label, wanted, reports)
    frame = columns.frame()
    rejections.sort(key=lambda r: (r.path, r.table, r.row or 0))
    frame.attrs[_REPORT_ATTR] = LoadReport(label, fmt, tuple(reports), tuple(rejections),
                                           tuple(notes))
    if sample is not None:
        frame.attrs[SAMPLE_ATTR] = sample
    return frame


@dataclass(frozen=True, slots=True)
class _Options:
    """One load's settings, checked."""

    collect: bool
    keep_values: bool
    progress: bool | Callable[[TableSource], Any] | None
    on_values: Callable[[pd.DataFrame], None] | None
    readers: ReaderOptions
    sample: ValueSample | None = None
    on_value_table: Callable[[pa.Table], None] | None = None


def _options(errors: str, keep_values: bool, airflow_schema: str | None, value_mode: str | None,
             chunk_rows: int, progress: bool | Callable[[TableSource], Any] | None,
             on_values: Callable[[pd.DataFrame], None] | None,
             sample: ValueSample | None = None,
             on_value_table: Callable[[pa.Table], None] | None = None) -> _Options:
    if errors not in ("raise", "collect"):
        msg = f"errors={errors!r}; expected 'raise' or 'collect'"
        raise ValueError(msg)
    if airflow_schema is not None and airflow_schema not in S.AIRFLOW_SCHEMAS:
        msg = f"airflow_schema={airflow_schema!r}; expected one of {S.AIRFLOW_SCHEMAS}"
        raise ValueError(msg)
    mode = ValueMode(value_mode) if value_mode is not None else None
    fetch_values = keep_values or on_values is not None or sample is not None or on_value_table is not None
    readers = ReaderOptions(airflow_schema, mode, chunk_rows, fetch_values)
    return _Options(errors == "collect", keep_values, progress, on_values, readers, sample,
                    on_value_table)


def _check_found(label: str, wanted: list[str] | None, reports: list[TableReport]) -> None:
    """Raise unless every table asked for, and at least one table, was read."""
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


def _load_table(src: TableSource, opts: _Options,
                columns: FrameBuilder) -> tuple[TableReport, list[Rejection]]:
    """Stream one table into ``columns``; re-read it exactly when the fast path gives up."""
    mark = columns.rows
    if src.rows_hint:
        columns.reserve(mark + src.rows_hint)
    stream = int(opts.sample.rows.sum()) if opts.sample is not None else 0  # a sub-stream per table
    batches = src.batches()
    while True:  # a re-read may give up too (a faster one first, then the exact one)
        try:
            part = opts.sample.spawn(stream) if opts.sample is not None else None
            out = _stream(src, opts, batches, columns, part)
            break
        except SlowPath:
            if src.fallback is None:
                raise
            columns.truncate(mark)  # drop what the fast path kept before it gave up
            batches = src.fallback()
    if opts.sample is not None and part is not None:
        opts.sample.absorb(part)
    return out


def _stream(src: TableSource, opts: _Options, batches: Iterator[BatchSource],
            columns: FrameBuilder, sample: ValueSample | None = None) -> tuple[TableReport, list[Rejection]]:
    ctx = BatchContext(src.path, src.table, src.airflow_schema, opts.collect,
                       locate_line=src.locate_line)
    start = columns.rows
    read = 0
    bar = _progress_bar(src, opts.progress)
    try:
        for built in built_batches(batches, ctx, opts.readers.fetch_values, src.read_ahead):
            read += built.rows_read
            if opts.on_values is not None and built.table is not None:
                opts.on_values(_value_rows(built.table))
            if opts.on_value_table is not None and built.table is not None:
                opts.on_value_table(built.table)
            if sample is not None and built.table is not None:
                sample.add(built.table.column(S.VALUE), batch_keys(built.pieces, sample.seed))
            columns.add(built.pieces)
            del built
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


_VALUE_ROW_COLUMNS = [S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.VALUE]


def _value_rows(batch: pa.Table) -> pd.DataFrame:
    cols = {c: batch.column(c) for c in _VALUE_ROW_COLUMNS}
    return pd.DataFrame({c: a.to_pylist() for c, a in cols.items()})


def _progress_bar(src: TableSource, progress: bool | Callable[[TableSource], Any] | None) -> Any:
    """A tqdm bar of bytes read of ``src`` (or what ``progress(src)`` makes), or None."""
    if callable(progress):
        return progress(src)
    show = progress
    if show is None:
        show = bool(src.total_bytes and src.total_bytes >= PROGRESS_MIN_BYTES and sys.stderr.isatty())
    if not show or src.total_bytes is None:
        return None
    from tqdm import tqdm

    return tqdm(total=src.total_bytes, unit="B", unit_scale=True, leave=False,
                desc=f"{Path(src.path).name}:{src.table}")
