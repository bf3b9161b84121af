"""``summarize_file``: the summary of an export streamed batch by batch (no whole frame)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import Rejection
from xcomlab.ingest.allocator import release_memory
from xcomlab.ingest.batches import iter_pieces
from xcomlab.ingest.formats import resolve_format
from xcomlab.ingest.loader import LoadReport, TableReport
from xcomlab.ingest.pieces import BatchPieces, Coded, Masked
from xcomlab.ingest.sample import ValueSample, batch_keys
from xcomlab.ingest.secret_rules import scan_batch
from xcomlab.summary.accumulate import Accumulator
from xcomlab.summary.core import (
    FINDING_COLUMNS,
    Columns,
    Summary,
    _typed,
    coarsen,
    grouped_parts,
    merge_all,
    small_tables,
)
from xcomlab.summary.groupby import Factor
from xcomlab.summary.parallel import Jobs, resolve_jobs, summarize_shards
from xcomlab.summary.runs import MAX_EXACT_RUN_KEYS

__all__ = ["MAX_PENDING", "PENDING", "release_memory", "summarize_file"]

#: Batch summaries of the few-group tables held before they are folded into the running
#: one (the grouped tables fold in code space: :mod:`xcomlab.summary.accumulate`): at
#: least this many, and more while their rows are under a quarter of the running one's
#: (its ``secret_rows`` grow to 50 per group: re-sorting them every 16 batches made a fold
#: take 0.4 s at the start of a 100M-row export and 12 s towards its end), at most
#: :data:`MAX_PENDING`.
PENDING = 16
MAX_PENDING = 256


def summarize_file(source: str | os.PathLike[str] | Any, *, secrets: bool = True,
                   sample: bool | None = None, jobs: Jobs = 1,
                   max_run_keys: int = MAX_EXACT_RUN_KEYS, **load_options: Any) -> Summary:
    """Summarise an export without building its frame: memory grows with groups, not rows.

    Parameters
    ----------
    source
        Anything :func:`xcomlab.load_export` reads.
    secrets
        Scan the stored values for secrets (the ``secrets`` and ``secret_rows`` tables):
        one RE2 prefilter over each batch's bytes, Python only for the rows it picks.
    sample
        Keep the bounded value sample (:class:`~xcomlab.ingest.sample.ValueSample`);
        None: as :func:`xcomlab.load_export` does (every format but SQL dumps).
    jobs
        Processes that read the file (:mod:`xcomlab.summary.parallel`), each a shard of
        its rows, merged into the same summary one process makes: a plain CSV file is
        cut on record boundaries, a Parquet file on row groups. pg_dump, JSON Lines,
        SQLite, compressed files and directories are read by one process whatever
        ``jobs`` says. ``"auto"``: 2 for a file over 64 MiB on 4 or more CPUs when they are
        idle (load average under the CPUs), else 1 (on 2 CPUs a second process costs more
        than it gives).
    max_run_keys
        ``run_keys`` groups kept exact; the oldest runs beyond are rolled up per day
        (:mod:`xcomlab.summary.runs`), so memory stays bounded on any number of runs.
    **load_options
        ``format, tables, errors, airflow_schema, value_mode, chunk_rows, progress, span`` as for
        :func:`xcomlab.ingest.batches.iter_pieces` (``progress``: a bar of bytes read of
        the file's size on stderr; by default only for files over 64 MiB on a terminal).

    Returns
    -------
    Summary
        Equal to ``summarize_frame(load_export(source, keep_values=secrets, ...))``
        (the same sample, drawn the same way), with the read's
        :class:`~xcomlab.ingest.loader.LoadReport` in ``report``.
    """
    n_jobs = resolve_jobs(jobs, source)
    if n_jobs > 1:
        whole = summarize_shards(source, n_jobs, summarize_file, secrets=secrets, sample=sample,
                                 max_run_keys=max_run_keys, **load_options)
        if whole is not None:
            return whole
    if sample is None:
        fmt, _ = resolve_format(source, load_options.get("format"))
        sample = fmt != "sql"
    root = ValueSample() if sample else None
    part: ValueSample | None = None
    # the grouped tables in code space; the few-group tables as pandas tables
    done = Accumulator(max_run_keys=max_run_keys)
    table = Accumulator(done.labels, max_run_keys=max_run_keys)
    done_small, table_small = Summary.empty(), Summary.empty()
    pending: list[Summary] = []
    current = (-1, 0)
    reports: list[TableReport] = []
    rejections: list[Rejection] = []
    notes: list[str] = []
    for item in iter_pieces(source, values=secrets or sample, **load_options):
        if item.report is not None:
            reports.append(item.report)
            rejections.extend(item.rejections)
            notes.extend(item.notes)
        if (item.table_index, item.attempt) != current:
            if item.table_index != current[0]:
                done.absorb(table)
                done_small = merge_all([done_small, table_small, *pending])
                if root is not None and part is not None:
                    root.absorb(part)
            # a new table, or the fast path gave up: drop what the old attempt summarised
            table, table_small, pending = (Accumulator(done.labels, max_run_keys=max_run_keys),
                                           Summary.empty(), [])
            current = (item.table_index, item.attempt)
            # as load_export: a sample part per table attempt (a restart drops it)
            part = root.spawn(int(root.rows.sum())) if root is not None else None
        pieces = item.pieces
        if pieces is not None and len(pieces):
            found = _findings(pieces) if secrets else None
            if part is not None and pieces.value is not None:
                part.add(pieces.value, batch_keys(pieces, part.seed))
            cols = pieces_columns(pieces)
            table.add(grouped_parts(cols))
            pending.append(_small_summary(small_tables(cols, findings=found, sampled=part is not None)))
        if len(pending) >= PENDING and (len(pending) >= MAX_PENDING
                                        or 4 * _rows(pending) >= _rows([table_small])):
            table_small, pending = merge_all([table_small, *pending]), []
    if root is not None and part is not None:
        root.absorb(part)
    fmt, label = resolve_format(source, load_options.get("format"))
    rejections.sort(key=lambda r: (r.path, r.table, r.row or 0))
    report = LoadReport(label, fmt, tuple(reports), tuple(rejections), tuple(notes))
    done.absorb(table)
    small = merge_all([done_small, table_small, *pending])
    release_memory()  # the reader's buffers, before the tables are made
    grouped: dict[str, Any] = done.frames()
    del done, table
    release_memory()
    return coarsen(replace(small, **grouped, sample=root, report=report), max_run_keys)


def _rows(summaries: list[Summary]) -> int:
    """Rows of the tables that grow as a stream goes on (findings, largest rows)."""
    return sum(len(s.secret_rows) + len(s.secrets) + len(s.largest) for s in summaries)


def _small_summary(tables: dict[str, pd.DataFrame]) -> Summary:
    """A summary holding a batch's few-group tables (its grouped ones empty)."""
    typed: dict[str, Any] = {name: _typed(name, t) for name, t in tables.items()}
    return replace(Summary.empty(), **typed)


def _findings(pieces: BatchPieces) -> pd.DataFrame:
    """The row-level secret findings of one built batch (:data:`FINDING_COLUMNS`): the
    prefilter runs over the Arrow value column; only candidate rows reach Python."""
    empty = pd.DataFrame({c: [] for c in FINDING_COLUMNS})
    if pieces.value is None:
        return empty
    key = pieces.key
    hits = scan_batch(pieces.value, key.codes, key.words)
    if not hits:
        return empty
    rows = np.array([h[0] for h in hits], dtype=np.int64)
    n = len(pieces)
    cols: dict[str, Any] = {}
    for name, coded in pieces.identifiers():
        f = _factor(coded, n)
        cols[name] = f.labels.take(f.codes[rows]).to_numpy(dtype=object)
    cols[S.MAP_INDEX] = np.asarray(pieces.map_index, dtype=np.int64)[rows]
    cols["kind"] = [h[1] for h in hits]
    cols["evidence"] = [h[2] for h in hits]
    return pd.DataFrame(cols)[list(FINDING_COLUMNS)]


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
        dag_run_id=np.where(run_id[1], -1, run_id[0]), ref_bytes=np.where(ref[1], 0, ref[0]),
        map_index=np.asarray(pieces.map_index, dtype=np.int64))


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
