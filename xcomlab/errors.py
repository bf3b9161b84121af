"""Errors raised by xcomlab: one root, each subclass also a matching built-in.

::

    XcomlabError
    ├── ExportFormatError (ValueError)       bad or unreadable export input
    │   └── SummaryFileError                 summary.store: a saved summary of another version, tampered or incomplete
    ├── SchemaMismatchError (ValueError)     a frame lacks columns or has wrong dtypes
    ├── UnsupportedSourceError (ValueError)  a source or database xcomlab cannot read or write
    ├── XComTooLargeError (ValueError)       a value over the store's configured maximum size
    ├── NotFittedError (AttributeError)      a model used before ``fit``
    ├── ParameterError (ValueError)          an argument's value outside what the function accepts
    ├── ParameterTypeError (TypeError)       an argument of a type the function cannot use
    ├── InsufficientDataError (ValueError)   too few usable rows (or days) for the analysis
    ├── SourceConnectionError (ConnectionError)  a database that refuses us (host, login, name)
    ├── StatementTimeoutError (TimeoutError)  a statement ran past the statement timeout asked for
    ├── AirflowConfigError (ValueError)      no usable connection in Airflow's own configuration
    ├── DiskModelError (ValueError)          analysis.disk: a dialect or parameter the model does not know
    ├── CompressibilityError (ValueError)    analysis.compressibility: an unknown codec, or no measurement
    ├── MissingPriceError (KeyError)         models.cost: no price for a (service, item) a cost needs
    ├── MeasureError (ValueError)            measure: a measurement run asked for what it cannot do
    ├── TeachError (TypeError)               teach: a result a TaskFlow task could not push as asked
    ├── ConfigError (ValueError)             backend.config: an invalid, inconsistent or unknown store setting
    ├── InvalidIdError (ValueError)          backend.paths: an id the metadata table cannot hold
    ├── SerdeError (TypeError)               backend.serde: no JSON form, or a serde payload cannot be rebuilt
    ├── CodecError (ValueError)              backend.codecs: a stored value that cannot be decoded
    │   ├── IntegrityError                   backend.codecs: bytes or sizes that differ from those recorded
    │   └── EnvelopeError                    backend.envelope: a row's envelope is malformed
    ├── StoredRowError (ValueError)          backend.rows: a stored row cannot be honoured; names the row
    │   └── ForeignObjectError (PermissionError)  backend.rows: an envelope points to another row's object
    ├── ObjectStoreError (OSError)           backend.objects: a missing object or a refused operation
    ├── AuditError (ValueError)              backend.audit: an invalid audit sink setting
    ├── MetricsUnavailableError (ImportError)  backend.metrics: metrics on, but no Airflow ``Stats``
    └── AccessDeniedError (PermissionError)  backend.store: the access policy refused a read

Errors raised while reading a stored row name it (``XCom 'key' of dag/run/task[map_index]``)
and carry it as ``.row``.

Every message quotes the offending value, says what was expected and where, and
names the fix when there is one. Quoted row content is masked (:func:`mask_quoted`):
exports can hold credentials, and error messages end up in logs and tickets. Classes named
with a module live there (the backend's in :mod:`xcomlab.backend`); ``tests/test_errors.py``
checks that this drawing lists every subclass in the package, under its real parent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "AirflowConfigError",
    "ExportFormatError",
    "InsufficientDataError",
    "NotFittedError",
    "ParameterError",
    "ParameterTypeError",
    "Reason",
    "Rejection",
    "SchemaMismatchError",
    "SourceConnectionError",
    "StatementTimeoutError",
    "UnsupportedSourceError",
    "XComTooLargeError",
    "XcomlabError",
    "mask_quoted",
    "mask_url",
]


class XcomlabError(Exception):
    """Root of every error xcomlab raises on purpose."""


#: Quoted text in a message: Python reprs ('...' or "...") and SQL-style quotes.
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'" + r'|"((?:[^"\\]|\\.)*)"')
#: Characters of quoted content shown before the mask (``'+5'`` stays readable).
SHOWN_CHARS = 3


def mask_quoted(text: str, keep: int = SHOWN_CHARS) -> str:
    """Mask the content of every quoted string longer than ``keep`` characters.

    ``found 'x5'`` stays as is; ``value='hunter2'`` becomes ``value='hun…(7 chars)'``.
    Used on row text and on database messages that quote row content.

    Examples
    --------
    >>> mask_quoted("key='password', value='hunter2', map_index='+5'")
    "key='pas…(8 chars)', value='hun…(7 chars)', map_index='+5'"
    """
    def one(m: re.Match[str]) -> str:
        quote = m.group(0)[0]
        body = m.group(1) if m.group(1) is not None else m.group(2)
        if len(body) <= keep:
            return m.group(0)
        return f"{quote}{body[:keep]}…({len(body)} chars){quote}"

    return _QUOTED.sub(one, text)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@:?#]*):([^/@?#]*)@")
#: Query parameters that carry credentials (presigned URLs, DSNs, SAS tokens).
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|secret|token|access_token|api_key|apikey|key|sig|"
    r"signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|sslpassword|client_secret)=)[^&;#]*")


def mask_url(url: str) -> str:
    """Mask the password and credential query parameters of a URL.

    Examples
    --------
    >>> mask_url("postgresql://airflow:s3cret@db:5432/airflow?sslpassword=x&sslmode=require")
    'postgresql://airflow:***@db:5432/airflow?sslpassword=***&sslmode=require'
    """
    out = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:***@", url)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}***", out)


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
        text = mask_quoted(rej.text) if "'" in rej.text or '"' in rej.text else \
            ",".join(mask_quoted(repr(f))[1:-1] for f in rej.text.split(","))
        shown = text if len(text) <= 160 else text[:157] + "..."
        msg = f"{rej.where()}: {mask_quoted(rej.detail)}"
        if shown:
            msg += f" (row, masked: {shown})"
        msg += (". Pass errors='collect' (CLI: --errors collect) to load the good rows and "
                "report the rejected ones.")
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


class SourceConnectionError(XcomlabError, ConnectionError):
    """A database refused the connection: host down, login refused, no such database."""


class StatementTimeoutError(XcomlabError, TimeoutError):
    """The database cancelled a statement that ran past the statement timeout asked for."""


class AirflowConfigError(XcomlabError, ValueError):
    """Airflow's configuration names no connection xcomlab can use."""
