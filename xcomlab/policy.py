"""Retention policy: which XComs to keep — one definition for the what-if and the backend.

:func:`xcomlab.analysis.retention.retention` says what a policy would free in an
export; :meth:`xcomlab.backend.XComStore.cleanup` applies the same policy to a live
store. A row goes when any rule that applies to it removes it: it is older than its age
limit (``timestamp < now - max_age``, the comparison ``airflow db clean`` makes), or its
run is not among its DAG's ``keep_last_runs`` most recent runs. Pure Python: the
backend imports it inside every Airflow task.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from xcomlab.errors import ParameterError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CORE_KEYS", "PROVIDER_KEYS", "KeyRule", "RetentionPolicy", "is_internal_key"]

#: Keys Airflow core writes by itself (docs/airflow-xcom.md#core-keys).
CORE_KEYS: Final = frozenset(
    {"skipmixin_key", "trigger_run_id", "trigger_logical_date_iso", "past_depends_met"}
)
#: Keys written by widely used provider operators rather than user code (same section).
PROVIDER_KEYS: Final = frozenset({"pod_name", "pod_namespace"})
_LINK_KEY = re.compile(r"^_link_")


def is_internal_key(key: str) -> bool:
    """Return True for keys Airflow or its providers write by themselves.

    Examples
    --------
    >>> is_internal_key("skipmixin_key"), is_internal_key("_link_BigQueryConsoleLink")
    (True, True)
    >>> is_internal_key("return_value")
    False
    """
    return key in CORE_KEYS or key in PROVIDER_KEYS or bool(_LINK_KEY.match(key))


@dataclass(frozen=True)
class KeyRule:
    """An age limit for the keys matching ``pattern`` (``fnmatch`` glob, case-sensitive).

    ``max_age_days=0`` removes every matching row now. ``internal=True`` matches only
    keys Airflow writes itself (:func:`is_internal_key`); ``False`` only user keys;
    ``None`` both.
    """

    pattern: str = "*"
    max_age_days: float = 0.0
    internal: bool | None = None

    def matches_key(self, key: str) -> bool:
        """Whether the rule applies to one key."""
        if self.internal is not None and is_internal_key(key) != self.internal:
            return False
        return fnmatch.fnmatchcase(key, self.pattern)

    def matches(self, keys: Any, internal: Any) -> np.ndarray:
        """Boolean mask of the rows this rule applies to (``keys``, ``internal``: pandas Series)."""
        names = keys.astype(str)
        matching = [k for k in set(names) if fnmatch.fnmatchcase(k, self.pattern)]
        hit = names.isin(matching).to_numpy().copy()
        if self.internal is not None:
            hit &= internal.to_numpy(bool) == self.internal
        return hit


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep. ``None`` means no limit of that kind.

    Parameters
    ----------
    max_age_days
        Remove rows written more than this many days before ``now``.
    keep_last_runs
        Keep only the rows of each DAG's N most recent runs (by their latest write).
    per_dag
        ``{dag_id: RetentionPolicy}`` replacing this policy for a DAG (its own
        ``per_dag`` is ignored; key rules of the default apply unless it has its own).
    key_rules
        :class:`KeyRule` list; the first rule matching a row sets its age limit.
    dag_ids
        Apply only to these DAGs (None: all); rows of other DAGs are kept.

    Examples
    --------
    >>> RetentionPolicy(max_age_days=30, per_dag={"payments": RetentionPolicy(max_age_days=90)})
    ... # doctest: +ELLIPSIS
    RetentionPolicy(max_age_days=30, ...)
    """

    max_age_days: float | None = None
    keep_last_runs: int | None = None
    per_dag: Mapping[str, RetentionPolicy] = field(default_factory=dict)
    key_rules: tuple[KeyRule, ...] = ()
    dag_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_age_days is not None and self.max_age_days < 0:
            msg = f"max_age_days={self.max_age_days}; expected ≥ 0 days or None"
            raise ParameterError(msg)
        if self.keep_last_runs is not None and self.keep_last_runs < 1:
            msg = f"keep_last_runs={self.keep_last_runs}; expected ≥ 1 or None"
            raise ParameterError(msg)
        if self.dag_ids is not None:
            if isinstance(self.dag_ids, str):
                msg = f"dag_ids={self.dag_ids!r}; expected a tuple of dag ids, not one string"
                raise ParameterError(msg)
            object.__setattr__(self, "dag_ids", tuple(self.dag_ids))

    def applies_to(self, dag_id: str) -> bool:
        """Whether the policy touches ``dag_id`` at all (``dag_ids``)."""
        return self.dag_ids is None or dag_id in self.dag_ids

    def for_dag(self, dag_id: str) -> RetentionPolicy:
        """The policy that applies to ``dag_id``."""
        own = self.per_dag.get(dag_id)
        if own is None:
            return self
        return own if own.key_rules else RetentionPolicy(own.max_age_days, own.keep_last_runs,
                                                         key_rules=self.key_rules)

    @property
    def age_only(self) -> bool:
        """True when every rule is an age limit on whole DAGs (what ``db clean`` can do)."""
        pols = [self, *self.per_dag.values()]
        return all(p.keep_last_runs is None and not p.key_rules for p in pols)

    def window_days(self, dag_id: str, runs_per_day: float) -> float | None:
        """Days of writes a DAG keeps in steady state (key rules aside); None: unbounded."""
        pol = self.for_dag(dag_id)
        spans = [] if pol.max_age_days is None else [float(pol.max_age_days)]
        if pol.keep_last_runs is not None and runs_per_day > 0:
            spans.append(pol.keep_last_runs / runs_per_day)
        return min(spans) if spans else None

    def age_limit_days(self, dag_id: str, key: str) -> float | None:
        """Age in days above which a row of ``dag_id`` under ``key`` goes (None: no age limit)."""
        pol = self.for_dag(dag_id)
        for rule in pol.key_rules:
            if rule.matches_key(key):
                return float(rule.max_age_days)
        return None if pol.max_age_days is None else float(pol.max_age_days)

    def removes(self, rows: Iterable[tuple[str, str, str, datetime]], now: datetime) -> set[int]:
        """Positions of the ``(dag_id, run_id, key, timestamp)`` rows this policy deletes at ``now``.

        The row-by-row form of the rule, for a live store; the what-if on a frame is
        :func:`xcomlab.analysis.retention.retention` (same semantics, vectorised).
        """
        rows = list(rows)
        gone: set[int] = set()
        latest: dict[tuple[str, str], datetime] = {}
        for dag_id, run_id, _, ts in rows:
            latest[dag_id, run_id] = max(latest.get((dag_id, run_id), ts), ts)
        kept_runs: dict[str, set[str]] = {}
        for i, (dag_id, run_id, key, ts) in enumerate(rows):
            if not self.applies_to(dag_id):
                continue
            limit = self.age_limit_days(dag_id, key)
            if limit is not None and (limit == 0 or ts < now - timedelta(days=limit)):
                gone.add(i)
            n = self.for_dag(dag_id).keep_last_runs
            if n is not None:
                if dag_id not in kept_runs:
                    runs = sorted(((t, r) for (d, r), t in latest.items() if d == dag_id), reverse=True)
                    kept_runs[dag_id] = {r for _, r in runs[:n]}
                if run_id not in kept_runs[dag_id]:
                    gone.add(i)
        return gone
