"""Per-run tables kept bounded: the newest runs exact, the older ones rolled up per day.

A summary's ``runs`` (per ``(table, dag, run)``) and ``run_keys`` (per ``(table, dag, run,
key)``) grow with the runs of the export, not with its DAGs: 0.1–0.3 groups per row on
exports of ordinary pipelines, ~60 B each in code space and ~100–170 B more per distinct
``run_id`` label — ≥ 4 GB at 100M rows. Yet only two questions need a run by name:
*keep the last N runs* (the newest runs of each DAG) and the migration audit's
``dag_run`` check. Everything else (runs per day, run-length mix, age rules) needs runs per
day. So a summary keeps:

* ``runs`` and ``run_keys`` exact for every run whose last write is at or after a cut —
  the newest runs, at most about :data:`MAX_EXACT_RUN_KEYS` ``run_keys`` groups;
* the runs before the cut rolled up, per UTC day of the run's last write, into
  ``old_runs`` (per ``(table, dag, day, run_bytes)``: ``rows``, ``value_bytes``, ``runs``,
  ``first_timestamp``, ``last_timestamp``, ``dag_run_id`` — the largest; ``run_bytes`` is
  the UTF-8 length of the run ids, what the on-disk model reads) and ``old_run_keys`` (per
  ``(table, dag, key, day)``: ``rows``, ``value_bytes``, ``refs``, ``ref_bytes``, ``runs``,
  ``first_timestamp``, ``last_timestamp``).

Nothing is lost: rows and bytes of ``runs`` + ``old_runs`` equal the export's, and so do
run counts when the rows of a run come together (an export in insertion order; a run
whose rows straddle a roll is counted once per part). An export with fewer
``run_keys`` groups than the bound has no old tables: every figure is as before. The cut
is the newest rolled run's last write (:func:`exact_since`); rows without a timestamp
cannot be ordered and are rolled with the first roll (their day is null).
:func:`~xcomlab.summary.core.coarsen` bounds a summary's tables;
:class:`~xcomlab.summary.accumulate.Accumulator` a stream's while it is read.

What reads the old tables: retention (age rules per day — the same split in proportion to
time as before; keep-last-N exact while a DAG has N runs after the cut, else its older
runs kept by whole days from the newest, the boundary day in proportion), the forecast
(runs per DAG in the last 28 days), the on-disk model (run-id lengths and ``dag_run_id``
widths), workload fitting without a ``weekly`` table and the audit (a ``dag_run`` check
covers the exact runs; the note says how many rows it could not check).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from xcomlab import schema as S

__all__ = ["KEEP_SHARE", "MAX_EXACT_RUN_KEYS", "cut_for", "label_bytes", "rolled_tables"]

#: ``run_keys`` groups a summary keeps exact; beyond, the oldest runs are rolled up. 1M
#: groups are ~64 MB in code space, ~130 MB while folded, plus ~0.5M run ids (~85 MB); a 1M-row
#: export of our generator holds 0.33M, a 5M-row one 1.65M (benchmarks/README.md#scale).
MAX_EXACT_RUN_KEYS: Final = 1_000_000
#: After a roll, about this share of :data:`MAX_EXACT_RUN_KEYS` stays exact (so a stream
#: rolls once per half a bound of new groups, not at every batch).
KEEP_SHARE: Final = 0.5
_T: Final = S.SOURCE_TABLE
_RUN: Final = [_T, S.DAG_ID, S.RUN_ID]


def cut_for(last_ns: np.ndarray, keep: int) -> int | None:
    """The last-write time (ns) of the ``keep``-th newest group: the groups older than it
    go (ties stay). None when no more than ``keep`` groups are given."""
    n = len(last_ns)
    if n <= keep:
        return None
    return int(np.partition(last_ns, n - keep)[n - keep])


def label_bytes(labels: pd.Series | pd.Index) -> np.ndarray:
    """UTF-8 bytes of each label (0 for null), computed once per distinct label.

    Factorized in the labels' own dtype: turning a column of pandas' string dtype into
    objects makes a Python string per row (a 5M-row export over 50,000 DAGs: 3.5M groups in
    three such columns; the profile's peak 1,733 -> 1,621 MiB,
    benchmarks/README.md#session-2026-12-08)."""
    codes, uniques = pd.factorize(labels if isinstance(labels, (pd.Series, pd.Index))
                                  else pd.Series(labels, dtype=object), use_na_sentinel=True)
    words = np.asarray(uniques, dtype=object).tolist()
    lens = np.array([len(str(u).encode()) for u in words] + [0], dtype=np.int64)
    return lens[np.where(codes < 0, len(lens) - 1, codes)]


def rolled_tables(runs: pd.DataFrame, run_keys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``old_runs`` and ``old_run_keys`` (unsorted) of some runs and their ``run_keys``
    groups, both flat (their group columns as columns, as ``reset_index`` gives them)."""
    day = runs["last_timestamp"].dt.floor("D")
    r = pd.DataFrame({_T: runs[_T].to_numpy(object), S.DAG_ID: runs[S.DAG_ID].to_numpy(object),
                      "day": day, "run_bytes": label_bytes(runs[S.RUN_ID]),
                      "rows": runs["rows"], "value_bytes": runs["value_bytes"],
                      "first_timestamp": runs["first_timestamp"], "last_timestamp": runs["last_timestamp"],
                      "dag_run_id": runs["dag_run_id"]})
    old_runs = r.groupby([_T, S.DAG_ID, "day", "run_bytes"], sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), runs=("rows", "size"),
        first_timestamp=("first_timestamp", "min"), last_timestamp=("last_timestamp", "max"),
        dag_run_id=("dag_run_id", "max"))
    # each run_keys group takes its run's day, so both tables count a run on the same day
    days = pd.Series(day.to_numpy(), index=pd.MultiIndex.from_arrays(
        [runs[c].to_numpy(object) for c in _RUN], names=_RUN))
    at = pd.MultiIndex.from_arrays([run_keys[c].to_numpy(object) for c in _RUN], names=_RUN)
    k = run_keys.assign(day=days.reindex(at).to_numpy())
    k[_T] = k[_T].to_numpy(object)
    k[S.DAG_ID] = k[S.DAG_ID].to_numpy(object)
    k[S.KEY] = k[S.KEY].to_numpy(object)
    old_keys = k.groupby([_T, S.DAG_ID, S.KEY, "day"], sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), refs=("refs", "sum"),
        ref_bytes=("ref_bytes", "sum"), runs=("rows", "size"),
        first_timestamp=("first_timestamp", "min"), last_timestamp=("last_timestamp", "max"))
    return old_runs, old_keys
