"""Latency parameters: the documented per-backend, codec and API-hop costs, and the sizes they apply to.

Every default names its source in ``docs/latency.md`` (section and row) with its date;
tags (docs/methods.md#tags): [P] primary, [S] secondary, [D] derived, [L] measured in this
sandbox, [A] an assumption of ours — calibrate them with :meth:`LatencyModel.fit
<xcomlab.models.latency.LatencyModel.fit>`. :data:`DOCUMENTED_PARAMS` holds them; the defaults
a model starts from (:data:`xcomlab.models.calibration.DEFAULT_PARAMS`) fit the measurable ones
on the committed calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from xcomlab.errors import ParameterError

__all__ = [
    "BACKENDS",
    "CODECS",
    "DB_BACKENDS",
    "DOCUMENTED_PARAMS",
    "KNEES_BYTES",
    "LARGE_VALUE_BYTES",
    "OBJECT_BACKENDS",
    "STREAM_BYTES_PER_S",
    "ApiHop",
    "CodecSpeeds",
    "Compression",
    "LatencyParams",
    "codec_name",
    "stored_bytes",
    "tier_of",
]

Op = Literal["push", "pull"]
Compression = str | None  # "none", "gzip", "zstd" (see CODECS) or None

DB_BACKENDS: Final = ("postgresql", "mysql", "sqlite")
OBJECT_BACKENDS: Final = ("s3", "gcs", "azure", "file", "s3express", "memory", "s3local")
BACKENDS: Final = DB_BACKENDS + OBJECT_BACKENDS

# Per-connection network rate: AWS S3 user guide "Performance guidelines — scale storage
# connections horizontally": one request per 85–90 MB/s (read 2026-11-25). [P] for S3; we
# borrow it as the in-region per-stream rate for the other paths too [A].
STREAM_BYTES_PER_S: Final = 87.5e6
#: The knees of a measured store step (:meth:`LatencyParams.bytes_s`), where its per-byte cost
#: may change: 100 KB (beyond a few pages, e.g. PostgreSQL TOASTs values over ~2 KB out of line
#: in chunks; SQLite spills to overflow pages), 1 MB (buffers leave the CPU's private caches, and
#: glibc serves blocks above its mmap threshold from fresh pages) and 8 MB (far above the shared
#: cache: every byte goes to memory). All three sizes are measured [L]; the step is linear between
#: them — a few regimes, not a table of sizes (docs/latency.md#calibration).
KNEES_BYTES: Final = (100_000, 1_000_000, 8_000_000)
#: The last knee (kept under its old name).
LARGE_VALUE_BYTES: Final = KNEES_BYTES[-1]


@dataclass(frozen=True)
class LatencyParams:
    """Timing parameters of one storage backend (seconds; per-byte in s/B).

    ``push_requests`` statements or HTTP requests per push, each paying ``rtt_s`` plus
    ``push_server_s``; ``commit_s`` once per push; ``transfer_s_per_byte`` both ways;
    ``write_s_per_byte`` / ``read_s_per_byte`` on the server's storage; ``sigma`` the
    lognormal shape of the fixed part (p99/p50 = exp(2.326·sigma)). ``tier`` is ``"db"``
    or ``"object"`` (an object store also writes a reference row in the metadata DB).
    ``push_bends_s_per_byte`` / ``pull_bends_s_per_byte``: the change of the per-byte cost beyond
    each of :data:`KNEES_BYTES` (``()``: none, one slope for every size, as in the documented
    figures). The store step is then piecewise linear in the bytes, a few regimes; when fitted,
    every regime's slope is ≥ 0 (a bend may be negative: a step whose cost grows more slowly
    for large values).
    ``encrypted_step``: where encrypted values were measured apart from plain ones on this
    backend (the calibration's ``sqlite+file+fernet`` store next to ``sqlite+file``), the
    store step of encrypted values: fitted with its own fixed part, the per-byte line shared
    (the same disk) — a model uses it instead of this one for ``encrypted=True`` (the Fernet
    phase itself is a codec cost either way; docs/latency.md#calibration). ``None``: one step
    for both.
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
    push_bends_s_per_byte: tuple[float, ...] = ()
    pull_bends_s_per_byte: tuple[float, ...] = ()
    encrypted_step: LatencyParams | None = None

    def step(self, *, encrypted: bool) -> LatencyParams:
        """The parameters of the store step of a value: :attr:`encrypted_step` for an encrypted
        value where one was fitted, else these."""
        return self.encrypted_step if encrypted and self.encrypted_step is not None else self

    def fixed_s(self, op: Op) -> float:
        """Median fixed time of one store step (no bytes)."""
        if op == "push":
            return self.push_requests * (self.rtt_s + self.push_server_s) + self.commit_s
        return self.pull_requests * (self.rtt_s + self.pull_server_s)

    def per_byte_s(self, op: Op) -> float:
        """Seconds per stored byte of one store step (up to the first of :data:`KNEES_BYTES`)."""
        storage = self.write_s_per_byte if op == "push" else self.read_s_per_byte
        return self.transfer_s_per_byte + storage

    def bytes_s(self, op: Op, nbytes: np.ndarray) -> np.ndarray:
        """Seconds the bytes of one store step take: :meth:`per_byte_s` for every byte, plus
        each bend (``*_bends_s_per_byte``) for every byte beyond its knee (:data:`KNEES_BYTES`)."""
        out = self.per_byte_s(op) * nbytes
        bends = self.push_bends_s_per_byte if op == "push" else self.pull_bends_s_per_byte
        for knee, bend in zip(KNEES_BYTES, bends, strict=False):
            if bend:
                out = out + bend * np.maximum(nbytes - knee, 0.0)
        return out


# EBS gp3 baseline 125 MiB/s (docs/latency.md#db-round-trips "EBS gp3", AWS docs 2025–26) and WAL logging
# the value again (docs/storage.md#pg-worked-example: write volume ≥ 2× value) [D].
_GP3_WRITE_S_PER_BYTE: Final = 2.0 / (125 * 2**20)
# memcpy 16 332 MB/s, 1 core (docs/latency.md#memcpy, lzbench 2.0.1, 2025) — a read from cache [P].
_MEMCPY_S_PER_BYTE: Final = 1.0 / 16_332e6

def _server_db(backend: str, source: str) -> LatencyParams:
    """A client/server database reached over the network from the worker or API server."""
    return LatencyParams(
        backend,
        # RTT same-DC 0.5 ms: docs/latency.md#db-round-trips (GoCardless via pganalyze, 2022) [S]
        rtt_s=0.5e-3,
        # trivial INSERT ~0.5 ms / SELECT ~0.1 ms server-side: docs/latency.md#db-round-trips (2ndQuadrant, ~2019) [S]
        push_server_s=0.5e-3, pull_server_s=0.1e-3,
        # flush < 0.5 ms avg for 16 KiB I/O: docs/latency.md#db-round-trips "EBS io2" (AWS, 2025–26) [P]
        commit_s=0.5e-3,
        # XComModel.set = dag_run lookup + DELETE + INSERT: docs/airflow-xcom.md#lifecycle [P]
        push_requests=3, pull_requests=1,
        write_s_per_byte=_GP3_WRITE_S_PER_BYTE, read_s_per_byte=_MEMCPY_S_PER_BYTE,
        sigma=0.5,  # [A] p99 ≈ 3.2× p50 for the fixed part
        source=source)


#: The documented figures (sources in docs/latency.md); the defaults models start from,
#: :data:`xcomlab.models.calibration.DEFAULT_PARAMS`, replace the ones measurable on one machine
#: by the committed calibration's fit.
DOCUMENTED_PARAMS: Final[dict[str, LatencyParams]] = {
    "postgresql": _server_db("postgresql", "docs/latency.md#db-round-trips (2ndQuadrant ~2019, "
                             "GoCardless 2022, AWS EBS 2025–26)"),
    # No MySQL-specific public round-trip figure in the reference: PostgreSQL's [A].
    "mysql": _server_db("mysql", "as postgresql [A]; docs/latency.md#db-round-trips"),
    # In-process: no RTT. Local [L] 2026-11-25 (2 vCPU EPYC, Python 3.11): INSERT+COMMIT median
    # 1.09 ms @100 B and 20 ms @1 MB (journal + fsync); SELECT 9 µs @100 B, 0.45 ms @1 MB.
    "sqlite": LatencyParams("sqlite", rtt_s=0.0, push_server_s=20e-6, pull_server_s=9e-6,
                            commit_s=1.0e-3, push_requests=3, pull_requests=1,
                            transfer_s_per_byte=0.0, write_s_per_byte=19e-9,
                            read_s_per_byte=0.44e-9, sigma=0.5,
                            source="local measurement [L] 2026-11-25"),
    # S3 Standard small requests (<512 KB): "often in the tens of milliseconds" median — AWS
    # whitepaper "Optimizing S3 performance" (docs/latency.md#s3, current) [P]; we take 20 ms. A push is
    # HEAD (common-io's exists() loop, docs/airflow-xcom.md#common-io-path) + PUT.
    "s3": LatencyParams("s3", rtt_s=0.0, push_server_s=20e-3, pull_server_s=20e-3,
                        push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                        source="docs/latency.md#s3 (AWS S3 whitepaper, current); sigma [A]"),
    # S3 Express One Zone: "single-digit ms" first byte (docs/latency.md#s3-express, S3 user guide 2023–26) [P]: 5 ms.
    "s3express": LatencyParams("s3express", rtt_s=0.0, push_server_s=5e-3, pull_server_s=5e-3,
                               push_requests=2, pull_requests=1, sigma=0.5, tier="object",
                               source="docs/latency.md#s3-express (S3 Express One Zone, 2023–26); sigma [A]"),
    # GCS publishes no latency figure (docs/latency.md#gcs): S3's [A].
    "gcs": LatencyParams("gcs", rtt_s=0.0, push_server_s=20e-3, pull_server_s=20e-3,
                         push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                         source="as s3 [A]; docs/latency.md#gcs"),
    # Azure doc example 50 ms/request (docs/latency.md#azure, storage-blobs-latency, current) [P].
    "azure": LatencyParams("azure", rtt_s=0.0, push_server_s=50e-3, pull_server_s=50e-3,
                           push_requests=2, pull_requests=1, sigma=0.6, tier="object",
                           source="docs/latency.md#azure (Azure storage-blobs-latency, current); sigma [A]"),
    # Local files [L] 2026-11-25: write+rename 39 µs @100 B, 0.75 ms @1 MB; read 9.5 µs, 53 µs @1 MB.
    "file": LatencyParams("file", rtt_s=0.0, push_server_s=20e-6, pull_server_s=9.5e-6,
                          push_requests=2, pull_requests=1, transfer_s_per_byte=0.0,
                          write_s_per_byte=0.71e-9, read_s_per_byte=0.044e-9, sigma=0.4,
                          tier="object", source="local measurement [L] 2026-11-25"),
    # In-process fsspec memory:// and moto's S3 API server on loopback: no public figure; both are
    # measured (DEFAULT_PARAMS). These priors only serve when the calibration data is absent [A].
    "memory": LatencyParams("memory", rtt_s=0.0, push_server_s=10e-6, pull_server_s=5e-6,
                            push_requests=2, pull_requests=1, transfer_s_per_byte=0.0,
                            sigma=0.4, tier="object", source="prior [A]; measured in DEFAULT_PARAMS"),
    "s3local": LatencyParams("s3local", rtt_s=0.0, push_server_s=2e-3, pull_server_s=2e-3,
                             push_requests=2, pull_requests=1, sigma=0.4, tier="object",
                             source="prior [A]; measured in DEFAULT_PARAMS"),
}


@dataclass(frozen=True)
class CodecSpeeds:
    """Client-side costs, in seconds per byte of input (and a fixed cost per call)."""

    # stdlib json, twitter.json: dumps ≈ 0.49 GB/s, loads ≈ 0.29 GB/s — docs/latency.md#json-speed
    # (ijl/orjson README @5cbb3d0, 2026-03) [P/D]. Float-heavy payloads are ~6× slower (docs/latency.md#json-speed, [L]).
    serialize_s_per_byte: float = 1 / 0.49e9
    deserialize_s_per_byte: float = 1 / 0.29e9
    # zstd -2 (≈ zstandard's default level 3): 344 / 1246 MB/s, ratio 3.05; zlib -6 (gzip):
    # 25.3 / 344 MB/s, ratio 3.11 — docs/latency.md#compression, lzbench 2.0.1 README (2025) [P]; ratio = 1/x [D].
    compress_s_per_byte: dict[str, float] = field(
        default_factory=lambda: {"zstd": 1 / 344e6, "gzip": 1 / 25.3e6, "none": 0.0})
    decompress_s_per_byte: dict[str, float] = field(
        default_factory=lambda: {"zstd": 1 / 1246e6, "gzip": 1 / 344e6, "none": 0.0})
    # Fernet 1 MiB: encrypt 305 MB/s, decrypt 227 MB/s (docs/latency.md#encryption, local, cryptography 48.0.0,
    # 2026-11-24) [L]; per call 12.4 µs / 11.2 µs (docs/latency.md#encryption, pyca/cryptography PR #15357, 2026-07) [P].
    encrypt_s_per_byte: float = 1 / 305e6
    decrypt_s_per_byte: float = 1 / 227e6
    encrypt_call_s: float = 12.4e-6
    decrypt_call_s: float = 11.2e-6
    # A database read of a plain JSON value: the driver parses the JSON column inside the read
    # (a fitted DB read step holds that parse, per driver and kind of value), so only what follows
    # the parse is left to the client — xcomlab's serde walk, fitted on the DB-tier reads'
    # serialize_s [L] (docs/latency.md#calibration). None: the whole deserialization above (the
    # documented DB steps hold no parse).
    db_deserialize_s_per_byte: float | None = None

    def pull_decode_s_per_byte(self, *, parsed_by_driver: bool) -> float:
        """Seconds per JSON byte the client spends deserializing a pulled value:
        :attr:`db_deserialize_s_per_byte` after a database driver parsed it (a plain value
        read from the DB tier), else :attr:`deserialize_s_per_byte`."""
        if parsed_by_driver and self.db_deserialize_s_per_byte is not None:
            return self.db_deserialize_s_per_byte
        return self.deserialize_s_per_byte


#: Default stored/original ratio and fixed header bytes per codec. Ratios: docs/latency.md#compression, lzbench
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

    The hop exists because Airflow 3 workers have no metadata-DB access (docs/airflow-xcom.md#basexcom-3;
    docs/latency.md#api-hop, AWS MWAA docs 2025–26) [P].
    """

    # same-DC RTT 0.5 ms (docs/latency.md#db-round-trips, GoCardless 2022) [S] + API server request handling 1 ms [A]
    rtt_s: float = 0.5e-3
    server_s: float = 1.0e-3
    # the API server parses and re-encodes the JSON (stdlib loads+dumps, docs/latency.md#json-speed, orjson README
    # 2026-03) and the bytes cross one more connection (STREAM_BYTES_PER_S) [D]
    per_byte_s: float = 1 / 0.29e9 + 1 / 0.49e9 + 1 / STREAM_BYTES_PER_S
    sigma: float = 0.5  # [A]


def tier_of(nbytes: npt.ArrayLike, threshold: int) -> np.ndarray:
    """Where each value goes under common-io's rule: ``"db"`` or ``"object"``.

    ``threshold < 0`` keeps everything in the DB, ``0`` offloads everything, ``N``
    offloads values with ``size >= N`` (docs/airflow-xcom.md#common-io-threshold).
    """
    n = np.asarray(nbytes, dtype="float64")
    if threshold < 0:
        return np.full(n.shape, "db", dtype=object)
    return np.where(n >= threshold, "object", "db").astype(object)


def stored_bytes(nbytes: npt.ArrayLike, compression: Compression = None, *,
                 ratio: float | None = None, encrypted: bool = False) -> np.ndarray:
    """Bytes a value occupies after compression and encryption.

    Compression: ``n × ratio + header`` (:data:`CODECS`); Fernet: the token layout of
    docs/latency.md#encryption, ``base64(57 + 16·⌈(n+1)/16⌉)`` [P/D].
    """
    n = np.asarray(nbytes, dtype="float64")
    codec = codec_name(compression)
    r, header = CODECS[codec]
    out = n if codec == "none" else n * (r if ratio is None else ratio) + header
    if encrypted:
        out = 4.0 * np.ceil((57.0 + 16.0 * np.floor(out / 16.0 + 1.0)) / 3.0)
    return np.asarray(out, dtype="float64")


def codec_name(compression: Compression) -> str:
    name = "none" if compression in (None, "", "none") else str(compression)
    if name not in CODECS:
        msg = f"compression={compression!r}; expected one of {sorted(CODECS)} or None"
        raise ParameterError(msg)
    return name
