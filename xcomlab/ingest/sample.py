"""A bounded, seeded sample of stored values per size class, kept while an export streams.

Compressibility has to be measured on the deployment's own values, but a frame keeps no
values (they can hold secrets and dwarf the sizes). :class:`ValueSample` keeps a few
values of every power-of-two size class — a bottom-k sample: each row draws a uniform key
from a seeded generator, and a class keeps the rows with the smallest keys — plus the
rows and bytes of every class, so a ratio measured on the sample can be weighted by the
bytes the whole export holds. Two samples of disjoint streams merge into the sample of
both (the k smallest keys of the union), whatever the order.

Bounds: at most ``per_class`` values a class and about ``class_bytes`` bytes a class
(at least 2 values), each value cut to its first ``max_value_bytes`` bytes — by default
under 512 KiB a class, 1–3 MiB for a whole export. The cut costs little accuracy: pglz
and lz4 look back at most 4 KiB and 64 KiB, so a 64 KiB prefix compresses like the whole
value unless its content changes along the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xcomlab.errors import XcomlabError

__all__ = ["SAMPLE_ATTR", "SampledValue", "ValueSample", "value_sample"]

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

    def add(self, values: pa.Array | pa.ChunkedArray | list[Any]) -> None:
        """Add a batch of stored values (``str``/``bytes``; nulls and empty values are skipped)."""
        arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not (pa.types.is_binary(arr.type) or pa.types.is_string(arr.type)
                or pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)):
            arr = pc.cast(arr, pa.string())
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        keys = self._rng.random(len(arr))  # one key per row, nulls too: positions stay aligned
        lens = pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
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
            cand = rows[keys[rows] < bar]
            cand = cand[np.argsort(keys[cand], kind="stable")[:cap]]
            for i in cand.tolist():
                v = arr[i].as_py()
                data = (v.encode() if isinstance(v, str) else bytes(v))[: self.max_value_bytes]
                kept.append(SampledValue(float(keys[i]), int(lens[i]), data))
            kept.sort(key=lambda s: s.key)
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
            both = sorted(self._kept.get(c, []) + other._kept.get(c, []),
                          key=lambda s: (s.key, s.value_bytes, s.data))
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


def value_sample(frame: Any) -> ValueSample | None:
    """The :class:`ValueSample` :func:`xcomlab.load_export` attached to ``frame`` (None if none)."""
    attrs = getattr(frame, "attrs", None)
    s = attrs.get(SAMPLE_ATTR) if isinstance(attrs, dict) else None
    if s is not None and not isinstance(s, ValueSample):
        msg = f"frame.attrs[{SAMPLE_ATTR!r}] is a {type(s).__name__}, not a ValueSample"
        raise XcomlabError(msg)
    return s
