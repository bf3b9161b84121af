"""PostgreSQL's ``jsonb`` binary form of a JSON text: what TOAST compresses for Airflow 3.

Airflow 3 stores XCom values in a ``jsonb`` column on PostgreSQL; TOAST compresses the
binary container, not the text, and the two compress differently (JEntry offsets, no
quotes or commas, numerics in base 10000). :func:`encode` rebuilds that binary form from the
layout PostgreSQL documents in ``src/include/utils/jsonb.h`` and ``jsonb_util.c``
(postgres/postgres on GitHub, read 2026-11-25; written from the description, not copied):

* a container is a 4 B header (count | object / array / raw-scalar flag), one 4 B JEntry
  per element (objects: every key, then every value), then the data; a JEntry holds the
  type and the length, every 32nd the end offset instead;
* object keys are unique (the last one wins) and sorted by length, then bytewise;
* strings are raw UTF-8; numerics are a ``numeric`` varlena (4 B header, 2 B short
  header, one int16 per base-10000 digit); numerics and nested containers start on a
  4-byte boundary (the padding counts in the element's length);
* a top-level scalar is a one-element raw-scalar array.

Checked in ``tests/analysis/test_pglz.py``: its length + 4 equals ``pg_column_size`` of
short values, and pglz of it matches ``pg_column_size`` of compressed ``jsonb`` values.
"""

from __future__ import annotations

import json
import struct
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = ["encode"]

_STRIDE: Final = 32
_HAS_OFF: Final = 0x80000000
_STRING, _NUMERIC, _FALSE, _TRUE, _NULL, _CONTAINER = (t << 28 for t in range(6))
_F_SCALAR, _F_OBJECT, _F_ARRAY = 0x10000000, 0x20000000, 0x40000000
_VARHDR: Final = 4


class _Num(str):
    """A JSON number kept as its text (jsonb stores it as numeric, exactly)."""


def _numeric(text: str) -> bytes:
    """The ``numeric`` varlena PostgreSQL builds from a JSON number's text."""
    try:
        sign, digits, exp = Decimal(text).as_tuple()
    except InvalidOperation:
        return struct.pack("<IH", (_VARHDR + 2) << 2, 0xC000)  # NaN: not valid JSON anyway
    if not isinstance(exp, int):
        return struct.pack("<IH", (_VARHDR + 2) << 2, 0xC000)
    dscale = max(0, -exp)
    ds = "".join(map(str, digits)) or "0"
    if exp >= 0:
        int_part, frac = ds + "0" * exp, ""
    elif len(ds) + exp > 0:
        int_part, frac = ds[:len(ds) + exp], ds[len(ds) + exp:]
    else:
        int_part, frac = "", "0" * -(len(ds) + exp) + ds
    int_part = int_part.lstrip("0")
    int_part = "0" * (-len(int_part) % 4) + int_part
    frac = frac + "0" * (-len(frac) % 4)
    groups = [int(int_part[i:i + 4]) for i in range(0, len(int_part), 4)]
    weight = len(groups) - 1
    groups += [int(frac[i:i + 4]) for i in range(0, len(frac), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    neg = bool(sign) and bool(groups)
    if -64 <= weight <= 63 and dscale <= 63:
        head = 0x8000 | (0x2000 if neg else 0) | (dscale << 7) | (0x40 if weight < 0 else 0) | (weight & 0x3F)
        body = struct.pack("<H", head)
    else:
        body = struct.pack("<Hh", (0x4000 if neg else 0) | (dscale & 0x3FFF), weight)
    body += struct.pack(f"<{len(groups)}H", *groups)
    return struct.pack("<I", (_VARHDR + len(body)) << 2) + body


class _Buffer:
    def __init__(self) -> None:
        self.buf = bytearray(_VARHDR)  # positions count from the varlena header, as in PostgreSQL

    def pad(self) -> None:
        self.buf += bytes(-len(self.buf) % 4)


def _scalar(b: _Buffer, v: Any) -> int:
    """Append a scalar; return its JEntry type bits."""
    if v is None:
        return _NULL
    if v is True:
        return _TRUE
    if v is False:
        return _FALSE
    if isinstance(v, _Num):
        b.pad()
        b.buf += _numeric(v)
        return _NUMERIC
    b.buf += str(v).encode()
    return _STRING


def _value(b: _Buffer, v: Any) -> int:
    if isinstance(v, dict | list):
        _container(b, v, scalar=False)
        return _CONTAINER
    return _scalar(b, v)


def _container(b: _Buffer, v: dict[str, Any] | list[Any], *, scalar: bool) -> None:
    b.pad()
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (len(k.encode()), k.encode()))
        items: list[tuple[bool, Any]] = [(True, k) for k in keys] + [(False, v[k]) for k in keys]
        header = len(keys) | _F_OBJECT
    else:
        items = [(False, x) for x in v]
        header = len(v) | _F_ARRAY | (_F_SCALAR if scalar else 0)
    start = len(b.buf)
    b.buf += struct.pack("<I", header) + bytes(4 * len(items))
    total = 0
    for i, (is_key, x) in enumerate(items):
        before = len(b.buf)
        kind = _scalar(b, x) if is_key else _value(b, x)
        total += len(b.buf) - before
        meta = kind | (total | _HAS_OFF if i % _STRIDE == 0 else len(b.buf) - before)
        struct.pack_into("<I", b.buf, start + 4 + 4 * i, meta)


def encode(text: str | bytes) -> bytes:
    """The ``jsonb`` container (the varlena's data, without its 4 B header) for a JSON text.

    Raises ``ValueError`` when ``text`` is not JSON.

    Examples
    --------
    >>> len(encode('{"a": 1}'))  # header, 2 JEntries, "a", pad, numeric 1
    20
    """
    doc = json.loads(text, parse_int=_Num, parse_float=_Num,
                     parse_constant=lambda c: _Num("NaN"))
    b = _Buffer()
    if isinstance(doc, dict | list):
        _container(b, doc, scalar=False)
    else:
        _container(b, [doc], scalar=True)
    return bytes(b.buf[_VARHDR:])
