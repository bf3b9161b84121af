"""Value classification: encoding, NaN, object-store references — without unpickling.

Works on Arrow arrays of *stored bytes* (Airflow 2: the raw ``value`` bytes; Airflow 3:
the JSON text in UTF-8). Cheap vectorized tests pick candidates; exact checks in
Python run only on those few rows. Nothing here ever calls ``pickle.loads``: a pickle
is recognised by its PROTO opcode (first byte 0x80), as Airflow's own 3.0 migration
does (docs/airflow-xcom.md#migration-0049).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab import schema as S
from xcomlab.errors import mask_url

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
# __type/__var (docs/airflow-xcom.md#serialization-3).
_SERDE_HEAD = r'^\{\s*"(__classname__|__type|__var)"\s*:'
_SERDE_TAIL = r'"(__classname__|__type)"\s*:\s*"[^"\\]*"\s*\}\s*$'
_JSON_FIRST = r'^\s*(\{|\[|"|-?[0-9]|-?Infinity|NaN|true\s*$|false\s*$|null\s*$)'
_URL_STRING = r'^"[A-Za-z][A-Za-z0-9+.\-]*://[^"]*"$'
# Web links are not object-store references: fsspec's HTTP filesystem cannot be written
# to, so no XCom backend offloads there, while Airflow 3 stores operator links
# (``_link_*`` rows) as plain https URL strings (docs/airflow-xcom.md#core-keys).
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
    #: The rows whose ``ref_uri`` is set, in order (references are rare).
    ref_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))

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

    Notes
    -----
    Every rule is anchored at a value's first or last bytes, so the first, second,
    third, fourth and last two bytes of each value (numpy gathers through the Arrow
    offsets, no pass over the data) decide most rows exactly; the rules' regexes run
    only on the few rows those bytes leave open. Results are those of the regexes.
    """
    head = _contiguous(raw.head)
    hb = _Bytes(head)
    tail = None if raw.tail is None else _contiguous(raw.tail)
    tb = hb if tail is None else _Bytes(tail)
    n = len(head)
    fb = hb.at(0)
    pickle = fb == 0x80
    codes = np.full(n, _JSON, dtype=np.int8)
    codes[~_looks_json(head, hb, fb) & ~pickle] = _TEXT
    codes[_serde(head, hb, tail, tb, fb)] = _SERDE
    codes[pickle] = _PICKLE
    codes[~hb.valid] = _NULL
    _mark_non_utf8(head, codes, raw.complete)

    has_nan = np.zeros(n, dtype=bool)
    _find_nan(raw, codes, has_nan)
    ref_uri: list[str | None] = [None] * n
    ref_bytes: list[int | None] = [None] * n
    candidates = _find_refs(head, hb, fb, raw.value_bytes, ref_uri, ref_bytes)
    if json_3x:
        _find_double_json(head, hb, fb, raw.complete, codes, has_nan)
    ref_rows = np.array([i for i in candidates if ref_uri[i] is not None], dtype=np.intp)
    return Classified(codes, has_nan, ref_uri, ref_bytes, ref_rows)


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.fill_null(False) if arr.null_count else arr, dtype=bool)


_NO_ROWS = np.empty(0, dtype=np.intp)


def _rows(mask: np.ndarray) -> np.ndarray:
    """Positions of a mask's true rows (most masks here are all false: checked first)."""
    return np.flatnonzero(mask) if mask.any() else _NO_ROWS


def _contiguous(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array with a binary layout (``binary``/``string``, 32- or 64-bit offsets)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], arr.type)
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)
            or pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.binary())
    return arr


class _Bytes:
    """Numpy views of a binary array's offsets and data, to read bytes at fixed places."""

    def __init__(self, arr: pa.Array) -> None:
        n = len(arr)
        bufs = arr.buffers()
        large = pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32) if n else np.zeros(1, np.int32)
        # int32 offsets (binary arrays under 2 GiB) stay int32: half the memory traffic.
        self.offsets: np.ndarray = offsets[arr.offset : arr.offset + n + 1]
        self.data = np.frombuffer(bufs[2], dtype=np.uint8) if len(bufs) > 2 and bufs[2] is not None else np.empty(0, np.uint8)
        if arr.null_count:
            self.valid = np.asarray(arr.is_valid())
            self.length = np.where(self.valid, np.diff(self.offsets), 0)
        else:
            self.valid = np.ones(n, dtype=bool)
            self.length = np.diff(self.offsets)
        self._at: dict[int, np.ndarray] = {}
        self.arr = arr

    def at(self, k: int) -> np.ndarray:
        """Byte ``k`` of each value (``k < 0`` counts from its end); -1 where it has none."""
        if k not in self._at:
            self._at[k] = self._byte(k)
        return self._at[k]

    def _byte(self, k: int) -> np.ndarray:
        n = len(self.length)
        if not len(self.data):
            return np.full(n, -1, dtype=np.int16)
        if k >= 0:
            has = self.length > k
            pos = self.offsets[:-1] + k
        else:
            has = self.length >= -k
            pos = self.offsets[1:] + k
        got = self.data.take(pos, mode="clip").astype(np.int16)
        return np.where(has, got, np.int16(-1))

    def first(self, rows: np.ndarray, width: int) -> np.ndarray:
        """The first ``width`` bytes of the values at ``rows``: int16, -1 past a value's end."""
        step = np.arange(width)
        inside = step[None, :] < self.length[rows, None]
        pos = np.where(inside, self.offsets[rows, None] + step[None, :], 0)
        return np.where(inside, self.data.take(pos, mode="clip").astype(np.int16), np.int16(-1))

    def last(self, rows: np.ndarray, width: int) -> pa.Array:
        """The last ``width`` bytes of the values at ``rows``, as a binary array."""
        return pc.binary_slice(self.arr.take(pa.array(rows)), -width, 2**31 - 1)


def _in(b: np.ndarray, chars: bytes) -> np.ndarray:
    """Rows whose byte ``b`` is one of ``chars``."""
    table = np.zeros(257, dtype=bool)  # slot 256 (read as -1): no such byte
    table[list(chars)] = True
    return table[b]


def _match(arr: pa.Array, rows: np.ndarray, pattern: str) -> np.ndarray:
    """``match_substring_regex`` on the rows ``rows`` (a mask) only; False elsewhere."""
    out = np.zeros(len(arr), dtype=bool)
    if rows.any():
        idx = np.flatnonzero(rows)
        out[idx] = _np(pc.match_substring_regex(arr.take(pa.array(idx)), pattern))
    return out


_DIGITS = b"0123456789"
# RE2's \s is [\t\n\f\r ]; \v is included too, which only widens the candidates.
_SPACE = b"\t\n\v\f\r "


def _looks_json(head: pa.Array, hb: _Bytes, fb: np.ndarray) -> np.ndarray:
    """:data:`_JSON_FIRST` on every row: decided by the first byte(s), the regex otherwise."""
    sure = _in(fb, b'{["' + _DIGITS) | ((fb == ord("-")) & _in(hb.at(1), _DIGITS))
    open_rows = hb.valid & ~sure & (fb != 0x80)
    literal = _rows(open_rows & _in(fb, b"tfn") & (hb.length <= 5))
    if len(literal):  # the bare literals themselves, byte for byte (no trailing space)
        sure[literal] = _is_literal(hb, literal)
        open_rows[literal] &= ~sure[literal]
    return sure | _match(head, open_rows, _JSON_FIRST)


_LITERALS = tuple(np.frombuffer(w, dtype=np.uint8) for w in (b"null", b"true", b"false"))


def _is_literal(hb: _Bytes | _Inner, rows: np.ndarray) -> np.ndarray:
    """Which values at ``rows`` are exactly ``null``, ``true`` or ``false``."""
    start = hb.first(rows, 5)
    length = hb.length[rows]
    out = np.zeros(len(rows), dtype=bool)
    for word in _LITERALS:
        same = (start[:, : len(word)] == word).all(axis=1) & (length == len(word))
        out |= same
    return out


def _serde(head: pa.Array, hb: _Bytes, tail: pa.Array | None, tb: _Bytes, fb: np.ndarray) -> np.ndarray:
    """:data:`_SERDE_HEAD` on the head or, for an object, :data:`_SERDE_TAIL` on the tail."""
    obj = fb == ord("{")
    b1 = hb.at(1)
    serde = np.zeros(len(fb), dtype=bool)
    # `{"__…`: the key is compared byte by byte; a space where the regex allows one
    # leaves the row to the regex.
    undecided = obj & _in(b1, _SPACE)
    keyed = _rows(obj & (b1 == ord('"')) & (hb.at(2) == ord("_")) & (hb.at(3) == ord("_")))
    if len(keyed):
        start = hb.first(keyed, max(map(len, _SERDE_KEYS)) + 1)
        for key in _SERDE_KEYS:
            same = (start[:, : len(key)] == np.frombuffer(key, dtype=np.uint8)).all(axis=1)
            after = start[:, len(key)]
            serde[keyed[same & (after == ord(":"))]] = True
            undecided[keyed[same & _in(after, _SPACE)]] = True
    serde |= _match(head, undecided, _SERDE_HEAD)
    # The tail rule ends in `"\s*}\s*$`: the last bytes rule out almost every object.
    last = tb.at(-1)
    tail_cand = obj & ~serde & (_in(last, _SPACE) | ((last == ord("}")) & _in(tb.at(-2), b'"' + _SPACE)))
    idx = _rows(tail_cand)
    if len(idx):
        ends = tail.take(pa.array(idx)) if tail is not None else hb.last(idx, TAIL_BYTES)
        serde[idx] = _np(pc.match_substring_regex(ends, _SERDE_TAIL))
    return serde


#: What :data:`_SERDE_HEAD` accepts after ``{``, spaces aside.
_SERDE_KEYS = (b'{"__classname__"', b'{"__type"', b'{"__var"')


def _mark_non_utf8(head: pa.Array, codes: np.ndarray, complete: bool) -> None:
    """Text that is not UTF-8 (and not a pickle) is of unknown encoding."""
    textual = _rows(codes == _TEXT)
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
    for i in _rows(candidates):
        text = _utf8(source[int(i)].as_py())
        if text is not None and nan_in_json(text):
            has_nan[i] = True
            if codes[i] == _TEXT:  # a bare NaN is JSON with a NaN, not text
                codes[i] = _JSON


def _find_refs(
    head: pa.Array, hb: _Bytes, fb: np.ndarray, value_bytes: pa.Array,
    ref_uri: list[str | None], ref_bytes: list[int | None],
) -> np.ndarray:
    """Set the references found; return the rows that may hold one, in order."""
    small = _np(pc.less_equal(value_bytes, MAX_REF_BYTES))
    # An URL string starts and ends with a quote (:data:`_URL_STRING`).
    quoted = small & (fb == ord('"')) & (hb.at(-1) == ord('"'))
    url = _match(head, quoted, _URL_STRING)
    url &= ~_match(head, url, _WEB_URL)
    # The frame keeps no values: a reference's credentials (user:password@, presigned
    # query strings) are masked before it becomes the ref_uri column.
    for i in _rows(url):
        uri = _json_loads(head[int(i)].as_py())
        ref_uri[i] = mask_url(uri) if isinstance(uri, str) else uri
    envelope = rows_containing(head, (f'"{ENVELOPE_KEY}"'.encode(),)) & small
    for i in _rows(envelope):
        obj = _json_loads(head[int(i)].as_py())
        if isinstance(obj, dict) and obj.get(ENVELOPE_KEY) and isinstance(obj.get("uri"), str):
            ref_uri[i] = mask_url(obj["uri"])
            stored = obj.get("stored_bytes")
            ref_bytes[i] = stored if isinstance(stored, int) else None
    return _rows(url | envelope)


def _find_double_json(
    head: pa.Array, hb: _Bytes, fb: np.ndarray, complete: bool, codes: np.ndarray, has_nan: np.ndarray
) -> None:
    # :data:`_DOUBLE_JSON` from the second and third bytes; literals by the regex.
    strings = (fb == ord('"')) & (codes == _JSON)
    b1 = hb.at(1)
    numeric = strings & (_in(b1, _DIGITS) | ((b1 == ord("-")) & _in(hb.at(2), _DIGITS)))
    candidates = numeric | (strings & _in(b1, b"{["))
    # `"true"`, `"false"`, `"null"`: the quoted literal, byte for byte.
    words = _rows(strings & _in(b1, b"tfn") & (hb.length <= 7) & (hb.at(-1) == ord('"')))
    if len(words):
        codes[words[_is_literal(_Inner(hb), words)]] = _DOUBLE
    if not candidates.any():
        return
    # Decided without Python: a JSON string holding a plain JSON number (no escapes,
    # so the inner text is the bytes between the quotes; no NaN can hide there).
    literal = _match(head, numeric, _DOUBLE_LITERAL)
    codes[literal] = _DOUBLE
    # Any other string that starts with a digit and has no escape holds no JSON.
    candidates &= ~literal
    candidates &= ~_match(head, candidates & numeric, _DIGITS_NO_ESCAPE)
    for i in _rows(candidates):
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


class _Inner:
    """A :class:`_Bytes` seen without each value's first and last byte (its quotes)."""

    def __init__(self, hb: _Bytes) -> None:
        self.outer = hb
        self.length = hb.length - 2

    def first(self, rows: np.ndarray, width: int) -> np.ndarray:
        got = self.outer.first(rows, width + 1)[:, 1:]
        return np.where(np.arange(width)[None, :] < self.length[rows, None], got, np.int16(-1))


def is_json_3x(text: str) -> bool:
    """Return True when ``text`` parses as JSON (NaN/Infinity allowed, as core writes them)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # nested deeper than any JSON reader in Python goes
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
    except (ValueError, RecursionError):
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
    except (ValueError, RecursionError):
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
        hits = _scratch(span)
        np.equal(data[a : a + span], needle[a], out=hits)
        if not hits.any():
            continue
        pos = np.flatnonzero(hits)
        for k in range(len(needle)):
            if k != a:
                pos = pos[data[pos + k] == needle[k]]
        if len(pos):
            out[np.searchsorted(offsets, pos + start, side="right") - 1] = True
    return out


_SCRATCH = threading.local()


def _scratch(size: int) -> np.ndarray:
    """A boolean buffer of ``size`` for this thread, reused from call to call.

    Fresh memory for each batch's data-sized temporaries costs more (page faults on
    first touch) than the comparison that fills it.
    """
    buf: np.ndarray | None = getattr(_SCRATCH, "buf", None)
    if buf is None or len(buf) < size:
        buf = _SCRATCH.buf = np.empty(max(size, 1 << 20), dtype=bool)
    return buf[:size]


#: Bytes frequent in JSON text; a needle is first searched by one of its other bytes.
_COMMON = frozenset(b'" _:,.{}[]0123456789abcdefghilmnoprstu')


def _anchor(needle: bytes) -> int:
    return next((k for k, b in enumerate(needle) if b not in _COMMON), 0)
