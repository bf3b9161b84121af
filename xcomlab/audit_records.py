"""Audit records: the layout of the reference backend's append-only audit trail.

Shared by the writer (:mod:`xcomlab.backend.audit`) and the reader
(:func:`xcomlab.load_audit`), so neither imports the other. A record holds the operation,
the row's ids, tier, codec, sizes, outcome and timing — never a value or a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the table needs SQLAlchemy; the JSON Lines trail's layout does not
    import sqlalchemy as sa

__all__ = ["AUDIT_TABLE", "FIELDS", "MAX_FIELD_CHARS", "VERSION", "audit_table"]

#: Fields of a record, in order.
FIELDS: Final = ("v", "at", "op", "dag_id", "run_id", "task_id", "map_index", "key", "tier",
                 "codec", "encrypted", "value_bytes", "stored_bytes", "cache", "outcome",
                 "error", "duration_s", "host", "pid", "truncated")
#: Version of the record layout (``v``).
VERSION: Final = 1
#: Longest string field kept (Airflow ids: 250 characters; keys up to 512).
MAX_FIELD_CHARS: Final = 512
AUDIT_TABLE: Final = "xcomlab_audit"


def audit_table(name: str = AUDIT_TABLE, metadata: sa.MetaData | None = None) -> sa.Table:
    """The audit table (append-only; one row per record)."""
    import sqlalchemy as sa

    from xcomlab.airflow_tables import UtcDateTime

    return sa.Table(
        name, metadata or sa.MetaData(),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("v", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        *(sa.Column(c, sa.String(MAX_FIELD_CHARS), nullable=False)
          for c in ("dag_id", "run_id", "task_id", "key")),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("codec", sa.String(64), nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("value_bytes", sa.BigInteger, nullable=False),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.Column("cache", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("error", sa.String(100)),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
    )
