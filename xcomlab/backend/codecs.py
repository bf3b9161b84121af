"""Codecs: JSON text, optional pickle, compression (zstd/gzip/none), Fernet encryption, sha256.

A value travels ``serialize → compress → encrypt`` on write and back on read. The codec
chain is named in a short string stored with the value, e.g. ``"json+zstd+fernet"``, so a
reader never guesses: the first part is the serialization (``json``, or ``pickle`` only when
the store allows it), then zero or more transforms in the order they were applied.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import zstandard
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from xcomlab.errors import XcomlabError

__all__ = [
    "COMPRESSIONS",
    "Codec",
    "CodecError",
    "IntegrityError",
    "PickleWarning",
    "dumps_json",
    "sha256_hex",
]

Compression = Literal["zstd", "gzip", "none"]
COMPRESSIONS: Final = ("zstd", "gzip", "none")
#: Default zstd parameters, tuned for JSON records: the lazy2 strategy of levels 8–12 with a
#: 6-byte minimum match (JSON repeats keys and punctuation in long runs) and small tables.
#: Measured here on 2026-11-25 (zstandard 0.25, one core) against gzip -9, which is what
#: common-io's ``compression=gzip`` writes, on ``xcomlab.measure.value_of(10_000_000, seed=1)``
#: and on 120k order records: these parameters 1.005 / 1.019 of gzip's ratio in ~120 ms per
#: 10 MB; level 3 (the library default, used before) 0.91 / 0.93 in ~30 ms; level 9 0.99;
#: level 10 1.008 / 1.031 in ~250 ms. Any parameters decode the same way (rows written at
#: level 3 still read). ``Codec(zstd_level=n)`` picks a stock level instead.
ZSTD_JSON_PARAMS: Final = {"strategy": zstandard.STRATEGY_LAZY2, "window_log": 21,
                           "chain_log": 18, "hash_log": 18, "search_log": 4, "min_match": 6,
                           "target_length": 16}
#: The stock level the model files and older docs call "zstd" (the library default).
ZSTD_LEVEL: Final = 3
#: With ``Codec.zstd_threads`` set, inputs at least this large are compressed by zstd worker
#: threads in jobs of ZSTD_JOB_BYTES (the output is still one standard frame with its content
#: size). Off by default: on a busy 2-core host the workers only add overhead (10 MB at level
#: 10 took longer threaded than on one core in the backend benchmark, 2026-11-25).
ZSTD_THREADED_BYTES: Final = 4 << 20
ZSTD_JOB_BYTES: Final = 2 << 20
#: File extensions per transform, used in object names.
EXTENSIONS: Final = {"json": ".json", "pickle": ".pkl", "zstd": ".zst", "gzip": ".gz",
                     "fernet": ".fernet"}


class CodecError(XcomlabError, ValueError):
    """A stored value cannot be decoded (unknown codec, missing key, pickle refused)."""


class IntegrityError(CodecError):
    """A stored value's bytes do not match the sha256 recorded when it was written."""


class PickleWarning(UserWarning):
    """Pickle was enabled: reading a pickled value runs code chosen by whoever wrote it."""


def dumps_json(obj: Any) -> bytes:
    """JSON text as Airflow 3 stores it (``json.dumps`` defaults, UTF-8; NaN refused).

    Raises
    ------
    CodecError
        When ``obj`` holds NaN or ±Infinity: Airflow 3's API refuses them (httpx
        ``allow_nan=False``, docs/airflow-xcom.md#serialization-3) and strict JSON/JSONB cannot hold them.
    """
    try:
        return json.dumps(obj, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        msg = f"value holds NaN or Infinity ({exc}); replace them (e.g. with None) before pushing"
        raise CodecError(msg) from exc


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Codec:
    """The write-side transforms of a store: compression and encryption keys.

    Parameters
    ----------
    compression
        ``"zstd"`` (default), ``"gzip"`` or ``"none"``.
    fernet_keys
        Fernet keys (urlsafe base64, 32 bytes); the first encrypts, all decrypt. Empty:
        no encryption.
    allow_pickle
        Whether pickle may be used (write) and read. Off by default.
    zstd_level
        A stock zstd level (1–22) instead of the default :data:`ZSTD_JSON_PARAMS`; values
        written with any level or parameters read back.
    zstd_threads
        zstd worker threads for inputs of :data:`ZSTD_THREADED_BYTES` or more; 0 (default)
        compresses in the calling thread, -1 uses one worker per core.
    """

    compression: Compression = "zstd"
    fernet_keys: Sequence[str] = ()
    allow_pickle: bool = False
    zstd_level: int | None = None
    zstd_threads: int = 0

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            msg = f"compression {self.compression!r} is not supported; expected one of {COMPRESSIONS}"
            raise CodecError(msg)
        if self.zstd_level is not None and not 1 <= self.zstd_level <= zstandard.MAX_COMPRESSION_LEVEL:
            msg = f"zstd_level={self.zstd_level}; expected 1–{zstandard.MAX_COMPRESSION_LEVEL}"
            raise CodecError(msg)
        if self.zstd_threads < -1:
            msg = f"zstd_threads={self.zstd_threads}; expected -1 (one per core), 0 or a count"
            raise CodecError(msg)
        if self.fernet_keys:
            self._fernet()  # validate the keys now, not at the first write

    @property
    def encrypted(self) -> bool:
        """True when values are encrypted on write."""
        return bool(self.fernet_keys)

    def chain(self, serialization: str, *, compress: bool = True) -> str:
        """The codec name for a value serialized as ``serialization``."""
        parts = [serialization]
        if compress and self.compression != "none":
            parts.append(self.compression)
        if self.encrypted:
            parts.append("fernet")
        return "+".join(parts)

    def _fernet(self) -> MultiFernet:
        try:
            return MultiFernet([Fernet(k) for k in self.fernet_keys])
        except (ValueError, TypeError) as exc:
            msg = ("a Fernet key is malformed; expected 32 url-safe base64-encoded bytes "
                   "(make one with cryptography.fernet.Fernet.generate_key())")
            raise CodecError(msg) from exc

    def compress(self, data: bytes) -> bytes:
        """Compress with the configured algorithm (identity for ``"none"``)."""
        if self.compression == "zstd":
            return _zstd_compressor(len(data), self.zstd_level, self.zstd_threads).compress(data)
        return _compress(self.compression, data)

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt with the first key (identity without keys)."""
        return self._fernet().encrypt(data) if self.encrypted else data

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a Fernet token with the first key (``MultiFernet.rotate``)."""
        try:
            return self._fernet().rotate(token)
        except InvalidToken as exc:
            msg = "a stored value cannot be decrypted with any configured Fernet key"
            raise CodecError(msg) from exc

    def decode_bytes(self, chain: str, data: bytes) -> bytes:
        """Undo the transforms of ``chain`` (right to left), returning serialized bytes."""
        for step in reversed(chain.split("+")[1:]):
            data = self._undo(step, data)
        return data

    def _undo(self, step: str, data: bytes) -> bytes:
        if step == "fernet":
            if not self.encrypted:
                msg = "value is encrypted but the store has no Fernet keys; set fernet_keys"
                raise CodecError(msg)
            try:
                return self._fernet().decrypt(data)
            except InvalidToken as exc:
                msg = "value cannot be decrypted with any configured Fernet key (wrong key or tampered)"
                raise CodecError(msg) from exc
        if step in ("zstd", "gzip"):
            return _decompress(step, data)
        msg = f"unknown codec step {step!r}; expected zstd, gzip or fernet"
        raise CodecError(msg)

    def load(self, chain: str, data: bytes) -> Any:
        """Decode stored bytes to the JSON-able object (or, if allowed, the unpickled value)."""
        raw = self.decode_bytes(chain, data)
        kind = chain.split("+", 1)[0]
        if kind == "json":
            return json.loads(raw)
        if kind == "pickle":
            if not self.allow_pickle:
                msg = "value is pickled and pickle is disabled; set allow_pickle=True only if you trust every writer"
                raise CodecError(msg)
            return pickle.loads(raw)  # explicitly enabled by the store owner
        msg = f"unknown serialization {kind!r} in codec {chain!r}; expected json or pickle"
        raise CodecError(msg)

    def pickle_dumps(self, value: Any) -> bytes:
        """Pickle ``value`` when allowed, warning each time (see :class:`PickleWarning`)."""
        if not self.allow_pickle:
            msg = "pickle is disabled; enable StoreConfig.allow_pickle to store non-JSON values"
            raise CodecError(msg)
        warnings.warn(f"pickling a {type(value).__name__} for XCom: readers will run pickle.loads",
                      PickleWarning, stacklevel=3)
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _compress(name: str, data: bytes) -> bytes:
    if name == "zstd":
        return _zstd_compressor(len(data), None, 0).compress(data)
    if name == "gzip":
        return gzip.compress(data, mtime=0)
    return data


def _zstd_compressor(size: int, level: int | None, threads: int) -> zstandard.ZstdCompressor:
    threaded: dict[str, int] = {}
    if threads != 0 and size >= ZSTD_THREADED_BYTES:
        threaded = {"threads": threads, "job_size": ZSTD_JOB_BYTES}
    if level is None:
        params = zstandard.ZstdCompressionParameters(**ZSTD_JSON_PARAMS, **threaded)
    elif threaded:
        params = zstandard.ZstdCompressionParameters.from_level(level, source_size=size, **threaded)
    else:
        return zstandard.ZstdCompressor(level=level)
    return zstandard.ZstdCompressor(compression_params=params)


def _decompress(name: str, data: bytes) -> bytes:
    try:
        if name == "zstd":
            return zstandard.ZstdDecompressor().decompress(data)
        return gzip.decompress(data)
    except (zstandard.ZstdError, OSError, EOFError) as exc:
        msg = f"stored value is not valid {name} data ({exc})"
        raise CodecError(msg) from exc
