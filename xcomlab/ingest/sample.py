"""A bounded, seeded sample of stored values per size class, kept while an export streams.

Compressibility has to be measured on the deployment's own values, but a frame keeps no
values (they can hold secrets and dwarf the sizes). :class:`ValueSample` keeps a few
values of every power-of-two size class — a bottom-k sample: each row has a uniform key,
and a class keeps the rows with the smallest keys — plus the
rows and bytes of every class, so a ratio measured on the sample can be weighted by the
bytes the whole export holds. Two samples of disjoint streams merge into the sample of
both (the k smallest keys of the union), whatever the order.

A row's key is a seeded hash of the row's own ids (:func:`row_keys`: table, DAG, task,
run, key, map index), not a draw from a stream: the same export gives the same sample
however it is cut into batches or shards (:func:`xcomlab.summary.summarize_file` with
``jobs``). Values added without keys draw them from the seeded generator instead.

Bounds: at most ``per_class`` values a class and about ``class_bytes`` bytes a class
(at least 2 values), each value cut to its first ``max_value_bytes`` bytes — by default
under 512 KiB a class, 1–3 MiB for a whole export. The cut costs little accuracy: pglz
and lz4 look back at most 4 KiB and 64 KiB, so a 64 KiB prefix compresses like the whole
value unless its content changes along the way.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab.errors import XcomlabError

__all__ = ["SAMPLE_ATTR", "SampledValue", "ValueSample", "batch_keys", "row_keys", "value_sample"]

#: Key of the sample in ``frame.attrs`` (set by :func:`xcomlab.load_export`).
SAMPLE_ATTR: Final = "xcomlab.value_sample"
#: Size classes: class c holds values of 2**c to 2**(c+1) - 1 bytes.
N_CLASSES: Final = 48


@dataclass(frozen=True, slots=True)
class SampledValue:
    """One sampled value: its sort key, full stored size and (possibly cut) bytes."""

    key: float
    value_bytes: int
    data: bytes


@dataclass(eq=False)
class ValueSample:
    """Up to ``per_class`` stored values per log2 size class, with per-class totals.

    Parameters
    ----------
    per_class
        Values kept per size class at most.
    class_bytes
        Bytes kept per class at most (a class of values of 2**c bytes keeps
        ``class_bytes // 2**c`` values, at least 2).
    max_value_bytes
        Longer values are kept as their first ``max_value_bytes`` bytes (ratios of the
        largest values are measured on that prefix).
    seed
        Seed of the keys: the same stream and seed give the same sample.

    Attributes
    ----------
    rows, bytes : numpy.ndarray
        Rows and stored bytes per size class in everything added (the population).
    """

    per_class: int = 16
    class_bytes: int = 256 * 1024
    max_value_bytes: int = 64 * 1024
    seed: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(N_CLASSES, np.int64))
    bytes: np.ndarray = field(default_factory=lambda: np.zeros(N_CLASSES, np.int64))
    _kept: dict[int, list[SampledValue]] = field(default_factory=dict, repr=False)
    _rng: np.random.Generator | None = field(default=None, repr=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> ValueSample:
        return self  # shared, like the load report: pandas deep-copies attrs on every operation

    def capacity(self, c: int) -> int:
        """Values kept for size class ``c``."""
        return int(max(2, min(self.per_class, self.class_bytes >> c)))

    def add(self, values: pa.Array | pa.ChunkedArray | list[Any],
            keys: np.ndarray | None = None, sizes: np.ndarray | None = None) -> None:
        """Add a batch of stored values (``str``/``bytes``; nulls and empty values are skipped).

        ``keys``: each row's sort key in [0, 1) (:func:`row_keys`); None draws them from
        the sample's seeded generator (then the sample depends on the order of the rows).
        ``sizes``: each row's full stored size in bytes, when ``values`` hold only a prefix
        of each value (at least ``max_value_bytes`` bytes of it, as the push-down fetches
        them); None: the values' own lengths."""
        arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not (pa.types.is_binary(arr.type) or pa.types.is_string(arr.type)
                or pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
        if keys is None:
            if self._rng is None:
                self._rng = np.random.default_rng(self.seed)
            keys = self._rng.random(len(arr))  # one key per row, nulls too: positions stay aligned
        elif len(keys) != len(arr):
            msg = f"{len(keys)} sample keys for {len(arr)} values; expected one key per row"
            raise XcomlabError(msg)
        if sizes is not None and len(sizes) != len(arr):
            msg = f"{len(sizes)} value sizes for {len(arr)} values; expected one size per row"
            raise XcomlabError(msg)
        lens = (pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                if sizes is None else np.asarray(sizes, dtype=np.int64))
        ok = np.flatnonzero(lens > 0)
        if not len(ok):
            return
        cls = np.minimum(np.floor(np.log2(lens[ok])).astype(np.int64), N_CLASSES - 1)
        self.rows += np.bincount(cls, minlength=N_CLASSES)
        self.bytes += np.bincount(cls, weights=lens[ok], minlength=N_CLASSES).astype(np.int64)
        for c in np.unique(cls).tolist():
            rows = ok[cls == c]
            kept = self._kept.setdefault(c, [])
            cap = self.capacity(c)
            bar = kept[-1].key if len(kept) >= cap else 1.0
            cand = rows[keys[rows] <= bar]  # a tie with the bar is settled by _order
            cand = cand[np.argsort(keys[cand], kind="stable")]
            if len(cand) > cap:  # keep every row tied with the cap-th key
                cand = cand[keys[cand] <= keys[cand[cap - 1]]]
            for i in cand.tolist():
                v = arr[i].as_py()
                data = (v.encode() if isinstance(v, str) else bytes(v))[: self.max_value_bytes]
                kept.append(SampledValue(float(keys[i]), int(lens[i]), data))
            kept.sort(key=_order)
            del kept[cap:]

    def spawn(self, stream: int) -> ValueSample:
        """An empty sample with the same bounds whose keys come from sub-stream ``stream``
        (so samples of different streams draw independent keys and merge cleanly)."""
        out = ValueSample(self.per_class, self.class_bytes, self.max_value_bytes, self.seed)
        out._rng = np.random.default_rng([self.seed, stream])
        return out

    def absorb(self, other: ValueSample) -> None:
        """Merge ``other`` into this sample in place (see :meth:`merge`)."""
        both = self.merge(other)
        self.rows, self.bytes, self._kept = both.rows, both.bytes, both._kept

    def merge(self, other: ValueSample) -> ValueSample:
        """The sample of both streams (keys from both are kept as drawn): associative and
        commutative for samples of the same bounds (the k smallest keys of the union)."""
        out = ValueSample(self.per_class, self.class_bytes, self.max_value_bytes, self.seed,
                          self.rows + other.rows, self.bytes + other.bytes)
        for c in set(self._kept) | set(other._kept):
            # a total order (equal keys are as good as impossible, but then the bytes
            # decide), so the merge is commutative as well as associative
            both = sorted(self._kept.get(c, []) + other._kept.get(c, []), key=_order)
            out._kept[c] = both[: out.capacity(c)]
        return out

    def classes(self) -> dict[int, list[SampledValue]]:
        """Sampled values per size class (smallest key first)."""
        return {c: list(v) for c, v in sorted(self._kept.items()) if v}

    @property
    def n_values(self) -> int:
        """Values in the sample."""
        return sum(len(v) for v in self._kept.values())

    @property
    def sampled_bytes(self) -> int:
        """Bytes held by the sample."""
        return sum(len(s.data) for v in self._kept.values() for s in v)

    def __repr__(self) -> str:
        return (f"ValueSample({self.n_values} values, {self.sampled_bytes:,} B of "
                f"{int(self.rows.sum()):,} rows / {int(self.bytes.sum()):,} B; seed={self.seed})")


def _order(s: SampledValue) -> tuple[float, int, bytes]:
    """A total order of sampled values: the key, then (on a tie) size and bytes."""
    return (s.key, s.value_bytes, s.data)


#: The multiplier of the rows' polynomial (odd: a bijection mod 2**64; 2**64 / golden ratio).
_ODD = np.uint64(0x9E3779B97F4A7C15)
#: A null identifier's hash input (no text hashes to it: it is not UTF-8).


def row_keys(ids: Iterable[tuple[np.ndarray | int, Sequence[str | None]]],
             map_index: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Each row's sample key in [0, 1): a seeded hash of the row's ids, not of its position.

    Parameters
    ----------
    ids
        The identifier columns in a fixed order (table, DAG, task, run, key), each as
        ``(codes, words)``: codes into the batch's distinct words (``-1`` for null, or one
        code for every row), as :class:`~xcomlab.ingest.pieces.Coded` holds them. Each
        word is hashed once per batch (:func:`_word_hashes`, keyed by ``seed``); rows
        combine codes.
    map_index
        int64, one per row.
    seed
        The sample's seed: another seed gives independent keys.

    Returns
    -------
    numpy.ndarray
        float64 keys, uniform on [0, 1) and equal for rows with equal ids.
    """
    idx = np.asarray(map_index, dtype=np.int64)
    salt = (int(seed) % (1 << 128)).to_bytes(16, "little")
    # each word's hash is a keyed 64-bit digest: rows combine them as a polynomial
    # (wrapping mod 2**64), and one finaliser spreads the bits
    h = np.empty(len(idx), dtype=np.uint64)
    h.fill(np.uint64(_word_hash("", salt)))
    for codes, words in ids:
        table = np.append(_word_hashes(words, salt), np.uint64(_word_hash(None, salt)))  # -1: null
        c = np.asarray(codes)
        if c.ndim == 0:
            word = table[int(c) if int(c) >= 0 else len(words)]
        else:
            word = table[np.where(c < 0, len(words), c) if len(c) and c.min() < 0 else c]
        h *= _ODD
        h += word
    h *= _ODD
    h += idx.view(np.uint64)
    return (_mix(h) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def batch_keys(pieces: Any, seed: int = 0) -> np.ndarray:
    """:func:`row_keys` of one built batch (:class:`~xcomlab.ingest.pieces.BatchPieces`)."""
    return row_keys(((c.codes, c.words) for _, c in pieces.identifiers()), pieces.map_index,
                    seed=seed)


def _word_hashes(words: Sequence[str | None], salt: bytes) -> np.ndarray:
    """Each word's keyed 64-bit hash (uint64), all words of a dictionary at once.

    A word's UTF-8 bytes ``b_0 .. b_n-1`` (lone surrogates as ``surrogatepass`` writes
    them) hash to ``mix(sum(b_j * p**j) * ODD + (n + 1) * q + s)`` mod 2**64, where ``p``
    (odd), ``q`` and ``s`` come from a BLAKE2b digest of the salt and ``mix`` is SplitMix64's
    finaliser; a null word hashes to ``mix(s ^ q)``. The sum is a segment sum over the
    dictionary's bytes (numpy, no Python per word): a 100,000-word dictionary of run ids
    takes milliseconds, where a keyed BLAKE2b digest per word took ~0.7 s. The keys only
    pick a sample (no security rests on them), and equal words always hash equal.
    """
    p, q, s = _salt_constants(salt)
    n = len(words)
    out = np.empty(n, dtype=np.uint64)
    if not n:
        return out
    data, offsets, null = _utf8(words)
    starts, lengths = offsets[:-1], np.diff(offsets)
    poly = np.zeros(n, dtype=np.uint64)
    if len(data):
        pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        powers = _powers(p, int(lengths.max()))
        terms = data.astype(np.uint64) * powers[pos]
        del pos
        nonempty = np.flatnonzero(lengths > 0)
        poly[nonempty] = np.add.reduceat(terms, starts[nonempty])
    with np.errstate(over="ignore"):
        h = poly * _ODD + (lengths.astype(np.uint64) + np.uint64(1)) * q + s
    out[:] = _mix(h)
    if null.any():
        out[null] = _mix(np.array([s ^ q], dtype=np.uint64))[0]
    return out


@functools.lru_cache(maxsize=256)
def _word_hash(word: str | None, salt: bytes) -> int:
    """:func:`_word_hashes` of one word."""
    return int(_word_hashes([word], salt)[0])


@functools.lru_cache(maxsize=64)
def _salt_constants(salt: bytes) -> tuple[np.uint64, np.uint64, np.uint64]:
    """The hash's base ``p`` (odd), length factor ``q`` and offset ``s`` for ``salt``."""
    d = hashlib.blake2b(b"xcomlab.sample.word-hash", digest_size=24, key=salt).digest()
    p, q, s = (int.from_bytes(d[i:i + 8], "little") for i in (0, 8, 16))
    return np.uint64(p | 1), np.uint64(q | 1), np.uint64(s)


def _powers(p: np.uint64, n: int) -> np.ndarray:
    """``p**0 .. p**(n-1)`` mod 2**64 (uint64)."""
    out = np.full(max(n, 1), p, dtype=np.uint64)
    out[0] = 1
    return np.multiply.accumulate(out)


def _utf8(words: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The words' UTF-8 bytes end to end (uint8), their offsets (int64, ``len + 1``) and
    which are null."""
    try:
        arr = pa.array(words, type=pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError):  # lone surrogates
        arr = pa.array([None if w is None else w.encode("utf-8", "surrogatepass") for w in words],
                       type=pa.large_binary())
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=len(arr) + 1)
    offsets = offsets - offsets[0]
    data = (np.frombuffer(data_buf, dtype=np.uint8, count=int(offsets[-1])) if data_buf is not None
            else np.zeros(0, dtype=np.uint8))
    return data, offsets, null


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea & Flood, OOPSLA 2014), elementwise (wraps mod 2**64)."""
    h = np.asarray(h, dtype=np.uint64)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def value_sample(frame: Any) -> ValueSample | None:
    """The :class:`ValueSample` :func:`xcomlab.load_export` attached to ``frame`` (None if none)."""
    attrs = getattr(frame, "attrs", None)
    s = attrs.get(SAMPLE_ATTR) if isinstance(attrs, dict) else None
    if s is not None and not isinstance(s, ValueSample):
        msg = f"frame.attrs[{SAMPLE_ATTR!r}] is a {type(s).__name__}, not a ValueSample"
        raise XcomlabError(msg)
    return s
