"""Ingest benchmark: xcomlab ``load_export`` against DuckDB (and pandas) on one CSV export.

Usage::

    python -m benchmarks.ingest [--rows N] [--path FILE] [--keep] [--airflow 3.3]

It writes an Airflow ``psql \\copy … csv header`` export with ``python -m xcomlab.synth``
(cached in a temp directory; ``--path`` reuses an existing file, ``--keep`` keeps the
generated files), then runs each contender in its own subprocess, one after the
other, so that each peak RSS is that process's own (``os.wait4`` returns the rusage of
exactly that child; ``RUSAGE_CHILDREN`` would report the maximum over all children so
far). Every contender computes rows and stored value bytes per ``dag_id``:

``xcomlab``
    ``xcomlab.load_export(path)`` (the whole frame, every column classified), then a
    pandas group-by on ``dag_id``.
``duckdb``
    ``read_csv`` with every column as VARCHAR and ``octet_length`` of the value's
    UTF-8 bytes (Airflow 3: the JSON text; Airflow 2: ``(length - 2) / 2`` of the
    ``\\x…`` hex text), ``GROUP BY dag_id``. DuckDB is the named baseline.
``pandas``
    ``pandas.read_csv`` (C engine, ``dag_id`` and ``value`` only) + ``str.encode`` /
    ``str.len`` + ``groupby`` (skip with ``--no-pandas``).

The run fails (exit 1) unless all contenders agree on the per-DAG totals. A flatness
check runs xcomlab again on an export of N/4 rows and reports the peak-RSS growth per
added row. The goals reported against: xcomlab ≤ 1.5× DuckDB's time and peak RSS ≤ 1 GB
at 5M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CONTENDERS", "Result", "main"]

CONTENDERS = ("xcomlab", "duckdb", "pandas")
#: Goals from the ingest issue ("Stream: memory stays flat as the export grows").
GOAL_TIME_RATIO = 1.5
GOAL_PEAK_RSS_BYTES = 10**9
_CACHE = Path(tempfile.gettempdir()) / "xcomlab-bench"
Totals = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Result:
    """One contender's run: its own timing, its process's peak RSS and its totals.

    ``seconds`` is wall time of the work alone (read + group-by, imports excluded);
    ``cpu_seconds`` the process's user + system time, imports included, which is
    steadier than wall time when other jobs share the CPUs.
    """

    name: str
    rows: int
    seconds: float
    peak_rss: int  # bytes
    cpu_seconds: float  # user + system time of the whole process, start-up included
    totals: Totals
    frame_bytes: int | None = None  # xcomlab: memory_usage(deep=True) of the frame

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


# --------------------------------------------------------------------------- contenders
# Each runs in a fresh interpreter (``--contender NAME``); the timer starts after the
# imports, so interpreter and library start-up are not counted for anyone.


def _run_xcomlab(path: str, airflow: str) -> tuple[Totals, int, Any]:
    import xcomlab

    frame = xcomlab.load_export(path, format="csv")
    g = frame.groupby("dag_id", observed=True)["value_bytes"].agg(["size", "sum"])
    totals = {str(k): (int(r["size"]), int(r["sum"])) for k, r in g.iterrows()}
    return totals, len(frame), frame


def _duckdb_value_bytes(airflow: str) -> str:
    if airflow.startswith("2"):
        return "(length(value) - 2) // 2"  # psql writes bytea as \x + two hex digits per byte
    return "octet_length(encode(value))"  # the JSON text's UTF-8 bytes


def _run_duckdb(path: str, airflow: str) -> tuple[Totals, int, Any]:
    import duckdb

    con = duckdb.connect()
    sql = f"""
        SELECT dag_id, count(*) AS n, sum({_duckdb_value_bytes(airflow)}) AS b
        FROM read_csv(?, header = true, all_varchar = true, quote = '"', escape = '"',
                      delim = ',', nullstr = '', parallel = true)
        GROUP BY dag_id
    """
    rows = con.execute(sql, [path]).fetchall()
    totals = {str(d): (int(n), int(b or 0)) for d, n, b in rows}
    return totals, sum(n for n, _ in totals.values()), None


def _run_pandas(path: str, airflow: str) -> tuple[Totals, int, Any]:
    import pandas as pd

    df = pd.read_csv(path, usecols=["dag_id", "value"], dtype=str, engine="c",
                     keep_default_na=False, na_values=[""])
    if airflow.startswith("2"):
        nbytes = (df["value"].str.len() - 2) // 2
    else:
        encoded: pd.Series = df["value"].str.encode("utf-8")
        nbytes = encoded.str.len()
    df["b"] = nbytes.astype("Int64")
    g = df.groupby("dag_id")["b"].agg(["size", "sum"])
    totals = {str(k): (int(r["size"]), int(r["sum"])) for k, r in g.iterrows()}
    return totals, len(df), None


_RUNNERS = {"xcomlab": _run_xcomlab, "duckdb": _run_duckdb, "pandas": _run_pandas}


def _child(name: str, path: str, airflow: str, out: str) -> int:
    # Import the heavy libraries before the clock starts (each runner re-imports cheaply).
    if name == "duckdb":
        import duckdb  # noqa: F401
    else:
        import pandas  # noqa: F401

        import xcomlab  # noqa: F401
    t0 = time.perf_counter()
    totals, rows, frame = _RUNNERS[name](path, airflow)
    seconds = time.perf_counter() - t0
    data: dict[str, Any] = {"seconds": seconds, "rows": rows, "totals": totals}
    if frame is not None:  # measured after the clock stops
        data["frame_bytes"] = int(frame.memory_usage(deep=True).sum())
    Path(out).write_text(json.dumps(data))
    return 0


# --------------------------------------------------------------------------- parent


def _measure(name: str, path: Path, airflow: str, workdir: Path) -> Result:
    """Run one contender in its own process; return its timing and its own peak RSS."""
    out = workdir / f"{name}-{os.getpid()}.json"
    cmd = [sys.executable, "-m", "benchmarks.ingest", "--contender", name, "--path", str(path),
           "--airflow", airflow, "--result", str(out)]
    proc = subprocess.Popen(cmd, cwd=_repo_root())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"contender {name} failed with exit code {proc.returncode}")
    data = json.loads(out.read_text())
    out.unlink()
    # ru_maxrss is in KiB on Linux (getrusage(2)).
    return Result(name, int(data["rows"]), float(data["seconds"]), usage.ru_maxrss * 1024,
                  usage.ru_utime + usage.ru_stime,
                  {k: (int(v[0]), int(v[1])) for k, v in data["totals"].items()},
                  data.get("frame_bytes"))


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _export(rows: int, airflow: str, workdir: Path, made: list[Path]) -> Path:
    """The synthetic export of ``rows`` rows: from the cache, or generated into ``workdir``."""
    name = f"xcom-af{airflow}-{rows}.csv"
    if (_CACHE / name).exists():
        return _CACHE / name
    path = workdir / name
    made.append(path)
    tmp = path.with_suffix(".part")
    cmd = [sys.executable, "-m", "xcomlab.synth", "--rows", str(rows), "--airflow", airflow,
           "--format", "psql_csv", "--out", str(tmp)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=_repo_root(), stdout=subprocess.DEVNULL)
    tmp.rename(path)
    print(f"generated {rows:,} rows ({path.stat().st_size / 2**20:,.0f} MiB) in "
          f"{time.perf_counter() - t0:.1f} s: {path}")
    return path


def _clean(made: list[Path], workdir: Path) -> None:
    """Delete the generated exports and the run's work directory (leftovers of a failed run too)."""
    for f in made:
        f.unlink(missing_ok=True)
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()


def _warm(path: Path) -> None:
    """Read the file once so that no contender pays for the disk (all read from page cache),
    and compile xcomlab's modules once (:func:`compiled`)."""
    compiled()
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def compiled(root: Path | None = None) -> None:
    """Write the bytecode of xcomlab's modules, as ``pip install`` does: where
    ``PYTHONDONTWRITEBYTECODE`` is set (this machine sets it) a source checkout has none,
    and every timed process would compile ~70 modules again (~0.16 s a process)."""
    import compileall

    compileall.compile_dir(str((root or _repo_root()) / "xcomlab"), quiet=1)


def _best(runs: list[Result]) -> Result:
    """Fastest run, with the highest peak RSS seen over the repeats."""
    best = min(runs, key=lambda r: r.seconds)
    return Result(best.name, best.rows, best.seconds, max(r.peak_rss for r in runs),
                  best.cpu_seconds, best.totals, best.frame_bytes)


def _mib(b: float) -> float:
    return b / 2**20


def _table(results: list[Result], base: Result) -> list[str]:
    lines = [f"{'contender':<10} {'seconds':>8} {'peak RSS MiB':>13} {'rows/s':>12} "
             f"{'time/duckdb':>12} {'RSS/duckdb':>11} {'CPU s':>7}"]
    for r in results:
        lines.append(f"{r.name:<10} {r.seconds:>8.2f} {_mib(r.peak_rss):>13.0f} "
                     f"{r.rows_per_s:>12,.0f} {r.seconds / base.seconds:>11.2f}x "
                     f"{r.peak_rss / base.peak_rss:>10.2f}x {r.cpu_seconds:>7.2f}")
    return lines


def _check_totals(results: list[Result]) -> list[str]:
    """Fail loudly unless every contender found the same rows and bytes per DAG."""
    ref = results[0]
    for r in results[1:]:
        if r.totals != ref.totals:
            diff = sorted(d for d in set(ref.totals) | set(r.totals)
                          if ref.totals.get(d) != r.totals.get(d))
            shown = {d: (ref.totals.get(d), r.totals.get(d)) for d in diff[:5]}
            raise SystemExit(f"TOTALS DISAGREE: {ref.name} vs {r.name} differ on {len(diff)} "
                             f"DAGs, e.g. {shown}")
    rows = sum(n for n, _ in ref.totals.values())
    nbytes = sum(b for _, b in ref.totals.values())
    names = ", ".join(r.name for r in results)
    return [f"totals agree ({names}): {len(ref.totals)} DAGs, {rows:,} rows, "
            f"{nbytes:,} value bytes"]


def _goals(x: Result, base: Result, rows: int) -> list[str]:
    ratio = x.seconds / base.seconds
    met_t = "MET" if ratio <= GOAL_TIME_RATIO else "NOT MET"
    met_m = "MET" if x.peak_rss <= GOAL_PEAK_RSS_BYTES else "NOT MET"
    return [
        f"ratio xcomlab/duckdb time: {ratio:.2f}x (goal <= {GOAL_TIME_RATIO}x: {met_t})",
        f"ratio xcomlab/duckdb peak RSS: {x.peak_rss / base.peak_rss:.2f}x "
        f"(xcomlab {x.peak_rss / 1e9:.2f} GB; goal <= 1 GB at 5M rows, here {rows:,} rows: {met_m})",
    ]


def _flatness(small: Result, big: Result) -> list[str]:
    added = big.rows - small.rows
    growth = big.peak_rss - small.peak_rss
    lines = [f"flatness: xcomlab peak RSS {_mib(small.peak_rss):,.0f} MiB at {small.rows:,} rows, "
             f"{_mib(big.peak_rss):,.0f} MiB at {big.rows:,} rows: "
             f"+{_mib(growth):,.0f} MiB = {growth / max(added, 1):,.1f} B per added row"]
    if big.frame_bytes is not None and big.rows:
        per_row = big.frame_bytes / big.rows
        lines.append(f"flatness: the frame itself (ints + categoricals) holds {per_row:,.1f} B/row "
                     f"({_mib(big.frame_bytes):,.0f} MiB); growth beyond the frame: "
                     f"{growth / max(added, 1) - per_row:+,.1f} B per added row")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--path", help="reuse this psql CSV export instead of generating one")
    p.add_argument("--keep", action="store_true", help="keep the generated exports")
    p.add_argument("--airflow", choices=["3.3", "2.10"], default="3.3")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per contender, interleaved (best time and highest peak RSS kept)")
    p.add_argument("--no-pandas", action="store_true", help="skip the pandas contender")
    p.add_argument("--no-flat", action="store_true", help="skip the N/4 flatness run")
    p.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.contender:
        return _child(args.contender, args.path, args.airflow, args.result)

    _CACHE.mkdir(exist_ok=True)
    workdir = _CACHE if args.keep else Path(tempfile.mkdtemp(prefix="run-", dir=_CACHE))
    made: list[Path] = []  # generated here; removed at the end unless --keep
    try:
        path = Path(args.path) if args.path else _export(args.rows, args.airflow, workdir, made)
        names = [c for c in CONTENDERS if not (c == "pandas" and args.no_pandas)]
        print(f"ingest benchmark: {path} ({_mib(path.stat().st_size):,.0f} MiB), "
              f"Airflow {args.airflow}, {os.cpu_count()} CPUs, repeat {args.repeat}")
        runs: dict[str, list[Result]] = {n: [] for n in names}
        _warm(path)
        for _ in range(args.repeat):
            for n in names:  # sequential: one contender at a time
                runs[n].append(_measure(n, path, args.airflow, workdir))
        results = [_best(runs[n]) for n in names]
        by = {r.name: r for r in results}
        lines = _table(results, by["duckdb"])
        lines += _check_totals(results)
        lines += _goals(by["xcomlab"], by["duckdb"], by["xcomlab"].rows)
        if not args.no_flat:
            quarter = max(by["xcomlab"].rows // 4, 1)
            small_path = _export(quarter, args.airflow, workdir, made)
            _warm(small_path)
            small = _best([_measure("xcomlab", small_path, args.airflow, workdir)
                           for _ in range(args.repeat)])
            lines += _flatness(small, by["xcomlab"])
        print("\n".join(lines))
    finally:
        if not args.keep:
            _clean(made, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
