"""``python -m xcomlab.synth``: write a synthetic deployment, or the bundled samples."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xcomlab.synth.generate import AIRFLOW_VERSIONS, SynthConfig, generate
from xcomlab.synth.samples import write_samples
from xcomlab.synth.writers import FORMATS, write


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xcomlab.synth", description=__doc__)
    p.add_argument("--samples", metavar="DIR", help="write the bundled samples into DIR and stop")
    p.add_argument("--format", choices=FORMATS, default="psql_csv")
    p.add_argument("--out", help="file, directory (archive_csv*) or SQLAlchemy URL (database)")
    p.add_argument("--truth", metavar="PATH", help="also write the ground truth as JSON")
    p.add_argument("--airflow", choices=AIRFLOW_VERSIONS, default="3.3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dags", type=int, help="default 12, or rows/25,000 with --rows")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--rows", type=int, help="exact number of xcom rows")
    p.add_argument("--max-fan-out", type=int, default=1024)
    p.add_argument("--growth-per-month", type=float, default=0.10)
    p.add_argument("--upgraded-from", choices=["2.10"])
    p.add_argument("--cleaned-before-day", type=int)
    args = p.parse_args(argv)
    if args.samples:
        deps = write_samples(args.samples)
        for name, dep in deps.items():
            print(f"{args.samples}/{name}: {dep.truth['tables']}")
        return 0
    if not args.out:
        p.error("--out is required (or --samples DIR)")
    dags = args.dags or (min(2000, max(12, args.rows // 25_000)) if args.rows else 12)
    cfg = SynthConfig(seed=args.seed, airflow=args.airflow, dags=dags, days=args.days,
                      rows=args.rows, max_fan_out=args.max_fan_out,
                      growth_per_month=args.growth_per_month, upgraded_from=args.upgraded_from,
                      cleaned_before_day=args.cleaned_before_day)
    dep = generate(cfg)
    where = write(dep, args.format, args.out)
    print(f"wrote {dep.rows():,} rows ({', '.join(dep.tables)}) as {args.format} to {where}")
    if args.truth:
        Path(args.truth).write_text(json.dumps(dep.truth, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
