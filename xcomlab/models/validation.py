"""Validation: how far the latency model fitted on some repeats is from the repeats it never saw.

:func:`held_out_errors` fits :class:`~xcomlab.models.latency.LatencyModel` on the odd repeats
of a calibration frame (:func:`xcomlab.models.calibration.load_default_calibration`) and
compares its p50 with the measured median of the even repeats, per store, kind of value, op
and size — for the whole operation and for its store step (the backend's share: database or
object storage plus the reference row, without serialization, compression and encryption).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import pandas as pd

from xcomlab.models.calibration import CalibrationData
from xcomlab.models.latency import LatencyModel
from xcomlab.models.latency_params import CODECS, CodecSpeeds

__all__ = ["error_table", "fit_calibrated", "held_out_errors", "leave_one_size_out", "markdown", "repeatability"]

_MODEL_OP: Final[dict[str, Literal["push", "pull"]]] = {"set": "push", "get": "pull"}
_CODEC_PHASES: Final = ["serialize_s", "compress_s", "encrypt_s"]


def fit_calibrated(fit_rows: pd.DataFrame, kind: str | None = None) -> LatencyModel:
    """A model of the measured machine fitted on ``kind``'s rows (``None``: every kind pooled),
    reference rows of offloaded values in SQLite (as the calibration stores keep them)."""
    rows = fit_rows if kind is None else fit_rows[fit_rows["kind"] == kind]
    return LatencyModel(metadata="sqlite").fit(rows)


def _ratio(held: pd.DataFrame) -> pd.Series:
    """Compression ratio (stored / JSON bytes) per (kind, size), from the unencrypted object stores."""
    plain = held[(held["tier"] == "object") & ~held["codec"].astype(str).str.contains("fernet")
                 & (held["op"] == "set")]
    return (plain["bytes_stored"] / plain["bytes_in"]).groupby([plain["kind"], plain["size"]]).median()


def _predict(model: LatencyModel, key: tuple[Any, ...], ratio: float | None) -> float:
    _store, backend, _kind, op, codec, size = key
    compressed = "zstd" in codec or "gzip" in codec
    return float(model.predict(_MODEL_OP[op], backend, [size], airflow3=False,
                               compression=("zstd" if "zstd" in codec else "gzip") if compressed else None,
                               compression_ratio=ratio if compressed else None,
                               encrypted="fernet" in codec)[0])


def held_out_errors(data: CalibrationData | pd.DataFrame, *, per_kind: bool = True,
                    against: CalibrationData | pd.DataFrame | None = None) -> pd.DataFrame:
    """p50 error of the model fitted on odd repeats against the even repeats' medians.

    Parameters
    ----------
    data
        A :class:`CalibrationData` or its frame (:data:`~xcomlab.models.calibration.CALIBRATION_COLUMNS`).
    against
        Other measurements to compare with instead of ``data``'s even repeats — all their
        repeats, e.g. sizes between the calibration's grid points (an interpolation check:
        ``xcomlab/data/latency_interpolation.csv``).
    per_kind
        Fit one model per kind of value (JSON records, random text), as a user calibrating on
        their own payloads would; False fits one model on all kinds pooled. Both store steps
        and codec speeds depend on the payload: a 64 MB string parses ~4× faster than 64 MB
        of records, and SQLAlchemy's JSON column decodes inside the database step.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``store, backend, kind, op, codec, size``: ``n_held`` (held-out repeats),
        ``measured_ms``/``predicted_ms`` of the whole operation and ``error`` (predicted ÷
        measured − 1), and the same for the store step (``step_measured_ms``,
        ``step_predicted_ms``, ``step_error``).
    """
    cal = data if isinstance(data, CalibrationData) else CalibrationData(data)
    fit, held = cal.split()
    if against is not None:
        held = against.frame if isinstance(against, CalibrationData) else against
    kinds = sorted(held["kind"].unique())
    models = {k: fit_calibrated(fit, k if per_kind else None) for k in kinds}
    free = CodecSpeeds(0.0, 0.0, dict.fromkeys(CODECS, 0.0), dict.fromkeys(CODECS, 0.0), 0.0, 0.0, 0.0, 0.0, 0.0)
    step_models = {k: LatencyModel(m.params_, codecs=free, metadata="sqlite").fit() for k, m in models.items()}
    # the store step: everything but the client's codec phases (a DB-tier read's JSON parse
    # runs in the driver, inside the database phase: its step keeps that parse on both sides)
    held = held.assign(codec=held["codec"].fillna("").astype(str),
                       step_s=held["total_s"] - held[_CODEC_PHASES].fillna(0).sum(axis=1))
    ratios = _ratio(held)
    keys = ["store", "backend", "kind", "op", "codec", "size"]
    rows = []
    for key, g in held.groupby(keys, sort=True):
        ratio = ratios.get((key[2], key[5]))
        total = _predict(models[key[2]], key, ratio)
        step = _predict(step_models[key[2]], key, ratio)
        rows.append({**dict(zip(keys, key, strict=True)), "n_held": len(g),
                     "measured_ms": g["total_s"].median() * 1e3, "predicted_ms": total * 1e3,
                     "step_measured_ms": g["step_s"].median() * 1e3, "step_predicted_ms": step * 1e3})
    out = pd.DataFrame(rows).set_index(keys)
    out["error"] = out["predicted_ms"] / out["measured_ms"] - 1
    out["step_error"] = out["step_predicted_ms"] / out["step_measured_ms"] - 1
    return out[["n_held", "measured_ms", "predicted_ms", "error",
                "step_measured_ms", "step_predicted_ms", "step_error"]]


def leave_one_size_out(data: CalibrationData | pd.DataFrame, sizes: list[int] | None = None) -> pd.DataFrame:
    """:func:`held_out_errors` at each interior grid size, fitted *without* that size: the
    model fitted on the odd repeats of every other size against the even repeats' median
    there — how it predicts a size it never saw, on the calibration's own data (a knee at a
    left-out size is not used: its regimes merge)."""
    cal = data if isinstance(data, CalibrationData) else CalibrationData(data)
    grid = sorted(int(v) for v in cal.frame["size"].unique())
    _, held = cal.split()
    parts = []
    for size in sizes if sizes is not None else grid[1:-1]:
        rest = CalibrationData(cal.frame[cal.frame["size"] != size], cal.meta, cal.path)
        parts.append(held_out_errors(rest, against=held[held["size"] == size]))
    return pd.concat(parts).sort_index()


def repeatability(data: CalibrationData | pd.DataFrame) -> pd.DataFrame:
    """How far the fit half's median is from the held-out half's, per (store, backend, kind, op,
    codec, size), as ``step_error`` (store step) and ``error`` (whole operation): the noise floor
    no model fitted on one half can beat on the other."""
    cal = data if isinstance(data, CalibrationData) else CalibrationData(data)
    keys = ["store", "backend", "kind", "op", "codec", "size"]
    halves = []
    for half in cal.split():
        h = half.assign(codec=half["codec"].fillna("").astype(str),
                        step_s=half["total_s"] - half[_CODEC_PHASES].fillna(0).sum(axis=1))
        halves.append(h.groupby(keys)[["total_s", "step_s"]].median())
    fit, held = halves
    return pd.DataFrame({"error": fit["total_s"] / held["total_s"] - 1,
                         "step_error": fit["step_s"] / held["step_s"] - 1})


def _size_label(n: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def error_table(errors: pd.DataFrame, column: str = "step_error") -> pd.DataFrame:
    """Worst absolute held-out error per backend (rows) and size (columns), over stores, kinds
    and ops, with a ``worst`` column first — the table docs/latency.md and benchmarks/README.md show."""
    worst = errors[column].abs().groupby(level=["backend", "size"]).max().unstack("size")
    worst.columns = [_size_label(int(c)) for c in worst.columns]
    worst.insert(0, "worst", worst.max(axis=1))
    return worst


def markdown(table: pd.DataFrame) -> str:
    """``table`` (:func:`error_table`) as a Markdown table of whole percentages."""
    head = "| backend | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    body = ["| " + str(b) + " | " + " | ".join(f"{v:.0%}" for v in row) + " |"
            for b, row in table.iterrows()]
    return "\n".join([head, rule, *body])
