"""Compression: the stored/original ratio a codec reaches on sample values, measured."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from xcomlab.errors import ParameterError

__all__ = ["CODECS_MEASURED", "measure_compression_ratio"]

#: Codecs :func:`measure_compression_ratio` runs.
CODECS_MEASURED = ("zstd", "gzip")


def measure_compression_ratio(values: Iterable[Any], codec: str = "zstd", *, level: int | None = None,
                              sample: int | None = None,
                              rng: np.random.Generator | int | None = None) -> float:
    """Stored / original bytes of ``values`` compressed one by one (each value is an object).

    Parameters
    ----------
    values
        ``str`` or ``bytes`` values (a pandas Series works; other entries, such as
        missing values, are skipped).
    codec
        ``"zstd"`` (level 3 by default, the ``zstandard`` package) or ``"gzip"`` (zlib,
        level 6; what fsspec's ``gzip`` compression writes, plus an 18-byte header).
    level
        Compression level (default: the codec's).
    sample
        Measure a random sample of this many values (None: all of them).
    rng
        Seed or generator of the sample.

    Raises
    ------
    ParameterError
        For an unknown codec, or when there are no bytes to measure.
    """
    if codec not in CODECS_MEASURED:
        msg = f"codec={codec!r}; expected one of {list(CODECS_MEASURED)}"
        raise ParameterError(msg)
    raw = [v.encode() if isinstance(v, str) else bytes(v) for v in values if isinstance(v, str | bytes)]
    if sample is not None and len(raw) > sample:
        pick = np.random.default_rng(rng).choice(len(raw), size=sample, replace=False)
        raw = [raw[i] for i in sorted(pick)]
    total = sum(len(v) for v in raw)
    if total == 0:
        msg = "no bytes to measure a compression ratio on; pass some str or bytes sample values"
        raise ParameterError(msg)
    if codec == "zstd":
        import zstandard  # imported on use: only this codec needs it

        c = zstandard.ZstdCompressor(level=3 if level is None else level)
        stored = sum(len(c.compress(v)) for v in raw)
    else:
        stored = sum(len(zlib.compress(v, 6 if level is None else level)) + 12 for v in raw)  # zlib 6 B + gzip's 18 B
    return stored / total
