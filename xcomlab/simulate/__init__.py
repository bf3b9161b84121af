"""Workloads (fitted from a frame or synthetic) and a vectorised Monte Carlo of XCom storage.

>>> from xcomlab.simulate import SimConfig, simulate, synthetic_workload
>>> w = synthetic_workload(dags=20, rng=1)
>>> r = simulate(w, SimConfig("tiered", threshold_bytes=65_536), horizon_days=30, rng=1)
>>> r.writes > 0
True
"""

from xcomlab.simulate.montecarlo import (
    DAILY_COLUMNS,
    SimConfig,
    SimulationResult,
    hard_limit,
    measure_compression_ratio,
    simulate,
)
from xcomlab.simulate.workload import SKETCH_SIZE, Workload, fit_workload, synthetic_workload

__all__ = [
    "DAILY_COLUMNS",
    "SKETCH_SIZE",
    "SimConfig",
    "SimulationResult",
    "Workload",
    "fit_workload",
    "hard_limit",
    "measure_compression_ratio",
    "simulate",
    "synthetic_workload",
]
