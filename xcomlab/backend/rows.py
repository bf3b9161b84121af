"""Rows: a stored row's identity, the only object URIs its ids allow, and the errors naming it.

Whatever a task sends is stored as the row's ``value`` (Airflow's API server keeps any JSON),
so an envelope is untrusted input. An offloaded value is honoured only when its ``uri`` is
one that :func:`~xcomlab.backend.paths.object_key` could have produced for *this* row::

    <object_base>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>-<32 hex><extension>

(each id percent-encoded as :func:`~xcomlab.backend.paths.encode_segment` does, the extension
one of an allowed codec chain's). A row of DAG ``attacker`` that copies the URI of DAG
``victim``'s object is refused with :class:`ForeignObjectError`: the object is neither read
nor deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from xcomlab.backend.codecs import ALLOWED_CHAINS, EXTENSIONS
from xcomlab.backend.paths import encode_segment
from xcomlab.errors import XcomlabError

__all__ = ["ForeignObjectError", "RowRef", "StoredRowError", "name_row"]

#: Object-name extensions of the allowed codec chains (``.json.zst.fernet``, …).
ALLOWED_EXTENSIONS: Final = frozenset("".join(EXTENSIONS[p] for p in c.split("+"))
                                      for c in ALLOWED_CHAINS)
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_\-%~]+")
_MAP_INDEX: Final = re.compile(r"-1|0|[1-9][0-9]{0,9}")
_NAME: Final = re.compile(r"([A-Za-z0-9_\-%~]+)-([0-9a-f]{32})((?:\.[a-z]+)+)")


@dataclass(frozen=True)
class RowRef:
    """The ids of one xcom row. ``None`` marks an id the caller does not know (an Airflow
    adapter that is handed a value without its ids); a known id must match exactly."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        def show(v: Any) -> str:
            return "?" if v is None else str(v)

        return (f"XCom {show(self.key)!r} of {show(self.dag_id)}/{show(self.run_id)}/"
                f"{show(self.task_id)}[{show(self.map_index)}]")

    def as_tuple(self) -> tuple[str | None, str | None, str | None, int | None, str | None]:
        """``(dag_id, run_id, task_id, map_index, key)``."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index, self.key)

    def owns(self, uri: str, base: str) -> bool:
        """True when ``uri`` is an object name this row's ids produce under ``base``."""
        prefix = base.rstrip("/") + "/"
        if not isinstance(uri, str) or not uri.startswith(prefix):
            return False
        parts = uri[len(prefix):].split("/")
        if len(parts) != 5:
            return False
        for seg, ident in zip(parts[:3], (self.dag_id, self.run_id, self.task_id), strict=True):
            if not _SEGMENT.fullmatch(seg) or (ident is not None and seg != encode_segment(ident)):
                return False
        if not _MAP_INDEX.fullmatch(parts[3]) or (
                self.map_index is not None and parts[3] != str(int(self.map_index))):
            return False
        m = _NAME.fullmatch(parts[4])
        if m is None or m.group(3) not in ALLOWED_EXTENSIONS:
            return False
        return self.key is None or m.group(1) == encode_segment(self.key)

    def check_uri(self, uri: Any, base: str | None) -> str:
        """Return ``uri`` when this row owns it, else raise :class:`ForeignObjectError`."""
        if base is None:
            msg = f"{self}: points to {uri!r} but the store has no object_base; not read"
            raise ForeignObjectError(msg, row=self)
        if not self.owns(uri, base):
            shown = uri if isinstance(uri, str) and len(uri) <= 300 else f"{str(uri)[:300]}…"
            msg = (f"{self}: its envelope points to {shown!r}, which is not an object of this "
                   f"row (expected {base}/<dag>/<run>/<task>/<map_index>/<key>-<hex><ext> from "
                   "the row's own ids); refused, the object was neither read nor deleted")
            raise ForeignObjectError(msg, row=self)
        return str(uri)


class StoredRowError(XcomlabError, ValueError):
    """A stored row cannot be honoured (malformed envelope or serde payload); the message
    and ``row`` name the row."""

    def __init__(self, message: str, *, row: RowRef | None = None) -> None:
        super().__init__(message)
        self.row = row


class ForeignObjectError(StoredRowError, PermissionError):
    """A row's envelope points to an object that its own ids do not produce."""


def name_row(exc: Exception, row: RowRef | None) -> XcomlabError:
    """``exc`` as an :class:`~xcomlab.errors.XcomlabError` whose message names ``row``.

    An xcomlab error keeps its class (its message gets the row in front, once); any other
    exception (``KeyError``, ``RecursionError``, ``decimal.InvalidOperation``, …) becomes a
    :class:`StoredRowError` chained to it.
    """
    where = str(row) if row is not None else "a stored XCom"
    if isinstance(exc, XcomlabError):
        first = str(exc.args[0]) if exc.args else ""
        if row is not None and not first.startswith(where):
            exc.args = (f"{where}: {first}", *exc.args[1:])
        if getattr(exc, "row", None) is None:
            exc.row = row  # type: ignore[attr-defined]
        return exc
    detail = str(exc)
    detail = detail if len(detail) <= 200 else detail[:200] + "…"
    msg = f"{where}: its stored value cannot be decoded ({type(exc).__name__}: {detail})"
    err = StoredRowError(msg, row=row)
    err.__cause__ = exc
    return err
