"""A small numpy group-by over integer codes: sums, minima and maxima per group.

pandas' group-by of several categorical keys costs a factorisation per call; a batch's
summary needs five of them. Here each key is factorised once (:func:`factor`), the keys
of a table are combined into one int64 per row (mixed radix), and every measure is one
``bincount`` or one ``reduceat`` over rows sorted by group.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Factor", "factor", "group", "group_codes"]

_BIG = np.iinfo(np.int64).max


class Factor(NamedTuple):
    """One key column as codes ``0..len(labels)-1`` into ``labels`` (null is a label)."""

    codes: np.ndarray
    labels: pd.Index


def factor(values: Any) -> Factor:
    """Codes of a key column: categories keep their codes, anything else is factorised."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat: Any = values.array if isinstance(values, pd.Series) else values
        codes = np.asarray(cat.codes, dtype=np.int64)
        labels = pd.Index(list(cat.categories), dtype="object")
        if (codes < 0).any():  # null: one more label, after the categories
            codes = np.where(codes < 0, len(labels), codes)
            labels = labels.append(pd.Index([np.nan], dtype="object"))
        return Factor(codes, labels)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return Factor(np.asarray(codes, dtype=np.int64), pd.Index(uniques))


def group(keys: dict[str, Factor], sums: dict[str, np.ndarray],
          mins: dict[str, np.ndarray] | None = None,
          maxs: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per distinct combination of ``keys`` present, with its measures.

    ``sums`` are int64 columns added per group; ``mins`` / ``maxs`` are int64 columns in
    which :data:`numpy.iinfo(int64).max` (for minima) or ``-1`` (for maxima) marks a row
    that must not count; a group with no counting row gets ``-1`` / the maximum, for the
    caller to turn into a null.
    """
    names = list(keys)
    level_codes, out = group_codes(keys, sums, mins, maxs)
    index = pd.MultiIndex.from_arrays(
        [keys[k].labels.take(codes) for k, codes in zip(names, level_codes, strict=True)],
        names=names)
    return pd.DataFrame(out, index=index)


def group_codes(keys: dict[str, Factor], sums: dict[str, np.ndarray],
                mins: dict[str, np.ndarray] | None = None,
                maxs: dict[str, np.ndarray] | None = None) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """:func:`group` in code space: each group's code into each key's labels, and its
    measures (int64), groups in ascending order of their codes."""
    names = list(keys)
    sizes = [len(keys[n].labels) for n in names]
    n = len(next(iter(keys.values())).codes)
    if n == 0:
        cols = {c: np.zeros(0, np.int64) for c in [*sums, *(mins or {}), *(maxs or {})]}
        return [np.zeros(0, np.int64) for _ in names], cols
    # combine the keys one at a time, renumbering the combinations present densely after
    # each step, so that no step's range exceeds (groups so far) x (next key's labels)
    inverse = keys[names[0]].codes
    size = sizes[0]
    level_codes: list[np.ndarray] = [np.arange(size)]
    for name, width in zip(names[1:], sizes[1:], strict=True):
        present, inverse = _dense(inverse * width + keys[name].codes, size * width)
        level_codes = [lv[present // width] for lv in level_codes] + [present % width]
        size = len(present)
    if len(names) == 1:
        present, inverse = _dense(inverse, size)
        level_codes = [level_codes[0][present]]
    inverse = inverse.ravel()
    groups = len(level_codes[0])
    out: dict[str, np.ndarray] = {}
    for col, values in sums.items():
        out[col] = np.bincount(inverse, weights=values, minlength=groups).astype(np.int64) \
            if values.dtype != np.bool_ else np.bincount(inverse[values], minlength=groups)
    if mins or maxs:
        order = np.argsort(inverse, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
        for col, values in (mins or {}).items():
            out[col] = np.minimum.reduceat(values[order], starts)
        for col, values in (maxs or {}).items():
            out[col] = np.maximum.reduceat(values[order], starts)
    return level_codes, out


def _dense(combined: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``combined`` (ascending) and each row's rank among them."""
    if total <= 4 * len(combined) + (1 << 16):  # a table over the range: linear time
        present = np.flatnonzero(np.bincount(combined, minlength=total))
        rank = np.zeros(total, dtype=np.int64)
        rank[present] = np.arange(len(present))
        return present, rank[combined]
    present, inverse = np.unique(combined, return_inverse=True)
    return present, inverse.ravel()
