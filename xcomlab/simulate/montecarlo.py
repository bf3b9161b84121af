"""Monte Carlo: a seeded, vectorised simulation of a workload's XComs under one backend config.

Each chunk of days draws, for every stream at once, the runs of each day, the mapped
writes of each run and the size of each write (uniform over the stream's quantile sketch,
see :mod:`xcomlab.simulate.workload`), routes every write to the database or the object
store with common-io's rule (docs/airflow-xcom.md#common-io-threshold: threshold ``-1`` → DB, ``0`` →
object store, ``size >= threshold`` → object store; the size is the uncompressed JSON),
and sums them per day. Retention (``airflow db clean`` by age, docs/airflow-xcom.md#db-clean) then turns daily writes
into what each store holds at the end of each day. Writes are never looped over in Python.

Draws that do not depend on the configuration (runs, fan-out, sizes) come from one
generator and are the same for every :class:`SimConfig` given the same seed and chunking,
so comparing two configurations compares them on the same writes (common random numbers):
DB bytes fall as the threshold falls, object bytes rise with the compression ratio, path
by path. Pulls, size samples and latencies come from their own generators.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from xcomlab.analysis.audit import hard_limit
from xcomlab.constants import REFERENCE_ROW_BYTES
from xcomlab.errors import InsufficientDataError, ParameterError
from xcomlab.models.compression import measure_compression_ratio
from xcomlab.randomness import seed_of
from xcomlab.simulate.workload import Workload

__all__ = ["DAILY_COLUMNS", "SimConfig", "SimulationResult", "hard_limit", "measure_compression_ratio",
           "simulate"]

_DAYS_PER_MONTH: Final = 30.0
#: Columns of :attr:`SimulationResult.daily` (bytes as stored; counts per day unless "held").
DAILY_COLUMNS: Final = (
    "day", "writes", "db_writes", "object_writes", "value_bytes", "db_rows", "db_bytes",
    "db_on_disk_bytes", "object_count", "object_bytes", "puts", "heads", "gets", "pulls",
    "violations",
)
@dataclass(frozen=True)
class SimConfig:
    """One backend configuration.

    Parameters
    ----------
    backend
        ``"db"`` (every value in the metadata DB), ``"tiered"`` (``threshold_bytes``
        decides) or ``"object"`` (every value in the object store).
    threshold_bytes
        common-io's ``xcom_objectstorage_threshold``: ``-1`` never offloads, ``0``
        always, ``N`` offloads values of ``N`` bytes or more. Used when ``backend`` is
        ``"tiered"``.
    compression_ratio
        Stored / original bytes of compressed values (measure it with
        :func:`measure_compression_ratio`); applies to object-store values, and to DB
        values when ``db_compression``.
    db_compression
        Compress values kept in the DB too (xcomlab's backend; common-io does not).
    threshold_on
        ``"serialized"`` compares the uncompressed JSON with the threshold, as common-io
        does; ``"stored"`` compares the compressed size (xcomlab's backend can do both:
        the same spelling as its ``StoreConfig.threshold_on``). The old spelling
        ``"original"`` still means ``"serialized"``, with a DeprecationWarning.
    retention_days
        Rows older than this leave the DB (``airflow db clean``); None keeps them.
    purge_objects
        Objects leave with their rows. ``airflow db clean`` never purges objects
        (docs/airflow-xcom.md#common-io-purge, docs/airflow-xcom.md#db-clean): set False to model the orphans it leaves.
    dialect, airflow
        Metadata database and Airflow version (hard limit, latency backend).
    object_store
        Object-store backend name for latency (``"s3"``, ``"gcs"``, ``"azure"``, ``"file"``).
    hard_limit_bytes
        Largest value the DB accepts; default :func:`hard_limit` for dialect and version.
    ref_bytes
        Bytes of the reference row an offloaded value leaves in the DB.
    head_per_put
        common-io checks ``exists()`` once per write: one HEAD per PUT.
    """

    backend: Literal["db", "tiered", "object"] = "db"
    threshold_bytes: int = -1
    compression_ratio: float = 1.0
    db_compression: bool = False
    threshold_on: Literal["serialized", "stored"] = "serialized"
    retention_days: int | None = None
    purge_objects: bool = True
    dialect: str = "postgresql"
    airflow: str = "3.3"
    object_store: str = "s3"
    hard_limit_bytes: int | None = None
    ref_bytes: int = REFERENCE_ROW_BYTES
    head_per_put: bool = True

    def __post_init__(self) -> None:
        if self.backend not in ("db", "tiered", "object"):
            msg = f"backend={self.backend!r}; expected 'db', 'tiered' or 'object'"
            raise ParameterError(msg)
        if self.threshold_bytes < -1:
            msg = f"threshold_bytes={self.threshold_bytes}; expected -1 (never), 0 (always) or N > 0 bytes"
            raise ParameterError(msg)
        if not 0 < self.compression_ratio <= 10:
            msg = f"compression_ratio={self.compression_ratio}; expected stored/original in (0, 10]"
            raise ParameterError(msg)
        if self.threshold_on == "original":  # type: ignore[comparison-overlap]
            warnings.warn("SimConfig(threshold_on='original') is now spelled 'serialized', as in "
                          "the backend's StoreConfig", DeprecationWarning, stacklevel=3)
            object.__setattr__(self, "threshold_on", "serialized")
        if self.threshold_on not in ("serialized", "stored"):
            msg = f"threshold_on={self.threshold_on!r}; expected 'serialized' or 'stored'"
            raise ParameterError(msg)
        if self.retention_days is not None and self.retention_days < 1:
            msg = f"retention_days={self.retention_days}; expected None or ≥ 1 day"
            raise ParameterError(msg)
        if self.hard_limit_bytes is None:
            object.__setattr__(self, "hard_limit_bytes", hard_limit(self.dialect, self.airflow))

    @property
    def threshold(self) -> int:
        """The effective common-io threshold: ``-1`` for ``db``, ``0`` for ``object``."""
        return {"db": -1, "object": 0}.get(self.backend, self.threshold_bytes)


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation produced.

    Attributes
    ----------
    daily : pandas.DataFrame
        One row per day (:data:`DAILY_COLUMNS`): ``writes`` (``db_writes`` +
        ``object_writes``), ``value_bytes`` (original bytes written), and at the end of
        the day ``db_rows``, ``db_bytes`` (stored values + reference rows),
        ``db_on_disk_bytes`` (× ``disk_ratio``), ``object_count``, ``object_bytes``;
        requests of the day ``puts``, ``heads``, ``gets`` (object store) and ``pulls``
        (reads of any tier); ``violations``: writes over the hard limit left in the DB.
    push_sizes, pull_sizes : pandas.DataFrame
        Per tier (``db``, ``object``, ``all``): ``writes``/``pulls`` (exact counts) and
        quantiles ``p50_bytes, p90_bytes, p99_bytes, max_bytes`` of original sizes, from a
        uniform sample of ``sampled`` writes.
    latency : pandas.DataFrame or None
        Per (op, tier): ``backend, p50_s, p90_s, p99_s, mean_s`` when a latency model was given.
    monthly : pandas.DataFrame or None
        Per 30-day month: mean stored bytes, requests and ``usd`` when prices were given.
    """

    config: SimConfig
    seed: int
    horizon_days: int
    chunk_days: int
    workload: str
    daily: pd.DataFrame
    push_sizes: pd.DataFrame
    pull_sizes: pd.DataFrame
    latency: pd.DataFrame | None
    monthly: pd.DataFrame | None
    elapsed_s: float

    @property
    def writes(self) -> int:
        """XCom writes simulated."""
        return int(self.daily["writes"].sum())

    @property
    def violations(self) -> int:
        """Writes over the hard limit that stayed in the DB."""
        return int(self.daily["violations"].sum())

    @property
    def writes_per_s(self) -> float:
        """Simulated writes per second of wall time."""
        return self.writes / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    @property
    def usd_per_month(self) -> float | None:
        """Mean monthly cost over the horizon (None without prices)."""
        return None if self.monthly is None else float(self.monthly["usd"].mean())

    @property
    def summary(self) -> dict[str, Any]:
        """Headline numbers as plain values."""
        d = self.daily
        out: dict[str, Any] = {
            "writes": self.writes, "violations": self.violations,
            "peak_db_rows": int(d["db_rows"].max()), "peak_db_bytes": int(d["db_bytes"].max()),
            "peak_db_on_disk_bytes": int(d["db_on_disk_bytes"].max()),
            "final_object_count": int(d["object_count"].iloc[-1]),
            "final_object_bytes": int(d["object_bytes"].iloc[-1]),
            "puts": int(d["puts"].sum()), "gets": int(d["gets"].sum()), "pulls": int(d["pulls"].sum()),
            "usd_per_month": self.usd_per_month, "seed": self.seed,
        }
        if self.latency is not None:
            for op in ("push", "pull"):
                if op not in self.latency.index.get_level_values("op"):
                    continue
                rows = self.latency.xs(op, level="op")
                if "all" in rows.index:
                    out[f"{op}_p50_ms"] = float(rows["p50_s"].to_numpy()[rows.index == "all"][0]) * 1e3
                    out[f"{op}_p99_ms"] = float(rows["p99_s"].to_numpy()[rows.index == "all"][0]) * 1e3
        return out

    def __repr__(self) -> str:
        s = self.summary
        cost = f", ${s['usd_per_month']:,.2f}/month" if s["usd_per_month"] is not None else ""
        return (f"SimulationResult({self.config.backend}, threshold {self.config.threshold}: "
                f"{s['writes']:,} writes over {self.horizon_days} days, peak DB "
                f"{s['peak_db_bytes'] / 1e9:,.3f} GB, objects {s['final_object_bytes'] / 1e9:,.3f} GB, "
                f"{s['violations']:,} violations{cost}; seed {self.seed})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.push_sizes.to_html(float_format=lambda x: f"{x:,.0f}")


# --- the simulation ----------------------------------------------------------------------

def simulate(workload: Workload, config: SimConfig | None = None, *, horizon_days: int = 365,
             rng: np.random.Generator | int | None = 0, latency: Any = None, prices: Any = None, disk_ratio: float = 1.0,
             chunk_days: int | None = None, sample_size: int = 100_000) -> SimulationResult:
    """Simulate ``horizon_days`` of a workload's XComs under one configuration.

    Parameters
    ----------
    workload
        What is written (:func:`~xcomlab.simulate.fit_workload`,
        :func:`~xcomlab.simulate.synthetic_workload`).
    config
        Backend configuration (default: database only, PostgreSQL, Airflow 3.3).
    horizon_days
        Days simulated, from the workload's day 0 (for a fitted workload, the export's first
        day: to forecast H days past an export of D days, simulate D + H and read days ≥ D).
    rng
        Seed or generator; the result records the seed it ran (:func:`xcomlab.randomness.seed_of`).
        Same seed (and ``chunk_days``) ⇒ same result.
    latency
        Optional model with ``sample(op, backend, nbytes, rng) -> seconds`` (e.g.
        :class:`xcomlab.models.latency.LatencyModel`); called with backend
        ``config.dialect`` for the DB tier and ``config.object_store`` for the object tier.
    prices
        Optional model with ``monthly(db_bytes=, object_bytes=, puts=, gets=)`` returning
        USD or an object with ``.total``.
    disk_ratio
        On-disk bytes per stored value byte in the DB (heap, index, TOAST overhead).
    chunk_days
        Days drawn per batch (default: about half a million writes per batch).
    sample_size
        Writes kept (uniformly) for size quantiles and latency draws.

    Notes
    -----
    Memory is about 20 bytes per write of a chunk (a chunk is at least one day). On 2 vCPUs
    (2026-11-25) a year of a 1000-DAG synthetic deployment (49M writes) takes about 1.5 s:
    run ``python -m benchmarks.simulate``.
    """
    config = config or SimConfig()
    seed = seed_of(rng)
    if horizon_days < 1 or disk_ratio <= 0:
        msg = f"need horizon_days ≥ 1 and disk_ratio > 0; got {horizon_days}, {disk_ratio}"
        raise ParameterError(msg)
    if len(workload) == 0:
        msg = "the workload has no streams"
        raise InsufficientDataError(msg)
    started = time.perf_counter()
    days = np.arange(horizon_days, dtype=np.float64)
    expected = _expected_writes(workload, days)
    if chunk_days is None:
        # Batches of ~0.5M writes keep the temporaries in cache; fewer make Python overhead show.
        chunk_days = int(np.clip(5e5 / max(expected.max(), 1.0), 1, horizon_days))
    seeds = np.random.SeedSequence(seed).spawn(3)
    draws, side, lat_rng = (np.random.default_rng(s) for s in seeds)
    sampler = _Sampler(side, min(1.0, sample_size / max(expected.sum(), 1.0)))
    acc = {c: np.zeros(horizon_days) for c in ("writes", "object_writes", "value_bytes", "object_value_bytes",
                                                "violations", "pulls")}
    step = _Step(workload, config, horizon_days)
    for d0 in range(0, horizon_days, chunk_days):
        step.run(days[d0:d0 + chunk_days], draws, side, sampler, acc)
    daily = _daily(acc, config, disk_ratio)
    push, pull = sampler.result(workload, side)
    push_sizes = _size_table(push, acc["writes"].sum(), acc["object_writes"].sum(), "writes")
    pull_sizes = _size_table(pull, acc["pulls"].sum(), daily["gets"].sum(), "pulls")
    lat = _latency(latency, config, push, pull, lat_rng) if latency is not None else None
    monthly = _monthly(daily, prices) if prices is not None else None
    return SimulationResult(config, seed, horizon_days, chunk_days, workload.source, daily,
                            push_sizes, pull_sizes, lat, monthly, time.perf_counter() - started)


def _expected_writes(w: Workload, days: np.ndarray) -> np.ndarray:
    """Expected writes per day (for chunking and the sampling rate)."""
    per = w.runs_per_day * w.fan_out
    return np.array([float(((per * np.maximum(1 + w.growth_per_month * d / _DAYS_PER_MONTH, 0))
                            [w.start_day <= d]).sum()) for d in days])


class _Step:
    """Draws and routes the writes of a chunk of days; adds per-day totals to ``acc``."""

    def __init__(self, w: Workload, cfg: SimConfig, horizon_days: int) -> None:
        self.w, self.cfg = w, cfg
        self.m = w.sizes.shape[1]
        self.flat = np.ascontiguousarray(w.sizes.ravel())
        idx_type = np.int32 if len(w) * self.m < 2**31 else np.int64
        self.base = (np.arange(len(w), dtype=idx_type) * self.m).astype(idx_type)
        self.k_type = np.uint8 if self.m <= 256 else np.uint16 if self.m <= 65536 else np.int64
        self.grows = bool(np.any(w.size_growth_per_month != 0))
        ratio = cfg.compression_ratio
        thr = cfg.threshold
        # Threshold in original bytes: common-io compares the uncompressed JSON (docs/airflow-xcom.md#common-io-threshold).
        self.thr = float(thr) / (ratio if cfg.threshold_on == "stored" else 1.0) if thr > 0 else float(thr)
        self.db_ratio = ratio if cfg.db_compression else 1.0
        # Value over the hard limit when kept in the DB: stored size > limit.
        self.limit = float(cfg.hard_limit_bytes or np.inf) / self.db_ratio
        top = float(w.sizes.max()) * max(1.0, float(np.max(1 + w.size_growth_per_month * horizon_days / _DAYS_PER_MONTH)))
        self.check_limit = top > self.limit and thr != 0

    def run(self, days: np.ndarray, rng: np.random.Generator, side: np.random.Generator,
            sampler: _Sampler, acc: dict[str, np.ndarray]) -> None:
        w, n_days, n_s = self.w, len(days), len(self.w)
        active = w.start_day[None, :] <= days[:, None]
        lam = w.runs_per_day[None, :] * np.maximum(1 + w.growth_per_month[None, :] * days[:, None] / _DAYS_PER_MONTH, 0)
        runs = rng.poisson(np.where(active, lam, 0.0))
        writes = (runs + rng.poisson(runs * (w.fan_out - 1)[None, :])).ravel()
        total = int(writes.sum())
        d = days.astype(np.int64)
        per_day = writes.reshape(n_days, n_s).sum(axis=1)
        acc["writes"][d] += per_day
        # Pulls per day ~ Poisson(Σ writes × pulls_per_push); GETs follow in _daily.
        acc["pulls"][d] += side.poisson((writes.reshape(n_days, n_s) * w.pulls_per_push[None, :]).sum(axis=1))
        if total == 0:
            return
        idx = np.repeat(np.tile(self.base, n_days), writes)
        idx += rng.integers(0, self.m, total, dtype=self.k_type)
        size = np.take(self.flat, idx)
        del idx
        if self.grows:
            factor = np.maximum(1 + w.size_growth_per_month[None, :] * days[:, None] / _DAYS_PER_MONTH, 0).astype(np.float32)
            size *= np.repeat(factor.ravel(), writes)
        obj = self._route(size)
        over = None
        if self.check_limit:
            over = size > self.limit
            if obj is not None:
                over &= ~obj
        ends = np.cumsum(per_day)
        for day, lo, hi in zip(d, ends - per_day, ends, strict=True):  # a few days: sums are SIMD
            part = size[lo:hi]
            acc["value_bytes"][day] += part.sum(dtype=np.float64)
            if obj is not None:
                acc["object_writes"][day] += np.count_nonzero(obj[lo:hi])
                acc["object_value_bytes"][day] += np.sum(part, where=obj[lo:hi], dtype=np.float64)
            if over is not None:
                acc["violations"][day] += np.count_nonzero(over[lo:hi])
        sampler.take(size, obj, writes, n_s)

    def _route(self, size: np.ndarray) -> np.ndarray | None:
        """True where a write goes to the object store (None: none does)."""
        if self.thr < 0:
            return None
        if self.thr == 0:
            return np.ones(len(size), dtype=bool)
        return size >= np.float32(self.thr)


@dataclass
class _Sampler:
    """A uniform sample of writes (size, tier, stream) for quantiles and latency."""

    rng: np.random.Generator
    rate: float

    def __post_init__(self) -> None:
        self.sizes: list[np.ndarray] = []
        self.objs: list[np.ndarray] = []
        self.streams: list[np.ndarray] = []

    def take(self, size: np.ndarray, obj: np.ndarray | None, writes: np.ndarray, n_s: int) -> None:
        m = int(self.rng.binomial(len(size), self.rate))
        pos = np.sort(self.rng.integers(0, len(size), m))
        cell = np.searchsorted(np.cumsum(writes), pos, side="right")
        self.sizes.append(size[pos].astype(np.float64))
        self.objs.append(obj[pos] if obj is not None else np.zeros(m, bool))
        self.streams.append(cell % n_s)

    def result(self, w: Workload, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
        push = pd.DataFrame({"bytes": np.concatenate(self.sizes) if self.sizes else np.zeros(0),
                             "object": np.concatenate(self.objs) if self.objs else np.zeros(0, bool)})
        stream = np.concatenate(self.streams) if self.streams else np.zeros(0, np.int64)
        weight = w.pulls_per_push[stream]
        if len(push) and weight.sum() > 0:
            pick = rng.choice(len(push), len(push), p=weight / weight.sum())
            pull = push.iloc[pick].reset_index(drop=True)
        else:
            pull = push.iloc[:0]
        return push, pull


def _daily(acc: dict[str, np.ndarray], cfg: SimConfig, disk_ratio: float) -> pd.DataFrame:
    """Per-day totals → what each store holds at the end of each day, with retention."""
    writes, obj_w = acc["writes"], acc["object_writes"]
    obj_stored = acc["object_value_bytes"] * cfg.compression_ratio
    db_stored = (acc["value_bytes"] - acc["object_value_bytes"]) * (cfg.compression_ratio if cfg.db_compression else 1.0)
    keep = cfg.retention_days
    # Each pull reads the row; an offloaded one also GETs the object (expected share per day).
    share = np.divide(obj_w, writes, out=np.zeros_like(writes), where=writes > 0)
    gets = np.rint(acc["pulls"] * share)
    db_bytes = _held(db_stored, keep) + _held(obj_w, keep) * cfg.ref_bytes
    obj_keep = keep if cfg.purge_objects else None
    out = pd.DataFrame({
        "day": np.arange(len(writes)),
        "writes": writes.astype(np.int64),
        "db_writes": (writes - obj_w).astype(np.int64),
        "object_writes": obj_w.astype(np.int64),
        "value_bytes": np.rint(acc["value_bytes"]).astype(np.int64),
        "db_rows": _held(writes, keep).astype(np.int64),
        "db_bytes": np.rint(db_bytes).astype(np.int64),
        "db_on_disk_bytes": np.rint(db_bytes * disk_ratio).astype(np.int64),
        "object_count": _held(obj_w, obj_keep).astype(np.int64),
        "object_bytes": np.rint(_held(obj_stored, obj_keep)).astype(np.int64),
        "puts": obj_w.astype(np.int64),
        "heads": (obj_w if cfg.head_per_put else np.zeros_like(obj_w)).astype(np.int64),
        "gets": gets.astype(np.int64),
        "pulls": acc["pulls"].astype(np.int64),
        "violations": acc["violations"].astype(np.int64),
    })
    return out[list(DAILY_COLUMNS)]


def _held(per_day: np.ndarray, keep: int | None) -> np.ndarray:
    """Sum over the last ``keep`` days (all days when None), at the end of each day."""
    total = np.cumsum(per_day)
    if keep is None or keep >= len(per_day):
        return total
    out = total.copy()
    out[keep:] -= total[:-keep]
    return out


_Q: Final = {"p50_bytes": 0.5, "p90_bytes": 0.9, "p99_bytes": 0.99, "max_bytes": 1.0}


def _size_table(sample: pd.DataFrame, count: float, object_count: float, what: str) -> pd.DataFrame:
    rows = {}
    parts = {"db": sample[~sample["object"]], "object": sample[sample["object"]], "all": sample}
    counts = {"db": count - object_count, "object": object_count, "all": count}
    for tier, part in parts.items():
        q = {k: float(np.quantile(part["bytes"], v)) if len(part) else np.nan for k, v in _Q.items()}
        rows[tier] = {what: round(counts[tier]), "sampled": len(part), **q}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("tier")


def _latency(model: Any, cfg: SimConfig, push: pd.DataFrame, pull: pd.DataFrame,
             rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for op, sample in (("push", push), ("pull", pull)):
        times = []
        for tier, backend, mask in (("db", cfg.dialect, ~sample["object"].to_numpy()),
                                    ("object", cfg.object_store, sample["object"].to_numpy())):
            if not mask.any():
                continue
            ratio = cfg.compression_ratio if tier == "object" or cfg.db_compression else 1.0
            t = np.asarray(model.sample(op, backend, sample["bytes"].to_numpy()[mask] * ratio, rng),
                           dtype=np.float64)
            times.append(t)
            rows.append(_lat_row(op, tier, backend, t))
        if times:
            rows.append(_lat_row(op, "all", cfg.backend, np.concatenate(times)))
    return pd.DataFrame(rows).set_index(["op", "tier"])


def _lat_row(op: str, tier: str, backend: str, t: np.ndarray) -> dict[str, Any]:
    p50, p90, p99 = np.quantile(t, [0.5, 0.9, 0.99])
    return {"op": op, "tier": tier, "backend": backend, "sampled": len(t), "p50_s": p50,
            "p90_s": p90, "p99_s": p99, "mean_s": float(t.mean())}


def _monthly(daily: pd.DataFrame, prices: Any) -> pd.DataFrame:
    """Cost of each 30-day block: mean stored bytes, requests scaled to 30 days."""
    month = daily["day"] // int(_DAYS_PER_MONTH)
    g = daily.groupby(month)
    table = pd.DataFrame({
        "days": g.size(),
        "db_on_disk_bytes": g["db_on_disk_bytes"].mean(),
        "object_bytes": g["object_bytes"].mean(),
        # S3 bills HEAD with GET ("GET, SELECT and all other requests", docs/prices.md#s3).
        "puts": g["puts"].sum(), "gets": g["gets"].sum() + g["heads"].sum(),
    }).rename_axis("month")
    scale = _DAYS_PER_MONTH / table["days"]
    usd = []
    for (_, row), k in zip(table.iterrows(), scale, strict=True):
        kw = {"db_bytes": float(row["db_on_disk_bytes"]), "object_bytes": float(row["object_bytes"]),
              "puts": float(row["puts"] * k), "gets": float(row["gets"] * k)}
        out = prices.monthly(**kw) if hasattr(prices, "monthly") else prices(**kw)
        usd.append(float(getattr(out, "total", out)))
    table["usd"] = usd
    return table


# --- compression ---------------------------------------------------------------------------
