"""Scale benchmark (issue 13): ``xcomlab profile --json`` and ``xcomlab report`` as whole processes.

Usage::

    python -m benchmarks.scale [--rows N] [--shape generator|quotes|long|many_dags|mixed]
                               [--path FILE] [--repeat R] [--no-report] [--keep] [--jobs 1 2]
    python -m benchmarks.scale --rows 100000000 [--compare-to SECONDS | --compare-rows 5000000]
    python -m benchmarks.scale --equality [--rows N] [--shape mixed]

**Benchmark 1** (default, 5M rows). An Airflow 3.3 ``psql \\copy … csv header`` export of
``--rows`` rows in the chosen shape (``generator``: ``python -m xcomlab.synth``; the others:
:mod:`benchmarks.shapes`, written by DuckDB ``COPY … TO``) is read by three processes, one after
the other, each timed as a whole (interpreter start and imports included; peak RSS and CPU
from ``os.wait4``, so each figure is that process's own):

``profile``
    ``python -m xcomlab profile FILE --format csv --json`` (the secret scan included),
    whatever that command is when the benchmark runs.
    With ``--jobs 1 2`` it runs once per count as ``profile-j1``, ``profile-j2``
    (``profile … --jobs N``: N processes over shards of the file), back to back in the same
    run, and prints each one's ratio to DuckDB (the goal is judged on the first).
``report``
    ``python -m xcomlab report FILE --format csv -o report.html``.
``duckdb``
    the named baseline: one query computing rows and stored value bytes (``octet_length``) per
    ``dag_id`` and the rows the secret prefilter selects, ``regexp_matches(value, _PREFILTER)``
    with the very pattern of :mod:`xcomlab.analysis.secrets` (imported, so it stays in sync).

The run exits 1 unless the per-DAG rows and bytes of ``profile --json`` equal DuckDB's. The
prefilter count is compared when the JSON exposes one (a key naming ``prefilter``, or
``secrets.candidates``); otherwise the output says it is not exposed. Goals (issue 13):
profile ≤ 1.5× DuckDB's time and ≤ 1 GB peak RSS; report ≤ 3× the profile's time.

**Benchmark 2** (``--rows`` ≥ 50M; on demand, never in CI): a ``mixed`` export (~260 B per
row, ~26 GB at 100M rows) streamed to disk by DuckDB, then ``profile`` only. Goals: peak RSS
≤ 1.5 GB, time ≤ 25× the 5M time (``--compare-to SECONDS``, or ``--compare-rows 5000000`` to
measure the same shape at 5M in the same run). Refuses to start with less than 40 GB free.

**Benchmark 4** (``--equality``): the same data as psql CSV, plain pg_dump, SQLite
``airflow.db``, Parquet and a live PostgreSQL table must give the same summary
(:mod:`benchmarks.equality`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest import _CACHE, Result, _best, _clean, _export, _mib, _repo_root, _warm
from benchmarks.shapes import SHAPES, planted_secrets, write_shape

__all__ = ["ALL_SHAPES", "main"]

ALL_SHAPES = ("generator", *SHAPES)
#: Goals of issue 13.
GOAL_PROFILE_RATIO = 1.5
GOAL_PROFILE_RSS = 10**9
GOAL_REPORT_RATIO = 3.0
GOAL_BIG_RSS = 1.5e9
GOAL_BIG_RATIO = 25.0
#: From this many rows on, the run is benchmark 2 (profile only, DuckDB-written input).
BIG_ROWS = 50_000_000
MIN_FREE_BIG = 40 * 10**9
#: File bytes per row of each shape (measured at 200k rows), to check disk space first.
_BYTES_PER_ROW = {"generator": 310, "quotes": 310, "long": 1_600, "many_dags": 250, "mixed": 265}
_MAX_LINE = 1 << 26  # DuckDB's read_csv refuses lines over 2 MB by default; values go to 5 MB
Totals = dict[str, tuple[int, int]]


# --------------------------------------------------------------------------- the baseline


def duckdb_query(path: str) -> tuple[Totals, int]:
    """Per-DAG (rows, value bytes) and the rows the secret prefilter selects, by DuckDB."""
    import duckdb

    from xcomlab.analysis.secrets import _PREFILTER

    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT dag_id, count(*), sum(octet_length(encode(value))),
               count(*) FILTER (WHERE regexp_matches(value, $re))
        FROM read_csv($path, header = true, all_varchar = true, quote = '"', escape = '"',
                      delim = ',', nullstr = '', parallel = true, max_line_size = {_MAX_LINE})
        GROUP BY dag_id""", {"re": _PREFILTER, "path": path}).fetchall()
    totals = {str(d): (int(n), int(b or 0)) for d, n, b, _ in rows}
    return totals, sum(int(c) for *_, c in rows)


def _child(path: str, out: str) -> int:
    import duckdb  # noqa: F401

    t0 = time.perf_counter()
    totals, candidates = duckdb_query(path)
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - t0, "totals": totals,
                                     "candidates": candidates}))
    return 0


# --------------------------------------------------------------------------- processes


def _run(cmd: list[str], stdout: Path | None = None,
         timeout: float | None = None) -> tuple[float, Any, bool]:
    """Run ``cmd`` from the repository root: its wall time, its own rusage, and whether it was
    killed at ``timeout`` seconds."""
    t0 = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=_repo_root(), stdout=out)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer is not None:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
        if timer is not None:
            timer.cancel()
    wall = time.perf_counter() - t0
    killed = timeout is not None and wall >= timeout and proc.returncode < 0
    if proc.returncode != 0 and not killed:
        raise SystemExit(f"{' '.join(cmd[1:5])} … failed with exit code {proc.returncode}")
    return wall, usage, killed


def _result(name: str, rows: int, wall: float, usage: Any, totals: Totals) -> Result:
    return Result(name, rows, wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, totals)


def measure(name: str, path: Path, workdir: Path,
            timeout: float | None = None) -> tuple[Result, dict[str, Any]]:
    """One whole process of contender ``name`` on ``path``; its result and what it printed
    (the report: ``killed`` when it ran out of ``timeout`` seconds)."""
    cli = [sys.executable, "-m", "xcomlab"]
    out = workdir / f"{name}-{os.getpid()}.out"
    try:
        if name.startswith("profile"):
            jobs = ["--jobs", name.removeprefix("profile-j")] if name.startswith("profile-j") else []
            wall, usage, _ = _run([*cli, "profile", str(path), "--format", "csv", "--json", *jobs], out)
            doc = json.loads(out.read_text())
            totals = {d: (int(v["rows"]), int(v["value_bytes"])) for d, v in doc["by_dag"].items()}
            return _result(name, int(doc["rows"]), wall, usage, totals), doc
        if name == "report":
            html = workdir / "report.html"
            wall, usage, killed = _run([*cli, "report", str(path), "--format", "csv", "-o",
                                        str(html), "--no-timestamp"], timeout=timeout)
            size = 0 if killed else html.stat().st_size
            html.unlink(missing_ok=True)
            return _result(name, 0, wall, usage, {}), {"bytes": size, "killed": killed}
        wall, usage, _ = _run([sys.executable, "-m", "benchmarks.scale", "--contender", "duckdb",
                            "--path", str(path), "--result", str(out)])
        data = json.loads(out.read_text())
        totals = {k: (int(v[0]), int(v[1])) for k, v in data["totals"].items()}
        rows = sum(n for n, _ in totals.values())
        return _result(name, rows, wall, usage, totals), data
    finally:
        out.unlink(missing_ok=True)


# --------------------------------------------------------------------------- checks


def prefilter_count(doc: Any, where: str = "") -> tuple[str, int] | None:
    """The secret-prefilter row count ``profile --json`` exposes, and where: a key naming
    ``prefilter`` anywhere, or ``secrets.candidates``; None when there is none."""
    if not isinstance(doc, dict):
        return None
    for k, v in doc.items():
        here = f"{where}.{k}" if where else k
        if isinstance(v, int) and not isinstance(v, bool) and (
                "prefilter" in k or (k == "candidates" and where.endswith("secrets"))):
            return here, v
        if isinstance(v, dict) and (found := prefilter_count(v, here)) is not None:
            return found
    return None


def agreement(profile: Result, doc: dict[str, Any], base: Result, candidates: int) -> list[str]:
    """Exit 1 unless per-DAG rows and bytes agree; compare the prefilter count when exposed."""
    if profile.totals != base.totals:
        diff = sorted(d for d in set(profile.totals) | set(base.totals)
                      if profile.totals.get(d) != base.totals.get(d))
        shown = {d: (profile.totals.get(d), base.totals.get(d)) for d in diff[:5]}
        raise SystemExit(f"TOTALS DISAGREE: profile vs duckdb differ on {len(diff)} DAGs, "
                         f"e.g. (profile, duckdb) {shown}")
    rows = sum(n for n, _ in base.totals.values())
    nbytes = sum(b for _, b in base.totals.values())
    lines = [f"totals agree (profile, duckdb): {len(base.totals):,} DAGs, {rows:,} rows, "
             f"{nbytes:,} value bytes"]
    found = prefilter_count(doc)
    if found is None:
        lines.append(f"prefilter: duckdb {candidates:,} candidate rows; xcomlab's profile --json "
                     "does not expose a prefilter count, not compared")
    elif found[1] != candidates:
        raise SystemExit(f"PREFILTER DISAGREES: profile {found[0]} = {found[1]:,}, "
                         f"duckdb {candidates:,}")
    else:
        lines.append(f"prefilter agrees: {candidates:,} candidate rows ({found[0]})")
    return lines


def _goal(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _table(results: list[Result], base: Result) -> list[str]:
    lines = [f"{'contender':<10} {'seconds':>8} {'/duckdb':>8} {'peak RSS MiB':>13} {'CPU s':>8}"]
    for r in results:
        lines.append(f"{r.name:<10} {r.seconds:>8.2f} {r.seconds / base.seconds:>7.2f}x "
                     f"{_mib(r.peak_rss):>13,.0f} {r.cpu_seconds:>8.2f}")
    return lines


def goals(by: dict[str, Result], report_killed: bool = False, profile: str = "profile") -> list[str]:
    p, d = by[profile], by["duckdb"]
    ratio = p.seconds / d.seconds
    others = [n for n in by if n.startswith("profile-j") and n != profile]
    lines = [*(f"ratio {n}/duckdb time: {by[n].seconds / d.seconds:.2f}x; CPU "
               f"{by[n].cpu_seconds / d.cpu_seconds:.2f}x; peak RSS {by[n].peak_rss / 1e9:.2f} GB"
               for n in others),
             f"ratio {profile}/duckdb time: {ratio:.2f}x (goal <= {GOAL_PROFILE_RATIO}x: "
             f"{_goal(ratio <= GOAL_PROFILE_RATIO)})",
             f"profile peak RSS: {p.peak_rss / 1e9:.2f} GB (goal <= 1 GB: "
             f"{_goal(p.peak_rss <= GOAL_PROFILE_RSS)})",
             f"ratio {profile}/duckdb CPU: {p.cpu_seconds / d.cpu_seconds:.2f}x"]
    if "report" in by:
        r = by["report"].seconds / p.seconds
        if report_killed:
            lines.append(f"report: killed after {by['report'].seconds:.0f} s (--report-timeout); "
                         "the ratio below is a lower bound")
        met = ("UNKNOWN, killed" if report_killed and r <= GOAL_REPORT_RATIO
               else _goal(r <= GOAL_REPORT_RATIO))
        lines.append(f"ratio report/profile time: {r:.2f}x (goal <= {GOAL_REPORT_RATIO}x: "
                     f"{met}); report peak RSS "
                     f"{by['report'].peak_rss / 1e9:.2f} GB")
    return lines


# --------------------------------------------------------------------------- inputs


def _check_disk(where: Path, rows: int, shape: str) -> None:
    free = shutil.disk_usage(where).free
    need = int(rows * _BYTES_PER_ROW[shape] * 1.2)
    if rows >= BIG_ROWS:
        need = max(need, MIN_FREE_BIG)
    if free < need:
        raise SystemExit(f"not enough disk under {where}: {free / 1e9:,.1f} GB free, this run "
                         f"writes ~{rows * _BYTES_PER_ROW[shape] / 1e9:,.1f} GB and needs "
                         f"{need / 1e9:,.0f} GB free; set TMPDIR to a larger disk or lower --rows")


def export(shape: str, rows: int, workdir: Path, made: list[Path]) -> Path:
    """The ``shape`` export of ``rows`` rows: from the cache, or written into ``workdir``."""
    if shape == "generator":
        if rows >= BIG_ROWS:
            raise SystemExit(f"--shape generator holds its whole plan in memory; for {rows:,} rows "
                             "use a DuckDB-written shape (the default: mixed)")
        _check_disk(workdir, rows, shape)
        return _export(rows, "3.3", workdir, made)
    cached = _CACHE / f"scale-{shape}-{rows}.csv"
    if cached.exists():
        return cached
    _check_disk(workdir, rows, shape)
    path = workdir / cached.name
    made.append(path)
    seconds = write_shape(shape, rows, path)
    print(f"generated {shape} {rows:,} rows ({_mib(path.stat().st_size):,.0f} MiB) in "
          f"{seconds:.1f} s: {path}")
    return path


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


# --------------------------------------------------------------------------- runs


def bench1(path: Path, workdir: Path, *, shape: str, rows: int | None, repeat: int,
           report: bool, report_timeout: float | None = None,
           jobs: list[int] | None = None) -> list[str]:
    profiles = [f"profile-j{j}" for j in jobs] if jobs else ["profile"]
    names = [*profiles, *(["report"] if report else []), "duckdb"]
    runs: dict[str, list[Result]] = {n: [] for n in names}
    docs: dict[str, dict[str, Any]] = {}
    _warm(path)
    for _ in range(repeat):
        for n in names:
            r, doc = measure(n, path, workdir, report_timeout)
            print(f"  {n}: {r.seconds:.2f} s, {_mib(r.peak_rss):,.0f} MiB, CPU {r.cpu_seconds:.2f} s",
                  file=sys.stderr, flush=True)  # progress: long runs show each step as it ends
            runs[n].append(r)
            docs[n] = doc
    results = [_best(runs[n]) for n in names]
    by = {r.name: r for r in results}
    print("\n".join(_table(results, by["duckdb"])), flush=True)  # before a disagreement exits
    lines = [line for n in profiles
             for line in agreement(by[n], docs[n], by["duckdb"], docs["duckdb"]["candidates"])]
    if rows is not None and (planted := planted_secrets(shape, rows)):
        lines.append(f"secrets planted: {planted:,} rows; profile flags {docs[profiles[0]].get('secrets')}")
    lines.append(f"duckdb query alone: {docs['duckdb']['seconds']:.2f} s (process {by['duckdb'].seconds:.2f} s)")
    return lines + goals(by, report_killed=bool(docs.get("report", {}).get("killed")),
                         profile=profiles[0])


def bench2(path: Path, workdir: Path, *, compare_to: float | None, small: Path | None) -> list[str]:
    lines: list[str] = []
    if small is not None:
        _warm(small)
        r_small, _ = measure("profile", small, workdir)
        compare_to = r_small.seconds
        lines.append(f"profile at {r_small.rows:,} rows: {r_small.seconds:.2f} s, "
                     f"{_mib(r_small.peak_rss):,.0f} MiB, CPU {r_small.cpu_seconds:.2f} s")
    big, doc = measure("profile", path, workdir)
    lines.append(f"profile at {big.rows:,} rows: {big.seconds:.2f} s, "
                 f"{_mib(big.peak_rss):,.0f} MiB peak RSS, CPU {big.cpu_seconds:.2f} s; "
                 f"{len(big.totals):,} DAGs, {doc.get('value_bytes', 0):,} value bytes")
    lines.append(f"peak RSS: {big.peak_rss / 1e9:.2f} GB (goal <= 1.5 GB: "
                 f"{_goal(big.peak_rss <= GOAL_BIG_RSS)})")
    if compare_to:
        ratio = big.seconds / compare_to
        lines.append(f"ratio to the 5M time ({compare_to:.2f} s): {ratio:.1f}x (goal <= "
                     f"{GOAL_BIG_RATIO:.0f}x: {_goal(ratio <= GOAL_BIG_RATIO)})")
    else:
        lines.append("no 5M time to compare with (--compare-to SECONDS or --compare-rows 5000000)")
    return lines


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the export (default 5,000,000; --equality: 20,000)")
    p.add_argument("--shape", choices=ALL_SHAPES, default=None,
                   help="input shape (default: generator; mixed from 50M rows and for --equality)")
    p.add_argument("--path", help="use this Airflow 3 psql CSV export instead of generating one")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender (best time kept)")
    p.add_argument("--no-report", action="store_true", help="skip the report contender")
    p.add_argument("--keep", action="store_true", help="keep generated exports for the next run")
    p.add_argument("--jobs", type=int, nargs="+", default=None, metavar="N",
                   help="benchmark 1: run profile once per count with --jobs N (e.g. --jobs 1 2), "
                        "back to back; default: once, with the CLI's default (auto)")
    p.add_argument("--report-timeout", type=float, default=None, metavar="SECONDS",
                   help="kill the report after this long and say so (default: wait)")
    p.add_argument("--compare-to", type=float, default=None, metavar="SECONDS",
                   help="benchmark 2: the 5M profile time to compare with")
    p.add_argument("--compare-rows", type=int, default=None, metavar="N",
                   help="benchmark 2: also profile the same shape at N rows in this run")
    p.add_argument("--equality", action="store_true",
                   help="benchmark 4: the same data in every format gives the same summary")
    p.add_argument("--contender", choices=["duckdb"], help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.path and not args.contender and not Path(args.path).is_file():
        parser.error(f"--path {args.path}: no such file (give an existing export, or leave --path out "
                     "to generate one)")
    if args.contender:
        return _child(args.path, args.result)
    if args.equality:
        from benchmarks.equality import run_equality

        return run_equality(rows=args.rows or 20_000, shape=args.shape or "mixed", keep=args.keep)
    rows = args.rows or 5_000_000
    big = rows >= BIG_ROWS and not args.path
    shape = args.shape or ("mixed" if big else "generator")
    _CACHE.mkdir(exist_ok=True)
    workdir = _CACHE if args.keep else Path(tempfile.mkdtemp(prefix="scale-", dir=_CACHE))
    made: list[Path] = []
    try:
        path = Path(args.path) if args.path else export(shape, rows, workdir, made)
        label = "benchmark 2 (profile only)" if big else "benchmark 1"
        print(f"scale {label}: {path} ({_mib(path.stat().st_size):,.0f} MiB), shape "
              f"{'--path' if args.path else shape}, {os.cpu_count()} CPUs, repeat {args.repeat}, "
              f"load average {_load()}", flush=True)
        if big:
            small = (export(shape, args.compare_rows, workdir, made)
                     if args.compare_rows and args.compare_to is None else None)
            lines = bench2(path, workdir, compare_to=args.compare_to, small=small)
        else:
            lines = bench1(path, workdir, shape=shape, rows=None if args.path else rows,
                           repeat=args.repeat, report=not args.no_report,
                           report_timeout=args.report_timeout, jobs=args.jobs)
        lines.append(f"load average after: {_load()}")
        print("\n".join(lines))
    finally:
        if not args.keep:
            _clean(made, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
