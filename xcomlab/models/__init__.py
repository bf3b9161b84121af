"""Models of XCom storage: latency per backend, monthly cost (and query complexity, in ``complexity``)."""

from __future__ import annotations

from xcomlab.models.cost import (
    CostBreakdown,
    MissingPriceError,
    Prices,
    load_prices,
    monthly_cost,
)
from xcomlab.models.latency import (
    BACKENDS,
    DEFAULT_PARAMS,
    ApiHop,
    CodecSpeeds,
    LatencyModel,
    LatencyParams,
    stored_bytes,
    tier_of,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_PARAMS",
    "ApiHop",
    "CodecSpeeds",
    "CostBreakdown",
    "LatencyModel",
    "LatencyParams",
    "MissingPriceError",
    "Prices",
    "load_prices",
    "monthly_cost",
    "stored_bytes",
    "tier_of",
]
