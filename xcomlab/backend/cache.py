"""Cache: a bounded, per-process LRU of offloaded values, so a fan-in fetches an object once.

Entries are the value's **plaintext serialized bytes** (after the sha256 check, decryption
and decompression), keyed by ``(uri, sha256)`` of the row's envelope. Each hit is
deserialized again, so callers never share a mutable object (a task that appends to a list
it pulled cannot change what the next pull returns); decoding JSON again was measured
faster than ``copy.deepcopy`` of the decoded value (benchmarks/README.md#fanin-cache).

Why the URI is part of the key: the sha256 in an envelope is written by whoever pushed the
row. Keyed by sha256 alone, a row that copies another DAG's sha256 next to a URI of its
own would be served the other DAG's value from the cache without its own object ever
being read. With ``(uri, sha256)`` a hit needs the very object that was verified; the
store checks that the envelope's URI belongs to the row before it looks here, and inserts
only after the object's bytes matched the sha256.

Bounded by total bytes and entry count; a value larger than ``max_bytes`` is not cached.
The cache holds plaintext: in a process that decrypts values anyway this adds no exposure,
but it is memory an operator may want to size down where values are sensitive.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = ["CacheStats", "ValueCache"]

#: Default entry bound when only ``cache_max_bytes`` is set.
DEFAULT_MAX_ENTRIES: Final = 64


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`ValueCache`."""

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int


class ValueCache:
    """LRU of ``(uri, sha256) → plaintext bytes``, bounded by bytes and entries.

    Parameters
    ----------
    max_bytes
        Total bytes held (sum of entry lengths); larger single values are not cached.
    max_entries
        Entries held.

    Examples
    --------
    >>> c = ValueCache(max_bytes=1_000, max_entries=2)
    >>> c.put("file:///x/a", "ab12", b"[1, 2]")
    True
    >>> c.get("file:///x/a", "ab12")
    b'[1, 2]'
    >>> c.get("file:///x/a", "other") is None
    True
    """

    def __init__(self, max_bytes: int, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_bytes < 0 or max_entries < 0:
            msg = f"cache bounds must be ≥ 0, got max_bytes={max_bytes}, max_entries={max_entries}"
            raise ValueError(msg)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        s = self.stats()
        return (f"ValueCache({s.entries} entries, {s.bytes:,} of {self.max_bytes:,} bytes, "
                f"hits={s.hits}, misses={s.misses})")

    def get(self, uri: str, sha256: str) -> bytes | None:
        """The cached bytes, or None (counted as a miss)."""
        with self._lock:
            data = self._data.get((uri, sha256))
            if data is None:
                self._misses += 1
                return None
            self._data.move_to_end((uri, sha256))
            self._hits += 1
            return data

    def put(self, uri: str, sha256: str, data: bytes) -> bool:
        """Cache ``data`` (already verified by the caller); False when it cannot fit."""
        size = len(data)
        if size > self.max_bytes or self.max_entries == 0:
            return False
        key = (uri, sha256)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._data[key] = bytes(data)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._data) > self.max_entries:
                _, gone = self._data.popitem(last=False)
                self._bytes -= len(gone)
                self._evictions += 1
        return True

    def discard(self, uri: str) -> None:
        """Forget every entry of ``uri`` (its object was deleted)."""
        with self._lock:
            for key in [k for k in self._data if k[0] == uri]:
                self._bytes -= len(self._data.pop(key))

    def clear(self) -> None:
        """Forget everything (counters stay)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        """Hits, misses, evictions, entries and bytes held."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._data),
                              self._bytes)
