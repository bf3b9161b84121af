"""``iter_frames``: an export as a stream of small XCom frames, one per built batch.

The same readers, builder pool and checks as :func:`~xcomlab.ingest.loader.load_export`,
but the whole frame is never built: each batch becomes a frame of its own, handed over
and forgotten. Consumers that aggregate (:func:`xcomlab.summary.summarize_file`) then
hold memory by groups, not rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Literal, NamedTuple

import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import Rejection, XcomlabError
from xcomlab.ingest.formats import open_tables, resolve_format
from xcomlab.ingest.frame_builder import FrameBuilder
from xcomlab.ingest.loader import Format, TableReport, _check_found, _options, _progress_bar
from xcomlab.ingest.normalize import BatchContext
from xcomlab.ingest.pieces import BatchPieces
from xcomlab.ingest.pipeline import built_batches
from xcomlab.ingest.source import SlowPath, TableSource

__all__ = ["FrameBatch", "PiecesBatch", "iter_frames", "iter_pieces"]


class FrameBatch(NamedTuple):
    """One batch of an export as an XCom frame.

    A fast reader may give up part-way through a table and the table is then re-read
    exactly: the first batch of the re-read has ``attempt`` one higher (and may be
    empty), and the consumer must forget the batches of that ``table_index`` it got
    with a lower ``attempt``.
    """

    #: Position of the table in the export (0, 1, …).
    table_index: int
    #: The table's name (``xcom``, ``_xcom_archive``, …).
    table: str
    #: 0 for the first read of the table, one higher after each re-read (a fast path gave up).
    attempt: int
    #: The batch's rows (an XCom frame, :mod:`xcomlab.schema`; no ``value`` column).
    frame: pd.DataFrame
    #: Set on the last item of each table (an empty frame): its row accounting.
    report: TableReport | None = None


class PiecesBatch(NamedTuple):
    """One built batch as the builders hand it over (:class:`FrameBatch`'s fields, with the
    batch's typed columns instead of a frame; ``pieces`` is None on the restart and end
    items)."""

    table_index: int
    table: str
    attempt: int
    pieces: BatchPieces | None
    report: TableReport | None = None
    #: On the end item of a table: its rejected rows and the reader's notes.
    rejections: tuple[Rejection, ...] = ()
    notes: tuple[str, ...] = ()


def iter_frames(
    source: str | os.PathLike[str] | Any,
    *,
    format: Format | None = None,
    tables: str | list[str] | None = None,
    errors: Literal["raise", "collect"] = "raise",
    airflow_schema: str | None = None,
    value_mode: str | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[FrameBatch]:
    """Stream an export as per-batch XCom frames (see :class:`FrameBatch`).

    Parameters are those of :func:`xcomlab.load_export` (values are neither kept nor
    sampled). Each table ends with an item whose ``report`` holds its row accounting
    (``rows_read == rows_loaded + rows_rejected``).

    Raises
    ------
    ExportFormatError
        As :func:`xcomlab.load_export` does: a malformed row (``errors="raise"``), a
        table asked for that is absent, or no xcom table at all.
    """
    for item in iter_pieces(source, format=format, tables=tables, errors=errors,
                            airflow_schema=airflow_schema, value_mode=value_mode,
                            chunk_rows=chunk_rows):
        if item.pieces is None:
            frame = S.empty_frame()
        else:
            columns = FrameBuilder(False, capacity=max(len(item.pieces), 1))
            columns.add(item.pieces)
            frame = columns.frame()
        yield FrameBatch(item.table_index, item.table, item.attempt, frame, item.report)


def iter_pieces(
    source: str | os.PathLike[str] | Any,
    *,
    format: Format | None = None,
    tables: str | list[str] | None = None,
    errors: Literal["raise", "collect"] = "raise",
    airflow_schema: str | None = None,
    value_mode: str | None = None,
    chunk_rows: int = 100_000,
    values: bool = False,
    progress: bool | Callable[[TableSource], Any] | None = None,
    span: tuple[int, int] | None = None,
) -> Iterator[PiecesBatch]:
    """:func:`iter_frames` without making frames: each batch's typed columns
    (:class:`~xcomlab.ingest.pieces.BatchPieces`), for consumers that aggregate them.

    With ``values`` the stored values are fetched too and each batch's
    ``pieces.value`` holds them (an Arrow binary array), as ``load_export`` fetches
    them for ``on_values`` and the value sample. ``progress`` as for ``load_export``
    (a bar of bytes read per table; by default only for large files on a terminal).
    ``span``: read one shard of a plain CSV or Parquet file
    (:attr:`~xcomlab.ingest.formats.ReaderOptions.span`, :mod:`xcomlab.ingest.split`);
    its rows are numbered from 1 and its lines from the shard's first byte."""
    fmt, label = resolve_format(source, format)
    opts = _options(errors, values, airflow_schema, value_mode, chunk_rows, progress, None, None)
    if span is not None:
        opts = replace(opts, readers=replace(opts.readers, span=span))
    wanted = [tables] if isinstance(tables, str) else tables
    reports: list[TableReport] = []
    for index, src in enumerate(open_tables(source, fmt, wanted, opts.readers)):
        attempt, batches = 0, src.batches()
        while True:  # a re-read may give up too (a faster one first, then the exact one)
            try:
                yield from _table_pieces(index, src, attempt, batches, opts, reports)
                break
            except SlowPath:
                if src.fallback is None:
                    raise
                attempt += 1
                yield PiecesBatch(index, src.table, attempt, None)
                batches = src.fallback()
    _check_found(label, wanted, reports)


def _table_pieces(index: int, src: TableSource, attempt: int, batches: Iterator[Any],
                  opts: Any, reports: list[TableReport]) -> Iterator[PiecesBatch]:
    ctx = BatchContext(src.path, src.table, src.airflow_schema, opts.collect,
                       locate_line=src.locate_line)
    read = loaded = 0
    bar = _progress_bar(src, opts.progress)
    try:
        for built in built_batches(batches, ctx, opts.keep_values, src.read_ahead):
            read += built.rows_read
            loaded += len(built.pieces)
            pieces = built.pieces
            del built
            if bar is not None and src.bytes_read is not None:
                bar.update(src.bytes_read() - bar.n)
            yield PiecesBatch(index, src.table, attempt, pieces)
    finally:
        if bar is not None:
            bar.close()
    if loaded + len(ctx.rejections) != read:  # pragma: no cover - an internal invariant
        msg = f"{src.path}: {read} rows read but {loaded} loaded and {len(ctx.rejections)} rejected"
        raise XcomlabError(msg)
    rep = TableReport(src.table, src.airflow_schema, tuple(src.columns), read, loaded,
                      len(ctx.rejections), src.sizes_exact)
    reports.append(rep)
    yield PiecesBatch(index, src.table, attempt, None, rep, tuple(ctx.rejections), tuple(src.notes))
