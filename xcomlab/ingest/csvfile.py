"""CSV exports: ``psql \\copy … csv header`` and ``airflow db export-archived``.

Columns are found by header name (their physical order depends on how the database
was created). A fast path streams a read-only mapping of the file through Arrow's
CSV parser (integers, booleans and ``+00`` timestamps converted by the parser,
everything else read as bytes and checked in the loader's builder threads);
malformed input switches to an exact row-by-row reader that names the bad line.
A file truncated while it loads stops the process (as with any mapped file).
A compressed export (gzip, zstd, xz: :mod:`xcomlab.ingest.compressed`) is decompressed
into the same parser as a stream instead of being mapped.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import mmap
import os
import re
import sys
import threading
import weakref
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError, Reason, Rejection
from xcomlab.ingest.compressed import (
    arrow_stream,
    codec_of,
    compressed_tell,
    corrupt,
    inner_name,
    open_binary,
    open_text,
)
from xcomlab.ingest.failures import guard
from xcomlab.ingest.normalize import RawBatch, detect_schema
from xcomlab.ingest.source import SlowPath, TableSource, is_xcom_table
from xcomlab.ingest.split import open_span
from xcomlab.ingest.values import ValueMode, detect_mode, values_from_text

__all__ = ["frame_columns", "read_csv"]

#: Export column name → frame column name (``execution_date`` is 1.10–2.2's logical date).
RENAME = {"execution_date": S.LOGICAL_DATE}
ID_COLUMNS = (S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.DAG_RUN_ID, S.TIMESTAMP,
              S.LOGICAL_DATE, S.DAG_RESULT)
REQUIRED_EXPORT = ("dag_id", "task_id", "key", "value", "timestamp")
_SLOW_BATCH_ROWS = 50_000
#: Identifier columns the fast path reads dictionary-encoded: they repeat a lot, so
#: each distinct text is stored, checked and parsed once per batch.
_DICT_COLUMNS = frozenset({S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, S.DAG_RUN_ID,
                           S.DAG_RESULT})
_SAMPLE_ROWS = 200
#: Bytes of CSV the parser reads per block. Arrow's streaming reader reads a few
#: dozen blocks ahead; from a mapped file that costs no memory.
BLOCK_BYTES = 1 << 21
#: The largest read size tried before the exact reader: a PostgreSQL field holds at most
#: 1 GB (docs/storage.md), its CSV text (quotes doubled) a little more.
MAX_BLOCK_BYTES = 1 << 30
#: Bytes of parsed blocks built as one batch: big batches spend less time per row in
#: Python, and two builders then hold the GIL less (benchmarks/CHANGELOG.md#2026-12-06-ingest-fourth-round).
BATCH_BYTES = 1 << 24
#: Parsed batches the parser thread may hold ahead of the builders.
_READ_AHEAD = 2
#: Whether Arrow parses on its own threads too. No: the parser thread alone keeps
#: ahead of the builders, and more threads than cores only add switching and
#: memory (benchmarks/CHANGELOG.md#2026-12-06-ingest-fourth-round).
_PARSE_THREADS = False

#: Field size the exact reader allows: values can be hundreds of MB, far over the
#: :mod:`csv` module's default of 128 KiB.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved = 0


@contextlib.contextmanager
def _large_fields() -> Iterator[None]:
    """Raise :func:`csv.field_size_limit` while :mod:`csv` reads an export, then restore it.

    The limit is process-wide; overlapping reads (two loads in two threads) share one
    raise, and the caller's own limit comes back when the last of them ends.
    """
    global _limit_users, _limit_saved
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved = csv.field_size_limit(_FIELD_LIMIT)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                csv.field_size_limit(_limit_saved)


def frame_columns(names: list[str]) -> dict[str, str]:
    """Map export column names to frame names, keeping only the columns xcomlab uses."""
    out = {}
    for name in names:
        target = RENAME.get(name, name)
        if target in ID_COLUMNS or name == "value":
            out[name] = target
    return out


def _check_required(path: str, table: str, names: list[str], line: int | None = 1) -> None:
    missing = [c for c in REQUIRED_EXPORT if c not in names]
    if missing:
        where = f"{path}, line {line}" if line else f"{path}, table {table}"
        msg = (f"{where}: header {names!r} lacks {missing}; expected Airflow's xcom columns "
               f"(at least {list(REQUIRED_EXPORT)}). Export with `select * from xcom`.")
        raise ExportFormatError(msg, Rejection(path, table, None, line, missing[0],
                                               Reason.MISSING_COLUMN, "missing column"))


@guard
def read_csv(path: str, *, table: str | None = None, value_mode: ValueMode | None = None,
             airflow_schema: str | None = None,
             span: tuple[int, int] | None = None) -> Iterator[TableSource]:
    """Yield the one table a CSV export holds (only bytes ``span`` of it when given: whole
    records, :func:`xcomlab.ingest.split.csv_spans`; the header and the sample the value
    spelling is told from are still read from the file's start)."""
    p = Path(path)
    codec = codec_of(p)
    if span is not None and codec is not None:
        msg = f"{path}: a {codec}-compressed CSV is read whole, not in spans"
        raise ExportFormatError(msg)
    with open_binary(p, codec) as f:
        first = f.readline()
    if not first.strip():
        msg = f"{path}, line 1: the file is empty; expected a CSV header naming xcom columns"
        raise ExportFormatError(msg)
    crlf = first.endswith(b"\r\n")
    with _large_fields():
        header = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")]))
    names = [h.strip().strip('"').lower() for h in header]
    stem = Path(inner_name(p)).stem
    name = table or (stem if is_xcom_table(stem) else "xcom")
    _check_required(path, name, names)
    sample = _sample(p, names)
    mode = value_mode or detect_mode(sample["value"], crlf=crlf)
    schema = airflow_schema or detect_schema(
        set(names), json_values=mode in (ValueMode.JSON, ValueMode.PYTHON_REPR))
    notes = []
    if mode is ValueMode.MEMORY:
        notes.append(f"{path}: values were exported as '<memory at 0x…>' placeholders (airflow db "
                     "export-archived on PostgreSQL): value sizes are lost. Export with psql "
                     "\\copy or pg_dump to size them.")
    if mode is ValueMode.PYTHON_REPR:
        notes.append(f"{path}: values are Python reprs of decoded JSON (airflow db export-archived "
                     "on PostgreSQL, Airflow 3): value sizes are approximate. Export with psql "
                     "\\copy or pg_dump for exact sizes.")
    reader = _CsvReader(path, names, mode, _column_types(frame_columns(names), sample), codec, span)
    size = p.stat().st_size
    share = 1.0 if span is None or not size else (span[1] - span[0]) / size
    yield TableSource(
        path=path, table=name, columns=names, airflow_schema=schema,
        batches=reader.fast, fallback=reader.again, locate_line=reader.locate_line,
        notes=notes, sizes_exact=mode not in (ValueMode.MEMORY, ValueMode.PYTHON_REPR),
        total_bytes=size if span is None else span[1] - span[0], bytes_read=reader.tell,
        read_ahead=_READ_AHEAD, rows_hint=int(_rows_hint(p, codec) * share),
    )


def _rows_hint(p: Path, codec: str | None = None) -> int:
    """Rows of a CSV export, guessed from the line length of its first MiB (and, when
    compressed, from how much of the file that MiB took)."""
    size = p.stat().st_size
    with open_binary(p, codec) as f:
        head = f.read(1 << 20)
        used = compressed_tell(f) if codec else len(head)
    lines = head.count(b"\n")
    if not lines or not head or not used:
        return 0
    return int(size / used * lines * 1.05) + 1024


#: What a sample of a column's cells must look like for the fast path to let Arrow's
#: parser convert it (anything else found later sends the load to the exact reader).
_TYPED: dict[str, tuple[re.Pattern[str], pa.DataType]] = {
    S.MAP_INDEX: (re.compile(r"-?[0-9]{1,18}"), pa.int64()),
    S.DAG_RUN_ID: (re.compile(r"-?[0-9]{1,18}"), pa.int64()),
    S.DAG_RESULT: (re.compile(r"[tf]"), pa.bool_()),
    # PostgreSQL's timestamptz text in a UTC session (psql \copy, pg_dump).
    S.TIMESTAMP: (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?\+00"),
                  pa.timestamp("us", tz="UTC")),
}
_TYPED[S.LOGICAL_DATE] = _TYPED[S.TIMESTAMP]


def _column_types(used: dict[str, str], sample: dict[str, list[str]]) -> dict[str, pa.DataType]:
    """Arrow types the fast path reads columns as.

    Integer, boolean and timestamp columns whose sampled cells all have PostgreSQL's
    spelling are converted by the parser itself; all other columns are read as
    bytes and checked as UTF-8 afterwards (:func:`_as_text`): the parser's own
    per-cell UTF-8 check and dictionary building cost more than the whole parse.
    """
    types: dict[str, pa.DataType] = {}
    for name, column in used.items():
        typed = _TYPED.get(column)
        cells = [c for c in sample.get(name, []) if c]
        if typed is not None and cells and all(typed[0].fullmatch(c) for c in cells):
            types[name] = typed[1]
        else:
            types[name] = pa.binary()
    return types


def _as_text(arr: pa.Array) -> pa.Array:
    """A column read as bytes (:func:`_column_types`) as text, checked as UTF-8 in one pass.

    Raises :class:`pyarrow.ArrowInvalid` on a byte sequence that is not UTF-8, as the
    CSV parser would have. ASCII needs no check.
    """
    if pa.types.is_dictionary(arr.type):
        return pa.DictionaryArray.from_arrays(arr.indices, _as_text(arr.dictionary))
    data = arr.buffers()[2]
    if data is not None and data.size and np.frombuffer(data, dtype=np.uint8).max() >= 0x80:
        return arr.cast(pa.string())  # validates
    return arr.view(pa.string())


def _map(path: str) -> mmap.mmap:
    """The file mapped read-only: the parser reads the page cache in place instead of
    copying each block into fresh memory."""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # absent on Windows


def _release(mapped: mmap.mmap, start: int, stop: int) -> int:
    """Drop the mapping's pages in [start, stop) from this process; return where the
    next release starts. The pages stay in the page cache (touching them again reads
    them back), so the parsed part of a large export does not count towards the
    loader's memory."""
    stop -= stop % mmap.PAGESIZE
    if stop > start and _DONTNEED is not None:
        mapped.madvise(_DONTNEED, start, stop - start)
        return stop
    return start


def _cuts_crlf(path: str | os.PathLike[str], start: int, stop: int, block: int) -> bool:
    """Whether Arrow's reader of bytes ``[start, stop)`` of the file, which reads them
    ``block`` bytes at a time, would end a read between a ``\\r`` and a ``\\n``
    (:class:`_CrlfKept`). One ``pread`` of two bytes per block: not through the file's
    mapping, where touching one byte per block maps whole huge pages (a 24 GB file: RSS
    +3.9 GB before a row was read)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return any(os.pread(fd, 2, at - 1) == b"\r\n" for at in range(start + block, stop, block))
    finally:
        os.close(fd)


def _crlf_kept(raw: pa.NativeFile) -> pa.NativeFile:
    """``raw`` as a stream Arrow's CSV reader reads without losing bytes (:class:`_CrlfKept`)."""
    return pa.PythonFile(_CrlfKept(raw), mode="r")


_CR = 0x0D


class _CrlfKept:
    """A byte stream whose reads never end with a ``\\r`` (but at the end of the stream).

    Arrow's CSV reader (pyarrow 26.0.1; apache/arrow issue 51368, open in 2026-09) reads
    its input ``block_size`` bytes at a time and drops a ``\\n`` that starts a read when
    the read before ended with ``\\r``, taking the two for a line end cut in two even
    inside a quoted value: a value holding ``\\r\\n`` across that cut came back one
    byte short, with no error. Reads that never end with ``\\r`` leave Arrow's parser
    to see every ``\\r\\n`` whole (a line end or a value's bytes, as it is).
    """

    def __init__(self, raw: pa.NativeFile) -> None:
        self._raw = raw
        #: A mapped file's reader steps back over a "\r" (no copy); a decompressor
        #: cannot (xz would decompress again from the start), so it is held back.
        self._seekable = isinstance(raw, pa.BufferReader)
        self._held = False  # a "\r" held back from the last read (a stream not seekable)
        self._pos = 0  # bytes handed out (a decompressor cannot tell)

    def read_buffer(self, nbytes: int = -1) -> pa.Buffer:
        buf = self._read(nbytes)
        self._pos += buf.size
        return buf

    def _read(self, nbytes: int) -> pa.Buffer:
        while True:
            # no more than asked for, with a held "\r" in front
            buf = self._raw.read_buffer(max(nbytes - self._held, 1) if nbytes > 0 else nbytes)
            if self._held:
                self._held = False
                if buf.size == 0:
                    return pa.py_buffer(b"\r")
                buf = pa.py_buffer(b"\r" + buf.to_pybytes())  # a copy: only after a "\r"
            if buf.size == 0 or memoryview(buf)[-1] != _CR:
                return buf
            if self._seekable:
                if buf.size == 1:  # the stream's last byte (reads are of blocks)
                    return buf
                self._raw.seek(-1, 1)  # read it again next time
                return buf.slice(0, buf.size - 1)
            self._held = True
            if buf.size > 1:
                return buf.slice(0, buf.size - 1)

    def read(self, nbytes: int = -1) -> bytes:
        return self.read_buffer(nbytes).to_pybytes()

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One record batch holding ``batches`` one after the other (a copy)."""
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0]


def _sample(p: Path, names: list[str]) -> dict[str, list[str]]:
    """The first :data:`_SAMPLE_ROWS` rows' cells, by column."""
    out: dict[str, list[str]] = {n: [] for n in names}
    with _large_fields(), open_text(p, errors="replace") as f:
        rows = csv.reader(f)
        next(rows, None)
        for i, row in enumerate(rows):
            if i >= _SAMPLE_ROWS:
                break
            for name, cell in zip(names, row, strict=False):
                out[name].append(cell)
    return out


class _CsvReader:
    """Fast (Arrow) and exact (csv module) readers over one file."""

    def __init__(self, path: str, names: list[str], mode: ValueMode,
                 types: dict[str, pa.DataType], codec: str | None = None,
                 span: tuple[int, int] | None = None) -> None:
        self.path = path
        self.codec = codec
        #: Bytes read, when only part of the file is (whole records; the first part
        #: holds the header, the others start with a record).
        self.span = span
        self._tell: Callable[[], int] | None = None
        self.types = types
        self.names = names
        self.mode = mode
        self.used = frame_columns(names)
        self._file: pa.NativeFile | None = None
        #: Bytes read when the fast path closed its file (what :meth:`tell` says after).
        self._told = 0
        self._lines: _LineIndex | None = None
        #: Arrow's read size; grows (:meth:`again`) when a record spanned more than two reads.
        self.block = BLOCK_BYTES
        self._bigger = False
        self._lines_lock = threading.Lock()

    def tell(self) -> int:
        if self._tell is not None:
            return self._tell()
        f = self._file
        try:
            return self._told if f is None or f.closed else f.tell()
        except pa.ArrowInvalid:  # closed meanwhile by the reader thread
            return self._told

    def _raw(self, columns: dict[str, pa.Array], first_row: int) -> RawBatch:
        vt = values_from_text(columns.pop("value"), self.mode)
        detail = {
            ValueMode.HEX: "expected PostgreSQL hex bytea such as '\\x7b22…'",
            ValueMode.BYTES_REPR: "expected a Python bytes literal such as b'{\"a\": 1}'",
            ValueMode.MEMORY: "expected '<memory at 0x…>' like the other rows",
        }.get(self.mode, "unreadable value")
        return RawBatch(columns, vt.values, first_row, lost=vt.lost, approx=vt.approx,
                        bad_values=vt.bad, bad_detail=detail)

    def fast(self) -> Iterator[Callable[[], RawBatch]]:
        """Arrow's streaming parser; each batch is finished by :meth:`_prepare` in the
        loader's pool. A compressed file streams through its decompressor instead."""
        mapped: mmap.mmap | None = None
        start, stop = self.span or (0, -1)
        if stop == start:
            return  # an empty span holds no record
        if self.codec is None:
            mapped = _map(self.path)
            whole = pa.py_buffer(mapped)
            stop = len(mapped) if stop < 0 else stop
            self._file = pa.BufferReader(whole if self.span is None else whole.slice(start, stop - start))
            if _cuts_crlf(self.path, start, stop, self.block):
                self._file = _crlf_kept(self._file)
        else:
            raw, self._tell = arrow_stream(self.path, self.codec)
            self._file = _crlf_kept(raw)  # its reads' ends cannot be looked at before
        try:
            reader = pa_csv.open_csv(
                self._file,
                read_options=pa_csv.ReadOptions(block_size=self.block, column_names=self.names,
                                                skip_rows=1 if start == 0 else 0,
                                                use_threads=_PARSE_THREADS),
                # No invalid_row_handler: a row with the wrong field count raises
                # ArrowInvalid (→ the exact reader), and pyarrow cannot hand a handler a
                # row that is not UTF-8 (it reports that on stderr instead).
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types=self.types, include_columns=list(self.used),
                    null_values=[""], true_values=["t"], false_values=["f"],
                    strings_can_be_null=True, quoted_strings_can_be_null=False),
            )
            # Hex text is twice the bytes it stands for, and decoding it takes room.
            batch_bytes = BATCH_BYTES // 2 if self.mode is ValueMode.HEX else BATCH_BYTES
            row = 1
            blocks = 0
            released = start - start % mmap.PAGESIZE  # madvise takes whole pages
            group: list[pa.RecordBatch] = []
            size = 0
            while True:
                try:
                    rb = reader.read_next_batch()
                except StopIteration:
                    break
                blocks += 1
                # The parser is past all but the last blocks it read (a guess that
                # is safe either way: a dropped page is read back if touched).
                if mapped is not None:
                    released = _release(mapped, released, min(start + (blocks - 2) * self.block, stop))
                group.append(rb)
                size += rb.nbytes
                if size >= batch_bytes:
                    yield functools.partial(self._prepare, group, row)
                    row += sum(b.num_rows for b in group)
                    group, size = [], 0
            if group:
                yield functools.partial(self._prepare, group, row)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            # a record longer than Arrow's read size (a value of several MB): read again
            # with bigger reads rather than row by row in Python
            self._bigger = "straddl" in str(exc) and self.block < MAX_BLOCK_BYTES
            raise SlowPath(str(exc)) from exc
        except OSError as exc:
            if self.codec is None:
                raise
            raise corrupt(self.path, self.codec, exc) from exc
        finally:
            with contextlib.suppress(pa.ArrowInvalid, OSError, ValueError):
                self._told = self._file.tell()
            self._file.close()

    def _prepare(self, group: list[pa.RecordBatch], first_row: int) -> RawBatch:
        """Parsed blocks as one raw batch: identifiers dictionary-encoded, text checked."""
        try:
            rb = group[0] if len(group) == 1 else _concat(group)
            cols = {}
            for name, column in self.used.items():
                arr = rb.column(name)
                if pa.types.is_binary(arr.type):
                    if column in _DICT_COLUMNS:
                        arr = pc.dictionary_encode(arr)
                    arr = _as_text(arr)
                cols[column] = arr
            return self._raw(cols, first_row)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise SlowPath(str(exc)) from exc

    def again(self) -> Iterator[Any]:
        """The re-read after :meth:`fast` gave up: :meth:`fast` again with reads 8× bigger
        when a record spanned more than two reads (Arrow: "straddling object straddles two
        block boundaries"), up to :data:`MAX_BLOCK_BYTES`; else the exact :meth:`slow`."""
        if self._bigger:
            self._bigger = False
            self.block = min(self.block * 8, MAX_BLOCK_BYTES)
            return self.fast()
        return self.slow()

    def slow(self) -> Iterator[RawBatch]:
        """Row by row with :mod:`csv`: exact lines, every malformed row named."""
        ncols = len(self.names)
        keep = [(i, self.used[n]) for i, n in enumerate(self.names) if n in self.used]
        header = self.span is None or self.span[0] == 0
        with _large_fields(), self._text("strict") as f:
            rows = csv.reader(f)
            start_line = 2 if header else 1
            try:
                if header:
                    next(rows)
                buf: list[list[str]] = []
                row_no = 1
                first = 1
                rejected: list[Rejection] = []
                for rec in rows:
                    if not rec:  # a blank line holds no record (Arrow's parser skips it too)
                        start_line = rows.line_num + 1
                        continue
                    if len(rec) != ncols:
                        rejected.append(Rejection(
                            self.path, "", row_no, start_line, None, Reason.FIELD_COUNT,
                            f"expected {ncols} fields as in the header, found {len(rec)}",
                            ",".join(rec)))
                    else:
                        buf.append(rec)
                    row_no += 1
                    start_line = rows.line_num + 1
                    if len(buf) >= _SLOW_BATCH_ROWS or rejected:
                        yield self._slow_batch(buf, keep, first, rejected)
                        first, buf, rejected = row_no, [], []
                if buf:
                    yield self._slow_batch(buf, keep, first, rejected)
            except csv.Error as exc:
                msg = (f"{self.path}, line {rows.line_num}: not valid CSV ({exc}); expected "
                       "comma-separated fields with double-quoted text, as psql and "
                       "airflow db export-archived write")
                raise ExportFormatError(msg) from exc
            except UnicodeDecodeError as exc:
                msg = (f"{self.path}: bytes at offset {exc.start} are not UTF-8; expected a "
                       "UTF-8 export (psql's default client encoding)")
                raise ExportFormatError(msg) from exc

    def _slow_batch(self, buf: list[list[str]], keep: list[tuple[int, str]], first: int,
                    rejected: list[Rejection]) -> RawBatch:
        cols = {}
        for i, name in keep:
            cols[name] = pa.array([r[i] if r[i] != "" else None for r in buf], pa.string())
        raw = self._raw(cols, first)
        raw.rejected = rejected
        return raw

    def _text(self, errors: str) -> Any:
        """The file (or its span) as text."""
        if self.span is None:
            return open_text(self.path, errors=errors)
        return open_span(self.path, self.span, errors=errors)

    def locate_line(self, row: int) -> int | None:
        """Physical line where data record ``row`` (1-based) starts.

        Called once per rejected row, possibly from several builder threads: the
        line of every record read so far is kept (:class:`_LineIndex`), so a load
        that rejects many rows reads the file once, not once per rejection.
        """
        with self._lines_lock:
            if self._lines is None:
                self._lines = _LineIndex(self._text("replace"),
                                         header=self.span is None or self.span[0] == 0)
            return self._lines.line(row)


class _LineIndex:
    """Record number → physical line of a CSV file, read forward once as needed."""

    def __init__(self, text: Any, *, header: bool = True) -> None:
        self._file = text
        self._rows = csv.reader(self._file)
        if header:
            next(self._rows, None)
        self._next_start = self._rows.line_num + 1
        self._starts = array("q")  # _starts[i]: line where record i + 1 starts
        self._done = False
        weakref.finalize(self, self._file.close)

    def line(self, row: int) -> int | None:
        with _large_fields():
            return self._line(row)

    def _line(self, row: int) -> int | None:
        while len(self._starts) < row and not self._done:
            try:
                rec = next(self._rows)
            except (StopIteration, csv.Error):
                self._done = True
                self._file.close()
                break
            if rec:  # blank lines are not records (:meth:`_CsvReader.slow`)
                self._starts.append(self._next_start)
            self._next_start = self._rows.line_num + 1
        return self._starts[row - 1] if 0 < row <= len(self._starts) else None
