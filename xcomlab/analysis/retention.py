"""Retention what-if: what a policy (age, keep last N runs, per DAG, per key) would free.

A row is removed when any rule that applies to it removes it: it is older than its age
limit (``timestamp < now - max_age``, the comparison ``airflow db clean`` makes), or its
run is not among the DAG's ``keep_last_runs`` most recent runs. ``per_dag`` replaces the
default policy for a DAG; a matching key rule replaces the age limit for its keys. The
policy itself is :class:`xcomlab.policy.RetentionPolicy`, the one the backend applies.

What ``airflow db clean`` can and cannot express (docs/airflow-xcom.md#db-clean, Airflow
3.3.2 ``airflow/utils/db_cleanup.py``): it deletes ``xcom`` rows with ``timestamp <
--clean-before-timestamp``; ``--dag-ids``/``--exclude-dag-ids`` exist for xcom in 3.3.2
but not in 2.10.5, 2.11.2 or 3.0.0; there is no per-key or keep-last-N filter for xcom
(``keep_last`` is configured for ``dag_run`` only: the latest non-manual run of each DAG);
and nothing calls the XCom backend's ``purge``, so object-store values are orphaned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import InsufficientDataError, ParameterError
from xcomlab.policy import KeyRule, RetentionPolicy
from xcomlab.schema import primary_rows
from xcomlab.summary import Summary

__all__ = ["KeyRule", "RetentionPolicy", "RetentionReport", "db_clean_commands", "retention"]

#: Days of history used for the steady-state write rate.
RECENT_DAYS = 28
_DAY = pd.Timedelta(days=1)
_KEEP_ALL = RetentionPolicy()


@dataclass(frozen=True)
class RetentionReport:
    """What a policy frees now and where the table settles.

    Attributes
    ----------
    by_dag : pandas.DataFrame
        Per ``dag_id``: ``rows, value_bytes, rows_freed, bytes_freed, rows_left, bytes_left,
        bytes_per_day`` (mean write rate over the last :data:`RECENT_DAYS` days),
        ``steady_state_bytes`` (NaN when the DAG has no limit: it grows forever),
        ``orphaned_refs``; largest ``bytes_freed`` first.
    totals : dict
        The same sums plus ``on_disk_bytes_freed`` and ``steady_state_on_disk_bytes``
        (logical bytes × ``disk_ratio``).
    db_clean_command : str or None
        The ``airflow db clean`` command(s), one per line, doing the same, when it can.
    limitations : list of str
        What ``db clean`` cannot do for this policy, and what it leaves behind.
    """

    policy: RetentionPolicy
    now: pd.Timestamp
    disk_ratio: float
    by_dag: pd.DataFrame
    totals: dict[str, Any]
    db_clean_command: str | None
    limitations: list[str]
    removed: pd.Series  # boolean mask over the live rows, aligned to the frame's index (empty for a summary)
    #: Rows whose removal a summary could not settle exactly: those of a (run, key) group
    #: whose writes straddle an age cut (0 for a frame: every row is decided).
    straddling_rows: int = 0

    def __repr__(self) -> str:
        t = self.totals
        return (f"RetentionReport(frees {t['rows_freed']:,} of {t['rows']:,} rows, "
                f"{t['bytes_freed']:,} of {t['value_bytes']:,} value bytes as of {self.now:%Y-%m-%d})")

    def _repr_html_(self) -> str:
        cmd = f"<pre>{self.db_clean_command}</pre>" if self.db_clean_command else ""
        notes = "".join(f"<li>{n}</li>" for n in self.limitations)
        return (f"<p><b>{self!r}</b></p>{cmd}<ul>{notes}</ul>"
                + self.by_dag.head(20).to_html(float_format=lambda x: f"{x:,.0f}"))


#: Per-DAG columns of a retention report that count rows or bytes (summed into its totals).
_COUNTS = ("rows", "value_bytes", "rows_freed", "bytes_freed", "rows_left", "bytes_left", "orphaned_refs")

def retention(frame: pd.DataFrame | Summary, policy: RetentionPolicy, *, now: pd.Timestamp | str | None = None,
              disk_ratio: float = 1.0) -> RetentionReport:
    """Apply ``policy`` to the live rows of an XCom frame, without touching anything.

    Parameters
    ----------
    frame
        An XCom frame (only ``source_table == "xcom"`` rows count, see ``primary_rows``), or
        its :class:`~xcomlab.summary.Summary`: read per ``(dag, run, key)`` group
        (``Summary.run_keys``), exact except for the rows of a group whose writes
        straddle an age cut, which are split in proportion to the time before the cut
        (their count is :attr:`RetentionReport.straddling_rows`).
    policy
        What to keep.
    now
        When the clean runs (default: the last ``timestamp`` in the frame).
    disk_ratio
        On-disk bytes per logical value byte (``xcomlab.analysis.disk.disk_ratio``), for
        the on-disk effect.

    Examples
    --------
    >>> r = retention(frame, RetentionPolicy(max_age_days=30))  # doctest: +SKIP
    >>> r.totals["bytes_freed"], r.db_clean_command  # doctest: +SKIP
    """
    if disk_ratio <= 0:
        msg = f"disk_ratio={disk_ratio}; expected a positive on-disk/logical ratio"
        raise ParameterError(msg)
    if isinstance(frame, Summary):
        return _summary_retention(frame.primary(), policy, now, disk_ratio)
    rows = primary_rows(S.validate_frame(frame))
    if not len(rows):
        msg = "retention: the frame has no live xcom rows; load an export with an xcom table"
        raise InsufficientDataError(msg)
    when = _now(rows, now)
    removed = _removed(rows, policy, when)
    by_dag = _by_dag(rows, removed, policy, when)
    totals = _totals(by_dag, disk_ratio)
    gone = rows[removed.to_numpy()]
    totals["orphaned_ref_bytes"] = int(gone[S.REF_BYTES].sum()) if len(gone) else 0
    commands = db_clean_commands(policy, when)
    return RetentionReport(policy, when, disk_ratio, by_dag, totals,
                           "\n".join(commands) if commands else None,
                           _limitations(policy, totals, commands), removed)


def _summary_retention(live: Summary, policy: RetentionPolicy, now: pd.Timestamp | str | None,
                       disk_ratio: float) -> RetentionReport:
    g = _run_key_groups(live)
    g = g[g["first_timestamp"].notna()] if g["first_timestamp"].notna().any() else g
    if not len(g):
        msg = "retention: the summary has no live xcom rows; summarise an export with an xcom table"
        raise InsufficientDataError(msg)
    _, last = live.timestamps()
    when = _now_of(last, now)
    g[S.DAG_ID] = g[S.DAG_ID].astype(str)
    g["key_name"] = g[S.KEY].astype(str)
    g["internal"] = _internal(g["key_name"])
    g["run"] = g[S.RUN_ID].astype("object").fillna("")
    old = live.old_runs.reset_index()
    old_days = old.groupby([old[S.DAG_ID].astype(str), "day"], sort=False, dropna=False)["runs"].sum()
    by_dag_days = {str(d): s.droplevel(0) for d, s in old_days.groupby(level=0, sort=False)}
    dags = _Dags(g, policy)
    limit = dags.age_limits(g)
    share, unsure = _older(g, when, limit)
    applies = dags.applies[dags.code]
    gone = np.where(applies, np.where(limit == 0, 1.0, share), 0.0)
    no_days = pd.Series(dtype="int64")
    for k in dags.keep_last:
        rows = dags.rows(k)
        gone[rows] = _keep_last(g.iloc[rows], gone[rows], dags.pols[k].keep_last_runs or 0,
                                by_dag_days.get(dags.names[k], no_days))
    straddle = float((g["rows"].to_numpy() * (unsure & (gone < 1) & applies)).sum())
    rates = _summary_rates(g, dags, when, limit, by_dag_days)
    g = g.assign(gone=gone).iloc[dags.order]  # the DAGs' rows one DAG after another, as before
    g["rows_freed"] = g["rows"] * g["gone"]
    g["bytes_freed"] = g["value_bytes"] * g["gone"]
    g["refs_freed"] = g["refs"] * g["gone"]
    by = g.groupby(S.DAG_ID)
    out = pd.DataFrame({"rows": by["rows"].sum(), "value_bytes": by["value_bytes"].sum(),
                        "rows_freed": by["rows_freed"].sum().round(), "bytes_freed": by["bytes_freed"].sum().round()})
    out["rows_left"] = out["rows"] - out["rows_freed"]
    out["bytes_left"] = out["value_bytes"] - out["bytes_freed"]
    out["bytes_per_day"] = [rates[d][0] for d in out.index]
    out["steady_state_bytes"] = [rates[d][1] for d in out.index]
    out["orphaned_refs"] = by["refs_freed"].sum().round()
    out = out.astype({c: "int64" for c in _COUNTS})
    out.index.name = "dag_id"
    by_dag = out.sort_values(["bytes_freed", "value_bytes"], ascending=False)
    totals = _totals(by_dag, disk_ratio)
    totals["orphaned_ref_bytes"] = round(float((g["ref_bytes"] * g["gone"]).sum()))
    commands = db_clean_commands(policy, when)
    return RetentionReport(policy, when, disk_ratio, by_dag, totals,
                           "\n".join(commands) if commands else None,
                           _limitations(policy, totals, commands), pd.Series(dtype=bool), round(straddle))


class _Dags:
    """The DAGs of (run, key) groups ``g``, in order of appearance, with the policy of each:
    the groups' DAG ``code``, their positions one DAG after another (``order``, stable) and
    each DAG's slice of it, so that per-DAG work runs on whole arrays."""

    def __init__(self, g: pd.DataFrame, policy: RetentionPolicy) -> None:
        code, names = pd.factorize(g[S.DAG_ID], sort=False)
        self.code: np.ndarray = code
        self.names: list[str] = [str(d) for d in names]
        self.applies = np.array([policy.applies_to(d) for d in self.names], dtype=bool)
        self.pols = [policy.for_dag(d) if a else _KEEP_ALL
                     for d, a in zip(self.names, self.applies, strict=True)]
        #: which policy each DAG follows: the default, _KEEP_ALL, or its own ``per_dag`` entry
        self.own = [d if a and d in policy.per_dag else ("" if a else None)
                    for d, a in zip(self.names, self.applies, strict=True)]
        self.order = np.argsort(code, kind="stable")
        self.bounds = np.searchsorted(code[self.order], np.arange(len(names) + 1))
        self.keep_last = [k for k, p in enumerate(self.pols)
                          if self.applies[k] and p.keep_last_runs is not None]

    def rows(self, k: int) -> np.ndarray:
        """Positions of DAG ``k``'s groups, in their order in ``g``."""
        return self.order[self.bounds[k]:self.bounds[k + 1]]

    def age_limits(self, g: pd.DataFrame) -> np.ndarray:
        """:func:`_age_limits` of every group under its DAG's policy (one call per policy)."""
        limit = np.empty(len(g))
        by_pol: dict[str | None, list[int]] = {}
        for k, own in enumerate(self.own):
            by_pol.setdefault(own, []).append(k)
        for ks in by_pol.values():
            rows = np.sort(np.concatenate([self.rows(k) for k in ks]))
            part = pd.DataFrame({S.KEY: g["key_name"].iloc[rows], S.INTERNAL: g["internal"].iloc[rows]})
            limit[rows] = _age_limits(part, self.pols[ks[0]])
        return limit


def _internal(keys: pd.Series) -> np.ndarray:
    """:func:`~xcomlab.schema.is_internal_key` of each key, once per distinct key."""
    codes, uniques = pd.factorize(keys, sort=False)
    return np.array([S.is_internal_key(k) for k in uniques], dtype=bool)[codes]


def _summary_rates(g: pd.DataFrame, dags: _Dags, now: pd.Timestamp, limit: np.ndarray,
                   by_dag_days: dict[str, pd.Series]) -> dict[str, tuple[float, float]]:
    """:func:`_steady` on (run, key) groups, for every DAG: per-group arrays made once for all DAGs, sums
    taken per DAG over its own groups in their order (the same float sums as before)."""
    oldest = g.groupby(dags.code, sort=True)["first_timestamp"].min()
    spans = np.array([min(float(RECENT_DAYS), max((now - oldest.iloc[k]) / _DAY, 1.0))
                      for k in range(len(dags.names))])
    span = spans[dags.code]
    older, _ = _older(g, now, span, inclusive=True)  # recent: ts > now - span
    recent = 1.0 - older
    rate = g["value_bytes"].to_numpy(np.float64) * recent / span
    keep = np.full(len(dags.names), np.inf)
    exact = ~g["old"].to_numpy(dtype=bool)
    hit = (recent > 0) & exact
    runs = g.loc[hit, "run"].groupby(dags.code[hit]).nunique()
    for k in (k for k, p in enumerate(dags.pols) if p.keep_last_runs is not None):
        days = by_dag_days.get(dags.names[k], pd.Series(dtype="int64"))
        s = spans[k]
        old_recent = float(days[np.asarray(pd.DatetimeIndex(days.index) > now - pd.Timedelta(days=s))].sum()) \
            if len(days) else 0.0
        runs_per_day = (int(runs.get(k, 0)) + old_recent) / s
        keep[k] = dags.pols[k].keep_last_runs / runs_per_day if runs_per_day else 0.0  # type: ignore[operator]
    kept = np.minimum(np.where(recent > 0, limit, 0.0), keep[dags.code])
    order = dags.order
    rate_o, held_o, kept_o = rate[order], (rate * kept)[order], kept[order]
    out = {}
    for k, d in enumerate(dags.names):
        lo, hi = dags.bounds[k], dags.bounds[k + 1]
        r = rate_o[lo:hi]
        forever = np.isinf(kept_o[lo:hi][r > 0]).any()
        out[d] = (float(r.sum()), float("nan") if forever else float(held_o[lo:hi].sum()))
    return out


def _run_key_groups(live: Summary) -> pd.DataFrame:
    """``run_keys`` and the rolled-up ``old_run_keys`` (:mod:`xcomlab.summary.runs`) as one
    flat table: ``old`` marks a rolled group (no run id; its ``day`` the day its runs ended)."""
    g = live.run_keys.reset_index().assign(old=False, day=pd.Series(pd.NaT, index=range(len(live.run_keys)),
                                                                        dtype="datetime64[ns, UTC]"))
    if not len(live.old_run_keys):
        return g
    o = live.old_run_keys.reset_index().assign(old=True)
    o[S.RUN_ID] = None
    return pd.concat([g, o.drop(columns="runs")], ignore_index=True)


def _keep_last(part: pd.DataFrame, gone: np.ndarray, n: int, days: pd.Series) -> np.ndarray:
    """``gone`` with the rows outside a DAG's ``n`` most recent runs (by each run's last
    write) gone too. Runs rolled up per day (``days``: runs per day, their groups ``old``)
    are older than every exact run: kept by whole days from the newest, the day where the
    count runs out in proportion."""
    exact = ~part["old"].to_numpy(dtype=bool)
    last_write = part[exact].groupby("run")["last_timestamp"].max()
    keep = last_write.sort_values(ascending=False).index[:n]
    left = n - len(keep)
    kept = np.where(part["run"].isin(keep).to_numpy(), 1.0, 0.0)
    if (~exact).any():
        newest = days.sort_index(ascending=False)
        before = newest.cumsum() - newest  # runs on newer days
        share = ((left - before) / newest.where(newest > 0, 1)).clip(0.0, 1.0)
        day_share = part["day"].map(share).fillna(0.0).to_numpy(np.float64)
        kept = np.where(exact, kept, day_share)
    return 1.0 - kept * (1.0 - gone)


def _totals(by_dag: pd.DataFrame, disk_ratio: float) -> dict[str, Any]:
    """The report's totals over its per-DAG table (frame and summary paths alike)."""
    totals: dict[str, Any] = {c: int(by_dag[c].sum()) for c in _COUNTS}
    steady = by_dag["steady_state_bytes"]
    totals["steady_state_bytes"] = float(steady.sum()) if steady.notna().all() else float("nan")
    totals["on_disk_bytes_freed"] = totals["bytes_freed"] * disk_ratio
    totals["steady_state_on_disk_bytes"] = totals["steady_state_bytes"] * disk_ratio
    return totals


def _older(part: pd.DataFrame, now: pd.Timestamp, limit: np.ndarray,
           *, inclusive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Share of each group's rows older than its age limit (``now - ts > limit`` days, or
    ``>=`` when ``inclusive``), and whether the group straddles its cut (its rows then
    split in proportion to time)."""
    first = (now - part["first_timestamp"]).to_numpy() / np.timedelta64(1, "D")  # age of the oldest row
    last = (now - part["last_timestamp"]).to_numpy() / np.timedelta64(1, "D")  # age of the newest
    if inclusive:
        all_old, none_old = last >= limit, ~(first >= limit)
    else:
        all_old, none_old = last > limit, ~(first > limit)
    span = np.where(first > last, first - last, 1.0)
    share = np.where(all_old, 1.0, np.where(none_old, 0.0, np.clip((first - limit) / span, 0.0, 1.0)))
    return share, ~all_old & ~none_old


def _now_of(last: pd.Timestamp | None, now: pd.Timestamp | str | None) -> pd.Timestamp:
    if now is None:
        assert last is not None  # the caller checked there are rows with a timestamp
        return pd.Timestamp(last)
    ts = pd.Timestamp(now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _now(rows: pd.DataFrame, now: pd.Timestamp | str | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp(rows[S.TIMESTAMP].max())
    ts = pd.Timestamp(now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _age_limits(part: pd.DataFrame, pol: RetentionPolicy) -> np.ndarray:
    """Per row: the age in days above which the policy removes it (inf: no age limit)."""
    limit = np.full(len(part), np.inf if pol.max_age_days is None else float(pol.max_age_days))
    ruled = np.zeros(len(part), dtype=bool)
    for rule in pol.key_rules:
        hit = rule.matches(part[S.KEY], part[S.INTERNAL]) & ~ruled
        limit[hit] = rule.max_age_days
        ruled |= hit
    return limit


def _removed(rows: pd.DataFrame, policy: RetentionPolicy, now: pd.Timestamp) -> pd.Series:
    """Boolean Series over ``rows``: True where the policy deletes the row."""
    out = pd.Series(False, index=rows.index)
    for dag_id, part in rows.groupby(S.DAG_ID, observed=True):
        if not policy.applies_to(str(dag_id)):
            continue
        pol = policy.for_dag(str(dag_id))
        age = (now - part[S.TIMESTAMP]).to_numpy() / np.timedelta64(1, "D")
        limit = _age_limits(part, pol)
        gone = (age > limit) | (limit == 0)  # an age limit of 0 keeps nothing, not even `now`
        if pol.keep_last_runs is not None:
            gone |= ~_in_last_runs(part, pol.keep_last_runs)
        out.loc[part.index] = gone
    return out


def _in_last_runs(part: pd.DataFrame, n: int) -> np.ndarray:
    """Rows whose run is among the ``n`` most recent of its DAG (by the run's latest write)."""
    run = part[S.RUN_ID].astype("object").fillna("")
    last_write = part[S.TIMESTAMP].groupby(run).max()
    keep = last_write.sort_values(ascending=False).index[:n]
    return run.isin(keep).to_numpy()


def _by_dag(rows: pd.DataFrame, removed: pd.Series, policy: RetentionPolicy,
            now: pd.Timestamp) -> pd.DataFrame:
    size = rows[S.VALUE_BYTES].astype("float64").fillna(0)
    gone = removed.to_numpy()
    frame = pd.DataFrame({
        "dag_id": rows[S.DAG_ID].astype(str), "size": size, "gone": gone,
        "freed": size.where(gone, 0.0), "ref": rows[S.REF_URI].notna().to_numpy() & gone,
    })
    g = frame.groupby("dag_id")
    out = pd.DataFrame({"rows": g.size(), "value_bytes": g["size"].sum(),
                        "rows_freed": g["gone"].sum(), "bytes_freed": g["freed"].sum()})
    out["rows_left"] = out["rows"] - out["rows_freed"]
    out["bytes_left"] = out["value_bytes"] - out["bytes_freed"]
    rates = {str(d): _steady(part, policy.for_dag(str(d)) if policy.applies_to(str(d)) else _KEEP_ALL, now)
             for d, part in rows.groupby(S.DAG_ID, observed=True)}
    out["bytes_per_day"] = [rates[d][0] for d in out.index]
    out["steady_state_bytes"] = [rates[d][1] for d in out.index]
    out["orphaned_refs"] = g["ref"].sum()
    out = out.astype({c: "int64" for c in _COUNTS})
    out.index.name = "dag_id"
    return out.sort_values(["bytes_freed", "value_bytes"], ascending=False)


def _steady(part: pd.DataFrame, pol: RetentionPolicy, now: pd.Timestamp) -> tuple[float, float]:
    """A DAG's recent write rate (bytes/day) and the bytes it holds once the policy has run long.

    Steady state = Σ over recently written rows of bytes/day × the days the row is kept
    (its age limit, bounded by the span of ``keep_last_runs`` runs at the recent run
    rate); NaN when some rows are kept forever.
    """
    span = min(float(RECENT_DAYS), max((now - part[S.TIMESTAMP].min()) / _DAY, 1.0))
    recent = (part[S.TIMESTAMP] > now - span * _DAY).to_numpy()
    size = part[S.VALUE_BYTES].astype("float64").fillna(0).to_numpy()
    rate = size[recent] / span
    keep = np.inf
    if pol.keep_last_runs is not None:
        runs_per_day = part[S.RUN_ID][recent].nunique() / span
        keep = pol.keep_last_runs / runs_per_day if runs_per_day else 0.0
    kept = np.minimum(_age_limits(part, pol)[recent], keep)
    if np.isinf(kept[rate > 0]).any():
        return float(rate.sum()), float("nan")
    return float(rate.sum()), float((rate * kept).sum())


def db_clean_commands(policy: RetentionPolicy, now: pd.Timestamp) -> list[str]:
    """``airflow db clean`` commands doing an age-only policy; [] when it cannot be expressed.

    One command for the default age (``--exclude-dag-ids`` the overridden DAGs) and one per
    distinct override age (``--dag-ids``). The DAG filters need Airflow 3.3 (present in
    3.3.2, absent in 2.10.5, 2.11.2 and 3.0.0: docs/airflow-xcom.md#db-clean); a policy
    without per-DAG overrides gives one command that works on 2.3+. DAGs with no age
    limit (default ``max_age_days=None``) get no command: db clean keeps them whole.
    """
    if not policy.age_only:
        return []
    overrides = {d: p.max_age_days for d, p in policy.per_dag.items() if policy.applies_to(d)}
    groups: dict[float | None, list[str]] = {}
    for dag, age in overrides.items():
        groups.setdefault(age, []).append(dag)
    out = []
    if policy.max_age_days is not None and policy.dag_ids is not None:
        only = sorted(set(policy.dag_ids) - set(overrides))
        if only:
            out.append(_command(now, policy.max_age_days, f" --dag-ids {','.join(only)}"))
    elif policy.max_age_days is not None:
        excl = sorted(overrides)
        out.append(_command(now, policy.max_age_days,
                            f" --exclude-dag-ids {','.join(excl)}" if excl else ""))
    for age, dags in sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        if age is not None:
            out.append(_command(now, age, f" --dag-ids {','.join(sorted(dags))}"))
    return out


def _command(now: pd.Timestamp, max_age_days: float, dag_filter: str) -> str:
    cut = (now - pd.Timedelta(days=max_age_days)).isoformat()
    return (f"airflow db clean --clean-before-timestamp '{cut}' --tables xcom{dag_filter} "
            "--skip-archive --yes")


def _limitations(policy: RetentionPolicy, totals: dict[str, Any], commands: list[str]) -> list[str]:
    pols = [policy, *policy.per_dag.values()]
    out = []
    if any(p.keep_last_runs is not None for p in pols):
        out.append("keep-last-N runs cannot be expressed: db clean selects xcom rows by timestamp only")
    if any(p.key_rules for p in pols):
        out.append("key rules cannot be expressed: db clean has no per-key filter")
    if any(" --dag-ids " in c or " --exclude-dag-ids " in c for c in commands):
        out.append("--dag-ids/--exclude-dag-ids need Airflow 3.3 (present in 3.3.2; absent in 2.10.5, "
                   "2.11.2 and 3.0.0): on older versions, run a DELETE yourself or one age for all DAGs")
    out.append("db clean keeps the latest non-manual dag_run per DAG (keep_last is set for dag_run "
               "only), not its XComs: xcom rows are deleted by timestamp alone")
    refs = totals["orphaned_refs"]
    out.append(f"db clean never purges object-store values: {refs:,} referenced object(s)"
               + (f" ({totals['orphaned_ref_bytes']:,} bytes known)" if totals["orphaned_ref_bytes"] else "")
               + " would be orphaned; delete them from the store yourself")
    return out
