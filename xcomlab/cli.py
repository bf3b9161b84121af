"""Command line: a thin shell over the public API.

Every command streams SOURCE into a :class:`~xcomlab.summary.Summary` (memory by groups, not
rows) or reads one saved with ``--save-summary``; ``--frame`` loads the whole frame instead.

``xcomlab profile SOURCE [--json]``, ``xcomlab audit SOURCE``, ``xcomlab scan SOURCE``,
``xcomlab forecast SOURCE [--horizon DAYS] [--ceiling 20GB ...] [--by-dag] [--max-age DAYS]``,
``xcomlab retention SOURCE [--max-age DAYS] [--keep-last N] [--dag-max-age DAG=DAYS]``,
``xcomlab recommend SOURCE [--object-stores s3,gcs] [--db-ceiling 20GB] [--latency-budget-ms N]
[--price s3.put=0.004] [--prices FILE]``, ``xcomlab report SOURCE [-o report.html]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xcomlab
from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.errors import ParameterError, XcomlabError, mask_quoted, mask_url
from xcomlab.units import format_bytes, format_count, format_share, format_usd

#: What the `lab` extra installs that the commands need (the base install is the backend only).
LAB_MODULES = ("pandas", "numpy", "pyarrow", "matplotlib", "tqdm", "rich")
try:
    import pandas as pd

    from xcomlab import console as C
    from xcomlab.analysis.audit import check_limits, migration_audit
    from xcomlab.analysis.disk import disk_ratio, scope_label
    from xcomlab.analysis.forecast import forecast
    from xcomlab.analysis.retention import KeyRule, RetentionPolicy, retention
    from xcomlab.analysis.secrets import scan_secrets, summary_secrets
    from xcomlab.ingest.deployment import Deployment, deployment_of, infer_deployment
    from xcomlab.summary import Summary, summarize_file

    if importlib.util.find_spec("rich") is None:  # console imports rich only to print (not --json)
        _missing = "No module named 'rich'"
        raise ModuleNotFoundError(_missing, name="rich")
except ModuleNotFoundError as _exc:
    if (_exc.name or "").split(".")[0] not in LAB_MODULES:
        raise
    _msg = (f"xcomlab: the command line needs the toolkit, which this install lacks "
            f"({_exc.name} is missing): pip install 'xcomlab[lab]'")
    raise SystemExit(_msg) from None

__all__ = ["SCHEMA_VERSION", "main"]

#: Version of the ``--json`` output's layout (xcomlab/data/cli_output.schema.json). Raise it
#: when a field is renamed, removed or changes meaning; adding a field keeps it.
SCHEMA_VERSION = 1


def _load_opts(args: argparse.Namespace) -> dict[str, Any]:
    return {"format": args.format, "errors": args.errors, "tables": args.tables}


def _load(args: argparse.Namespace) -> pd.DataFrame:
    return xcomlab.load_export(args.source, **_load_opts(args))


def _data(args: argparse.Namespace) -> pd.DataFrame | Summary:
    """SOURCE as a summary streamed batch by batch (memory by groups, not rows), or as the
    whole frame with ``--frame``."""
    if getattr(args, "frame", False):
        return _load(args)
    return _summary_of(args)


def _deployment(args: argparse.Namespace, frame: pd.DataFrame | Summary) -> Deployment:
    """What the source says, overridden by ``--dialect`` / ``--airflow``; sets ``args.dialect``."""
    if isinstance(frame, Summary):
        dep = deployment_of(frame.report, frame.primary().airflow_schema(), dialect=args.dialect,
                            airflow=args.airflow)
    else:
        dep = infer_deployment(frame, dialect=args.dialect, airflow=args.airflow)
    args.dialect = dep.dialect_or_default
    return dep


def _measured(args: argparse.Namespace, frame: pd.DataFrame | Summary) -> dict[str, Any] | None:
    """Sizes the connected database reports, beside the model (a database URL only; None otherwise)."""
    if not isinstance(args.source, str) or "://" not in args.source:
        return None
    from xcomlab.analysis.measured import measured_summary
    from xcomlab.ingest.dbsize import measure_sizes

    return measured_summary(frame, measure_sizes(args.source))


def _write(text: str) -> int:
    sys.stdout.write(text.rstrip("\n") + "\n")
    return 0


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_out(command: str, body: dict[str, Any]) -> int:
    """One JSON object: ``schema_version``, ``command``, then the command's fields."""
    doc = {"schema_version": SCHEMA_VERSION, "command": command, **body}
    return _write(json.dumps(_finite(doc), indent=2, allow_nan=False, default=str))


def _bound_heap_for(source: Any) -> None:
    """For a file over :data:`~xcomlab.ingest.allocator.BOUND_HEAP_MIN_BYTES`, let this
    process's freed batches go back to the OS (:func:`~xcomlab.ingest.allocator.bound_heap`;
    process-wide, which a command may choose and a library call may not), unless
    ``XCOMLAB_TUNE_MALLOC`` asks for the opposite trade."""
    from xcomlab.ingest import allocator

    try:
        big = os.path.getsize(source) >= allocator.BOUND_HEAP_MIN_BYTES
    except (OSError, TypeError, ValueError):
        return
    if big and not allocator.tune_requested(None):
        allocator.bound_heap()


def _summary_of(args: argparse.Namespace, stats: Any = None) -> Any:
    """The summary of ``args.source``: read back when it is a saved summary file (sniffed
    by its magic), computed by the database for a database URL or ``airflow.db``
    (``stats`` counts what crossed the wire), else streamed from the export (values scanned
    and sampled); saved to ``--save-summary`` when given."""
    from xcomlab.summary import Summary, summarize_source
    from xcomlab.summary.store import is_summary_file

    if is_summary_file(args.source):
        whole = Summary.load(args.source)
    else:
        progress = False if args.json else None  # a bar only on a terminal, never under --json
        _bound_heap_for(args.source)
        whole = summarize_source(args.source, progress=progress, stats=stats,
                                 jobs=getattr(args, "jobs", 1), **_load_opts(args))
    save = getattr(args, "save_summary", None)
    if save:
        whole.save(save, source=mask_url(str(args.source)))
    return whole


def _profile_summary(args: argparse.Namespace) -> int:
    """``profile --summary``: per-DAG sizes from a summary streamed batch by batch (no frame),
    pushed down to a database, or from a saved summary file."""
    from xcomlab.summary import QUANTILE_RELATIVE_ERROR, PushdownStats

    pushed = PushdownStats()
    whole = _summary_of(args, pushed)
    live = whole.primary()
    by_dag = live.sizes()
    scanned = whole.rows_scanned("secrets") == whole.rows and whole.rows > 0
    flagged = whole.secrets.groupby(level="kind")["rows"].sum()
    secrets = {"rows_scanned": whole.rows_scanned("secrets"),
               "by_kind": {str(k): int(v) for k, v in flagged.items()}} if scanned else None
    if secrets is not None and pushed.statements:  # rows the database's prefilter picked
        secrets["candidates"] = pushed.prefilter_rows
    if args.json:
        tables = whole.keys.groupby(level="source_table")[["rows", "value_bytes"]].sum()
        return _json_out("profile", {
            "shape": "summary",
            "quantile_relative_error": QUANTILE_RELATIVE_ERROR,
            "rows": live.rows,
            "value_bytes": live.value_bytes,
            "by_dag": {str(k): {"rows": int(r.rows), "value_bytes": int(r.value_bytes),
                                "p50_bytes": r.p50_bytes, "p90_bytes": r.p90_bytes,
                                "p99_bytes": r.p99_bytes, "max_bytes": r.max_bytes}
                       for k, r in by_dag.iterrows()},
            "tables": {str(k): {"rows": int(r.rows), "value_bytes": int(r.value_bytes)}
                       for k, r in tables.iterrows()},
            "rows_over": live.threshold_counts(),
            "secrets": secrets,
            **({"pushdown": {"statements": pushed.statements, "bytes_received": pushed.bytes_received,
                             "value_bytes_received": pushed.value_bytes_received,
                             "classified_rows": pushed.classified_rows,
                             "secret_candidates": pushed.secret_candidates}} if pushed.statements else {}),
        })
    out = C.Out()
    out.line(f"{live.rows:,} live rows, {format_bytes(live.value_bytes)} of values "
             f"({live.value_bytes:,} bytes), {len(by_dag):,} DAGs (streamed summary; quantiles "
             f"within {QUANTILE_RELATIVE_ERROR:.2%})")
    if secrets is not None:
        kinds = C.counts(secrets["by_kind"])
        out.line(f"Secret findings (every table): {sum(secrets['by_kind'].values()):,}"
                 + (f" ({kinds})" if kinds else ""))
    out.heading("Largest DAGs")
    C.size_table(out, by_dag.head(args.top), "DAG")
    return 0


def _records(frame: pd.DataFrame, **kw: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", **kw))


def _profile(args: argparse.Namespace) -> int:
    from xcomlab.summary.store import is_summary_file

    if args.summary or args.save_summary:
        return _profile_summary(args)
    if args.frame and is_summary_file(args.source):
        msg = f"{args.source} is a saved summary: it has no rows to load as a frame; drop --frame"
        raise ParameterError(msg)
    frame: pd.DataFrame | Summary
    if args.frame:
        # One pass: the secret scan sees each value as it streams; the frame keeps none.
        secrets = scan_secrets(args.source, **_load_opts(args))
        assert secrets.frame is not None
        frame = secrets.frame
    else:  # one streamed pass (or a saved summary): sizes, secrets and the value sample
        whole: Summary = _summary_of(args)
        secrets = _summary_secrets(whole).counted()  # the headline needs counts, not findings
        frame = whole
    dep = _deployment(args, frame)
    summary = xcomlab.summarize(frame, secrets=secrets, dialect=dep.dialect, airflow=dep.airflow)
    summary["measured_on_disk"] = _measured(args, frame)
    if args.json:
        return _json_out("profile", summary)
    p = xcomlab.profile(frame, top=args.top)
    rep = frame.report if isinstance(frame, Summary) else xcomlab.load_report(frame)
    out = C.Out()
    if rep is not None:
        C.load_line(out, rep)
    out.line(f"Deployment: {dep.describe()}")
    s = p.summary
    out.line(f"{s['rows']:,} live rows, {format_bytes(s['value_bytes'])} of values "
             f"({s['value_bytes']:,} bytes), {len(p.by_dag):,} DAGs, Airflow schema {s['airflow_schema']}")
    out.heading("Largest DAGs")
    C.size_table(out, p.by_dag.head(args.top), "DAG")
    out.heading("Largest keys")
    C.size_table(out, p.by_key.head(args.top), "key")
    out.heading("Largest values")
    C.rows_table(out, p.top_rows, [("encoding", "encoding", False)])
    out.line()
    broken = C.counts(summary["limit_violations_here"])
    out.line(f"Limits here: {'rows over ' + broken if broken else 'no row over a limit of this deployment'} "
             "(xcomlab audit explains each)")
    elsewhere = C.counts({k: v for k, v in summary["limit_violations"].items()
                          if k not in summary["limit_violations_here"]})
    if elsewhere:
        out.line(f"If you moved to another database or release: rows over {elsewhere}")
    if summary["migration_blockers"]:
        blockers = C.counts(summary["migration_blockers"])
        out.line(f"Airflow 2 -> 3 upgrade: {blockers or 'nothing in the way'} (xcomlab audit)")
    kinds = C.counts(secrets.by_kind)
    out.line(f"Secrets: {secrets.rows_flagged:,} of {secrets.rows_scanned:,} rows flagged"
             f"{': ' + kinds if kinds else ''} (xcomlab scan lists them, masked)")
    scope = summary["on_disk_scope"]
    for key in ("on_disk_bytes", "on_disk_bytes_all_tables"):
        sizes = ", ".join(f"{d} {format_bytes(b)}" for d, b in summary[key].items())
        out.line(f"On disk, modelled ({scope[key]}): {sizes}")
    if (m := summary["measured_on_disk"]) is not None:
        for c in m["comparison"][:2]:
            err = "–" if c["error_pct"] is None else f"{c['error_pct']:+.1f}%"
            shown = "–" if c["measured_bytes"] is None else format_bytes(c["measured_bytes"])
            out.line(f"On disk, measured ({c['scope']}, {m['dialect']} {m['method']}): {shown}; "
                     f"model {format_bytes(c['modelled_bytes'])} ({err})")
        out.notes(m["notes"])
    out.notes(rep.notes if rep is not None else ())
    if rep is not None and rep.rejections:
        out.line(f"{len(rep.rejections):,} rows rejected; first: {rep.rejections[0].where()}: "
                 f"{mask_quoted(rep.rejections[0].detail)}")
    return 0


def _summary_secrets(summary: Summary) -> Any:
    found = summary_secrets(summary)
    if found is None:
        msg = ("the summary was made without reading values, so secrets were not scanned: "
               "summarise the export itself (or pass --frame)")
        raise ParameterError(msg)
    return found


def _is_summary(source: Any) -> bool:
    from xcomlab.summary.store import is_summary_file

    return is_summary_file(source)


def _audit(args: argparse.Namespace) -> int:
    frame = _data(args)
    dep = _deployment(args, frame)
    policy = {f"policy_{args.policy}": args.policy} if args.policy else None
    limits = check_limits(frame, policy_bytes=policy, all_tables=args.all_tables, dialect=dep.dialect,
                          airflow=dep.airflow)
    migration = migration_audit(frame, target=args.target, dialect=dep.dialect_or_default)
    if args.json:
        return _json_out("audit", {
            "deployment": dep.as_dict(),
            "limit_violations": limits.counts,
            "limit_violations_here": {k: v for k, v in limits.counts.items()
                                      if limits.summary.loc[k, "applies"]},
            "violations": _records(limits.violations.head(args.top)),
            "migration": {"target": migration.target, "dialect": migration.dialect,
                          "verdict": migration.verdict, "blockers": migration.blockers,
                          "notes": migration.notes},
        })
    out = C.Out()
    out.line(f"Deployment: {dep.describe()}")
    over = int((limits.summary["rows_over"] > 0).sum())
    out.line(f"Limits: {over} of {len(limits.summary)} limits have rows over them"
             + (f" ({C.counts(limits.counts)})" if over else ""), bold=True)
    table = limits.summary.sort_values("applies", ascending=False, kind="stable")
    # "here": a limit of this deployment; "elsewhere": only if you moved database or release
    out.table([C.Col("limit"), C.Col("applies"), C.Col("size", True),
               C.Col("rows over", True), C.Col("largest", True), C.Col("what happens", flex=True)],
              ([name, "here" if r.applies else "elsewhere", format_bytes(r.limit_bytes),
                format_count(r.rows_over), format_bytes(r.largest_bytes) if r.rows_over else "",
                r.what_happens]
               for name, r in table.iterrows()))
    if len(limits.violations):
        out.heading("Largest offending rows")
        C.rows_table(out, limits.violations.head(args.top), [("targets", "over", False)])
    out.heading(f"Upgrade to Airflow {migration.target} on {migration.dialect}: {migration.verdict}")
    if len(migration.summary):
        out.table([C.Col("check"), C.Col("severity"), C.Col("rows", True), C.Col("bytes", True),
                   C.Col("explanation", flex=True)],
                  ([kind, r.severity, format_count(r.rows), format_bytes(r.bytes), r.explanation]
                   for kind, r in migration.summary.iterrows()))
    out.notes(migration.notes)
    return 0


def _scan(args: argparse.Namespace) -> int:
    if args.frame:
        report = scan_secrets(args.source, **_load_opts(args))
    elif _is_summary(args.source):
        report = _summary_secrets(_summary_of(args))
    else:
        report = _summary_secrets(summarize_file(args.source, sample=False, **_load_opts(args)))
    if args.json:
        return _json_out("scan", {"rows_scanned": report.rows_scanned,
                                  "rows_flagged": report.rows_flagged, "by_kind": report.by_kind,
                                  "findings": _records(report.findings)})
    out = C.Out()
    kinds = C.counts(report.by_kind)
    out.line(f"Secrets: {report.rows_flagged:,} of {report.rows_scanned:,} rows flagged"
             + (f" ({kinds})" if kinds else ""), bold=True)
    if len(report.findings):
        out.table([C.Col("kind"), C.Col("evidence (masked)"), C.Col("where", flex=True)],
                  ([r.kind, r.evidence, C.where(r)] for r in report.findings.itertuples(index=False)))
    return 0


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _size(text: str) -> tuple[str, float]:
    """``"20GB"`` → ``("20GB", 2e10)``; decimal (kB, MB, GB, TB) and binary (KiB ... TiB) units."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        msg = f"ceiling {text!r}: expected a size such as 20GB, 50GiB or 1500000000"
        raise argparse.ArgumentTypeError(msg)
    return text.strip(), float(m.group(1)) * _UNITS[m.group(2).lower()]


def _disk_ratio(frame: pd.DataFrame | Summary, args: argparse.Namespace) -> tuple[float, str]:
    """On-disk bytes per logical byte: ``--disk-ratio``, else the disk model when installed."""
    if args.disk_ratio is not None:
        return args.disk_ratio, "given"
    m = _measured(args, frame)
    if m is not None and m["disk_ratio"] and m["dialect"] == args.dialect:
        return float(m["disk_ratio"]), f"{args.dialect} measured ({m['method']}), {scope_label(('xcom',))}"
    return float(disk_ratio(frame, args.dialect)), f"{args.dialect} on-disk model, {scope_label(('xcom',))}"


def _forecast(args: argparse.Namespace) -> int:
    frame = _data(args)
    _deployment(args, frame)
    ratio, how = _disk_ratio(frame, args)
    policy = _policy(args, required=False)
    fc = forecast(frame, horizon_days=args.horizon, by="dag_id" if args.by_dag else None,
                  retention=policy, disk_ratio=ratio, rng=args.seed)
    ceilings = dict(args.ceiling) if args.ceiling else DEFAULT_CEILINGS
    ttt = fc.time_to_thresholds(ceilings)
    marks = [d for d in (30, 90, 180, 365, args.horizon) if d <= args.horizon]
    points = fc.projection.iloc[sorted({d - 1 for d in marks})]
    if args.json:
        return _json_out("forecast", {
            "now": fc.now.isoformat(), "current_bytes": fc.current_bytes,
            "start_bytes": fc.start_bytes, "retention": policy is not None, "disk_ratio": ratio,
            "disk_ratio_source": how, "horizon_days": args.horizon,
            "growth_per_month": _num(fc.fit["growth_per_month"].iloc[0]),
            "fit": json.loads(fc.fit.reset_index().to_json(orient="records", date_format="iso")),
            "thresholds": json.loads(ttt.reset_index().to_json(orient="records")),
            "projection": json.loads(points.reset_index().to_json(orient="records", date_format="iso")),
            "notes": fc.notes,
        })
    _forecast_text(fc, ttt, points, ratio, how, args)
    return 0


def _forecast_text(fc: Any, ttt: pd.DataFrame, points: pd.DataFrame, ratio: float, how: str,
                   args: argparse.Namespace) -> None:
    out = C.Out()
    total = fc.fit.iloc[0]
    last = fc.projection["expected"].iloc[-1]
    out.line(f"Value bytes now {format_bytes(fc.current_bytes)} ({fc.current_bytes:,}); growth "
             f"{total['growth_per_month']:+.1%}/month; {format_bytes(last)} expected in "
             f"{len(fc.projection):,} days ({len(fc.fit) - 1:,} DAGs)", bold=True)
    out.line(f"on-disk ratio {ratio:.3g} ({how}): on-disk bytes per value byte")
    out.heading("Time to ceilings (on-disk)")
    out.table([C.Col("ceiling"), C.Col("size", True), C.Col("days", True), C.Col("date"),
               C.Col("range (days)", True)],
              ([name, format_bytes(r.ceiling_bytes), f"not in {args.horizon:,}" if pd.isna(r.days)
                else C.days(r.days), C.date(r.date),
                "" if pd.isna(r.earliest_days) and pd.isna(r.latest_days)
                else f"{C.days(r.earliest_days)} to {C.days(r.latest_days)}"]
               for name, r in ttt.iterrows()))
    out.heading("Table size ahead (value bytes)")
    out.table([C.Col("date"), C.Col("written per day", True), C.Col("expected", True),
               C.Col("low", True), C.Col("high", True)],
              ([C.date(d), format_bytes(r.written), format_bytes(r.expected), format_bytes(r.lower),
                format_bytes(r.upper)] for d, r in points.iterrows()))
    out.heading("Fit (bytes written per day)")
    out.table([C.Col("DAG"), C.Col("first day"), C.Col("days", True), C.Col("per day", True),
               C.Col("trend per month", True), C.Col("growth per month", True), C.Col("weekly"),
               C.Col("active")],
              ([dag, C.date(r.first_day), format_count(r.days_fitted), format_bytes(r.level_bytes_per_day),
                format_bytes(r.trend_bytes_per_day_per_month), format_share(r.growth_per_month),
                "yes" if r.weekly else "no", "yes" if r.active else "no"]
               for dag, r in fc.fit.head(args.top + 1).iterrows()))
    out.notes(fc.notes)


def _num(x: float) -> float | None:
    return None if x != x else float(x)  # NaN → null


def _policy(args: argparse.Namespace, *, required: bool = True) -> RetentionPolicy | None:
    per_dag = {}
    for item in args.dag_max_age or []:
        dag, sep, days = item.rpartition("=")
        try:
            per_dag[dag] = RetentionPolicy(max_age_days=float(days))
        except ValueError:
            sep = ""
        if not sep or not dag:
            msg = f"--dag-max-age {item!r}: expected DAG_ID=DAYS, e.g. sales_daily=7"
            raise ParameterError(msg)
    rules = (KeyRule("*", 0.0, internal=True),) if args.drop_internal else ()
    if args.max_age is None and args.keep_last is None and not per_dag and not rules:
        if not required:
            return None
        msg = "retention: give a policy: --max-age DAYS, --keep-last N, --dag-max-age or --drop-internal"
        raise ParameterError(msg)
    return RetentionPolicy(args.max_age, args.keep_last, per_dag, rules)


def _retention(args: argparse.Namespace) -> int:
    frame = _data(args)
    _deployment(args, frame)
    ratio, how = _disk_ratio(frame, args)
    policy = _policy(args)
    assert policy is not None
    rep = retention(frame, policy, now=args.now, disk_ratio=ratio)
    if args.json:
        return _json_out("retention", {
            "now": rep.now.isoformat(), "disk_ratio": ratio, "disk_ratio_source": how,
            "totals": {k: _num(v) if isinstance(v, float) else v for k, v in rep.totals.items()},
            "by_dag": _records(rep.by_dag.reset_index()),
            "db_clean_command": rep.db_clean_command, "limitations": rep.limitations,
        })
    t = rep.totals
    out = C.Out()
    out.line(f"Frees {t['rows_freed']:,} of {t['rows']:,} rows, {format_bytes(t['bytes_freed'])} of "
             f"{format_bytes(t['value_bytes'])} of values, as of {rep.now:%Y-%m-%d}", bold=True)
    out.line(f"On disk (ratio {ratio:.3g}, {how}): frees {format_bytes(t['on_disk_bytes_freed'])}; "
             f"steady state {format_bytes(t['steady_state_on_disk_bytes'])}")
    out.heading("Per DAG (value bytes)")
    out.table([C.Col("DAG"), C.Col("rows", True), C.Col("rows freed", True), C.Col("freed", True),
               C.Col("left", True), C.Col("per day", True), C.Col("steady state", True),
               C.Col("orphaned refs", True)],
              ([dag, format_count(r.rows), format_count(r.rows_freed), format_bytes(r.bytes_freed),
                format_bytes(r.bytes_left), format_bytes(r.bytes_per_day), format_bytes(r.steady_state_bytes),
                format_count(r.orphaned_refs)] for dag, r in rep.by_dag.head(args.top).iterrows()))
    out.line()
    if rep.db_clean_command:
        out.line("Equivalent command:")
        out.command(rep.db_clean_command)
    else:
        out.line("No equivalent airflow db clean command.")
    out.notes(rep.limitations)
    return 0


def _prices(args: argparse.Namespace) -> Any:
    """A :class:`~xcomlab.models.cost.Prices` from ``--prices FILE`` and ``--price K=V``, or None."""
    from xcomlab.models.cost import Prices, load_prices
    from xcomlab.recommend import DEFAULT_DB

    if not args.price and not args.prices:
        return None
    overrides: dict[str, float] = {}
    for item in args.price or []:
        key, sep, value = item.partition("=")
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or key.count(".") < 1:
            msg = f"--price {item!r}: expected SERVICE.ITEM=USD, e.g. s3.put=0.004"
            raise ParameterError(msg)
    table = load_prices(args.prices)
    # the dialect's managed DB, as recommend() prices it
    return Prices(table=table, overrides=overrides, db=DEFAULT_DB.get(args.dialect, "rds-postgresql-gp3"))


def _recommend(args: argparse.Namespace) -> int:
    from xcomlab.recommend import recommend  # with the cost, latency and simulation models

    frame: pd.DataFrame | Summary
    if args.frame:
        frame = xcomlab.load_export(args.source, keep_values=args.keep_values, **_load_opts(args))
    else:
        frame = _summary_of(args)
    _deployment(args, frame)
    stores = tuple(s.strip() for s in args.object_stores.split(",") if s.strip())
    rec = recommend(frame, dialect=args.dialect, object_stores=stores, prices=_prices(args),
                    db_ceiling_bytes=args.db_ceiling[1] if args.db_ceiling else None,
                    latency_budget_ms=args.latency_budget_ms, horizon_days=args.horizon,
                    retention_days=args.retention_days, object_base=args.object_base, rng=args.seed)
    table = rec.table
    if args.json:
        return _json_out("recommend", {
            "best": rec.best.name, "reason": rec.reason, "settings": rec.settings,
            "pareto": [str(n) for n in rec.pareto.index], "notes": rec.notes,
            "candidates": _records(table.reset_index())})
    out = C.Out()
    out.line(f"Recommended: {rec.best.name}", bold=True)
    out.line(rec.reason)
    out.line()

    def ms(a: float, b: float) -> str:
        return f"{a:,.1f} / {b:,.1f}"

    out.line("Candidates (push and pull: p50 / p99 ms; violations: over your ceiling or budget):")
    out.table([C.Col("candidate"), C.Col("per month", True),
               C.Col("push ms", True), C.Col("pull ms", True), C.Col("peak DB", True),
               C.Col("offloaded", True), C.Col("violations", True), C.Col("Pareto")],
              ([name, format_usd(r.monthly_cost_usd), ms(r.push_p50_ms, r.push_p99_ms),
                ms(r.pull_p50_ms, r.pull_p99_ms), format_bytes(r.peak_db_bytes),
                format_share(r.offloaded_share), format_count(r.violations), "yes" if r.pareto else ""]
               for name, r in table.iterrows()))
    out.line()
    for group, env in rec.settings.items():
        if env:
            out.line(f"Settings ({group}):")
            for k, v in env.items():
                out.line(f"  {k}={v}", indent=4)
    if not any(rec.settings.values()):
        out.line("Settings: none needed: keep Airflow's default XCom backend.")
    out.notes(rec.notes)
    return 0


def _report(args: argparse.Namespace) -> int:
    from xcomlab.report import write_report  # imported on use: it loads matplotlib

    ceilings = dict(args.ceiling) if args.ceiling else DEFAULT_CEILINGS
    policy = _policy(args, required=False)
    path = write_report(args.source, args.output, load_options={**_load_opts(args),
                                                                "keep_values": args.keep_values},
                        title=args.title, retention_policy=policy, ceilings=ceilings,
                        dialect=args.dialect, airflow=args.airflow,
                        now=None if args.no_timestamp else datetime.now(UTC),
                        to=args.to, figures=not args.no_figures, frame=args.frame)
    size = path.stat().st_size
    if args.json:
        return _json_out("report", {"path": str(path.resolve()), "bytes": size})
    out = C.Out()
    out.line(f"wrote {path} ({format_bytes(size)})")
    out.line(f"open file://{path.resolve()}")
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default: ``(default: X)``, ``(default: off)`` for a
    switch; options whose default is "none" say in words what happens without them."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        if action.default is None:
            return text
        return f"{text} (default: %(default)s)"


def _source_parser(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                formatter_class=_Help)
    p.add_argument("source", nargs="?", default=None,
                   help="export file, directory, or database URL (postgresql://, mysql://, "
                        "sqlite:///); default: the database Airflow's own configuration names "
                        "(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, its _CMD form, airflow.cfg)")
    p.add_argument("--airflow-home", default=None, metavar="DIR",
                   help="read the connection from DIR/airflow.cfg when no SOURCE is given "
                        "(default: $AIRFLOW_HOME or ~/airflow)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (xcomlab/data/cli_output.schema.json) instead of tables")
    p.add_argument("--format", choices=xcomlab.ingest.loader.FORMATS, default=None,
                   help="export format (default: guessed from the name and first bytes)")
    p.add_argument("--errors", choices=("raise", "collect"), default="raise",
                   help="on a malformed row: stop (raise, the default) or load the good rows "
                        "and count the rest (collect)")
    p.add_argument("--jobs", type=_jobs, default="auto", metavar="N",
                   help="processes that stream one export file into the summary, each a shard "
                        "of its rows (a plain CSV cut on row boundaries, Parquet on row groups; "
                        "pg_dump, JSON Lines, SQLite, compressed files and directories are read "
                        "by one process). Default: auto = 2 for files over 64 MiB on a machine "
                        "of 4 or more CPUs when they are idle (load average under the CPUs), else 1")
    p.add_argument("--tables", nargs="*", default=None, metavar="TABLE",
                   help="xcom tables to read (default: all: xcom, _xcom_archive, "
                        "_airflow_deleted__xcom__*)")
    p.add_argument("--top", type=int, default=10, help="rows per table shown")
    p.add_argument("--dialect", default=None, choices=("postgresql", "mysql", "sqlite"),
                   help="database the sizes, limits and backends refer to (default: what the source "
                        "says: an airflow.db is sqlite, a pg_dump postgresql, a URL names itself; "
                        "postgresql when it does not say)")
    p.add_argument("--airflow", default=None, metavar="RELEASE",
                   help="Airflow release of the deployment, e.g. 2.8 or 3.3 (default: from the "
                        "detected schema)")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the full traceback instead of one line")
    p.add_argument("--frame", action="store_true",
                   help="load the whole frame (one row per XCom) instead of streaming SOURCE into a "
                        "summary: more memory and time; the on-disk model then runs per row "
                        "rather than per size bucket (within 1%%)")
    return p


def _jobs(text: str) -> int | str:
    """``--jobs``: ``auto`` or a count of processes."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        msg = f"{text!r}; expected auto or a count of processes (1, 2, …)"
        raise argparse.ArgumentTypeError(msg)
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xcomlab", description=xcomlab.__doc__, formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"xcomlab {xcomlab.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    prof = _source_parser(sub, "profile", "rows and bytes per DAG, task and key")
    prof.set_defaults(run=_profile)
    prof.add_argument("--summary", action="store_true",
                      help="print per-DAG rows, bytes and size quantiles only (quantiles within "
                           "2%%); default: the full profile, also from the streamed summary "
                           "(--frame: from the whole frame). SOURCE may be a file saved with "
                           "--save-summary")
    prof.add_argument("--save-summary", default=None, metavar="FILE",
                      help="with --summary: also write the summary to FILE (a zip of Parquet "
                           "tables; read it back as SOURCE, no export needed; default: not saved)")
    audit = _source_parser(sub, "audit", "rows over hard limits and policies; the 2 -> 3 upgrade check")
    audit.add_argument("--target", default="3.3.2", help="Airflow 3 release to upgrade to")
    audit.add_argument("--policy", type=int, default=None, help="your own threshold in bytes (default: none, only the bundled limits)")
    audit.add_argument("--all-tables", action="store_true", help="also check the archive tables (_xcom_archive, _airflow_deleted__xcom__*)")
    audit.set_defaults(run=_audit)
    _source_parser(sub, "scan", "values that look like credentials (masked)").set_defaults(run=_scan)
    fc = _disk_options(_source_parser(sub, "forecast", "growth and time to ceilings (20 GB, 50 GiB, yours)"))
    fc.add_argument("--horizon", type=int, default=180, help="days to project")
    fc.add_argument("--ceiling", type=_size, action="append", default=None,
                    help="on-disk ceiling, e.g. 20GB or 50GiB (repeatable; default: 20 GB and 50 GiB)")
    fc.add_argument("--by-dag", action="store_true", help="project each DAG too")
    fc.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    _policy_options(fc).set_defaults(run=_forecast)
    ret = _policy_options(_disk_options(_source_parser(sub, "retention", "what a retention policy would free")))
    ret.add_argument("--now", default=None, help="when the clean runs (default: last timestamp)")
    ret.set_defaults(run=_retention)
    _recommend_parser(sub)
    _report_parser(sub)
    return p


def _recommend_parser(sub: Any) -> None:
    rec = _source_parser(sub, "recommend", "cost and latency per backend configuration, and advice")
    rec.add_argument("--object-stores", default="s3,gcs,azure",
                     help="comma-separated stores to try: s3, gcs, azure, file, s3express")
    rec.add_argument("--db-ceiling", type=_size, default=None,
                     help="largest acceptable metadata DB, e.g. 20GB (Cloud Composer) or 50GiB "
                          "(default: no ceiling)")
    rec.add_argument("--latency-budget-ms", type=float, default=None,
                     help="largest acceptable p99 push and pull time in ms (default: no budget)")
    rec.add_argument("--price", action="append", default=None, metavar="SERVICE.ITEM=USD",
                     help="override one price in its unit, e.g. s3.put=0.004 (repeatable; default: "
                          "the bundled prices)")
    rec.add_argument("--prices", default=None, metavar="FILE",
                     help="your own price table with the columns of xcomlab/data/pricing.csv "
                          "(default: that bundled table)")
    rec.add_argument("--horizon", type=int, default=30, help="days of growth to size the DB for")
    rec.add_argument("--retention-days", type=float, default=None,
                     help="size the DB at the steady state of this retention in days instead "
                          "(default: no retention)")
    rec.add_argument("--object-base", default=None,
                     help="your object-store URL for the settings (default: a placeholder URL)")
    rec.add_argument("--keep-values", action="store_true",
                     help="with --frame: keep values to measure their compression (more memory; a summary measures it on its value sample)")
    rec.add_argument("--seed", type=int, default=0, help="latency sampling seed")
    rec.set_defaults(run=_recommend)


def _report_parser(sub: Any) -> None:
    rep = _policy_options(_source_parser(sub, "report", "one capacity report: self-contained HTML, "
                                                         "or Markdown for tickets and PRs"))
    rep.add_argument("-o", "--output", type=Path, default=Path("report.html"),
                     help="where to write it (default report.html; a .md name writes Markdown)")
    rep.add_argument("--to", choices=("html", "md"), default=None,
                     help="report format (default: md for a .md/.markdown output, else html); "
                          "--format names the export's format")
    rep.add_argument("--no-figures", action="store_true",
                     help="Markdown: leave the charts out (default: PNG files in <name>_figures/)")
    rep.add_argument("--title", default=None, help="report title (default: from the source name)")
    rep.add_argument("--ceiling", type=_size, action="append", default=None,
                     help="on-disk ceiling, e.g. 20GB or 50GiB (repeatable; default: 20 GB and 50 GiB)")
    rep.add_argument("--keep-values", action="store_true",
                     help="with --frame: keep values in memory so the backend comparison measures compression (a summary uses its value sample)")
    rep.add_argument("--no-timestamp", action="store_true",
                     help="leave the generation time out (byte-identical reruns)")
    rep.set_defaults(run=_report)


def _policy_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--max-age", type=float, default=None,
                   help="remove rows older than DAYS (default: no age limit)")
    p.add_argument("--keep-last", type=int, default=None,
                   help="keep the N latest runs per DAG (default: no run limit)")
    p.add_argument("--dag-max-age", nargs="*", default=None, metavar="DAG=DAYS",
                   help="per-DAG age overrides (default: none)")
    p.add_argument("--drop-internal", action="store_true", help="remove keys Airflow writes itself")
    return p


def _disk_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--disk-ratio", type=float, default=None,
                   help="on-disk bytes per value byte (default: from the disk model)")
    return p


#: Python argument names in library messages → the CLI flags that do the same.
_FLAG_NAMES = (("errors='collect' (CLI: --errors collect)", "--errors collect"),
               ("pass --format / format=", "pass --format"),
               ("pass format= one of", "pass --format, one of"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    for python, flag in _FLAG_NAMES:
        text = text.replace(python, flag)
    return f"xcomlab: {text}"


def _resolve_source(args: argparse.Namespace) -> None:
    """No SOURCE: the connection Airflow's own configuration names (said on stderr)."""
    if getattr(args, "source", "-") is not None:
        if getattr(args, "airflow_home", None):
            msg = "--airflow-home reads airflow.cfg only when no SOURCE is given; drop one of them"
            raise xcomlab.XcomlabError(msg)
        return
    from xcomlab.ingest.airflowconf import airflow_connection

    conn = airflow_connection(args.airflow_home)
    sys.stderr.write(f"xcomlab: reading {conn.describe()}\n")
    args.source = conn.url


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    Any failure the input or the environment causes prints one line on stderr
    (``xcomlab: <source>: <what>; <fix>``) and exits 2; ``--debug`` shows the
    traceback instead. A failure that is xcomlab's own fault exits 1.
    """
    args = _parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        _resolve_source(args)
        return int(args.run(args))
    except BrokenPipeError:  # `xcomlab profile … | head`: the reader left; stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (XcomlabError, FileNotFoundError) as exc:
        if debug:
            raise
        sys.stderr.write(_one_line(exc) + "\n")
        return 2
    except Exception as exc:
        from xcomlab.ingest.failures import translate

        if debug:
            raise
        source = getattr(args, "source", None)
        new = translate(exc, mask_url(str(source)) if source else "xcomlab")
        if new is not None:
            sys.stderr.write(_one_line(new) + "\n")
            return 2
        sys.stderr.write(f"xcomlab: internal error ({type(exc).__name__}: {mask_quoted(str(exc))[:200]}); "
                         "rerun with --debug and report the traceback\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
