"""The summary of an export: grouped tables sized by the number of groups, never rows.

A :class:`Summary` holds what the analyses need of an XCom frame without its rows:

``keys``
    per ``(source_table, dag_id, task_id, key)``: ``rows``, ``sized_rows`` (rows whose
    stored size is known), ``value_bytes``, ``min_bytes``, ``max_bytes``.
``histogram``
    per ``(source_table, dag_id, task_id, key, bucket)``: ``rows`` — the log-spaced size
    buckets of :mod:`xcomlab.summary.histogram`. Quantiles read from them are within
    :data:`~xcomlab.summary.histogram.QUANTILE_RELATIVE_ERROR` (≈ 1.98 %, ``sqrt(1.04) -
    1``) of the exact ones.
``daily``
    per ``(source_table, dag_id, day)`` (UTC day of ``timestamp``): ``rows``, ``value_bytes``.
``runs``
    per ``(source_table, dag_id, run_id)``: ``rows``, ``value_bytes``, ``first_timestamp``,
    ``last_timestamp`` and ``dag_run_id`` (the run's integer id, -1 when the export has none).
``run_keys``
    per ``(source_table, dag_id, run_id, key)``: ``rows``, ``value_bytes``, ``refs`` (rows
    pointing to an object store), ``ref_bytes``, ``first_timestamp``, ``last_timestamp`` —
    what a retention policy with key rules and keep-last-N runs reads
    (:mod:`xcomlab.analysis.retention`).
``sources``
    per ``(source_table, airflow_schema)``: ``rows``, ``inexact_rows`` (sizes the export
    lost or rebuilt), ``result_rows`` (a non-null ``dag_result``), ``mapped_rows``
    (``map_index >= 0``), ``first_timestamp``, ``last_timestamp``.
``big``
    per ``(source_table, dag_id, task_id, key, day, bucket)`` for the rows of at least
    :data:`~xcomlab.constants.ONE_OFF_MIN_BYTES`: ``rows``, ``value_bytes`` — where in time
    the large values fell (the forecast's one-off offenders).
``classes``
    per ``(source_table, encoding, has_nan, internal, reference)``: ``rows``, ``value_bytes``.
``over``
    per ``(source_table, target)``: ``limit_bytes``, and ``rows`` with ``value_bytes >
    limit_bytes`` and their ``value_bytes``, for every target of ``xcomlab/data/limits.csv`` (hard limits and policy
    thresholds, the 48 KB one included), counted from exact sizes while summarising; and
    the same for the fixed grid :data:`THRESHOLD_GRID` (targets ``threshold_1024`` …
    ``threshold_1073741824``, powers of two 1 KiB – 1 GiB), so a threshold can be chosen
    from exact counts (:meth:`Summary.grid_counts`).
``secrets``
    per ``(source_table, dag_id, task_id, key, kind)``: ``rows`` (XComs flagged with that
    kind, exact) and ``evidence`` (one masked example: the smallest string, so merging
    stays associative). Empty unless values were scanned (see ``scanned``).
``secret_rows``
    indexed by ``(source_table, dag_id, task_id, key, kind, run_id, map_index)``:
    ``evidence`` — the row-level findings, at most :data:`SECRET_ROWS_PER_GROUP` per
    ``(source_table, dag_id, task_id, key, kind)``: the first by ``(run_id, map_index)``.
``largest``
    indexed by ``(source_table, dag_id, task_id, run_id, key, map_index)``:
    ``value_bytes, encoding, timestamp`` of the :data:`LARGEST_PER_TABLE` largest rows of
    each source table (exact sizes only), largest first, ties by the index ascending.
``mapped``
    per ``(source_table, dag_id, task_id)`` with mapped rows: ``mapped_rows`` (rows with
    ``map_index >= 0``) and ``max_map_index``.
``scanned``
    per ``(source_table, scan)``: ``rows`` whose values went through a scan — ``scan`` is
    ``secrets`` (the secret rules) or ``sample`` (offered to the value sample). A summary
    made without values has no rows here: its ``secrets`` are "not scanned", not "none".
``weekly``
    per ``(source_table, dag_id, task_id, key, week)``: ``rows``, ``sized_rows``,
    ``value_bytes``, ``runs`` (rows with ``map_index <= 0``: one per run of the stream)
    and ``first_timestamp`` — what a fitted workload reads (:func:`weekly_table`).
    Optional (:data:`OPTIONAL_TABLES`): a summary pushed down to a database or saved
    before it existed has it empty, and the fit falls back.
``old_runs``, ``old_run_keys``
    the runs older than the exact ones, rolled up per UTC day of their last write, once
    ``run_keys`` would hold more than :data:`~xcomlab.summary.runs.MAX_EXACT_RUN_KEYS`
    groups (per ``(source_table, dag_id, day, run_bytes)`` and ``(source_table, dag_id,
    key, day)``, with a ``runs`` count): :mod:`xcomlab.summary.runs`. Optional; empty on
    exports with fewer runs.

and one object, ``sample``: the bounded value reservoir
(:class:`~xcomlab.ingest.sample.ValueSample`) or None when no value was read.

Every table is indexed by its group columns, sorted, with fixed dtypes, so two summaries
of the same data compare equal with :meth:`Summary.equals` (``largest`` is ordered
largest first, the rest by index). :meth:`Summary.merge` adds two summaries (sums,
minima, maxima, the first N of bounded tables in a total order, the sample's bottom-k):
it is associative and commutative (per-run tables aside once they are rolled up: merged
summaries roll at the newest cut), and the summary of two frames' rows is the merge of
their summaries (a row's sample key is a seeded hash of its ids, so any split of the
rows into shards gives the same sample: :func:`xcomlab.ingest.sample.row_keys`).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol, cast

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.constants import ONE_OFF_MIN_BYTES
from xcomlab.errors import Reason, Rejection, SchemaMismatchError
from xcomlab.ingest.loader import LoadReport, TableReport
from xcomlab.ingest.sample import ValueSample, value_sample
from xcomlab.ingest.secret_rules import scan_values
from xcomlab.summary import store
from xcomlab.summary.groupby import Factor, factor, group, group_codes
from xcomlab.summary.histogram import (
    _HIGHEST,
    EDGES,
    bucket_of,
    quantiles_by_group,
    representative,
)
from xcomlab.summary.runs import KEEP_SHARE, MAX_EXACT_RUN_KEYS, cut_for, rolled_tables

__all__ = [
    "FINDING_COLUMNS",
    "GROUPED",
    "GROUPS",
    "LARGEST_PER_TABLE",
    "OPTIONAL_TABLES",
    "SECRET_ROWS_PER_GROUP",
    "TABLES",
    "THRESHOLD_GRID",
    "Columns",
    "Grouped",
    "Summary",
    "coarsen",
    "exact_since",
    "frame_columns",
    "grouped_frame",
    "grouped_parts",
    "limit_targets",
    "merge_all",
    "merge_reports",
    "merge_tables",
    "over_targets",
    "small_tables",
    "summarize_columns",
    "summarize_frame",
    "weekly_table",
]

_T = S.SOURCE_TABLE
#: Row-level findings kept per (source_table, dag_id, task_id, key, kind) in ``secret_rows``.
SECRET_ROWS_PER_GROUP: Final = 50
#: Largest rows kept per source table in ``largest``.
LARGEST_PER_TABLE: Final = 100
#: Extra exact threshold counts in ``over``: powers of two from 1 KiB to 1 GiB.
THRESHOLD_GRID: Final = tuple((f"threshold_{2 ** p}", 2 ** p) for p in range(10, 31))
#: Columns of a row-level secret finding (as :class:`~xcomlab.analysis.secrets.SecretReport`).
FINDING_COLUMNS: Final = (_T, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX, "kind", "evidence")
#: Index columns of each table of a summary (its group columns; for ``secret_rows`` and
#: ``largest`` the row's ids).
GROUPS: dict[str, tuple[str, ...]] = {
    "keys": (_T, S.DAG_ID, S.TASK_ID, S.KEY),
    "histogram": (_T, S.DAG_ID, S.TASK_ID, S.KEY, "bucket"),
    "daily": (_T, S.DAG_ID, "day"),
    "runs": (_T, S.DAG_ID, S.RUN_ID),
    "classes": (_T, S.ENCODING, S.HAS_NAN, S.INTERNAL, "reference"),
    "over": (_T, "target"),
    "run_keys": (_T, S.DAG_ID, S.RUN_ID, S.KEY),
    "sources": (_T, S.AIRFLOW_SCHEMA),
    "big": (_T, S.DAG_ID, S.TASK_ID, S.KEY, "day", "bucket"),
    "secrets": (_T, S.DAG_ID, S.TASK_ID, S.KEY, "kind"),
    "secret_rows": (_T, S.DAG_ID, S.TASK_ID, S.KEY, "kind", S.RUN_ID, S.MAP_INDEX),
    "largest": (_T, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX),
    "mapped": (_T, S.DAG_ID, S.TASK_ID),
    "scanned": (_T, "scan"),
    "weekly": (_T, S.DAG_ID, S.TASK_ID, S.KEY, "week"),
    "old_runs": (_T, S.DAG_ID, "day", "run_bytes"),
    "old_run_keys": (_T, S.DAG_ID, S.KEY, "day"),
}
#: Tables a summary may lack (pushed-down summaries, files saved before they existed):
#: empty there, and the analyses that read them fall back (see :func:`weekly_table`).
OPTIONAL_TABLES: Final = ("weekly", "old_runs", "old_run_keys")
#: The tables of a summary, in field order.
TABLES: Final = tuple(GROUPS)
#: Tables kept bounded: the first rows in a total order, not one row per group.
_BOUNDED: Final = ("secret_rows", "largest")
#: How each measure merges.
_AGG: dict[str, dict[str, str]] = {
    "keys": {"rows": "sum", "sized_rows": "sum", "value_bytes": "sum", "min_bytes": "min",
             "max_bytes": "max"},
    "histogram": {"rows": "sum"},
    "daily": {"rows": "sum", "value_bytes": "sum"},
    "runs": {"rows": "sum", "value_bytes": "sum", "first_timestamp": "min",
             "last_timestamp": "max", "dag_run_id": "max"},
    "classes": {"rows": "sum", "value_bytes": "sum"},
    "over": {"limit_bytes": "max", "rows": "sum", "value_bytes": "sum"},
    "run_keys": {"rows": "sum", "value_bytes": "sum", "refs": "sum", "ref_bytes": "sum",
                 "first_timestamp": "min", "last_timestamp": "max"},
    "sources": {"rows": "sum", "inexact_rows": "sum", "result_rows": "sum", "mapped_rows": "sum",
                "first_timestamp": "min", "last_timestamp": "max"},
    "big": {"rows": "sum", "value_bytes": "sum"},
    "secrets": {"rows": "sum", "evidence": "min"},
    "secret_rows": {"evidence": "first"},
    "largest": {"value_bytes": "first", "encoding": "first", "timestamp": "first"},
    "mapped": {"mapped_rows": "sum", "max_map_index": "max"},
    "scanned": {"rows": "sum"},
    "weekly": {"rows": "sum", "sized_rows": "sum", "value_bytes": "sum", "runs": "sum",
               "first_timestamp": "min"},
    "old_runs": {"rows": "sum", "value_bytes": "sum", "runs": "sum", "first_timestamp": "min",
                 "last_timestamp": "max", "dag_run_id": "max"},
    "old_run_keys": {"rows": "sum", "value_bytes": "sum", "refs": "sum", "ref_bytes": "sum", "runs": "sum",
                     "first_timestamp": "min", "last_timestamp": "max"},
}
_DTYPES: dict[str, dict[str, Any]] = {
    "keys": {"rows": "int64", "sized_rows": "int64", "value_bytes": "int64",
             "min_bytes": "Int64", "max_bytes": "Int64"},
    "histogram": {"rows": "int64"},
    "daily": {"rows": "int64", "value_bytes": "int64"},
    "runs": {"rows": "int64", "value_bytes": "int64", "first_timestamp": "datetime64[ns, UTC]",
             "last_timestamp": "datetime64[ns, UTC]", "dag_run_id": "int64"},
    "classes": {"rows": "int64", "value_bytes": "int64"},
    "over": {"limit_bytes": "int64", "rows": "int64", "value_bytes": "int64"},
    "run_keys": {"rows": "int64", "value_bytes": "int64", "refs": "int64", "ref_bytes": "int64",
                 "first_timestamp": "datetime64[ns, UTC]", "last_timestamp": "datetime64[ns, UTC]"},
    "sources": {"rows": "int64", "inexact_rows": "int64", "result_rows": "int64",
                "mapped_rows": "int64", "first_timestamp": "datetime64[ns, UTC]",
                "last_timestamp": "datetime64[ns, UTC]"},
    "big": {"rows": "int64", "value_bytes": "int64"},
    "secrets": {"rows": "int64", "evidence": "object"},
    "secret_rows": {"evidence": "object"},
    "largest": {"value_bytes": "int64", "encoding": "object", "timestamp": "datetime64[ns, UTC]"},
    "mapped": {"mapped_rows": "int64", "max_map_index": "int64"},
    "scanned": {"rows": "int64"},
    "weekly": {"rows": "int64", "sized_rows": "int64", "value_bytes": "int64", "runs": "int64",
               "first_timestamp": "datetime64[ns, UTC]"},
    "old_runs": {"rows": "int64", "value_bytes": "int64", "runs": "int64",
                 "first_timestamp": "datetime64[ns, UTC]", "last_timestamp": "datetime64[ns, UTC]",
                 "dag_run_id": "int64"},
    "old_run_keys": {"rows": "int64", "value_bytes": "int64", "refs": "int64", "ref_bytes": "int64",
                     "runs": "int64", "first_timestamp": "datetime64[ns, UTC]",
                     "last_timestamp": "datetime64[ns, UTC]"},
}
_INDEX_DTYPES: dict[str, Any] = {"bucket": "int64", "day": "datetime64[ns, UTC]",
                                 "week": "datetime64[ns, UTC]",
                                 S.HAS_NAN: "bool", S.INTERNAL: "bool", "reference": "bool",
                                 S.MAP_INDEX: "int64", "run_bytes": "int64"}


@cache
def limit_targets() -> tuple[tuple[str, int], ...]:
    """``(target, limit_bytes)`` of every row of ``xcomlab/data/limits.csv``, in file order."""
    text = resources.files("xcomlab").joinpath("data/limits.csv").read_text(encoding="utf-8")
    return tuple((r["target"], int(r["limit_bytes"])) for r in csv.DictReader(text.splitlines()))


@cache
def over_targets() -> tuple[tuple[str, int], ...]:
    """Every target counted in ``over``: :func:`limit_targets`, then :data:`THRESHOLD_GRID`."""
    return (*limit_targets(), *THRESHOLD_GRID)


_BIG = np.iinfo(np.int64).max
_NAT = np.iinfo(np.int64).min


def _canonical(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` indexed by its groups, sorted, with the summary's dtypes (bounded tables
    cut to their first rows)."""
    table = _typed(name, table)
    index = table.index
    if isinstance(index, pd.MultiIndex) and any(level.hasnans for level in index.levels):
        # a group-by with dropna=False keeps null as a level *value*; a fresh index codes
        # it -1: the same rows, but not equal() — rebuild so that nulls are always coded
        table = table.set_axis(pd.MultiIndex.from_arrays(
            [index.get_level_values(i) for i in range(index.nlevels)], names=index.names))
    if name not in _BOUNDED:
        return table.sort_index()
    if name == "secret_rows":
        return _cut_secret_rows([table])
    return _cut(name, table.reset_index())


def _table_of_file(name: str, arrow: Any) -> pd.DataFrame:
    """A summary table from its Arrow table in a summary file (None: a table the file
    predates), canonical; the groups' labels never become Python objects row by row."""
    if arrow is None or not arrow.num_rows:
        return _empty(name)
    groups = list(GROUPS[name])
    table = None if name in _BOUNDED else store.indexed_frame(arrow, groups)
    if table is None:
        return _canonical(name, store.flat_frame(arrow).set_index(groups))
    return _typed(name, table)  # levels and rows sorted already, nulls coded -1


def _cut(name: str, flat: pd.DataFrame) -> pd.DataFrame:
    """A bounded table from its rows as columns (ids too): sorted in a total order over
    every column (duplicate ids, as a broken export may hold, too), cut to its first rows
    per group, indexed by the ids."""
    names = list(GROUPS[name])
    ascending: list[bool] | None = None
    if name == "secret_rows":
        by, head, per = [*names, "evidence"], SECRET_ROWS_PER_GROUP, names[:5]
    else:  # largest first, then the ids, the time and the encoding
        by, head, per = ["value_bytes", *names, "timestamp", "encoding"], LARGEST_PER_TABLE, [_T]
        ascending = [False] + [True] * (len(by) - 1)
    flat = flat.sort_values(by, ascending=True if ascending is None else ascending,
                            na_position="last", kind="stable")
    flat = flat.groupby(per, sort=False, dropna=False).head(head)
    return _typed(name, flat.set_index(names))


def _coded(table: pd.DataFrame) -> bool:
    """Whether ``table``'s index is a MultiIndex whose nulls are coded -1 (no null label)."""
    index = table.index
    return isinstance(index, pd.MultiIndex) and not any(level.hasnans for level in index.levels)


def _cut_secret_rows(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """:func:`_cut` of ``secret_rows`` tables (each typed, nulls coded -1), in code space.

    The same rows in the same order as sorting their rows as columns: each level's labels
    are united and sorted once and every row ranked by codes (nulls last), evidence by
    its sorted distinct texts; one stable ``lexsort``, the first
    :data:`SECRET_ROWS_PER_GROUP` rows a group kept, and the index made from the codes.
    No column of Python objects is built per row but the evidence (at 100M rows a merge of
    572,140 findings took 3.6 s and +414 MiB through the flat frame)."""
    names = list(GROUPS["secret_rows"])
    indexes = [cast(pd.MultiIndex, t.index).remove_unused_levels() for t in tables]  # a slice keeps its whole levels
    levels: list[Any] = []
    codes: list[Any] = []
    for i in range(len(names)):
        # one sorted factorization of every part's labels (an Index of them would infer
        # pandas' string dtype, whose look-ups against object labels are slow)
        dtype: Any = indexes[0].levels[i].dtype
        where, union = pd.factorize(np.concatenate([x.levels[i].to_numpy(dtype=dtype) for x in indexes]),
                                    sort=True)
        parts, start = [], 0
        for x in indexes:
            mine = where[start:start + len(x.levels[i])]
            start += len(x.levels[i])
            c = np.asarray(x.codes[i], dtype=np.int64)
            parts.append(np.where(c < 0, -1, mine[np.maximum(c, 0)]) if len(mine) else np.full(len(c), -1))
        levels.append(pd.Index(union, dtype=dtype))
        codes.append(np.concatenate(parts))
    evidence = np.concatenate([t["evidence"].to_numpy(dtype=object) for t in tables])
    ev_codes, _ = pd.factorize(evidence, sort=True, use_na_sentinel=True)
    keys = [np.where(c < 0, len(lv), c) for c, lv in zip(codes, levels, strict=True)]
    order = np.lexsort([np.where(ev_codes < 0, ev_codes.max(initial=0) + 1, ev_codes), *keys[::-1]])
    per = len(names) - 2  # a group: table, DAG, task, key, kind
    change = np.zeros(max(len(order) - 1, 0), dtype=np.bool_)
    for k in keys[:per]:
        s = k[order]
        change |= s[1:] != s[:-1]
    starts = np.flatnonzero(np.r_[True, change]) if len(order) else np.zeros(0, np.int64)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rows = order[rank < SECRET_ROWS_PER_GROUP]
    index = pd.MultiIndex(levels=levels, codes=[c[rows] for c in codes], names=names,
                          verify_integrity=False).remove_unused_levels()
    return _typed("secret_rows", pd.DataFrame({"evidence": evidence[rows]}, index=index))


def _typed_flat(name: str, flat: pd.DataFrame) -> pd.DataFrame:
    """A table's rows as columns (ids too) with the summary's dtypes."""
    want = {**{g: _INDEX_DTYPES.get(g, "object") for g in GROUPS[name]}, **_DTYPES[name]}
    if any(str(flat[c].dtype) != str(t) for c, t in want.items()):
        flat = flat.astype(want)
    return flat


def _typed(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the summary's dtypes (index levels too), in any order."""
    want = _DTYPES[name]
    if any(str(table[c].dtype) != str(t) for c, t in want.items()):
        table = table.astype(want)
    index = table.index
    if isinstance(index, pd.MultiIndex):
        wanted = [str(_INDEX_DTYPES.get(str(level), "object")) for level in index.names]
        if any(str(index.levels[i].dtype) != w for i, w in enumerate(wanted)):
            levels = [index.get_level_values(i) for i in range(len(wanted))]
            table.index = pd.MultiIndex.from_arrays(
                [v if str(v.dtype) == w else v.astype(w) for v, w in zip(levels, wanted, strict=True)],
                names=index.names)
    return table


def _empty(name: str) -> pd.DataFrame:
    """An empty table (a fresh copy: pandas' empty MultiIndex costs milliseconds to make)."""
    return _empty_table(name).copy(deep=False)


@cache
def _empty_table(name: str) -> pd.DataFrame:
    groups = GROUPS[name]
    index = pd.MultiIndex.from_arrays(
        [pd.Index([], dtype=_INDEX_DTYPES.get(g, "object")) for g in groups], names=groups)
    cols = {c: pd.Series([], dtype=t) for c, t in _DTYPES[name].items()}
    return pd.DataFrame(cols, index=index)


@dataclass(frozen=True, eq=False)
class Summary:
    """Grouped tables of an export (see the module docstring), sized by groups, not rows.

    Build one with :func:`summarize_frame` or :func:`xcomlab.summary.summarize_file`;
    combine shards or deployments with :meth:`merge`.
    """

    keys: pd.DataFrame
    histogram: pd.DataFrame
    daily: pd.DataFrame
    runs: pd.DataFrame
    classes: pd.DataFrame
    over: pd.DataFrame
    run_keys: pd.DataFrame
    sources: pd.DataFrame
    big: pd.DataFrame
    secrets: pd.DataFrame
    secret_rows: pd.DataFrame
    largest: pd.DataFrame
    mapped: pd.DataFrame
    scanned: pd.DataFrame
    #: Optional (:data:`OPTIONAL_TABLES`): empty when the producer does not fill it.
    weekly: pd.DataFrame = field(default_factory=lambda: _empty("weekly"))
    #: Runs rolled up per day beyond the exact ones (:mod:`xcomlab.summary.runs`): empty
    #: while the export holds fewer run groups than the bound.
    old_runs: pd.DataFrame = field(default_factory=lambda: _empty("old_runs"))
    old_run_keys: pd.DataFrame = field(default_factory=lambda: _empty("old_run_keys"))
    #: The value reservoir, or None when no value was read.
    sample: ValueSample | None = None
    #: What the read of the export said (:class:`~xcomlab.ingest.loader.LoadReport`): set by
    #: :func:`~xcomlab.summary.summarize_file` and :func:`summarize_frame` (from the frame's
    #: own); merged summaries carry every part's tables, rejections and notes.
    report: LoadReport | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls) -> Summary:
        """The summary of no rows (the identity of :meth:`merge`)."""
        tables: dict[str, Any] = {name: _empty(name) for name in TABLES}
        return cls(**tables)

    def merge(self, other: Summary) -> Summary:
        """The summary of both summaries' rows (associative and commutative)."""
        return merge_all([self, other])

    def equals(self, other: Summary) -> bool:
        """True when every table has the same groups, values and dtypes, and the samples
        hold the same values and totals."""
        return all(getattr(self, n).equals(getattr(other, n)) for n in TABLES) and \
            _same_sample(self.sample, other.sample)

    def save(self, path: str | os.PathLike[str], *, source: str = "") -> Path:
        """Write this summary to one file (:mod:`xcomlab.summary.store`: a zip of Parquet
        tables and a JSON header); ``source`` says what was summarised (never a password)."""
        flat = {n: partial(store.flat_arrow, getattr(self, n)) for n in TABLES}  # made one at a time
        about = {"source": str(source), "rows": self.rows, "value_bytes": self.value_bytes,
                 "source_tables": self.tables(), "rows_scanned": {
                     "secrets": self.rows_scanned("secrets"), "sample": self.rows_scanned("sample")},
                 "load_report": _report_json(self.report, source)}
        return store.write_file(path, flat, self.sample, about)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Summary:
        """Read a file :meth:`save` wrote. A summary file is untrusted input: it is
        checked (format version, sizes, SHA-256 of every member, columns, row total) and
        :class:`~xcomlab.summary.store.SummaryFileError` names the file when it fails."""
        def build(n: str, arrow: Any) -> pd.DataFrame:
            try:
                return _table_of_file(n, arrow)
            except (ValueError, TypeError) as exc:
                msg = f"{path}: table {n!r} holds values of the wrong type ({exc})"
                raise store.SummaryFileError(msg) from None

        tables, sample, header = store.read_file(path, {n: [*GROUPS[n], *_DTYPES[n]] for n in TABLES},
                                                 optional=OPTIONAL_TABLES, build=build)
        out = cls(**tables, sample=sample, report=_report_of(path, header.get("load_report")))
        if out.rows != header.get("rows"):
            msg = f"{path}: its tables hold {out.rows:,} rows, its header {header.get('rows')!r} (tampered?)"
            raise store.SummaryFileError(msg)
        return out

    def rows_scanned(self, scan: str = "secrets") -> int:
        """Rows whose values went through ``scan`` (``secrets`` or ``sample``): equal to
        :attr:`rows` when the whole export was scanned, 0 when values were never read."""
        s = self.scanned
        return int(s["rows"][s.index.get_level_values("scan") == scan].sum()) if len(s) else 0

    def grid_counts(self) -> dict[int, int]:
        """Rows over each threshold of :data:`THRESHOLD_GRID` (every table), by bytes."""
        g = self.over.groupby(level="target", sort=False)["rows"].sum()
        return {limit: int(g.get(t, 0)) for t, limit in THRESHOLD_GRID}

    @property
    def rows(self) -> int:
        """Rows summarised (every table)."""
        return int(self.keys["rows"].sum())

    @property
    def value_bytes(self) -> int:
        """Stored value bytes summarised (rows whose size is known)."""
        return int(self.keys["value_bytes"].sum())

    def tables(self) -> list[str]:
        """The source tables summarised."""
        return sorted(set(self.keys.index.get_level_values(_T)))

    def primary(self) -> Summary:
        """Only the live ``xcom`` table's groups when it has rows, else every group
        (as :func:`xcomlab.schema.primary_rows` does for a frame). The value sample is
        kept whole: it is drawn over every table."""
        found = self.tables()
        if "xcom" not in found or found == ["xcom"]:  # nothing to drop: no copy of every table
            return self
        tables: dict[str, Any] = {n: _live(getattr(self, n)) for n in TABLES}
        return Summary(**tables, sample=self.sample, report=self.report)

    def airflow_schema(self) -> str | None:
        """The most common ``airflow_schema`` of the live rows (as
        :func:`xcomlab.ingest.deployment.infer_deployment` reads a frame); None without rows."""
        live = self.primary().sources
        if not len(live):
            return None
        counts = live.groupby(level=S.AIRFLOW_SCHEMA)["rows"].sum()
        top = counts[counts == counts.max()]
        return str(sorted(top.index.astype(str))[0])

    def timestamps(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last write (UTC) of the rows summarised; None where none has a timestamp."""
        first, last = self.sources["first_timestamp"].min(), self.sources["last_timestamp"].max()
        return (None if pd.isna(first) else first), (None if pd.isna(last) else last)

    def threshold_counts(self) -> dict[str, int]:
        """Rows over each limit and threshold of ``limits.csv`` (every table)."""
        g = self.over.groupby(level="target", sort=False)["rows"].sum()
        return {t: int(g.get(t, 0)) for t, _ in limit_targets()}

    def rows_over(self, limit_bytes: int) -> tuple[int, int]:
        """Rows with ``value_bytes > limit_bytes`` and their bytes, read from the histogram.

        Exact for a limit of ``limits.csv`` (use :meth:`threshold_counts`) and wherever no
        bucket straddles ``limit_bytes``; the straddling bucket's rows are split in
        proportion to its integers above the limit, and bytes of buckets wholly above are
        the buckets' representatives (within :data:`QUANTILE_RELATIVE_ERROR` each).
        """
        b = self.histogram.index.get_level_values("bucket").to_numpy()
        n = self.histogram["rows"].to_numpy(dtype=np.float64)
        lo, hi = EDGES[b].astype(np.float64), _HIGHEST[b].astype(np.float64)
        share = np.clip((hi - limit_bytes) / (hi - lo + 1), 0.0, 1.0)
        mid = representative(b)
        rows = n * share
        sizes = np.where(share >= 1, mid, (np.maximum(lo, limit_bytes + 1) + hi) / 2)
        return round(float(rows.sum())), round(float((rows * sizes).sum()))

    def sizes(self, by: tuple[str, ...] = (S.DAG_ID,),
              qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> pd.DataFrame:
        """Rows, bytes, size quantiles and largest size per group, largest first.

        Columns ``rows, value_bytes, p50_bytes, p90_bytes, p99_bytes, max_bytes, share`` as
        :func:`xcomlab.analysis.profile.profile` gives them per DAG, task or key, over
        the rows of this summary (use :meth:`primary` for the live table only). The
        quantiles are within
        :data:`~xcomlab.summary.histogram.QUANTILE_RELATIVE_ERROR` of the exact ones;
        the rest is exact. ``by`` is any subset of ``source_table, dag_id, task_id, key``.
        """
        by = tuple(by)
        keys = self.keys.groupby(level=list(by), sort=False, dropna=False)
        out = pd.DataFrame({"rows": keys["rows"].sum(), "value_bytes": keys["value_bytes"].sum(),
                            "min_bytes": keys["min_bytes"].min(), "max_bytes": keys["max_bytes"].max()})
        hist = self.histogram.groupby(level=[*by, "bucket"], sort=False, dropna=False)["rows"].sum()
        names = [f"p{round(q * 100)}_bytes" for q in qs]
        # every group's quantiles in one pass (a Python loop per group cost seconds at 50,000)
        levels = [hist.index.get_level_values(b) for b in by]
        at = out.index.get_indexer(levels[0] if len(by) == 1 else pd.MultiIndex.from_arrays(levels))
        if (at < 0).any():  # a histogram group without a key group (never from a summary)
            msg = "summary histogram has groups the keys table lacks"
            raise SchemaMismatchError(msg)
        qv = quantiles_by_group(at, hist.index.get_level_values("bucket").to_numpy(), hist.to_numpy(), qs,
                                out["min_bytes"].astype("float64").to_numpy(na_value=np.nan),
                                out["max_bytes"].astype("float64").to_numpy(na_value=np.nan))
        for i, name in enumerate(names):
            out[name] = qv[:, i]
        out["max_bytes"] = out["max_bytes"].astype("float64")
        total = out["value_bytes"].sum()
        out["share"] = out["value_bytes"] / total if total else 0.0
        cols = ["rows", "value_bytes", *names, "max_bytes", "share"]
        return out[cols].sort_values("value_bytes", ascending=False, kind="stable")

    def __repr__(self) -> str:
        return (f"Summary({self.rows:,} rows, {self.value_bytes:,} value bytes, "
                f"{len(self.keys):,} key groups, {len(self.runs) + int(self.old_runs['runs'].sum()):,} runs, "
                f"tables {self.tables()})")


def _live(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` from the live ``xcom`` table (none is fine: a table may have
    no group there, e.g. no secret found in it)."""
    return table[table.index.get_level_values(_T) == "xcom"]


def _same_sample(a: ValueSample | None, b: ValueSample | None) -> bool:
    if a is None or b is None:
        return a is b
    return (_bounds(a) == _bounds(b) and np.array_equal(a.rows, b.rows)
            and np.array_equal(a.bytes, b.bytes) and a.classes() == b.classes())


def _bounds(s: ValueSample) -> tuple[int, int, int]:
    return (s.per_class, s.class_bytes, s.max_value_bytes)


def _merge_samples(samples: list[ValueSample]) -> ValueSample | None:
    if not samples:
        return None
    if len({_bounds(s) for s in samples}) > 1:
        msg = f"cannot merge value samples of different bounds: {sorted({_bounds(s) for s in samples})}"
        raise SchemaMismatchError(msg)
    out = samples[0]
    for s in samples[1:]:
        out = out.merge(s)
    return out


def merge_all(summaries: Iterable[Summary]) -> Summary:
    """One summary of all of ``summaries``' rows (one concat and group-by per table)."""
    parts = list(summaries)
    if not parts:
        return Summary.empty()
    out = {name: merge_tables(name, [getattr(s, name) for s in parts]) for name in TABLES}
    sample = _merge_samples([s.sample for s in parts if s.sample is not None])
    merged = Summary(**out, sample=sample, report=merge_reports([s.report for s in parts]))
    return coarsen(merged) if len(parts) > 1 else merged


def merge_tables(name: str, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One canonical ``name`` table of several (one concat and group-by)."""
    tables = [t for t in tables if len(t)] or tables[:1]
    if name == "secret_rows" and len(tables) > 1 and all(_coded(t) for t in tables):
        return _cut_secret_rows([_typed(name, t) for t in tables])
    if name in _BOUNDED and len(tables) > 1:
        # rows, not groups: every row is kept, then cut in order; concatenated as columns
        # (a MultiIndex concat unions each level's labels: at 100M rows, ~570k run ids
        # re-sorted at every fold of a stream's findings)
        return _cut(name, _typed_flat(name, pd.concat([t.reset_index() for t in tables], ignore_index=True)))
    both = pd.concat(tables) if len(tables) > 1 else tables[0]
    if name in _BOUNDED:
        merged = both
    elif name == "secrets":  # min of strings: pandas' groupby min of text runs in Python per group
        g = both.sort_values("evidence", kind="stable").groupby(level=list(GROUPS[name]), sort=True, dropna=False)
        merged = pd.DataFrame({"rows": g["rows"].sum(), "evidence": g["evidence"].first()})
    else:
        merged = both.groupby(level=list(GROUPS[name]), sort=True, dropna=False).agg(_AGG[name])
    return _canonical(name, merged)


def exact_since(summary: Summary) -> pd.Timestamp | None:
    """The newest last write of a rolled-up run: runs that ended later are exact in
    ``runs`` and ``run_keys`` (None: every run is exact)."""
    old = summary.old_runs
    if not len(old):
        return None
    last = old["last_timestamp"].max()
    return None if pd.isna(last) else pd.Timestamp(last)


def coarsen(summary: Summary, max_run_keys: int = MAX_EXACT_RUN_KEYS) -> Summary:
    """``summary`` with its per-run tables bounded (:mod:`xcomlab.summary.runs`): the runs
    that ended at or before :func:`exact_since` rolled up (so that merged summaries follow
    one cut), then, while ``run_keys`` holds more than ``max_run_keys`` groups, the oldest
    runs until about ``KEEP_SHARE × max_run_keys`` are left. Returns ``summary`` itself
    when nothing is rolled."""
    if max_run_keys <= 0:
        msg = f"max_run_keys={max_run_keys}; expected a positive number of groups"
        raise ValueError(msg)
    runs, keys = summary.runs, summary.run_keys
    if not len(runs):
        return summary
    last = runs["last_timestamp"]
    ns = np.where(last.isna(), -1, last.to_numpy(dtype="datetime64[ns]").view(np.int64))
    gone = np.zeros(len(runs), dtype=np.bool_)
    since = exact_since(summary)
    if since is not None:
        gone |= ns <= since.value
    elif len(summary.old_runs):  # rolled rows without timestamps only
        gone |= ns < 0
    if len(keys) > max_run_keys:
        k_last = keys["last_timestamp"]
        k_ns = np.where(k_last.isna(), -1, k_last.to_numpy(dtype="datetime64[ns]").view(np.int64))
        cut = cut_for(k_ns, max(int(max_run_keys * KEEP_SHARE), 1))
        if cut is not None:
            gone |= ns < cut
    if not gone.any():
        return summary
    old_index = runs.index[gone]
    k_run = pd.MultiIndex.from_arrays([keys.index.get_level_values(c) for c in (_T, S.DAG_ID, S.RUN_ID)])
    k_gone = k_run.isin(old_index)
    old_runs, old_keys = rolled_tables(runs[gone].reset_index(), keys[k_gone].reset_index())
    out = replace(summary, runs=runs[~gone], run_keys=keys[~k_gone],
                  old_runs=merge_tables("old_runs", [summary.old_runs, old_runs]),
                  old_run_keys=merge_tables("old_run_keys", [summary.old_run_keys, old_keys]))
    return replace(out, report=_rolled_note(out.report, out))


#: How the load report's note on rolled-up runs starts (one such note per report).
ROLLED_NOTE: Final = "per-run tables rolled up"


def _rolled_note(report: LoadReport | None, summary: Summary) -> LoadReport | None:
    """``report`` with one note saying which runs were rolled up (replacing an older one)."""
    if report is None:
        return None
    old = summary.old_runs
    since = exact_since(summary)
    note = (f"{ROLLED_NOTE}: {int(old['runs'].sum()):,} runs ({int(old['rows'].sum()):,} rows) that ended by "
            f"{since.isoformat() if since is not None else 'an unknown time'} are counted per day, "
            f"{len(summary.runs):,} newer runs exactly (xcomlab.summary.runs); keep-last-N retention "
            "and the dag_run check are exact for the newer runs")
    notes = tuple(n for n in report.notes if not n.startswith(ROLLED_NOTE))
    return replace(report, notes=(*notes, note))


def _report_json(report: LoadReport | None, source: str) -> dict[str, Any] | None:
    """A load report as header JSON (its source as given to :meth:`Summary.save`)."""
    if report is None:
        return None
    return {"source": str(source) or report.source, "format": report.format,
            "tables": [{**t.__dict__, "columns": list(t.columns)} for t in report.tables],
            "rejections": [{**r.__dict__, "reason": r.reason.value} for r in report.rejections],
            "notes": list(report.notes)}


def _report_of(path: Any, data: Any) -> LoadReport | None:
    """The load report a summary file's header holds (None when it holds none)."""
    if data is None:
        return None
    try:
        tables = tuple(TableReport(**{**t, "columns": tuple(t["columns"])}) for t in data["tables"])
        rejections = tuple(Rejection(**{**r, "reason": Reason(r["reason"])}) for r in data["rejections"])
        return LoadReport(str(data["source"]), str(data["format"]), tables, rejections,
                          tuple(str(n) for n in data["notes"]))
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{path}: its header's load report is malformed ({exc})"
        raise store.SummaryFileError(msg) from None


def merge_reports(reports: Iterable[LoadReport | None]) -> LoadReport | None:
    """One load report for several reads: their tables, rejections and notes (None: none had one)."""
    given = [r for r in reports if r is not None]
    if len(given) <= 1:
        return given[0] if given else None
    formats = sorted({r.format for r in given})
    return LoadReport(" + ".join(dict.fromkeys(r.source for r in given)),
                      formats[0] if len(formats) == 1 else "mixed",
                      tuple(t for r in given for t in r.tables),
                      tuple(x for r in given for x in r.rejections),
                      tuple(dict.fromkeys(n for r in given for n in r.notes)))


class Findings(Protocol):
    """What :func:`summarize_frame` reads of a secret report
    (:class:`~xcomlab.analysis.secrets.SecretReport`): its row-level findings."""

    @property
    def findings(self) -> pd.DataFrame: ...


def summarize_frame(frame: pd.DataFrame, *, secrets: Findings | None = None) -> Summary:
    """Summarise an XCom frame (:mod:`xcomlab.schema`): every row, every table.

    Parameters
    ----------
    frame
        An XCom frame, e.g. from :func:`xcomlab.load_export`. With a ``value`` column
        (``keep_values=True``) its values are scanned for secrets; with a value sample in
        ``frame.attrs`` (:data:`~xcomlab.ingest.sample.SAMPLE_ATTR`) the summary keeps it.
    secrets
        A secret report of this frame's rows (its ``findings``): used instead of
        scanning, e.g. for a frame loaded without values.

    Returns
    -------
    Summary
        Exact rows, bytes, minima, maxima and threshold counts; log-spaced size buckets;
        secrets only when values were scanned or ``secrets`` is given.
    """
    frame = S.validate_frame(frame)
    found: pd.DataFrame | None = None
    if secrets is not None:
        found = secrets.findings
    elif S.VALUE in frame.columns:
        found = _frame_findings(frame)
    sample = value_sample(frame)
    out = summarize_columns(frame_columns(frame), canonical=True, findings=found,
                            sampled=sample is not None)
    report = frame.attrs.get("xcomlab.load_report")
    return coarsen(replace(out, sample=sample, report=report if isinstance(report, LoadReport) else None))


def _frame_findings(frame: pd.DataFrame) -> pd.DataFrame:
    """Row-level findings of a frame with a ``value`` column (the same rules as a stream)."""
    values = frame[S.VALUE].tolist()
    keys = [None if k is None or k is pd.NA or (isinstance(k, float) and math.isnan(k)) else str(k)
            for k in frame[S.KEY].tolist()]
    results = scan_values(values, [str(k) for k in keys])
    hits = [i for i, r in enumerate(results) if r]
    if not hits:
        return pd.DataFrame({c: [] for c in FINDING_COLUMNS})
    sub = frame.iloc[hits]
    table = sub[_T].astype(str).tolist() if _T in sub.columns else ["xcom"] * len(hits)
    maps = sub[S.MAP_INDEX].tolist() if S.MAP_INDEX in sub.columns else [-1] * len(hits)
    records = [(table[j], sub[S.DAG_ID].iat[j], sub[S.TASK_ID].iat[j], sub[S.RUN_ID].iat[j],
                sub[S.KEY].iat[j], int(maps[j]), kind, evidence)
               for j, i in enumerate(hits) for kind, evidence in results[i]]
    return pd.DataFrame.from_records(records, columns=list(FINDING_COLUMNS))


class Columns(NamedTuple):
    """What a summary reads of a batch of rows, however the rows arrived."""

    #: ``source_table, dag_id, task_id, run_id, key`` as codes into labels.
    ids: dict[str, Factor]
    #: True where the stored size is known.
    known: np.ndarray
    #: The stored size (0 where unknown), int64.
    exact: np.ndarray
    #: ``timestamp`` in nanoseconds since the epoch (UTC); meaningless where ``nat``.
    nanos: np.ndarray
    nat: np.ndarray
    encoding: Factor
    has_nan: np.ndarray
    internal: np.ndarray
    reference: np.ndarray
    #: ``airflow_schema`` as codes into its labels.
    schema: Factor
    #: False where the export lost or rebuilt the size.
    size_exact: np.ndarray
    #: True where ``dag_result`` is not null.
    result: np.ndarray
    #: True where ``map_index >= 0``.
    mapped: np.ndarray
    #: ``dag_run_id`` (int64, -1 where null).
    dag_run_id: np.ndarray
    #: ``ref_bytes`` (int64, 0 where null).
    ref_bytes: np.ndarray
    #: ``map_index`` (int64, ``-1`` when the task is not mapped).
    map_index: np.ndarray


def frame_columns(frame: pd.DataFrame) -> Columns:
    """The :class:`Columns` of a valid XCom frame."""
    size = frame[S.VALUE_BYTES]
    stamps = frame[S.TIMESTAMP].to_numpy(dtype="datetime64[ns]")
    return Columns(
        ids={c: factor(frame[c]) for c in (_T, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY)},
        known=size.notna().to_numpy(), exact=size.fillna(0).to_numpy(dtype=np.int64),
        nanos=stamps.view(np.int64), nat=np.isnat(stamps), encoding=factor(frame[S.ENCODING]),
        has_nan=frame[S.HAS_NAN].to_numpy(dtype=bool), internal=frame[S.INTERNAL].to_numpy(dtype=bool),
        reference=frame[S.REF_URI].notna().to_numpy(), schema=factor(frame[S.AIRFLOW_SCHEMA]),
        size_exact=frame[S.SIZE_EXACT].to_numpy(dtype=bool), result=frame[S.DAG_RESULT].notna().to_numpy(),
        mapped=frame[S.MAP_INDEX].to_numpy(dtype=np.int64) >= 0,
        dag_run_id=frame[S.DAG_RUN_ID].fillna(-1).to_numpy(dtype=np.int64),
        ref_bytes=frame[S.REF_BYTES].fillna(0).to_numpy(dtype=np.int64),
        map_index=frame[S.MAP_INDEX].to_numpy(dtype=np.int64))


_DAY_NS = 86_400 * 10**9


#: Tables whose groups grow with the export (runs, keys, days): a stream accumulates
#: them in integer code space (:mod:`xcomlab.summary.accumulate`), the rest as tables.
GROUPED: Final = ("keys", "histogram", "daily", "runs", "run_keys", "big", "mapped", "weekly")


class Grouped(NamedTuple):
    """One grouped table of a batch in code space: each group's code into each level's
    labels (``keys``, named as :data:`GROUPS`) and its raw measures (int64; minima use
    ``int64.max`` and maxima ``-1`` for "none", timestamps are nanoseconds)."""

    keys: dict[str, Factor]
    codes: list[np.ndarray]
    values: dict[str, np.ndarray]


def summarize_columns(cols: Columns, *, canonical: bool = True, findings: pd.DataFrame | None = None,
                      sampled: bool = False) -> Summary:
    """The summary of one batch of rows; its tables sorted only when ``canonical``
    (:func:`merge_all` sorts what it merges).

    ``findings`` are the batch's row-level secret findings (:data:`FINDING_COLUMNS`),
    given when its values were scanned (empty: scanned, nothing found); ``sampled`` says
    the batch's values were offered to the value sample (the caller attaches the sample).
    """
    tables: dict[str, pd.DataFrame] = {}
    for name, part in grouped_parts(cols).items():
        tables[name] = _part_frame(name, part)
    tables.update(small_tables(cols, findings=findings, sampled=sampled))
    tables.update({name: _empty(name) for name in ("old_runs", "old_run_keys")})
    fix = _canonical if canonical else _typed
    fixed: dict[str, Any] = {name: fix(name, tables[name]) for name in TABLES}
    return Summary(**fixed)


def grouped_parts(cols: Columns) -> dict[str, Grouped]:
    """The :data:`GROUPED` tables of one batch in code space (see :class:`Grouped`)."""
    ids, known, exact = cols.ids, cols.known, cols.exact
    every = np.ones(len(known), dtype=np.bool_)
    measures = {"rows": every, "value_bytes": exact}

    def part(keys: dict[str, Factor], sums: dict[str, np.ndarray], mins: dict[str, np.ndarray] | None = None,
             maxs: dict[str, np.ndarray] | None = None) -> Grouped:
        return Grouped(keys, *group_codes(keys, sums, mins, maxs))

    def sub(f: Factor, rows: np.ndarray) -> Factor:
        return Factor(f.codes[rows], f.labels)

    out: dict[str, Grouped] = {}
    out["keys"] = part({c: ids[c] for c in GROUPS["keys"]}, {**measures, "sized_rows": known},
                       mins={"min_bytes": np.where(known, exact, _BIG)},
                       maxs={"max_bytes": np.where(known, exact, -1)})
    buckets = Factor(bucket_of(exact[known]).astype(np.int64), pd.RangeIndex(len(EDGES)))
    out["histogram"] = part({**{c: sub(ids[c], known) for c in GROUPS["keys"]}, "bucket": buckets},
                            {"rows": every[known]})
    nanos, nat = cols.nanos, cols.nat
    codes, uniques = pd.factorize(np.where(nat, _NAT, nanos // _DAY_NS * _DAY_NS),
                                  use_na_sentinel=False)
    day = Factor(np.asarray(codes, dtype=np.int64), pd.Index(pd.to_datetime(uniques, utc=True)))
    out["daily"] = part({_T: ids[_T], S.DAG_ID: ids[S.DAG_ID], "day": day}, measures)
    stamps_min, stamps_max = np.where(nat, _BIG, nanos), np.where(nat, -1, nanos)
    out["runs"] = part({c: ids[c] for c in GROUPS["runs"]}, measures,
                       mins={"first_timestamp": stamps_min},
                       maxs={"last_timestamp": stamps_max, "dag_run_id": cols.dag_run_id})
    out["run_keys"] = part({c: ids[c] for c in GROUPS["run_keys"]},
                           {**measures, "refs": cols.reference, "ref_bytes": cols.ref_bytes},
                           mins={"first_timestamp": stamps_min}, maxs={"last_timestamp": stamps_max})
    large = known & (exact >= ONE_OFF_MIN_BYTES)
    out["big"] = part({**{c: sub(ids[c], large) for c in GROUPS["keys"]}, "day": sub(day, large),
                       "bucket": sub(buckets, exact[known] >= ONE_OFF_MIN_BYTES)},
                      {"rows": every[large], "value_bytes": exact[large]})
    mapped_rows = cols.map_index >= 0
    out["mapped"] = part({c: sub(ids[c], mapped_rows) for c in GROUPS["mapped"]},
                         {"mapped_rows": every[mapped_rows]},
                         maxs={"max_map_index": cols.map_index[mapped_rows]})
    out["weekly"] = _weekly_part(cols)
    return out


def grouped_frame(name: str, index: pd.Index, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """A :data:`GROUPED` table from its index and raw measures (see :class:`Grouped`):
    "none" markers become nulls, nanoseconds UTC timestamps, columns in order."""
    table = pd.DataFrame({c: values[c] for c in _AGG[name]}, index=index)
    if name == "keys":
        low, high = table["min_bytes"].to_numpy(), table["max_bytes"].to_numpy()
        table["min_bytes"] = pd.arrays.IntegerArray(low, low == _BIG)
        table["max_bytes"] = pd.arrays.IntegerArray(high, high < 0)
    _stamps(table)
    return table


def small_tables(cols: Columns, *, findings: pd.DataFrame | None = None,
                 sampled: bool = False) -> dict[str, pd.DataFrame]:
    """The tables of one batch not in :data:`GROUPED` (few groups: tables, classes, targets,
    findings), unsorted."""
    ids, known, exact = cols.ids, cols.known, cols.exact
    every = np.ones(len(known), dtype=np.bool_)
    measures = {"rows": every, "value_bytes": exact}
    stamps_min, stamps_max = np.where(cols.nat, _BIG, cols.nanos), np.where(cols.nat, -1, cols.nanos)
    sources = group({_T: ids[_T], S.AIRFLOW_SCHEMA: cols.schema},
                    {"rows": every, "inexact_rows": ~cols.size_exact, "result_rows": cols.result,
                     "mapped_rows": cols.mapped},
                    mins={"first_timestamp": stamps_min}, maxs={"last_timestamp": stamps_max})
    _stamps(sources)
    flags = {S.ENCODING: cols.encoding, S.HAS_NAN: factor(cols.has_nan),
             S.INTERNAL: factor(cols.internal), "reference": factor(cols.reference)}
    classes = group({_T: ids[_T], **flags}, measures)
    secrets, secret_rows = _secret_tables(findings)
    scans = [("secrets", findings is not None), ("sample", sampled)]
    if any(on for _, on in scans):
        per_table = group({_T: ids[_T]}, {"rows": every})
        scanned = pd.DataFrame(
            [(t, scan, int(r)) for t, r in zip(per_table.index.get_level_values(0), per_table["rows"], strict=True)
             for scan, on in scans if on], columns=[_T, "scan", "rows"]).set_index([_T, "scan"])
    else:
        scanned = _empty("scanned")
    return {"classes": classes, "over": _over(ids[_T], known, exact), "sources": sources,
            "secrets": secrets, "secret_rows": secret_rows, "largest": _largest(cols), "scanned": scanned}


def _stamps(table: pd.DataFrame) -> None:
    """Nanosecond minima/maxima of a grouped table as UTC timestamps (NaT where none)."""
    for col in ("first_timestamp", "last_timestamp"):
        if col in table:
            v = table[col].to_numpy()
            table[col] = pd.to_datetime(np.where((v == _BIG) | (v < 0), _NAT, v), utc=True)


def _secret_tables(findings: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``secrets`` and ``secret_rows`` of row-level findings (:data:`FINDING_COLUMNS`)."""
    if findings is None or not len(findings):
        return _empty("secrets"), _empty("secret_rows")
    f = pd.DataFrame({c: findings[c].astype(object) if c != S.MAP_INDEX else findings[c].astype("int64")
                      for c in FINDING_COLUMNS})
    # one finding a row, merged as summaries' ``secrets`` tables are (rows, least evidence)
    secrets = merge_tables("secrets", [f.set_index(list(GROUPS["secrets"]))[["evidence"]].assign(rows=1)])
    rows = f.set_index(list(GROUPS["secret_rows"]))[["evidence"]]
    rows = _typed("secret_rows", rows).sort_index(kind="stable")
    rows = rows.groupby(level=list(GROUPS["secrets"]), sort=False, dropna=False).head(SECRET_ROWS_PER_GROUP)
    return secrets, rows


def _label_rank(f: Factor, rows: np.ndarray) -> np.ndarray:
    """Each of ``rows``' rank of its label among theirs in sorted order (nulls last), as the
    index sorts them: only the labels of those rows are sorted, not the batch's."""
    used, inverse = np.unique(f.codes[rows], return_inverse=True)
    labels = f.labels.take(used)
    order = np.asarray(labels.sort_values(return_indexer=True, na_position="last")[1], dtype=np.int64) \
        if len(labels) else np.zeros(0, np.int64)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[inverse.ravel()]


def _largest(cols: Columns) -> pd.DataFrame:
    """The :data:`LARGEST_PER_TABLE` largest rows of each source table of a batch."""
    ids, known, exact = cols.ids, cols.known, cols.exact
    keep: list[np.ndarray] = []
    for code in np.unique(ids[_T].codes[known]) if known.any() else []:
        rows = np.flatnonzero(known & (ids[_T].codes == code))
        if len(rows) > LARGEST_PER_TABLE:  # every row tied with the K-th largest competes
            kth = np.partition(exact[rows], len(rows) - LARGEST_PER_TABLE)[len(rows) - LARGEST_PER_TABLE]
            rows = rows[exact[rows] >= kth]
        stamp = np.where(cols.nat[rows], _BIG, cols.nanos[rows])  # NaT last, as pandas sorts
        enc = cols.encoding
        order = np.lexsort([_label_rank(enc, rows), stamp, cols.map_index[rows],
                            *(_label_rank(ids[c], rows) for c in (S.KEY, S.RUN_ID, S.TASK_ID, S.DAG_ID)),
                            -exact[rows]])
        keep.append(rows[order[:LARGEST_PER_TABLE]])
    if not keep:
        return _empty("largest")
    rows = np.concatenate(keep)
    index = pd.MultiIndex.from_arrays(
        [ids[c].labels.take(ids[c].codes[rows]) for c in (_T, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY)]
        + [pd.Index(cols.map_index[rows], dtype="int64")], names=GROUPS["largest"])
    nanos = np.where(cols.nat[rows], _NAT, cols.nanos[rows])
    return pd.DataFrame({"value_bytes": exact[rows],
                         "encoding": cols.encoding.labels.take(cols.encoding.codes[rows]).to_numpy(dtype=object),
                         "timestamp": pd.to_datetime(nanos, utc=True)}, index=index)


def _over(tables: Factor, known: np.ndarray, exact: np.ndarray) -> pd.DataFrame:
    """Rows over each target of :func:`over_targets` per source table, from exact sizes."""
    targets = over_targets()
    limits = np.array([limit for _, limit in targets], dtype=np.int64)
    order = np.argsort(limits, kind="stable")
    ordered = limits[order]
    records = []
    for code in np.unique(tables.codes):
        table = tables.labels[code]
        mine = (tables.codes == code) & known
        # limits below each size: one search per row, then suffix sums give every count
        below = np.searchsorted(ordered, exact[mine], side="left")
        per = np.bincount(below, minlength=len(ordered) + 1)
        weight = np.bincount(below, weights=exact[mine], minlength=len(ordered) + 1)
        counts = np.empty(len(limits), dtype=np.int64)
        counts[order] = per[::-1].cumsum()[::-1][1:]  # rows with more than j limits below
        sums = np.empty(len(limits), dtype=np.int64)
        sums[order] = np.rint(weight[::-1].cumsum()[::-1][1:]).astype(np.int64)
        for (target, limit), n, b in zip(targets, counts.tolist(), sums.tolist(), strict=True):
            records.append((table, target, limit, n, b))
    frame = pd.DataFrame(records, columns=[_T, "target", "limit_bytes", "rows", "value_bytes"])
    return frame.set_index([_T, "target"]) if records else _empty("over")


_WEEK_NS: Final = 7 * _DAY_NS
#: 1970-01-01 was a Thursday: weeks start on Monday 1969-12-29 + 7k (ISO weeks, UTC).
_MONDAY_NS: Final = -3 * _DAY_NS


def weekly_table(cols: Columns) -> pd.DataFrame:
    """``weekly``: per ``(source_table, dag_id, task_id, key, week)`` — ``week`` the UTC
    Monday starting the ISO week of ``timestamp`` (rows without one are left out) —
    ``rows``, ``sized_rows``, ``value_bytes``, ``runs`` and ``first_timestamp``.

    ``runs`` counts the rows with ``map_index <= 0``: Airflow's xcom primary key is
    ``(dag_run_id, task_id, map_index, key)`` (Airflow 2.10.5 ``airflow/models/xcom.py``
    ``xcom_pkey``; 3.x the same; docs/airflow-xcom.md#mapping), so a stream (dag, task,
    key) writes one row with ``map_index`` -1 per run when unmapped, and one with 0 per
    run when mapped — a run of a stream is its row at the lowest map index. A mapped
    run whose index 0 wrote nothing is not counted. What
    :func:`xcomlab.simulate.fit_workload` reads of a summary: runs per day, fan-out,
    start day, weekly size and run growth.
    """
    return _part_frame("weekly", _weekly_part(cols))


def _part_frame(name: str, part: Grouped) -> pd.DataFrame:
    """One batch's :data:`GROUPED` table from its code-space part (labels taken once per level)."""
    if not len(part.codes[0]):
        return _empty(name)
    index = pd.MultiIndex.from_arrays(
        [part.keys[k].labels.take(c) for k, c in zip(GROUPS[name], part.codes, strict=True)],
        names=GROUPS[name])
    return grouped_frame(name, index, part.values)


def _weekly_part(cols: Columns) -> Grouped:
    """:func:`weekly_table` in code space (a :class:`Grouped`; empty without timestamps)."""
    ids, keep = cols.ids, ~cols.nat
    week = (cols.nanos[keep] - _MONDAY_NS) // _WEEK_NS
    codes, uniques = pd.factorize(week * _WEEK_NS + _MONDAY_NS, use_na_sentinel=False)
    weeks = Factor(np.asarray(codes, dtype=np.int64),
                   pd.DatetimeIndex(np.asarray(uniques, dtype="datetime64[ns]"), tz="UTC"))
    keys = {**{c: Factor(ids[c].codes[keep], ids[c].labels) for c in GROUPS["keys"]}, "week": weeks}
    sums = {"rows": np.ones(len(week), dtype=np.bool_), "sized_rows": cols.known[keep],
            "value_bytes": cols.exact[keep], "runs": cols.map_index[keep] <= 0}
    return Grouped(keys, *group_codes(keys, sums, {"first_timestamp": cols.nanos[keep]}))
