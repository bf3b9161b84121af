"""Paths: identifiers checked and encoded into object keys that never leave the base path.

Key layout, relative to the store's object base::

    <dag_id>/<run_id>/<task_id>/<map_index>/<key>-<uuid4 hex><ext>

Each identifier is percent-encoded (only ``A-Z a-z 0-9 _ -`` stay literal, so ``/``, ``.``,
``..``, ``%`` and NUL cannot form a path step), and an encoded segment longer than
:data:`MAX_SEGMENT_BYTES` is cut and suffixed with a hash of the full identifier. A key is
therefore at most ``4 × 72 + 11 + 1 + 32 + 20`` ≈ 360 bytes plus the base prefix, well
under S3's 1,024-byte object-key limit (AWS S3 user guide, "Naming Amazon S3 objects",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html, read 2026-11-25).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Final

from xcomlab.errors import XcomlabError

__all__ = [
    "MAX_KEY_BYTES",
    "InvalidIdError",
    "check_ids",
    "encode_segment",
    "object_key",
]

#: S3's object key limit in UTF-8 bytes (AWS S3 user guide, see module docstring).
MAX_KEY_BYTES: Final = 1024
#: Longest encoded identifier kept verbatim; longer ones are cut and hashed.
MAX_SEGMENT_BYTES: Final = 72
#: Room left for the base prefix inside an object key.
MAX_PREFIX_BYTES: Final = MAX_KEY_BYTES - 400
#: Airflow's ``ID_LEN`` for dag_id/task_id/run_id and the ``key`` column width
#: (docs/airflow-xcom.md#schema-3 and docs/airflow-xcom.md#other-notes).
ID_LEN: Final = 250
KEY_LEN: Final = 512

_SAFE = re.compile(r"[A-Za-z0-9_\-]")


class InvalidIdError(XcomlabError, ValueError):
    """A dag_id, run_id, task_id or key that the metadata table cannot hold."""


def check_ids(*, dag_id: str, run_id: str, task_id: str, key: str, map_index: int) -> None:
    """Refuse identifiers the xcom table cannot store, before anything is written.

    Raises
    ------
    InvalidIdError
        Empty ids, NUL characters (PostgreSQL text cannot hold them), ids longer than
        Airflow's columns (250 characters; 512 for ``key``), or a map_index below -1.
    """
    for name, value, limit in (("dag_id", dag_id, ID_LEN), ("run_id", run_id, ID_LEN),
                               ("task_id", task_id, ID_LEN), ("key", key, KEY_LEN)):
        if not isinstance(value, str) or not value:
            msg = f"{name} must be a non-empty str, got {value!r}"
            raise InvalidIdError(msg)
        if "\x00" in value:
            msg = f"{name} {value[:40]!r} contains NUL; databases cannot store it"
            raise InvalidIdError(msg)
        if len(value) > limit:
            msg = f"{name} is {len(value)} characters long; Airflow's column holds at most {limit}"
            raise InvalidIdError(msg)
    if not isinstance(map_index, int) or isinstance(map_index, bool) or map_index < -1:
        msg = f"map_index must be an int ≥ -1 (-1 when not mapped), got {map_index!r}"
        raise InvalidIdError(msg)


def encode_segment(ident: str) -> str:
    """Encode one identifier as a single safe path segment.

    Examples
    --------
    >>> encode_segment("../etc/passwd")
    '%2E%2E%2Fetc%2Fpasswd'
    """
    out = "".join(c if _SAFE.fullmatch(c) else _escape(c) for c in ident)
    if len(out) <= MAX_SEGMENT_BYTES:
        return out
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    head = out[:40]
    cut = head.rfind("%")
    if cut > len(head) - 3:  # do not split an escape
        head = head[:cut]
    return f"{head}~{digest}"


def _escape(c: str) -> str:
    return "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))


def object_key(*, dag_id: str, run_id: str, task_id: str, map_index: int, key: str,
               ext: str) -> str:
    """The object's path relative to the base: a fresh, unique, safe key."""
    parts = [encode_segment(dag_id), encode_segment(run_id), encode_segment(task_id),
             str(int(map_index)), f"{encode_segment(key)}-{uuid.uuid4().hex}{ext}"]
    return "/".join(parts)
