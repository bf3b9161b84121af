"""Audit: which XComs break a hard limit or a policy, and what blocks the Airflow 2 → 3 upgrade.

Limits live in ``xcomlab/data/limits.csv``, one row per target with its source and date
(docs/airflow-xcom.md#limits). There is no size check in Airflow core: every hard limit
comes from the database column, the driver or the transport.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.errors import ParameterError
from xcomlab.schema import primary_rows
from xcomlab.summary import Summary

__all__ = [
    "JSONB_MAX_BYTES",
    "Limit",
    "LimitReport",
    "MigrationAudit",
    "check_limits",
    "hard_limit",
    "limits",
    "migration_audit",
]

#: PostgreSQL jsonb's element limit (docs/airflow-xcom.md#limits, measured on PG 15.18).
JSONB_MAX_BYTES: Final = 268_435_455
_ID_COLUMNS: Final = [S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.RUN_ID, S.KEY, S.MAP_INDEX]


@dataclass(frozen=True)
class Limit:
    """A size a value must stay under (``value_bytes > limit_bytes`` breaks it).

    ``kind`` is ``"hard"`` (the write fails or corrupts) or ``"policy"`` (a threshold a
    team chose). ``dialect`` and ``airflow`` say where it applies.
    """

    target: str
    limit_bytes: int
    kind: Literal["hard", "policy"] = "policy"
    dialect: str = "any"
    airflow: str = "any"
    what_happens: str = ""
    source: str = ""
    date: str = ""

    def applies_to(self, airflow: str) -> bool:
        """Whether the ``airflow`` rule (``any``, ``3.x``, ``<=2.8``, ``>=2.9``) covers a release."""
        version = tuple(int(p) for p in airflow.split(".")[:2] if p.isdigit())
        if self.airflow == "any":
            return True
        if self.airflow.endswith(".x"):
            return version[:1] == (int(self.airflow[0]),)
        bound = tuple(int(p) for p in self.airflow[2:].split("."))
        return version <= bound if self.airflow.startswith("<=") else version >= bound

    def applies(self, dialect: str | None, airflow: str | None) -> bool:
        """Whether the limit holds on this deployment (None: not known, so it may).

        A release known only by its major (``"2.x"``) meets both ``<=2.8`` and ``>=2.9``.
        """
        if dialect is not None and self.dialect not in ("any", dialect):
            return False
        if airflow is None:
            return True
        if airflow.endswith(".x") and self.airflow[:2] in ("<=", ">="):
            return self.airflow[2:].split(".")[0] == airflow.split(".")[0]
        return self.applies_to(airflow)


def limits() -> list[Limit]:
    """The bundled limits, each with its source and date."""
    text = resources.files("xcomlab").joinpath("data/limits.csv").read_text(encoding="utf-8")
    return [Limit(target=r["target"], limit_bytes=int(r["limit_bytes"]), kind=r["kind"],  # type: ignore[arg-type]
                  dialect=r["dialect"], airflow=r["airflow"], what_happens=r["what_happens"],
                  source=r["source"], date=r["date"])
            for r in csv.DictReader(text.splitlines())]


_DIALECTS: Final = ("mysql", "postgresql", "sqlite")


def hard_limit(dialect: str, airflow: str = "3.3") -> int:
    """Smallest hard limit on one stored value for a database and Airflow release.

    From :func:`limits` (``xcomlab/data/limits.csv``, each row with source and date). For
    ``mysql`` this is MariaDB's 16 MiB ``max_allowed_packet`` default, the smaller of
    MySQL's and MariaDB's.
    """
    if dialect not in _DIALECTS:
        msg = f"dialect={dialect!r}; expected one of {list(_DIALECTS)}"
        raise ParameterError(msg)
    found = [lim.limit_bytes for lim in limits()
             if lim.kind == "hard" and lim.dialect in (dialect, "any") and lim.applies_to(airflow)]
    if not found:
        msg = f"no hard limit known for {dialect} on Airflow {airflow}"
        raise ParameterError(msg)
    return min(found)


@dataclass(frozen=True)
class LimitReport:
    """Rows over each limit.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per target: ``limit_bytes, kind, dialect, airflow, applies, rows_over,
        bytes_over, largest_bytes, what_happens, source`` (``applies``: the limit holds on
        the deployment given to :func:`check_limits`).
    violations : pandas.DataFrame
        Offending rows (ids, ``value_bytes``) with a ``targets`` column listing what each breaks.
    """

    summary: pd.DataFrame
    violations: pd.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        """``{target: rows over it}`` (the ``limit_violations`` of the profile summary)."""
        return {str(k): int(v) for k, v in self.summary["rows_over"].items()}

    def __repr__(self) -> str:
        broken = {k: v for k, v in self.counts.items() if v}
        return f"LimitReport({len(self.violations)} rows over a limit; {broken or 'none'})"

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.summary.drop(columns=["source"]).to_html()


def check_limits(frame: pd.DataFrame | Summary, targets: list[Limit] | None = None, *,
                 policy_bytes: int | dict[str, int] | None = None,
                 all_tables: bool = False, dialect: str | None = None,
                 airflow: str | None = None) -> LimitReport:
    """Count rows whose stored value is over each limit.

    Parameters
    ----------
    frame
        An XCom frame, or its :class:`~xcomlab.summary.Summary` (the same counts; offending
        rows only as far as the summary kept its largest rows).
    targets
        Limits to check (default: :func:`limits`).
    policy_bytes
        Extra policy thresholds: one size, or ``{name: size}``.
    all_tables
        Also check archive tables (default: the live ``xcom`` table only).
    dialect, airflow
        The deployment (:func:`xcomlab.ingest.deployment.infer_deployment`): the summary's
        ``applies`` column says which limits hold on it; the others matter only "if you
        moved to" their database or release. None: every limit may apply.
    """
    checks = list(targets if targets is not None else limits())
    if isinstance(policy_bytes, int):
        policy_bytes = {f"policy_{policy_bytes}": policy_bytes}
    checks += [Limit(name, int(size), "policy", what_happens="over your policy threshold",
                     source="user")
               for name, size in (policy_bytes or {}).items()]
    if isinstance(frame, Summary):
        return _summary_limits(frame if all_tables else frame.primary(), checks, dialect, airflow)
    S.validate_frame(frame)
    rows = frame if all_tables else primary_rows(frame)
    sizes = rows[S.VALUE_BYTES].astype("float64").to_numpy()
    over_any = np.zeros(len(rows), dtype=bool)
    broken: list[list[str]] = [[] for _ in range(len(rows))]
    summary = []
    for lim in checks:
        over = np.nan_to_num(sizes, nan=-1) > lim.limit_bytes
        over_any |= over
        for i in np.flatnonzero(over):
            broken[i].append(lim.target)
        summary.append({"target": lim.target, "limit_bytes": lim.limit_bytes, "kind": lim.kind,
                        "dialect": lim.dialect, "airflow": lim.airflow,
                        "applies": lim.applies(dialect, airflow),
                        "rows_over": int(over.sum()),
                        "bytes_over": int(sizes[over].sum()) if over.any() else 0,
                        "largest_bytes": int(sizes[over].max()) if over.any() else 0,
                        "what_happens": lim.what_happens, "source": lim.source})
    viol = rows.loc[over_any, [*_ID_COLUMNS, S.VALUE_BYTES]].copy()
    viol["targets"] = [", ".join(b) for b, o in zip(broken, over_any, strict=True) if o]
    viol = viol.sort_values(S.VALUE_BYTES, ascending=False).reset_index(drop=True)
    return LimitReport(pd.DataFrame(summary).set_index("target"), viol)


def _limit_row(lim: Limit, dialect: str | None, airflow: str | None, rows_over: int, bytes_over: int,
               largest: int) -> dict[str, Any]:
    return {"target": lim.target, "limit_bytes": lim.limit_bytes, "kind": lim.kind,
            "dialect": lim.dialect, "airflow": lim.airflow, "applies": lim.applies(dialect, airflow),
            "rows_over": rows_over, "bytes_over": bytes_over, "largest_bytes": largest,
            "what_happens": lim.what_happens, "source": lim.source}


def _summary_limits(summary: Summary, checks: list[Limit], dialect: str | None,
                    airflow: str | None) -> LimitReport:
    """:func:`check_limits` on a summary: exact for every limit of ``limits.csv`` (counted
    while summarising); a threshold of your own is read from the size histogram (exact
    unless a bucket straddles it, then interpolated within that bucket: ≤ 4 % of its
    size range). Offending rows come from ``Summary.largest`` when the summary has it."""
    over = summary.over.groupby(level="target")[["limit_bytes", "rows", "value_bytes"]].agg(
        {"limit_bytes": "max", "rows": "sum", "value_bytes": "sum"})
    top = summary.keys["max_bytes"].astype("float64").to_numpy()
    out = []
    for lim in checks:
        hit = top[top > lim.limit_bytes]
        largest = int(hit.max()) if len(hit) else 0
        mine = over[(over.index == lim.target) & (over["limit_bytes"] == lim.limit_bytes)]
        same = mine if len(mine) else over[over["limit_bytes"] == lim.limit_bytes]
        if len(same):  # a limit of limits.csv, or of the grid (powers of two, 1 KiB – 1 GiB): exact
            n, b = int(same["rows"].iloc[0]), int(same["value_bytes"].iloc[0])
        else:
            n, b = summary.rows_over(lim.limit_bytes)
        out.append(_limit_row(lim, dialect, airflow, n, b, largest))
    table = pd.DataFrame(out).set_index("target")
    return LimitReport(table, _largest_violations(summary, checks))


def _largest_violations(summary: Summary, checks: list[Limit]) -> pd.DataFrame:
    """The offending rows a summary kept (its ``largest`` rows over a limit), largest first."""
    largest = getattr(summary, "largest", None)
    cols = [*_ID_COLUMNS, S.VALUE_BYTES]
    if largest is None or not len(largest):
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in (S.MAP_INDEX, S.VALUE_BYTES) else object)
                             for c in cols}).assign(targets=pd.Series(dtype=object))
    rows = largest.reset_index()
    sizes = rows[S.VALUE_BYTES].astype("float64").to_numpy()
    broken = [[lim.target for lim in checks if v > lim.limit_bytes] for v in sizes]
    keep = np.array([bool(b) for b in broken], dtype=bool)
    viol = rows.loc[keep, cols].copy()
    viol["targets"] = [", ".join(b) for b in broken if b]
    return viol.sort_values(S.VALUE_BYTES, ascending=False, kind="stable").reset_index(drop=True)


# --- the Airflow 2 → 3 upgrade ---------------------------------------------------------------

#: What the 0049 migration does with NaN/Infinity, by the Airflow release you upgrade with
#: (docs/airflow-xcom.md#migration-0049, wheels compared).
NAN_BEHAVIOUR: Final = {
    "3.0": ("blocker", "3.0.x does not sanitize: the PostgreSQL cast to JSONB fails on NaN/Infinity"),
    "3.1.0": ("warning", "3.1.0 replaces 'NaN' with '\"nan\"' textually, also inside strings"),
    "3.1": ("warning", "3.1.8–3.3.0 turn NaN/±Infinity into the strings \"NaN\"/\"Infinity\""),
    "3.3.2": ("warning", "3.3.2 turns NaN/±Infinity into null (values change)"),
}


def _nan_rule(target: str) -> tuple[str, str]:
    parts = [int(p) for p in target.split(".")[:3]] + [0, 0]
    major, minor, patch = parts[:3]
    if (major, minor) == (3, 0):
        return NAN_BEHAVIOUR["3.0"]
    if (major, minor, patch) == (3, 1, 0):
        return NAN_BEHAVIOUR["3.1.0"]
    if (major, minor, patch) >= (3, 3, 2):
        return NAN_BEHAVIOUR["3.3.2"]
    return NAN_BEHAVIOUR["3.1"]


@dataclass(frozen=True)
class MigrationAudit:
    """What the Airflow 2 → 3 upgrade would do to these rows.

    Attributes
    ----------
    verdict : str
        ``"blocked"`` (the migration would fail), ``"data loss"`` (it succeeds but rows
        become unreadable or change), ``"ok"`` or ``"not applicable"`` (already 3.x).
    summary : pandas.DataFrame
        One row per finding: ``kind, severity, rows, bytes, explanation``.
    rows : pandas.DataFrame
        The offending rows with a ``kind`` column.
    """

    target: str
    dialect: str
    verdict: str
    summary: pd.DataFrame
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def blockers(self) -> dict[str, int]:
        """``{kind: rows}`` for every finding (the ``migration_blockers`` summary key)."""
        return {str(k): int(v) for k, v in self.summary["rows"].items()}

    def __repr__(self) -> str:
        return (f"MigrationAudit(to {self.target} on {self.dialect}: {self.verdict}; "
                f"{self.blockers or 'no findings'})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.summary.to_html()


def migration_audit(frame: pd.DataFrame | Summary, *, target: str = "3.3.2", dialect: str = "postgresql",
                    dag_run_ids: Any = None) -> MigrationAudit:
    """Audit the live rows of an Airflow 2 export for an upgrade to ``target``.

    Parameters
    ----------
    target
        The Airflow 3 release you upgrade with (NaN handling differs by release).
    dialect
        ``postgresql``, ``mysql`` or ``sqlite``: the JSONB limit and the UTF-8 cast
        failure are PostgreSQL's.
    dag_run_ids
        ``dag_run.id`` values present in the database, when known; rows pointing to a
        missing run are reported (they are dropped or fail the FK). For 1.10–2.2 exports
        pass ``(dag_id, execution_date)`` pairs: the 2.3 migration drops rows whose run
        is missing (inner join, docs/airflow-xcom.md#schema-2-3).
    """
    notes: list[str] = []
    if not target.startswith("3"):
        msg = f"target={target!r}; expected an Airflow 3 release such as '3.3.2'"
        raise ParameterError(msg)
    if isinstance(frame, Summary):
        return _summary_migration(frame.primary(), target, dialect, dag_run_ids)
    S.validate_frame(frame)
    rows = primary_rows(frame)
    schema = rows[S.AIRFLOW_SCHEMA].dropna()
    if len(schema) and (schema >= "3.0-3.2").all():
        empty = pd.DataFrame(columns=["kind", "severity", "rows", "bytes", "explanation"]).set_index("kind")
        return MigrationAudit(target, dialect, "not applicable", empty,
                              rows.iloc[:0][[*_ID_COLUMNS, S.VALUE_BYTES]].assign(kind=pd.Series(dtype=str)),
                              ["the export is already in an Airflow 3 schema"])
    enc = rows[S.ENCODING].astype(str)
    sizes = rows[S.VALUE_BYTES].astype("float64").fillna(-1)
    nan_sev, nan_text = _nan_rule(target)
    pg = dialect == "postgresql"
    findings: list[tuple[str, str, np.ndarray, str]] = [
        ("pickled", "data loss", (enc == "pickle").to_numpy(),
         "moved to _xcom_archive by migration 0049; Airflow 3 cannot read them"),
        ("nan_values", nan_sev if pg else "warning", rows[S.HAS_NAN].to_numpy() & (enc != "pickle").to_numpy(),
         nan_text if pg else nan_text.split(":")[0] + " (the cast failure is PostgreSQL's)"),
        ("not_json", "blocker" if pg else "warning", enc.isin(["text", "unknown"]).to_numpy(),
         "neither JSON nor pickle: CONVERT_FROM(value,'UTF8')::jsonb fails on PostgreSQL"),
    ]
    if pg:
        findings.append(("jsonb_oversize", "blocker", (sizes > JSONB_MAX_BYTES).to_numpy(),
                         "over 268,435,455 bytes: ALTER ... TYPE JSONB aborts (apache/airflow#73248)"))
    if dag_run_ids is not None:
        findings.append(("dag_run_missing", "data loss", _missing_runs(rows, dag_run_ids),
                         "no dag_run row: dropped by the 2.3 migration or rejected by the FK"))
    else:
        notes.append("dag_run not checked: pass dag_run_ids to find rows whose run is gone")
    summary, parts = [], []
    for kind, severity, mask, why in findings:
        n = int(mask.sum())
        summary.append({"kind": kind, "severity": severity, "rows": n,
                        "bytes": int(sizes[mask].clip(lower=0).sum()), "explanation": why})
        if n:
            parts.append(rows.loc[mask, [*_ID_COLUMNS, S.VALUE_BYTES]].assign(kind=kind))
    table = pd.DataFrame(summary).set_index("kind")
    hit = table[table["rows"] > 0]
    verdict = ("blocked" if (hit["severity"] == "blocker").any()
               else "data loss" if (hit["severity"] == "data loss").any()
               else "warnings" if len(hit) else "ok")
    offending = (pd.concat(parts, ignore_index=True) if parts
                 else rows.iloc[:0][[*_ID_COLUMNS, S.VALUE_BYTES]].assign(kind=pd.Series(dtype=str)))
    return MigrationAudit(target, dialect, verdict, table, offending, notes)


def _verdict(table: pd.DataFrame) -> str:
    hit = table[table["rows"] > 0]
    return ("blocked" if (hit["severity"] == "blocker").any()
            else "data loss" if (hit["severity"] == "data loss").any()
            else "warnings" if len(hit) else "ok")


def _no_rows() -> pd.DataFrame:
    cols = {c: pd.Series(dtype="int64" if c in (S.MAP_INDEX, S.VALUE_BYTES) else object)
            for c in [*_ID_COLUMNS, S.VALUE_BYTES]}
    return pd.DataFrame(cols).assign(kind=pd.Series(dtype=str))


def _summary_migration(live: Summary, target: str, dialect: str, dag_run_ids: Any) -> MigrationAudit:
    """:func:`migration_audit` on a summary: the same counts and bytes (from its ``classes``,
    ``over`` and ``runs`` tables); the offending rows themselves are not listed."""
    schemas = live.sources.index.get_level_values(S.AIRFLOW_SCHEMA)
    if len(schemas) and all(str(x) >= "3.0-3.2" for x in schemas):
        empty = pd.DataFrame(columns=["kind", "severity", "rows", "bytes", "explanation"]).set_index("kind")
        return MigrationAudit(target, dialect, "not applicable", empty, _no_rows(),
                              ["the export is already in an Airflow 3 schema"])
    notes: list[str] = []
    c = live.classes.reset_index()
    enc = c[S.ENCODING].astype(str)
    nan_sev, nan_text = _nan_rule(target)
    pg = dialect == "postgresql"

    def count(mask: pd.Series) -> tuple[int, int]:
        return int(c.loc[mask, "rows"].sum()), int(c.loc[mask, "value_bytes"].sum())

    findings: list[tuple[str, str, tuple[int, int], str]] = [
        ("pickled", "data loss", count(enc == "pickle"),
         "moved to _xcom_archive by migration 0049; Airflow 3 cannot read them"),
        ("nan_values", nan_sev if pg else "warning", count(c[S.HAS_NAN].astype(bool) & (enc != "pickle")),
         nan_text if pg else nan_text.split(":")[0] + " (the cast failure is PostgreSQL's)"),
        ("not_json", "blocker" if pg else "warning", count(enc.isin(["text", "unknown"])),
         "neither JSON nor pickle: CONVERT_FROM(value,'UTF8')::jsonb fails on PostgreSQL"),
    ]
    if pg:
        o = live.over[live.over.index.get_level_values("target") == "postgresql_jsonb"]
        findings.append(("jsonb_oversize", "blocker", (int(o["rows"].sum()), int(o["value_bytes"].sum())),
                         "over 268,435,455 bytes: ALTER ... TYPE JSONB aborts (apache/airflow#73248)"))
    if dag_run_ids is not None:
        ids = list(dag_run_ids)
        if ids and isinstance(ids[0], tuple):
            msg = ("dag_run_ids as (dag_id, execution_date) pairs need the rows' logical dates: "
                   "pass the frame (load_export), not a summary")
            raise ParameterError(msg)
        runs = live.runs
        gone = ~runs["dag_run_id"].isin(ids).to_numpy() | (runs["dag_run_id"].to_numpy() < 0)
        findings.append(("dag_run_missing", "data loss",
                         (int(runs["rows"][gone].sum()), int(runs["value_bytes"][gone].sum())),
                         "no dag_run row: dropped by the 2.3 migration or rejected by the FK"))
        old = live.old_runs
        if len(old):  # runs rolled up per day (xcomlab.summary.runs): their ids are not kept
            notes.append(f"dag_run checked for the newest {len(runs):,} runs only: {int(old['runs'].sum()):,} "
                         f"older runs ({int(old['rows'].sum()):,} rows) were rolled up per day; pass the "
                         "frame (load_export) to check every row")
    else:
        notes.append("dag_run not checked: pass dag_run_ids to find rows whose run is gone")
    table = pd.DataFrame([{"kind": k, "severity": sev, "rows": n, "bytes": b, "explanation": why}
                          for k, sev, (n, b), why in findings]).set_index("kind")
    return MigrationAudit(target, dialect, _verdict(table), table, _no_rows(), notes)


def _missing_runs(rows: pd.DataFrame, dag_run_ids: Any) -> np.ndarray:
    ids = list(dag_run_ids)
    if ids and isinstance(ids[0], tuple):  # 1.10–2.2: (dag_id, execution_date)
        known = {(str(d), pd.Timestamp(t)) for d, t in ids}
        pairs = zip(rows[S.DAG_ID].astype(str), rows[S.LOGICAL_DATE], strict=True)
        return np.array([(d, t) not in known for d, t in pairs], dtype=bool)
    present = rows[S.DAG_RUN_ID].isin(ids).fillna(False).to_numpy(dtype=bool)
    return ~present
