"""Latency: how long an XCom push or pull takes on each backend, and a fit from measurements.

A push is serialize → (compress) → (encrypt) → store; a pull runs the same steps backwards.
The store step is ``requests × (rtt + server time) + commit + bytes × per-byte costs``; on
Airflow 3 every DB access also crosses the Task Execution API (task → supervisor → API
server → DB: one extra HTTP hop). An offloaded value writes the object *and* a small
reference row in the metadata DB.

Fixed costs carry a lognormal tail (median = the documented figure, shape ``sigma``);
per-byte costs are deterministic. Sums of several fixed costs (fan-in, several requests)
are approximated by one lognormal with the same mean and variance (Fenton–Wilkinson).

Every default names its source in ``/work/shared/reference/model_parameters.md`` (section and
row) with its date; tags follow that file: [P] primary, [S] secondary, [D] derived,
[L] measured in this sandbox, [A] an assumption of ours — calibrate it with :func:`fit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from xcomlab.constants import REFERENCE_ROW_BYTES
from xcomlab.errors import ParameterError, SchemaMismatchError

__all__ = [
    "BACKENDS",
    "CODECS",
    "DEFAULT_PARAMS",
    "OBJECT_BACKENDS",
    "ApiHop",
    "CodecSpeeds",
    "FitResult",
    "LatencyModel",
    "LatencyParams",
    "fit",
    "stored_bytes",
    "tier_of",
]

Op = Literal["push", "pull"]
Compression = str | None  # "none", "gzip", "zstd" (see CODECS) or None

DB_BACKENDS: Final = ("postgresql", "mysql", "sqlite")
OBJECT_BACKENDS: Final = ("s3", "gcs", "azure", "file", "s3express")
BACKENDS: Final = DB_BACKENDS + OBJECT_BACKENDS

# Per-connection network rate: AWS S3 user guide "Performance guidelines — scale storage
# connections horizontally": one request per 85–90 MB/s (read 2026-11-25). [P] for S3; we
# borrow it as the in-region per-stream rate for the other paths too [A].
STREAM_BYTES_PER_S: Final = 87.5e6


@dataclass(frozen=True)
class LatencyParams:
    """Timing parameters of one storage backend (seconds; per-byte in s/B).

    ``push_requests`` statements or HTTP requests per push, each paying ``rtt_s`` plus
    ``push_server_s``; ``commit_s`` once per push; ``transfer_s_per_byte`` both ways;
    ``write_s_per_byte`` / ``read_s_per_byte`` on the server's storage; ``sigma`` the
    lognormal shape of the fixed part (p99/p50 = exp(2.326·sigma)). ``tier`` is ``"db"``
    or ``"object"`` (an object store also writes a reference row in the metadata DB).
    """

    backend: str
    rtt_s: float
    push_server_s: float
    pull_server_s: float
    commit_s: float = 0.0
    push_requests: int = 1
    pull_requests: int = 1
    transfer_s_per_byte: float = 1.0 / STREAM_BYTES_PER_S
    write_s_per_byte: float = 0.0
    read_s_per_byte: float = 0.0
    sigma: float = 0.5
    source: str = ""
    tier: str = "db"

    def fixed_s(self, op: Op) -> float:
        """Median fixed time of one store step (no bytes)."""
        if op == "push":
            return self.push_requests * (self.rtt_s + self.push_server_s) + self.commit_s
        return self.pull_requests * (self.rtt_s + self.pull_server_s)

    def per_byte_s(self, op: Op) -> float:
        """Seconds per stored byte of one store step."""
        storage = self.write_s_per_byte if op == "push" else self.read_s_per_byte
        return self.transfer_s_per_byte + storage


# EBS gp3 baseline 125 MiB/s (§2a "EBS gp3 performance", AWS docs 2025–26) and WAL logging
# the value again (§1a worked example: write volume ≥ 2× value) [D].
_GP3_WRITE_S_PER_BYTE: Final = 2.0 / (125 * 2**20)
# memcpy 16 332 MB/s, 1 core (§5 "memcpy, 1 core", lzbench 2.0.1, 2025) — a read from cache [P].
_MEMCPY_S_PER_BYTE: Final = 1.0 / 16_332e6

def _server_db(backend: str, source: str) -> LatencyParams:
    """A client/server database reached over the network from the worker or API server."""
    return LatencyParams(
        backend,
        # RTT same-DC 0.5 ms: §2a "Same-DC vs cross-cloud app→DB" (GoCardless via pganalyze, 2022) [S]
        rtt_s=0.5e-3,
        # trivial INSERT ~0.5 ms / SELECT ~0.1 ms server-side: §2a (2ndQuadrant, ~2019) [S]
        push_server_s=0.5e-3, pull_server_s=0.1e-3,
        # flush < 0.5 ms avg for 16 KiB I/O: §2a "EBS io2 Block Express latency" (AWS, 2025–26) [P]
        commit_s=0.5e-3,
        # XComModel.set = dag_run lookup + DELETE + INSERT: airflow_xcom.md §8 "Lifecycle" [P]
        push_requests=3, pull_requests=1,
        write_s_per_byte=_GP3_WRITE_S_PER_BYTE, read_s_per_byte=_MEMCPY_S_PER_BYTE,
        sigma=0.5,  # [A] p99 ≈ 3.2× p50 for the fixed part
        source=source)


DEFAULT_PARAMS: Final[dict[str, LatencyParams]] = {
    "postgresql": _server_db("postgresql", "model_parameters.md §2a (2ndQuadrant ~2019, "
                             "GoCardless 2022, AWS EBS 2025–26)"),
    # No MySQL-specific public round-trip figure in the reference: PostgreSQL's [A].
    "mysql": _server_db("mysql", "as postgresql [A]; model_parameters.md §2a"),
    # In-process: no RTT. Local [L] 2026-11-25 (2 vCPU EPYC, Python 3.11): INSERT+COMMIT median
    # 1.09 ms @100 B and 20 ms @1 MB (journal + fsync); SELECT 9 µs @100 B, 0.45 ms @1 MB.
    "sqlite": LatencyParams("sqlite", rtt_s=0.0, push_server_s=20e-6, pull_server_s=9e-6,
                            commit_s=1.0e-3, push_requests=3, pull_requests=1,
                            transfer_s_per_byte=0.0, write_s_per_byte=19e-9,
                            read_s_per_byte=0.44e-9, sigma=0.5,
                            source="local measurement [L] 2026-11-25"),
    # S3 Standard small requests (<512 KB): "often in the tens of milliseconds" median — AWS
    # whitepaper "Optimizing S3 performance" (§2b, current) [P]; we take 20 ms. A push is
    # HEAD (common-io's exists() loop, airflow_xcom.md §4) + PUT.
    "s3": LatencyParams("s3", rtt_s=0.0, push_server_s=20e-3, pull_server_s=20e-3,
                        push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                        source="model_parameters.md §2b (AWS S3 whitepaper, current); sigma [A]"),
    # S3 Express One Zone: "single-digit ms" first byte (§2b, S3 user guide 2023–26) [P]: 5 ms.
    "s3express": LatencyParams("s3express", rtt_s=0.0, push_server_s=5e-3, pull_server_s=5e-3,
                               push_requests=2, pull_requests=1, sigma=0.5, tier="object",
                               source="model_parameters.md §2b (S3 Express One Zone, 2023–26); sigma [A]"),
    # GCS publishes no latency figure in the reference (§2b): S3's [A].
    "gcs": LatencyParams("gcs", rtt_s=0.0, push_server_s=20e-3, pull_server_s=20e-3,
                         push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                         source="as s3 [A]; model_parameters.md §2b"),
    # Azure doc example 50 ms/request (§2b "Azure latency", storage-blobs-latency, current) [P].
    "azure": LatencyParams("azure", rtt_s=0.0, push_server_s=50e-3, pull_server_s=50e-3,
                           push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                           source="model_parameters.md §2b (Azure storage-blobs-latency, current); sigma [A]"),
    # Local files [L] 2026-11-25: write+rename 39 µs @100 B, 0.75 ms @1 MB; read 9.5 µs, 53 µs @1 MB.
    "file": LatencyParams("file", rtt_s=0.0, push_server_s=20e-6, pull_server_s=9.5e-6,
                          push_requests=2, pull_requests=1, transfer_s_per_byte=0.0,
                          write_s_per_byte=0.71e-9, read_s_per_byte=0.044e-9, sigma=0.4,
                          tier="object", source="local measurement [L] 2026-11-25"),
}


@dataclass(frozen=True)
class CodecSpeeds:
    """Client-side costs, in seconds per byte of input (and a fixed cost per call)."""

    # stdlib json, twitter.json: dumps ≈ 0.49 GB/s, loads ≈ 0.29 GB/s — §5 "JSON serialisation"
    # (ijl/orjson README @5cbb3d0, 2026-03) [P/D]. Float-heavy payloads are ~6× slower (§5, [L]).
    serialize_s_per_byte: float = 1 / 0.49e9
    deserialize_s_per_byte: float = 1 / 0.29e9
    # zstd -2 (≈ zstandard's default level 3): 344 / 1246 MB/s, ratio 3.05; zlib -6 (gzip):
    # 25.3 / 344 MB/s, ratio 3.11 — §2c lzbench 2.0.1 README (2025) [P]; ratio = 1/x [D].
    compress_s_per_byte: dict[str, float] = field(
        default_factory=lambda: {"zstd": 1 / 344e6, "gzip": 1 / 25.3e6, "none": 0.0})
    decompress_s_per_byte: dict[str, float] = field(
        default_factory=lambda: {"zstd": 1 / 1246e6, "gzip": 1 / 344e6, "none": 0.0})
    # Fernet 1 MiB: encrypt 305 MB/s, decrypt 227 MB/s (§2d local, cryptography 48.0.0,
    # 2026-11-24) [L]; per call 12.4 µs / 11.2 µs (§2d pyca/cryptography PR #15357, 2026-07) [P].
    encrypt_s_per_byte: float = 1 / 305e6
    decrypt_s_per_byte: float = 1 / 227e6
    encrypt_call_s: float = 12.4e-6
    decrypt_call_s: float = 11.2e-6


#: Default stored/original ratio and fixed header bytes per codec. Ratios: §2c lzbench
#: (zstd -2: 3.05, zlib -6: 3.11 on Silesia, 2025) [P]; headers: zstd frame ≤ 18 B with
#: content size (RFC 8878 §3.1.1) — we take 13; gzip 10 B header + 8 B trailer (RFC 1952) [P].
CODECS: Final[dict[str, tuple[float, int]]] = {
    "zstd": (1 / 3.05, 13),
    "gzip": (1 / 3.11, 18),
    "none": (1.0, 0),
}


@dataclass(frozen=True)
class ApiHop:
    """Airflow 3's extra hop: task → supervisor → API server (HTTP) → DB.

    The hop exists because Airflow 3 workers have no metadata-DB access (airflow_xcom.md §3.2;
    model_parameters.md §0 "Airflow 3 workers", AWS MWAA docs 2025–26) [P].
    """

    # same-DC RTT 0.5 ms (§2a, GoCardless 2022) [S] + API server request handling 1 ms [A]
    rtt_s: float = 0.5e-3
    server_s: float = 1.0e-3
    # the API server parses and re-encodes the JSON (stdlib loads+dumps, §5 orjson README
    # 2026-03) and the bytes cross one more connection (STREAM_BYTES_PER_S) [D]
    per_byte_s: float = 1 / 0.29e9 + 1 / 0.49e9 + 1 / STREAM_BYTES_PER_S
    sigma: float = 0.5  # [A]


def tier_of(nbytes: npt.ArrayLike, threshold: int) -> np.ndarray:
    """Where each value goes under common-io's rule: ``"db"`` or ``"object"``.

    ``threshold < 0`` keeps everything in the DB, ``0`` offloads everything, ``N``
    offloads values with ``size >= N`` (airflow_xcom.md §4).
    """
    n = np.asarray(nbytes, dtype="float64")
    if threshold < 0:
        return np.full(n.shape, "db", dtype=object)
    return np.where(n >= threshold, "object", "db").astype(object)


def stored_bytes(nbytes: npt.ArrayLike, compression: Compression = None, *,
                 ratio: float | None = None, encrypted: bool = False) -> np.ndarray:
    """Bytes a value occupies after compression and encryption.

    Compression: ``n × ratio + header`` (:data:`CODECS`); Fernet: the token layout of
    §2d, ``base64(57 + 16·⌈(n+1)/16⌉)`` [P/D].
    """
    n = np.asarray(nbytes, dtype="float64")
    codec = _codec_name(compression)
    r, header = CODECS[codec]
    out = n if codec == "none" else n * (r if ratio is None else ratio) + header
    if encrypted:
        out = 4.0 * np.ceil((57.0 + 16.0 * np.floor(out / 16.0 + 1.0)) / 3.0)
    return np.asarray(out, dtype="float64")


def _codec_name(compression: Compression) -> str:
    name = "none" if compression in (None, "", "none") else str(compression)
    if name not in CODECS:
        msg = f"compression={compression!r}; expected one of {sorted(CODECS)} or None"
        raise ParameterError(msg)
    return name


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
        ``{backend: LatencyParams}`` overriding :data:`DEFAULT_PARAMS` (others keep defaults).
    codecs, api
        Client-side codec speeds and Airflow 3's API hop.
    metadata
        The metadata DB an offloaded value's reference row goes to.
    ref_bytes
        Size of that reference row's value (default :data:`xcomlab.constants.REFERENCE_ROW_BYTES`,
        xcomlab's envelope; common-io stores the JSON string of the URL, airflow_xcom.md §4:
        ~100–200 B for ``s3://conn@bucket/xcom/<dag>/<run>/<task>/<uuid>.zst``).

    Examples
    --------
    >>> m = LatencyModel()
    >>> bool(m.predict("push", "s3", [1_000])[0] > m.predict("push", "postgresql", [1_000])[0])
    True
    """

    def __init__(self, params: dict[str, LatencyParams] | None = None, *,
                 codecs: CodecSpeeds | None = None, api: ApiHop | None = None,
                 metadata: str = "postgresql", ref_bytes: int = REFERENCE_ROW_BYTES,
                 fitted_on: str = "defaults (model_parameters.md §2)") -> None:
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.codecs = codecs or CodecSpeeds()
        self.api = api or ApiHop()
        self.metadata = metadata
        self.ref_bytes = ref_bytes
        self.fitted_on = fitted_on

    def __repr__(self) -> str:
        return f"LatencyModel({len(self.params)} backends; {self.fitted_on}; metadata={self.metadata})"

    def backend(self, name: str) -> LatencyParams:
        """The parameters of one backend (clear error for an unknown name)."""
        try:
            return self.params[name]
        except KeyError:
            msg = f"backend={name!r}; expected one of {sorted(self.params)}"
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
        p = self.backend(backend)
        n = np.asarray(nbytes, dtype="float64")
        if (n < 0).any():
            msg = "nbytes must be ≥ 0"
            raise ParameterError(msg)
        codec = _codec_name(compression)
        stored = stored_bytes(n, codec, ratio=ratio, encrypted=encrypted)
        is_object = p.tier == "object"
        db = self.backend(self.metadata) if is_object else p
        db_bytes = np.full(n.shape, float(self.ref_bytes)) if is_object else stored
        linear = self._codec_s(op, n, codec, ratio, encrypted, stored)
        terms: list[tuple[float, float, float]] = []
        if encrypted:
            call = self.codecs.encrypt_call_s if op == "push" else self.codecs.decrypt_call_s
            terms.append((call, 0.0, float(fan_in)))
        # the metadata-DB part (the value itself, or the reference row)
        db_calls = 1.0 if batched else float(fan_in)
        terms.append((db.fixed_s(op), db.sigma, db_calls))
        linear = linear + db.per_byte_s(op) * db_bytes
        if airflow3:
            terms.append((self.api.rtt_s + self.api.server_s, self.api.sigma, db_calls))
            linear = linear + self.api.per_byte_s * db_bytes
        if is_object:  # one object request per value, batched or not (§7: per-element GET)
            terms.append((p.fixed_s(op), p.sigma, float(fan_in)))
            linear = linear + p.per_byte_s(op) * stored
        return _Parts(terms, linear * fan_in)

    def _codec_s(self, op: Op, n: np.ndarray, codec: str, ratio: float | None,
                 encrypted: bool, stored: np.ndarray) -> np.ndarray:
        c = self.codecs
        if op == "push":
            t = n * (c.serialize_s_per_byte + c.compress_s_per_byte[codec])
            packed = stored_bytes(n, codec, ratio=ratio)
            return t + (packed * c.encrypt_s_per_byte if encrypted else 0.0)
        t = n * (c.deserialize_s_per_byte + c.decompress_s_per_byte[codec])
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
        rows = [{"backend": name, "tier": p.tier,
                 "push_fixed_ms": p.fixed_s("push") * 1e3, "pull_fixed_ms": p.fixed_s("pull") * 1e3,
                 "push_ns_per_byte": p.per_byte_s("push") * 1e9,
                 "pull_ns_per_byte": p.per_byte_s("pull") * 1e9,
                 "sigma": p.sigma, "source": p.source} for name, p in self.params.items()]
        return pd.DataFrame(rows).set_index("backend")

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.summary().to_html(float_format=lambda v: f"{v:,.3g}")

    def with_params(self, **backends: LatencyParams) -> LatencyModel:
        """A copy with some backends' parameters replaced."""
        return LatencyModel({**self.params, **backends}, codecs=self.codecs, api=self.api,
                            metadata=self.metadata, ref_bytes=self.ref_bytes,
                            fitted_on=self.fitted_on)


# --- fitting -------------------------------------------------------------------------------

_ALIASES: Final = {"postgres": "postgresql", "postgresql+psycopg": "postgresql", "pg": "postgresql",
                   "mariadb": "mysql", "mysql+pymysql": "mysql", "memory": "file", "local": "file",
                   "gs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure", "s3a": "s3"}
_OPS: Final = {"set": "push", "push": "push", "put": "push", "encode": "push",
               "get": "pull", "pull": "pull", "decode": "pull"}


@dataclass(frozen=True)
class FitResult:
    """A latency model calibrated on measurements.

    Attributes
    ----------
    model : LatencyModel
        Defaults with the measured backends' (and codecs') parameters replaced.
    params : dict
        ``{backend: LatencyParams}`` of the measured backends.
    residuals : pandas.DataFrame
        One row per measurement used: ``op, backend, bytes, seconds, predicted_s, residual_s``.
    fits : pandas.DataFrame
        One row per (op, backend): ``n, intercept_s, slope_s_per_byte, r2, sigma`` and
        residual quantiles ``resid_p50_s, resid_p90_s, resid_p99_s``.
    """

    model: LatencyModel
    params: dict[str, LatencyParams]
    residuals: pd.DataFrame
    fits: pd.DataFrame
    notes: list[str]

    def summary(self) -> pd.DataFrame:
        """The per-(op, backend) fits."""
        return self.fits

    def __repr__(self) -> str:
        return f"FitResult({len(self.residuals)} measurements; backends {sorted(self.params)})"

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.fits.to_html()


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


def fit(measurements: pd.DataFrame, *, base: LatencyModel | None = None) -> FitResult:
    """Calibrate a :class:`LatencyModel` on measured operations.

    Per (op, backend), the store step ``db_s`` (DB tier) or ``object_s`` (object tier) —
    or, without phase columns, ``seconds`` minus the codec phases present — is fitted by
    least squares as ``a + b·bytes_stored`` (``a`` is the mean fixed time; the parameters
    keep the median ``a·exp(−σ²/2)``, σ from the residuals' log spread). Codec speeds are fitted from ``serialize_s``,
    ``compress_s`` and ``encrypt_s`` when present. Calibrated parameters put ``a`` in the
    server time (one request, no separate RTT/commit) and ``b`` in the per-byte cost.

    Parameters
    ----------
    measurements
        The reference backend's measurement frame: ``op`` (set/get or push/pull), ``tier``
        (db/object), ``backend`` or ``dialect``/``protocol``, ``bytes_in``,
        ``bytes_stored``, phase seconds and total ``seconds``. Missing phases are tolerated.
    base
        The model whose other parameters are kept (default: :class:`LatencyModel`).
    """
    base = base or LatencyModel()
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
    params = {b: _calibrated(base.backend(b), {op: v for (op, bb), v in fitted.items() if bb == b})
              for b in sorted({bb for _, bb in fitted})}
    codecs = _fit_codecs(m, base.codecs, notes)
    model = LatencyModel({**base.params, **params}, codecs=codecs, api=base.api,
                         metadata=base.metadata, ref_bytes=base.ref_bytes,
                         fitted_on=f"fitted on {len(m)} measurements")
    return FitResult(model, params, pd.concat(resid, ignore_index=True),
                     pd.DataFrame(rows).set_index(["op", "backend"]), notes)


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
