"""Recommend: candidate XCom backend configurations → cost/latency table, Pareto front, advice.

Candidates: database only; database with compressed inline values (xcomlab's backend);
tiered (DB below a threshold, object store at or above it — thresholds from the workload's
size quantiles plus the 48 KB policy and common-io's 1 MiB example); object store only; on
each object store. Each is evaluated on the frame itself: sizes from ``value_bytes``, write
rate from the ``timestamp`` span, pulls ≈ pushes unless told otherwise. On a
:class:`~xcomlab.summary.Summary` the rows are its size groups, weighted by their rows
(:func:`xcomlab.analysis.disk.sized_groups`: each bucket's representative, the key group's
bytes exact), codec ratios come from its value sample and the on-disk sizes from the group
model; a threshold inside a size bucket moves the bucket's rows in proportion to its integers
at or above it (sizes taken as uniform within a bucket, whose top is < 1.04 × its bottom). A fitted
:mod:`xcomlab.simulate` run can replace the frame arithmetic (``simulate=True``).

Assumptions (each overridable): Airflow 3 links (``_link_*``) and other internal keys are
written past any custom backend (docs/airflow-xcom.md#core-keys), so they stay in the DB; an offloaded
value leaves a reference row of ``ref_bytes`` in the DB; common-io checks ``exists()`` (one
HEAD, billed as a GET) before each PUT (docs/airflow-xcom.md#common-io-path); DB storage is billed at its peak (RDS bills
allocated storage); same-region workers (no egress).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.analysis import disk
from xcomlab.analysis.audit import hard_limit
from xcomlab.analysis.compressibility import CODECS as CODECS_SAMPLED
from xcomlab.analysis.compressibility import compressibility
from xcomlab.constants import REFERENCE_ROW_BYTES
from xcomlab.errors import ParameterError, SchemaMismatchError
from xcomlab.models.compression import measure_compression_ratio
from xcomlab.models.cost import Prices, monthly_cost
from xcomlab.models.latency import CODECS, LatencyModel, stored_bytes, tier_of
from xcomlab.randomness import seed_of
from xcomlab.schema import primary_rows
from xcomlab.simulate import SimConfig, fit_workload, simulate
from xcomlab.simulate.workload import ObservedWrites, observed_writes
from xcomlab.summary import Summary
from xcomlab.summary.histogram import quantile_from_counts

__all__ = [
    "DEFAULT_DB",
    "LATENCY_TOLERANCE",
    "OBJECTIVES",
    "XCOMLAB_BACKEND",
    "Candidate",
    "Recommendation",
    "candidates",
    "evaluate",
    "measure_compression_ratio",
    "pareto_front",
    "recommend",
]

Backend = Literal["db", "tiered", "object"]

#: Minimised together for the Pareto front.
OBJECTIVES: Final = ("monthly_cost_usd", "push_p99_ms", "pull_p99_ms", "violations")
#: Latencies within this relative margin of each other are a tie for the Pareto front: the
#: latency model's stated error — the ±20 % held-out p50 goal, which 93 % of the calibration's
#: cells meet (docs/latency.md#calibration) — so a difference it cannot resolve decides no dominance.
LATENCY_TOLERANCE: Final = 0.20
#: ``MAX_XCOM_SIZE`` (48 KB) kept as a policy threshold (xcomlab/data/limits.csv ``policy_48kb``,
#: 2026-11-24).
POLICY_48KB: Final = 49_344
#: common-io docs' example threshold (docs/managed-airflow.md#thresholds, common-io 1.3.0–1.9.0, 2026-11-24).
COMMON_IO_EXAMPLE: Final = 1_048_576
#: A packed inline value's envelope around its base64 payload (``xcomlab/backend/envelope.py``
#: "packed" shape: marker, codec, sizes, 64-hex sha256): 171 B measured with
#: ``XComStore(compress_inline=True)`` on SQLite, 2026-11-25 [L].
PACKED_OVERHEAD_BYTES: Final = 171
_COMPLEXITY: Final = {"db": 0, "db+compression": 1, "tiered": 2, "object": 3}
#: Class path of xcomlab's Airflow 3 adapter (xcomlab/backend/airflow.py).
XCOMLAB_BACKEND: Final = "xcomlab.backend.airflow.XComlabBackend"
#: The managed database each dialect is priced as (service names in data/pricing.csv).
DEFAULT_DB: Final = {"postgresql": "rds-postgresql-gp3", "mysql": "rds-mysql-gp3",
                     "sqlite": "ebs-gp3"}
_BASES: Final = {"s3": ("s3://aws_default@<bucket>/xcom", "s3://<bucket>/xcom"),
                 "gcs": ("gs://google_cloud_default@<bucket>/xcom", "gs://<bucket>/xcom"),
                 "azure": ("abfs://wasb_default@<container>/xcom", "abfs://<container>/xcom"),
                 "file": ("file:///srv/airflow/xcom", "file:///srv/airflow/xcom")}


@dataclass(frozen=True)
class Candidate:
    """One configuration to evaluate.

    ``threshold_bytes`` has common-io's meaning: ``-1`` never offload, ``0`` always,
    ``N`` offload values of ``N`` bytes or more. ``compression`` applies to offloaded
    values, and for ``backend="db"`` to inline values (xcomlab's ``compress_inline``).
    """

    name: str
    backend: Backend
    threshold_bytes: int = -1
    compression: Literal["none", "gzip", "zstd"] = "none"
    object_store: str | None = None
    dialect: str = "postgresql"

    def __post_init__(self) -> None:
        expected = {"db": self.threshold_bytes < 0, "object": self.threshold_bytes == 0,
                    "tiered": self.threshold_bytes > 0}
        if self.backend not in expected or not expected[self.backend]:
            msg = (f"candidate {self.name!r}: backend={self.backend!r} with threshold "
                   f"{self.threshold_bytes}; expected db (-1), tiered (N > 0) or object (0)")
            raise ParameterError(msg)
        if self.backend != "db" and not self.object_store:
            msg = f"candidate {self.name!r}: backend={self.backend!r} needs an object_store"
            raise ParameterError(msg)

    @property
    def kind(self) -> str:
        """``db``, ``db+compression``, ``tiered`` or ``object`` (simplest first)."""
        if self.backend == "db" and self.compression != "none":
            return "db+compression"
        return self.backend

    def settings(self, object_base: str | None = None) -> dict[str, dict[str, str]]:
        """Environment variables to apply this configuration.

        Returns ``{"common_io": {...}, "xcomlab": {...}}``: the common-io
        ``XComObjectStorageBackend`` options (empty when common-io cannot express the
        configuration, e.g. compressed inline values) and xcomlab's backend settings
        (``AIRFLOW__CORE__XCOM_BACKEND`` plus each option under both the ``XCOMLAB_`` and
        ``AIRFLOW__XCOMLAB__`` prefixes; empty when Airflow's own backend suffices).
        """
        store = self.object_store or "s3"
        cio_base, xl_base = _BASES.get(store, (f"{store}://<bucket>/xcom",) * 2)
        common_io: dict[str, str] = {}
        if self.backend != "db":
            common_io = {
                "AIRFLOW__CORE__XCOM_BACKEND":
                    "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
                "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": object_base or cio_base,
                "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": str(self.threshold_bytes),
            }
            if self.compression != "none":  # fsspec names: "gzip" (not "gz"), "zstd"
                common_io["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION"] = self.compression
        core: dict[str, str] = {"THRESHOLD": str(self.threshold_bytes),
                                "COMPRESSION": self.compression}
        if self.backend != "db":
            core["OBJECT_BASE"] = object_base or xl_base
        if self.backend == "db" and self.compression != "none":
            core["COMPRESS_INLINE"] = "true"
        if self.backend == "db" and self.compression == "none":
            return {"common_io": common_io, "xcomlab": {}}  # Airflow's own backend will do
        xcomlab = {"AIRFLOW__CORE__XCOM_BACKEND": XCOMLAB_BACKEND}
        xcomlab.update({f"{prefix}{k}": v for prefix in ("XCOMLAB_", "AIRFLOW__XCOMLAB__")
                        for k, v in core.items()})
        return {"common_io": common_io, "xcomlab": xcomlab}


def _quantile_label(q: float) -> str:
    return f"p{q * 100:g}"


def candidates(frame: pd.DataFrame | Summary | np.ndarray | Sequence[float], *,
               dialect: str = "postgresql",
               object_stores: Sequence[str] = ("s3", "gcs", "azure"),
               compression: Literal["gzip", "zstd"] = "zstd",
               quantiles: Sequence[float] = (0.9, 0.99, 0.999),
               thresholds: Sequence[int] = (POLICY_48KB, COMMON_IO_EXAMPLE)) -> list[Candidate]:
    """The configurations worth comparing for a workload.

    Parameters
    ----------
    frame
        An XCom frame, its :class:`~xcomlab.summary.Summary` (quantiles from its size
        buckets, within ≈ 2 %), or an array of value sizes (bytes).
    object_stores
        Stores to try for tiered and object-only candidates.
    quantiles, thresholds
        Tiered thresholds: these quantiles of the value sizes, plus fixed sizes (the 48 KB
        policy and common-io's 1 MiB example). Thresholds above the largest value (nothing
        would move) are dropped; duplicates are merged.
    """
    if isinstance(frame, Summary):
        qcuts, top = _summary_quantiles(frame, quantiles)
    else:
        sizes = (observed_writes(frame, sized_only=True).sizes if isinstance(frame, pd.DataFrame)
                 else np.asarray(frame, dtype="float64"))
        qcuts = [np.quantile(sizes, q) if len(sizes) else 0.0 for q in quantiles]
        top = float(sizes.max()) if len(sizes) else 0.0
    out = [Candidate("db", "db", -1, "none", None, dialect),
           Candidate(f"db+{compression}", "db", -1, compression, None, dialect)]
    cuts: dict[int, str] = {}
    for q, value in zip(quantiles, qcuts, strict=True):
        cuts.setdefault(max(int(np.ceil(value)), 1), _quantile_label(q))
    for t in thresholds:
        cuts.setdefault(int(t), "48KB" if t == POLICY_48KB else "1MiB" if t == COMMON_IO_EXAMPLE
                        else f"{t}B")
    for store in object_stores:
        for cut, label in sorted(cuts.items()):
            if cut <= top:
                out.append(Candidate(f"tiered-{store}@{label}", "tiered", cut, compression,
                                     store, dialect))
        out.append(Candidate(f"object-{store}", "object", 0, compression, store, dialect))
    return out


_default_candidates = candidates


def _summary_quantiles(summary: Summary, quantiles: Sequence[float]) -> tuple[list[float], float]:
    """Size quantiles of a summary's live rows (from its buckets) and its largest size."""
    live = summary.primary()
    hist = live.histogram.groupby(level="bucket")["rows"].sum()
    low, high = live.keys["min_bytes"].min(), live.keys["max_bytes"].max()
    lowest = None if pd.isna(low) else float(low)
    highest = None if pd.isna(high) else float(high)
    qs = quantile_from_counts(hist.index.to_numpy(), hist.to_numpy(), tuple(quantiles), lowest, highest)
    return [0.0 if np.isnan(q) else q for q in qs], highest or 0.0


def _writes(frame: pd.DataFrame | Summary,
            cuts: Sequence[int] = ()) -> tuple[ObservedWrites, disk.SizedGroups | None]:
    """The sized writes of a frame (one entry per row) or a summary (one per size group, split
    at the thresholds ``cuts``), and what sizes them on disk."""
    if not isinstance(frame, Summary):
        return observed_writes(frame, sized_only=True), None
    groups = disk.sized_groups(frame).split(cuts)
    if not len(groups.value):
        msg = "the summary has no live xcom rows with a size; summarise an export whose xcom table has rows"
        raise SchemaMismatchError(msg)
    first, last = frame.primary().timestamps()
    span = (last - first).total_seconds() / 86_400 if first is not None and last is not None else 0.0
    src = frame.primary().sources.groupby(level=S.AIRFLOW_SCHEMA)["rows"].sum()
    af3 = bool(not len(src) or src[src.index.astype(str).str.startswith("3")].sum() * 2 >= src.sum())
    codes, keys = pd.factorize(np.asarray(groups.keys, dtype=object), use_na_sentinel=False)
    internal = np.array([S.is_internal_key(k) for k in keys], dtype=bool)[codes]  # once per key
    rows = pd.DataFrame({S.INTERNAL: internal})
    return ObservedWrites(rows, groups.value.astype("float64"), max(span, 1.0), af3, groups.weight), groups


# --- compression ratio ---------------------------------------------------------------------

def _airflow(w: ObservedWrites) -> str:
    """The Airflow release a workload is evaluated on: 3.3, or 2.10 for an Airflow 2 export."""
    return "3.3" if w.airflow3 else "2.10"


def _sampled_ratio(values: pd.Series, codec: str) -> float | None:
    """``codec``'s ratio on up to 200 sample values (seed 0); None when they hold no bytes."""
    if codec not in ("gzip", "zstd"):
        return 1.0
    try:
        return measure_compression_ratio(values, codec, sample=200, rng=0)
    except ParameterError:  # no str/bytes values to measure: the default ratio applies
        return None


# --- evaluation ----------------------------------------------------------------------------

def _ratio(codec: str, compression_ratio: float | dict[str, float] | None,
           w: ObservedWrites, notes: list[str], frame: pd.DataFrame | Summary) -> float:
    if codec == "none":
        return 1.0
    if isinstance(compression_ratio, dict) and codec in compression_ratio:
        return float(compression_ratio[codec])
    if isinstance(compression_ratio, int | float):
        return float(compression_ratio)
    if w.values is not None and (r := _sampled_ratio(w.values, codec)) is not None:
        notes.append(f"{codec} ratio {r:.3f} measured on sample values")
        return r
    source = frame.sample if isinstance(frame, Summary) else frame
    measured = compressibility(source) if source is not None else None
    if measured is not None and codec in CODECS_SAMPLED and (r := measured.ratio(codec)) is not None:
        notes.append(f"{codec} ratio {r:.3f}: {measured.source} of the export (a seeded sample per "
                     "size class, weighted by the bytes of each class)")
        return r
    notes.append(f"{codec} ratio {CODECS[codec][0]:.3f}: default (docs/latency.md#compression, "
                 "lzbench 2025 on Silesia): the export holds no values to measure (a live database "
                 "read without sample_values=True, or a frame built by hand)")
    return CODECS[codec][0]


def _db_bytes(c: Candidate, w: ObservedWrites, ratio: float, ref_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(offloaded mask, bytes each row leaves in the DB's value column)."""
    offload = (tier_of(w.sizes, c.threshold_bytes) == "object") & ~w.internal
    inline = w.sizes
    if c.kind == "db+compression":  # packed only when that saves bytes (StoreConfig.compress_inline)
        packed = 4 * np.ceil(stored_bytes(w.sizes, c.compression, ratio=ratio) / 3) + PACKED_OVERHEAD_BYTES
        inline = np.minimum(w.sizes, packed)
    return offload, np.where(offload, float(ref_bytes), inline)


class _DiskSizer:
    """On-disk bytes of the live rows if their values had other sizes (cached, sampled).

    Uses :func:`xcomlab.analysis.disk.estimate` when available: packed (compressed, base64)
    values are incompressible for TOAST; the frame's own values, when kept, tell TOAST's
    compressibility for the rows still inline. Without it: 506 B/row + the values. Frames
    over ``max_rows`` live rows are sized on a seeded sample and scaled up.
    """

    def __init__(self, frame: pd.DataFrame, *, max_rows: int = 100_000, seed: int = 0) -> None:
        rows = primary_rows(frame)
        rows = rows[rows[S.VALUE_BYTES].notna() | rows[S.REF_BYTES].notna()]
        n = len(rows)
        self.pick = (np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
                     if n > max_rows else np.arange(n))
        self.rows = rows.iloc[self.pick]
        self.scale = n / max(len(self.pick), 1)
        self.cache: dict[tuple[Any, ...], float] = {}

    def __call__(self, c: Candidate, db_value_bytes: np.ndarray, offload: np.ndarray,
                 ratio: float) -> float:
        packed = c.kind == "db+compression"
        key = (c.kind, c.threshold_bytes, c.dialect, c.compression if packed else "",
               round(ratio, 9) if packed else 0.0)
        if key not in self.cache:
            self.cache[key] = self._size(db_value_bytes[self.pick], offload[self.pick],
                                         c.dialect, packed) * self.scale
        return self.cache[key]

    def _size(self, vals: np.ndarray, offload: np.ndarray, dialect: str, packed: bool) -> float:
        rows = self.rows.copy()
        rows[S.VALUE_BYTES] = pd.array(np.round(vals).astype("int64"), dtype="Int64")
        if S.VALUE in rows:
            if packed:
                rows = rows.drop(columns=[S.VALUE])
            else:
                rows[S.VALUE] = rows[S.VALUE].where(~offload, None)
        return float(disk.estimate(rows, dialect, compressibility=1.0 if packed else None).total_bytes)


class _GroupSizer(_DiskSizer):
    """:class:`_DiskSizer` on a summary's size groups (:func:`xcomlab.analysis.disk.sized_groups`)."""

    def __init__(self, groups: disk.SizedGroups) -> None:
        self.groups = groups
        self.pick = np.arange(len(self.groups.value))
        self.scale = 1.0
        self.cache = {}

    def _size(self, vals: np.ndarray, offload: np.ndarray, dialect: str, packed: bool) -> float:
        return float(self.groups.estimate(dialect, vals, compressibility=1.0 if packed else None).total_bytes)


def _latency(c: Candidate, w: ObservedWrites, model: LatencyModel, ratio: float, offload: np.ndarray,
             idx: np.ndarray, seed: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for op in ("push", "pull"):
        rng = np.random.default_rng(seed)  # common random numbers across candidates
        parts = []
        for obj, backend in ((False, c.dialect), (True, c.object_store or "s3")):
            sel = idx[offload[idx] == obj]
            if len(sel) == 0:
                continue
            comp = c.compression if (obj or c.kind == "db+compression") else None
            parts.append(model.sample(op, backend, w.sizes[sel], rng, airflow3=w.airflow3,
                                      compression=comp, compression_ratio=ratio))
        t = np.concatenate(parts) * 1e3
        out[f"{op}_p50_ms"] = float(np.quantile(t, 0.5))
        out[f"{op}_p99_ms"] = float(np.quantile(t, 0.99))
    return out


def evaluate(frame: pd.DataFrame | Summary, candidates: Sequence[Candidate] | None = None, *,
             prices: Prices | None = None, latency: LatencyModel | None = None,
             horizon_days: int = 30, dialect: str = "postgresql",
             compression_ratio: float | dict[str, float] | None = None,
             pulls_per_push: float = 1.0, retention_days: float | None = None,
             ref_bytes: int = REFERENCE_ROW_BYTES, sample_size: int = 20_000,
             rng: np.random.Generator | int | None = 0,
             object_stores: Sequence[str] | None = None,
             simulate: bool | Mapping[str, Any] = False) -> pd.DataFrame:
    """One row per candidate: monthly cost, push/pull latency, peak DB size, violations.

    Parameters
    ----------
    frame
        An XCom frame (its live ``xcom`` rows are the workload), or its
        :class:`~xcomlab.summary.Summary` (its size groups, weighted; see the module docstring).
    candidates
        Default: :func:`candidates` of the frame for ``dialect`` (on ``object_stores``,
        default S3, GCS and Azure — restrict it to your cloud).
    prices, latency
        Cost and latency models (defaults: bundled prices with the dialect's managed DB,
        :class:`~xcomlab.models.latency.LatencyModel`).
    horizon_days
        The peak DB size is the table after this many more days of writes at the frame's
        rate (or the steady state under ``retention_days``).
    compression_ratio
        Stored/original for the codec (a number or ``{codec: ratio}``); default: measured
        on the frame's values when it has them, else :data:`~xcomlab.models.latency.CODECS`.
    pulls_per_push
        Object GETs per offloaded value.
    simulate
        ``True``: take DB/object volumes, requests and violations from
        :func:`xcomlab.simulate.simulate` on a workload fitted from the frame (same seed for
        every candidate) instead of the frame arithmetic. Or ``{candidate name:
        SimulationResult}`` you ran yourself (its ``.daily`` and ``.violations`` are read).

    Returns
    -------
    pandas.DataFrame
        Indexed by candidate name: ``backend, kind, threshold_bytes, compression,
        object_store, offloaded_share, monthly_cost_usd, db_storage_usd, object_storage_usd,
        requests_usd, push_p50_ms, push_p99_ms, pull_p50_ms, pull_p99_ms, peak_db_bytes,
        object_bytes, objects, puts_per_month, violations, pareto``. ``attrs["notes"]`` lists
        the assumptions used.
    """
    seed = seed_of(rng)
    cands = (list(candidates) if candidates is not None else _default_candidates(
        frame, dialect=dialect, object_stores=object_stores or ("s3", "gcs", "azure")))
    w, groups = _writes(frame, [c.threshold_bytes for c in cands])
    notes: list[str] = []
    ratios: dict[str, float] = {codec: _ratio(codec, compression_ratio, w, notes, frame)
                                for codec in dict.fromkeys(c.compression for c in cands)}
    n = w.count
    kept_days = horizon_days + w.span_days if retention_days is None else retention_days
    entries = len(w.sizes)
    if not isinstance(frame, Summary):
        idx = np.random.default_rng(seed).choice(entries, size=min(entries, sample_size), replace=False)
        sizer = _DiskSizer(frame, seed=seed)
    else:  # a summary's groups: latency draws in proportion to their rows
        idx = np.random.default_rng(seed).choice(entries, size=min(round(n), sample_size),
                                                 p=w.weight / w.weight.sum())
        assert groups is not None
        sizer = _GroupSizer(groups)
    ctx = _Context(w, LatencyModel(metadata=dialect).fit() if latency is None else latency,
                   prices, w.writes_per_day * kept_days / n, pulls_per_push, ref_bytes,
                   idx, seed, sizer)
    if isinstance(simulate, Mapping):
        sims = {name: _volumes(res) for name, res in simulate.items()}
    elif simulate:
        sims = _simulated(frame, cands, ratios, horizon_days, retention_days, ctx)
    else:
        sims = {}
    table = pd.DataFrame([_evaluate_one(c, ratios[c.compression], ctx, sims.get(c.name, {}))
                          for c in cands]).set_index("name")
    table["pareto"] = pareto_front(table)
    table.attrs["notes"] = [
        *notes,
        f"{round(n):,} live rows over {w.span_days:.1f} days ({w.writes_per_day:,.0f} writes/day); "
        f"peak after {horizon_days} more days" + (f", {retention_days}-day retention" if retention_days else ""),
        "internal keys (_link_*, skipmixin_key, ...) stay in the DB: Airflow 3 writes them past custom backends",
        "DB storage priced as " + (ctx.prices.db if ctx.prices is not None else
                                   ", ".join(sorted({DEFAULT_DB.get(c.dialect, "?") for c in cands})))
        + " for every candidate (peak size billed: managed DBs bill allocated storage); same-region "
        "workers, no egress",
        f"Airflow {'3' if w.airflow3 else '2'} path" + (" (API-server hop per DB access)" if w.airflow3 else ""),
    ]
    table.attrs["candidates"] = {c.name: c for c in cands}
    return table


@dataclass(frozen=True)
class _Context:
    """What every candidate's evaluation shares."""

    w: ObservedWrites
    latency: LatencyModel
    prices: Prices | None
    scale: float            # rows at the peak / rows in the frame
    pulls_per_push: float
    ref_bytes: int
    idx: np.ndarray         # rows whose latency is drawn
    seed: int
    sizer: _DiskSizer


def _evaluate_one(c: Candidate, ratio: float, ctx: _Context, simulated: dict[str, float]) -> dict[str, Any]:
    """One row of the table: volumes (frame arithmetic or simulated), cost, latency."""
    w = ctx.w
    weight = w.weight
    offload, db_vals = _db_bytes(c, w, ratio, ctx.ref_bytes)
    moved = float(weight[offload].sum())
    puts = moved / w.span_days * 30.0  # per 30-day month
    stored = stored_bytes(w.sizes[offload], c.compression, ratio=ratio)
    vol = {"peak_db_bytes": ctx.sizer(c, db_vals, offload, ratio) * ctx.scale,
           "object_bytes": float((stored * weight[offload]).sum()) * ctx.scale,
           "objects": round(moved * ctx.scale),
           "puts_per_month": puts,
           "gets_per_month": puts * (1.0 + ctx.pulls_per_push),  # HEAD + GETs
           "violations": round(float(weight[db_vals > hard_limit(c.dialect, _airflow(w))].sum())),
           **simulated}
    cost = monthly_cost(db_bytes=vol["peak_db_bytes"], object_bytes=vol["object_bytes"],
                        puts=vol["puts_per_month"], gets=vol["gets_per_month"],
                        object_store=c.object_store, prices=ctx.prices,
                        db=None if ctx.prices is not None else DEFAULT_DB.get(c.dialect))
    return {"name": c.name, "backend": c.backend, "kind": c.kind,
            "threshold_bytes": c.threshold_bytes, "compression": c.compression,
            "object_store": c.object_store or "", "dialect": c.dialect,
            "offloaded_share": moved / float(weight.sum()),
            "monthly_cost_usd": cost.total, "db_storage_usd": cost.db_storage,
            "object_storage_usd": cost.object_storage, "requests_usd": cost.requests,
            **_latency(c, w, ctx.latency, ratio, offload, ctx.idx, ctx.seed), **vol}


def _simulated(frame: pd.DataFrame | Summary, cands: Sequence[Candidate], ratios: dict[str, float],
               horizon_days: int, retention_days: float | None,
               ctx: _Context) -> dict[str, dict[str, float]]:
    """Volumes from the Monte Carlo simulator (same seed for every candidate)."""
    workload = fit_workload(frame)
    out: dict[str, dict[str, float]] = {}
    for c in cands:
        offload, db_vals = _db_bytes(c, ctx.w, ratios[c.compression], ctx.ref_bytes)
        disk_ratio = ctx.sizer(c, db_vals, offload, ratios[c.compression]) / max(float((db_vals * ctx.w.weight).sum()), 1.0)
        cfg = SimConfig(backend=c.backend, threshold_bytes=c.threshold_bytes,
                        compression_ratio=ratios[c.compression],
                        db_compression=c.kind == "db+compression",
                        retention_days=None if retention_days is None else int(retention_days),
                        dialect=c.dialect, airflow=_airflow(ctx.w),
                        object_store=c.object_store or "s3", ref_bytes=ctx.ref_bytes)
        res = simulate(workload, cfg, horizon_days=horizon_days + int(ctx.w.span_days),
                       rng=ctx.seed, disk_ratio=disk_ratio)
        out[c.name] = _volumes(res)
    return out


def _volumes(res: Any) -> dict[str, float]:
    """Peak DB/object volumes, monthly requests and violations of a ``SimulationResult``."""
    daily = res.daily
    last = daily.tail(30)
    db_col = "db_on_disk_bytes" if "db_on_disk_bytes" in daily else "db_bytes"
    per_month = 30 / max(len(last), 1)
    return {"peak_db_bytes": float(daily[db_col].max()),
            "object_bytes": float(daily["object_bytes"].max()),
            "objects": float(daily["object_count"].max()) if "object_count" in daily else 0.0,
            "puts_per_month": float(last["puts"].sum()) * per_month,
            "gets_per_month": float(last["gets"].sum()) * per_month,
            "violations": int(res.violations)}


def pareto_front(table: pd.DataFrame, objectives: Sequence[str] = OBJECTIVES, *,
                 latency_tolerance: float = LATENCY_TOLERANCE) -> pd.Series:
    """True for rows no other row dominates (all objectives minimised).

    Row *j* dominates row *i* when it is no worse on every objective and better on one.
    Latencies (objectives ending in ``_ms``) compare with a relative tolerance: *j* is
    better only when ``x_j × (1 + latency_tolerance) < x_i`` and worse only when
    ``x_j > x_i × (1 + latency_tolerance)``; closer than that they tie — the model cannot
    tell them apart (:data:`LATENCY_TOLERANCE`). Cost and violations compare exactly.
    ``latency_tolerance=0`` gives the plain Pareto front.
    """
    missing = [o for o in objectives if o not in table]
    if missing:
        msg = f"pareto_front: columns {missing} missing; table has {list(table.columns)}"
        raise SchemaMismatchError(msg)
    if not latency_tolerance >= 0:
        msg = f"latency_tolerance={latency_tolerance}; expected a relative margin ≥ 0 (0.2 = 20 %)"
        raise ParameterError(msg)
    x = table[list(objectives)].to_numpy(dtype="float64")
    margin = np.array([1.0 + latency_tolerance if str(o).endswith("_ms") else 1.0 for o in objectives])
    xj, xi = x[:, None, :], x[None, :, :]                     # [j, i, objective]
    no_worse = (xj <= xi * margin).all(axis=2)                # no_worse[j, i]: j within i's margin everywhere
    better = (xj * margin < xi).any(axis=2)
    np.fill_diagonal(better, False)
    dominated = (no_worse & better).any(axis=0)
    return pd.Series(~dominated, index=table.index, name="pareto")


# --- recommendation ------------------------------------------------------------------------

@dataclass(frozen=True)
class Recommendation:
    """The evaluated table, its Pareto front, the chosen candidate and why.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`evaluate`'s table.
    best : Candidate
        The recommended configuration.
    reason : str
        Plain-language explanation naming the numbers.
    settings : dict
        ``{"common_io": {...}, "xcomlab": {...}}`` environment variables to apply it.
    """

    table: pd.DataFrame
    best: Candidate
    reason: str
    settings: dict[str, dict[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def pareto(self) -> pd.DataFrame:
        """The non-dominated rows."""
        return self.table[self.table["pareto"]]

    def __repr__(self) -> str:
        return f"Recommendation({self.best.name}: {self.reason})"

    def _repr_html_(self) -> str:
        cols = ["kind", "monthly_cost_usd", "push_p50_ms", "push_p99_ms", "pull_p50_ms",
                "pull_p99_ms", "peak_db_bytes", "violations", "pareto"]
        env = "".join(f"<li><code>{k}={v}</code></li>"
                      for group in self.settings.values() for k, v in group.items())
        return (f"<p><b>Recommended: {self.best.name}</b> — {self.reason}</p>"
                f"<ul>{env}</ul>" + self.table[cols].to_html(float_format=lambda v: f"{v:,.2f}"))


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB" if nbytes < 2**30 else f"{nbytes / 2**30:,.2f} GiB"


def recommend(frame: pd.DataFrame | Summary, *, latency_budget_ms: float | None = None,
              db_ceiling_bytes: float | None = None, cost_tolerance: float = 0.10,
              cost_tolerance_usd: float = 1.0, object_base: str | None = None,
              **kw: Any) -> Recommendation:
    """Evaluate the candidates and pick one.

    Rule: drop candidates that leave rows over the DB's hard limit, whose peak DB size
    exceeds ``db_ceiling_bytes``, or whose p99 push/pull exceeds ``latency_budget_ms`` —
    each filter only when some candidate passes it; among the rest, take those within
    ``cost_tolerance`` (relative) plus ``cost_tolerance_usd`` of the cheapest, and pick the
    simplest (DB only < DB with compression < tiered < object only), then the fastest.

    Parameters
    ----------
    frame
        An XCom frame, or its :class:`~xcomlab.summary.Summary`.
    latency_budget_ms
        Largest acceptable p99 push and pull time.
    db_ceiling_bytes
        Largest acceptable metadata DB: e.g. 20e9 for Cloud Composer (snapshots fail above
        20 GB) or 50 × 2**30 for Astronomer's degradation point (docs/managed-airflow.md#astronomer).
    cost_tolerance, cost_tolerance_usd
        How much dearer than the cheapest a simpler configuration may be.
    object_base
        Your object-store URL for the settings (default: a placeholder per store).
    **kw
        Passed to :func:`evaluate` (``prices``, ``latency``, ``dialect``, ``candidates``…).
    """
    table = evaluate(frame, **kw)
    cands: dict[str, Candidate] = table.attrs["candidates"]
    pool = table
    filters = [pool["violations"] == 0]
    if db_ceiling_bytes is not None:
        filters.append(pool["peak_db_bytes"] <= db_ceiling_bytes)
    if latency_budget_ms is not None:
        filters.append((pool["push_p99_ms"] <= latency_budget_ms)
                       & (pool["pull_p99_ms"] <= latency_budget_ms))
    for keep in filters:
        if keep.loc[pool.index].any():
            pool = pool[keep.loc[pool.index]]
    cheapest = float(pool["monthly_cost_usd"].min())
    near = pool[pool["monthly_cost_usd"] <= cheapest * (1 + cost_tolerance) + cost_tolerance_usd]
    near = near.assign(_rank=near["kind"].map(_COMPLEXITY),
                       _speed=near["push_p99_ms"] + near["pull_p99_ms"])
    name = str(near.sort_values(["_rank", "_speed", "monthly_cost_usd"], kind="stable").index[0])
    best = cands[name]
    reason = _reason(table, name, cheapest, cost_tolerance, cost_tolerance_usd)
    if db_ceiling_bytes is not None:
        within = bool(table["peak_db_bytes"].loc[name] <= db_ceiling_bytes)
        reason += (f" Its peak DB stays {'under' if within else 'OVER'} your ceiling of "
                   f"{_mib(db_ceiling_bytes)}"
                   + ("." if within else ": no candidate meets it."))
    return Recommendation(table, best, reason,
                          best.settings(object_base), list(table.attrs.get("notes", [])))


def _reason(table: pd.DataFrame, name: str, cheapest: float, tol: float, tol_usd: float) -> str:
    r = {str(k): v for k, v in table.loc[name].to_dict().items()}
    db = table[table["kind"] == "db"]
    text = (f"{name} costs ${r['monthly_cost_usd']:,.2f}/month"
            f" (cheapest acceptable ${cheapest:,.2f}")
    if len(db) and r["kind"] != "db":
        text += (f"; database only ${float(db['monthly_cost_usd'].iloc[0]):,.2f} with a "
                 f"{_mib(float(db['peak_db_bytes'].iloc[0]))} peak DB")
    text += (f"), push p50/p99 {r['push_p50_ms']:,.1f}/{r['push_p99_ms']:,.1f} ms, pull "
             f"p50/p99 {r['pull_p50_ms']:,.1f}/{r['pull_p99_ms']:,.1f} ms, peak DB "
             f"{_mib(float(r['peak_db_bytes']))}")
    if r["offloaded_share"] > 0:
        text += f", {r['offloaded_share']:.1%} of values offloaded to {r['object_store']}"
    if len(db) and int(db["violations"].iloc[0]) > 0 and r["violations"] == 0:
        text += (f"; database only would keep {int(db['violations'].iloc[0]):,} rows over "
                 f"the {r['dialect']} hard limit")
    simplest = r["monthly_cost_usd"] > cheapest
    text += (f". Chosen as the simplest configuration within {tol:.0%} or ${tol_usd:,.2f} of "
             "the cheapest." if simplest else ". It is the cheapest acceptable configuration.")
    return text
