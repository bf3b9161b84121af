"""Errors raised by xcomlab: one root, each subclass also a matching built-in.

::

    XcomlabError
    ├── ExportFormatError (ValueError)       bad or unreadable export input
    ├── SchemaMismatchError (ValueError)     a frame lacks columns or has wrong dtypes
    ├── UnsupportedSourceError (ValueError)  a source or database xcomlab cannot read or write
    ├── XComTooLargeError (ValueError)       a value over the store's configured maximum size
    ├── NotFittedError (AttributeError)      a model used before ``fit``
    ├── ParameterError (ValueError)          an argument's value outside what the function accepts
    ├── ParameterTypeError (TypeError)       an argument of a type the function cannot use
    ├── InsufficientDataError (ValueError)   too few usable rows (or days) for the analysis
    ├── DiskModelError (ValueError)          analysis.disk: a dialect or parameter the model does not know
    ├── MissingPriceError (KeyError)         models.cost: no price for a (service, item) a cost needs
    ├── MeasureError (ValueError)            measure: a measurement run asked for what it cannot do
    ├── TeachError (TypeError)               teach: a result a TaskFlow task could not push as asked
    ├── ConfigError (ValueError)             backend.config: an invalid or inconsistent store setting
    ├── InvalidIdError (ValueError)          backend.paths: an id the metadata table cannot hold
    ├── SerdeError (TypeError)               backend.serde: a value with no JSON form here
    ├── CodecError (ValueError)              backend.codecs: a stored value that cannot be decoded
    │   └── IntegrityError                   backend.codecs: bytes that do not match their sha256
    ├── ObjectStoreError (OSError)           backend.objects: a missing object or a refused operation
    └── AccessDeniedError (PermissionError)  backend.store: the access policy refused a read

Every message quotes the offending value, says what was expected and where, and
names the fix when there is one. Classes named with a module live there (the backend's
in :mod:`xcomlab.backend`); ``tests/test_errors.py`` checks that this drawing lists every
subclass in the package, under its real parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ExportFormatError",
    "InsufficientDataError",
    "NotFittedError",
    "ParameterError",
    "ParameterTypeError",
    "Reason",
    "Rejection",
    "SchemaMismatchError",
    "UnsupportedSourceError",
    "XComTooLargeError",
    "XcomlabError",
]


class XcomlabError(Exception):
    """Root of every error xcomlab raises on purpose."""


class Reason(str, Enum):
    """Why a row of an export was rejected."""

    MISSING_COLUMN = "missing_column"
    FIELD_COUNT = "field_count"
    BAD_INTEGER = "bad_integer"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_VALUE = "bad_value"
    BAD_JSON = "bad_json"
    NULL_IDENTIFIER = "null_identifier"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Rejection:
    """One row of an export that could not be read.

    ``line`` is the physical 1-based line in the file when known, ``row`` the
    1-based data record (header excluded) within its table.
    """

    path: str
    table: str
    row: int | None
    line: int | None
    column: str | None
    reason: Reason
    detail: str
    text: str = ""

    def where(self) -> str:
        """Return ``file, line L (row R), column C`` for a message."""
        parts = [self.path]
        if self.table:
            parts.append(f"table {self.table}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class ExportFormatError(XcomlabError, ValueError):
    """An export is malformed: the message names file, line/row, column and expectation."""

    def __init__(self, message: str, rejection: Rejection | None = None) -> None:
        super().__init__(message)
        self.rejection = rejection

    @classmethod
    def from_rejection(cls, rej: Rejection) -> ExportFormatError:
        """Build the error for one rejected row, with the fix for strict mode."""
        shown = rej.text if len(rej.text) <= 120 else rej.text[:117] + "..."
        msg = f"{rej.where()}: {rej.detail}"
        if shown:
            msg += f" (text: {shown!r})"
        msg += ". Pass errors='collect' to load the good rows and report the rejected ones."
        return cls(msg, rej)


class SchemaMismatchError(XcomlabError, ValueError):
    """A DataFrame does not follow the documented frame contract."""


class UnsupportedSourceError(XcomlabError, ValueError):
    """A source whose format or scheme xcomlab cannot read."""


class XComTooLargeError(XcomlabError, ValueError):
    """A value is larger than the XCom store's configured maximum; nothing was written."""


class NotFittedError(XcomlabError, AttributeError):
    """A model was used before ``fit``."""


class ParameterError(XcomlabError, ValueError):
    """An argument's value is outside what the function accepts; the message names both."""


class InsufficientDataError(XcomlabError, ValueError):
    """A frame holds too few usable rows (or days) for the analysis asked of it."""


class ParameterTypeError(XcomlabError, TypeError):
    """An argument of a type the function cannot use; the message names the expected type."""
