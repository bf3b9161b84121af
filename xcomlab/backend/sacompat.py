"""SQLAlchemy compatibility: the few calls the backend makes that differ between 1.4 and 2.x.

Airflow 2.10/2.11 pin ``sqlalchemy>=1.4.36,<2.0``; Airflow 3.3 ships 2.x. The backend is
written in 2.0 style, which 1.4 runs as its "future" mode (``create_engine(future=True)``:
``Connection.commit``, ``engine.begin()``, no autocommit, ``Row`` results). Everything else
the store, the table and maintenance use exists in both; this module covers the rest.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import make_url

__all__ = ["SA2", "create_engine", "dbapi_error", "delete_returning", "make_url"]

#: True on SQLAlchemy 2.x.
SA2: Final = int(sa.__version__.split(".", 1)[0]) >= 2


def create_engine(url: Any, **kwargs: Any) -> sa.engine.Engine:
    """``sqlalchemy.create_engine`` in 2.0 style on either major version."""
    if not SA2:
        kwargs.setdefault("future", True)
    return sa.create_engine(url, **kwargs)


def delete_returning(dialect: sa.engine.Dialect) -> bool:
    """Whether ``DELETE … RETURNING`` works here (known once the dialect has connected).

    2.x knows it per dialect (PostgreSQL, SQLite ≥ 3.35, MariaDB ≥ 10.5); 1.4 compiles
    RETURNING for PostgreSQL only, and the store then selects ``FOR UPDATE`` and deletes.
    """
    if SA2:
        return bool(dialect.delete_returning)
    return dialect.name == "postgresql" and bool(getattr(dialect, "full_returning", False))


def dbapi_error(dialect: sa.engine.Dialect) -> type[Exception]:
    """The DB-API driver's base ``Error`` class (``loaded_dbapi`` in 2.x, ``dbapi`` in 1.4)."""
    dbapi: Any = getattr(dialect, "loaded_dbapi", None) or dialect.dbapi
    return dbapi.Error  # type: ignore[no-any-return]
