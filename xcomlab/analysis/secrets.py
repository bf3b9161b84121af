"""Secret scan: XCom keys and values that look like credentials, reported masked.

Airflow masks secrets in logs, not in XCom (apache/airflow#40704, #72377): a task that
returns a connection string or a token stores it in clear text in the metadata DB and
shows it in the UI. Rules here are patterns with a documented shape (AWS access key
ids, PEM private keys, JWTs, ``scheme://user:password@host`` URLs, GitHub and Slack
tokens) plus a contextual rule: a secret-like *name* (XCom key or JSON field) holding a
high-entropy string. The rules and the vectorized batch scan live in
:mod:`xcomlab.ingest.secret_rules` (one RE2 prefilter over a batch's stored bytes picks
candidates; Python checks only those); this module reports findings of a whole export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

import pandas as pd

from xcomlab.errors import SchemaMismatchError
from xcomlab.ingest import load_export
from xcomlab.ingest.secret_rules import (  # noqa: F401  (re-exported: the rules' old home)
    _PREFILTER,
    _RULES,
    MIN_ENTROPY_BITS,
    MIN_SECRET_CHARS,
    SECRET_KINDS,
    _looks_secret,
    _named_strings,
    _secret_name,
    entropy_bits,
    find_secrets,
    mask,
    scan_table,
    scan_values,
)
from xcomlab.summary import Summary

__all__ = ["SECRET_KINDS", "SecretReport", "mask", "scan_secrets", "scan_values", "summary_secrets"]

@dataclass(frozen=True)
class SecretReport:
    """Rows whose key or value looks like a credential (values masked).

    Attributes
    ----------
    findings : pandas.DataFrame
        One row per (XCom, kind): ``source_table, dag_id, task_id, run_id, key,
        map_index, kind, evidence`` (masked).
    """

    findings: pd.DataFrame
    rows_scanned: int
    frame: pd.DataFrame | None = None
    #: Set when ``findings`` are a bounded part of them (a summary's ``secret_rows``): the
    #: counts of every finding.
    counts: tuple[int, dict[str, int]] | None = None

    @property
    def rows_flagged(self) -> int:
        """XComs with at least one finding (the ``secrets`` summary key)."""
        if self.counts is not None:
            return self.counts[0]
        f = self.findings
        ids = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index"]
        return len(f.drop_duplicates(ids)) if len(f) else 0

    @property
    def by_kind(self) -> dict[str, int]:
        if self.counts is not None:
            return dict(self.counts[1])
        return _by_kind(self.findings["kind"].value_counts())

    def counted(self) -> SecretReport:
        """This report's counts without its findings (rows flagged, per kind, rows scanned):
        what a headline needs. A 100M-row summary's findings hold ~270 MiB."""
        return SecretReport(self.findings.iloc[:0].copy(), self.rows_scanned,
                            counts=(self.rows_flagged, self.by_kind))

    def __repr__(self) -> str:
        return (f"SecretReport({self.rows_flagged} of {self.rows_scanned:,} rows flagged; "
                f"{self.by_kind or 'nothing found'})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.findings.head(50).to_html(index=False)


_FINDING_COLUMNS: Final = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index",
                           "kind", "evidence"]


def _by_kind(counts: pd.Series) -> dict[str, int]:
    """``{kind: findings}``, most first, ties by kind (the same order from either shape)."""
    items = sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))
    return dict(items)


def _ordered(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings sorted by their ids and kind (the same order from a frame or a summary)."""
    cols = [c for c in _FINDING_COLUMNS if c != "evidence"]
    return findings.sort_values(cols, kind="stable", key=lambda c: c.astype(str) if c.name != "map_index"
                                else c).reset_index(drop=True)


def summary_secrets(summary: Summary) -> SecretReport | None:
    """The secret report of a summary (None when its values were never scanned).

    ``by_kind`` is exact (``Summary.secrets``); ``findings`` are the summary's
    ``secret_rows`` — every finding unless a (table, dag, task, key, kind) group had
    more than :data:`~xcomlab.summary.core.SECRET_ROWS_PER_GROUP`, then its first ones.
    ``rows_flagged`` is exact when no group was cut, else, for a key whose findings of
    several kinds were cut, the largest kind's count (a row flagged twice counts once).
    """
    scanned = summary.rows_scanned("secrets")
    if not scanned and summary.rows:
        return None
    rows = summary.secret_rows.reset_index()
    findings = _ordered(rows[_FINDING_COLUMNS]) if len(rows) else pd.DataFrame(columns=_FINDING_COLUMNS)
    per = summary.secrets["rows"]
    kinds = per.groupby(level="kind").sum()
    by_kind = _by_kind(kinds[kinds > 0])
    ids = ["source_table", "dag_id", "task_id", "key"]
    kept = findings.groupby([*ids, "kind"], dropna=False).size() if len(findings) else pd.Series(dtype="int64")
    cut = per[per > kept.reindex(per.index, fill_value=0).to_numpy()] if len(per) else per
    if not len(cut):
        return SecretReport(findings, scanned)
    kind = len(ids)  # the last level of ``secrets``' index
    cut_keys = cast(pd.MultiIndex, cut.index).droplevel(kind).unique()  # a null id matches a null id
    whole = findings.loc[~pd.MultiIndex.from_frame(findings[ids]).isin(cut_keys)]
    flagged = len(whole.drop_duplicates([*ids, "run_id", "map_index"])) if len(whole) else 0
    flagged += int(per.loc[cast(pd.MultiIndex, per.index).droplevel(kind).isin(cut_keys)].groupby(level=ids, dropna=False).max().sum())
    return SecretReport(findings, scanned, counts=(flagged, by_kind))


def scan_secrets(source: Any, **load_options: Any) -> SecretReport:
    """Scan an export (any ``load_export`` source) or a frame with a ``value`` column.

    A source is streamed through :func:`xcomlab.load_export` with ``on_value_table``:
    each batch's Arrow value column goes through one RE2 prefilter
    (:func:`xcomlab.ingest.secret_rules.scan_table`), only candidate rows become Python
    objects, and only findings are kept, so values never sit in memory all at once. The
    loaded frame is in ``report.frame``.
    """
    if isinstance(source, pd.DataFrame):
        if "value" not in source.columns:
            msg = ("the frame has no value column; load it with keep_values=True or pass the "
                   "export itself to scan_secrets")
            raise SchemaMismatchError(msg)
        return SecretReport(_ordered(_findings(source)), len(source))
    records: list[dict[str, Any]] = []
    frame = load_export(source, on_value_table=lambda table: records.extend(scan_table(table)),
                        **load_options)
    found = _ordered(pd.DataFrame.from_records(records, columns=_FINDING_COLUMNS)) if records \
        else pd.DataFrame(columns=_FINDING_COLUMNS)
    return SecretReport(found, len(frame), frame)


def _findings(frame: pd.DataFrame) -> pd.DataFrame:
    """Findings of a frame's ``value`` column (the same rules as a stream)."""
    results = scan_values(frame["value"].tolist(), frame["key"].astype(str).tolist())
    hits = [i for i, r in enumerate(results) if r]
    rows = []
    for i in hits:
        rec = frame.iloc[i]
        for kind, evidence in results[i]:
            rows.append({"source_table": str(rec.get("source_table", "xcom")), "dag_id": str(rec["dag_id"]),
                         "task_id": str(rec["task_id"]), "run_id": str(rec.get("run_id")),
                         "key": str(rec["key"]), "map_index": int(rec.get("map_index", -1)),
                         "kind": kind, "evidence": evidence})
    return pd.DataFrame(rows, columns=_FINDING_COLUMNS)
