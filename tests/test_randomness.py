"""rng: a Generator, a seed or None everywhere; results record a seed that repeats them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xcomlab.errors import ParameterTypeError
from xcomlab.randomness import seed_of
from xcomlab.simulate import SimConfig, simulate, synthetic_workload


def test_seed_of_each_kind() -> None:
    assert seed_of(5) == 5 and seed_of(np.int64(5)) == 5
    assert seed_of(np.random.default_rng(1)) == seed_of(np.random.default_rng(1))
    assert seed_of(None) != seed_of(None)
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ParameterTypeError, match="expected a numpy Generator"):
            seed_of(bad)  # type: ignore[arg-type]


def test_a_generator_run_records_the_seed_that_repeats_it() -> None:
    w = synthetic_workload(dags=10, rng=np.random.default_rng(3))
    assert w.source.endswith(f"seed={seed_of(np.random.default_rng(3))})")
    cfg = SimConfig("tiered", threshold_bytes=1024)
    first = simulate(w, cfg, horizon_days=5, rng=np.random.default_rng(9))
    again = simulate(w, cfg, horizon_days=5, rng=first.seed)
    pd.testing.assert_frame_equal(first.daily, again.daily)
    assert simulate(w, cfg, horizon_days=5, rng=4).seed == 4
