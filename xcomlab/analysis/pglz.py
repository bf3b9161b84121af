"""pglz, PostgreSQL's TOAST compressor, re-implemented to size its output (not to store it).

No Python package implements pglz, and the TOAST estimate needs its output size on the
export's own values. This module follows the algorithm PostgreSQL describes in
``src/common/pg_lzcompress.c`` (read on GitHub, postgres/postgres, 2026-11-25; written
here from that description, not copied):

* an LZ77 coder whose output is groups of up to 8 items behind one control byte; an item
  is a literal byte or a back-reference tag of 2 bytes (match length 3–17, offset < 4095)
  or 3 bytes (length 18–273);
* candidate matches come from a history of hash lists keyed by the next 4 input bytes
  (``((s0 << 6) ^ (s1 << 4) ^ (s2 << 2) ^ s3) & mask`` on C's *signed* ``char``; the
  first byte alone in the last 3 positions), with 512–8192 lists depending on the input
  length, newest entry first; the walk stops at an offset of 4095, or when the best match
  is at least ``good_match`` long — 128, shrinking by 10 % with every entry visited;
* the default strategy: inputs under 32 bytes are not compressed; compression gives up
  when the output reaches 75 % of the input (``min_comp_rate`` 25), or 1024 bytes without
  a single match (``first_success_by``).

:func:`compressed_size` returns the byte count ``pglz_compress`` returns (or None where it
fails). ``tests/analysis/test_pglz.py`` compares it with ``pg_column_size`` on a live
PostgreSQL (a compressed inline datum takes 8 bytes of headers more).
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["HEADER_BYTES", "MIN_INPUT_BYTES", "compressed_size", "toast_stored_bytes"]

#: Inputs shorter than this are never compressed (``min_input_size``).
MIN_INPUT_BYTES: Final = 32
#: Give up when this much output has been written without one match (``first_success_by``).
_FIRST_SUCCESS_BY: Final = 1024
#: Output must stay below ``(100 - min_comp_rate) %`` of the input.
_MIN_COMP_RATE: Final = 25
_GOOD_MATCH: Final = 128
_GOOD_DROP: Final = 10
_MAX_MATCH: Final = 273
_MAX_OFFSET: Final = 0x0FFF
#: A compressed inline varlena: 4 B length word + 4 B raw size and method (VARHDRSZ_COMPRESSED).
HEADER_BYTES: Final = 8


def _hash_size(n: int) -> int:
    for limit, size in ((128, 512), (256, 1024), (512, 2048), (1024, 4096)):
        if n < limit:
            return size
    return 8192


def _hashes(data: bytes, mask: int) -> list[int]:
    """The history list of every position, as PostgreSQL computes it with signed chars."""
    s = np.frombuffer(data, dtype=np.int8).astype(np.int32)
    n = len(s)
    h = s.copy()  # the last 3 positions hash their first byte alone
    if n >= 4:
        h[: n - 3] = (s[:-3] << 6) ^ (s[1:-2] << 4) ^ (s[2:-1] << 2) ^ s[3:]
    return (h & mask).tolist()


def compressed_size(data: bytes) -> int | None:
    """Bytes ``pglz_compress`` (default strategy) writes for ``data``; None when it fails.

    It fails for inputs under 32 bytes, when the output would not save 25 %, and when
    1024 output bytes hold no match. The stored datum adds :data:`HEADER_BYTES`.

    Examples
    --------
    >>> compressed_size(b"abcd" * 100)
    11
    >>> compressed_size(bytes(range(256))) is None
    True
    """
    n = len(data)
    if n < MIN_INPUT_BYTES:
        return None
    result_max = n * (100 - _MIN_COMP_RATE) // 100
    hashes = _hashes(data, _hash_size(n) - 1)
    head = [-1] * _hash_size(n)
    older = [-1] * n  # the next entry of a position's hash list (the previous position there)
    out = items = dp = 0
    found = False
    while dp < n:
        if out >= result_max or (not found and out >= _FIRST_SUCCESS_BY):
            return None
        length = _match_length(data, dp, n, head[hashes[dp]], older)
        if not items & 7:
            out += 1  # a new control byte for the next 8 items
        items += 1
        if length:
            out += 3 if length > 17 else 2
            found = True
        else:
            out += 1
            length = 1
        for p in range(dp, dp + length):
            h = hashes[p]
            older[p] = head[h]
            head[h] = p
        dp += length
    return None if out >= result_max else out


def _match_length(data: bytes, ip: int, end: int, hp: int, older: list[int]) -> int:
    """Length of the match pglz takes along the hash list from ``hp``; 0 under 3 bytes.

    The walk: newest entry first, stop at offset 4095, or once the best match reaches
    ``good_match`` (128, less 10 % per entry visited). Only the length decides the output
    size, so the offset is not kept.
    """
    best = 0
    good = _GOOD_MATCH
    limit = min(_MAX_MATCH, end - ip)
    while hp >= 0:
        if ip - hp >= _MAX_OFFSET:
            break
        # A candidate beats ``best`` only if its first best + 1 bytes match.
        if best < limit and data[hp + best] == data[ip + best] and data[hp:hp + best] == data[ip:ip + best]:
            k = best + 1
            while k + 16 <= limit and data[hp + k:hp + k + 16] == data[ip + k:ip + k + 16]:
                k += 16
            while k < limit and data[hp + k] == data[ip + k]:
                k += 1
            best = k
        hp = older[hp]
        if hp >= 0:
            if best >= good:
                break
            good -= good * _GOOD_DROP // 100
    return best if best > 2 else 0


def toast_stored_bytes(data: bytes) -> int:
    """Bytes of the datum TOAST keeps for ``data`` if it tries pglz: compressed with its 8 B
    header when that saves more than 2 bytes over the raw value (``toast_compress_datum``),
    else the raw bytes (a 4 B header added by the caller)."""
    size = compressed_size(data)
    if size is None or size + HEADER_BYTES >= len(data) - 2:
        return len(data) + 4
    return size + HEADER_BYTES
