"""Simulation benchmark: the vectorised Monte Carlo against a per-write Python loop.

Usage::

    python -m benchmarks.simulate [--dags 1000] [--days 365] [--seed 0] [--naive-writes 200000]
    python -m benchmarks.simulate --complexity [--url URL] [--max 1000000]

The first form simulates a synthetic deployment (:func:`xcomlab.simulate.synthetic_workload`,
tiered at 64 KiB, one-year horizon) and prints writes simulated, seconds and writes per
second. The named baseline, measured in the same run, is a naive simulator that loops over
every write in Python (same model: Poisson runs, mapped fan-out, sizes drawn from the same
sketches, the same routing) on a slice of the streams and days; its time per write is
extrapolated to the whole run and the script prints ``vectorised / naive speedup``. Both
simulate the slice and must agree on writes (±3 %) and bytes (±20 %), else exit 1.
Goals (issue "Backend trade-offs", item 4): ≥ 10M simulated writes per second, one year
of a 1000-DAG deployment in under 10 s.

The second form measures query complexity (``xcomlab.models.complexity``) on SQLite (a
temporary file) or ``--url``, for N = 2 000, 10⁴, 10⁵ … and ``--max`` rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from xcomlab.simulate import SimConfig, Workload, simulate, synthetic_workload

__all__ = ["GOAL_SECONDS", "GOAL_WRITES_PER_S", "main", "naive_simulate"]

GOAL_WRITES_PER_S = 10_000_000
GOAL_SECONDS = 10.0


def naive_simulate(w: Workload, cfg: SimConfig, days: int, seed: int = 0) -> dict[str, float]:
    """The baseline: one Python iteration per write (per run, per stream, per day)."""
    rng = np.random.default_rng(seed)
    m = w.sizes.shape[1]
    sketches = w.sizes.tolist()
    thr = cfg.threshold
    writes = obj_writes = 0
    db_bytes = obj_bytes = 0.0
    for day in range(days):
        for s in range(len(w)):
            if w.start_day[s] > day:
                continue
            growth = 1 + w.size_growth_per_month[s] * day / 30
            for _ in range(int(rng.poisson(w.runs_per_day[s] * (1 + w.growth_per_month[s] * day / 30)))):
                width = 1 + int(rng.poisson(w.fan_out[s] - 1)) if w.mapped[s] else 1
                for _ in range(width):
                    size = sketches[s][int(rng.integers(m))] * growth
                    writes += 1
                    if thr == 0 or (thr > 0 and size >= thr):
                        obj_writes += 1
                        obj_bytes += size * cfg.compression_ratio
                    else:
                        db_bytes += size
    return {"writes": writes, "object_writes": obj_writes, "db_bytes": db_bytes, "object_bytes": obj_bytes}


def _slice(w: Workload, days: int, target: int) -> tuple[Workload, int]:
    """A slice of streams (every k-th) and days holding about ``target`` writes."""
    per_day = w.writes_per_day()
    days_slice = max(1, min(days, int(target / max(per_day, 1.0)) or 1))
    k = max(1, int(np.ceil(per_day * days_slice / target)))
    return w.select(np.arange(0, len(w), k)), days_slice


def _bench(args: argparse.Namespace) -> int:
    w = synthetic_workload(dags=args.dags, rng=args.seed)
    cfg = SimConfig("tiered", threshold_bytes=65_536, compression_ratio=0.35)
    print(f"workload: {w!r}")
    print(f"config:   {cfg.backend}, threshold {cfg.threshold} B, compression ratio {cfg.compression_ratio}")
    simulate(w.select(slice(0, 10)), cfg, horizon_days=2, rng=args.seed)  # warm imports and caches
    r = simulate(w, cfg, horizon_days=args.days, rng=args.seed)
    vec_rate = r.writes / r.elapsed_s
    print(f"vectorised: {r.writes:,} writes over {args.days} days in {r.elapsed_s:.3f} s "
          f"= {vec_rate:,.0f} writes/s (chunk {r.chunk_days} days)")
    print(f"  peak DB {r.summary['peak_db_bytes'] / 1e9:,.2f} GB, objects "
          f"{r.summary['final_object_bytes'] / 1e9:,.2f} GB, PUTs {r.summary['puts']:,}")
    part, part_days = _slice(w, args.days, args.naive_writes)
    t = time.perf_counter()
    naive = naive_simulate(part, cfg, part_days, seed=args.seed)
    naive_s = time.perf_counter() - t
    naive_rate = naive["writes"] / naive_s if naive_s > 0 else float("inf")
    print(f"naive loop (baseline): {naive['writes']:,} writes ({len(part):,} streams × {part_days} days) "
          f"in {naive_s:.3f} s = {naive_rate:,.0f} writes/s; the whole run would take "
          f"{r.writes / naive_rate:,.1f} s")
    print(f"vectorised / naive speedup: {vec_rate / naive_rate:,.1f}×")
    check = simulate(part, cfg, horizon_days=part_days, rng=args.seed).daily
    agree = _agree(naive, check, part, part_days)
    ok_rate, ok_time = vec_rate >= GOAL_WRITES_PER_S, r.elapsed_s < GOAL_SECONDS
    judged = "met" if ok_rate else "missed"
    if r.writes < 10 * GOAL_WRITES_PER_S * 0.1:
        judged = "not judged (fewer than 1M writes: fixed costs dominate)"
    print(f"goal ≥ {GOAL_WRITES_PER_S:,} writes/s: {judged}")
    if args.dags >= 1000 and args.days >= 365:
        print(f"goal one year of {args.dags} DAGs < {GOAL_SECONDS:.0f} s: {'met' if ok_time else 'missed'}")
    print(f"naive and vectorised agree on the slice: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


def _agree(naive: dict[str, float], daily: pd.DataFrame, part: Workload, days: int) -> bool:
    """Naive and vectorised writes and bytes each within 4 standard deviations of expected."""
    vec = {"writes": float(daily["writes"].sum()), "bytes": float(daily["value_bytes"].sum())}
    base = {"writes": float(naive["writes"]), "bytes": naive["db_bytes"] + naive["object_bytes"] / 0.35}
    lam = days * part.runs_per_day  # runs per stream
    f = part.fan_out
    mean_x = part.sizes.mean(axis=1, dtype=np.float64)
    var_x = part.sizes.var(axis=1, dtype=np.float64)
    # Writes per run W = 1 + Poisson(f - 1): E[W] = f, E[W²] = (f - 1) + f²; a stream's writes
    # N are compound Poisson with Var N = λ E[W²]; its bytes have Var = E[N] Var X + Var N E[X]².
    var_n = lam * (f - 1 + f**2)
    expected = {"writes": sum(part.writes_per_day(d) for d in range(days)),
                "bytes": sum(part.bytes_per_day(d) for d in range(days))}
    sd = {"writes": float(np.sqrt(var_n.sum())),
          "bytes": float(np.sqrt(np.sum(lam * f * var_x + var_n * mean_x**2)))}
    ok = True
    for what in ("writes", "bytes"):
        print(f"  slice {what}: expected {expected[what]:,.0f} ± {sd[what]:,.0f}; naive "
              f"{base[what]:,.0f}; vectorised {vec[what]:,.0f}")
        ok &= all(abs(x - expected[what]) <= 4 * sd[what] + 1 for x in (base[what], vec[what]))
    return ok


def _complexity(args: argparse.Namespace) -> int:
    from xcomlab.models.complexity import measure_complexity

    sizes = sorted({n for n in (2_000, 10_000, 100_000, 1_000_000, 10_000_000) if n <= args.max} | {args.max})
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'complexity.db'}"
        t = time.perf_counter()
        r = measure_complexity(url, sizes, repeats=args.repeats)
        print(f"{r!r} in {time.perf_counter() - t:.1f} s")
    table = r.table.assign(median_us=r.table["median_s"] * 1e6, min_us=r.table["min_s"] * 1e6)
    print(table[["median_us", "min_us", "repeats"]].round(1).to_string())
    print(r.fits.to_string())
    for q, plan in r.plans.items():
        print(f"--- EXPLAIN {q} (N = {sizes[-1]:,})\n{plan}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--dags", type=int, default=1000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--naive-writes", type=int, default=200_000,
                   help="writes the naive baseline simulates (extrapolated per write)")
    p.add_argument("--complexity", action="store_true", help="measure query complexity instead")
    p.add_argument("--url", help="database for --complexity (default: a temporary SQLite file)")
    p.add_argument("--max", type=int, default=1_000_000, help="largest N for --complexity")
    p.add_argument("--repeats", type=int, default=9, help="timed runs per query and N (--complexity)")
    args = p.parse_args(argv)
    return _complexity(args) if args.complexity else _bench(args)


if __name__ == "__main__":
    sys.exit(main())
