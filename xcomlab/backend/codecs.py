"""Codecs: JSON text, optional pickle, compression (zstd/gzip/none), Fernet encryption, sha256.

A value travels ``serialize → compress → encrypt`` on write and back on read. The codec
chain is named in a short string stored with the value, e.g. ``"json+zstd+fernet"``, so a
reader never guesses: the first part is the serialization (``json``, or ``pickle`` only when
the store allows it), then at most one compression, then optional encryption.

Reading is defensive, since a row's envelope is written by whoever pushed the XCom: only the
chains of :data:`ALLOWED_CHAINS` are accepted (no ``json+zstd+zstd``), a pickled value is
refused *before* anything is decrypted or decompressed, and decompression streams with a hard
cap on its output (the size the envelope states, itself bounded by ``max_value_bytes`` or
:data:`DEFAULT_READ_LIMIT_BYTES`), so a few hundred bytes cannot expand into gigabytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import zstandard
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from xcomlab.errors import XcomlabError

__all__ = [
    "ALLOWED_CHAINS",
    "COMPRESSIONS",
    "DEFAULT_READ_LIMIT_BYTES",
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
#: Every codec chain a reader accepts: serialization, at most one compression, then optional
#: encryption (what :meth:`Codec.chain` writes). Anything else (nested or unknown steps) is refused.
ALLOWED_CHAINS: Final = frozenset(f"{s}{c}{e}" for s in ("json", "pickle")
                                  for c in ("", "+zstd", "+gzip") for e in ("", "+fernet"))
#: Largest decoded (serialized) value a reader accepts when the store sets no
#: ``max_value_bytes``: 256 MiB, a design choice of xcomlab, not an outside limit — an XCom
#: larger than this is far beyond what XComs are meant for; set ``max_value_bytes`` to read more.
DEFAULT_READ_LIMIT_BYTES: Final = 256 << 20
#: Output chunk of the streaming decompressor.
_CHUNK_BYTES: Final = 1 << 20
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

    def check_chain(self, chain: Any) -> str:
        """Return the serialization of an allowed ``chain``; refuse any other chain, and a
        pickled value when pickle is off, before a single byte is decrypted or decompressed."""
        if not isinstance(chain, str) or chain not in ALLOWED_CHAINS:
            msg = (f"codec {str(chain)[:60]!r} is not allowed; expected json or pickle, then at most "
                   "one of +zstd/+gzip, then optionally +fernet")
            raise CodecError(msg)
        kind = chain.split("+", 1)[0]
        if kind == "pickle" and not self.allow_pickle:
            msg = "value is pickled and pickle is disabled; set allow_pickle=True only if you trust every writer"
            raise CodecError(msg)
        return kind

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt a Fernet token with any configured key."""
        if not self.encrypted:
            msg = "value is encrypted but the store has no Fernet keys; set fernet_keys"
            raise CodecError(msg)
        try:
            return self._fernet().decrypt(data)
        except InvalidToken as exc:
            msg = "value cannot be decrypted with any configured Fernet key (wrong key or tampered)"
            raise CodecError(msg) from exc

    def decode_bytes(self, chain: str, data: bytes, *,
                     max_bytes: int = DEFAULT_READ_LIMIT_BYTES) -> bytes:
        """Undo the transforms of an allowed ``chain``; the output is capped at ``max_bytes``."""
        self.check_chain(chain)
        steps = chain.split("+")[1:]
        if steps[-1:] == ["fernet"]:
            data = self.decrypt(data)
            steps = steps[:-1]
        for step in steps:
            data = decompress(step, data, max_bytes)
        if len(data) > max_bytes:
            msg = f"decoded value is {len(data):,} bytes, over the {max_bytes:,}-byte read limit"
            raise CodecError(msg)
        return data

    def load(self, chain: str, data: bytes, *, max_bytes: int = DEFAULT_READ_LIMIT_BYTES) -> Any:
        """Decode stored bytes to the JSON-able object (or, if allowed, the unpickled value)."""
        kind = self.check_chain(chain)
        raw = self.decode_bytes(chain, data, max_bytes=max_bytes)
        if kind == "json":
            try:
                return json.loads(raw)
            except (ValueError, RecursionError) as exc:
                msg = f"stored value is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})"
                raise CodecError(msg) from exc
        return self.unpickle(raw)

    def unpickle(self, raw: bytes) -> Any:
        """``pickle.loads`` when the store owner enabled pickle; refused otherwise."""
        if not self.allow_pickle:
            msg = "value is pickled and pickle is disabled; set allow_pickle=True only if you trust every writer"
            raise CodecError(msg)
        return pickle.loads(raw)  # explicitly enabled by the store owner

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


def decompress(name: str, data: bytes, max_bytes: int) -> bytes:
    """Decompress one ``zstd`` or ``gzip`` payload, streaming, refusing output over ``max_bytes``.

    Only the first zstd frame / gzip member is read (the writer produces exactly one); the
    output never grows past ``max_bytes + 1`` bytes whatever the compressed data claims.
    """
    try:
        if name == "zstd":
            out = _zstd_capped(data, max_bytes)
        elif name == "gzip":
            d = zlib.decompressobj(wbits=31)
            out = d.decompress(data, max_bytes + 1)
            if len(out) <= max_bytes and not d.eof:
                msg = "truncated gzip stream"
                raise CodecError(msg)
        else:
            msg = f"unknown compression {name!r}; expected zstd or gzip"
            raise CodecError(msg)
    except (zstandard.ZstdError, zlib.error, EOFError) as exc:
        msg = f"stored value is not valid {name} data ({exc})"
        raise CodecError(msg) from exc
    if len(out) > max_bytes:
        msg = (f"{name} data expands past {max_bytes:,} bytes (the size its envelope allows); "
               "refused as a decompression bomb")
        raise CodecError(msg)
    return out


def _zstd_capped(data: bytes, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        while total <= max_bytes:
            chunk = reader.read(min(_CHUNK_BYTES, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)
