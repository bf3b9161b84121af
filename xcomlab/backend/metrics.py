"""Metrics: push/pull latency, bytes, tier and errors through Airflow's own ``Stats``.

Off by default (:attr:`StoreConfig.metrics <xcomlab.backend.StoreConfig>`). When on, every
store operation is sent to the ``Stats`` of the Airflow installed beside xcomlab, so the
figures go where Airflow's own go (StatsD, Datadog or OpenTelemetry, per Airflow's
``[metrics]`` section, with its ``statsd_prefix``, allow/block lists and tags). Nothing
imports Airflow while metrics are off; turning them on without Airflow is a
:class:`~xcomlab.backend.ConfigError`.

Names (``<p>`` is ``metrics_prefix``, default ``xcomlab``; ``<op>`` is ``push`` for
``set``/``encode``, ``pull`` for ``get``/``decode``, else the store's operation: delete,
clear, purge, rotate, cleanup, reconcile; ``<tier>`` is ``db``, ``object`` or ``none``):

=============================  =======  ===============================================
name                           type     value
=============================  =======  ===============================================
``<p>.<op>.<tier>.duration``   timer    wall time of the operation
``<p>.<op>.<tier>.count``      counter  operations that succeeded
``<p>.<op>.<tier>.bytes``      counter  bytes stored or read where the value lives
``<p>.<op>.errors``            counter  operations that raised (tag ``error``: class)
``<p>.pull.cache_hit`` / ``…_miss``  counter  fan-in cache lookups (when the cache is on)
``<p>.store.<figure>``         gauge    size summary of the maintenance DAG
=============================  =======  ===============================================

Every call also carries tags ``op``, ``tier`` (and ``error``), which backends with tags
(OpenTelemetry, Datadog, StatsD with InfluxDB tags) keep; plain StatsD sees the names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from xcomlab.errors import XcomlabError

__all__ = ["OP_NAMES", "StatsEmitter", "airflow_stats"]

#: Store operation → metric name segment.
OP_NAMES: Final = {"set": "push", "encode": "push", "get": "pull", "decode": "pull"}
_log = logging.getLogger(__name__)


class MetricsUnavailableError(XcomlabError, ImportError):
    """Metrics are on but no Airflow ``Stats`` can be imported."""


def airflow_stats() -> Any:
    """Airflow's ``Stats`` (task SDK on Airflow 3, ``airflow.stats`` on Airflow 2).

    On Airflow 3 the stats backend is (re)initialized from Airflow's ``[metrics]`` settings,
    as Airflow's task runner does, so a store used outside a task also reports.
    """
    try:
        from airflow.sdk.observability import stats as sdk_stats  # Airflow ≥ 3.1
    except ImportError:
        sdk_stats = None
    if sdk_stats is not None:
        from airflow.sdk.configuration import conf
        from airflow.sdk.observability.metrics import stats_utils

        sdk_stats.initialize(factory=stats_utils.get_stats_factory(),
                             export_legacy_names=conf.getboolean("metrics", "legacy_names_on",
                                                                 fallback=True))
        return sdk_stats.Stats
    try:
        from airflow.stats import Stats  # Airflow 2
    except ImportError as exc:
        msg = ("metrics=True sends metrics through Airflow's Stats, but Airflow cannot be "
               f"imported here ({exc}); install xcomlab beside Airflow or set metrics off")
        raise MetricsUnavailableError(msg) from exc
    return Stats


class StatsEmitter:
    """A :class:`~xcomlab.backend.measure.Recorder` listener that sends each record to ``Stats``.

    Parameters
    ----------
    prefix
        First segment of every metric name.
    stats
        An object with Airflow's ``Stats`` interface (``incr``, ``timing``, ``gauge``);
        default :func:`airflow_stats`.
    """

    def __init__(self, prefix: str = "xcomlab", stats: Any = None) -> None:
        self.prefix = prefix
        self.stats = stats if stats is not None else airflow_stats()

    def __repr__(self) -> str:
        return f"StatsEmitter(prefix={self.prefix!r})"

    def __call__(self, row: Mapping[str, Any]) -> None:
        op = OP_NAMES.get(str(row["op"]), str(row["op"]))
        tier = str(row.get("tier") or "none")
        base = f"{self.prefix}.{op}"
        if row.get("cache"):
            self.stats.incr(f"{base}.cache_{row['cache']}", tags={"op": op})
        if not row.get("ok", True):
            error = str(row.get("error") or "unknown")
            self.stats.incr(f"{base}.errors", tags={"op": op, "tier": tier, "error": error})
            return
        tags = {"op": op, "tier": tier}
        self.stats.timing(f"{base}.{tier}.duration", timedelta(seconds=float(row["total_s"])),
                          tags=tags)
        self.stats.incr(f"{base}.{tier}.count", tags=tags)
        stored = int(row.get("bytes_stored") or 0)
        if stored:
            self.stats.incr(f"{base}.{tier}.bytes", count=stored, tags=tags)

    def gauges(self, group: str, figures: Mapping[str, float]) -> None:
        """Send ``<prefix>.<group>.<name>`` gauges (e.g. the maintenance size summary)."""
        for name, value in figures.items():
            self.stats.gauge(f"{self.prefix}.{group}.{name}", float(value), tags={"group": group})
