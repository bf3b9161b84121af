"""Measure: one record per store operation, with seconds per phase, as a DataFrame.

The records carry ids and timestamps, so the same list doubles as an audit log.

Columns of :meth:`Recorder.frame` (units in the names):

==================  =======================  ==============================================
column              dtype                    meaning
==================  =======================  ==============================================
at                  datetime64[ns, UTC]      when the operation started
op                  str                      set · get · delete · clear · encode · decode ·
                                             purge · rotate · reconcile · cleanup
tier                str                      db · object · none (nothing found)
dialect             str                      SQLAlchemy dialect of the metadata DB
protocol            str                      fsspec protocol of the object store, or ""
dag_id … key        str / int                the XCom's ids (empty for bulk operations)
codec               str                      codec chain (``json``, ``json+zstd+fernet``)
bytes_in            int                      serialized bytes (JSON text) of the value
bytes_stored        int                      bytes written/read where the value lives
serialize_s …       float                    seconds in serialize, compress, encrypt,
object_s, db_s                               object storage, database
total_s             float                    wall-clock seconds of the whole operation
ok                  bool                     False when the operation raised
==================  =======================  ==============================================
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # pandas is loaded by frame() only: recording stays free of it
    import pandas as pd

__all__ = ["PHASES", "Recorder", "Timer"]

_log = logging.getLogger(__name__)

PHASES: Final = ("serialize", "compress", "encrypt", "object", "db")
COLUMNS: Final = ["at", "op", "tier", "dialect", "protocol", "dag_id", "run_id", "task_id",
                  "map_index", "key", "codec", "bytes_in", "bytes_stored",
                  *(f"{p}_s" for p in PHASES), "total_s", "ok"]


@dataclass
class Timer:
    """Seconds per phase of one operation, plus what it moved."""

    op: str
    ids: dict[str, Any] = field(default_factory=dict)
    tier: str = "db"
    codec: str = ""
    bytes_in: int = 0
    bytes_stored: int = 0
    cache: str = ""  # "hit" / "miss" when the fan-in cache was consulted
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the time spent in the block to phase ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


Listener = Callable[[dict[str, Any]], None]


class Recorder:
    """A thread-safe list of operation records (off when ``enabled`` is False).

    ``listeners`` (the audit trail, metrics) are called with every record, kept or not;
    a record then also carries ``error`` (the exception class name, or None) and ``cache``.
    """

    def __init__(self, *, dialect: str, protocol: str, enabled: bool = True,
                 listeners: list[Listener] | None = None) -> None:
        self.dialect = dialect
        self.protocol = protocol
        self.enabled = enabled
        self.listeners: list[Listener] = list(listeners or [])
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, t: Timer, *, ok: bool = True, error: BaseException | None = None) -> None:
        """Append the record of a finished operation.

        With ``ok=False`` inside an ``except`` block, the exception being handled is the
        record's ``error`` unless ``error`` is given.
        """
        if not (self.enabled or self.listeners):
            return
        row: dict[str, Any] = {"at": t.at, "op": t.op, "tier": t.tier, "dialect": self.dialect,
                               "protocol": self.protocol, "dag_id": "", "run_id": "",
                               "task_id": "", "map_index": -1, "key": "", "codec": t.codec,
                               "bytes_in": t.bytes_in, "bytes_stored": t.bytes_stored, "ok": ok}
        row.update(t.ids)
        for p in PHASES:
            row[f"{p}_s"] = t.seconds[p]
        row["total_s"] = time.perf_counter() - t.started
        if self.listeners:
            exc = None if ok else (error or sys.exc_info()[1])
            self._notify({**row, "error": type(exc).__name__ if exc else None, "cache": t.cache})
        if self.enabled:
            with self._lock:
                self._rows.append(row)

    def _notify(self, row: dict[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(row)
            except Exception as exc:  # a listener never fails the operation it records
                _log.warning("listener %r failed on a %s record: %s", listener, row["op"],
                             type(exc).__name__)

    def frame(self) -> pd.DataFrame:
        """All records so far (see the module docstring for the columns)."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["at"] = pd.to_datetime(df["at"], utc=True)
        return df.astype({"map_index": "int64", "bytes_in": "int64", "bytes_stored": "int64",
                          "ok": "bool"})

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._rows.clear()
