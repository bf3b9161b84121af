"""Config: one typed object for an XCom store, with ``XCOMLAB_*`` / ``AIRFLOW__XCOMLAB__*`` overrides.

Threshold semantics match Airflow's common-io ``XComObjectStorageBackend``
(docs/airflow-xcom.md#common-io-threshold): ``-1`` keeps every value in the database,
``0`` offloads every value, ``N > 0`` offloads a value whose size is **≥ N** bytes. With ``threshold_on="serialized"``
(the common-io rule) the size is that of the JSON text, ``json.dumps`` bytes, before
compression. With ``threshold_on="stored"`` (xcomlab's option) it is the size of the bytes
that would be written to object storage, after compression and encryption: a highly
compressible value then stays in the database longer, so fewer, larger objects are written
and the database holds at most N bytes of payload per offload decision.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal

import sqlalchemy as sa

from xcomlab.backend.codecs import COMPRESSIONS
from xcomlab.errors import XcomlabError

__all__ = ["AccessRequest", "ConfigError", "StoreConfig", "deny_cross_dag"]

DEFAULT_URL: Final = "sqlite:///xcomlab_store.db"
#: Characters of a value's JSON kept in an envelope's preview.
DEFAULT_PREVIEW_CHARS: Final = 80
ENV_PREFIXES: Final = ("XCOMLAB_", "AIRFLOW__XCOMLAB__")
#: ``XCOMLAB_*`` names that are not store settings: the toolkit's own (``XCOMLAB_TUNE_MALLOC``) and test/CI
#: switches: ``XCOMLAB_TEST_PG``, ``XCOMLAB_REQUIRE_AIRFLOW``, ``XCOMLAB_AIRFLOW_PYTHON``, …).
TOOLING_ENV_PREFIXES: Final = ("XCOMLAB_TEST_", "XCOMLAB_REQUIRE_", "XCOMLAB_AIRFLOW_PYTHON",
                               "XCOMLAB_AIRFLOW2_", "XCOMLAB_FUZZ_", "XCOMLAB_DECOMPRESS_CAP_BYTES",
                               "XCOMLAB_TUNE_MALLOC")
#: Shown in place of a secret in reprs.
MASK: Final = "***"
#: URL query parameters whose values are masked in reprs.
_SECRET_PARAM: Final = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)


class ConfigError(XcomlabError, ValueError):
    """A store setting is invalid or inconsistent with another one."""


@dataclass(frozen=True)
class AccessRequest:
    """What a reader asks for; an access policy returns True to allow it.

    ``reader_dag_id`` is the dag asking (None when the caller did not say).
    """

    op: str
    reader_dag_id: str | None
    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int

    @property
    def cross_dag(self) -> bool:
        """True when a dag reads another dag's XCom."""
        return self.reader_dag_id is not None and self.reader_dag_id != self.dag_id


def deny_cross_dag(request: AccessRequest) -> bool:
    """An access policy that refuses every cross-DAG read."""
    return not request.cross_dag


@dataclass(frozen=True)
class StoreConfig:
    """Settings of an :class:`~xcomlab.backend.XComStore`.

    Parameters
    ----------
    url
        SQLAlchemy URL of the metadata database (SQLite, PostgreSQL, MySQL/MariaDB).
    object_base
        fsspec URL under which offloaded values are written (``file:///srv/xcom``,
        ``memory://bucket/xcom``, ``s3://bucket/prefix``); None: no object storage.
    storage_options
        Passed to the fsspec filesystem.
    threshold
        ``-1`` never offload, ``0`` always, ``N`` offload when size ≥ N bytes (common-io).
    threshold_on
        ``"serialized"`` (JSON bytes, as common-io) or ``"stored"`` (after compression and
        encryption); see the module docstring.
    compression
        ``"zstd"`` (default), ``"gzip"`` or ``"none"``; applied to offloaded values, and to
        inline ones only when ``compress_inline`` is set and it saves bytes.
    zstd_level
        A stock zstd level (1–22) instead of the default tuned parameters for JSON
        (``xcomlab.backend.codecs.ZSTD_JSON_PARAMS``: gzip-9's ratio at ~80 MB/s).
    zstd_threads
        zstd worker threads for values of 4 MB or more (0: compress in the caller's thread).
    compress_inline
        Pack inline values compressed (base64 in an envelope) when that is smaller.
    fernet_keys
        Fernet keys; the first encrypts, all decrypt (rotation). Encrypted inline values are
        packed into envelopes.
    max_value_bytes
        Largest serialized value accepted; larger raises ``XComTooLargeError`` before any write.
    allow_pickle
        Pickle values JSON cannot hold, and read pickled values. Off: never unpickle.
    allowed_classes
        fnmatch patterns of dataclasses that may be rebuilt on read.
    preview_chars
        Characters of the JSON text shown in a reference envelope's preview (0: none).
    access_policy
        ``callable(AccessRequest) -> bool`` consulted on every read; None allows all.
    table
        Name of the xcom table.
    measure
        Record a measurement per operation (``XComStore.measurements()``).
    audit_sink
        Append an audit record per operation: ``"jsonl:///path/audit.jsonl"``, ``"table"``
        (``"table:<name>"``) or ``"logging"`` (``"logging:<logger>"``); None: off. See
        :mod:`xcomlab.backend.audit` (and docs/backend-operations.md).
    metrics
        Send latency, bytes, tier and errors of each operation to Airflow's ``Stats``
        (:mod:`xcomlab.backend.metrics`); needs Airflow importable.
    metrics_prefix
        First segment of the metric names.
    cache_max_bytes
        Bytes of offloaded values kept decoded-ready per process (:mod:`xcomlab.backend.cache`);
        0: no cache.
    cache_max_entries
        Values kept by that cache.
    """

    url: str = DEFAULT_URL
    object_base: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    threshold: int = -1
    threshold_on: Literal["serialized", "stored"] = "serialized"
    compression: Literal["zstd", "gzip", "none"] = "zstd"
    zstd_level: int | None = None
    zstd_threads: int = 0
    compress_inline: bool = False
    fernet_keys: Sequence[str] = ()
    max_value_bytes: int | None = None
    allow_pickle: bool = False
    allowed_classes: Sequence[str] = ()
    preview_chars: int = DEFAULT_PREVIEW_CHARS
    access_policy: Callable[[AccessRequest], bool] | None = None
    table: str = "xcom"
    measure: bool = True
    audit_sink: str | None = None
    metrics: bool = False
    metrics_prefix: str = "xcomlab"
    cache_max_bytes: int = 0
    cache_max_entries: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.threshold, int) or self.threshold < -1:
            msg = f"threshold must be -1 (never offload), 0 (always) or a byte count, got {self.threshold!r}"
            raise ConfigError(msg)
        if self.threshold != -1 and not self.object_base:
            msg = f"threshold={self.threshold} offloads values but object_base is not set; set it or use -1"
            raise ConfigError(msg)
        if self.threshold_on not in ("serialized", "stored"):
            msg = f"threshold_on must be 'serialized' or 'stored', got {self.threshold_on!r}"
            raise ConfigError(msg)
        if self.compression not in COMPRESSIONS:
            msg = f"compression {self.compression!r} is not supported; expected one of {COMPRESSIONS}"
            raise ConfigError(msg)
        if self.max_value_bytes is not None and self.max_value_bytes < 0:
            msg = f"max_value_bytes must be ≥ 0 or None, got {self.max_value_bytes!r}"
            raise ConfigError(msg)
        if self.preview_chars < 0:
            msg = f"preview_chars must be ≥ 0, got {self.preview_chars!r}"
            raise ConfigError(msg)
        _check_operations(self)

    def replace(self, **changes: Any) -> StoreConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={self.masked(f.name)!r}" for f in fields(self))
        return f"StoreConfig({shown})"

    def masked(self, name: str) -> Any:
        """A field's value safe to print: Fernet keys, the URL's password (and secret-looking
        query parameters), credentials in ``object_base`` and every ``storage_options`` value
        are replaced by ``***``."""
        value = getattr(self, name)
        if name == "fernet_keys":
            return tuple(MASK for _ in value)
        if name == "storage_options":
            return _mask_values(value)
        if name == "url":
            return _mask_url(str(value))
        if name == "object_base" and value is not None:
            return re.sub(r"://[^/@]*@", f"://{MASK}@", str(value))  # credentials in userinfo
        return value

    @classmethod
    def from_env(cls, prefix: str | Sequence[str] = ENV_PREFIXES,
                 environ: Mapping[str, str] | None = None, **overrides: Any) -> StoreConfig:
        """Read settings from environment variables, e.g. ``XCOMLAB_THRESHOLD=1048576``.

        Each field ``name`` is read from ``<prefix><NAME>`` for the first prefix that sets
        it (default ``XCOMLAB_`` then ``AIRFLOW__XCOMLAB__``). Lists (``FERNET_KEYS``,
        ``ALLOWED_CLASSES``) are comma-separated; ``STORAGE_OPTIONS`` is a JSON object;
        booleans accept ``1/true/yes/on``. ``access_policy`` cannot come from the environment.
        """
        env = os.environ if environ is None else environ
        prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        check_names((name for name in env if name.startswith(prefixes)), prefixes)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "access_policy":
                continue
            raw = next((env[p + f.name.upper()] for p in prefixes if p + f.name.upper() in env), None)
            if raw is not None:
                values[f.name] = _parse(f.name, raw)
        values.update(overrides)
        return cls(**values)


def setting_names() -> tuple[str, ...]:
    """The settings that may come from the environment or ``[xcomlab]`` (lower case)."""
    return tuple(f.name for f in fields(StoreConfig) if f.name != "access_policy")


def check_names(names: Iterable[str], prefixes: Sequence[str] = ENV_PREFIXES, *,
                origin: str = "environment variable") -> None:
    """Refuse names that are no store setting (a misspelt ``..._FERNET_KEY``, singular, would
    otherwise leave encryption off without a word).

    ``names`` carry one of ``prefixes`` (or none, for keys of the ``[xcomlab]`` section);
    ``XCOMLAB_*`` names of :data:`TOOLING_ENV_PREFIXES` are skipped.

    Raises
    ------
    ConfigError
        Naming the unknown setting and the closest known one ("did you mean …").
    """
    known = setting_names()
    for name in names:
        if name.startswith(TOOLING_ENV_PREFIXES):
            continue
        prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if name.startswith(p)), "")
        field_name = name[len(prefix):].lower()
        if field_name in known:
            continue
        close = difflib.get_close_matches(field_name, known, n=1, cutoff=0.6)
        hint = f"did you mean {prefix}{close[0].upper() if prefix else close[0]}? " if close else ""
        listed = ", ".join(known)
        msg = (f"unknown xcomlab setting: {origin} {name!r}; {hint}known settings: {listed}")
        raise ConfigError(msg)


def _mask_values(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_values(v) for k, v in value.items()}
    return MASK


def _mask_url(url: str) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``."""
    try:
        u = sa.make_url(url)
    except Exception:  # not parseable: mask any userinfo by hand
        return re.sub(r"://[^/@]*@", f"://{MASK}@", url)
    if u.password is not None:
        u = u.set(password=MASK)
    if u.query:
        u = u.set(query={k: (MASK if _SECRET_PARAM.search(k) else v) for k, v in u.query.items()})
    return u.render_as_string(hide_password=False).replace("%2A%2A%2A", MASK)


_INTS: Final = ("threshold", "max_value_bytes", "preview_chars", "zstd_level", "zstd_threads",
                 "cache_max_bytes", "cache_max_entries")
_BOOLS: Final = ("compress_inline", "allow_pickle", "measure", "metrics")
_LISTS: Final = ("fernet_keys", "allowed_classes")


def _check_operations(cfg: StoreConfig) -> None:
    """Settings of the audit trail, metrics and cache (docs/backend-operations.md)."""
    from xcomlab.backend.audit import AuditError, parse_sink

    if cfg.audit_sink is not None:
        try:
            parse_sink(cfg.audit_sink)
        except AuditError as exc:
            raise ConfigError(str(exc)) from exc
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", cfg.metrics_prefix):
        msg = f"metrics_prefix must be letters, digits, _ . - (≤ 64 characters), got {cfg.metrics_prefix!r}"
        raise ConfigError(msg)
    for name in ("cache_max_bytes", "cache_max_entries"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or v < 0:
            msg = f"{name} must be a count ≥ 0 (0: no cache), got {v!r}"
            raise ConfigError(msg)


def _parse(name: str, raw: str) -> Any:
    try:
        if name in _INTS:
            return None if raw.strip().lower() in ("", "none") else int(raw)
        if name in _BOOLS:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if name in _LISTS:
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if name == "audit_sink":
            return raw.strip() or None
        if name == "storage_options":
            opts = json.loads(raw) if raw.strip() else {}
            if not isinstance(opts, dict):
                msg = "not a JSON object"
                raise ValueError(msg)
            return opts
    except ValueError as exc:
        msg = f"environment setting for {name} is invalid: {raw!r} ({exc})"
        raise ConfigError(msg) from exc
    return raw
