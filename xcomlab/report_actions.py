"""Next steps for the report's summary: the growth in plain numbers, and each action with its command.

An action says what to do, to which DAGs and keys (secrets masked), and the command that does
it: the ``DELETE`` of each XCom row holding a credential (after rotating it at its issuer),
the ``airflow db clean`` of the retention what-if, the backend settings of the
recommendation, the audit listing of the rows the Airflow 2 → 3 upgrade would lose or fail on.
Commands name tables and ids as the export has them, quoted for SQL; nothing is run here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from xcomlab.analysis.audit import MigrationAudit
from xcomlab.analysis.forecast import TOTAL, Forecast
from xcomlab.analysis.retention import RetentionReport
from xcomlab.analysis.secrets import SecretReport
from xcomlab.plots import format_bytes
from xcomlab.recommend import Recommendation

__all__ = ["Action", "actions", "growth", "partial_day"]

#: Rows listed one by one in an action (the section has them all).
MAX_LISTED: Final = 8
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: What to do about each migration finding (xcomlab.analysis.audit.migration_audit kinds).
_MIGRATION_FIX: Final = {
    "pickled": "make these tasks push JSON-serializable values and stop new pickles "
               "(AIRFLOW__CORE__ENABLE_XCOM_PICKLING=False); the pickled rows move to _xcom_archive",
    "nan_values": "push null or strings instead of NaN/Infinity: Airflow 3 rewrites them as null",
    "not_json": "push JSON: PostgreSQL's cast to JSONB fails on these values",
    "jsonb_oversize": "offload these values to an object store or delete them: the JSONB cast aborts",
    "dag_run_missing": "delete these rows: their DAG run is gone",
}


@dataclass(frozen=True)
class Action:
    """One thing to do: ``title`` (imperative), ``detail`` (why), ``items`` (which rows),
    ``command`` (one per line, ``--`` or ``#`` comments allowed) and the report ``section``."""

    title: str
    detail: str
    items: tuple[str, ...]
    command: str
    section: str


def partial_day(last: pd.Timestamp | None) -> str:
    """``"2026-09-04 up to 13:05 UTC"``: the export's last, partial day; ``""`` without one."""
    return "" if last is None or pd.isna(last) else f"{last:%Y-%m-%d} up to {last:%H:%M} UTC"


def growth(fc: Forecast, dialect: str, last: pd.Timestamp | None = None) -> str:
    """The growth sentence: bytes per day (logical, on disk) and % of the table per month."""
    t: Any = fc.fit.loc[TOTAL]
    per_day = float(t["level_bytes_per_day"])
    month = 30 * per_day / fc.current_bytes if fc.current_bytes else float("nan")
    days = int(t["days_fitted"])
    part = partial_day(last)
    return (f"Growth: {format_bytes(per_day)}/day written ({format_bytes(per_day * fc.disk_ratio)}/day "
            f"on disk in {dialect}), +{month:.1%} of today's table per month with no retention; the "
            f"write rate itself changes {float(t['growth_per_month']):+.1%} per month (fitted on "
            f"{days:,} full day(s)" + (f"; the partial last day, {part}, is left out)." if part else ")."))


def _sql(text: object, dialect: str) -> str:
    """A SQL string literal: quotes doubled, and backslashes too on MySQL (escape char there)."""
    s = str(text).replace("'", "''")
    return "'" + (s.replace("\\", "\\\\") if dialect == "mysql" else s) + "'"


def _secret_action(sec: SecretReport, dialect: str) -> Action | None:
    f = sec.findings
    if not len(f):
        return None
    ids = ["source_table", "dag_id", "task_id", "run_id", "map_index", "key"]
    rows = f.groupby(ids, sort=False, dropna=False).agg(
        kinds=("kind", lambda k: ", ".join(dict.fromkeys(map(str, k)))),
        evidence=("evidence", lambda e: ", ".join(dict.fromkeys(map(str, e))))).reset_index()
    where = [f"{r.dag_id} / {r.task_id} / {r.key} ({r.kinds}: {r.evidence})"
             for r in rows.head(MAX_LISTED).itertuples()]
    if len(rows) > MAX_LISTED:
        where.append(f"and {len(rows) - MAX_LISTED:,} more in Secrets")
    lines = ["-- 1. rotate each credential where it was issued; 2. delete the stored copies:"]
    r: Any
    for r in rows.head(MAX_LISTED).itertuples():
        table = str(r.source_table)
        if not _IDENT.fullmatch(table):
            lines.append(f"-- skipped: table name {table!r} is not a plain SQL identifier")
            continue
        mi = "" if pd.isna(r.map_index) else f" AND map_index = {int(r.map_index)}"
        lines.append(f"DELETE FROM {table} WHERE dag_id = {_sql(r.dag_id, dialect)} AND task_id = "
                     f"{_sql(r.task_id, dialect)} AND run_id = {_sql(r.run_id, dialect)}{mi} AND "
                     f"key = {_sql(r.key, dialect)};")
    dags = sorted({str(d) for d in rows["dag_id"]})
    return Action(f"Rotate {len(rows):,} leaked credential(s) in {len(dags):,} DAG(s)",
                  "Stored in clear text in the metadata DB and shown in the UI. Rotate each, delete "
                  "the rows, then push a Connection id or secret name instead of the value:",
                  tuple(where), "\n".join(lines), "secrets")


def _cleanup_action(ret: RetentionReport, policy_text: str) -> Action | None:
    t = ret.totals
    if not t["rows_freed"]:
        return None
    cmd = ret.db_clean_command or ("# no airflow db clean command does this policy: "
                                   + (ret.limitations[0] if ret.limitations else "see Retention"))
    return Action(f"Clean up: {policy_text} frees {format_bytes(t['bytes_freed'])} "
                  f"({format_bytes(t['on_disk_bytes_freed'])} on disk, {int(t['rows_freed']):,} rows)",
                  f"As of {ret.now:%Y-%m-%d %H:%M} UTC; schedule it to keep the table at its steady "
                  f"state ({format_bytes(t['steady_state_bytes'])}).", (), cmd, "retention")


def _backend_action(rec: Recommendation) -> Action | None:
    group, env = next(((g, e) for g, e in rec.settings.items() if e), ("", {}))
    if not env:
        return None
    other = [g for g, e in rec.settings.items() if e and g != group]
    alt = f" (or the {', '.join(other)} settings in Backends)" if other else ""
    return Action(f"Change the XCom backend to {rec.best.name}",
                  f"{rec.reason} Settings for {group}{alt}, on every Airflow component:",
                  (), "\n".join(f"{k}={v}" for k, v in env.items()), "backends")


def _migration_action(mig: MigrationAudit, source: str, dialect: str) -> Action | None:
    found = mig.summary[mig.summary["rows"] > 0] if len(mig.summary) else mig.summary
    if mig.verdict in ("ok", "not applicable") or not len(found):
        return None
    parts = []
    for kind, r in found.iterrows():
        sel = mig.rows[mig.rows["kind"] == kind]
        dags = ", ".join(sorted({str(d) for d in sel["dag_id"]})[:5])
        parts.append(f"{int(r['rows']):,} {kind} row(s) in {dags} — {_MIGRATION_FIX.get(str(kind), r['explanation'])}")
    cmd = [f"xcomlab audit {source} --target {mig.target} --dialect {dialect}   # lists every row"]
    if "pickled" in found.index:
        cmd.append("AIRFLOW__CORE__ENABLE_XCOM_PICKLING=False   # no new pickled XComs")
    return Action(f"Before the Airflow 2 → 3 upgrade to {mig.target} ({mig.verdict}): fix "
                  f"{len(found)} finding(s)", "List the rows, fix their tasks, then upgrade:",
                  tuple(parts), "\n".join(cmd), "audit")


def actions(*, secrets: SecretReport | None, retention: RetentionReport, policy_text: str,
            recommendation: Recommendation, migration: MigrationAudit, source: str,
            dialect: str) -> list[Action]:
    """The actions the analyses call for, most urgent first (an empty list: nothing to do)."""
    found = [_secret_action(secrets, dialect) if secrets is not None else None,
             _migration_action(migration, source, dialect),
             _cleanup_action(retention, policy_text),
             _backend_action(recommendation)]
    return [a for a in found if a is not None]
