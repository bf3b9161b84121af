"""Where one export file can be cut into shards that readers in other processes read alone.

A shard is a ``span``: bytes ``[start, stop)`` of a plain CSV file cut on record
boundaries, or row groups ``[start, stop)`` of a Parquet file
(:attr:`xcomlab.ingest.formats.ReaderOptions.span`). Only these two formats are cut:
cutting them is cheap and safe. pg_dump and JSON Lines files, SQLite databases,
compressed files and directories are read whole (:func:`shards` returns None).

CSV: a quoted field may hold newlines, so a newline ends a record only outside quotes.
psql's ``csv`` format (and Python's :mod:`csv` writer, which ``airflow db export-archived``
uses) quotes every field holding a quote, comma or newline and doubles the quotes inside
(PostgreSQL docs, "COPY", section "CSV Format", v16, 2023), so every ``"`` belongs to a
quoted field and a newline is outside quotes exactly when the number of ``"`` before it is
even. A cut is the first such newline at or after an even share of the file's bytes: one
count of ``"`` up to the cut (memchr speed, no parsing), then a short scan forward.
"""

from __future__ import annotations

import io
import itertools
import mmap
import os
from pathlib import Path

import numpy as np

from xcomlab.ingest.compressed import codec_of

__all__ = ["SHARD_MIN_BYTES", "csv_spans", "newlines_before", "open_span", "parquet_spans",
           "shards", "splittable"]

#: Files smaller than this are read in one process by ``jobs="auto"``: starting workers
#: (a fresh interpreter importing pandas and pyarrow) costs about a second.
SHARD_MIN_BYTES = 64 << 20
#: Bytes counted or scanned per step.
_STEP = 16 << 20
_SCAN = 1 << 20
_QUOTE, _NEWLINE = 0x22, 0x0A


def splittable(source: object, fmt: str) -> bool:
    """Whether :func:`shards` cuts ``source``: a plain (uncompressed) CSV or Parquet file."""
    if fmt not in ("csv", "parquet") or not isinstance(source, (str, os.PathLike)):
        return False
    p = Path(source)
    return p.is_file() and codec_of(p) is None


def shards(source: object, fmt: str, jobs: int) -> list[tuple[int, int]] | None:
    """Up to ``jobs`` spans covering ``source`` in order, or None when it is read whole
    (``jobs`` below 2, a format that is not cut, a compressed file, a directory)."""
    if jobs < 2 or not isinstance(source, (str, os.PathLike)) or not splittable(source, fmt):
        return None
    p = Path(source)
    if fmt == "csv":
        return csv_spans(p, jobs)
    if fmt == "parquet":
        return parquet_spans(p, jobs)
    return None


def csv_spans(path: str | os.PathLike[str], jobs: int) -> list[tuple[int, int]]:
    """``jobs`` byte spans of a CSV file, each made of whole records (the first holds the
    header; a span may be empty when records are longer than a share)."""
    size = os.path.getsize(path)
    if size == 0:
        return [(0, 0)]
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        head = m.find(b"\n")
        data = size if head < 0 else head + 1
        cuts = [0]
        quotes, counted = 0, 0  # quotes in m[:counted]
        for i in range(1, jobs):
            target = max(data + (size - data) * i // jobs, cuts[-1])
            quotes += _count(m, counted, target)
            counted = target
            cuts.append(_next_boundary(m, target, quotes))
    cuts.append(size)
    return [(a, max(a, b)) for a, b in itertools.pairwise(cuts)]


def _count(m: mmap.mmap, start: int, stop: int) -> int:
    """The ``"`` in ``m[start:stop]`` (numpy on the mapping: no copy)."""
    n = 0
    for a in range(start, stop, _STEP):
        n += _quotes(m, a, min(a + _STEP, stop))
    return n


def _quotes(m: mmap.mmap, start: int, stop: int) -> int:
    view = np.frombuffer(m, dtype=np.uint8, count=stop - start, offset=start)
    return int(np.count_nonzero(view == _QUOTE))  # the view dies here: the mapping can close


def _next_boundary(m: mmap.mmap, at: int, quotes: int) -> int:
    """The first offset at or after ``at`` that starts a record: just after a newline with
    an even count of ``"`` before it (``quotes`` counts those before ``at``)."""
    size = len(m)
    while at < size:
        chunk = np.frombuffer(m[at:min(at + _SCAN, size)], dtype=np.uint8)
        seen = np.cumsum(chunk == _QUOTE)
        ends = np.flatnonzero(chunk == _NEWLINE)
        even = ends[(quotes + seen[ends]) % 2 == 0]
        if len(even):
            return at + int(even[0]) + 1
        quotes += int(seen[-1])
        at += len(chunk)
    return size


def newlines_before(path: str | os.PathLike[str], offset: int) -> int:
    """Newlines in the file's first ``offset`` bytes (a shard's first line is one more)."""
    with open(path, "rb") as f:
        n = 0
        left = offset
        while left > 0:
            chunk = f.read(min(_STEP, left))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def parquet_spans(path: str | os.PathLike[str], jobs: int) -> list[tuple[int, int]]:
    """Up to ``jobs`` runs of whole row groups of about equal bytes (fewer when the file
    has fewer row groups)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    n = meta.num_row_groups
    if n < 2:
        return [(0, n)]
    size = np.cumsum([max(meta.row_group(g).total_byte_size, 1) for g in range(n)])
    cuts = [0]
    for i in range(1, jobs):
        g = int(np.searchsorted(size, size[-1] * i / jobs)) + 1
        cuts.append(min(max(g, cuts[-1]), n))
    cuts.append(n)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


class _Span(io.RawIOBase):
    """Bytes ``[start, stop)`` of a file as a stream of their own."""

    def __init__(self, path: str | os.PathLike[str], start: int, stop: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(b), self._left)
        if want <= 0:
            return 0
        got = self._f.readinto(memoryview(b)[:want])
        self._left -= got or 0
        return got or 0

    def close(self) -> None:
        self._f.close()
        super().close()


def open_span(path: str | os.PathLike[str], span: tuple[int, int], *, errors: str = "strict") -> io.TextIOWrapper:
    """Bytes ``span`` of ``path`` as UTF-8 text (newlines kept as written, for :mod:`csv`)."""
    raw = io.BufferedReader(_Span(path, *span), buffer_size=1 << 20)
    return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, newline="")
