"""A seeded synthetic Airflow deployment: which XComs it writes, when, and how big.

Generation has two steps. :func:`generate` draws the *plan* — one row per XCom with its
identifiers, timestamp, target size and flags — with vectorized numpy, so millions of
rows are cheap. :meth:`Deployment.chunks` then builds the stored values chunk by chunk,
each from its own per-row seed, so a value never depends on the chunk size and memory
stays flat however many rows are written.

What the plan models, and where the behaviour comes from (docs/airflow-xcom.md):
schedules (hourly, every 6 h, daily, weekdays, weekly) plus a few manual runs; TaskFlow
``return_value`` rows; ``multiple_outputs`` (one row per key plus the whole dict, #core-keys);
mapped tasks with one row per ``map_index`` (fan-out capped at ``max_map_length`` 1024,
#mapping); keys Airflow writes itself (``skipmixin_key``, ``trigger_run_id``,
``past_depends_met`` — double-encoded in 3.x, #double-encoding — and 3.x ``_link_*`` rows, #core-keys);
serde envelopes (datetime, tuple, pandas DataFrame as hex Parquet, #serialization); heavy-tailed
lognormal sizes that grow over time; a few huge offenders; values offloaded by
common-io's object-storage backend (a JSON string path, #common-io-path); a DAG with
``enable_xcom_pickling`` (2.x; after an upgrade to 3.x its rows sit in ``_xcom_archive``,
#migration-0049); NaN values (2.x only: 3.x's API refuses NaN, #serialization-3); and a few leaked credentials.
"""

from __future__ import annotations

import base64
import json
import math
import pickle
import random
import uuid
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab.errors import ParameterError
from xcomlab.synth.truth import compute_truth

__all__ = ["AIRFLOW_VERSIONS", "SECRET_KINDS", "Deployment", "SynthConfig", "generate", "jsonb_text"]

#: Airflow versions whose xcom schema the generator writes.
AIRFLOW_VERSIONS: Final = ("2.10", "3.3")
#: Kinds of leaked credentials planted in values (issue 3's scanner is tested on them).
SECRET_KINDS: Final = (
    "aws_access_key", "private_key", "jwt", "url_password", "secret_named_key",
    "github_token", "slack_token",
)
#: ``[core] max_map_length`` default (docs/airflow-xcom.md#mapping).
MAX_MAP_LENGTH: Final = 1024

_US = 1_000_000
_DAY_US = 86_400 * _US


@dataclass(frozen=True)
class SynthConfig:
    """What deployment to generate. Every default is a small, realistic platform.

    Parameters
    ----------
    seed
        Everything random derives from it: same config, same bytes.
    airflow
        ``"2.10"`` (``value`` bytea/BLOB holding ``json.dumps`` bytes) or ``"3.3"``
        (``value`` JSON/JSONB, ``dag_result`` column).
    dags, tasks_per_dag
        Number of DAGs and the inclusive range of tasks per DAG.
    start, days
        First day (UTC) and length of the history.
    growth_per_month
        Relative growth of value sizes per 30 days (0.1 = +10 % a month, linear).
    late_dag_share
        Share of DAGs that appear part-way through the history (a step in the growth).
    median_value_bytes
        Median of the per-task median value sizes.
    max_fan_out
        Largest mapped fan-out; one DAG fans out close to it.
    max_runs_per_day
        Caps schedules (24: hourly DAGs exist; 1: daily at most).
    offenders, offender_bytes
        Number of huge values and their typical size.
    secrets, nan_values
        Leaked credentials and NaN values to plant (NaN only in 2.x).
    pickled_dags
        DAGs run with ``enable_xcom_pickling`` while on 2.x.
    offload_threshold_bytes
        One DAG uses common-io's object-storage backend with this threshold (None: none).
    upgraded_from
        For ``airflow="3.3"``: ``"2.10"`` makes a database upgraded from 2.x part-way
        through the history (``dag_result`` last, pickled rows in ``_xcom_archive``,
        migrated rows with ``dag_result`` NULL).
    cleaned_before_day
        Simulate ``airflow db clean --clean-before-timestamp start+N days``, run a day
        after that cut-off: older rows move to ``_airflow_deleted__xcom__<run time>``.
    rows
        Exact number of rows in ``xcom`` (the history is lengthened, then cut).
    """

    seed: int = 0
    airflow: str = "3.3"
    dags: int = 12
    tasks_per_dag: tuple[int, int] = (3, 7)
    start: str = "2026-05-01"
    days: int = 120
    growth_per_month: float = 0.10
    late_dag_share: float = 0.15
    median_value_bytes: int = 160
    max_fan_out: int = MAX_MAP_LENGTH
    max_runs_per_day: int = 24
    offenders: int = 3
    offender_bytes: int = 150_000
    secrets: int = 7
    nan_values: int = 4
    pickled_dags: int = 1
    offload_threshold_bytes: int | None = 4096
    upgraded_from: str | None = None
    cleaned_before_day: int | None = None
    rows: int | None = None

    def __post_init__(self) -> None:
        if self.airflow not in AIRFLOW_VERSIONS:
            msg = f"airflow={self.airflow!r}; expected one of {AIRFLOW_VERSIONS}"
            raise ParameterError(msg)
        if self.upgraded_from not in (None, "2.10") or (self.upgraded_from and self.airflow != "3.3"):
            msg = f"upgraded_from={self.upgraded_from!r}; only '2.10' for airflow='3.3' is modelled"
            raise ParameterError(msg)
        lo, hi = self.tasks_per_dag
        if not 1 <= lo <= hi or self.dags < 1 or self.days < 1:
            msg = f"need dags ≥ 1, days ≥ 1 and 1 ≤ tasks_per_dag[0] ≤ [1]; got {self}"
            raise ParameterError(msg)
        if not 1 <= self.max_runs_per_day <= 24:
            msg = f"max_runs_per_day={self.max_runs_per_day}; expected 1 to 24"
            raise ParameterError(msg)
        if not 1 <= self.max_fan_out <= MAX_MAP_LENGTH:
            msg = f"max_fan_out={self.max_fan_out}; Airflow caps mapped fan-out at {MAX_MAP_LENGTH}"
            raise ParameterError(msg)

    @property
    def json_values(self) -> bool:
        """True when ``xcom.value`` holds JSON (Airflow 3) rather than bytes."""
        return self.airflow.startswith("3")


# --- the plan ---------------------------------------------------------------------------

#: Value shapes a task returns; the builder in ``_Builder`` knows each.
KINDS: Final = ("metrics", "paths", "ident", "count", "datetime", "pair", "frame",
                "mo_key", "mo_whole", "branch", "trigger", "trigger_date", "depends",
                "link", "null", "secret")
_DOMAINS = ("sales", "billing", "crm", "marketing", "ads", "payments", "inventory", "ml",
            "search", "logistics", "finance", "support", "hr", "growth", "risk", "geo")
_VERBS = ("ingest", "daily_agg", "export", "sync", "train", "score", "report", "backfill",
          "dedupe", "snapshot", "enrich", "publish")
_SCHEDULES = (  # (period hours, weekdays only, weight)
    (1, False, 0.12), (6, False, 0.15), (24, False, 0.5), (24, True, 0.13), (168, False, 0.10),
)


@dataclass
class _Task:
    task_id: str
    kind: str
    key: str = "return_value"
    fan_out: float = 0.0  # mean mapped fan-out, 0 when unmapped
    median_bytes: float = 100.0
    sigma: float = 0.6
    offset_s: int = 60
    dag_result: bool = False


@dataclass
class _Dag:
    dag_id: str
    period_h: int
    weekdays: bool
    start_day: int
    tasks: list[_Task] = field(default_factory=list)
    pickled: bool = False
    offloads: bool = False


def _dags(cfg: SynthConfig, rng: np.random.Generator) -> list[_Dag]:
    names: set[str] = set()
    out = []
    weights = np.array([w for *_, w in _SCHEDULES])
    for i in range(cfg.dags):
        name = f"{_DOMAINS[i % len(_DOMAINS)]}_{_VERBS[rng.integers(len(_VERBS))]}"
        while name in names:
            name = f"{name}_{len(names)}"
        names.add(name)
        period, weekdays, _ = _SCHEDULES[rng.choice(len(_SCHEDULES), p=weights / weights.sum())]
        period = max(period, math.ceil(24 / cfg.max_runs_per_day))
        late = i > 0 and rng.random() < cfg.late_dag_share
        start_day = int(rng.integers(cfg.days // 5, cfg.days // 2 + 1)) if late else 0
        dag = _Dag(name, period, weekdays, start_day)
        dag.tasks = _tasks(cfg, rng, i)
        out.append(dag)
    # Every deployment shows each shape at least once, whatever the draw.
    for kind in ("depends", "branch", "trigger", "datetime", "mo_whole", "ident", "pair", "link"):
        if kind == "link" and not cfg.json_values:
            continue
        if not any(t.kind == kind for d in out for t in d.tasks):
            donor = out[int(rng.integers(len(out)))]
            donor.tasks.append(next(t for t in _tasks(replace(cfg, tasks_per_dag=(20, 20)), rng, 1)
                                    if t.kind == kind))
    # Roles given to whole DAGs, on distinct DAGs where there are enough of them.
    order = list(rng.permutation(len(out)))
    if not cfg.json_values or cfg.upgraded_from:
        for d in order[: cfg.pickled_dags]:
            out[d].pickled = True
    if cfg.offload_threshold_bytes is not None and len(order) > cfg.pickled_dags:
        big = out[order[cfg.pickled_dags]]
        big.offloads = True
        big.tasks.append(_Task("extract_frame", "frame", median_bytes=cfg.offload_threshold_bytes * 3,
                               sigma=0.8, offset_s=300))
    # The widest fan-out: one DAG maps close to max_fan_out.
    wide = out[order[-1]]
    wide.tasks.append(_Task("process_partition", "metrics", fan_out=cfg.max_fan_out * 0.75,
                            median_bytes=cfg.median_value_bytes * 0.6, offset_s=900))
    return out


def _tasks(cfg: SynthConfig, rng: np.random.Generator, dag_no: int) -> list[_Task]:
    n = int(rng.integers(cfg.tasks_per_dag[0], cfg.tasks_per_dag[1] + 1))
    med = cfg.median_value_bytes
    menu = [
        lambda: _Task("extract", "paths", median_bytes=med * rng.lognormal(0.3, 0.8)),
        lambda: _Task("transform", "metrics", median_bytes=med * rng.lognormal(0, 0.8)),
        lambda: _Task("load", "count", median_bytes=6),
        lambda: _Task("get_run_id", "ident", median_bytes=40),
        lambda: _Task("compute_window", "datetime", median_bytes=200),
        lambda: _Task("bounds", "pair", median_bytes=80),
        lambda: _Task("validate", "mo_whole", median_bytes=med * rng.lognormal(0, 0.5)),
        lambda: _Task("choose_branch", "branch", key="skipmixin_key", median_bytes=30),
        lambda: _Task("trigger_downstream", "trigger", key="trigger_run_id", median_bytes=50),
        lambda: _Task("fan_out", "metrics", fan_out=float(rng.integers(3, 40)),
                      median_bytes=med * rng.lognormal(-0.3, 0.6)),
        lambda: _Task("wait_for_upstream", "depends", key="past_depends_met", median_bytes=6),
        lambda: _Task("run_query", "link", key="_link_BigQueryConsoleLink", median_bytes=120),
        lambda: _Task("notify", "null", median_bytes=4),
    ]
    if not cfg.json_values:  # _link_* rows are written by the 3.x task runner only (docs/airflow-xcom.md#core-keys)
        menu.pop(11)
    picks = rng.choice(len(menu), size=min(n, len(menu)), replace=False)
    tasks = [menu[int(p)]() for p in sorted(picks)]
    for t_no, t in enumerate(tasks):
        t.offset_s = 60 * (t_no + 1) + int(rng.integers(0, 50))
        t.sigma = float(rng.uniform(0.3, 1.0)) if t.kind in ("paths", "metrics", "mo_whole") else 0.1
    if cfg.json_values and dag_no % 3 == 0:  # a @dag whose return value is its result (3.3)
        last = [t for t in tasks if t.key == "return_value" and t.fan_out == 0]
        if last:
            last[-1].dag_result = True
    return tasks


def _runs(cfg: SynthConfig, dag: _Dag, days: int, rng: np.random.Generator) -> np.ndarray:
    """Logical dates (µs since epoch) of a DAG's runs, sorted; manual runs have odd µs."""
    t0 = int(pd.Timestamp(cfg.start, tz="UTC").value // 1000)
    period = dag.period_h * 3600 * _US
    first = t0 + dag.start_day * _DAY_US
    sched = np.arange(first, t0 + days * _DAY_US, period, dtype=np.int64)
    if dag.weekdays:
        weekday = ((sched // _DAY_US) + 3) % 7  # 1970-01-01 was a Thursday (3)
        sched = sched[weekday < 5]
    n_manual = rng.binomial(max(1, (days - dag.start_day) // 7), 0.3)
    manual = first + rng.integers(0, max(1, (days - dag.start_day)) * _DAY_US, n_manual)
    manual = manual | 1  # odd µs marks a manual run (scheduled ones fall on whole hours)
    return np.sort(np.concatenate([sched, manual]))


def _plan(cfg: SynthConfig, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    dags = _dags(cfg, rng)
    parts = []
    for d_no, dag in enumerate(dags):
        runs = _runs(cfg, dag, days, rng)
        if len(runs) == 0:
            continue
        for t_no, task in enumerate(dag.tasks):
            parts.append(_task_rows(cfg, dag, d_no, task, t_no, runs, rng))
    plan = pd.concat(parts, ignore_index=True)
    plan = plan.sort_values(["logical_us", "dag", "task", "map_index", "key"], kind="stable")
    plan = plan.reset_index(drop=True)
    # dag_run.id: sequential in order of creation (logical date), shared by a run's rows. By
    # the logical date to the µs: a manual run in the same second as another run of its DAG
    # is a run of its own (by seconds the two shared an id, and the rows of their common
    # tasks a primary key: 10M rows, seed 13). Sorted by logical date and DAG, a run's rows
    # are adjacent: a new id where either changes.
    dags_no, logical = plan["dag"].to_numpy(np.int64), plan["logical_us"].to_numpy(np.int64)
    new = np.ones(len(plan), dtype=np.int64)
    new[1:] = (dags_no[1:] != dags_no[:-1]) | (logical[1:] != logical[:-1])
    plan["dag_run_id"] = np.cumsum(new)
    plan["vseed"] = rng.integers(0, 2**32, len(plan), dtype=np.uint64)
    meta = pd.DataFrame({"dag_id": [d.dag_id for d in dags], "pickled": [d.pickled for d in dags],
                         "offloads": [d.offloads for d in dags]})
    plan["dag_id"] = pd.Categorical.from_codes(plan["dag"].to_numpy(),
                                                categories=pd.Index(meta["dag_id"]))
    plan["pickled"] = meta["pickled"].to_numpy()[plan["dag"]]
    plan["offloads"] = meta["offloads"].to_numpy()[plan["dag"]]
    _plant(cfg, plan, rng)
    return plan


def _task_rows(cfg: SynthConfig, dag: _Dag, d_no: int, task: _Task, t_no: int, runs: np.ndarray,
               rng: np.random.Generator) -> pd.DataFrame:
    n_runs = len(runs)
    if task.fan_out:
        width = np.clip(rng.poisson(task.fan_out, n_runs), 1, cfg.max_fan_out)
    else:
        width = np.ones(n_runs, dtype=np.int64)
    rep = np.repeat(np.arange(n_runs), width)
    starts = np.cumsum(width) - width
    map_index = np.arange(len(rep)) - np.repeat(starts, width) if task.fan_out else np.full(len(rep), -1)
    logical = runs[rep]
    manual = (logical & 1) == 1
    # A scheduled run starts when its interval ends; a manual one at once.
    began = np.where(manual, logical, logical + dag.period_h * 3600 * _US)
    ts = began + task.offset_s * _US + rng.integers(0, 30 * _US, len(rep)) + map_index.clip(0) * 2 * _US
    t0 = pd.Timestamp(cfg.start, tz="UTC").value // 1000
    months = (ts - t0) / (30 * _DAY_US)
    size = task.median_bytes * rng.lognormal(0.0, task.sigma, len(rep)) * (1 + cfg.growth_per_month * months)
    keys = [task.key]
    kinds = [task.kind]
    if task.kind == "mo_whole":  # multiple_outputs: each key plus the whole dict (docs/airflow-xcom.md#core-keys)
        keys = ["return_value", "row_count", "status", "checksum"]
        kinds = ["mo_whole", "mo_key", "mo_key", "mo_key"]
    if task.kind == "trigger" and not cfg.json_values:  # 2.10 also writes the logical date
        keys = ["trigger_run_id", "trigger_logical_date_iso"]
        kinds = ["trigger", "trigger_date"]
    frames = []
    for key, kind in zip(keys, kinds, strict=True):
        frames.append(pd.DataFrame({
            "dag": np.full(len(rep), d_no, dtype=np.int32),
            "task": np.full(len(rep), t_no, dtype=np.int32),
            "task_id": task.task_id,
            "key": key,
            "kind": kind,
            "map_index": map_index.astype(np.int64),
            "logical_us": logical,
            "manual": manual,
            "ts_us": ts + (0 if kind != "mo_key" else 1000),
            "size": np.maximum(size if kind != "mo_key" else size / 6, 2).astype(np.int64),
            "dag_result": task.dag_result and key == "return_value",
        }))
    return pd.concat(frames, ignore_index=True)


def _plant(cfg: SynthConfig, plan: pd.DataFrame, rng: np.random.Generator) -> None:
    """Mark offenders, secrets and NaN values on distinct eligible rows."""
    plan["secret"] = ""
    plan["nan"] = False
    plain = (plan["key"] == "return_value") & ~plan["pickled"]
    taken = np.zeros(len(plan), dtype=bool)

    def pick(mask: np.ndarray, k: int) -> np.ndarray:
        idx = np.flatnonzero(mask & ~taken)
        chosen = rng.choice(idx, size=min(k, len(idx)), replace=False) if k else idx[:0]
        taken[chosen] = True
        return np.sort(chosen)

    metrics = plain.to_numpy() & (plan["kind"] == "metrics").to_numpy() & ~plan["offloads"].to_numpy()
    off = pick(metrics, cfg.offenders)
    plan.loc[off, "kind"] = "frame"
    plan.loc[off, "size"] = (cfg.offender_bytes * rng.lognormal(0, 0.5, len(off))).astype(np.int64)
    small = plain.to_numpy() & plan["kind"].isin(["metrics", "paths"]).to_numpy() & (plan["size"] < 2000).to_numpy()
    sec = pick(small, cfg.secrets)
    kinds = [SECRET_KINDS[i % len(SECRET_KINDS)] for i in range(len(sec))]
    plan.loc[sec, "secret"] = kinds
    plan.loc[sec, "kind"] = "secret"
    plan.loc[sec[[k == "secret_named_key" for k in kinds]], "key"] = "api_token"
    if not cfg.json_values:
        nan = pick(metrics, cfg.nan_values)
        plan.loc[nan, "nan"] = True


# --- the deployment ---------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    """A generated deployment. ``plan`` has one row per XCom; values are built on demand.

    Attributes
    ----------
    config
        The :class:`SynthConfig` it was generated from.
    plan
        One row per XCom (``table``, ids, ``ts_us``, target ``size``, ``kind``, flags).
    """

    config: SynthConfig
    plan: pd.DataFrame

    @property
    def tables(self) -> list[str]:
        """Tables that hold rows, ``xcom`` first."""
        names = list(dict.fromkeys(self.plan["table"]))
        return sorted(names, key=lambda t: (t != "xcom", t))

    def table_kind(self, table: str) -> str:
        """``"json"`` when ``table.value`` holds JSON, ``"bytes"`` for bytea/BLOB."""
        return "json" if self.config.json_values and table != "_xcom_archive" else "bytes"

    def columns(self, table: str) -> list[str]:
        """Physical column order of ``table`` as Airflow creates it (docs/airflow-xcom.md#column-order)."""
        base = ["dag_run_id", "task_id", "map_index", "key", "dag_id", "run_id", "value", "timestamp"]
        if self.table_kind(table) == "bytes" or self.config.airflow != "3.3":
            return base
        if self.config.upgraded_from:
            return [*base, "dag_result"]
        return ["dag_run_id", "task_id", "map_index", "key", "dag_result", "dag_id", "run_id",
                "value", "timestamp"]

    def rows(self, table: str | None = None) -> int:
        """Number of rows in ``table`` (all tables when None)."""
        return int(len(self.plan) if table is None else (self.plan["table"] == table).sum())

    def chunks(self, table: str, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """Yield the rows of ``table`` with their stored values, ``chunk_rows`` at a time.

        Columns: the table's columns (see :meth:`columns`) with ``timestamp`` as
        ``datetime64[us, UTC]``, ``value`` as ``bytes`` (bytea tables) or ``str`` (JSON
        tables; the text PostgreSQL's jsonb prints), plus the plan's ``kind``, ``secret`` and
        ``nan`` (truth, not table columns).
        """
        idx = np.flatnonzero((self.plan["table"] == table).to_numpy())
        builder = _Builder(self.config, json_text=self.table_kind(table) == "json")
        for lo in range(0, len(idx), chunk_rows):
            part = self.plan.iloc[idx[lo:lo + chunk_rows]]
            values = builder.values(part)
            obj = {c: pd.Series(part[c].to_numpy(object), dtype=object) for c in
                   ("task_id", "key", "dag_result", "dag_id", "run_id", "kind", "secret")}
            yield pd.DataFrame({
                "dag_run_id": part["dag_run_id"].to_numpy(np.int64),
                "task_id": obj["task_id"],
                "map_index": part["map_index"].to_numpy(np.int64),
                "key": obj["key"],
                "dag_result": obj["dag_result"],
                "dag_id": obj["dag_id"],
                "run_id": obj["run_id"],
                "value": pd.Series(values, dtype=object),
                "timestamp": pd.to_datetime(part["ts_us"].to_numpy(), unit="us", utc=True),
                "kind": obj["kind"],
                "secret": obj["secret"],
                "nan": part["nan"].to_numpy(bool),
            })

    @cached_property
    def truth(self) -> dict[str, Any]:
        """What a correct reader must find, computed from the generated values."""
        return compute_truth(self)


def generate(config: SynthConfig | None = None, **overrides: Any) -> Deployment:
    """Generate a deployment.

    Examples
    --------
    >>> dep = generate(dags=3, days=10, seed=1)
    >>> dep.tables, dep.rows() > 0
    (['xcom'], True)
    """
    cfg = replace(config or SynthConfig(), **overrides)
    days = cfg.days
    plan = _plan(cfg, days)
    if cfg.rows is not None:
        while len(plan) < cfg.rows:  # lengthen the history, then cut at the wanted row
            days = math.ceil(days * max(1.1, cfg.rows / max(len(plan), 1) * 1.05))
            plan = _plan(cfg, days)
        plan = plan.iloc[: cfg.rows].copy()
    _finish(cfg, plan)
    return Deployment(replace(cfg, days=days), plan)


def _finish(cfg: SynthConfig, plan: pd.DataFrame) -> None:
    """Add run ids, tables and dag_result; mimic an upgrade and a ``db clean``."""
    logical = pd.to_datetime(plan["logical_us"].to_numpy(), unit="us", utc=True)
    iso = logical.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    iso_sched = logical.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    manual = plan["manual"].to_numpy()
    plan["run_id"] = np.where(manual, "manual__" + iso, "scheduled__" + iso_sched)
    plan["table"] = "xcom"
    result = plan["dag_result"].to_numpy(object)
    if not cfg.json_values:
        result[:] = None
    if cfg.upgraded_from:
        t0 = pd.Timestamp(cfg.start, tz="UTC").value // 1000
        upgrade_us = t0 + int(cfg.days * 0.3) * _DAY_US
        before = plan["ts_us"].to_numpy() < upgrade_us
        result[before] = None  # migrated rows get NULL (docs/airflow-xcom.md#schema-3)
        plan.loc[before & plan["pickled"].to_numpy(), "table"] = "_xcom_archive"
        plan.loc[~before, "pickled"] = False  # 3.x cannot pickle
    plan["dag_result"] = result
    if cfg.cleaned_before_day is not None:
        t0 = pd.Timestamp(cfg.start, tz="UTC").value // 1000
        cut = t0 + cfg.cleaned_before_day * _DAY_US
        ran_at = datetime.fromtimestamp((cut + _DAY_US + 3 * 3600 * _US) / _US, tz=UTC)
        name = f"_airflow_deleted__xcom__{ran_at:%Y%m%d%H%M%S}"
        plan.loc[(plan["table"] == "xcom").to_numpy() & (plan["ts_us"].to_numpy() < cut), "table"] = name


# --- building values --------------------------------------------------------------------

_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def jsonb_text(obj: Any) -> str:
    """JSON text as PostgreSQL's jsonb prints it: keys by length then bytes, ``", "``/``": "``."""
    return json.dumps(_jsonb_order(obj), ensure_ascii=False)


def _jsonb_order(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonb_order(obj[k]) for k in sorted(obj, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(obj, list):
        return [_jsonb_order(v) for v in obj]
    return obj


class _Builder:
    """Builds one stored value from a plan row (deterministic in the row's ``vseed``)."""

    def __init__(self, cfg: SynthConfig, *, json_text: bool) -> None:
        self.cfg = cfg
        self.json_text = json_text
        self.threshold = cfg.offload_threshold_bytes

    def values(self, part: pd.DataFrame) -> list[str | bytes | None]:
        """Stored values of the plan rows ``part``, in order."""
        # Plain object arrays: iterating Arrow-backed pandas columns row by row is slow.
        cols = {c: part[c].to_numpy(object) for c in _ROW_FIELDS}
        rows = [_Row(*t) for t in zip(*(cols[c] for c in _ROW_FIELDS), strict=True)]
        return [self.value(r) for r in rows]

    def value(self, row: Any) -> str | bytes | None:
        r = random.Random(int(row.vseed))
        obj = self._object(row, r)
        if row.pickled and not self.json_text:
            return pickle.dumps(_plain(obj), protocol=4)  # what enable_xcom_pickling stores (docs/airflow-xcom.md#serialization-2)
        if row.kind in _NESTED:
            obj = _envelopes(obj)
            text = jsonb_text(obj) if self.json_text else json.dumps(obj, allow_nan=True)
        else:  # flat shapes are built in jsonb key order already
            text = json.dumps(obj, allow_nan=True, ensure_ascii=False)
        if row.offloads and self.threshold is not None and len(text) >= self.threshold:
            text = json.dumps(_offload_path(row, r))  # common-io keeps only the path (docs/airflow-xcom.md#common-io-path)
        if row.kind == "depends" and self.json_text:
            text = json.dumps(text)  # core-written rows are double-encoded in 3.x (docs/airflow-xcom.md#double-encoding)
        return text if self.json_text else text.encode()

    def _object(self, row: Any, r: random.Random) -> Any:
        kind, size = row.kind, int(row.size)
        if kind == "metrics":  # keys in jsonb order: by length, then bytes
            obj: dict[str, Any] = {"rows": r.randint(0, 5_000_000), "files": []}
            if row.nan:
                obj["score"] = float("nan")
            obj["status"] = "ok"
            obj["duration_s"] = round(r.uniform(0.5, 3000), 3)
            return _pad(obj, size, r, row)
        if kind == "paths":
            return _pad({"files": []}, size, r, row)["files"]
        if kind == "ident":
            return f"{row.dag_id}-{uuid.UUID(int=r.getrandbits(128))}"
        if kind == "count":
            return r.randint(0, 10**6)
        if kind == "datetime":
            return _Serde("datetime.datetime", 2, {"timestamp": row.ts_us // _US - 86400.0,
                                                   "tz": _Serde("builtins.tuple", 1, ["UTC", "pendulum.tz.timezone.FixedTimezone", 1, True])})
        if kind == "pair":
            return _Serde("builtins.tuple", 1, [r.randint(0, 10**9), r.randint(0, 10**9)])
        if kind == "frame":
            return _Serde("pandas.DataFrame", 1, _parquet_hex(size, r))
        if kind == "mo_key":
            return {"row_count": r.randint(0, 10**6), "status": "passed",
                    "checksum": f"{r.getrandbits(256):064x}"}[row.key]
        if kind == "mo_whole":
            return _pad({"row_count": r.randint(0, 10**6), "status": "passed",
                         "checksum": f"{r.getrandbits(256):064x}"}, size, r, row)
        if kind == "branch":
            return {"followed": [f"path_{r.choice('abc')}"]}
        if kind in ("trigger", "trigger_date"):
            when = datetime.fromtimestamp(row.ts_us / _US, tz=UTC).isoformat()
            return f"manual__{when}" if kind == "trigger" else when
        if kind == "depends":
            return True
        if kind == "link":
            return "" if r.random() < 0.2 else (
                f"https://console.cloud.google.com/bigquery?project=analytics&j=bq:US:{uuid.UUID(int=r.getrandbits(128))}")
        if kind == "null":
            return None
        if kind == "secret":
            return _secret(row, r)
        msg = f"unknown value kind {kind!r}"
        raise AssertionError(msg)


#: Plan fields a value is built from.
_ROW_FIELDS: Final = ("vseed", "kind", "size", "nan", "pickled", "offloads", "dag_id", "task_id",
                      "run_id", "ts_us", "key", "secret")
_Row = namedtuple("_Row", _ROW_FIELDS)  # type: ignore[misc]
#: Kinds whose objects hold serde envelopes or unordered dicts.
_NESTED: Final = frozenset({"datetime", "pair", "frame", "mo_whole", "branch", "secret"})


@dataclass(frozen=True)
class _Serde:
    classname: str
    version: int
    data: Any


def _pad(obj: dict[str, Any], size: int, r: random.Random, row: Any) -> dict[str, Any]:
    """Grow ``obj`` with realistic file paths until its JSON is about ``size`` bytes."""
    files = obj.setdefault("files", [])
    base = len(json.dumps(obj))
    path = f"s3://data-lake/{row.dag_id}/{row.task_id}/dt=2026-01-01/part-00000-{'0' * 8}.parquet"
    per = len(path) + 4
    for i in range(max(0, (size - base) // per)):
        files.append(f"s3://data-lake/{row.dag_id}/{row.task_id}/dt=2026-01-01/"
                     f"part-{i:05d}-{r.getrandbits(32):08x}.parquet")
    return obj


def _parquet_hex(size: int, r: random.Random) -> str:
    """Upper-case hex of a Parquet-looking payload, as serde stores DataFrames (docs/airflow-xcom.md#serialization-3)."""
    n = max(4, size // 2 - 40)
    head = b"PAR1"
    # Parquet of real data compresses about 2:1; mix random and repeated blocks.
    body = bytearray()
    while len(body) < n - 8:
        block = r.randbytes(64)
        body += block + block[:32] * 2
    return (head + bytes(body[: n - 8]) + head).hex().upper()


def _envelopes(obj: Any) -> Any:
    """Serde envelopes as dicts, ``__classname__`` first (json.dumps order, docs/airflow-xcom.md#serialization-2).

    :func:`jsonb_text` then reorders them the way jsonb does for 3.x tables.
    """
    if isinstance(obj, _Serde):
        return {"__classname__": obj.classname, "__version__": obj.version,
                "__data__": _envelopes(obj.data)}
    if isinstance(obj, dict):
        return {k: _envelopes(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_envelopes(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    """The Python object a pickling task returned (serde stand-ins become their data)."""
    if isinstance(obj, _Serde):
        return tuple(obj.data) if obj.classname == "builtins.tuple" else _plain(obj.data)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _offload_path(row: Any, r: random.Random) -> str:
    """common-io path: ``<base>/<dag_id>/<run_id>/<task_id>/<uuid4>`` (docs/airflow-xcom.md#common-io-path)."""
    return (f"s3://aws_default@acme-xcom/xcom/{row.dag_id}/{row.run_id}/{row.task_id}/"
            f"{uuid.UUID(int=r.getrandbits(128), version=4)}")


def _rand(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def _secret(row: Any, r: random.Random) -> Any:
    """A fake but well-formed credential of kind ``row.secret`` inside a plausible value."""
    kind = row.secret
    if kind == "aws_access_key":
        return {"aws_access_key_id": "AKIA" + _rand(r, _B32, 16),
                "aws_secret_access_key": _rand(r, _B62 + "+/", 40), "region": "eu-west-1"}
    if kind == "private_key":
        body = base64.b64encode(r.randbytes(600)).decode()
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        return {"ssh_key": f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----\n"}
    if kind == "jwt":
        def b64(b: bytes) -> str:
            return base64.urlsafe_b64encode(b).decode().rstrip("=")
        header = b64(b'{"alg":"HS256","typ":"JWT"}')
        claims = b64(json.dumps({"sub": f"svc-{row.dag_id}", "iat": row.ts_us // _US}).encode())
        return {"auth_header": f"Bearer {header}.{claims}.{b64(r.randbytes(32))}"}
    if kind == "url_password":
        return {"conn_uri": f"postgresql://etl_user:{_rand(r, _B62, 18)}@warehouse.internal:5432/analytics",
                "rows": r.randint(0, 10**5)}
    if kind == "secret_named_key":
        return _rand(r, _B62, 40)
    if kind == "github_token":
        return {"repo": "acme/etl", "token": "ghp_" + _rand(r, _B62, 36)}
    if kind == "slack_token":
        return {"channel": "#data-alerts",
                "token": f"xoxb-{r.randint(10**11, 10**12 - 1)}-{r.randint(10**11, 10**12 - 1)}-{_rand(r, _B62, 24)}"}
    msg = f"unknown secret kind {kind!r}"
    raise AssertionError(msg)
