"""Operations: wire the audit trail, metrics and fan-in cache a :class:`StoreConfig` asks for.

See :mod:`xcomlab.backend.audit`, :mod:`xcomlab.backend.metrics`, :mod:`xcomlab.backend.cache`
and docs/backend-operations.md. Nothing here imports Airflow unless ``metrics`` is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from xcomlab.backend.audit import AuditError, AuditListener, make_sink
from xcomlab.backend.cache import ValueCache
from xcomlab.backend.config import ConfigError
from xcomlab.backend.measure import Listener

if TYPE_CHECKING:
    from xcomlab.backend.config import StoreConfig
    from xcomlab.backend.metrics import StatsEmitter

__all__ = ["emitter_of", "listeners", "make_cache"]


def listeners(cfg: StoreConfig, engine: sa.Engine) -> list[Listener]:
    """The record listeners of a store: audit sink first, then metrics."""
    out: list[Listener] = []
    if cfg.audit_sink:
        try:
            out.append(AuditListener(make_sink(cfg.audit_sink, engine)))
        except AuditError as exc:
            raise ConfigError(str(exc)) from exc
    if cfg.metrics:
        from xcomlab.backend.metrics import MetricsUnavailableError, StatsEmitter

        try:
            out.append(StatsEmitter(cfg.metrics_prefix))
        except MetricsUnavailableError as exc:
            raise ConfigError(str(exc)) from exc
    return out


def emitter_of(found: list[Listener]) -> StatsEmitter | None:
    """The metrics emitter among a store's listeners, if metrics are on."""
    from xcomlab.backend.metrics import StatsEmitter

    return next((x for x in found if isinstance(x, StatsEmitter)), None)


def make_cache(cfg: StoreConfig) -> ValueCache | None:
    """The fan-in cache, or None when ``cache_max_bytes`` is 0."""
    if not cfg.cache_max_bytes:
        return None
    return ValueCache(cfg.cache_max_bytes, cfg.cache_max_entries)
