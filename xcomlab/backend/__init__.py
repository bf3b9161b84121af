"""Reference XCom backend: a tiered store (SQL rows shaped like Airflow 3's ``xcom`` table,
large values in fsspec object storage), its codecs, envelope, maintenance and measurements.

Usable without Airflow; an Airflow adapter subclasses ``BaseXCom`` and calls
:meth:`XComStore.encode`, :meth:`XComStore.decode` and :meth:`XComStore.purge`.
"""

from __future__ import annotations

from xcomlab.backend.codecs import Codec, CodecError, IntegrityError, PickleWarning
from xcomlab.backend.config import AccessRequest, ConfigError, StoreConfig, deny_cross_dag
from xcomlab.backend.envelope import ENVELOPE_KEY, Envelope, EnvelopeError
from xcomlab.backend.maintenance import (
    CleanupReport,
    ReconcileReport,
    RetentionPolicy,
    RotateReport,
)
from xcomlab.backend.objects import ObjectStore, ObjectStoreError
from xcomlab.backend.paths import InvalidIdError, encode_segment, object_key
from xcomlab.backend.rows import ForeignObjectError, RowRef, StoredRowError
from xcomlab.backend.serde import SerdeError, deserialize, serialize
from xcomlab.backend.store import AccessDeniedError, XComStore
from xcomlab.errors import XComTooLargeError

__all__ = [
    "ENVELOPE_KEY",
    "AccessDeniedError",
    "AccessRequest",
    "CleanupReport",
    "Codec",
    "CodecError",
    "ConfigError",
    "Envelope",
    "EnvelopeError",
    "ForeignObjectError",
    "IntegrityError",
    "InvalidIdError",
    "ObjectStore",
    "ObjectStoreError",
    "PickleWarning",
    "ReconcileReport",
    "RetentionPolicy",
    "RotateReport",
    "RowRef",
    "SerdeError",
    "StoreConfig",
    "StoredRowError",
    "XComStore",
    "XComTooLargeError",
    "deny_cross_dag",
    "deserialize",
    "encode_segment",
    "object_key",
    "serialize",
]
