"""Import-cost benchmark: what ``import xcomlab.backend.airflow`` adds to an Airflow task process.

Usage::

    python -m benchmarks.import_cost [--airflow-python PATH ...] [--runs N]

Airflow starts a fresh process per task and imports the configured XCom backend there, so
every task pays the adapter's import. For each Airflow interpreter (default: the Makefile's
``.venv-airflow`` and ``.venv-airflow2`` where they exist), ``N`` fresh processes each
import, in order:

``baseline``
    the Airflow module that defines ``BaseXCom`` (``airflow.sdk.bases.xcom`` on Airflow 3,
    ``airflow.models.xcom`` on Airflow 2): what the task process loads anyway;
``adapter``
    then the xcomlab adapter for that Airflow (``xcomlab.backend.airflow`` /
    ``xcomlab.backend.airflow2``), in the same process.

Both are wall-clock times taken inside the process with ``time.perf_counter`` (the
interpreter's own start-up is not counted); the report gives the median over runs and the
modules the adapter loaded that the baseline had not, checked for pandas, pyarrow and
matplotlib. Goal (issue 11 item 2): adapter ≤ 150 ms on top of the baseline, and none of
those three modules.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 150.0
HEAVY = ("pandas", "pyarrow", "matplotlib")

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import airflow
base = "airflow.sdk.bases.xcom" if airflow.__version__.startswith("3.") else "airflow.models.xcom"
adapter = "xcomlab.backend.airflow" if airflow.__version__.startswith("3.") else "xcomlab.backend.airflow2"
__import__(base)
t1 = time.perf_counter()
before = set(sys.modules)
__import__(adapter)
t2 = time.perf_counter()
new = set(sys.modules) - before
json.dump({"airflow": airflow.__version__, "adapter": adapter, "base_s": t1 - t0,
           "adapter_s": t2 - t1, "new_modules": len(new),
           "heavy": sorted(m for m in new if m.split(".")[0] in HEAVY)}, sys.stdout)
""".replace("HEAVY", repr(HEAVY))


def measure(python: Path, runs: int) -> dict[str, object]:
    """Median baseline and adapter import times over ``runs`` fresh processes of ``python``."""
    env = {"PYTHONPATH": str(ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PATH": "/usr/bin:/bin"}
    results = []
    for _ in range(runs):
        proc = subprocess.run([str(python), "-c", CHILD], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300, check=False)
        if proc.returncode:
            raise SystemExit(f"{python} failed: {proc.stderr.strip()[-800:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"airflow": results[0]["airflow"], "adapter": results[0]["adapter"],
            "base_ms": 1000 * statistics.median(r["base_s"] for r in results),
            "adapter_ms": 1000 * statistics.median(r["adapter_s"] for r in results),
            "new_modules": results[0]["new_modules"],
            "heavy": sorted({m for r in results for m in r["heavy"]})}


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 when an adapter misses the goal."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.import_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--airflow-python", action="append", type=Path,
                    help="python of an Airflow venv (repeatable)")
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per interpreter")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    pythons = args.airflow_python or [p for p in (ROOT / ".venv-airflow" / "bin" / "python",
                                                  ROOT / ".venv-airflow2" / "bin" / "python")
                                      if p.exists()]
    if not pythons:
        print("no Airflow venv (make airflow-env / airflow2-env, or --airflow-python)")
        return 1
    print(f"import cost of the xcomlab adapter on top of Airflow's BaseXCom module, "
          f"median of {args.runs} fresh processes each (goal ≤ {GOAL_MS:.0f} ms, no {', '.join(HEAVY)})")
    ok, rows = True, []
    for py in pythons:
        r = measure(py, args.runs)
        rows.append(r)
        passed = r["adapter_ms"] <= GOAL_MS and not r["heavy"]  # type: ignore[operator]
        ok &= passed
        print(f"  Airflow {r['airflow']:<8} baseline {r['base_ms']:8.1f} ms   "
              f"+ {r['adapter']:<24} {r['adapter_ms']:6.1f} ms  ({r['new_modules']} new modules, "
              f"heavy: {r['heavy'] or 'none'})  {'PASS' if passed else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
