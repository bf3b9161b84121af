"""Database URLs as Airflow users write them → URLs the installed drivers can open.

Airflow's docs and ``airflow.cfg`` files use ``postgresql://``, ``postgres://`` (Heroku's
spelling, which SQLAlchemy ≥ 1.4 no longer accepts), ``postgresql+psycopg2://``,
``mysql://`` / ``mysql+mysqldb://`` (mysqlclient) and ``sqlite:///``. xcomlab's extras
install psycopg 3 (``xcomlab[postgres]``) and PyMySQL (``xcomlab[mysql]``): a URL
naming a driver that is not installed is read with the one that is, and when none
is, the message names the extra that installs it. An SQLite URL must name a file
that exists; it is opened read-only, so a wrong path never creates an empty file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from xcomlab.errors import UnsupportedSourceError, mask_url

if TYPE_CHECKING:  # loaded by the functions that open a database, not on import
    import sqlalchemy as sa

__all__ = ["resolve_url"]

#: Driver modules per dialect, preferred first, and the extra that installs the last one.
_DRIVERS: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "postgresql": ((("psycopg2", "psycopg2"), ("psycopg", "psycopg"), ("pg8000", "pg8000")),
                   "postgres"),
    "mysql": ((("mysqldb", "MySQLdb"), ("pymysql", "pymysql"), ("mysqlconnector", "mysql.connector")),
              "mysql"),
}
_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
#: Drivers we can use without asyncio: async ones map to a sync driver of the same dialect.
_ASYNC = {"asyncpg", "aiomysql", "asyncmy", "aiosqlite", "psycopg_async"}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve_url(text: str) -> sa.URL:
    """The SQLAlchemy URL to open for ``text``, with a driver that is installed.

    Raises
    ------
    UnsupportedSourceError
        Not a URL, an unknown dialect, no driver installed (naming the ``pip install``
        that fixes it), or an SQLite file that does not exist.
    """
    import sqlalchemy as sa

    shown = mask_url(text)
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        msg = f"{shown!r} is not a database URL; expected e.g. postgresql://user@host/airflow"
        raise UnsupportedSourceError(msg) from exc
    backend, _, driver = url.drivername.partition("+")
    dialect = _ALIASES.get(backend, backend)
    if dialect == "sqlite":
        return _sqlite(url, shown)
    if dialect not in _DRIVERS:
        msg = (f"{shown}: the {backend!r} database is not one Airflow's metadata DB runs on; "
               "expected postgresql://, mysql:// or sqlite:///")
        raise UnsupportedSourceError(msg)
    choices, extra = _DRIVERS[dialect]
    names = {name: module for name, module in choices}
    if driver and driver not in _ASYNC and _installed(names.get(driver, driver)):
        return url.set(drivername=f"{dialect}+{driver}")
    for name, module in choices:
        if _installed(module):
            return url.set(drivername=f"{dialect}+{name}")
    wanted = driver or choices[0][0]
    msg = (f"{shown}: no {dialect} driver is installed ({wanted} was asked for); "
           f"pip install 'xcomlab[{extra}]' installs {choices[1][0]}, which xcomlab then uses "
           "for this URL as written")
    raise UnsupportedSourceError(msg)


def _sqlite(url: sa.URL, shown: str) -> sa.URL:
    db = url.database or ""
    if db.startswith("file:"):  # already a URI filename: honour it, but it must exist
        db = db[5:].split("?", 1)[0]
    if db in ("", ":memory:"):
        msg = f"{shown}: an in-memory SQLite database holds no xcom table; expected sqlite:///path/to/airflow.db"
        raise UnsupportedSourceError(msg)
    path = Path(db).expanduser()
    if not path.is_file():
        hint = (" (an absolute path needs four slashes: sqlite:////abs/path/airflow.db)"
                if not path.is_absolute() else "")
        msg = f"{shown}: no such file {str(path)!r}{hint}; expected an existing airflow.db"
        raise UnsupportedSourceError(msg)
    import sqlalchemy as sa

    return sa.make_url(sqlite_url(path))


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """A read-only SQLAlchemy URL for an SQLite file (``mode=ro``: never writes)."""
    return f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true"
