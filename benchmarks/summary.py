"""Summary benchmark: ``summarize_file`` (streamed, no frame) against DuckDB on one CSV export.

Usage::

    python -m benchmarks.summary [--rows N] [--path FILE] [--keep] [--repeat R]

Default 200,000 rows (seconds); ``--rows 5000000`` is the real one (issue 13). The export is
written by ``python -m xcomlab.synth`` as ``psql \\copy … csv header`` of Airflow 3.3 (cached
with the ingest benchmark's exports in ``$TMPDIR/xcomlab-bench``). Each contender runs in its
own process, one after the other (peak RSS from ``os.wait4`` is that process's own), and
computes rows and stored value bytes per ``dag_id``:

``summary``
    :func:`xcomlab.summary.summarize_file` — batches streamed into per-batch summaries and
    merged (keys, size buckets, days, runs, classes, threshold counts, largest rows, mapped
    fan-out), values fetched: the secret scan (RE2 prefilter over each batch's Arrow value
    column) and the value sample included; per-DAG totals read from the summary.
``sizes``
    the same without values (``secrets=False, sample=False``): sizes and ids only.
``frame``
    ``load_export`` + :func:`xcomlab.summary.summarize_frame` (the whole frame first).
``cli``
    the whole process ``xcomlab profile FILE --summary --json``: interpreter start, imports
    and JSON output included (wall time of the process).
``duckdb``
    the baseline: ``read_csv`` (every column VARCHAR) + ``octet_length`` + ``GROUP BY dag_id``
    (as in :mod:`benchmarks.ingest`).

The run exits 1 unless every contender finds the same rows and bytes for every DAG.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest import (
    _CACHE,
    Result,
    _best,
    _check_totals,
    _clean,
    _export,
    _mib,
    _repo_root,
    _warm,
)

__all__ = ["CONTENDERS", "main"]

CONTENDERS = ("summary", "sizes", "frame", "cli", "duckdb")
Totals = dict[str, tuple[int, int]]


def _run_summary(path: str) -> tuple[Totals, int]:
    from xcomlab.summary import summarize_file

    s = summarize_file(path, format="csv")
    g = s.keys.groupby(level="dag_id")[["rows", "value_bytes"]].sum()
    return {str(k): (int(r.rows), int(r.value_bytes)) for k, r in g.iterrows()}, s.rows


def _run_sizes(path: str) -> tuple[Totals, int]:
    from xcomlab.summary import summarize_file

    s = summarize_file(path, format="csv", secrets=False, sample=False)
    g = s.keys.groupby(level="dag_id")[["rows", "value_bytes"]].sum()
    return {str(k): (int(r.rows), int(r.value_bytes)) for k, r in g.iterrows()}, s.rows


def _run_frame(path: str) -> tuple[Totals, int]:
    import xcomlab
    from xcomlab.summary import summarize_frame

    s = summarize_frame(xcomlab.load_export(path, format="csv"))
    g = s.keys.groupby(level="dag_id")[["rows", "value_bytes"]].sum()
    return {str(k): (int(r.rows), int(r.value_bytes)) for k, r in g.iterrows()}, s.rows


def _run_duckdb(path: str) -> tuple[Totals, int]:
    from benchmarks.ingest import _run_duckdb as ingest_duckdb

    totals, rows, _ = ingest_duckdb(path, "3.3")
    return totals, rows


_RUNNERS = {"summary": _run_summary, "sizes": _run_sizes, "frame": _run_frame, "duckdb": _run_duckdb}


def _child(name: str, path: str, out: str) -> int:
    if name == "duckdb":
        import duckdb  # noqa: F401
    else:
        import pandas  # noqa: F401

        import xcomlab.summary  # noqa: F401
    t0 = time.perf_counter()
    totals, rows = _RUNNERS[name](path)
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows,
                                     "totals": totals}))
    return 0


def _wait(cmd: list[str]) -> tuple[int, Any, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=_repo_root(), stdout=subprocess.PIPE if "--summary" in cmd else None)
    stdout = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed with {os.waitstatus_to_exitcode(status)}")
    return status, (usage, stdout), wall


def _measure(name: str, path: Path, workdir: Path) -> Result:
    if name == "cli":
        code = "import sys; from xcomlab.cli import main; sys.exit(main(sys.argv[1:]))"
        _, (usage, stdout), wall = _wait([sys.executable, "-c", code, "profile", str(path),
                                          "--format", "csv", "--summary", "--json"])
        doc = json.loads(stdout)
        totals = {d: (int(v["rows"]), int(v["value_bytes"])) for d, v in doc["by_dag"].items()}
        return Result(name, int(doc["rows"]), wall, usage.ru_maxrss * 1024,
                      usage.ru_utime + usage.ru_stime, totals)
    out = workdir / f"{name}-{os.getpid()}.json"
    _, (usage, _), _ = _wait([sys.executable, "-m", "benchmarks.summary", "--contender", name,
                              "--path", str(path), "--result", str(out)])
    data = json.loads(out.read_text())
    out.unlink()
    return Result(name, int(data["rows"]), float(data["seconds"]), usage.ru_maxrss * 1024,
                  usage.ru_utime + usage.ru_stime,
                  {k: (int(v[0]), int(v[1])) for k, v in data["totals"].items()})


def _table(results: list[Result], base: Result) -> list[str]:
    lines = [f"{'contender':<9} {'seconds':>8} {'time/duckdb':>12} {'peak RSS MiB':>13} "
             f"{'RSS/duckdb':>11} {'CPU s':>7}"]
    for r in results:
        lines.append(f"{r.name:<9} {r.seconds:>8.2f} {r.seconds / base.seconds:>11.2f}x "
                     f"{_mib(r.peak_rss):>13.0f} {r.peak_rss / base.peak_rss:>10.2f}x "
                     f"{r.cpu_seconds:>7.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.summary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--path", help="reuse this Airflow 3 psql CSV export instead of generating one")
    p.add_argument("--keep", action="store_true", help="keep the generated export")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender (best time kept)")
    p.add_argument("--only", nargs="*", choices=CONTENDERS, default=None,
                   help="run these contenders (duckdb always runs)")
    p.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.contender:
        return _child(args.contender, args.path, args.result)

    _CACHE.mkdir(exist_ok=True)
    workdir = _CACHE if args.keep else Path(tempfile.mkdtemp(prefix="sum-", dir=_CACHE))
    made: list[Path] = []
    try:
        path = Path(args.path) if args.path else _export(args.rows, "3.3", workdir, made)
        names = [c for c in CONTENDERS if args.only is None or c in args.only or c == "duckdb"]
        print(f"summary benchmark: {path} ({_mib(path.stat().st_size):,.0f} MiB), "
              f"{os.cpu_count()} CPUs, repeat {args.repeat}")
        _warm(path)
        runs: dict[str, list[Result]] = {n: [] for n in names}
        for _ in range(args.repeat):
            for n in names:
                runs[n].append(_measure(n, path, workdir))
        results = [_best(runs[n]) for n in names]
        base = next(r for r in results if r.name == "duckdb")
        lines = _table(results, base) + _check_totals(results)
        for r in results:
            if r.name != "duckdb":
                lines.append(f"ratio {r.name}/duckdb time: {r.seconds / base.seconds:.2f}x")
        print("\n".join(lines))
    finally:
        if not args.keep:
            _clean(made, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
