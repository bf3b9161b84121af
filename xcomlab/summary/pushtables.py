"""The push-down's tables: a :class:`~xcomlab.summary.Summary` built from the groups SQL returned.

:func:`assemble` turns one table's grouped rows (per key, size bucket, class and limits;
per run, day and key), the undecided rows fetched for :func:`~xcomlab.ingest.classify.classify`
and the secret findings into the summary's tables, as :func:`~xcomlab.summary.summarize_frame`
shapes them; :func:`check_rows` refuses rows the loader would reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from xcomlab import schema as S
from xcomlab.errors import ExportFormatError
from xcomlab.ingest.classify import Classified, RawValues, classify
from xcomlab.ingest.secret_rules import scan_values
from xcomlab.summary.core import (
    FINDING_COLUMNS,
    GROUPS,
    Summary,
    _canonical,
    _empty,
    _secret_tables,
    over_targets,
)
from xcomlab.summary.sqlrules import HARD
from xcomlab.summary.sqlsession import FoundTable

__all__ = ["LIMITS", "SORTED_LIMITS", "Rolled", "assemble", "binary", "check_rows", "findings", "labels", "raw", "stamps"]

_T = S.SOURCE_TABLE
_ENCODINGS = np.asarray(S.ENCODINGS, dtype=object)
LIMITS = over_targets()
#: The limits of ``limits.csv``, ascending: a row over ``o`` of them is over the ``o`` smallest.
SORTED_LIMITS = sorted({lim for _, lim in LIMITS})


def findings(name: str, cands: pd.DataFrame) -> pd.DataFrame:
    """Row-level findings of the candidate rows, checked by the secret rules in Python."""
    if not len(cands):
        return pd.DataFrame({c: [] for c in FINDING_COLUMNS})
    keys = [str(k) for k in cands["k"]]
    results = scan_values(binary(cands["v"]), keys)  # a NULL value (a secret-like key's) may come as NaN
    maps = cands["mi"].astype("int64").tolist()
    records = [(name, cands["d"].iat[i], cands["t"].iat[i], cands["r"].iat[i], cands["k"].iat[i],
                maps[i], kind, evidence)
               for i, found in enumerate(results) for kind, evidence in found]
    return pd.DataFrame.from_records(records, columns=list(FINDING_COLUMNS))



def check_rows(label: str, table: str, by_key: pd.DataFrame, by_run: pd.DataFrame) -> None:
    """Rows the loader would reject (``errors="raise"``): empty ids or no timestamp."""
    for col, name in (("d", S.DAG_ID), ("t", S.TASK_ID), ("k", S.KEY)):
        bad = by_key[by_key[col].isna() | (by_key[col].astype(object) == "")]
        if len(bad):
            msg = (f"{label}: table {table} has {int(bad['n'].sum())} rows with no {name}; "
                   f"expected a non-empty {name} in every row (load_export(..., errors='collect') "
                   "lists them)")
            raise ExportFormatError(msg)
    missing = int(by_run.loc[by_run["day"].isna(), "n"].sum())
    if missing:
        msg = (f"{label}: table {table} has {missing} rows with no timestamp; expected an ISO "
               "timestamp in every row (load_export(..., errors='collect') lists them)")
        raise ExportFormatError(msg)


def labels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), np.nan)


def stamps(values: pd.Series) -> pd.Series:
    """Timestamps as the database returned them: microseconds since the epoch (the groups'
    first and last), ISO text (SQLite) or datetimes."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_datetime(values, unit="us", utc=True).astype("datetime64[ns, UTC]")
    if len(values) and values.map(lambda v: isinstance(v, str)).any():
        return pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.to_datetime(values, utc=True)


@dataclass(frozen=True)
class Rolled:
    """One table's runs rolled up by the database (:func:`~xcomlab.summary.pushdown._rolled_sql`),
    as it returned them: their rows and bytes per DAG and day (``daily``: ``d, day, n,
    bytes``), the ``old_runs`` groups (``d, rday, rb, n, bytes, runs, first_ts, last_ts,
    runid``) and the ``old_run_keys`` groups (``d, k, rday, n, bytes, runs, first_ts,
    last_ts``); ``rday`` is the day of a run's last write in days since the epoch."""

    daily: pd.DataFrame
    runs: pd.DataFrame
    keys: pd.DataFrame


def assemble(table: FoundTable, by_key: pd.DataFrame, by_run: pd.DataFrame, hard: pd.DataFrame,
             largest: pd.DataFrame, findings: pd.DataFrame | None, rolled: Rolled | None = None) -> Summary:
    """One table's summary from its groups; with ``rolled``, ``by_run`` holds the exact
    runs' groups only and ``hard`` an ``rday`` column (the day of the row's run where the
    run is rolled up), and the summary has ``old_runs`` and ``old_run_keys``."""
    name = table.name
    by_key = by_key.astype({"n": "int64", "bytes": "int64", "c": "int64", "o": "int64", "res": "int64",
                            "mapped": "int64", "top": "int64"})
    by_run = by_run.astype({"n": "int64", "bytes": "int64", "runid": "int64"})
    hard = hard.reset_index(drop=True)
    got = classify(raw(hard), json_3x=table.json_3x) if len(hard) else None
    sized = by_key["b"].notna()
    k = pd.DataFrame({_T: name, S.DAG_ID: labels(by_key["d"]), S.TASK_ID: labels(by_key["t"]),
                      S.KEY: labels(by_key["k"]), "rows": by_key["n"],
                      "sized_rows": by_key["n"].where(sized, 0), "value_bytes": by_key["bytes"],
                      "min_bytes": by_key["mn"].astype("Int64"), "max_bytes": by_key["mx"].astype("Int64"),
                      "bucket": by_key["b"], "c": by_key["c"], "o": by_key["o"], "bd": by_key["bd"]})
    group = [_T, S.DAG_ID, S.TASK_ID, S.KEY]
    keys = k.groupby(group, sort=False, dropna=False).agg(
        rows=("rows", "sum"), sized_rows=("sized_rows", "sum"), value_bytes=("value_bytes", "sum"),
        min_bytes=("min_bytes", "min"), max_bytes=("max_bytes", "max"))
    histogram = k[sized].astype({"bucket": "int64"}).groupby([*group, "bucket"], sort=False).agg(
        rows=("rows", "sum"))
    large = k[k["bd"].notna()]
    big = large.assign(day=_days(large["bd"]), bucket=large["bucket"].astype("int64")).groupby(
        list(GROUPS["big"]), sort=False, dropna=False).agg(rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))
    o, n, vb = k["o"].to_numpy(), k["rows"].to_numpy(), k["value_bytes"].to_numpy()
    over_rows = []
    for target, limit in LIMITS:
        above = o > SORTED_LIMITS.index(limit)
        over_rows.append((name, target, limit, int(n[above].sum()), int(vb[above].sum())))
    over = pd.DataFrame(over_rows, columns=[_T, "target", "limit_bytes", "rows", "value_bytes"]).set_index(
        [_T, "target"])
    r = pd.DataFrame({_T: name, S.DAG_ID: labels(by_run["d"]), S.RUN_ID: labels(by_run["r"]),
                      S.KEY: labels(by_run["k"]), "day": _days(by_run["day"]),
                      "rows": by_run["n"], "value_bytes": by_run["bytes"],
                      "first_timestamp": stamps(by_run["first_ts"]), "last_timestamp": stamps(by_run["last_ts"]),
                      "dag_run_id": by_run["runid"]})
    per_day = r[[_T, S.DAG_ID, "day", "rows", "value_bytes"]]
    first, last = r["first_timestamp"].min(), r["last_timestamp"].max()
    old: dict[str, pd.DataFrame] = {}
    if rolled is not None:
        d = rolled.daily.astype({"n": "int64", "bytes": "int64"})
        per_day = pd.concat([per_day, pd.DataFrame({_T: name, S.DAG_ID: labels(d["d"]), "day": _days(d["day"]),
                                                     "rows": d["n"], "value_bytes": d["bytes"]})],
                            ignore_index=True)
        old = _old_tables(name, rolled, hard, got)
        if len(old["old_runs"]):
            first = min(first, old["old_runs"]["first_timestamp"].min()) if pd.notna(first) else \
                old["old_runs"]["first_timestamp"].min()
            last = max(last, old["old_runs"]["last_timestamp"].max()) if pd.notna(last) else \
                old["old_runs"]["last_timestamp"].max()
    daily = per_day.groupby([_T, S.DAG_ID, "day"], sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))
    runs = r.groupby(list(GROUPS["runs"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"), dag_run_id=("dag_run_id", "max"))
    m = by_key[by_key["mapped"] > 0]
    mapped = pd.DataFrame({_T: name, S.DAG_ID: labels(m["d"]), S.TASK_ID: labels(m["t"]),
                           "mapped_rows": m["mapped"], "max_map_index": m["top"]}).groupby(
        list(GROUPS["mapped"]), sort=False, dropna=False).agg(
        mapped_rows=("mapped_rows", "sum"), max_map_index=("max_map_index", "max")) if len(m) else _empty("mapped")
    # a database keeps every row's size: nothing lost or rebuilt, so no inexact rows
    sources = pd.DataFrame([(name, table.airflow_schema, int(k["rows"].sum()), 0, int(by_key["res"].sum()),
                             int(by_key["mapped"].sum()), first, last)],
                           columns=[*GROUPS["sources"], *_AGG_SOURCES]).set_index(list(GROUPS["sources"]))
    secrets, secret_rows = _secret_tables(findings)
    scanned = (pd.DataFrame([(name, "secrets", int(by_key["n"].sum()))], columns=[_T, "scan", "rows"])
               .set_index([_T, "scan"]) if findings is not None else _empty("scanned"))
    tables: dict[str, Any] = {
        "keys": keys, "histogram": histogram, "daily": daily, "runs": runs,
        "classes": _classes(name, k, hard, got), "over": over, "run_keys": _run_keys(name, r, hard, got, rolled is not None),
        "sources": sources, "big": big, "secrets": secrets, "secret_rows": secret_rows,
        "largest": largest, "mapped": mapped, "scanned": scanned, **old}
    typed: dict[str, Any] = {n: _canonical(n, t) for n, t in tables.items()}
    return Summary(**typed)


_AGG_SOURCES = ["rows", "inexact_rows", "result_rows", "mapped_rows", "first_timestamp", "last_timestamp"]


def _days(values: pd.Series) -> pd.Series:
    """UTC days as the database returned them (dates or ISO text)."""
    return pd.to_datetime(values.astype(str), utc=True)


def _refs(hard: pd.DataFrame, got: Classified | None, rolled: bool, old: bool) -> np.ndarray:
    """Positions in ``hard`` of the references found there; with ``rolled``, of those whose
    run is rolled up (``old``) or exact."""
    if got is None or not len(got.ref_rows):
        return np.zeros(0, dtype=np.int64)
    rows = np.asarray(got.ref_rows, dtype=np.int64)
    if rolled:
        rows = rows[hard["rday"].iloc[rows].notna().to_numpy() == old]
    return rows


def _run_keys(name: str, r: pd.DataFrame, hard: pd.DataFrame, got: Classified | None,
              rolled: bool = False) -> pd.DataFrame:
    """``run_keys`` from the run groups, with the references found among the fetched rows
    (every row that may be a reference is undecided in SQL, so all of them are there;
    with ``rolled``, those of the exact runs only)."""
    parts = [r.assign(refs=0, ref_bytes=0)]
    rows = _refs(hard, got, rolled, False)
    if got is not None and len(rows):
        sizes = [got.ref_bytes[i] for i in rows.tolist()]
        refs = hard.iloc[rows]
        none = pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]")
        parts.append(pd.DataFrame({_T: name, S.DAG_ID: labels(refs["d"]).to_numpy(),
                                   S.RUN_ID: labels(refs["r"]).to_numpy(), S.KEY: labels(refs["k"]).to_numpy(),
                                   "rows": 0, "value_bytes": 0, "first_timestamp": none, "last_timestamp": none,
                                   "refs": 1, "ref_bytes": [0 if b is None else int(b) for b in sizes]}))
    both = pd.concat(parts, ignore_index=True)
    return both.groupby(list(GROUPS["run_keys"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), refs=("refs", "sum"),
        ref_bytes=("ref_bytes", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"))


def _old_tables(name: str, rolled: Rolled, hard: pd.DataFrame, got: Classified | None) -> dict[str, pd.DataFrame]:
    """``old_runs`` and ``old_run_keys`` of the runs the database rolled up, with the
    references found among their undecided rows (as :func:`~xcomlab.summary.runs.rolled_tables`
    makes them of the runs' groups)."""
    runs = rolled.runs
    old_runs = pd.DataFrame({_T: name, S.DAG_ID: labels(runs["d"]), "day": _epoch_days(runs["rday"]),
                             "run_bytes": runs["rb"].astype("int64"), "rows": runs["n"], "value_bytes": runs["bytes"],
                             "runs": runs["runs"], "first_timestamp": stamps(runs["first_ts"]),
                             "last_timestamp": stamps(runs["last_ts"]),
                             "dag_run_id": runs["runid"]}).set_index(list(GROUPS["old_runs"]))
    keys = rolled.keys
    parts = [pd.DataFrame({_T: name, S.DAG_ID: labels(keys["d"]), S.KEY: labels(keys["k"]),
                           "day": _epoch_days(keys["rday"]), "rows": keys["n"].astype("int64"),
                           "value_bytes": keys["bytes"].astype("int64"), "refs": 0, "ref_bytes": 0,
                           "runs": keys["runs"].astype("int64"),
                           "first_timestamp": stamps(keys["first_ts"]),
                           "last_timestamp": stamps(keys["last_ts"])})]
    rows = _refs(hard, got, True, True)
    if got is not None and len(rows):
        refs = hard.iloc[rows]
        none = pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]")
        parts.append(pd.DataFrame({_T: name, S.DAG_ID: labels(refs["d"]).to_numpy(), S.KEY: labels(refs["k"]).to_numpy(),
                                   "day": _epoch_days(refs["rday"]).to_numpy(), "rows": 0, "value_bytes": 0,
                                   "refs": 1, "ref_bytes": [0 if got.ref_bytes[i] is None else int(got.ref_bytes[i])
                                                            for i in rows.tolist()],
                                   "runs": 0, "first_timestamp": none, "last_timestamp": none}))
    both = pd.concat(parts, ignore_index=True)
    old_keys = both.groupby(list(GROUPS["old_run_keys"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), refs=("refs", "sum"),
        ref_bytes=("ref_bytes", "sum"), runs=("runs", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"))
    return {"old_runs": old_runs, "old_run_keys": old_keys}


def _epoch_days(values: pd.Series) -> pd.Series:
    """Days since the epoch (null: no day) as UTC midnights."""
    return pd.to_datetime(pd.to_numeric(values).astype("float64") * 86_400, unit="s", utc=True)


def _classes(name: str, k: pd.DataFrame, hard: pd.DataFrame, got: Classified | None) -> pd.DataFrame:
    decided = k[k["c"] != HARD]
    parts = [pd.DataFrame({S.KEY: decided[S.KEY], S.ENCODING: _ENCODINGS[decided["c"].to_numpy()],
                           S.HAS_NAN: False, "reference": False, "rows": decided["rows"],
                           "value_bytes": decided["value_bytes"]})]
    if got is not None:
        reference = np.zeros(len(hard), dtype=bool)
        reference[got.ref_rows] = True
        parts.append(pd.DataFrame({S.KEY: labels(hard["k"]), S.ENCODING: got.encoding,
                                   S.HAS_NAN: got.has_nan, "reference": reference, "rows": 1,
                                   "value_bytes": hard["vb"].fillna(0).astype("int64").to_numpy()}))
    both = pd.concat(parts, ignore_index=True)
    both[S.INTERNAL] = both[S.KEY].map(lambda key: S.is_internal_key(key) if isinstance(key, str) else False)
    both[_T] = name
    both = both.astype({S.HAS_NAN: bool, "reference": bool, S.INTERNAL: bool, "rows": "int64",
                        "value_bytes": "int64"})
    return both.groupby(list(GROUPS["classes"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))


def binary(values: pd.Series) -> pa.Array:
    return pa.array([v.encode("utf-8") if isinstance(v, str)
                     else bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None
                     for v in values], pa.binary())


def raw(hard: pd.DataFrame) -> RawValues:
    """The fetched rows as the SQL loader hands them to :func:`classify`."""
    vb = pa.array([None if pd.isna(v) else int(v) for v in hard["vb"]], pa.int64())
    nan = pa.array([bool(x) and not pd.isna(x) for x in hard["nn"]], pa.bool_())
    return RawValues(binary(hard["h"]), vb, complete=False, tail=binary(hard["tl"]),
                     nan_hint=nan, full=binary(hard["fl"]))

