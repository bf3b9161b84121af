"""The typed pieces of one built batch, handed by the builder threads to the frame builder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from xcomlab import schema as S

__all__ = ["BatchPieces", "Coded", "Masked", "Refs"]


class Coded(NamedTuple):
    """An identifier column of one batch, as codes into the words the batch uses."""

    #: Codes into ``words`` (``-1`` for null), or one code standing for every row.
    codes: np.ndarray | int
    #: The distinct words the batch uses, in order of first use (Arrow's dictionary order).
    words: list[str]


class Masked(NamedTuple):
    """A nullable column of one batch: ``(None, None)`` when every row is null."""

    #: The values (nulls filled with zero / False); None when every row is null.
    values: np.ndarray | None
    #: True where the row is null; None when no row is.
    mask: np.ndarray | None


#: A column where every row is null.
ALL_NULL = Masked(None, None)


class Refs(NamedTuple):
    """The few rows of one batch whose value points to an object store."""

    #: Row positions within the batch (ascending).
    rows: np.ndarray
    #: The reference's URI for each of ``rows``.
    uris: list[str]


@dataclass(frozen=True, slots=True)
class BatchPieces:
    """One batch's frame columns (:mod:`xcomlab.schema`), in the form the frame builder copies.

    Produced by :func:`xcomlab.ingest.normalize.build_batch` in a builder thread and
    copied into the frame's buffers by :class:`xcomlab.ingest.frame_builder.FrameBuilder`.
    Every array holds one entry per row of the batch.
    """

    source_table: Coded  # one code for every row
    dag_id: Coded
    task_id: Coded
    run_id: Coded
    key: Coded
    #: int64, ``-1`` when the task is not mapped.
    map_index: np.ndarray
    dag_run_id: Masked  # int64
    #: Microseconds since the epoch (UTC).
    logical_date: Masked
    #: Microseconds since the epoch (UTC).
    timestamp: Masked
    dag_result: Masked  # bool
    value_bytes: Masked  # int64; null where the export lost the value
    #: bool: False where the size is lost or rebuilt.
    size_exact: np.ndarray
    #: int8 codes into :data:`xcomlab.schema.ENCODINGS`.
    encoding: np.ndarray
    #: The rows holding a reference, or None when no row does.
    ref_uri: Refs | None
    ref_bytes: Masked  # int64
    internal: np.ndarray  # bool
    has_nan: np.ndarray  # bool
    #: Code into :data:`xcomlab.schema.AIRFLOW_SCHEMAS`, the same for every row.
    airflow_schema: int
    #: The stored values (Arrow binary), only when the caller keeps them.
    value: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.map_index)

    def identifiers(self) -> Iterator[tuple[str, Coded]]:
        """The identifier columns by frame name."""
        yield S.SOURCE_TABLE, self.source_table
        yield S.DAG_ID, self.dag_id
        yield S.TASK_ID, self.task_id
        yield S.RUN_ID, self.run_id
        yield S.KEY, self.key

    def plain(self) -> Iterator[tuple[str, np.ndarray | int]]:
        """The null-free columns by frame name: fixed-dictionary codes, ``map_index``, flags."""
        yield S.ENCODING, self.encoding
        yield S.AIRFLOW_SCHEMA, self.airflow_schema
        yield S.MAP_INDEX, self.map_index
        yield S.SIZE_EXACT, self.size_exact
        yield S.INTERNAL, self.internal
        yield S.HAS_NAN, self.has_nan

    def masked(self) -> Iterator[tuple[str, Masked]]:
        """The nullable numbers and ``dag_result`` by frame name."""
        yield S.DAG_RUN_ID, self.dag_run_id
        yield S.VALUE_BYTES, self.value_bytes
        yield S.REF_BYTES, self.ref_bytes
        yield S.DAG_RESULT, self.dag_result

    def times(self) -> Iterator[tuple[str, Masked]]:
        """The timestamp columns by frame name (microseconds since the epoch, UTC)."""
        yield S.LOGICAL_DATE, self.logical_date
        yield S.TIMESTAMP, self.timestamp
