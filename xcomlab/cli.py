"""Command line: a thin shell over the public API (``xcomlab profile SOURCE [--json]``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import xcomlab
from xcomlab.errors import XcomlabError

__all__ = ["main"]


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    return xcomlab.load_export(args.source, format=args.format, errors=args.errors,
                               tables=args.tables)


def _profile(args: argparse.Namespace) -> int:
    frame = _load(args)
    if args.json:
        sys.stdout.write(json.dumps(xcomlab.summarize(frame), indent=2) + "\n")
        return 0
    p = xcomlab.profile(frame, top=args.top)
    rep = xcomlab.load_report(frame)
    out = [repr(rep), repr(p), "", "Largest DAGs:", p.by_dag.head(args.top).to_string(), "",
           "Largest keys:", p.by_key.head(args.top).to_string(), "",
           "Largest values:", p.top_rows.to_string()]
    out.extend(f"note: {n}" for n in rep.notes)
    if rep.rejections:
        out.append(f"{len(rep.rejections)} rows rejected; first: {rep.rejections[0].where()}: "
                   f"{rep.rejections[0].detail}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xcomlab", description=xcomlab.__doc__)
    p.add_argument("--version", action="version", version=f"xcomlab {xcomlab.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    prof = sub.add_parser("profile", help="rows and bytes per DAG, task and key")
    prof.add_argument("source", help="export file, directory, or SQLAlchemy URL")
    prof.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    prof.add_argument("--format", choices=xcomlab.ingest.loader.FORMATS, default=None)
    prof.add_argument("--errors", choices=("raise", "collect"), default="raise")
    prof.add_argument("--tables", nargs="*", default=None)
    prof.add_argument("--top", type=int, default=10)
    prof.set_defaults(run=_profile)
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
