"""JSON Lines and Parquet exports with the xcom table's columns."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xcomlab
from xcomlab.errors import ExportFormatError


def _rows() -> list[dict]:
    base = {"dag_run_id": 1, "task_id": "t", "map_index": -1, "dag_id": "d", "run_id": "r",
            "timestamp": "2026-11-24T06:08:08.751217+00:00"}
    return [dict(base, key="return_value", value='{"a": 1}'), dict(base, key="k", value=None),
            dict(base, key="skipmixin_key", value='{"followed": ["x"]}')]


def test_jsonl_string_values(tmp_path: Path) -> None:
    """Values as JSON text strings load with exact sizes; schema 3.x."""
    p = tmp_path / "xcom.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    f = xcomlab.load_export(p)
    assert f["value_bytes"].astype(object).tolist()[::2] == [8, len('{"followed": ["x"]}')]
    assert f["internal"].tolist() == [False, False, True]
    assert f["airflow_schema"].iloc[0] == "3.0-3.2"


def test_jsonl_row_to_json_nested_values(tmp_path: Path) -> None:
    """row_to_json writes jsonb as nested JSON; it is re-serialised as jsonb prints it."""
    rows = _rows()
    rows[0]["value"] = {"a": 1, "b": [1, 2]}
    p = tmp_path / "x.ndjson"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    f = xcomlab.load_export(p)
    assert f["value_bytes"].iloc[0] == len('{"a": 1, "b": [1, 2]}')


def test_jsonl_row_to_json_strings_keep_their_quotes(tmp_path: Path) -> None:
    """Embedded jsonb strings are JSON strings: "hé" is stored as 5 bytes, not 3."""
    rows = _rows()
    rows[0]["value"], rows[2]["value"] = {"a": 1}, "hé"
    p = tmp_path / "x.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    f = xcomlab.load_export(p)
    assert f["value_bytes"].iloc[2] == len('"hé"'.encode())
    assert f["encoding"].iloc[2] == "json"


def test_jsonl_hex_values_are_airflow2(tmp_path: Path) -> None:
    """\\x-hex strings are bytea: decoded, schema 2.x."""
    rows = _rows()
    for r in rows:
        r["value"] = None if r["value"] is None else "\\x" + r["value"].encode().hex()
    p = tmp_path / "xcom.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    f = xcomlab.load_export(p)
    assert f["value_bytes"].iloc[0] == 8 and f["airflow_schema"].iloc[0] == "2.3-2.11"


def test_jsonl_bad_line(tmp_path: Path) -> None:
    """A line that is not JSON is named by line; collect mode keeps the rest."""
    p = tmp_path / "xcom.jsonl"
    p.write_text(json.dumps(_rows()[0]) + "\n{not json\n" + json.dumps(_rows()[2]) + "\n")
    with pytest.raises(ExportFormatError, match=r"xcom\.jsonl, table xcom, line 2, row 2: expected a JSON object"):
        xcomlab.load_export(p)
    f = xcomlab.load_export(p, errors="collect")
    assert len(f) == 2 and xcomlab.load_report(f).rows_rejected == 1


@pytest.mark.parametrize("binary", [True, False], ids=["af2-binary", "af3-string"])
def test_parquet(tmp_path: Path, binary: bool) -> None:
    """binary value columns hold 2.x bytes; string columns 3.x JSON text."""
    rows = _rows()
    table = pa.table({
        "dag_run_id": [r["dag_run_id"] for r in rows], "task_id": [r["task_id"] for r in rows],
        "map_index": [r["map_index"] for r in rows], "key": [r["key"] for r in rows],
        "dag_id": [r["dag_id"] for r in rows], "run_id": [r["run_id"] for r in rows],
        "value": pa.array([None if r["value"] is None else (r["value"].encode() if binary else r["value"]) for r in rows],
                          pa.binary() if binary else pa.string()),
        "timestamp": pa.array([1_764_000_000_000_000] * 3, pa.timestamp("us", tz="UTC")),
    })
    p = tmp_path / "xcom.parquet"
    pq.write_table(table, p, row_group_size=2)
    f = xcomlab.load_export(p, chunk_rows=2)
    assert f["value_bytes"].astype(object).tolist()[::2] == [8, 19]
    assert f["airflow_schema"].iloc[0] == ("2.3-2.11" if binary else "3.0-3.2")


def test_parquet_missing_columns(tmp_path: Path) -> None:
    """Parquet without xcom columns is refused with the columns it has."""
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1]}), p)
    with pytest.raises(ExportFormatError, match=r"lack \['dag_id', 'task_id', 'key', 'value', 'timestamp'\]"):
        xcomlab.load_export(p)
