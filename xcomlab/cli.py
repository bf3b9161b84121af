"""Command line: a thin shell over the public API.

``xcomlab profile SOURCE [--json]``, ``xcomlab audit SOURCE``, ``xcomlab scan SOURCE``,
``xcomlab forecast SOURCE [--horizon DAYS] [--ceiling 20GB ...] [--by-dag] [--max-age DAYS]``,
``xcomlab retention SOURCE [--max-age DAYS] [--keep-last N] [--dag-max-age DAG=DAYS]``,
``xcomlab recommend SOURCE [--object-stores s3,gcs] [--db-ceiling 20GB] [--latency-budget-ms N]
[--price s3.put=0.004] [--prices FILE]``, ``xcomlab report SOURCE [-o report.html]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xcomlab
from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.errors import ParameterError, XcomlabError, mask_quoted, mask_url

#: What the `lab` extra installs that the commands need (the base install is the backend only).
LAB_MODULES = ("pandas", "numpy", "pyarrow", "matplotlib", "tqdm")
try:
    import pandas as pd

    from xcomlab.analysis.audit import check_limits, migration_audit
    from xcomlab.analysis.disk import disk_ratio, scope_label
    from xcomlab.analysis.forecast import forecast
    from xcomlab.analysis.retention import KeyRule, RetentionPolicy, retention
    from xcomlab.analysis.secrets import scan_secrets
    from xcomlab.ingest.deployment import Deployment, infer_deployment
    from xcomlab.models.cost import Prices, load_prices
    from xcomlab.recommend import DEFAULT_DB, recommend
except ModuleNotFoundError as _exc:
    if (_exc.name or "").split(".")[0] not in LAB_MODULES:
        raise
    _msg = (f"xcomlab: the command line needs the toolkit, which this install lacks "
            f"({_exc.name} is missing): pip install 'xcomlab[lab]'")
    raise SystemExit(_msg) from None

__all__ = ["main"]


def _load_opts(args: argparse.Namespace) -> dict[str, Any]:
    return {"format": args.format, "errors": args.errors, "tables": args.tables}


def _load(args: argparse.Namespace) -> pd.DataFrame:
    return xcomlab.load_export(args.source, **_load_opts(args))


def _deployment(args: argparse.Namespace, frame: pd.DataFrame) -> Deployment:
    """What the source says, overridden by ``--dialect`` / ``--airflow``; sets ``args.dialect``."""
    dep = infer_deployment(frame, dialect=args.dialect, airflow=args.airflow)
    args.dialect = dep.dialect_or_default
    return dep


def _measured(args: argparse.Namespace, frame: pd.DataFrame) -> dict[str, Any] | None:
    """Sizes the connected database reports, beside the model (a database URL only; None otherwise)."""
    if not isinstance(args.source, str) or "://" not in args.source:
        return None
    from xcomlab.analysis.measured import measured_summary
    from xcomlab.ingest.dbsize import measure_sizes

    return measured_summary(frame, measure_sizes(args.source))


def _write(text: str) -> int:
    sys.stdout.write(text.rstrip("\n") + "\n")
    return 0


def _profile(args: argparse.Namespace) -> int:
    # One pass: the secret scan sees each value as it streams; the frame keeps none.
    secrets = scan_secrets(args.source, **_load_opts(args))
    frame = secrets.frame
    assert frame is not None
    dep = _deployment(args, frame)
    summary = xcomlab.summarize(frame, secrets=secrets, dialect=dep.dialect, airflow=dep.airflow)
    summary["measured_on_disk"] = _measured(args, frame)
    if args.json:
        return _write(json.dumps(summary, indent=2))
    p = xcomlab.profile(frame, top=args.top)
    rep = xcomlab.load_report(frame)
    out = [repr(rep), f"Deployment: {dep.describe()}", repr(p), "", "Largest DAGs:", p.by_dag.head(args.top).to_string(), "",
           "Largest keys:", p.by_key.head(args.top).to_string(), "",
           "Largest values:", p.top_rows.to_string(), ""]
    broken = {k: v for k, v in summary["limit_violations_here"].items() if v}
    out.append(f"Limits here: {broken or 'no row over a limit of this deployment'} (xcomlab audit for details)")
    elsewhere = {k: v for k, v in summary["limit_violations"].items()
                 if v and k not in summary["limit_violations_here"]}
    if elsewhere:
        out.append(f"If you moved to another database or release: {elsewhere}")
    blockers = {k: v for k, v in summary["migration_blockers"].items() if v}
    if summary["migration_blockers"]:
        out.append(f"Airflow 2 -> 3 upgrade: {blockers or 'nothing in the way'}")
    out.append(f"Secrets: {secrets!r} (xcomlab scan for the masked list)")
    scope = summary["on_disk_scope"]
    for key in ("on_disk_bytes", "on_disk_bytes_all_tables"):
        sizes = ", ".join(f"{d} {b:,} B" for d, b in summary[key].items())
        out.append(f"On disk, modelled ({scope[key]}): {sizes}")
    if (m := summary["measured_on_disk"]) is not None:
        for c in m["comparison"][:2]:
            err = "–" if c["error_pct"] is None else f"{c['error_pct']:+.1f}%"
            shown = "–" if c["measured_bytes"] is None else f"{c['measured_bytes']:,} B"
            out.append(f"On disk, measured ({c['scope']}, {m['dialect']} {m['method']}): {shown}; "
                       f"model {c['modelled_bytes']:,} B ({err})")
        out.extend(f"note: {n}" for n in m["notes"])
    out.extend(f"note: {n}" for n in rep.notes)
    if rep.rejections:
        out.append(f"{len(rep.rejections)} rows rejected; first: {rep.rejections[0].where()}: "
                   f"{mask_quoted(rep.rejections[0].detail)}")
    return _write("\n".join(out))


def _audit(args: argparse.Namespace) -> int:
    frame = _load(args)
    dep = _deployment(args, frame)
    policy = {f"policy_{args.policy}": args.policy} if args.policy else None
    limits = check_limits(frame, policy_bytes=policy, all_tables=args.all_tables, dialect=dep.dialect,
                          airflow=dep.airflow)
    migration = migration_audit(frame, target=args.target, dialect=args.dialect)
    if args.json:
        return _write(json.dumps({
            "deployment": dep.as_dict(),
            "limit_violations": limits.counts,
            "limit_violations_here": {k: v for k, v in limits.counts.items() if limits.summary.loc[k, "applies"]},
            "violations": json.loads(limits.violations.head(args.top).to_json(orient="records")),
            "migration": {"target": migration.target, "dialect": migration.dialect,
                          "verdict": migration.verdict, "blockers": migration.blockers,
                          "notes": migration.notes},
        }, indent=2))
    cols = ["limit_bytes", "kind", "applies", "rows_over", "largest_bytes", "what_happens"]
    table = limits.summary.sort_values("applies", ascending=False, kind="stable")[cols]
    table = table.assign(applies=table["applies"].map({True: "here", False: "if you moved"}))
    out = [f"Deployment: {dep.describe()}", repr(limits), table.to_string(max_colwidth=70), ""]
    if len(limits.violations):
        out += ["Largest offending rows:", limits.violations.head(args.top).to_string(), ""]
    out.append(repr(migration))
    if len(migration.summary):
        out.append(migration.summary.to_string(max_colwidth=90))
    out.extend(f"note: {n}" for n in migration.notes)
    return _write("\n".join(out))


def _scan(args: argparse.Namespace) -> int:
    report = scan_secrets(args.source, **_load_opts(args))
    if args.json:
        return _write(json.dumps({"rows_scanned": report.rows_scanned,
                                  "rows_flagged": report.rows_flagged, "by_kind": report.by_kind,
                                  "findings": json.loads(report.findings.to_json(orient="records"))},
                                 indent=2))
    out = [repr(report)]
    if len(report.findings):
        out.append(report.findings.to_string(index=False, max_colwidth=60))
    return _write("\n".join(out))


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _size(text: str) -> tuple[str, float]:
    """``"20GB"`` → ``("20GB", 2e10)``; decimal (kB, MB, GB, TB) and binary (KiB ... TiB) units."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        msg = f"ceiling {text!r}: expected a size such as 20GB, 50GiB or 1500000000"
        raise argparse.ArgumentTypeError(msg)
    return text.strip(), float(m.group(1)) * _UNITS[m.group(2).lower()]


def _disk_ratio(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[float, str]:
    """On-disk bytes per logical byte: ``--disk-ratio``, else the disk model when installed."""
    if args.disk_ratio is not None:
        return args.disk_ratio, "given"
    m = _measured(args, frame)
    if m is not None and m["disk_ratio"] and m["dialect"] == args.dialect:
        return float(m["disk_ratio"]), f"{args.dialect} measured ({m['method']}), {scope_label(('xcom',))}"
    return float(disk_ratio(frame, args.dialect)), f"{args.dialect} on-disk model, {scope_label(('xcom',))}"


def _forecast(args: argparse.Namespace) -> int:
    frame = _load(args)
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
        return _write(json.dumps({
            "now": fc.now.isoformat(), "current_bytes": fc.current_bytes,
            "start_bytes": fc.start_bytes, "retention": policy is not None, "disk_ratio": ratio,
            "disk_ratio_source": how, "horizon_days": args.horizon,
            "growth_per_month": _num(fc.fit["growth_per_month"].iloc[0]),
            "fit": json.loads(fc.fit.reset_index().to_json(orient="records", date_format="iso")),
            "thresholds": json.loads(ttt.reset_index().to_json(orient="records")),
            "projection": json.loads(points.reset_index().to_json(orient="records", date_format="iso")),
            "notes": fc.notes,
        }, indent=2))
    out = [repr(fc), f"on-disk ratio {ratio:.3g} ({how})", "", "Time to ceilings (on-disk):",
           ttt.to_string(), "", "Table size ahead (value bytes):", points.to_string(), "",
           "Fit:", fc.fit.head(args.top + 1).to_string()]
    out.extend(f"note: {n}" for n in fc.notes)
    return _write("\n".join(out))


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
    frame = _load(args)
    _deployment(args, frame)
    ratio, how = _disk_ratio(frame, args)
    policy = _policy(args)
    assert policy is not None
    rep = retention(frame, policy, now=args.now, disk_ratio=ratio)
    if args.json:
        return _write(json.dumps({
            "now": rep.now.isoformat(), "disk_ratio": ratio, "disk_ratio_source": how,
            "totals": {k: _num(v) if isinstance(v, float) else v for k, v in rep.totals.items()},
            "by_dag": json.loads(rep.by_dag.reset_index().to_json(orient="records")),
            "db_clean_command": rep.db_clean_command, "limitations": rep.limitations,
        }, indent=2))
    t = rep.totals
    out = [repr(rep), f"on disk (ratio {ratio:.3g}, {how}): frees {t['on_disk_bytes_freed']:,.0f} bytes; "
           f"steady state {t['steady_state_on_disk_bytes']:,.0f} bytes", "",
           rep.by_dag.head(args.top).to_string(float_format=lambda x: f"{x:,.0f}"), ""]
    out.append("Equivalent command:" if rep.db_clean_command else "No equivalent airflow db clean command.")
    if rep.db_clean_command:
        out.append(rep.db_clean_command)
    out.extend(f"note: {n}" for n in rep.limitations)
    return _write("\n".join(out))


def _prices(args: argparse.Namespace) -> Any:
    """A :class:`~xcomlab.models.cost.Prices` from ``--prices FILE`` and ``--price K=V``, or None."""
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
    frame = xcomlab.load_export(args.source, keep_values=args.keep_values, **_load_opts(args))
    _deployment(args, frame)
    stores = tuple(s.strip() for s in args.object_stores.split(",") if s.strip())
    rec = recommend(frame, dialect=args.dialect, object_stores=stores, prices=_prices(args),
                    db_ceiling_bytes=args.db_ceiling[1] if args.db_ceiling else None,
                    latency_budget_ms=args.latency_budget_ms, horizon_days=args.horizon,
                    retention_days=args.retention_days, object_base=args.object_base, rng=args.seed)
    table = rec.table
    if args.json:
        records = json.loads(table.reset_index().to_json(orient="records"))
        return _write(json.dumps({"best": rec.best.name, "reason": rec.reason, "settings": rec.settings,
                                  "pareto": [str(n) for n in rec.pareto.index], "notes": rec.notes,
                                  "candidates": records}, indent=2))
    cols = ["kind", "monthly_cost_usd", "push_p50_ms", "push_p99_ms", "pull_p50_ms", "pull_p99_ms",
            "peak_db_bytes", "offloaded_share", "violations", "pareto"]
    shown = table[cols]
    fmt = {"monthly_cost_usd": lambda x: f"${x:,.4g}", "peak_db_bytes": lambda x: f"{x / 2**20:,.1f} MiB",
           "offloaded_share": lambda x: f"{x:.1%}", "pareto": lambda x: "yes" if x else "",
           **{c: (lambda x: f"{x:,.1f}") for c in cols if c.endswith("_ms")}}
    out = [f"Recommended: {rec.best.name}", rec.reason, "", shown.to_string(formatters=fmt), ""]
    for group, env in rec.settings.items():
        if env:
            out += [f"Settings ({group}):", *(f"  {k}={v}" for k, v in env.items())]
    if not any(rec.settings.values()):
        out.append("Settings: none needed: keep Airflow's default XCom backend.")
    out.extend(f"note: {n}" for n in rec.notes)
    return _write("\n".join(out))


def _report(args: argparse.Namespace) -> int:
    from xcomlab.report import write_report  # imported on use: it loads matplotlib

    ceilings = dict(args.ceiling) if args.ceiling else DEFAULT_CEILINGS
    policy = _policy(args, required=False)
    path = write_report(args.source, args.output, load_options={**_load_opts(args),
                                                                "keep_values": args.keep_values},
                        title=args.title, retention_policy=policy, ceilings=ceilings,
                        dialect=args.dialect, airflow=args.airflow,
                        now=None if args.no_timestamp else datetime.now(UTC),
                        to=args.to, figures=not args.no_figures)
    size = path.stat().st_size
    if args.json:
        return _write(json.dumps({"path": str(path.resolve()), "bytes": size}))
    return _write(f"wrote {path} ({size / 1024:,.0f} KiB); open file://{path.resolve()}")


def _source_parser(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    p.add_argument("source", nargs="?", default=None,
                   help="export file, directory, or database URL (postgresql://, mysql://, "
                        "sqlite:///); default: the database Airflow's own configuration names "
                        "(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, its _CMD form, airflow.cfg)")
    p.add_argument("--airflow-home", default=None, metavar="DIR",
                   help="read the connection from DIR/airflow.cfg when no SOURCE is given "
                        "(default: $AIRFLOW_HOME or ~/airflow)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--format", choices=xcomlab.ingest.loader.FORMATS, default=None,
                   help="export format (default: guessed from the name and first bytes)")
    p.add_argument("--errors", choices=("raise", "collect"), default="raise",
                   help="on a malformed row: stop (raise, the default) or load the good rows "
                        "and count the rest (collect)")
    p.add_argument("--tables", nargs="*", default=None, metavar="TABLE",
                   help="xcom tables to read (default: all: xcom, _xcom_archive, "
                        "_airflow_deleted__xcom__*)")
    p.add_argument("--top", type=int, default=10, help="rows per table shown (default 10)")
    p.add_argument("--dialect", default=None, choices=("postgresql", "mysql", "sqlite"),
                   help="database the sizes, limits and backends refer to (default: what the source "
                        "says: an airflow.db is sqlite, a pg_dump postgresql, a URL names itself; "
                        "postgresql when it does not say)")
    p.add_argument("--airflow", default=None, metavar="RELEASE",
                   help="Airflow release of the deployment, e.g. 2.8 or 3.3 (default: from the "
                        "detected schema)")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the full traceback instead of one line")
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xcomlab", description=xcomlab.__doc__)
    p.add_argument("--version", action="version", version=f"xcomlab {xcomlab.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _source_parser(sub, "profile", "rows and bytes per DAG, task and key").set_defaults(run=_profile)
    audit = _source_parser(sub, "audit", "rows over hard limits and policies; the 2 -> 3 upgrade check")
    audit.add_argument("--target", default="3.3.2", help="Airflow 3 release to upgrade to")
    audit.add_argument("--policy", type=int, default=None, help="your own threshold in bytes")
    audit.add_argument("--all-tables", action="store_true", help="also check archive tables")
    audit.set_defaults(run=_audit)
    _source_parser(sub, "scan", "values that look like credentials (masked)").set_defaults(run=_scan)
    fc = _disk_options(_source_parser(sub, "forecast", "growth and time to ceilings (20 GB, 50 GiB, yours)"))
    fc.add_argument("--horizon", type=int, default=180, help="days to project (default 180)")
    fc.add_argument("--ceiling", type=_size, action="append", default=None,
                    help="on-disk ceiling, e.g. 20GB or 50GiB (repeatable; default both)")
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
                     help="largest acceptable metadata DB, e.g. 20GB (Cloud Composer) or 50GiB")
    rec.add_argument("--latency-budget-ms", type=float, default=None,
                     help="largest acceptable p99 push and pull time (ms)")
    rec.add_argument("--price", action="append", default=None, metavar="SERVICE.ITEM=USD",
                     help="override one price in its unit, e.g. s3.put=0.004 (repeatable)")
    rec.add_argument("--prices", default=None, metavar="FILE",
                     help="your own price table (columns of xcomlab/data/pricing.csv)")
    rec.add_argument("--horizon", type=int, default=30, help="days of growth to size the DB for")
    rec.add_argument("--retention-days", type=float, default=None,
                     help="size the DB at the steady state of this retention instead")
    rec.add_argument("--object-base", default=None, help="your object-store URL for the settings")
    rec.add_argument("--keep-values", action="store_true",
                     help="read values to measure their compression (more memory)")
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
    rep.add_argument("--title", default=None)
    rep.add_argument("--ceiling", type=_size, action="append", default=None,
                     help="on-disk ceiling, e.g. 20GB or 50GiB (repeatable; default both)")
    rep.add_argument("--keep-values", action="store_true",
                     help="keep values in memory so the backend comparison measures compression")
    rep.add_argument("--no-timestamp", action="store_true",
                     help="leave the generation time out (byte-identical reruns)")
    rep.set_defaults(run=_report)


def _policy_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--max-age", type=float, default=None, help="remove rows older than DAYS")
    p.add_argument("--keep-last", type=int, default=None, help="keep the N latest runs per DAG")
    p.add_argument("--dag-max-age", nargs="*", default=None, metavar="DAG=DAYS",
                   help="per-DAG age overrides")
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
