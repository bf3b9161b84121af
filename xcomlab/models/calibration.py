"""Calibration: measured XCom operations → latency parameters, by robust least squares.

:meth:`xcomlab.models.latency.LatencyModel.fit` calls :func:`calibrate` on the frame
:meth:`xcomlab.backend.XComStore.measurements` (or :func:`xcomlab.measure.run`) returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import pandas as pd

from xcomlab.errors import SchemaMismatchError
from xcomlab.models.latency_params import BACKENDS, CODECS, CodecSpeeds, LatencyParams

__all__ = ["Calibration", "calibrate"]

_ALIASES: Final = {"postgres": "postgresql", "postgresql+psycopg": "postgresql", "pg": "postgresql",
                   "mariadb": "mysql", "mysql+pymysql": "mysql", "memory": "file", "local": "file",
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


def calibrate(measurements: pd.DataFrame, priors: dict[str, LatencyParams], codecs: CodecSpeeds) -> Calibration:
    """Fit the store step of each measured (op, backend) and the codec speeds.

    Per (op, backend), the store step ``db_s`` (DB tier) or ``object_s`` (object tier) —
    or, without phase columns, ``seconds`` minus the codec phases present — is fitted as
    ``a + b·bytes_stored`` (``a`` is the mean fixed time; the parameters keep the median
    ``a·exp(−σ²/2)``, σ from the residuals' log spread). Codec speeds are fitted from
    ``serialize_s``, ``compress_s`` and ``encrypt_s`` when present. Calibrated parameters
    put ``a`` in the server time (one request, no separate RTT/commit) and ``b`` in the
    per-byte cost; backends not measured keep their ``priors``.
    """
    m = _normalise(measurements)
    if m.empty:
        msg = (f"no usable measurements among {len(measurements)} rows: need op in "
               f"{sorted(_OPS)} and a backend in {list(BACKENDS)} (or an alias such as 'memory')")
        raise SchemaMismatchError(msg)
    notes: list[str] = []
    rows, resid = [], []
    fitted: dict[tuple[str, str], tuple[float, float, float]] = {}
    for (op, backend), g in m.groupby(["op", "backend"], sort=True):
        x, y = g["bytes"].to_numpy(), g["storage_s"].to_numpy()
        a, b = _linear(x, y)
        yhat = a + b * x
        sig = _sigma(y, a, yhat)
        fitted[(str(op), str(backend))] = (a, b, sig)
        res = y - yhat
        ss = float(((y - y.mean()) ** 2).sum())
        rows.append({"op": op, "backend": backend, "n": len(g), "intercept_s": a,
                     "slope_s_per_byte": b,
                     "r2": 1 - float((res**2).sum()) / ss if ss > 0 else float("nan"),
                     "sigma": sig, "resid_p50_s": float(np.quantile(res, 0.5)),
                     "resid_p90_s": float(np.quantile(res, 0.9)),
                     "resid_p99_s": float(np.quantile(res, 0.99))})
        resid.append(pd.DataFrame({"op": op, "backend": backend, "bytes": x, "seconds": y,
                                   "predicted_s": yhat, "residual_s": res}))
    params = {b: _calibrated(priors[b], {op: v for (op, bb), v in fitted.items() if bb == b})
              for b in sorted({bb for _, bb in fitted})}
    return Calibration(params, _fit_codecs(m, codecs, notes), pd.DataFrame(rows).set_index(["op", "backend"]),
                       pd.concat(resid, ignore_index=True), notes, len(m))


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
    stored = m["bytes_stored"] if "bytes_stored" in m else m["bytes_in"]
    out["bytes_in"] = m.get("bytes_in", stored).astype("float64")
    out["bytes"] = stored.astype("float64")
    for col in ("serialize_s", "compress_s", "encrypt_s", "db_s", "object_s", "seconds"):
        out[col] = m[col].astype("float64") if col in m else np.nan
    if "compression" in m:
        out["compression"] = m["compression"].fillna("none").astype(str).replace("", "none")
    storage = np.where(out["tier"] == "object", out["object_s"], out["db_s"])
    rest = out["seconds"] - out[["serialize_s", "compress_s", "encrypt_s"]].fillna(0).sum(axis=1)
    out["storage_s"] = pd.Series(storage, index=m.index).fillna(rest)
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
    """Robust least squares ``y ≈ a + b·x`` on relative residuals, with a, b ≥ 0.

    Timings span orders of magnitude, so residuals are taken relative to the fitted time
    (a 1 ms miss matters at 2 ms, not at 2 s), with Huber weights (k = 1.345 robust standard
    deviations, iteratively reweighted) so a few fsync or GC stalls do not tilt the line.
    """
    if len(x) < 2 or np.ptp(x) == 0:
        return float(max(np.median(y), 0.0)), 0.0
    floor = max(float(np.median(np.abs(y))) * 1e-3, 1e-12)
    huber = np.ones_like(y)
    b, a = np.polyfit(x, y, 1, w=1.0 / np.maximum(np.abs(y), floor))
    for _ in range(50):
        fitted = np.maximum(a + b * x, floor)
        r = (y - fitted) / fitted
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if scale <= 0:
            break
        huber = np.minimum(1.0, 1.345 * scale / np.maximum(np.abs(r), 1e-300))
        b_new, a_new = np.polyfit(x, y, 1, w=np.sqrt(huber) / fitted)
        done = np.isclose(a_new, a, rtol=1e-6, atol=0) and np.isclose(b_new, b, rtol=1e-6, atol=0)
        a, b = a_new, b_new
        if done:
            break
    w = huber / np.maximum(a + b * x, floor) ** 2
    if b < 0:
        return float(max(np.average(y, weights=w), 0.0)), 0.0
    if a < 0:
        return 0.0, float(max((w * x) @ y / ((w * x) @ x), 0.0))
    return float(a), float(b)


def _sigma(y: np.ndarray, fixed: float, yhat: np.ndarray) -> float:
    """Lognormal shape: 1.4826·MAD of log(y/ŷ) over rows where the fixed part dominates."""
    use = (y > 0) & (yhat > 0) & (fixed >= 0.5 * yhat)
    if use.sum() < 5:
        use = (y > 0) & (yhat > 0)
    if use.sum() < 5:
        return 0.5
    r = np.log(y[use] / yhat[use])
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _calibrated(p: LatencyParams, ops: dict[str, tuple[float, float, float]]) -> LatencyParams:
    """Replace a backend's store step by the fitted lines (unmeasured ops keep their default)."""
    sig = float(np.mean([v[2] for v in ops.values()]))
    # least squares gives the mean fixed time; the parameters hold the median: ÷ exp(σ²/2)
    ops = {op: (a * float(np.exp(-s * s / 2)), b, s) for op, (a, b, s) in ops.items()}
    push = ops.get("push", (p.fixed_s("push"), p.per_byte_s("push"), p.sigma))
    pull = ops.get("pull", (p.fixed_s("pull"), p.per_byte_s("pull"), p.sigma))
    return replace(p, rtt_s=0.0, commit_s=0.0, push_requests=1, pull_requests=1,
                   push_server_s=push[0], pull_server_s=pull[0], transfer_s_per_byte=0.0,
                   write_s_per_byte=push[1], read_s_per_byte=pull[1], sigma=sig,
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
        return replace(out, serialize_s_per_byte=0.0, deserialize_s_per_byte=0.0)
    if (f := _slope(push, "bytes_in", "serialize_s")) is not None:
        out = replace(out, serialize_s_per_byte=f[1])
    if (f := _slope(pull, "bytes_in", "serialize_s")) is not None:
        out = replace(out, deserialize_s_per_byte=f[1])
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
