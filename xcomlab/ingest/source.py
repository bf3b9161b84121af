"""What every reader hands to the loader: one :class:`TableSource` per xcom-like table."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from xcomlab.ingest.normalize import RawBatch

__all__ = ["SlowPath", "TableSource", "is_xcom_table"]

#: Tables holding XCom rows: the live table, the 3.0 migration's archive of pickles,
#: and the copies ``airflow db clean`` leaves (docs/airflow-xcom.md#migration-0049, docs/airflow-xcom.md#db-clean).
_XCOM_TABLE = re.compile(r"^(xcom|_xcom_archive|_airflow_deleted__xcom__\w+|_airflow_deleted___xcom_archive__\w+)$")


def is_xcom_table(name: str) -> bool:
    """Return True for ``xcom`` and the archive tables Airflow makes of it."""
    return bool(_XCOM_TABLE.match(name))


class SlowPath(Exception):  # noqa: N818 - control flow, never escapes the loader
    """Raised by a fast reader that met input it cannot place exactly; the loader
    then re-reads the table with the source's exact (slower) reader."""


@dataclass
class TableSource:
    """One xcom-like table inside an export, ready to stream.

    ``batches`` yields raw batches; ``fallback``, when set, re-reads the table with an
    exact row-by-row reader after the fast one raised :class:`SlowPath`.
    """

    path: str
    table: str
    columns: list[str]
    airflow_schema: str
    #: Raw batches, or callables that make them (run by the loader's pool).
    batches: Callable[[], Iterator[RawBatch | Callable[[], RawBatch]]]
    fallback: Callable[[], Iterator[RawBatch]] | None = None
    locate_line: Callable[[int], int | None] | None = None
    notes: list[str] = field(default_factory=list)
    sizes_exact: bool = True
    total_bytes: int | None = None
    bytes_read: Callable[[], int] | None = None
    #: Batches a reader thread may read ahead of the loader (0: read in the loader's
    #: thread). Only for readers whose iterator may run in another thread.
    read_ahead: int = 0
    #: About how many rows the table holds, when a reader can tell cheaply (a guess:
    #: the loader sizes its buffers by it and grows them if it was short).
    rows_hint: int | None = None
