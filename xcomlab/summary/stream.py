"""``summarize_file``: the summary of an export streamed batch by batch (no whole frame)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import Rejection
from xcomlab.ingest.batches import iter_pieces
from xcomlab.ingest.formats import resolve_format
from xcomlab.ingest.loader import LoadReport, TableReport
from xcomlab.ingest.pieces import BatchPieces, Coded, Masked
from xcomlab.summary.core import Columns, Summary, merge_all, summarize_columns
from xcomlab.summary.groupby import Factor

__all__ = ["PENDING", "summarize_file"]

#: Batch summaries held before they are folded into the running one: one merge per
#: :data:`PENDING` batches keeps the cost of merging near linear in the groups.
PENDING = 16


def summarize_file(source: str | os.PathLike[str] | Any, **load_options: Any) -> Summary:
    """Summarise an export without building its frame: memory grows with groups, not rows.

    Parameters
    ----------
    source
        Anything :func:`xcomlab.load_export` reads.
    **load_options
        ``format, tables, errors, airflow_schema, value_mode, chunk_rows`` as for
        :func:`xcomlab.ingest.batches.iter_frames`.

    Returns
    -------
    Summary
        Equal to ``summarize_frame(load_export(source, ...))``, with the read's
        :class:`~xcomlab.ingest.loader.LoadReport` in ``report``.
    """
    done = Summary.empty()
    table = Summary.empty()  # the current table, folded into ``done`` when it ends
    pending: list[Summary] = []
    current = (-1, 0)
    reports: list[TableReport] = []
    rejections: list[Rejection] = []
    notes: list[str] = []
    for item in iter_pieces(source, **load_options):
        if item.report is not None:
            reports.append(item.report)
            rejections.extend(item.rejections)
            notes.extend(item.notes)
        if (item.table_index, item.attempt) != current:
            if item.table_index != current[0]:
                done = merge_all([done, table, *pending])
            # a new table, or the fast path gave up: drop what the old attempt summarised
            table, pending = Summary.empty(), []
            current = (item.table_index, item.attempt)
        if item.pieces is not None and len(item.pieces):
            pending.append(summarize_columns(pieces_columns(item.pieces), canonical=False))
        if len(pending) >= PENDING:
            table, pending = merge_all([table, *pending]), []
    fmt, label = resolve_format(source, load_options.get("format"))
    rejections.sort(key=lambda r: (r.path, r.table, r.row or 0))
    report = LoadReport(label, fmt, tuple(reports), tuple(rejections), tuple(notes))
    return dataclasses.replace(merge_all([done, table, *pending]), report=report)


_ENCODINGS = pd.Index(list(S.ENCODINGS), dtype="object")
_SCHEMAS = pd.Index(list(S.AIRFLOW_SCHEMAS), dtype="object")


def pieces_columns(pieces: BatchPieces) -> Columns:
    """The :class:`~xcomlab.summary.core.Columns` of one built batch, read from its typed
    pieces (no frame is made): the same values the frame would hold."""
    n = len(pieces)
    size = _masked(pieces.value_bytes, n)
    micros = _masked(pieces.timestamp, n)
    run_id, ref = _masked(pieces.dag_run_id, n), _masked(pieces.ref_bytes, n)
    reference = np.zeros(n, dtype=np.bool_)
    if pieces.ref_uri is not None:
        reference[pieces.ref_uri.rows] = True
    return Columns(
        ids={name: _factor(coded, n) for name, coded in pieces.identifiers()},
        known=~size[1], exact=np.where(size[1], 0, size[0]),
        nanos=micros[0] * 1000, nat=micros[1],
        encoding=Factor(np.asarray(pieces.encoding, dtype=np.int64), _ENCODINGS),
        has_nan=np.asarray(pieces.has_nan, dtype=bool),
        internal=np.asarray(pieces.internal, dtype=bool), reference=reference,
        schema=Factor(np.full(n, pieces.airflow_schema, dtype=np.int64), _SCHEMAS),
        size_exact=np.asarray(pieces.size_exact, dtype=bool), result=~_masked(pieces.dag_result, n)[1],
        mapped=np.asarray(pieces.map_index, dtype=np.int64) >= 0,
        dag_run_id=np.where(run_id[1], -1, run_id[0]), ref_bytes=np.where(ref[1], 0, ref[0]))


def _factor(coded: Coded, n: int) -> Factor:
    labels = pd.Index(coded.words, dtype="object")
    if isinstance(coded.codes, int):
        codes = np.full(n, coded.codes, dtype=np.int64)
    else:
        codes = np.asarray(coded.codes, dtype=np.int64)
    if (codes < 0).any():  # null: one more label, as for a frame's categories
        codes = np.where(codes < 0, len(labels), codes)
        labels = labels.append(pd.Index([np.nan], dtype="object"))
    return Factor(codes, labels)


def _masked(col: Masked, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, null mask) of a nullable column of ``n`` rows."""
    if col.values is None:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.bool_)
    mask = np.zeros(n, dtype=np.bool_) if col.mask is None else np.asarray(col.mask, dtype=bool)
    return np.asarray(col.values, dtype=np.int64), mask
