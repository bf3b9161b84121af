"""Value classification: encoding, NaN, object-store references — without unpickling.

Works on Arrow arrays of *stored bytes* (Airflow 2: the raw ``value`` bytes; Airflow 3:
the JSON text in UTF-8). Cheap vectorized tests pick candidates; exact checks in
Python run only on those few rows. Nothing here ever calls ``pickle.loads``: a pickle
is recognised by its PROTO opcode (first byte 0x80), as Airflow's own 3.0 migration
does (reference/airflow_xcom.md §1.5).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab import schema as S

__all__ = ["CODES", "Classified", "RawValues", "classify", "is_json_3x", "nan_in_json",
           "rows_containing"]

#: Bytes of a value's head fetched for classification when values stay in the database.
HEAD_BYTES = 1024
#: Bytes of a value's tail needed to see a JSONB-ordered serde envelope's last key.
TAIL_BYTES = 96
#: Largest value that can be a bare reference (an URL in a JSON string, or an envelope).
MAX_REF_BYTES = 4096

_PICKLE_PROTO = pa.scalar(b"\x80", pa.binary())
# A top-level serde envelope: json.dumps order puts __classname__ first; PostgreSQL
# JSONB and MySQL JSON order keys by length, so it comes last. Legacy envelopes use
# __type/__var (reference/airflow_xcom.md §2.2).
_SERDE_HEAD = r'^\{\s*"(__classname__|__type|__var)"\s*:'
_SERDE_TAIL = r'"(__classname__|__type)"\s*:\s*"[^"\\]*"\s*\}\s*$'
_JSON_FIRST = r'^\s*(\{|\[|"|-?[0-9]|-?Infinity|NaN|true\s*$|false\s*$|null\s*$)'
_URL_STRING = r'^"[A-Za-z][A-Za-z0-9+.\-]*://[^"]*"$'
# Web links are not object-store references: fsspec's HTTP filesystem cannot be written
# to, so no XCom backend offloads there, while Airflow 3 stores operator links
# (``_link_*`` rows) as plain https URL strings (reference/airflow_xcom.md §8).
_WEB_URL = r'^"[Hh][Tt][Tt][Pp][Ss]?://'
_DOUBLE_JSON = r'^"(\{|\[|true"$|false"$|null"$|-?[0-9])'
#: Tokens whose presence makes a row a NaN candidate (then checked exactly).
_NAN_NEEDLES = (b"NaN", b"Infinity")
# A JSON string holding a JSON literal or number, with no escape and no control
# character (which json.loads would reject), spaces allowed around the number.
_DIGITS_NO_ESCAPE = r'^"-?[0-9][^\\]*$'
_DOUBLE_LITERAL = r'^"((true|false|null)|( *-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? *))"$'
#: Marker key of xcomlab's own reference envelope (see ``xcomlab.backend``).
ENVELOPE_KEY = "__xcomlab__"


@dataclass(frozen=True)
class RawValues:
    """Stored values of one batch, as much of them as the reader has.

    ``head`` holds the whole value when ``complete`` is true (file readers) or its
    first :data:`HEAD_BYTES` otherwise (SQL readers, which then also supply ``tail``,
    ``nan_hint`` and the full ``value`` of NaN candidates in ``full``).
    """

    head: pa.Array  # binary
    value_bytes: pa.Array  # int64, null where the value is SQL NULL or lost
    complete: bool
    tail: pa.Array | None = None
    nan_hint: pa.Array | None = None  # bool
    full: pa.Array | None = None  # binary, only where nan_hint is true


#: Position of each encoding label in :data:`xcomlab.schema.ENCODINGS` (its code).
CODES: dict[str, int] = {label: i for i, label in enumerate(S.ENCODINGS)}
_JSON, _SERDE, _DOUBLE = CODES["json"], CODES["serde"], CODES["double_json"]
_PICKLE, _TEXT, _NULL, _UNKNOWN = CODES["pickle"], CODES["text"], CODES["null"], CODES["unknown"]


@dataclass(frozen=True)
class Classified:
    """Per-row results of :func:`classify` (numpy / Python objects, batch-aligned).

    ``codes`` holds each row's encoding as its position in
    :data:`xcomlab.schema.ENCODINGS` (int8); :attr:`encoding` spells them out.
    """

    codes: np.ndarray  # int8 positions in S.ENCODINGS
    has_nan: np.ndarray  # bool
    ref_uri: list[str | None]
    ref_bytes: list[int | None]

    @property
    def encoding(self) -> np.ndarray:
        """Object array of :data:`xcomlab.schema.ENCODINGS` labels."""
        return np.asarray(S.ENCODINGS, dtype=object)[self.codes]


def classify(raw: RawValues, *, json_3x: bool) -> Classified:
    """Classify every value of a batch.

    Parameters
    ----------
    raw
        The stored values (see :class:`RawValues`).
    json_3x
        True for Airflow 3 tables, where the column holds JSON and a JSON string
        whose text is JSON marks a row written by Airflow core (``double_json``).
    """
    head = raw.head
    n = len(head)
    tail = raw.tail if raw.tail is not None else pc.binary_slice(head, -TAIL_BYTES)
    is_null = _np(pc.is_null(head))
    pickle = _np(pc.equal(pc.binary_slice(head, 0, 1), _PICKLE_PROTO))
    looks_json = _np(pc.match_substring_regex(head, _JSON_FIRST))
    serde = _np(pc.match_substring_regex(head, _SERDE_HEAD)) | (
        _np(pc.starts_with(head, "{")) & _np(pc.match_substring_regex(tail, _SERDE_TAIL))
    )
    codes = np.full(n, _JSON, dtype=np.int8)
    codes[~looks_json] = _TEXT
    codes[serde] = _SERDE
    codes[pickle] = _PICKLE
    codes[is_null] = _NULL
    _mark_non_utf8(head, codes, raw.complete)

    has_nan = np.zeros(n, dtype=bool)
    _find_nan(raw, codes, has_nan)
    ref_uri: list[str | None] = [None] * n
    ref_bytes: list[int | None] = [None] * n
    _find_refs(head, raw.value_bytes, ref_uri, ref_bytes)
    if json_3x:
        _find_double_json(head, raw.complete, codes, has_nan)
    return Classified(codes, has_nan, ref_uri, ref_bytes)


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.fill_null(False), dtype=bool)


def _mark_non_utf8(head: pa.Array, codes: np.ndarray, complete: bool) -> None:
    """Text that is not UTF-8 (and not a pickle) is of unknown encoding."""
    textual = np.flatnonzero(codes == _TEXT)
    if not len(textual):
        return
    for i in textual:
        b = head[int(i)].as_py()
        try:
            b.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A head cut mid-character is still UTF-8 if only the cut is at fault.
            if complete or exc.start < len(b) - 3:
                codes[i] = _UNKNOWN


def _find_nan(raw: RawValues, codes: np.ndarray, has_nan: np.ndarray) -> None:
    if raw.complete:
        candidates = rows_containing(raw.head, _NAN_NEEDLES)
        source = raw.head
    elif raw.nan_hint is not None and raw.full is not None:
        candidates = _np(raw.nan_hint)
        source = raw.full
    else:
        return
    candidates &= (codes == _JSON) | (codes == _SERDE) | (codes == _TEXT)
    for i in np.flatnonzero(candidates):
        text = _utf8(source[int(i)].as_py())
        if text is not None and nan_in_json(text):
            has_nan[i] = True
            if codes[i] == _TEXT:  # a bare NaN is JSON with a NaN, not text
                codes[i] = _JSON


def _find_refs(
    head: pa.Array, value_bytes: pa.Array, ref_uri: list[str | None], ref_bytes: list[int | None]
) -> None:
    small = _np(pc.less_equal(value_bytes, MAX_REF_BYTES))
    url = _np(pc.match_substring_regex(head, _URL_STRING)) & small
    url &= ~_np(pc.match_substring_regex(head, _WEB_URL).fill_null(False))
    for i in np.flatnonzero(url):
        ref_uri[i] = _json_loads(head[int(i)].as_py())
    envelope = rows_containing(head, (f'"{ENVELOPE_KEY}"'.encode(),)) & small
    for i in np.flatnonzero(envelope):
        obj = _json_loads(head[int(i)].as_py())
        if isinstance(obj, dict) and obj.get(ENVELOPE_KEY) and isinstance(obj.get("uri"), str):
            ref_uri[i] = obj["uri"]
            stored = obj.get("stored_bytes")
            ref_bytes[i] = stored if isinstance(stored, int) else None


def _find_double_json(
    head: pa.Array, complete: bool, codes: np.ndarray, has_nan: np.ndarray
) -> None:
    candidates = _np(pc.match_substring_regex(head, _DOUBLE_JSON)) & (codes == _JSON)
    if not candidates.any():
        return
    # Decided without Python: a JSON string holding exactly a JSON literal, or a plain
    # JSON number (no escapes, so the inner text is the bytes between the quotes; no
    # NaN can hide there).
    literal = _np(pc.match_substring_regex(head, _DOUBLE_LITERAL)) & candidates
    codes[literal] = _DOUBLE
    # Any other string that starts with a digit and has no escape holds no JSON.
    candidates &= ~literal & ~_np(pc.match_substring_regex(head, _DIGITS_NO_ESCAPE))
    for i in np.flatnonzero(candidates):
        raw = head[int(i)].as_py()
        inner = _json_loads(raw)
        if not isinstance(inner, str):
            # A head cut short by a SQL reader still shows an encoded object or list.
            if not complete and _DOUBLE_PREFIX.match(raw):
                codes[i] = _DOUBLE
            continue
        if is_json_3x(inner):
            codes[i] = _DOUBLE
            has_nan[i] = has_nan[i] or nan_in_json(inner)


_DOUBLE_PREFIX = re.compile(rb'^"(\{\\"|\[)')


def is_json_3x(text: str) -> bool:
    """Return True when ``text`` parses as JSON (NaN/Infinity allowed, as core writes them)."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def nan_in_json(text: str) -> bool:
    """Return True when the JSON ``text`` holds a NaN or ±Infinity token outside strings.

    Falls back to a string-aware scan when ``text`` is not valid JSON.

    Examples
    --------
    >>> nan_in_json('[1.5, NaN]'), nan_in_json('{"note": "NaN"}')
    (True, False)
    """
    seen: list[str] = []

    def constant(name: str) -> float:
        seen.append(name)
        return 0.0

    try:
        json.loads(text, parse_constant=constant)
    except ValueError:
        return bool(_NAN_OUTSIDE_STRINGS.search(_STRINGS.sub('""', text)))
    return bool(seen)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAN_OUTSIDE_STRINGS = re.compile(r"(?<![A-Za-z0-9_])-?(NaN|Infinity)(?![A-Za-z0-9_])")


def _utf8(b: bytes | None) -> str | None:
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_loads(b: bytes | None) -> Any:
    text = _utf8(b)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def rows_containing(arr: pa.Array, needles: tuple[bytes, ...]) -> np.ndarray:
    """Rows of a binary array whose bytes contain any of ``needles``.

    One vectorized pass over the array's data buffer per needle: positions of the
    needle's first byte, narrowed byte by byte, mapped back to rows. Much faster than
    a regex or substring kernel for rare tokens. A hit in a null slot's bytes (Arrow
    does not promise empty null slots) may mark that row; callers mask nulls out.
    """
    n = len(arr)
    out = np.zeros(n, dtype=bool)
    if not pa.types.is_binary(arr.type) or isinstance(arr, pa.ChunkedArray):
        pattern = "|".join(re.escape(nd.decode("latin-1")) for nd in needles)
        return _np(pc.match_substring_regex(arr, pattern))
    if n == 0 or arr.null_count == n:
        return out
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    if bufs[2] is None or stop <= start:
        return out
    data = np.frombuffer(bufs[2], dtype=np.uint8)[start:stop]
    for needle in needles:
        span = len(data) - len(needle) + 1
        if span <= 0:
            continue
        a = _anchor(needle)
        pos = np.flatnonzero(data[a : a + span] == needle[a])
        for k in range(len(needle)):
            if k != a:
                pos = pos[data[pos + k] == needle[k]]
        if len(pos):
            out[np.searchsorted(offsets, pos + start, side="right") - 1] = True
    return out


#: Bytes frequent in JSON text; a needle is first searched by one of its other bytes.
_COMMON = frozenset(b'" _:,.{}[]0123456789abcdefghilmnoprstu')


def _anchor(needle: bytes) -> int:
    return next((k for k, b in enumerate(needle) if b not in _COMMON), 0)
