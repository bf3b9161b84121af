"""Latency: how long an XCom push or pull takes on each backend, and a fit from measurements.

A push is serialize → (compress) → (encrypt) → store; a pull runs the same steps backwards.
The store step is ``requests × (rtt + server time) + commit + bytes × per-byte costs``; on
Airflow 3 every DB access also crosses the Task Execution API (task → supervisor → API
server → DB: one extra HTTP hop). An offloaded value writes the object *and* a small
reference row in the metadata DB.

Fixed costs carry a lognormal tail (median = the documented figure, shape ``sigma``);
per-byte costs are deterministic. Sums of several fixed costs (fan-in, several requests)
are approximated by one lognormal with the same mean and variance (Fenton–Wilkinson).

The defaults (:data:`~xcomlab.models.calibration.DEFAULT_PARAMS`) name their sources:
fitted on the committed calibration where a backend runs on one machine, documented figures
for the network and the cloud (docs/latency.md#calibration). A model follows the
fitted-model contract: ``LatencyModel(...)`` stores priors only, ``fit(measurements)``
calibrates them (:mod:`xcomlab.models.calibration`) and returns the model, ``fit()`` with
no measurements adopts the defaults; fitted attributes end in ``_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from xcomlab.constants import REFERENCE_ROW_BYTES
from xcomlab.errors import NotFittedError, ParameterError
from xcomlab.models.calibration import DEFAULT_PARAMS, calibrate, default_codecs
from xcomlab.models.latency_params import (
    BACKENDS,
    CODECS,
    DB_BACKENDS,
    OBJECT_BACKENDS,
    STREAM_BYTES_PER_S,
    ApiHop,
    CodecSpeeds,
    Compression,
    LatencyParams,
    codec_name,
    stored_bytes,
    tier_of,
)

# The parameters live in latency_params; these names stay importable from here too.
__all__ = ["BACKENDS", "CODECS", "DB_BACKENDS", "DEFAULT_PARAMS", "OBJECT_BACKENDS", "STREAM_BYTES_PER_S",
           "ApiHop", "CodecSpeeds", "LatencyModel", "LatencyParams", "stored_bytes", "tier_of"]

Op = Literal["push", "pull"]
#: What a model fitted on no measurements says it was fitted on.
DEFAULTS_SOURCE = "the defaults (docs/latency.md#calibration)"


@dataclass(frozen=True)
class _Parts:
    """Fixed lognormal terms ``(median_s, sigma, count)`` and a deterministic per-value part."""

    terms: list[tuple[float, float, float]]
    linear_s: np.ndarray

    def lognormal(self) -> tuple[float, float]:
        """Fenton–Wilkinson: one lognormal (mu, sigma) with the terms' mean and variance."""
        mean = sum(c * m * np.exp(s * s / 2) for m, s, c in self.terms if m > 0)
        var = sum(c * m * m * (np.exp(s * s) - 1) * np.exp(s * s) for m, s, c in self.terms if m > 0)
        if mean <= 0:
            return -np.inf, 0.0
        s2 = float(np.log1p(var / (mean * mean)))
        return float(np.log(mean) - s2 / 2), float(np.sqrt(s2))


class LatencyModel:
    """Predict push/pull time per value for any backend, on Airflow 2 or 3.

    Parameters
    ----------
    params
        ``{backend: LatencyParams}`` priors overriding :data:`DEFAULT_PARAMS` (others keep
        the defaults).
    codecs, api
        Client-side codec speeds (priors) and Airflow 3's API hop.
    metadata
        The metadata DB an offloaded value's reference row goes to.
    ref_bytes
        Size of that reference row's value (default :data:`xcomlab.constants.REFERENCE_ROW_BYTES`,
        xcomlab's envelope; common-io stores the JSON string of the URL, docs/airflow-xcom.md#common-io-path:
        ~100–200 B for ``s3://conn@bucket/xcom/<dag>/<run>/<task>/<uuid>.zst``).

    Attributes
    ----------
    params_ : dict
        ``{backend: LatencyParams}`` after :meth:`fit`: the priors, measured backends replaced.
    codecs_ : CodecSpeeds
        Codec speeds after :meth:`fit`.
    fits_ : pandas.DataFrame
        One row per measured (op, backend) — ``<backend>+fernet`` for the step of encrypted
        values where it was fitted apart (``LatencyParams.encrypted_step``): ``n, intercept_s`` (the fitted line's),
        ``fixed_p50_s`` (the median fixed time the parameters keep), ``slope_s_per_byte``
        (up to 100 KB), ``bend_100kb_s_per_byte, bend_1mb_s_per_byte, bend_8mb_s_per_byte``
        (its change beyond each of :data:`~xcomlab.models.latency_params.KNEES_BYTES`),
        ``r2, sigma`` and residual
        quantiles ``resid_p50_s, resid_p90_s, resid_p99_s`` (empty when fitted on no
        measurements).
    residuals_ : pandas.DataFrame
        One row per measurement used: ``op, backend, bytes, seconds, predicted_s, residual_s``.
    notes_ : list of str
        What the fit could not calibrate.
    fitted_on_ : str
        What the model was fitted on.

    Examples
    --------
    >>> m = LatencyModel().fit()  # the documented defaults
    >>> bool(m.predict("push", "s3", [1_000])[0] > m.predict("push", "postgresql", [1_000])[0])
    True
    """

    def __init__(self, params: dict[str, LatencyParams] | None = None, *,
                 codecs: CodecSpeeds | None = None, api: ApiHop | None = None,
                 metadata: str = "postgresql", ref_bytes: int = REFERENCE_ROW_BYTES) -> None:
        self.params = params
        self.codecs = codecs
        self.api = api
        self.metadata = metadata
        self.ref_bytes = ref_bytes

    # --- fitting ----------------------------------------------------------------------------

    def fit(self, measurements: pd.DataFrame | None = None) -> LatencyModel:
        """Calibrate on measured operations (None: adopt the priors as they are); return self.

        Parameters
        ----------
        measurements
            The reference backend's measurement frame (:meth:`XComStore.measurements
            <xcomlab.backend.XComStore.measurements>`, :func:`xcomlab.measure.run`):
            ``op`` (set/get or push/pull), ``tier`` (db/object), ``backend`` or
            ``dialect``/``protocol``, ``bytes_in``, ``bytes_stored``, phase seconds and
            total ``seconds``. Missing phases are tolerated. See
            :func:`xcomlab.models.calibration.calibrate` for the method.

        Raises
        ------
        SchemaMismatchError
            When the frame has none of the columns or rows a fit needs.
        """
        priors = {**DEFAULT_PARAMS, **(self.params or {})}
        codecs = self.codecs or default_codecs()
        if measurements is None:
            self.params_, self.codecs_ = priors, codecs
            self.fits_, self.residuals_, self.notes_ = pd.DataFrame(), pd.DataFrame(), []
            self.fitted_on_ = DEFAULTS_SOURCE
            return self
        cal = calibrate(measurements, priors, codecs, metadata=self.metadata)
        self.params_, self.codecs_ = {**priors, **cal.params}, cal.codecs
        self.fits_, self.residuals_, self.notes_ = cal.fits, cal.residuals, cal.notes
        self.fitted_on_ = f"{cal.measurements} measurements of {', '.join(sorted(cal.params))}"
        return self

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return hasattr(self, "fitted_on_")

    def _check_fitted(self) -> None:
        if not self.fitted:
            msg = ("this LatencyModel is not fitted: call .fit(measurements) to calibrate it, "
                   "or .fit() to use the documented defaults")
            raise NotFittedError(msg)

    def __repr__(self) -> str:
        state = f"fitted on {self.fitted_on_}" if self.fitted else "not fitted"
        return f"LatencyModel({state}; metadata={self.metadata})"

    def backend(self, name: str) -> LatencyParams:
        """The fitted parameters of one backend (clear error for an unknown name)."""
        self._check_fitted()
        try:
            return self.params_[name]
        except KeyError:
            msg = f"backend={name!r}; expected one of {sorted(self.params_)}"
            raise ParameterError(msg) from None

    # --- composition ------------------------------------------------------------------------

    def _parts(self, op: Op, backend: str, nbytes: npt.ArrayLike, *, airflow3: bool,
               compression: Compression, ratio: float | None, encrypted: bool,
               fan_in: int, batched: bool) -> _Parts:
        if op not in ("push", "pull"):
            msg = f"op={op!r}; expected 'push' or 'pull'"
            raise ParameterError(msg)
        if fan_in < 1:
            msg = f"fan_in={fan_in}; expected an integer ≥ 1"
            raise ParameterError(msg)
        p = self.backend(backend).step(encrypted=encrypted)
        n = np.asarray(nbytes, dtype="float64")
        if (n < 0).any():
            msg = "nbytes must be ≥ 0"
            raise ParameterError(msg)
        codec = codec_name(compression)
        stored = stored_bytes(n, codec, ratio=ratio, encrypted=encrypted)
        is_object = p.tier == "object"
        db = self.backend(self.metadata) if is_object else p
        db_bytes = np.full(n.shape, float(self.ref_bytes)) if is_object else stored
        # a plain value read from the DB tier was parsed by the driver, inside the store step:
        # the client only walks it (on Airflow 3 the driver parses on the API server, and the
        # hop's own JSON round — the response encoded there, parsed by the worker — is ApiHop's)
        parsed_by_driver = not is_object and codec == "none" and not encrypted
        linear = self._codec_s(op, n, codec, ratio, encrypted, stored, parsed_by_driver=parsed_by_driver)
        terms: list[tuple[float, float, float]] = []
        if encrypted:
            call = self.codecs_.encrypt_call_s if op == "push" else self.codecs_.decrypt_call_s
            terms.append((call, 0.0, float(fan_in)))
        # the metadata-DB part (the value itself, or the reference row)
        db_calls = 1.0 if batched else float(fan_in)
        terms.append((db.fixed_s(op), db.sigma, db_calls))
        linear = linear + db.bytes_s(op, db_bytes)
        if airflow3:
            api = self.api or ApiHop()
            terms.append((api.rtt_s + api.server_s, api.sigma, db_calls))
            linear = linear + api.per_byte_s * db_bytes
        if is_object:  # one object request per value, batched or not (docs/airflow-xcom.md#mapping: per-element GET)
            terms.append((p.fixed_s(op), p.sigma, float(fan_in)))
            linear = linear + p.bytes_s(op, stored)
        return _Parts(terms, linear * fan_in)

    def _codec_s(self, op: Op, n: np.ndarray, codec: str, ratio: float | None,
                 encrypted: bool, stored: np.ndarray, *, parsed_by_driver: bool) -> np.ndarray:
        c = self.codecs_
        if op == "push":
            t = n * (c.serialize_s_per_byte + c.compress_s_per_byte[codec])
            packed = stored_bytes(n, codec, ratio=ratio)
            return t + (packed * c.encrypt_s_per_byte if encrypted else 0.0)
        t = n * (c.pull_decode_s_per_byte(parsed_by_driver=parsed_by_driver) + c.decompress_s_per_byte[codec])
        return t + (stored * c.decrypt_s_per_byte if encrypted else 0.0)

    # --- public -----------------------------------------------------------------------------

    def predict(self, op: Op, backend: str, nbytes: npt.ArrayLike, *, quantile: float = 0.5,
                airflow3: bool = True, compression: Compression = None,
                compression_ratio: float | None = None, encrypted: bool = False,
                fan_in: int = 1, batched: bool = False) -> np.ndarray:
        """Seconds for one push/pull of each value in ``nbytes`` at a quantile.

        Parameters
        ----------
        op
            ``"push"`` or ``"pull"``.
        backend
            One of :data:`BACKENDS`; an object store also writes/reads the reference row
            in ``self.metadata``.
        nbytes
            Serialized value sizes (bytes), any shape.
        quantile
            0.5 for the median, 0.99 for the tail.
        airflow3
            Add Airflow 3's API-server hop to the DB part.
        compression, compression_ratio, encrypted
            Codec steps before storing (ratio defaults to :data:`CODECS`).
        fan_in, batched
            Pull ``fan_in`` mapped values of this size each: ``batched=True`` is Airflow
            3.3's ``get_all`` (one DB request for all rows; object values still one GET each),
            else one request per value.
        """
        if not 0 < quantile < 1:
            msg = f"quantile={quantile}; expected 0 < quantile < 1"
            raise ParameterError(msg)
        parts = self._parts(op, backend, nbytes, airflow3=airflow3, compression=compression,
                            ratio=compression_ratio, encrypted=encrypted, fan_in=fan_in,
                            batched=batched)
        mu, sigma = parts.lognormal()
        fixed = float(np.exp(mu + sigma * NormalDist().inv_cdf(quantile))) if np.isfinite(mu) else 0.0
        return np.asarray(parts.linear_s + fixed, dtype="float64")

    def sample(self, op: Op, backend: str, nbytes: npt.ArrayLike,
               rng: np.random.Generator | int | None = None, *, airflow3: bool = True,
               compression: Compression = None, compression_ratio: float | None = None,
               encrypted: bool = False, fan_in: int = 1, batched: bool = False) -> np.ndarray:
        """Random draws of the time for each value (same arguments as :meth:`predict`)."""
        gen = np.random.default_rng(rng)
        parts = self._parts(op, backend, nbytes, airflow3=airflow3, compression=compression,
                            ratio=compression_ratio, encrypted=encrypted, fan_in=fan_in,
                            batched=batched)
        mu, sigma = parts.lognormal()
        shape = np.shape(parts.linear_s)
        fixed = np.exp(mu + sigma * gen.standard_normal(shape)) if np.isfinite(mu) else 0.0
        return np.asarray(parts.linear_s + fixed, dtype="float64")

    def predict_tiered(self, op: Op, nbytes: npt.ArrayLike, *, threshold: int,
                       dialect: str = "postgresql", object_store: str = "s3",
                       compression: Compression = None, **kw: Any) -> np.ndarray:
        """:meth:`predict` for a tiered backend: each value on the tier :func:`tier_of` picks.

        ``compression`` applies to offloaded values (as common-io's); other keywords go
        to :meth:`predict`.
        """
        n = np.asarray(nbytes, dtype="float64")
        obj = tier_of(n, threshold) == "object"
        out = np.empty(n.shape, dtype="float64")
        out[~obj] = self.predict(op, dialect, n[~obj], **kw)
        out[obj] = self.predict(op, object_store, n[obj], compression=compression, **kw)
        return out

    def summary(self) -> pd.DataFrame:
        """One row per backend: median fixed and per-byte costs per op, tail shape, source."""
        self._check_fitted()
        rows = [{"backend": name, "tier": p.tier,
                 "push_fixed_ms": p.fixed_s("push") * 1e3, "pull_fixed_ms": p.fixed_s("pull") * 1e3,
                 "push_ns_per_byte": p.per_byte_s("push") * 1e9,
                 "pull_ns_per_byte": p.per_byte_s("pull") * 1e9,
                 "sigma": p.sigma, "source": p.source} for name, p in self.params_.items()]
        return pd.DataFrame(rows).set_index("backend")

    def _repr_html_(self) -> str:
        table = self.summary().to_html(float_format=lambda v: f"{v:,.3g}") if self.fitted else ""
        return f"<p><b>{self!r}</b></p>" + table

    def with_params(self, **backends: LatencyParams) -> LatencyModel:
        """A new model whose priors are this one's fitted parameters with some backends replaced, fitted on them."""
        self._check_fitted()
        return LatencyModel({**self.params_, **backends}, codecs=self.codecs_, api=self.api,
                            metadata=self.metadata, ref_bytes=self.ref_bytes).fit()
