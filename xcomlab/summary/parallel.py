"""One export file summarised by several processes, each over a shard of its rows, then merged.

:func:`summarize_shards` cuts a plain CSV file on record boundaries or a Parquet file on
row groups (:mod:`xcomlab.ingest.split`), summarises the first shard in this process and
every other in a worker process (:class:`concurrent.futures.ProcessPoolExecutor`, started
with ``spawn``: Arrow's threads do not survive ``fork``), and merges the
:class:`~xcomlab.summary.core.Summary` each returns (merging is associative and
commutative, and a row's sample key depends on the row alone, so the result equals the
one-process summary). Workers get a path and a span and send back only summaries: export
data never crosses a pipe.

A shard's rows and lines are numbered from its start; its rejections are renumbered here
(rows after the earlier shards' rows, lines after the newlines before its first byte).
When any shard fails, the file is read again in this process, so the error raised is the
one a one-process read raises (the first bad row in file order, named by file, line and
row).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any

from xcomlab.errors import Rejection
from xcomlab.ingest.formats import resolve_format
from xcomlab.ingest.loader import PROGRESS_MIN_BYTES, LoadReport, TableReport
from xcomlab.ingest.source import TableSource
from xcomlab.ingest.split import SHARD_MIN_BYTES, newlines_before, shards
from xcomlab.summary.core import Summary, merge_all

__all__ = ["Jobs", "resolve_jobs", "summarize_shards"]

#: ``jobs`` as given: a count, or ``"auto"``.
Jobs = int | str
#: Processes ``jobs="auto"`` uses at most: the cores a summary keeps busy (the reader and
#: builder threads of one process already use more than one).
AUTO_JOBS = 2
#: Seconds between two updates of the shared progress bar.
_TICK_S = 0.25


def resolve_jobs(jobs: Jobs, source: Any) -> int:
    """Processes to summarise ``source`` with: ``jobs`` itself, or for ``"auto"``
    ``min(2, CPUs)`` for a file over :data:`~xcomlab.ingest.split.SHARD_MIN_BYTES`, else 1."""
    if jobs == "auto":
        if not isinstance(source, (str, os.PathLike)) or not os.path.isfile(source):
            return 1
        if os.path.getsize(source) < SHARD_MIN_BYTES:
            return 1
        return max(1, min(AUTO_JOBS, _cpus()))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        msg = f"jobs={jobs!r}; expected a count of processes (1, 2, …) or 'auto'"
        raise ValueError(msg)
    return jobs


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def summarize_shards(source: Any, jobs: int, summarize: Callable[..., Summary],
                     **options: Any) -> Summary | None:
    """The summary of ``source`` read by ``jobs`` processes, or None when it is not cut
    (a format read whole, a small file: the caller then reads it in one process).

    ``summarize`` is :func:`xcomlab.summary.summarize_file` (passed in, not imported: it
    calls this module); ``options`` are its keyword arguments, ``progress`` included.
    """
    fmt, label = resolve_format(source, options.get("format"))
    spans = shards(source, fmt, jobs)
    if spans is None or len(spans) < 2:
        return None
    path = os.fspath(source)
    progress = options.pop("progress", None)
    bar = _bar(path, fmt, progress)
    # bytes read per shard, then a stop flag the parent raises when a shard failed
    counts = mp.get_context("spawn").Array("q", len(spans) + 1, lock=False)
    parts: list[Summary] | None = None
    try:
        with ProcessPoolExecutor(len(spans) - 1, mp_context=mp.get_context("spawn"),
                                 initializer=_init, initargs=(counts,)) as pool:
            futures = [pool.submit(_shard, summarize, path, span, i, options)
                       for i, span in enumerate(spans[1:], start=1)]
            try:
                _init(counts)
                first = summarize(path, span=spans[0], jobs=1, **options,
                                  progress=_SharedBar(0, bar))
                parts = [first, *_results(futures, counts, bar)]
            except Exception:
                counts[len(spans)] = 1  # the workers stop at their next batch
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _init(None)
        if bar is not None:
            bar.close()
    if parts is None:
        return _one_process(summarize, path, progress, options)
    return _merged(parts, spans, path, fmt, label)


def _one_process(summarize: Callable[..., Summary], path: str, progress: Any,
                 options: dict[str, Any]) -> Summary:
    """The file read again by this process alone after a shard failed: it raises the error a
    one-process read raises (the first bad row in file order)."""
    return summarize(path, jobs=1, progress=progress, **options)


def _results(futures: list[Future[Summary]], counts: Any, bar: Any) -> list[Summary]:
    """The workers' summaries in shard order (raising the first failure seen)."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=_TICK_S, return_when=FIRST_EXCEPTION)
        _tick(bar, counts)
        for f in futures:
            if f.done() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def _merged(parts: list[Summary], spans: list[tuple[int, int]], path: str, fmt: str,
            label: str) -> Summary:
    """One summary of the shards', with one load report naming file rows and lines."""
    reports: list[TableReport] = []
    rejections: list[Rejection] = []
    notes: list[str] = []
    rows_before = 0
    for part, span in zip(parts, spans, strict=True):
        rep = part.report
        if rep is None:  # pragma: no cover - summarize_file always sets one
            continue
        lines = newlines_before(path, span[0]) if rep.rejections and fmt == "csv" else 0
        rejections.extend(_renumbered(r, rows_before, lines) for r in rep.rejections)
        notes.extend(n for n in rep.notes if n not in notes)
        reports.extend(rep.tables)
        rows_before += sum(t.rows_read for t in rep.tables)
    tables = _sum_tables(reports)
    rejections.sort(key=lambda r: (r.path, r.table, r.row or 0))
    report = LoadReport(label, fmt, tables, tuple(rejections), tuple(notes))
    return replace(merge_all(parts), report=report)


def _renumbered(r: Rejection, rows_before: int, lines_before: int) -> Rejection:
    return replace(r, row=None if r.row is None else r.row + rows_before,
                   line=None if r.line is None else r.line + lines_before)


def _sum_tables(reports: list[TableReport]) -> tuple[TableReport, ...]:
    """The shards' reports of one table as one (its rows summed; schemas and columns are
    the file's, told from its start by every shard alike)."""
    if not reports:
        return ()
    t = reports[0]
    return (replace(t, rows_read=sum(r.rows_read for r in reports),
                    rows_loaded=sum(r.rows_loaded for r in reports),
                    rows_rejected=sum(r.rows_rejected for r in reports),
                    sizes_exact=all(r.sizes_exact for r in reports)),)


def _bar(path: str, fmt: str, progress: bool | None) -> Any:
    """One bar of bytes read by every shard (CSV: Parquet readers report no bytes)."""
    if fmt != "csv" or progress is False:
        return None
    size = os.path.getsize(path)
    if progress is None and not (size >= PROGRESS_MIN_BYTES and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=size, unit="B", unit_scale=True, leave=False,
                desc=f"{os.path.basename(path)}:xcom")


#: Bytes read per shard, shared by the workers (set by :func:`_init` in each process).
_COUNTS: Any = None


def _init(counts: Any) -> None:
    global _COUNTS
    _COUNTS = counts


def _tick(bar: Any, counts: Any) -> None:
    if bar is not None:
        bar.update(sum(counts[:-1]) - bar.n)


class _Stopped(Exception):  # noqa: N818 - control flow, never escapes this module
    """Raised in a worker whose parent gave up on the read (another shard failed)."""


class _SharedBar:
    """What a shard's reader updates in place of a tqdm bar: the shard's bytes read, in
    the shared counts (and the real bar, in the process that draws it)."""

    def __init__(self, index: int, bar: Any = None) -> None:
        self.index, self.bar, self.n = index, bar, 0

    def __call__(self, src: TableSource) -> _SharedBar:
        return self

    def update(self, k: int) -> None:
        self.n += k
        if _COUNTS is not None:
            if _COUNTS[len(_COUNTS) - 1]:
                raise _Stopped
            _COUNTS[self.index] = self.n
            _tick(self.bar, _COUNTS)

    def close(self) -> None:
        pass


def _shard(summarize: Callable[..., Summary], path: str, span: tuple[int, int], index: int,
           options: dict[str, Any]) -> Summary:
    """One worker's shard (run in a worker process)."""
    return summarize(path, span=span, jobs=1, progress=_SharedBar(index), **options)
