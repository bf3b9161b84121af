"""Failures a user can cause, as one-line :class:`~xcomlab.errors.XcomlabError` messages.

Readers and drivers raise what their libraries raise: ``sqlite3.DatabaseError`` for a
truncated ``airflow.db``, psycopg's ``OperationalError`` for a closed port or an
unknown role, ``UnicodeDecodeError``, ``csv.Error``, ``pyarrow.ArrowInvalid``,
``OSError`` from a corrupt Parquet footer, ``RecursionError`` from a value nested
50,000 deep. :func:`translate` turns each into an error that names the source, says
what was expected and how to fix it, with quoted row content masked; :func:`guard`
wraps a reader so that nothing else escapes ``load_export``.
"""

from __future__ import annotations

import csv
import functools
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

from xcomlab.errors import (
    ExportFormatError,
    SourceConnectionError,
    UnsupportedSourceError,
    XcomlabError,
    mask_quoted,
)
from xcomlab.ingest.source import SlowPath, TableSource

__all__ = ["guard", "translate"]

T = TypeVar("T")

#: Database messages (any driver), first match wins: (pattern, error class, what to do).
_DB_MESSAGES: tuple[tuple[re.Pattern[str], type[XcomlabError], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cls, fix) for p, cls, fix in (
        (r"connection refused|could not connect|can't connect|timeout expired|"
         r"could not translate host name|name or service not known|no route to host|"
         r"unknown mysql server host|lost connection",
         SourceConnectionError,
         "the database server does not answer at that host and port; check the host, the port "
         "and that the server runs (pg_isready -h HOST -p PORT)"),
        (r"role .* does not exist|password authentication failed|authentication failed|"
         r"access denied|no password supplied|no pg_hba\.conf entry",
         SourceConnectionError,
         "the server refused the login; use the user and password Airflow uses (its "
         "[database] sql_alchemy_conn), e.g. postgresql://USER:PASSWORD@HOST/DB"),
        (r"database .* does not exist|unknown database",
         SourceConnectionError,
         "no database of that name on the server; name the one Airflow uses (the path of "
         "its sql_alchemy_conn URL)"),
        (r"database disk image is malformed|file is not a database|malformed database schema|"
         r"database or disk is full|disk i/o error",
         ExportFormatError,
         "the SQLite file is corrupt or truncated; copy it again from the Airflow host "
         "(`sqlite3 airflow.db \".backup copy.db\"` makes a consistent copy)"),
        (r"unable to open database file",
         SourceConnectionError,
         "the SQLite file cannot be opened; check the path and that you may read it"),
        (r"could not decode to utf-8",
         ExportFormatError,
         "a text column holds bytes that are not UTF-8 (Airflow writes UTF-8); fix or delete "
         "that row, or export the table with `sqlite3 -csv` and load the CSV"),
        (r"no such table|relation .* does not exist|table .* doesn't exist",
         ExportFormatError,
         "the database has no xcom table; point at Airflow's metadata database"),
        (r"permission denied",
         SourceConnectionError,
         "the login may not read the xcom table; grant SELECT on it or use Airflow's login"),
    ))


def _db_error(exc: BaseException, source: str) -> XcomlabError:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    for pattern, cls, fix in _DB_MESSAGES:
        if pattern.search(text):
            # Connection messages quote the user's own URL (role, database, host); other
            # messages may quote row content, which is masked.
            shown = text if cls is SourceConnectionError else mask_quoted(text)
            return cls(f"{source}: {shown[:300]}; {fix}")
    return ExportFormatError(f"{source}: the database failed while reading xcom "
                             f"({type(orig).__name__}: {mask_quoted(text)[:300]}); run with "
                             "--debug for the traceback and report it if the database is intact")


def translate(exc: BaseException, source: str) -> XcomlabError | None:
    """The :class:`~xcomlab.errors.XcomlabError` a user-caused failure stands for, or None.

    ``source`` names the file or the (password-masked) URL. Returns None for
    exceptions that are bugs of ours rather than bad input.
    """
    if isinstance(exc, XcomlabError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return ExportFormatError(
            f"{source}: bytes at offset {exc.start} are not UTF-8 ({exc.reason}); expected a UTF-8 "
            "export (psql's default client encoding); convert it with `iconv -f LATIN1 -t UTF-8`")
    if isinstance(exc, csv.Error):
        return ExportFormatError(
            f"{source}: not valid CSV ({mask_quoted(str(exc))}); expected comma-separated fields "
            "with double-quoted text and \\n or \\r\\n line ends, as psql and airflow db "
            "export-archived write")
    if isinstance(exc, RecursionError):
        return ExportFormatError(
            f"{source}: a value is nested too deeply to read (thousands of levels of lists or "
            "objects); expected XCom values Airflow can serialize; delete or shorten that row")
    if isinstance(exc, MemoryError):
        return ExportFormatError(f"{source}: a value or row is too large for this machine's memory")
    # only a source that loaded SQLAlchemy raises its errors: a file's failure does not load it
    sa_exc = sys.modules.get("sqlalchemy.exc")
    import sqlite3

    if sa_exc is not None and isinstance(exc, sa_exc.NoSuchModuleError):
        return UnsupportedSourceError(f"{source}: {exc}; expected postgresql://, mysql:// or "
                                      "sqlite:/// URLs")
    if (sa_exc is not None and isinstance(exc, sa_exc.DBAPIError)) or isinstance(exc, sqlite3.Error):
        return _db_error(exc, source)
    arrow = _arrow_error(exc, source)
    if arrow is not None:
        return arrow
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return UnsupportedSourceError(f"{source}: {exc.strerror or exc}; check the path")
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return ExportFormatError(f"{source}: unreadable ({mask_quoted(str(exc))[:200]}); the file "
                                 "is corrupt or truncated: export or copy it again")
    return None


def _arrow_error(exc: BaseException, source: str) -> XcomlabError | None:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, pa.ArrowException):
        text = mask_quoted(" ".join(str(exc).split()))[:300]
        return ExportFormatError(f"{source}: cannot read this export ({text}); the file is corrupt "
                                 "or not in the format its name says; pass --format / format= or "
                                 "export it again")
    return None


def _translated(exc: BaseException, source: str) -> BaseException:
    if isinstance(exc, (SlowPath, XcomlabError, GeneratorExit, KeyboardInterrupt, SystemExit)):
        return exc
    return translate(exc, source) or exc


def _reraise(exc: BaseException, source: str) -> NoReturn:
    """Raise ``exc`` as the one-line error it stands for (itself when it has none)."""
    new = _translated(exc, source)
    if new is exc:
        raise exc
    raise new from exc


def _call(fn: Callable[[], T], source: str) -> Callable[[], T]:
    @functools.wraps(fn)
    def run() -> T:
        try:
            return fn()
        except BaseException as exc:
            _reraise(exc, source)
    return run


def _iterate(make: Callable[[], Iterator[Any]], source: str) -> Callable[[], Iterator[Any]]:
    def run() -> Iterator[Any]:
        try:
            for item in make():
                yield _call(item, source) if callable(item) else item
        except BaseException as exc:
            _reraise(exc, source)
    return run


def guarded_source(src: TableSource, label: str | None = None) -> TableSource:
    """The same table source, its batches (and their deferred work) translating failures."""
    where = label or src.path
    src.batches = _iterate(src.batches, where)
    if src.fallback is not None:
        src.fallback = _iterate(src.fallback, where)
    return src


def guard(reader: Callable[..., Iterator[TableSource]]) -> Callable[..., Iterator[TableSource]]:
    """Decorate a reader (``read_csv(path, ...)`` …): whatever a user's input makes it or its
    batches raise leaves as an :class:`~xcomlab.errors.XcomlabError`."""
    @functools.wraps(reader)
    def wrapper(source: Any, *args: Any, **kwargs: Any) -> Iterator[TableSource]:
        label = _label(source)
        try:
            for src in reader(source, *args, **kwargs):
                yield guarded_source(src)
        except BaseException as exc:
            new = _translated(exc, label)
            if new is exc:
                raise
            raise new from exc
    return wrapper


def _label(source: Any) -> str:
    from xcomlab.errors import mask_url

    if hasattr(source, "url"):
        return str(source.url.render_as_string(hide_password=True))
    return mask_url(str(source))
