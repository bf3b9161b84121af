"""Log-spaced size buckets with a stated quantile error, and quantiles read from them.

Bucket edges are integers: ``0``, then the distinct values of ``ceil(RATIO ** b)`` for
``b = 0, 1, …`` up to past ``2**63``. Bucket ``i`` holds the sizes ``edges[i] <= s <
edges[i + 1]``. Its highest integer is less than ``RATIO`` times its lowest, so the
estimate :func:`representative` gives for a bucket (the geometric mean of its lowest and
highest integer) is within ``sqrt(RATIO) - 1`` of every size in it, relative to that
size: :data:`QUANTILE_RELATIVE_ERROR` ≈ 1.98 % for ``RATIO = 1.04``. Sizes 0–25 have a
bucket each, so small values are exact.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

__all__ = ["EDGES", "QUANTILE_RELATIVE_ERROR", "RATIO", "bucket_of", "quantile_from_counts",
           "quantiles_by_group", "representative"]

#: Ratio between successive bucket edges.
RATIO: Final = 1.04
#: Bound on ``|estimate - exact| / exact`` for any quantile read from the buckets
#: (an order statistic, or pandas' linear interpolation between two of them).
QUANTILE_RELATIVE_ERROR: Final = math.sqrt(RATIO) - 1.0


def _edges() -> np.ndarray:
    top = 2**63 - 1
    count = math.ceil(math.log(top) / math.log(RATIO)) + 1
    powers = [math.ceil(RATIO**b) for b in range(count)]
    edges = sorted({0, *(p for p in powers if p < top)})
    return np.array(edges, dtype=np.int64)


#: Lower edge of each bucket (int64, ascending, ``EDGES[0] == 0``).
EDGES: Final = _edges()
_HIGHEST: Final = np.append(EDGES[1:] - 1, np.int64(2**63 - 1))


def bucket_of(sizes: np.ndarray) -> np.ndarray:
    """The bucket of each size (non-negative int64) as int16 bucket numbers."""
    return (np.searchsorted(EDGES, sizes, side="right") - 1).astype(np.int16)


def representative(buckets: np.ndarray) -> np.ndarray:
    """The size a bucket stands for: the geometric mean of its lowest and highest integer."""
    lo = EDGES[buckets].astype(np.float64)
    hi = _HIGHEST[buckets].astype(np.float64)
    return np.sqrt(lo * hi)


def quantile_from_counts(buckets: np.ndarray, counts: np.ndarray, qs: tuple[float, ...],
                         lowest: float | None = None,
                         highest: float | None = None) -> list[float]:
    """Quantiles of a size distribution given as (bucket, rows), as pandas computes them.

    Each quantile ``q`` is pandas' linear interpolation between the order statistics
    ``floor(q (n - 1))`` and the next; each order statistic is read as its bucket's
    :func:`representative`, clamped to ``[lowest, highest]`` (the exact extremes of the
    group, when known). Every estimate is within :data:`QUANTILE_RELATIVE_ERROR` of the
    exact quantile. NaN when there are no rows.
    """
    order = np.argsort(buckets, kind="stable")
    b = np.asarray(buckets)[order]
    c = np.asarray(counts, dtype=np.int64)[order]
    n = int(c.sum())
    if n == 0:
        return [float("nan")] * len(qs)
    cum = np.cumsum(c)
    values = representative(b)
    if lowest is not None or highest is not None:
        values = np.clip(values, -np.inf if lowest is None else lowest,
                         np.inf if highest is None else highest)

    def stat(k: int) -> float:
        return float(values[int(np.searchsorted(cum, k, side="right"))])

    out = []
    for q in qs:
        pos = q * (n - 1)
        k = math.floor(pos)
        frac = pos - k
        low = stat(k)
        out.append(low if frac == 0 or k + 1 >= n else low + frac * (stat(k + 1) - low))
    return out


def quantiles_by_group(group: np.ndarray, buckets: np.ndarray, counts: np.ndarray, qs: tuple[float, ...],
                       lowest: np.ndarray, highest: np.ndarray) -> np.ndarray:
    """:func:`quantile_from_counts` of many groups at once: ``group`` (codes ``0..G-1``),
    ``buckets`` and ``counts`` one entry per (group, bucket); ``lowest``/``highest`` per group
    (NaN: unknown). Returns (G, len(qs)) float64, the same numbers group by group."""
    n_groups = len(lowest)
    out = np.full((n_groups, len(qs)), np.nan)
    if not len(group):
        return out
    order = np.lexsort((buckets, group))
    g = np.asarray(group, dtype=np.int64)[order]
    c = np.asarray(counts, dtype=np.int64)[order]
    lo, hi = np.asarray(lowest, np.float64)[g], np.asarray(highest, np.float64)[g]
    values = np.clip(representative(np.asarray(buckets)[order]), np.where(np.isnan(lo), -np.inf, lo),
                     np.where(np.isnan(hi), np.inf, hi))
    cum = np.cumsum(c)
    n = np.bincount(g, weights=c, minlength=n_groups).astype(np.int64)
    offset = np.cumsum(n) - n  # rows of the groups before each (entries sorted by group)
    has = np.flatnonzero(n > 0)
    nh, off = n[has], offset[has]
    for i, q in enumerate(qs):
        pos = q * (nh - 1)
        k = np.floor(pos).astype(np.int64)
        frac = pos - k
        low = values[np.searchsorted(cum, off + k, side="right")]
        nxt = np.minimum(k + 1, nh - 1)
        high = values[np.searchsorted(cum, off + nxt, side="right")]
        out[has, i] = np.where((frac == 0) | (k + 1 >= nh), low, low + frac * (high - low))
    return out
