"""Randomness: every stochastic xcomlab function takes ``rng`` and records the seed it used.

``rng`` is a :class:`numpy.random.Generator`, an integer seed or None (fresh entropy from
the operating system). :func:`seed_of` turns it into the integer seed a result records,
so any run can be repeated by passing that seed back; there are no global seeds.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from xcomlab.errors import ParameterTypeError

__all__ = ["RNG", "seed_of"]

#: What an ``rng`` parameter accepts.
RNG: TypeAlias = "np.random.Generator | int | None"


def seed_of(rng: np.random.Generator | int | None) -> int:
    """The integer seed to run (and record) for ``rng``.

    An integer is its own seed (so ``rng=0`` gives the numbers ``seed=0`` always gave);
    None draws fresh entropy; a Generator gives one draw from it, which advances it.

    Examples
    --------
    >>> seed_of(7)
    7
    >>> seed_of(np.random.default_rng(0)) == seed_of(np.random.default_rng(0))
    True
    """
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer) or rng < 0:
        msg = f"rng={rng!r}; expected a numpy Generator, a seed ≥ 0 or None"
        raise ParameterTypeError(msg)
    return int(rng)
