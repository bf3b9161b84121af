"""Value classification: encodings, NaN, references, internal keys — and no unpickling."""

from __future__ import annotations

from pathlib import Path

import pytest

import xcomlab
from xcomlab.ingest.classify import nan_in_json
from xcomlab.schema import is_internal_key

HEADER = "dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"


def _csv(tmp_path: Path, values: list[str], keys: list[str] | None = None, header: str = HEADER) -> Path:
    keys = keys or ["return_value"] * len(values)
    lines = [f'1,t{i},-1,{k},d,r,"{v.replace(chr(34), chr(34) * 2)}",2026-01-01 00:00:00+00'
             for i, (v, k) in enumerate(zip(values, keys, strict=True))]
    p = tmp_path / "xcom.csv"
    p.write_text(header + "\n".join(lines) + "\n")
    return p


def _hex(b: bytes) -> str:
    return "\\x" + b.hex()


def test_pickle_is_recognised_and_never_executed(tmp_path: Path) -> None:
    """A protocol-4 pickle that would run a command is classified by its 0x80 header only."""
    marker = tmp_path / "pwned"
    evil = b"\x80\x04cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    frame = xcomlab.load_export(_csv(tmp_path, [_hex(evil)]))
    assert frame["encoding"].tolist() == ["pickle"]
    assert frame["value_bytes"].tolist() == [len(evil)]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        ('{"__classname__": "builtins.tuple", "__version__": 1, "__data__": [1, 2]}', "serde"),
        ('{"__data__": [1, 2], "__version__": 1, "__classname__": "builtins.tuple"}', "serde"),
        ('{"__var": 1.5, "__type": "float"}', "serde"),
        ('{"when": {"__classname__": "datetime.date", "__version__": 2, "__data__": "2024-01-02"}}', "json"),
        ('{"a": 1}', "json"),
        ("42", "json"),
        ('"hello"', "json"),
        ("null", "json"),
        ("not json at all", "text"),
    ],
)
def test_json_encodings_airflow2(tmp_path: Path, value: str, encoding: str) -> None:
    """Top-level serde envelopes (json.dumps and JSONB key orders) are told from plain JSON."""
    frame = xcomlab.load_export(_csv(tmp_path, [_hex(value.encode())]))
    assert frame["encoding"].tolist() == [encoding]
    assert frame["value_bytes"].tolist() == [len(value.encode())]


def test_non_utf8_bytes_are_unknown(tmp_path: Path) -> None:
    """Bytes that are neither pickle nor UTF-8 text have an unknown encoding."""
    frame = xcomlab.load_export(_csv(tmp_path, [_hex(b"\xff\xfe\x00binary")]))
    assert frame["encoding"].tolist() == ["unknown"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[1.5, NaN]", True), ("-Infinity", True), ('{"x": Infinity}', True),
     ('{"note": "NaN and Infinity"}', False), ('["NaNa"]', False), ("[1, 2]", False),
     ('{"a": NaN, "b": "unterminated', True), ('{"NaN": "x", broken', False)],
)
def test_nan_tokens_outside_strings(text: str, expected: bool) -> None:
    """NaN/Infinity count only as JSON tokens, never inside strings, even in broken JSON."""
    assert nan_in_json(text) is expected


def test_nan_flags_in_airflow2_bytes(tmp_path: Path) -> None:
    """2.x rows written by json.dumps with NaN are flagged; strings mentioning NaN are not."""
    frame = xcomlab.load_export(_csv(tmp_path, [_hex(b"[1.5, NaN]"), _hex(b'"NaN"'), _hex(b"NaN")]))
    assert frame["has_nan"].tolist() == [True, False, True]
    assert frame["encoding"].tolist() == ["json", "json", "json"]


def test_double_encoded_json_only_in_airflow3(tmp_path: Path) -> None:
    """A JSON string holding JSON is a core-written row in 3.x; in 2.x it is plain JSON."""
    values = ['"true"', '"{\\"a\\": [1, 2]}"', '"hello"', '"{\\"x\\": NaN}"']
    af3 = xcomlab.load_export(_csv(tmp_path, values))
    assert af3["encoding"].tolist() == ["double_json", "double_json", "json", "double_json"]
    assert af3["has_nan"].tolist() == [False, False, False, True]
    af2 = xcomlab.load_export(_csv(tmp_path, [_hex(v.encode()) for v in values]))
    assert af2["encoding"].tolist() == ["json"] * 4


def test_object_store_references(tmp_path: Path) -> None:
    """common-io URL strings and xcomlab envelopes become ref_uri (and ref_bytes)."""
    values = [
        '"s3://aws_default@bucket/xcom/d/r/t/643212b5-3cb1-4dbb-9918-3ffc007ce9e4.gz"',
        '"file:///srv/xcomstore/d1/manual__2024/t1/643212b5.gz"',
        '{"uri": "gs://b/xcomlab/d/r/t/k.zst", "__xcomlab__": 1, "stored_bytes": 1234}',
        '"just a string with s3://inside"',
        '"https://console.cloud.google.com/bigquery?j=bq:US:1"',  # a _link_* row, not a ref
    ]
    frame = xcomlab.load_export(_csv(tmp_path, values))
    assert frame["ref_uri"].tolist()[:3] == [
        "s3://aws_default@bucket/xcom/d/r/t/643212b5-3cb1-4dbb-9918-3ffc007ce9e4.gz",
        "file:///srv/xcomstore/d1/manual__2024/t1/643212b5.gz",
        "gs://b/xcomlab/d/r/t/k.zst",
    ]
    assert frame["ref_uri"].isna().tolist()[3:] == [True, True]
    assert frame["ref_bytes"].tolist()[2] == 1234


def test_internal_keys(tmp_path: Path) -> None:
    """Keys Airflow writes itself are flagged; user keys are not."""
    keys = ["skipmixin_key", "_link_BigQueryConsoleLink", "trigger_run_id", "past_depends_met",
            "return_value", "my_key"]
    frame = xcomlab.load_export(_csv(tmp_path, ["1"] * len(keys), keys))
    assert frame["internal"].tolist() == [True, True, True, True, False, False]
    assert is_internal_key("pod_name")
