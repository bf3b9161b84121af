"""Calibration: measured XCom operations → latency parameters, by robust least squares.

:meth:`xcomlab.models.latency.LatencyModel.fit` calls :func:`calibrate` on the frame
:meth:`xcomlab.backend.XComStore.measurements` (or :func:`xcomlab.measure.run`) returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from xcomlab.constants import REFERENCE_ROW_BYTES
from xcomlab.errors import SchemaMismatchError
from xcomlab.models.latency_params import (
    BACKENDS,
    CODECS,
    DB_BACKENDS,
    DOCUMENTED_PARAMS,
    KNEES_BYTES,
    CodecSpeeds,
    LatencyParams,
)

__all__ = ["CALIBRATION_COLUMNS", "DEFAULT_CALIBRATION", "DEFAULT_INTERPOLATION", "DEFAULT_PARAMS", "NETWORKED", "Calibration", "CalibrationData",
           "calibrate", "calibration_frame", "default_codecs", "default_params", "load_default_calibration"]

#: The kind of value the defaults are fitted on: JSON records, typical task output.
DEFAULT_KIND: Final = "records"
#: Client/server databases: measured on loopback, used across a data-centre network (the
#: documented RTT per statement and per-stream transfer are added back, docs/latency.md#calibration).
NETWORKED: Final = ("postgresql", "mysql")

#: The committed calibration measurements (``python -m benchmarks.calibrate`` rewrites them).
DEFAULT_CALIBRATION: Final = Path(str(resources.files("xcomlab").joinpath("data/latency_calibration.csv")))
#: Measurements at sizes between the calibration's grid points, never fitted: the check that
#: the model interpolates (``python -m benchmarks.calibrate`` rewrites it with the calibration).
DEFAULT_INTERPOLATION: Final = Path(str(resources.files("xcomlab").joinpath("data/latency_interpolation.csv")))
#: Columns of the calibration CSV: the measurement frame's, with the model ``backend`` per store.
CALIBRATION_COLUMNS: Final = ["store", "backend", "kind", "op", "tier", "codec", "size", "repeat",
                              "bytes_in", "bytes_stored", "serialize_s", "compress_s", "encrypt_s",
                              "object_s", "db_s", "total_s"]

_ALIASES: Final = {"postgres": "postgresql", "postgresql+psycopg": "postgresql", "pg": "postgresql",
                   "mariadb": "mysql", "mysql+pymysql": "mysql", "local": "file",
                   "gs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure", "s3a": "s3"}
_OPS: Final = {"set": "push", "push": "push", "put": "push", "encode": "push",
               "get": "pull", "pull": "pull", "decode": "pull"}



@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` found: parameters of the measured backends, codecs, fit tables."""

    params: dict[str, LatencyParams]
    codecs: CodecSpeeds
    fits: pd.DataFrame
    residuals: pd.DataFrame
    notes: list[str]
    measurements: int


@dataclass(frozen=True)
class CalibrationData:
    """Calibration measurements and what they were measured on.

    ``frame`` has :data:`CALIBRATION_COLUMNS` (one row per set/get); ``meta`` the CSV's
    ``# key: value`` header (date, machine, versions, load, repeats).
    """

    frame: pd.DataFrame
    meta: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(fit set, held-out set): odd repeats fit, even repeats are held out."""
        odd = self.frame["repeat"].astype(int) % 2 == 1
        return self.frame[odd], self.frame[~odd]

    def __repr__(self) -> str:
        return (f"CalibrationData({len(self.frame)} operations, {self.meta.get('date', '?')}, "
                f"{self.meta.get('machine', '?')})")


def calibration_frame(measurements: pd.DataFrame, backend_of_store: Mapping[str, str]) -> pd.DataFrame:
    """A :func:`xcomlab.measure.run` frame as calibration rows (:data:`CALIBRATION_COLUMNS`).

    Keeps the successful operations, names each store's model backend (``backend_of_store``,
    e.g. ``{"sqlite": "sqlite", "sqlite+file": "file"}``) and gives every get the sizes and
    codec of the set it read (same store, kind, size and repeat). A store missing from the
    mapping is an error.
    """
    missing = sorted(set(measurements["store"]) - set(backend_of_store))
    if missing:
        msg = f"stores {missing} have no backend in backend_of_store={dict(backend_of_store)}"
        raise SchemaMismatchError(msg)
    out = measurements[measurements["ok"].astype(bool)].copy() if "ok" in measurements else measurements.copy()
    if "kind" not in out:
        out["kind"] = DEFAULT_KIND
    out["backend"] = out["store"].map(backend_of_store)
    at = ["store", "kind", "size", "repeat"]
    sets = out[out["op"] == "set"].drop_duplicates(at).set_index(at)[["bytes_in", "bytes_stored"]]
    gets = out["op"] == "get"
    known = sets.reindex(pd.MultiIndex.from_frame(out.loc[gets, at]))
    out.loc[gets, "bytes_in"] = known["bytes_in"].to_numpy()
    out.loc[gets, "bytes_stored"] = known["bytes_stored"].to_numpy()
    out["codec"] = out.groupby(at)["codec"].transform("first")
    return out[CALIBRATION_COLUMNS].reset_index(drop=True)


def load_default_calibration(path: str | Path | None = None) -> CalibrationData:
    """The committed latency calibration (or the CSV at ``path``), with its header.

    Raises
    ------
    SchemaMismatchError
        When the file lacks a column of :data:`CALIBRATION_COLUMNS`.
    """
    where = Path(path) if path is not None else DEFAULT_CALIBRATION
    meta: dict[str, str] = {}
    with where.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
    frame = pd.read_csv(where, comment="#")
    missing = [c for c in CALIBRATION_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"{where}: calibration CSV lacks columns {missing}; expected {CALIBRATION_COLUMNS}"
        raise SchemaMismatchError(msg)
    return CalibrationData(frame, meta, str(where))


@lru_cache(maxsize=1)
def _default_fit() -> tuple[Calibration, CodecSpeeds, str]:
    data = load_default_calibration()
    fit, _ = data.split()
    records = fit[fit["kind"] == DEFAULT_KIND]
    # the calibration's offloaded values keep their reference rows in SQLite (see its header)
    cal = calibrate(records if len(records) else fit, dict(DOCUMENTED_PARAMS), CodecSpeeds(), metadata="sqlite")
    return cal, cal.codecs, f"{data.meta.get('date', '?')}, {data.meta.get('machine', '?')}"


def default_params() -> dict[str, LatencyParams]:
    """The documented parameters with every backend measured in the committed calibration fitted
    (on its JSON-records values, :data:`DEFAULT_KIND`, and the fit half of the repeats).

    SQLite, local files, ``memory://`` and the loopback S3 stand-in (``s3local``) take the
    fitted store steps as they are [L]. PostgreSQL and MariaDB (``mysql``) take the fitted
    server side — statements, commit, per-byte write/read, measured on loopback — and keep the
    documented same-data-centre RTT per statement and per-stream transfer rate, which a
    loopback cannot measure ([S]/[P], docs/latency.md#db-round-trips). Cloud object stores
    keep their documented figures.
    """
    cal, _, where = _default_fit()
    out = dict(DOCUMENTED_PARAMS)
    for name, p in cal.params.items():
        source = f"fitted on the committed calibration [L] ({where}; docs/latency.md#calibration)"
        p = _networked(p, source) if name in NETWORKED else replace(p, source=source)
        if p.encrypted_step is not None:
            enc = p.encrypted_step
            p = replace(p, encrypted_step=_networked(enc, f"{source}, encrypted values") if name in NETWORKED
                        else replace(enc, source=f"{source}, encrypted values"))
        out[name] = p
    return out


def _networked(p: LatencyParams, source: str) -> LatencyParams:
    """A loopback fit of a client/server database with the documented network put back."""
    doc = DOCUMENTED_PARAMS[p.backend]
    return replace(p, rtt_s=doc.rtt_s, push_requests=doc.push_requests, pull_requests=doc.pull_requests,
                   push_server_s=p.push_server_s / doc.push_requests,
                   pull_server_s=p.pull_server_s / doc.pull_requests,
                   transfer_s_per_byte=doc.transfer_s_per_byte,
                   source=f"{source}; + same-DC RTT {doc.rtt_s * 1e3:g} ms per statement and "
                          "network transfer [S/P], docs/latency.md#db-round-trips")


def default_codecs() -> CodecSpeeds:
    """Codec speeds (JSON, zstd, Fernet) fitted with :func:`default_params` [L];
    gzip, never measured there, keeps its documented speed."""
    return _default_fit()[1]


class _Calibrated(Mapping[str, LatencyParams]):
    """:data:`DOCUMENTED_PARAMS` with the locally measurable backends fitted from the committed
    calibration (:func:`default_params`), loaded on first use so importing xcomlab reads no CSV."""

    def __init__(self) -> None:
        self._params: dict[str, LatencyParams] | None = None

    def _load(self) -> dict[str, LatencyParams]:
        if self._params is None:
            self._params = default_params()
        return self._params

    def __getitem__(self, name: str) -> LatencyParams:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"DEFAULT_PARAMS({self._load()!r})"


#: The defaults every model starts from: measured here where a backend runs on this machine
#: (SQLite, PostgreSQL and MariaDB on loopback, local files, memory, moto S3 on loopback — see
#: docs/latency.md#calibration), documented figures for the cloud (S3, GCS, Azure, S3 Express)
#: and for the network between a worker and its database.
DEFAULT_PARAMS: Final[Mapping[str, LatencyParams]] = _Calibrated()


def calibrate(measurements: pd.DataFrame, priors: dict[str, LatencyParams], codecs: CodecSpeeds,
              metadata: str | None = None) -> Calibration:
    """Fit the store step of each measured (op, backend) and the codec speeds.

    Per (op, backend), the store step — ``seconds`` minus the codec phases present (and, on
    the object tier, minus the reference row's ``db_s``); without ``seconds``, ``db_s`` (DB
    tier) or ``object_s`` (object tier) — is fitted as
    ``a`` + a piecewise-linear function of ``bytes_stored`` with knees at
    :data:`~xcomlab.models.latency_params.KNEES_BYTES` (:func:`_step_lines`; a knee only where
    sizes on both sides were measured), by median regression on relative residuals
    (:func:`_robust`); the parameters keep the median of the fixed part (σ from the
    residuals' log spread). Codec speeds are fitted from
    ``serialize_s``, ``compress_s`` and ``encrypt_s`` when present. Calibrated parameters
    put ``a`` in the server time (one request, no separate RTT/commit) and ``b`` in the
    per-byte cost; backends not measured keep their ``priors``.

    Encrypted values on a backend where plain ones were measured too (the calibration's
    ``sqlite+file+fernet`` next to ``sqlite+file``) get a fixed part of their own in the same
    regression — the per-byte line is the backend's, fitted on both (the same disk) — kept as
    :attr:`LatencyParams.encrypted_step <xcomlab.models.latency_params.LatencyParams.encrypted_step>`
    and labelled ``<backend>+fernet`` in :attr:`Calibration.fits`. A DB-tier read's step keeps
    the JSON parse its driver runs inside the database phase (per driver and kind of value);
    its ``serialize_s``, what the client does after, is fitted as
    ``CodecSpeeds.db_deserialize_s_per_byte``.

    ``metadata``: the database that held the reference rows of offloaded values (a
    ``dialect`` column, where the frame has one, says so row by row and wins). When it is
    among the measured DB-tier backends, an offloaded operation's step is the operation minus
    the codec phases minus that database's *fitted* time for a reference row, rather than
    minus the measured ``db_s``: a model adds the fitted reference row back, and what the
    measured row cost beyond it — measured: 0.8 ms at 100 B, 2–3 ms after a 64 MB value, the
    same tiny row — belongs to the offloaded operation, and grows with its size.
    """
    m = _normalise(measurements)
    if m.empty:
        msg = (f"no usable measurements among {len(measurements)} rows: need op in "
               f"{sorted(_OPS)} and a backend in {list(BACKENDS)} (or an alias such as 'memory')")
        raise SchemaMismatchError(msg)
    notes: list[str] = []
    fitted_codecs = _fit_codecs(m, codecs, notes)
    m = m.assign(step=_step_labels(m))
    rows, resid = [], []
    fitted: dict[tuple[str, str], tuple[float, float, tuple[float, ...], float]] = {}
    # DB backends first: an offloaded step needs the reference row's fit
    groups = sorted(m.groupby(["op", "backend"], sort=True), key=lambda kv: kv[0][1] not in DB_BACKENDS)
    for (op, backend), g in groups:
        x, y = g["bytes"].to_numpy(), g["storage_s"].to_numpy()
        ref_s = 0.0
        whole = (g["storage_s"] + g["db_s"]).to_numpy()
        named = g["metadata"].dropna()
        meta = str(named.mode().iloc[0]) if len(named) and named.nunique() == 1 else metadata
        if (backend not in DB_BACKENDS and np.isfinite(whole).all()
                and (ref := fitted.get((str(op), str(meta)))) is not None):
            # fit the offloaded step with its reference row, then take the fitted row out
            ref_s = ref[0] + float(_bytes_part(np.array([float(REFERENCE_ROW_BYTES)]), ref[1], ref[2])[0])
            y = whole
        # one per-byte line for the backend (the same disk, database or API); a fixed part
        # per step where encrypted values have one of their own (_step_labels)
        labels = g["step"].to_numpy()
        steps = sorted(set(labels))
        intercepts, b, bends = _step_lines(x, y, np.searchsorted(steps, labels))
        per_byte = _bytes_part(x, b, bends)
        for label, a in zip(steps, intercepts, strict=True):
            own = labels == label
            yhat = a + per_byte[own]
            sig = _sigma(y[own], a, yhat)
            a50 = _fixed_p50(y[own], per_byte[own], a)
            fitted[(str(op), str(label))] = (max(a50 - ref_s, 0.0), b, bends, sig)
            yo, yhat = y[own] - ref_s, yhat - ref_s
            res = yo - yhat
            ss = float(((yo - yo.mean()) ** 2).sum())
            rows.append({"op": op, "backend": label, "n": int(own.sum()), "intercept_s": a - ref_s,
                         "fixed_p50_s": max(a50 - ref_s, 0.0), "slope_s_per_byte": b,
                         **{f"bend_{_label(k)}_s_per_byte": v
                            for k, v in zip(KNEES_BYTES, bends or (0.0,) * len(KNEES_BYTES), strict=True)},
                         "r2": 1 - float((res**2).sum()) / ss if ss > 0 else float("nan"),
                         "sigma": sig, "resid_p50_s": float(np.quantile(res, 0.5)),
                         "resid_p90_s": float(np.quantile(res, 0.9)),
                         "resid_p99_s": float(np.quantile(res, 0.99))})
            resid.append(pd.DataFrame({"op": op, "backend": label, "bytes": x[own], "seconds": yo,
                                       "predicted_s": yhat, "residual_s": res}))
    params = {b: _calibrated(priors[b], {op: v for (op, bb), v in fitted.items() if bb == b})
              for b in sorted({bb for _, bb in fitted if not bb.endswith(_ENCRYPTED_SUFFIX)})}
    for label in sorted({bb for _, bb in fitted if bb.endswith(_ENCRYPTED_SUFFIX)}):
        plain = label.removesuffix(_ENCRYPTED_SUFFIX)
        sealed = _calibrated(params[plain], {op: v for (op, bb), v in fitted.items() if bb == label})
        params[plain] = replace(params[plain], encrypted_step=replace(sealed, source=f"{sealed.source}, encrypted values"))
    return Calibration(params, fitted_codecs, pd.DataFrame(rows).set_index(["op", "backend"]),
                       pd.concat(resid, ignore_index=True), notes, len(m))


#: Label of a backend's encrypted store step in :attr:`Calibration.fits` (``file+fernet``).
_ENCRYPTED_SUFFIX: Final = "+fernet"


def _step_labels(m: pd.DataFrame) -> pd.Series:
    """The store step each row is fitted in: its backend's, or ``<backend>+fernet`` for an
    encrypted value on a backend where plain values were measured too (the calibration's
    ``sqlite+file+fernet`` next to ``sqlite+file``): the encrypted values' step differs
    (measured 1.18 ms against 0.88 ms at 100 B, docs/latency.md#calibration) and gets a fixed
    part of its own (:attr:`LatencyParams.encrypted_step`). Rows whose codec chain is unknown
    are plain."""
    sealed = m["sealed"]
    both = m.groupby("backend")["sealed"].transform(lambda v: bool(v.any() and not v.all()))
    return m["backend"].where(~(sealed & both), m["backend"] + _ENCRYPTED_SUFFIX)


def _normalise(measurements: pd.DataFrame) -> pd.DataFrame:
    m = measurements
    if "ok" in m:
        m = m[m["ok"].astype(bool)]
    if "seconds" not in m and "total_s" in m:
        m = m.rename(columns={"total_s": "seconds"})
    if "compression" not in m and "codec" in m:  # xcomlab chains: json+zstd+fernet
        chain = m["codec"].fillna("").astype(str)
        m = m.assign(compression=np.select([chain.str.contains("zstd"), chain.str.contains("gzip")],
                                           ["zstd", "gzip"], "none"))
    if "op" not in m or not ({"seconds"} & set(m) or {"db_s", "object_s"} & set(m)):
        msg = (f"measurements have columns {sorted(map(str, m.columns))}; expected 'op', "
               "'bytes_in' or 'bytes_stored', and 'seconds' or phase columns 'db_s'/'object_s' "
               "(the frame XComStore.measurements() returns)")
        raise SchemaMismatchError(msg)
    if not {"bytes_in", "bytes_stored"} & set(m):
        msg = "measurements need 'bytes_in' or 'bytes_stored' (bytes per operation)"
        raise SchemaMismatchError(msg)
    if "tier" in m:  # "none": the read found nothing
        m = m[m["tier"].astype(str).str.lower().isin(["db", "object"])]
    m = _fill_read_sizes(m)
    out = pd.DataFrame(index=m.index)
    out["op"] = m["op"].astype(str).str.lower().map(_OPS)
    tier = m["tier"].astype(str).str.lower() if "tier" in m else pd.Series("db", index=m.index)
    out["tier"] = tier
    out["backend"] = _labels(m, out["tier"])
    # the database an offloaded value's reference row went to, where the frame says (dialect)
    out["metadata"] = None
    if "dialect" in m:
        named = m["dialect"].notna() & (tier == "object")
        out.loc[named, "metadata"] = (m.loc[named, "dialect"].astype(str).str.lower().str.split("+").str[0]
                                      .replace(_ALIASES))
    stored = m["bytes_stored"] if "bytes_stored" in m else m["bytes_in"]
    out["bytes_in"] = m.get("bytes_in", stored).astype("float64")
    out["bytes"] = stored.astype("float64")
    for col in ("serialize_s", "compress_s", "encrypt_s", "db_s", "object_s", "seconds"):
        out[col] = m[col].astype("float64") if col in m else np.nan
    if "compression" in m:
        out["compression"] = m["compression"].fillna("none").astype(str).replace("", "none")
    # which rows were encrypted (the codec chain says so); without a chain, any row may be
    chain = m["codec"].fillna("").astype(str) if "codec" in m else pd.Series("fernet", index=m.index)
    out["encrypted"] = chain.str.contains("fernet")
    # which rows were known to be encrypted (the store step of those may be fitted apart)
    out["sealed"] = out["encrypted"] if "codec" in m else False
    # the store step: the whole operation minus the client-side codec phases — time outside
    # every phase (checksums, copies) included — minus, on the object tier, the reference row
    # (the model adds that from the metadata DB's own fit); the phase alone without a total
    obj = out["tier"] == "object"
    rest = out["seconds"] - out[["serialize_s", "compress_s", "encrypt_s"]].fillna(0).sum(axis=1)
    rest = rest - out["db_s"].where(obj, 0.0).fillna(0.0)
    phase = pd.Series(np.where(obj, out["object_s"], out["db_s"]), index=m.index)
    out["storage_s"] = rest.fillna(phase)
    return out[out["op"].notna() & out["storage_s"].notna() & out["backend"].isin(list(BACKENDS))]


_IDS: Final = ["dag_id", "run_id", "task_id", "map_index", "key"]


def _fill_read_sizes(m: pd.DataFrame) -> pd.DataFrame:
    """Reads that recorded no size take the size of the last write of the same XCom."""
    if not set(_IDS) <= set(m.columns):
        return m
    ops = m["op"].astype(str).str.lower().map(_OPS)
    size_cols = [c for c in ("bytes_in", "bytes_stored") if c in m]
    writes = m[ops == "push"].drop_duplicates(_IDS, keep="last").set_index(_IDS)[size_cols]
    reads = (ops == "pull").to_numpy()
    if not reads.any() or writes.empty:
        return m
    keys = pd.MultiIndex.from_frame(m.loc[reads, _IDS])
    known = writes.reindex(keys)
    m = m.copy()
    for col in size_cols:
        m[col] = m[col].astype("float64")
        have = m.loc[reads, col].to_numpy()
        fill = known[col].astype("float64").to_numpy()
        m.loc[reads, col] = np.where((have > 0) | np.isnan(fill), have, fill)
    return m


def _labels(m: pd.DataFrame, tier: pd.Series) -> pd.Series:
    """Backend per row: ``backend`` if given, else ``dialect`` (DB tier) or the protocol."""
    if "backend" in m:
        label = m["backend"].astype("object")
    else:
        label = pd.Series(None, index=m.index, dtype="object")
        for col in ("protocol", "storage", "object_store"):
            if col in m:
                label = label.fillna(m[col].where(tier == "object"))
        if "dialect" in m:
            label = label.fillna(m["dialect"].where(tier == "db"))
    text = label.astype(str).str.lower().str.split("+").str[0].str.replace("://", "", regex=False)
    return text.replace(_ALIASES)


def _linear(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Robust least squares ``y ≈ a + b·x`` on relative residuals, with a, b ≥ 0 (see :func:`_robust`)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return float(max(np.median(y), 0.0)), 0.0
    a, b = _robust(np.column_stack([np.ones_like(x, dtype="float64"), x]), y)
    return a, b


def _label(nbytes: int) -> str:
    return f"{nbytes // 1_000_000}mb" if nbytes >= 1_000_000 else f"{nbytes // 1_000}kb"


def _bytes_part(x: np.ndarray, b: float, bends: tuple[float, ...]) -> np.ndarray:
    """The per-byte part of a fitted step (as :meth:`LatencyParams.bytes_s`)."""
    out = b * x
    for knee, bend in zip(KNEES_BYTES, bends, strict=False):
        out = out + bend * np.maximum(x - knee, 0.0)
    return out


#: How far past a knee (relative) a size still counts as at the knee (:func:`_step_lines`).
_KNEE_SNAP: Final = 0.01


def _step_lines(x: np.ndarray, y: np.ndarray, group: np.ndarray) -> tuple[list[float], float, tuple[float, ...]]:
    """``y ≈ a[group] + piecewise-linear(x)``: one fixed part per group (codes 0, 1, …; e.g.
    plain and encrypted values on one disk), one per-byte line for all, with knees at
    :data:`KNEES_BYTES`: ``(a, b, bends)``, the slope ``b`` up to the first knee and its
    change beyond each knee.

    Fitted as one non-negative slope per regime (so the step never shrinks as values grow).
    A regime gets its own slope only where a size was measured at its upper end (in the
    upper half of it on a log scale, or at the knee that closes it) and beyond its lower knee; otherwise it shares the slope of
    its neighbour — so a fit on sizes up to 1 MB has no knee at 8 MB, and one that never saw
    a size between 100 KB and 1 MB does not bend there. The first regime needs two sizes (the
    fixed part and its slope): lower knees are dropped until it has them.
    """
    sizes = np.unique(x)
    edges = [0.0, *map(float, KNEES_BYTES), np.inf]
    # a size up to 1 % past a knee counts as at the knee: a "1 MB" value is 1,000,002 JSON
    # bytes, 100,408 once encrypted — it closes the regime below, it cannot set the slope of
    # the one above
    at = sizes.astype("float64")
    for k in KNEES_BYTES:
        at = np.where((at > k) & (at <= k * (1 + _KNEE_SNAP)), float(k), at)
    # a knee is used when sizes were measured in the upper half (log scale) of the regime
    # below it, up to and including the knee, and beyond it
    used = [k for i, k in enumerate(KNEES_BYTES)
            if ((at > max(edges[i], math.sqrt(edges[i] * k))) & (at <= k)).any() and (at > k).any()]
    while used and (at <= used[0]).sum() < 2:  # the fixed part and the first slope need two sizes
        used.pop(0)
    n_groups = int(group.max()) + 1 if len(group) else 1
    if len(sizes) < 2:
        a, b = _linear(x, y)
        return [a] * n_groups, b, ()
    bounds = [0.0, *map(float, used), np.inf]
    cols = [(group == i).astype("float64") for i in range(n_groups)]
    cols += [np.clip(x - lo, 0.0, hi - lo) for lo, hi in pairwise(bounds)]
    coef = _robust(np.column_stack(cols), y)
    fixed, slopes = coef[:n_groups], coef[n_groups:]
    # the slope of every regime between the knees of KNEES_BYTES (an unused knee: no bend)
    slope_at = [slopes[int(np.searchsorted(used, k, side="right"))] for k in [0.0, *KNEES_BYTES]]
    return list(fixed), slope_at[0], tuple(float(hi - lo) for lo, hi in pairwise(slope_at))


def _robust(design: np.ndarray, y: np.ndarray) -> list[float]:
    """Non-negative least absolute relative deviations of ``y`` on the columns of ``design``.

    The defaults predict medians (p50), so the fit is a median regression: it minimises
    ``Σ |y − ŷ| / ŷ``, by iteratively reweighted least squares. Residuals are relative to
    the fitted time because timings span orders of magnitude (a 1 ms miss matters at 2 ms,
    not at 2 s); absolute deviations, unlike squares, let a few fsync or GC stalls — the
    tail, modelled by ``sigma`` — move the line no more than any other repeat. A coefficient
    that comes out negative is fixed at 0 and the rest refitted.
    """
    floor = max(float(np.median(np.abs(y))) * 1e-3, 1e-12)
    active = np.ones(design.shape[1], dtype=bool)
    coef = np.zeros(design.shape[1])
    weights = 1.0 / np.maximum(np.abs(y), floor)
    for _ in range(100):
        while True:
            sol, *_ = np.linalg.lstsq(design[:, active] * weights[:, None], y * weights, rcond=None)
            if (sol >= 0).all() or active.sum() == 1:
                break
            active[np.flatnonzero(active)[int(np.argmin(sol))]] = False
        new = np.zeros_like(coef)
        new[active] = np.maximum(sol, 0.0)
        done = np.allclose(new, coef, rtol=1e-5, atol=0)
        coef = new
        fitted = np.maximum(design @ coef, floor)
        r = (y - fitted) / fitted
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if done or scale <= 0:
            break
        # |r| = r² / |r|: weight each squared relative residual by 1/|r| (bounded near 0)
        weights = 1.0 / (fitted * np.sqrt(np.maximum(np.abs(r), 0.02 * scale)))
    return [float(v) for v in coef]


def _fixed_p50(y: np.ndarray, per_byte: np.ndarray, fixed: float) -> float:
    """The median of the fixed part: ``median(y − per-byte part)`` over the operations where the
    fixed part dominates (else all). The line's intercept is a robust mean; a p50 needs the median."""
    use = fixed >= per_byte
    rest = (y - per_byte)[use] if use.sum() >= 5 else y - per_byte
    return float(max(np.median(rest), 0.0))


def _sigma(y: np.ndarray, fixed: float, yhat: np.ndarray) -> float:
    """Lognormal shape: 1.4826·MAD of log(y/ŷ) over rows where the fixed part dominates."""
    use = (y > 0) & (yhat > 0) & (fixed >= 0.5 * yhat)
    if use.sum() < 5:
        use = (y > 0) & (yhat > 0)
    if use.sum() < 5:
        return 0.5
    r = np.log(y[use] / yhat[use])
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _calibrated(p: LatencyParams, ops: dict[str, tuple[float, float, tuple[float, ...], float]]) -> LatencyParams:
    """Replace a backend's store step by the fitted lines (unmeasured ops keep their default)."""
    sig = float(np.mean([v[3] for v in ops.values()]))
    push = ops.get("push", (p.fixed_s("push"), p.per_byte_s("push"), p.push_bends_s_per_byte, p.sigma))
    pull = ops.get("pull", (p.fixed_s("pull"), p.per_byte_s("pull"), p.pull_bends_s_per_byte, p.sigma))
    return replace(p, rtt_s=0.0, commit_s=0.0, push_requests=1, pull_requests=1,
                   push_server_s=push[0], pull_server_s=pull[0], transfer_s_per_byte=0.0,
                   write_s_per_byte=push[1], read_s_per_byte=pull[1],
                   push_bends_s_per_byte=push[2], pull_bends_s_per_byte=pull[2], sigma=sig,
                   encrypted_step=None,  # a prior's encrypted step belongs to another calibration
                   source=f"fitted ({', '.join(sorted(ops))})")


def _slope(frame: pd.DataFrame, x: str, y: str) -> tuple[float, float] | None:
    d = frame[[x, y]].dropna()
    d = d[d[y] > 0]
    return _linear(d[x].to_numpy(), d[y].to_numpy()) if len(d) >= 3 else None


def _fit_codecs(m: pd.DataFrame, codecs: CodecSpeeds, notes: list[str]) -> CodecSpeeds:
    """Codec speeds from the phase columns (pull rows' ``serialize_s`` is deserialization)."""
    out = codecs
    push, pull = m[m["op"] == "push"], m[m["op"] == "pull"]
    if m["serialize_s"].isna().all():
        notes.append("no serialize_s column: serialization is folded into the fitted store step")
        return replace(out, serialize_s_per_byte=0.0, deserialize_s_per_byte=0.0, db_deserialize_s_per_byte=0.0)
    if (f := _slope(push, "bytes_in", "serialize_s")) is not None:
        out = replace(out, serialize_s_per_byte=f[1])
    # the whole JSON parse shows in serialize_s only where the store reads text (object tier);
    # on the DB tier the driver parses inside the database phase — that parse stays in the DB
    # read step fitted below (per driver and kind of value: SQLite's parse of one 1 MB string
    # is faster than the object tier's decode of the same bytes), and serialize_s holds only
    # what follows it (db_deserialize_s_per_byte)
    plain = pull["compression"] == "none" if "compression" in pull else pd.Series(True, index=pull.index)
    if (f := _slope(pull[(pull["tier"] == "object")], "bytes_in", "serialize_s")) is not None:
        out = replace(out, deserialize_s_per_byte=f[1])
    if (f := _slope(pull[(pull["tier"] == "db") & plain & ~pull["sealed"]], "bytes_in", "serialize_s")) is not None:
        out = replace(out, db_deserialize_s_per_byte=f[1])
    # the Fernet phase only where a value was encrypted (elsewhere it times a no-op)
    push, pull = push[push["encrypted"]], pull[pull["encrypted"]]
    if (f := _slope(push, "bytes", "encrypt_s")) is not None:
        out = replace(out, encrypt_call_s=f[0], encrypt_s_per_byte=f[1])
    if (f := _slope(pull, "bytes", "encrypt_s")) is not None:
        out = replace(out, decrypt_call_s=f[0], decrypt_s_per_byte=f[1])
    if "compression" in m:
        comp, decomp = dict(out.compress_s_per_byte), dict(out.decompress_s_per_byte)
        for codec, g in m.groupby("compression"):
            if str(codec) not in CODECS or codec == "none":
                continue
            if (f := _slope(g[g["op"] == "push"], "bytes_in", "compress_s")) is not None:
                comp[str(codec)] = f[1]
            if (f := _slope(g[g["op"] == "pull"], "bytes_in", "compress_s")) is not None:
                decomp[str(codec)] = f[1]
        out = replace(out, compress_s_per_byte=comp, decompress_s_per_byte=decomp)
    return out
