"""Turn the text an export holds for ``value`` back into the bytes Airflow stored.

Exports spell values differently (docs/airflow-xcom.md#exports): ``psql`` writes bytea
as ``\\x7b22…`` hex and JSON as text; ``airflow db export-archived`` writes Python
reprs — ``b'…'`` from SQLite, ``<memory at 0x…>`` (value lost) or the decoded JSON's
repr (size approximate) from PostgreSQL. Each spelling has a mode here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab.ingest.classify import RawValues
from xcomlab.ingest.normalize import hex_to_binary

__all__ = ["ValueMode", "ValueText", "detect_mode", "values_from_text"]


class ValueMode(str, Enum):
    """How the ``value`` column of an export spells the stored value."""

    HEX = "hex"  # PostgreSQL bytea hex: \x7b22...
    BYTES_REPR = "bytes_repr"  # Python bytes repr: b'{"a": 1}'
    JSON = "json"  # the stored JSON text itself
    MEMORY = "memory"  # <memory at 0x...>: psycopg2 memoryview str(), value lost
    PYTHON_REPR = "python_repr"  # repr of the decoded JSON: {'a': 1}, hello, True


@dataclass(frozen=True)
class ValueText:
    """Stored values rebuilt from text, with per-row flags."""

    values: RawValues
    lost: np.ndarray
    approx: np.ndarray
    bad: np.ndarray  # rows whose text does not fit the mode


_MEMORY = re.compile(r"^<memory at 0x[0-9a-fA-F]+>$")


def detect_mode(sample: Sequence[str | None], *, crlf: bool) -> ValueMode:
    """Guess the value spelling from a sample of non-empty cells of one export.

    ``crlf`` is true when the file has Windows line ends, as ``export-archived``
    (Python's ``csv`` module) writes them.
    """
    cells = [s for s in sample if s]
    if any(s.startswith("\\x") for s in cells):
        return ValueMode.HEX
    if any(_MEMORY.match(s) for s in cells):
        return ValueMode.MEMORY
    if any(s.startswith(("b'", 'b"')) for s in cells):
        return ValueMode.BYTES_REPR
    if crlf and any(_is_python_repr(s) for s in cells):
        return ValueMode.PYTHON_REPR
    return ValueMode.JSON


def _is_python_repr(s: str) -> bool:
    if s in ("True", "False", "None") or s.startswith(("{'", "['")):
        return True
    try:
        json.loads(s)
    except RecursionError:  # deeply nested brackets: JSON-shaped, not a repr
        return False
    except ValueError:
        return True
    return False


def values_from_text(text: pa.Array, mode: ValueMode) -> ValueText:
    """Rebuild stored bytes from an export's value text, vectorized where possible."""
    n = len(text)
    lost = np.zeros(n, dtype=bool)
    approx = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    if mode is ValueMode.HEX:
        hexed = np.asarray(pc.starts_with(text, "\\x").fill_null(True))
        bad |= ~hexed
        clean = text if hexed.all() else pc.if_else(pa.array(hexed), text,
                                                    pa.scalar("\\x", pa.string()))
        head, badhex = hex_to_binary(clean, 2)
        bad |= badhex
    elif mode is ValueMode.JSON:
        head = pc.cast(text, pa.binary())
    elif mode is ValueMode.MEMORY:
        mem = np.asarray(pc.match_substring_regex(text, _MEMORY.pattern).fill_null(False))
        lost |= mem
        bad |= ~mem & np.asarray(pc.is_valid(text))
        head = pa.nulls(n, pa.binary())
    elif mode is ValueMode.BYTES_REPR:
        head, bad = _bytes_reprs(text)
    else:
        head = _python_reprs(text)
        # every cell is approximate, empty ones included: SQL NULL and JSON null
        # (4 bytes in the database) both come out as an empty cell
        approx[:] = True
    if bad.any():
        head = pc.if_else(pa.array(bad), pa.scalar(None, pa.binary()), head)
    value_bytes = pc.binary_length(head).cast(pa.int64())
    return ValueText(RawValues(head, value_bytes, complete=True), lost, approx, bad)


def _bytes_reprs(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    out: list[bytes | None] = []
    bad = np.zeros(len(text), dtype=bool)
    for i, s in enumerate(text.to_pylist()):
        if s is None:
            out.append(None)
            continue
        if not s.startswith(("b'", 'b"')):
            out.append(None)
            bad[i] = True
            continue
        try:
            v = ast.literal_eval(s)  # literals only: never evaluates code or unpickles
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            v = None
        if isinstance(v, bytes):
            out.append(v)
        else:
            out.append(None)
            bad[i] = True
    return pa.array(out, pa.binary()), bad


def _python_reprs(text: pa.Array) -> pa.Array:
    """Rebuild JSON text from the repr of decoded JSON (PostgreSQL export-archived, 3.x).

    The result is approximate: strings lost their quotes, so ``"42"`` and ``42`` look
    alike, and JSONB's key order and spacing are gone.
    """
    out: list[bytes | None] = []
    for s in text.to_pylist():
        if s is None or s == "":
            out.append(None)  # SQL NULL and JSON null both come out empty
            continue
        try:
            v = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            v = s  # an unquoted string
        try:
            out.append(json.dumps(v).encode("utf-8"))
        except (TypeError, ValueError):
            out.append(json.dumps(s).encode("utf-8"))
    return pa.array(out, pa.binary())
