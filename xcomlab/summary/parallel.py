"""One export file summarised by several processes, each over a shard of its rows, then merged.

:func:`summarize_shards` cuts a plain CSV file on record boundaries or a Parquet file on
row groups (:mod:`xcomlab.ingest.split`) into a few shards per process. This process takes
shards from the front of the file and the workers (:class:`concurrent.futures.ProcessPoolExecutor`,
started with ``spawn``: Arrow's threads do not survive ``fork``) from the back, until they
meet: a worker that starts late (a fresh interpreter imports pandas and pyarrow) or gets
less CPU simply reads fewer shards. The :class:`~xcomlab.summary.core.Summary` of every
shard is merged (merging is associative and commutative, and a row's sample key depends on
the row alone, so the result equals the one-process summary). Workers get a path and spans
and send back only summaries: export data never crosses a pipe.

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
from xcomlab.ingest.split import SHARD_MIN_BYTES, newlines_before, shards, splittable
from xcomlab.summary.core import Summary, merge_all

__all__ = ["Jobs", "resolve_jobs", "summarize_shards"]

#: ``jobs`` as given: a count, or ``"auto"``.
Jobs = int | str
#: Processes ``jobs="auto"`` uses at most: the cores a summary keeps busy (the reader and
#: builder threads of one process already use more than one).
AUTO_JOBS = 2
#: CPUs below which ``"auto"`` stays with one process: on 2 CPUs one process already keeps
#: ~1.25 of them busy (Arrow's parser threads), and a second process's start and merge cost
#: more than it gives (benchmarks/README.md#scale, 7 Dec 2026: 1M rows, 3.61 s with one
#: process, 4.44 s with two).
AUTO_MIN_CPUS = 4
#: Seconds between two updates of the shared progress bar.
_TICK_S = 0.25
#: Shards per process, so the processes can even out (each shard costs a reader's start
#: and a part in the merge: a few, not many) …
SHARDS_PER_JOB = 2
#: … and no shard smaller than this.
SHARD_BYTES = 64 << 20


def resolve_jobs(jobs: Jobs, source: Any) -> int:
    """Processes to summarise ``source`` with: ``jobs`` itself, or for ``"auto"``
    :data:`AUTO_JOBS` for a file over :data:`~xcomlab.ingest.split.SHARD_MIN_BYTES` on a
    machine of at least :data:`AUTO_MIN_CPUS` CPUs, else 1; also 1 when no core is idle (the 1-minute load average is at or over the CPUs): a
    second process then only adds its start and the merge to the CPU the read takes."""
    if jobs == "auto":
        if not isinstance(source, (str, os.PathLike)) or not os.path.isfile(source):
            return 1
        if os.path.getsize(source) < SHARD_MIN_BYTES or _cpus() < AUTO_MIN_CPUS or _busy():
            return 1
        return AUTO_JOBS
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        msg = f"jobs={jobs!r}; expected a count of processes (1, 2, …) or 'auto'"
        raise ValueError(msg)
    return jobs


def _busy() -> bool:
    try:
        return os.getloadavg()[0] >= _cpus()
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        return False


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def summarize_shards(source: Any, jobs: int, summarize: Callable[..., Summary],
                     **options: Any) -> Summary | None:
    """The summary of ``source`` read by ``jobs`` processes, or None when it is not cut
    (a format read whole, Parquet of one row group: the caller then reads it in one process).

    ``summarize`` is :func:`xcomlab.summary.summarize_file` (passed in, not imported: it
    calls this module); ``options`` are its keyword arguments, ``progress`` included.
    """
    fmt, label = resolve_format(source, options.get("format"))
    if not splittable(source, fmt):
        return None
    path = os.fspath(source)
    most = _count(path, jobs)
    # Parquet: cut first (its footer is cheap), a single row group is read whole
    spans = shards(path, fmt, most) if fmt == "parquet" else None
    if fmt == "parquet" and (spans is None or len(spans) < 2):
        return None
    progress = options.pop("progress", None)
    bar = _bar(path, fmt, progress)
    ctx = mp.get_context("spawn")
    # bytes read per shard; a stop flag raised when a shard failed; the next shard from
    # the front and from the back (none until the file is cut)
    state = ctx.Array("q", [0] * most + [0, 0, -1], lock=False)
    lock = ctx.Lock()
    parts: dict[int, Summary] | None = None
    try:
        with ProcessPoolExecutor(jobs - 1, mp_context=ctx, initializer=_init,
                                 initargs=(state, lock, most)) as pool:
            # the workers' interpreters start (and import) while this process cuts the file
            for _ in range(jobs - 1):
                pool.submit(_ready)
            try:
                _init(state, lock, most)
                spans = spans or shards(path, fmt, most) or [(0, os.path.getsize(path))]
                state[most + 2] = len(spans) - 1
                futures = [pool.submit(_worker, summarize, path, spans, options)
                           for _ in range(jobs - 1)]
                parts = {}
                while (i := _claim(front=True)) is not None:
                    parts[i] = summarize(path, span=spans[i], jobs=1, **options,
                                         progress=_SharedBar(i, bar))
                parts.update(_results(futures, bar))
            except Exception:
                parts = None
                state[most] = 1  # the workers stop at their next batch
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _init(None, None, 0)
        if bar is not None:
            bar.close()
    if parts is None or spans is None:
        return _one_process(summarize, path, progress, options)
    return _merged([parts[i] for i in range(len(spans))], spans, path, fmt, label)


def _count(path: str, jobs: int) -> int:
    """Shards to cut ``path`` into at most: :data:`SHARDS_PER_JOB` a process, none under
    :data:`SHARD_BYTES` (at least ``jobs``)."""
    return max(jobs, min(jobs * SHARDS_PER_JOB, os.path.getsize(path) // SHARD_BYTES))


def _ready() -> None:
    """A worker's first task: nothing; submitting it starts the worker's interpreter."""


def _one_process(summarize: Callable[..., Summary], path: str, progress: Any,
                 options: dict[str, Any]) -> Summary:
    """The file read again by this process alone after a shard failed: it raises the error a
    one-process read raises (the first bad row in file order)."""
    return summarize(path, jobs=1, progress=progress, **options)


def _results(futures: list[Future[list[tuple[int, Summary]]]], bar: Any) -> dict[int, Summary]:
    """The workers' summaries by shard (raising the first failure seen)."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=_TICK_S, return_when=FIRST_EXCEPTION)
        _tick(bar)
        for f in futures:
            if f.done() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
    return {i: s for f in futures for i, s in f.result()}


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


#: The state the processes share (set by :func:`_init` in each): bytes read per shard,
#: the stop flag, the next shard from the front and from the back; its lock; the shards.
_STATE: Any = None
_LOCK: Any = None
_N = 0


def _init(state: Any, lock: Any, n: int) -> None:
    global _STATE, _LOCK, _N
    _STATE, _LOCK, _N = state, lock, n


def _claim(*, front: bool) -> int | None:
    """The next shard nobody took, from the front of the file or from its back (None: all
    are taken)."""
    with _LOCK:
        first, last = _STATE[_N + 1], _STATE[_N + 2]
        if first > last or _STATE[_N]:
            return None
        if front:
            _STATE[_N + 1] = first + 1
            return int(first)
        _STATE[_N + 2] = last - 1
        return int(last)


def _tick(bar: Any) -> None:
    if bar is not None and _STATE is not None:
        bar.update(sum(_STATE[:_N]) - bar.n)


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
        if _STATE is not None:
            if _STATE[_N]:
                raise _Stopped
            _STATE[self.index] = self.n
            _tick(self.bar)

    def close(self) -> None:
        pass


def _worker(summarize: Callable[..., Summary], path: str, spans: list[tuple[int, int]],
            options: dict[str, Any]) -> list[tuple[int, Summary]]:
    """A worker's shards, taken from the back of the file until none is left."""
    out = []
    while (i := _claim(front=False)) is not None:
        out.append((i, summarize(path, span=spans[i], jobs=1, progress=_SharedBar(i), **options)))
    return out
