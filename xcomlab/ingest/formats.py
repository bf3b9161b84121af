"""Which export format a source is (URL scheme, suffix, first bytes), and the reader that opens it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xcomlab.errors import ExportFormatError, UnsupportedSourceError
from xcomlab.ingest.compressed import codec_of, inner_name, temporary_copy
from xcomlab.ingest.compressed import head as compressed_head
from xcomlab.ingest.source import TableSource, is_xcom_table
from xcomlab.ingest.values import ValueMode

__all__ = ["FORMATS", "Format", "ReaderOptions", "open_tables", "resolve_format", "sniff"]

Format = Literal["csv", "pgdump", "sqlite", "jsonl", "parquet", "sql"]
FORMATS: tuple[str, ...] = ("csv", "pgdump", "sqlite", "jsonl", "parquet", "sql")
_SUFFIXES = {".csv": "csv", ".sql": "pgdump", ".db": "sqlite", ".sqlite": "sqlite",
             ".sqlite3": "sqlite", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
_SQL_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """What the readers are told by the caller of a load."""

    #: Override of schema detection (one of :data:`xcomlab.schema.AIRFLOW_SCHEMAS`).
    airflow_schema: str | None = None
    #: Override of the value spelling of text exports.
    value_mode: ValueMode | None = None
    #: Rows per batch for SQL, JSON Lines and Parquet sources.
    chunk_rows: int = 100_000
    #: Whether the stored values are needed (kept, or seen by ``on_values``).
    fetch_values: bool = False
    #: One shard of a plain CSV or Parquet file (:mod:`xcomlab.ingest.split`): CSV bytes
    #: ``[start, stop)`` cut on row boundaries, or Parquet row groups ``[start, stop)``.
    span: tuple[int, int] | None = None


def resolve_format(source: Any, fmt: str | None) -> tuple[str, str]:
    """The format of ``source`` (``fmt`` when given) and the label a load report shows.

    Raises :class:`~xcomlab.errors.UnsupportedSourceError` for a source xcomlab cannot
    read and :class:`FileNotFoundError` for a missing path.
    """
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
    return sniff(p), text


def sniff(p: Path) -> str:
    """The format of file ``p``, from its first bytes, then its suffix.

    A compressed file (gzip, zstd, xz, told by its magic number) is judged by its
    decompressed first bytes and by its name without the codec suffix.
    """
    codec = codec_of(p)
    head = compressed_head(p) if codec else _head(p)
    name = Path(inner_name(p)) if codec else p
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PGDMP"):
        msg = (f"{p}: a pg_dump custom-format archive; convert it to plain SQL first with "
               f"`pg_restore -f {p.stem}.sql {p.name}` (or dump with `pg_dump -Fp`)")
        raise UnsupportedSourceError(msg)
    suffix = name.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if b"PostgreSQL database dump" in head or b"COPY " in head:
        return "pgdump"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    msg = (f"{p}: cannot tell the export format from its name or first bytes; pass "
           f"format= one of {FORMATS}")
    raise UnsupportedSourceError(msg)


def _head(p: Path) -> bytes:
    with p.open("rb") as f:
        return f.read(4096)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def open_tables(source: Any, fmt: str, wanted: list[str] | None,
                opts: ReaderOptions) -> Iterator[TableSource]:
    """The xcom-like tables of ``source`` (only those ``wanted``, when given), ready to stream."""
    if fmt == "csv" and isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        yield from _open_directory(Path(source), wanted, opts)
        return
    for src in _readers(source, fmt, opts):
        if wanted is None or src.table in wanted:
            yield src


def _open_directory(d: Path, wanted: list[str] | None, opts: ReaderOptions) -> Iterator[TableSource]:
    files = sorted(f for f in d.iterdir() if _csv_table(f) is not None)
    if not files:
        msg = (f"{d}: no xcom CSV in this directory; expected files such as xcom.csv, "
               "_xcom_archive.csv or _airflow_deleted__xcom__<ts>.csv")
        raise ExportFormatError(msg)
    for f in files:
        if wanted is None or _csv_table(f) in wanted:
            yield from _readers(str(f), "csv", opts)


def _csv_table(f: Path) -> str | None:
    """The xcom table a directory entry holds (``xcom.csv``, ``xcom.csv.gz`` …), or None."""
    inner = Path(inner_name(f))
    if inner.suffix.lower() == ".csv" and is_xcom_table(inner.stem) and f.is_file():
        return inner.stem
    return None


def _readers(source: Any, fmt: str, opts: ReaderOptions) -> Iterator[TableSource]:
    if fmt in ("sqlite", "parquet") and isinstance(source, (str, os.PathLike)):
        codec = codec_of(source)
        if codec is not None:
            return _from_copy(os.fspath(source), codec, fmt, opts)
    if opts.span is not None and fmt not in ("csv", "parquet"):
        msg = f"span= reads one shard of a CSV or Parquet file, not of a {fmt} source"
        raise UnsupportedSourceError(msg)
    if fmt == "csv":
        from xcomlab.ingest.csvfile import read_csv

        return read_csv(os.fspath(source), value_mode=opts.value_mode,
                        airflow_schema=opts.airflow_schema, span=opts.span)
    if fmt == "pgdump":
        from xcomlab.ingest.pgdump import read_pgdump

        return read_pgdump(os.fspath(source), airflow_schema=opts.airflow_schema)
    if fmt in ("sqlite", "sql"):
        from xcomlab.ingest.sqlsource import read_sql

        return read_sql(source, sqlite_file=fmt == "sqlite", chunk_rows=opts.chunk_rows,
                        airflow_schema=opts.airflow_schema, keep_values=opts.fetch_values)
    from xcomlab.ingest.columnar import read_jsonl, read_parquet

    if fmt == "parquet":
        return read_parquet(os.fspath(source), value_mode=opts.value_mode,
                            airflow_schema=opts.airflow_schema, chunk_rows=opts.chunk_rows,
                            span=opts.span)
    return read_jsonl(os.fspath(source), value_mode=opts.value_mode,
                      airflow_schema=opts.airflow_schema, chunk_rows=opts.chunk_rows)


def _from_copy(path: str, codec: str, fmt: str, opts: ReaderOptions) -> Iterator[TableSource]:
    """A compressed SQLite or Parquet file, read from a decompressed temporary copy.

    Both formats need random access. The copy lives while the loader reads its tables
    (it reads one source to the end before asking for the next) and is deleted after;
    messages name the original file, and a note says a copy was made.
    """
    with temporary_copy(path, codec) as (copy, size):
        note = (f"{path}: {codec}-compressed {fmt}; read from a temporary decompressed copy "
                f"({size:,} bytes, deleted after the load)")
        sources = _renamed(lambda: _readers(str(copy), fmt, opts), str(copy), path)
        for src in sources():
            src.path = path
            src.notes.append(note)
            src.batches = _renamed(src.batches, str(copy), path)
            if src.fallback is not None:
                src.fallback = _renamed(src.fallback, str(copy), path)
            yield src


def _renamed(make: Any, copy: str, path: str) -> Any:
    """``make``'s batches, with errors naming ``path`` instead of its temporary ``copy``."""
    def run() -> Iterator[Any]:
        try:
            yield from make()
        except Exception as exc:
            if exc.args and isinstance(exc.args[0], str) and copy in exc.args[0]:
                exc.args = (exc.args[0].replace(copy, path), *exc.args[1:])
            raise
    return run
