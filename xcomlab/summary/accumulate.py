"""A stream's grouped tables folded in integer code space, made pandas tables once at the end.

:func:`~xcomlab.summary.stream.summarize_file` used to summarise each batch into pandas
tables indexed by object labels and fold them with a pandas group-by every few batches,
re-grouping the whole running table each time. Here:

* each id column (``source_table, dag_id, task_id, run_id, key``), ``day`` and ``week`` has one
  label dictionary for the whole stream (:class:`Labels`); a batch maps its few labels
  to global codes once (a lookup per label, not per row); ``bucket`` codes are global;
* each :data:`~xcomlab.summary.core.GROUPED` table is a :class:`Table`: its groups' codes
  (the narrowest integer a level's labels allow, null ``-1``) sorted lexicographically,
  and their measures (int32 while every group's value fits, else int64);
  batches wait in a list (levels narrowed, measures int32 where they fit) and are folded
  in when they hold a quarter of the running groups: the waiting groups are sorted and
  reduced (``reduceat`` per measure), then merged into the running groups, which are
  sorted already (a binary search per group, new groups inserted a column at a time) —
  no label is touched, and the running groups are never sorted again;
* :meth:`Accumulator.frames` builds each canonical pandas table once: labels sorted once
  per level, groups ordered by ``lexsort`` of their ranks (no sort of object labels);
* ``runs`` and ``run_keys`` stay bounded: when ``run_keys`` holds more than
  :data:`~xcomlab.summary.runs.MAX_EXACT_RUN_KEYS` groups, the oldest runs are rolled up
  per day into ``old_runs`` / ``old_run_keys`` (code-space tables too: ``day`` codes,
  ``run_bytes`` as raw values) and their ``run_id`` labels forgotten, so memory holds the
  newest runs and the days, not every run.

The result equals :func:`~xcomlab.summary.core.merge_all` of the batch summaries
(``tests/test_summary_accumulate.py``).
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import is_
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.summary.core import (
    _AGG,
    _BIG,
    _NAT,
    GROUPED,
    GROUPS,
    Grouped,
    _empty,
    _typed,
)
from xcomlab.summary.groupby import Factor
from xcomlab.summary.histogram import EDGES
from xcomlab.summary.runs import KEEP_SHARE, MAX_EXACT_RUN_KEYS, cut_for

__all__ = ["FOLD_MIN_GROUPS", "Accumulator", "Labels", "Table"]

#: Pending groups below which a table never folds (a fold sorts the running groups too).
FOLD_MIN_GROUPS: Final = 1 << 18
_NULL: Final = object()  # the dictionary key of a null label
_GONE: Final = object()  # the word of a label forgotten (its code is used no more)
#: Tables of runs rolled up per day (:mod:`xcomlab.summary.runs`), kept in code space too.
ROLLED: Final = ("old_runs", "old_run_keys")
#: ``run_bytes`` levels: Airflow's run_id is a VARCHAR(250) (ID_LEN, airflow/models/base.py),
#: at most 1,000 UTF-8 bytes; longer ones (not Airflow's) count as 1,023.
RUN_BYTES_LEVELS: Final = 1024
#: Levels whose codes are their values (no label dictionary): size buckets and run-id bytes.
_RAW_LEVELS: Final = {"bucket": len(EDGES), "run_bytes": RUN_BYTES_LEVELS}
_DAY_NS: Final = 86_400 * 10**9


class Labels:
    """One label dictionary for a whole stream: label -> global code, first seen first."""

    def __init__(self, *, days: bool = False) -> None:
        self._code: dict[Any, int] = {}
        self.words: list[Any] = []
        self._days = days
        self._dropped = 0

    def __len__(self) -> int:
        return len(self.words)

    def codes(self, f: Factor) -> np.ndarray:
        """Global codes (int32, null ``-1``) of ``f``'s labels, one per label: one C-level
        dictionary look-up per label, Python only for the labels new to the stream."""
        labels = f.labels
        if not len(labels):
            return np.zeros(0, dtype=np.int32)
        null = np.asarray(pd.isna(labels), dtype=np.bool_)
        whole = not null.any()
        at = np.flatnonzero(~null)
        if self._days:
            raw = pd.DatetimeIndex(labels).asi8[at].tolist()
        else:
            raw = (labels if whole else labels[at]).tolist()
        got = list(map(self._code.get, raw))
        if None in got:  # the labels new to the stream, picked in C (no Python loop per label)
            new = dict.fromkeys(compress(raw, map(is_, got, repeat(None))))
            start = len(self.words)
            self._code.update(zip(new, range(start, start + len(new)), strict=True))
            self.words.extend(new)
            got = list(map(self._code.__getitem__, raw))
        codes = np.fromiter(got, dtype=np.int32, count=len(got))
        if whole:
            return codes
        out = np.full(len(labels), -1, dtype=np.int32)
        out[at] = codes
        return out

    def drop(self, codes: np.ndarray) -> None:
        """Forget the labels of ``codes`` (no group uses them any more; a label seen again
        takes a new code)."""
        for c in codes.tolist():
            word = self.words[c]
            if word is not _GONE:
                del self._code[word]
                self.words[c] = _GONE
                self._dropped += 1

    def index(self) -> pd.Index:
        """The labels as an index (the summary's level dtype), in first-seen order
        (forgotten ones left out)."""
        if self._days:
            return pd.DatetimeIndex(pd.to_datetime(np.asarray(self.words, dtype=np.int64), utc=True))
        return pd.Index([w for w in self.words if w is not _GONE] if self._dropped else self.words,
                        dtype="object")

    def ranks(self) -> tuple[pd.Index, np.ndarray]:
        """The labels sorted (as the summary's index sorts them) and each code's rank in
        them (-1 for a forgotten label)."""
        labels = self.index()
        order = np.asarray(labels.argsort(), dtype=np.int64)
        rank = np.full(len(self.words), -1, dtype=np.int32)
        live = np.arange(len(self.words)) if not self._dropped else \
            np.flatnonzero(np.fromiter((w is not _GONE for w in self.words), np.bool_, len(self.words)))
        rank[live[order]] = np.arange(len(order), dtype=np.int32)
        return labels.take(order), rank


class Table:
    """One grouped table's running groups: codes per level, sorted, and measures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.how = _AGG[name]
        self.codes: list[np.ndarray] = [np.zeros(0, np.int32) for _ in GROUPS[name]]
        self.values: dict[str, np.ndarray] = {c: np.zeros(0, np.int64) for c in self.how}
        self._pending: list[tuple[list[np.ndarray], dict[str, np.ndarray]]] = []
        self._waiting = 0

    def __len__(self) -> int:
        return len(self.codes[0])

    def add(self, codes: list[np.ndarray], values: dict[str, np.ndarray], sizes: list[int]) -> None:
        """Take groups in global codes (any order, repeats allowed); fold when enough wait.

        The table owns ``codes`` and ``values`` from then on: a fold empties them, so each
        array goes as soon as it is copied (give copies of containers you keep)."""
        if not len(codes[0]):
            return
        for i, size in enumerate(sizes):  # narrowed as they wait (in place: the caller's lists)
            codes[i] = _narrow(codes[i], size)
        for col, v in values.items():
            values[col] = v.astype(_fitting(np.dtype(np.int32), v), copy=False)
        self._pending.append((codes, values))
        self._waiting += len(codes[0])
        if self._waiting >= max(FOLD_MIN_GROUPS, len(self) // 4):
            self.fold(sizes)

    def fold(self, sizes: list[int]) -> None:
        """Fold the waiting groups into the running ones (``sizes``: labels per level).

        The waiting groups are reduced on their own (sorted, one row a group), then merged
        into the running groups, which are sorted already: a binary search per waiting
        group, measures of groups both hold combined in place, new groups inserted column
        by column. So a fold sorts the quarter that waits, not the whole table, and holds
        the running groups once, plus one column and an int64 search key.
        """
        if not self._pending:
            return
        parts, self._pending, self._waiting = self._pending, [], 0
        codes, values = _reduced(parts, self.how, sizes)
        del parts
        if not len(self):
            self.codes, self.values = codes, values
            return
        if _radix_size(sizes) >= 2**63:  # no int64 key: sort both together
            self.codes, self.values = _reduced([(self.codes, self.values), (codes, values)], self.how, sizes)
            return
        self._merge(codes, values, sizes)

    def _merge(self, codes: list[np.ndarray], values: dict[str, np.ndarray], sizes: list[int]) -> None:
        """Merge sorted, distinct groups (``codes``, ``values``) into the running ones."""
        key = _radix(self.codes, sizes)
        new_key = _radix(codes, sizes)
        pos = np.searchsorted(key, new_key)
        hit = pos < len(key)
        hit[hit] = key[pos[hit]] == new_key[hit]
        del key, new_key
        at, fresh = pos[hit], ~hit
        # where each running group and each new one goes in the merged table
        slots = pos[fresh] + np.arange(int(fresh.sum()), dtype=np.int64)
        del pos
        total = len(self) + len(slots)
        old_slot = np.ones(total, dtype=np.bool_)
        old_slot[slots] = False
        for i, size in enumerate(sizes):
            dtype = np.result_type(self.codes[i].dtype, _code_dtype(size))
            self.codes[i] = _inserted(self.codes[i], codes[i][fresh], slots, old_slot, dtype)
            codes[i] = _EMPTY_CODES
        for col, how in self.how.items():
            mine, theirs = self.values[col], values.pop(col)
            if len(at):
                ufunc = np.add if how == "sum" else np.minimum if how == "min" else np.maximum
                both = ufunc(mine[at].astype(np.int64), theirs[hit].astype(np.int64))
                mine = mine.astype(_fitting(mine.dtype, both), copy=False)
                mine[at] = both
                del both
            add = theirs[fresh]
            del theirs
            self.values[col] = _inserted(mine, add, slots, old_slot, _fitting(mine.dtype, add))

    def nbytes(self) -> int:
        """Bytes held (running and waiting groups)."""
        held = sum(c.nbytes for c in self.codes) + sum(v.nbytes for v in self.values.values())
        return held + sum(sum(c.nbytes for c in cs) + sum(v.nbytes for v in vs.values())
                          for cs, vs in self._pending)


def _reduced(parts: list[tuple[list[np.ndarray], dict[str, np.ndarray]]], how: dict[str, str],
             sizes: list[int]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Groups of ``parts`` (codes per level, measures; any order, repeats allowed) as one
    sorted table of distinct groups, levels narrowed, measures int32 where they fit.

    One column at a time, each part's array let go as soon as it is copied: the parts are
    the caller's to empty (a table's own, or its waiting batches)."""
    codes: list[np.ndarray] = []
    for i in range(len(sizes)):
        codes.append(np.concatenate([p[0][i] for p in parts]))
        for p in parts:
            p[0][i] = _EMPTY_CODES
    order, starts = _runs(codes, sizes)
    firsts = order[starts]
    out_codes: list[np.ndarray] = []
    for i, size in enumerate(sizes):
        level, codes[i] = codes[i], _EMPTY_CODES
        out_codes.append(_narrow(level[firsts], size))
        del level
    del codes, firsts
    out: dict[str, np.ndarray] = {}
    for col, agg in how.items():
        v = np.concatenate([p[1].pop(col) for p in parts])[order]
        ufunc = np.add if agg == "sum" else np.minimum if agg == "min" else np.maximum
        v = ufunc.reduceat(v, starts, dtype=np.int64) if len(v) else v.astype(np.int64)
        out[col] = v.astype(_fitting(np.dtype(np.int32), v), copy=False)
    return out_codes, out


def _fitting(dtype: np.dtype[Any], v: np.ndarray) -> np.dtype[Any]:
    """``dtype`` (int32 or int64), or int64 when ``v`` has a value past int32."""
    if dtype == np.int64 or not len(v) or (int(v.min()) >= _INT32_MIN and int(v.max()) <= _INT32_MAX):
        return dtype
    return np.dtype(np.int64)


def _inserted(old: np.ndarray, new: np.ndarray, slots: np.ndarray, old_slot: np.ndarray,
              dtype: np.dtype[Any]) -> np.ndarray:
    """``old`` with ``new`` placed at ``slots`` of the merged order (``old_slot``: the
    positions ``old``'s elements take), in ``dtype``."""
    if not len(new):
        return old.astype(dtype, copy=False)
    out = np.empty(len(old_slot), dtype=dtype)
    out[slots] = new
    out[old_slot] = old
    return out


def _radix_size(sizes: list[int]) -> int:
    radix = 1
    for size in sizes:
        radix *= size + 1
    return radix


def _runs(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts groups by their codes (lexicographic, null first) and where each
    distinct group starts in it."""
    if _radix_size(sizes) < 2**63:  # one int64 per group: the running groups are one sorted run already
        key = _radix(codes, sizes)
        order = np.argsort(key, kind="stable")
        key = key[order]
        change = key[1:] != key[:-1]
    else:
        order = np.lexsort(codes[::-1])
        change = np.zeros(max(len(order) - 1, 0), dtype=np.bool_)
        for c in codes:
            s = c[order]
            change |= s[1:] != s[:-1]
    return order, np.flatnonzero(np.r_[True, change])


class Accumulator:
    """The :data:`~xcomlab.summary.core.GROUPED` tables of a stream in code space.

    Several accumulators may share one ``labels`` (e.g. one per source table attempt, so
    that an attempt given up can be dropped); :meth:`absorb` adds one into another.
    """

    def __init__(self, labels: dict[str, Labels] | None = None, *,
                 max_run_keys: int = MAX_EXACT_RUN_KEYS) -> None:
        self.labels = labels if labels is not None else _stream_labels()
        self.tables = {name: Table(name) for name in (*GROUPED, *ROLLED)}
        self.max_run_keys = max_run_keys
        #: Run labels from this code on are this accumulator's own (it may forget them).
        self._floor = len(self.labels[S.RUN_ID])
        #: The cut (ns) runs were last rolled up at: runs that ended before it are rolled.
        self.cut: int | None = None

    def add(self, parts: dict[str, Grouped]) -> None:
        """Take one batch's grouped tables (:func:`~xcomlab.summary.core.grouped_parts`)."""
        luts: dict[tuple[str, int], np.ndarray] = {}
        for name, part in parts.items():
            if not len(part.codes[0]):
                continue
            codes = []
            for level, local in zip(GROUPS[name], part.codes, strict=True):
                if level in _RAW_LEVELS:
                    codes.append(local.astype(np.int32))
                    continue
                f = part.keys[level]
                lut = luts.get((level, id(f.labels)))
                if lut is None:
                    lut = luts[(level, id(f.labels))] = self._lut(level, f)
                codes.append(lut[local])
            self.tables[name].add(codes, part.values, self._sizes(name))
        keys = self.tables["run_keys"]
        if len(keys) + keys._waiting > self.max_run_keys:
            self.roll()

    def _lut(self, level: str, f: Factor) -> np.ndarray:
        """Global codes of ``f``'s labels. Run ids: only of the labels its rows use (a
        reader may give one dictionary for a whole table; a run id no row of the batch
        names must not take a code, or a rolled run's label would come back)."""
        if level != S.RUN_ID:
            return self.labels[level].codes(f)
        used = np.unique(f.codes[f.codes >= 0])
        lut = np.full(len(f.labels), -1, dtype=np.int32)
        lut[used] = self.labels[level].codes(Factor(used, f.labels.take(used)))
        return lut

    def roll(self) -> None:
        """Roll up the oldest runs until about ``KEEP_SHARE × max_run_keys`` ``run_keys``
        groups are left (runs older than the cut, which only moves forward): their groups
        move, in code space, to ``old_runs`` (per table, DAG, day of the run's last write,
        run-id bytes) and ``old_run_keys`` (per table, DAG, key, that day), and the run ids
        no group uses any more are forgotten."""
        keys, runs = self.tables["run_keys"], self.tables["runs"]
        keys.fold(self._sizes("run_keys"))
        runs.fold(self._sizes("runs"))
        cut = cut_for(keys.values["last_timestamp"], max(int(self.max_run_keys * KEEP_SHARE), 1))
        if cut is None:
            return
        self.cut = cut if self.cut is None else max(self.cut, cut)
        gone = runs.values["last_timestamp"] < self.cut
        if not gone.any():
            return
        # each run_keys group's run: the runs are sorted by (table, dag, run), so are their keys
        sizes = self._sizes("runs")
        run_key = _radix(runs.codes, sizes)
        pos = np.minimum(np.searchsorted(run_key, _radix(keys.codes[:3], sizes)), len(run_key) - 1)
        k_gone = gone[pos]
        day = self._day_codes(runs.values["last_timestamp"][gone])
        lengths = self._run_bytes(runs.codes[2][gone])
        ones = np.ones(int(gone.sum()), dtype=np.int64)
        self.tables["old_runs"].add(
            [runs.codes[0][gone], runs.codes[1][gone], day, lengths],
            {**{c: runs.values[c][gone] for c in ("rows", "value_bytes", "first_timestamp", "last_timestamp",
                                                   "dag_run_id")}, "runs": ones}, self._sizes("old_runs"))
        day_of = np.full(len(runs), -1, dtype=np.int32)
        day_of[gone] = day
        self.tables["old_run_keys"].add(
            [keys.codes[0][k_gone], keys.codes[1][k_gone], keys.codes[3][k_gone], day_of[pos[k_gone]]],
            {**{c: keys.values[c][k_gone] for c in ("rows", "value_bytes", "refs", "ref_bytes", "first_timestamp",
                                                     "last_timestamp")},
             "runs": np.ones(int(k_gone.sum()), dtype=np.int64)}, self._sizes("old_run_keys"))
        rolled = np.unique(runs.codes[2][gone])
        for table, drop in ((runs, gone), (keys, k_gone)):
            table.codes = [c[~drop] for c in table.codes]
            table.values = {col: v[~drop] for col, v in table.values.items()}
        unused = np.setdiff1d(rolled, np.unique(runs.codes[2]), assume_unique=True)
        self.labels[S.RUN_ID].drop(unused[unused >= self._floor])

    def _day_codes(self, last_ns: np.ndarray) -> np.ndarray:
        """Global ``day`` codes of the UTC days of ``last_ns`` (none: ``-1``)."""
        day = np.where(last_ns >= 0, last_ns // _DAY_NS * _DAY_NS, np.iinfo(np.int64).min)
        uniq, inverse = np.unique(day, return_inverse=True)
        labels = pd.DatetimeIndex(pd.to_datetime(uniq, utc=True))
        return self.labels["day"].codes(Factor(inverse.ravel(), labels))[inverse.ravel()]

    def _run_bytes(self, run_codes: np.ndarray) -> np.ndarray:
        """UTF-8 bytes of each run id (null: 0), once per distinct id, capped at the level's size."""
        uniq, inverse = np.unique(run_codes, return_inverse=True)
        words = self.labels[S.RUN_ID].words
        lens = np.array([0 if c < 0 else len(str(words[c]).encode()) for c in uniq.tolist()], dtype=np.int32)
        return np.minimum(lens, RUN_BYTES_LEVELS - 1)[inverse.ravel()]

    def absorb(self, other: Accumulator) -> None:
        """Add ``other``'s groups (same labels) to this one's; ``other`` is left empty (where
        this one had no groups, the first table of a stream, its tables move, not re-sorted)."""
        for name, table in other.tables.items():
            table.fold(self._sizes(name))
            mine = self.tables[name]
            other.tables[name] = Table(name)
            if not len(mine) and not mine._pending:  # moved as they are: sorted already
                self.tables[name] = table
            else:  # its arrays are let go as the fold copies them
                mine.add(table.codes, table.values, self._sizes(name))
        if other.cut is not None:
            self.cut = other.cut if self.cut is None else max(self.cut, other.cut)

    def nbytes(self) -> int:
        """Bytes of group state held (labels not counted)."""
        return sum(t.nbytes() for t in self.tables.values())

    def frames(self) -> dict[str, pd.DataFrame]:
        """The grouped tables as the summary's canonical pandas tables (levels and groups
        sorted by label, nulls last and coded -1, the summary's dtypes); the accumulator
        is left empty.

        One table at a time, and within it one array at a time: each level's codes become
        the index's codes (labels no group uses dropped, the narrowest integer pandas keeps),
        each measure is put in order and handed to the table as is, and the code-space
        array it came from goes before the next is made; so the tables cost their own size
        plus one column, not a second copy of every table (at 100M rows: +1.7 GB before).
        The tables are made largest first, so the largest one's work happens while the
        others are still small.
        """
        ranks = {level: labels.ranks() for level, labels in self.labels.items()}
        raw = {level: (pd.Index(np.arange(size, dtype=np.int64)), np.arange(size, dtype=np.int32))
               for level, size in _RAW_LEVELS.items()}
        out: dict[str, pd.DataFrame] = {}
        # the largest first, while the others are still in code space (their pandas tables
        # are larger): at 100M rows `old_run_keys` (8M groups) was made last, on top of all
        # the others made
        for name in sorted(self.tables, key=lambda n: -(len(self.tables[n]) + self.tables[n]._waiting)):
            table = self.tables[name]
            table.fold(self._sizes(name))
            self.tables[name] = Table(name)
            if not len(table):
                out[name] = _empty(name)
                continue
            levels: list[Any] = []
            ranked: list[np.ndarray] = []
            for i, level in enumerate(GROUPS[name]):
                labels, rank = raw[level] if level in raw else ranks[level]
                c = table.codes[i]
                table.codes[i] = _EMPTY_CODES
                r = np.where(c < 0, len(labels), rank[c])  # null: last
                del c
                used = np.bincount(r, minlength=len(labels) + 1)[:-1] > 0
                if not used.all():  # labels of other tables only
                    new = np.cumsum(used, dtype=np.int32) - 1
                    labels = labels[used]
                    r = np.where(r == len(used), len(labels), new[np.minimum(r, len(used) - 1)])
                levels.append(labels)
                ranked.append(r.astype(np.int32, copy=False))
            order, _ = _runs(ranked, [len(lv) + 1 for lv in levels])  # null ranks len(lv)
            codes = []
            for i, lv in enumerate(levels):
                c = ranked[i][order]
                ranked[i] = _EMPTY_CODES
                c[c == len(lv)] = -1
                codes.append(c.astype(_index_dtype(len(lv)), copy=False))
            index = pd.MultiIndex(levels=levels, codes=codes, names=GROUPS[name], verify_integrity=False)
            del codes
            columns: dict[str, Any] = {}
            for col in _AGG[name]:
                columns[col] = _column(name, col, table.values.pop(col)[order].astype(np.int64, copy=False))
            del table, order
            out[name] = _typed(name, pd.DataFrame(columns, index=index, copy=False))
        return out

    def _sizes(self, name: str) -> list[int]:
        return [_RAW_LEVELS[g] if g in _RAW_LEVELS else len(self.labels[g]) for g in GROUPS[name]]


_EMPTY_CODES: Final = np.zeros(0, dtype=np.int32)
#: Measures are kept as int32 between folds while every group's value fits (a fold sums,
#: takes minima and maxima in int64 and narrows again): counts, byte sums of groups under
#: 2 GiB, run numbers; timestamps (nanoseconds) and the int64 "none" of a minimum do not fit.
_INT32_MIN: Final = np.iinfo(np.int32).min
_INT32_MAX: Final = np.iinfo(np.int32).max


def _narrow(codes: np.ndarray, size: int) -> np.ndarray:
    """``codes`` (``-1 .. size - 1``) in the narrowest signed integer type that holds them:
    a level of a few labels costs a byte a group, not four."""
    return codes.astype(_code_dtype(size), copy=False)


def _code_dtype(size: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer type of codes ``-1 .. size - 1``."""
    return np.int8 if size <= 127 else np.int16 if size <= 32_767 else np.int32


def _index_dtype(n_labels: int) -> type[np.signedinteger[Any]]:
    """The integer type pandas keeps a level's codes in (``coerce_indexer_dtype``): codes
    given in it are not copied."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_labels < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _column(name: str, col: str, v: np.ndarray) -> Any:
    """One raw measure (:class:`~xcomlab.summary.core.Grouped`) as the summary's column:
    "none" markers become nulls, nanoseconds UTC timestamps; ``v`` is reused where it can be."""
    if col in ("first_timestamp", "last_timestamp"):
        v[(v == _BIG) | (v < 0)] = _NAT
        return pd.DatetimeIndex(v.view("M8[ns]")).tz_localize("UTC").array
    if name == "keys" and col == "min_bytes":
        return pd.arrays.IntegerArray(v, v == _BIG)
    if name == "keys" and col == "max_bytes":
        return pd.arrays.IntegerArray(v, v < 0)
    return v


def _radix(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One int64 per group of ``codes`` (null ``-1`` included), equal iff the groups are."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c, size in zip(codes, sizes, strict=True):
        key *= size + 1
        key += c
        key += 1
    return key


def _stream_labels() -> dict[str, Labels]:
    names = {g for name in GROUPED for g in GROUPS[name]} - {*_RAW_LEVELS, "day", "week"}
    return {**{n: Labels() for n in sorted(names)}, "day": Labels(days=True), "week": Labels(days=True)}
