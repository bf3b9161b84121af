"""The XCom frame: the one DataFrame contract every xcomlab module shares.

One row per XCom entry. Values themselves are dropped after classification unless
the caller asks to keep them (``keep_values=True`` adds a ``value`` column): exports
can hold secrets, and sizes are what the analyses need.

=================  ======================  ==================================================
column             dtype                   meaning
=================  ======================  ==================================================
source_table       category                table the row came from: ``xcom``, ``_xcom_archive``,
                                           ``_airflow_deleted__xcom__<ts>`` ...
dag_id             category                Airflow dag_id
task_id            category                Airflow task_id
run_id             category                Airflow run_id (missing before Airflow 2.3)
key                category                XCom key
map_index          int64                   -1 when the task is not mapped
dag_run_id         Int64                   ``dag_run.id`` (2.3+), missing otherwise
logical_date       datetime64[ns, UTC]     ``execution_date`` for exports before 2.3, else NaT
timestamp          datetime64[ns, UTC]     when the XCom was written
dag_result         boolean                 3.3+ ``dag_result`` flag, missing before 3.3
value_bytes        Int64                   bytes of the value as stored (3.x: the JSON text in
                                           UTF-8; 2.x: the raw bytes); missing when the export
                                           lost the value
size_exact         bool                    False when ``value_bytes`` was rebuilt or lost
encoding           category                one of :data:`ENCODINGS`
ref_uri            string                  object-store URL the value points to, if any
ref_bytes          Int64                   size of the referenced object when known
internal           bool                    key written by Airflow itself, not user code
has_nan            bool                    JSON holding NaN/Infinity (breaks the 3.x migration)
airflow_schema     category                one of :data:`AIRFLOW_SCHEMAS`
=================  ======================  ==================================================
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from xcomlab.errors import SchemaMismatchError
from xcomlab.policy import is_internal_key

__all__ = [
    "AIRFLOW_SCHEMAS",
    "COLUMNS",
    "DTYPES",
    "ENCODINGS",
    "empty_frame",
    "is_internal_key",
    "primary_rows",
    "validate_frame",
]

SOURCE_TABLE: Final = "source_table"
DAG_ID: Final = "dag_id"
TASK_ID: Final = "task_id"
RUN_ID: Final = "run_id"
KEY: Final = "key"
MAP_INDEX: Final = "map_index"
DAG_RUN_ID: Final = "dag_run_id"
LOGICAL_DATE: Final = "logical_date"
TIMESTAMP: Final = "timestamp"
DAG_RESULT: Final = "dag_result"
VALUE_BYTES: Final = "value_bytes"
SIZE_EXACT: Final = "size_exact"
ENCODING: Final = "encoding"
REF_URI: Final = "ref_uri"
REF_BYTES: Final = "ref_bytes"
INTERNAL: Final = "internal"
HAS_NAN: Final = "has_nan"
AIRFLOW_SCHEMA: Final = "airflow_schema"
VALUE: Final = "value"

#: How a stored value is encoded. ``double_json`` is a JSON string whose text is
#: itself JSON (rows written by Airflow 3 core, e.g. ``past_depends_met`` stored as
#: ``"true"``); a genuine string such as ``"42"`` looks the same. ``lost`` means the
#: export replaced the value with a placeholder (``<memory at 0x…>``).
ENCODINGS: Final = ("json", "serde", "double_json", "pickle", "text", "null", "unknown", "lost")

#: Airflow xcom table generations (docs/airflow-xcom.md#schema).
AIRFLOW_SCHEMAS: Final = ("1.10", "2.0-2.2", "2.3-2.11", "3.0-3.2", "3.3+")

DTYPES: Final[dict[str, object]] = {
    SOURCE_TABLE: "category",
    DAG_ID: "category",
    TASK_ID: "category",
    RUN_ID: "category",
    KEY: "category",
    MAP_INDEX: "int64",
    DAG_RUN_ID: "Int64",
    LOGICAL_DATE: "datetime64[ns, UTC]",
    TIMESTAMP: "datetime64[ns, UTC]",
    DAG_RESULT: "boolean",
    VALUE_BYTES: "Int64",
    SIZE_EXACT: "bool",
    ENCODING: pd.CategoricalDtype(list(ENCODINGS)),
    REF_URI: "string",
    REF_BYTES: "Int64",
    INTERNAL: "bool",
    HAS_NAN: "bool",
    AIRFLOW_SCHEMA: pd.CategoricalDtype(list(AIRFLOW_SCHEMAS), ordered=True),
}
COLUMNS: Final = tuple(DTYPES)

def primary_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the live ``xcom`` table when the export has it, else every row.

    Archive tables (``_xcom_archive``, ``_airflow_deleted__xcom__*``) hold rows that
    Airflow no longer reads; they are reported apart.
    """
    live = frame[SOURCE_TABLE] == "xcom"
    return frame[live] if live.any() else frame


def empty_frame() -> pd.DataFrame:
    """Return an XCom frame with no rows and every column at its documented dtype."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in DTYPES.items()})  # type: ignore[call-overload]


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check that ``frame`` follows the XCom frame contract and return it.

    Raises
    ------
    SchemaMismatchError
        Naming every missing column and every column whose dtype differs.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    wrong = [
        f"{c}: {frame[c].dtype} (expected {DTYPES[c]})"
        for c in COLUMNS
        if c in frame.columns and not _dtype_matches(frame[c].dtype, DTYPES[c])
    ]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if wrong:
            parts.append("wrong dtypes " + "; ".join(wrong))
        msg = "not an XCom frame: " + ", ".join(parts) + ". Build frames with xcomlab.load_export."
        raise SchemaMismatchError(msg)
    return frame


def _dtype_matches(actual: object, expected: object) -> bool:
    if isinstance(expected, pd.CategoricalDtype):
        return isinstance(actual, pd.CategoricalDtype) and list(actual.categories) == list(
            expected.categories
        )
    return str(actual) == str(pd.api.types.pandas_dtype(expected))  # type: ignore[arg-type]
