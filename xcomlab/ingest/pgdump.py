"""``pg_dump`` plain SQL: the ``COPY … FROM stdin;`` blocks of the xcom tables.

A first pass finds every block (byte range and first line) with chunked searches
for the ``\\.`` terminator, so other tables' data is skipped without parsing. Each
xcom block is then parsed by Arrow as tab-separated text with ``\\N`` nulls, and COPY
text escapes (``\\\\``, ``\\t``, ``\\n``, ``\\ooo``, ``\\xhh`` …) are undone on the few
fields that hold a backslash. bytea values (``\\\\x7b22…``) are hex-decoded vectorized.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from xcomlab.errors import ExportFormatError, Reason, Rejection
from xcomlab.ingest.classify import RawValues
from xcomlab.ingest.compressed import open_binary
from xcomlab.ingest.csvfile import REQUIRED_EXPORT, frame_columns
from xcomlab.ingest.failures import guard
from xcomlab.ingest.normalize import RawBatch, detect_schema, hex_to_binary
from xcomlab.ingest.source import SlowPath, TableSource, is_xcom_table

__all__ = ["copy_unescape", "read_pgdump"]

_COPY = re.compile(rb'^COPY\s+(?:"?(\w+)"?\.)?"?(\w+)"?\s*\(([^)]*)\)\s+FROM\s+stdin;\s*$')
_TERMINATOR = b"\n\\.\n"
_CHUNK = 1 << 22
_SLOW_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class _Block:
    table: str
    columns: list[str]
    start: int  # byte offset of the first data line
    end: int  # byte offset of the terminator line
    first_line: int  # line number of the first data line


@guard
def read_pgdump(path: str, *, airflow_schema: str | None = None) -> Iterator[TableSource]:
    """Yield one table source per xcom-like COPY block of a plain ``pg_dump`` file."""
    for block in _scan(path):
        if not is_xcom_table(block.table):
            continue
        missing = [c for c in REQUIRED_EXPORT if c not in block.columns]
        if missing:
            msg = (f"{path}, line {block.first_line - 1}: COPY of {block.table} lacks columns "
                   f"{missing}; expected Airflow's xcom columns")
            raise ExportFormatError(msg)
        reader = _BlockReader(path, block)
        schema = airflow_schema or detect_schema(set(block.columns), json_values=not reader.is_bytea())
        yield TableSource(
            path=path, table=block.table, columns=block.columns, airflow_schema=schema,
            batches=reader.fast, fallback=reader.slow,
            locate_line=functools.partial(_line_of, block.first_line),
            total_bytes=block.end - block.start, bytes_read=reader.tell,
        )


def _line_of(first_line: int, row: int) -> int:
    return first_line + row - 1


def _scan(path: str) -> Iterator[_Block]:
    with open_binary(path) as f:
        line_no = 0
        while True:
            line = f.readline()
            if not line:
                return
            line_no += 1
            m = _COPY.match(line.rstrip(b"\r\n")) if line.startswith(b"COPY") else None
            if m is None:
                continue
            table = m.group(2).decode()
            cols = [c.strip().strip('"').lower() for c in m.group(3).decode().split(",")]
            start = f.tell()
            end, lines = _find_end(f, start, path, table, line_no)
            yield _Block(table, cols, start, end, line_no + 1)
            f.seek(end + 3)  # past "\.\n"
            line_no += lines + 1


def _find_end(f: io.BufferedReader, start: int, path: str, table: str, copy_line: int) -> tuple[int, int]:
    """Byte offset of the ``\\.`` line ending a COPY block, and the block's line count."""
    f.seek(start)
    carry = b"\n"  # the block starts at a line start
    pos = start - 1  # offset of carry[0]
    lines = 0
    while True:
        chunk = f.read(_CHUNK)
        hay = carry + chunk
        idx = hay.find(_TERMINATOR)
        if idx < 0 and not chunk and hay.endswith(b"\n\\."):
            idx = len(hay) - 3  # terminator on the file's last line without a newline
        if idx >= 0:
            lines += hay.count(b"\n", 1, idx + 1)
            return pos + idx + 1, lines
        if not chunk:
            msg = (f"{path}, line {copy_line}: COPY block of {table} never ends; expected a "
                   "line '\\.' after the data (is the dump truncated?)")
            raise ExportFormatError(msg)
        lines += hay.count(b"\n", 1, len(hay) - 3)
        carry = hay[-4:]
        pos = pos + len(hay) - 4


class _Bounded(io.RawIOBase):
    """A read-only window ``[start, end)`` of a file, for Arrow's streaming reader."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._f = open_binary(path)
        self._f.seek(start)
        self._left = end - start
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._left)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(b)[:n])
        self._left -= got
        self.consumed += got
        return got

    def close(self) -> None:
        self._f.close()
        super().close()


_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)


def copy_unescape(text: str) -> str:
    r"""Undo COPY text-format escaping (PostgreSQL docs, "COPY — Text Format").

    Examples
    --------
    >>> copy_unescape(r"a\tb\\c\101")
    'a\tb\\cA'
    """

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 8))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return _SIMPLE.get(m.group(3), m.group(3))

    return _ESCAPE.sub(one, text)


def _unescape_array(arr: pa.Array) -> pa.Array:
    has = np.asarray(pc.match_substring(arr, "\\").fill_null(False))
    if not has.any():
        return arr
    values = arr.to_pylist()
    for i in np.flatnonzero(has):
        values[i] = copy_unescape(values[i])
    return pa.array(values, pa.string())


class _BlockReader:
    def __init__(self, path: str, block: _Block) -> None:
        self.path = path
        self.block = block
        self.used = frame_columns(block.columns)
        self._stream: _Bounded | None = None

    def tell(self) -> int:
        return 0 if self._stream is None else self._stream.consumed

    def is_bytea(self) -> bool:
        """True when the first non-null value is hex bytea text (``\\\\x…``): Airflow 2."""
        idx = self.block.columns.index("value")
        with open_binary(self.path) as f:
            f.seek(self.block.start)
            while f.tell() < self.block.end:
                fields = f.readline().rstrip(b"\n").split(b"\t")
                if len(fields) > idx and fields[idx] != b"\\N":
                    return fields[idx].startswith(b"\\\\x")
        return False

    def _raw(self, cols: dict[str, pa.Array], first_row: int, bytea: bool) -> RawBatch:
        text = cols.pop("value")
        for k in list(cols):
            cols[k] = _unescape_array(cols[k])
        n = len(text)
        bad = np.zeros(n, dtype=bool)
        if bytea:
            ok = np.asarray(pc.starts_with(text, "\\\\x").fill_null(True))
            bad |= ~ok
            clean = pc.if_else(pa.array(ok), text, pa.scalar("\\\\x", pa.string()))
            head, badhex = hex_to_binary(clean, 3)
            bad |= badhex
            if bad.any():
                head = pc.if_else(pa.array(bad), pa.scalar(None, pa.binary()), head)
        else:
            head = pc.cast(_unescape_array(text), pa.binary())
        values = RawValues(head, pc.binary_length(head).cast(pa.int64()), complete=True)
        return RawBatch(cols, values, first_row, bad_values=bad,
                        bad_detail="expected bytea in COPY hex form such as '\\\\x7b22…'")

    def fast(self) -> Iterator[RawBatch]:
        bytea = self.is_bytea()
        names = self.block.columns
        self._stream = _Bounded(self.path, self.block.start, self.block.end)
        try:
            reader = pa_csv.open_csv(
                io.BufferedReader(self._stream, buffer_size=1 << 20),
                read_options=pa_csv.ReadOptions(column_names=names, block_size=1 << 23),
                # An empty line in a COPY block is a malformed row (PostgreSQL refuses
                # it): not skipped here. No invalid_row_handler: a bad row raises
                # ArrowInvalid (→ the exact reader), and pyarrow cannot hand a handler
                # a row that is not UTF-8.
                parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False,
                                                  escape_char=False, double_quote=False,
                                                  ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(
                    column_types={n: pa.string() for n in self.used},
                    include_columns=list(self.used), null_values=["\\N"],
                    strings_can_be_null=True),
            )
            row = 1
            for rb in reader:
                yield self._raw({self.used[n]: rb.column(n) for n in self.used}, row, bytea)
                row += rb.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise SlowPath(str(exc)) from exc
        finally:
            self._stream.close()

    def slow(self) -> Iterator[RawBatch]:
        """Line by line: every malformed line is named exactly."""
        bytea = self.is_bytea()
        names = self.block.columns
        keep = [(i, self.used[n]) for i, n in enumerate(names) if n in self.used]
        with open_binary(self.path) as f:
            f.seek(self.block.start)
            buf: list[list[str | None]] = []
            rejected: list[Rejection] = []
            first = row = 1
            while f.tell() < self.block.end:
                raw_line = f.readline()
                line = raw_line.rstrip(b"\n").decode("utf-8", errors="replace")
                fields = line.split("\t")
                if len(fields) != len(names):
                    rejected.append(Rejection(
                        self.path, self.block.table, row, self.block.first_line + row - 1, None,
                        Reason.FIELD_COUNT,
                        f"expected {len(names)} tab-separated fields as in the COPY header, "
                        f"found {len(fields)}", line))
                else:
                    buf.append([None if v == "\\N" else v for v in fields])
                row += 1
                if len(buf) >= _SLOW_BATCH_ROWS or rejected:
                    yield self._slow_batch(buf, keep, first, rejected, bytea)
                    first, buf, rejected = row, [], []
            if buf:
                yield self._slow_batch(buf, keep, first, rejected, bytea)

    def _slow_batch(self, buf: list[list[str | None]], keep: list[tuple[int, str]], first: int,
                    rejected: list[Rejection], bytea: bool) -> RawBatch:
        cols = {name: pa.array([r[i] for r in buf], pa.string()) for i, name in keep}
        raw = self._raw(cols, first, bytea)
        raw.rejected = rejected
        return raw
