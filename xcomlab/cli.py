"""Command line: a thin shell over the public API.

``xcomlab profile SOURCE [--json]``, ``xcomlab audit SOURCE``, ``xcomlab scan SOURCE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import pandas as pd

import xcomlab
from xcomlab.analysis.audit import check_limits, migration_audit
from xcomlab.analysis.secrets import scan_secrets
from xcomlab.errors import XcomlabError

__all__ = ["main"]


def _load_opts(args: argparse.Namespace) -> dict[str, Any]:
    return {"format": args.format, "errors": args.errors, "tables": args.tables}


def _load(args: argparse.Namespace) -> pd.DataFrame:
    return xcomlab.load_export(args.source, **_load_opts(args))


def _write(text: str) -> int:
    sys.stdout.write(text.rstrip("\n") + "\n")
    return 0


def _profile(args: argparse.Namespace) -> int:
    # One pass: the secret scan sees each value as it streams; the frame keeps none.
    secrets = scan_secrets(args.source, **_load_opts(args))
    frame = secrets.frame
    assert frame is not None
    summary = xcomlab.summarize(frame, secrets=secrets)
    if args.json:
        return _write(json.dumps(summary, indent=2))
    p = xcomlab.profile(frame, top=args.top)
    rep = xcomlab.load_report(frame)
    out = [repr(rep), repr(p), "", "Largest DAGs:", p.by_dag.head(args.top).to_string(), "",
           "Largest keys:", p.by_key.head(args.top).to_string(), "",
           "Largest values:", p.top_rows.to_string(), ""]
    broken = {k: v for k, v in summary["limit_violations"].items() if v}
    out.append(f"Limits: {broken or 'no row over any bundled limit'} (xcomlab audit for details)")
    blockers = {k: v for k, v in summary["migration_blockers"].items() if v}
    if summary["migration_blockers"]:
        out.append(f"Airflow 2 -> 3 upgrade: {blockers or 'nothing in the way'}")
    out.append(f"Secrets: {secrets!r} (xcomlab scan for the masked list)")
    out.extend(f"note: {n}" for n in rep.notes)
    if rep.rejections:
        out.append(f"{len(rep.rejections)} rows rejected; first: {rep.rejections[0].where()}: "
                   f"{rep.rejections[0].detail}")
    return _write("\n".join(out))


def _audit(args: argparse.Namespace) -> int:
    frame = _load(args)
    policy = {f"policy_{args.policy}": args.policy} if args.policy else None
    limits = check_limits(frame, policy_bytes=policy, all_tables=args.all_tables)
    migration = migration_audit(frame, target=args.target, dialect=args.dialect)
    if args.json:
        return _write(json.dumps({
            "limit_violations": limits.counts,
            "violations": json.loads(limits.violations.head(args.top).to_json(orient="records")),
            "migration": {"target": migration.target, "dialect": migration.dialect,
                          "verdict": migration.verdict, "blockers": migration.blockers,
                          "notes": migration.notes},
        }, indent=2))
    cols = ["limit_bytes", "kind", "rows_over", "largest_bytes", "what_happens"]
    out = [repr(limits), limits.summary[cols].to_string(max_colwidth=70), ""]
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


def _source_parser(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    p.add_argument("source", help="export file, directory, or SQLAlchemy URL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--format", choices=xcomlab.ingest.loader.FORMATS, default=None)
    p.add_argument("--errors", choices=("raise", "collect"), default="raise")
    p.add_argument("--tables", nargs="*", default=None)
    p.add_argument("--top", type=int, default=10)
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xcomlab", description=xcomlab.__doc__)
    p.add_argument("--version", action="version", version=f"xcomlab {xcomlab.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _source_parser(sub, "profile", "rows and bytes per DAG, task and key").set_defaults(run=_profile)
    audit = _source_parser(sub, "audit", "rows over hard limits and policies; the 2 -> 3 upgrade check")
    audit.add_argument("--target", default="3.3.2", help="Airflow 3 release to upgrade to")
    audit.add_argument("--dialect", default="postgresql", choices=("postgresql", "mysql", "sqlite"))
    audit.add_argument("--policy", type=int, default=None, help="your own threshold in bytes")
    audit.add_argument("--all-tables", action="store_true", help="also check archive tables")
    audit.set_defaults(run=_audit)
    _source_parser(sub, "scan", "values that look like credentials (masked)").set_defaults(run=_scan)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with a one-line reason)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (XcomlabError, FileNotFoundError) as exc:
        sys.stderr.write(f"xcomlab: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
