"""pg_dump plain SQL: COPY blocks of xcom and its archives, escapes, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import xcomlab
from xcomlab.errors import ExportFormatError, UnsupportedSourceError
from xcomlab.ingest.pgdump import copy_unescape

PRELUDE = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n"
AF2_COLS = 'dag_run_id, task_id, map_index, key, dag_id, run_id, value, "timestamp"'


def _dump(tmp_path: Path, *blocks: tuple[str, str, list[str]]) -> Path:
    text = PRELUDE
    for table, cols, rows in blocks:
        text += f"COPY public.{table} ({cols}) FROM stdin;\n" + "".join(r + "\n" for r in rows) + "\\.\n\n\n"
    p = tmp_path / "dump.sql"
    p.write_text(text)
    return p


def _row(task: str, value: str, key: str = "return_value") -> str:
    return "\t".join(["1", task, "-1", key, "d", "r", value, "2026-11-24 06:08:08.751217+00"])


def test_airflow2_bytea_and_archive_tables(tmp_path: Path) -> None:
    """bytea '\\\\x…' is hex-decoded; xcom and _airflow_deleted__ blocks load as tables; others skip."""
    p = _dump(
        tmp_path,
        ("task_instance", "a, b", ["1\t2"]),
        ("xcom", AF2_COLS, [_row("t1", "\\\\x" + b'{"a": 1}'.hex()), _row("t2", "\\N"),
                            _row("t3", "\\\\x80044b2a2e")]),
        ("_airflow_deleted__xcom__20260101000000", AF2_COLS, [_row("t0", "\\\\x3432")]),
    )
    f = xcomlab.load_export(p)
    assert f["source_table"].tolist() == ["xcom"] * 3 + ["_airflow_deleted__xcom__20260101000000"]
    assert f["value_bytes"].tolist()[:1] + f["value_bytes"].tolist()[2:] == [8, 5, 2]
    assert f["encoding"].tolist() == ["json", "null", "pickle", "json"]
    assert set(f["airflow_schema"]) == {"2.3-2.11"}


def test_airflow3_json_with_copy_escapes(tmp_path: Path) -> None:
    """JSON text is un-escaped as COPY text format defines (\\\\ → \\, \\t → tab)."""
    cols = 'dag_run_id, task_id, map_index, key, dag_result, dag_id, run_id, value, "timestamp"'
    row = "\t".join(["1", "t\\tx", "-1", "k", "f", "d", "r", '{"q": "a\\\\"b"}', "2026-11-24 06:08:08+00"])
    f = xcomlab.load_export(_dump(tmp_path, ("xcom", cols, [row])), keep_values=True)
    assert f["task_id"].iloc[0] == "t\tx"
    assert f["value"].iloc[0] == b'{"q": "a\\"b"}'
    assert f["value_bytes"].iloc[0] == len(b'{"q": "a\\"b"}')
    assert f["airflow_schema"].iloc[0] == "3.3+"


def test_copy_unescape_rules() -> None:
    """Octal, hex, single-letter escapes and escaped backslashes."""
    assert copy_unescape(r"\101\x42\n\\\q") == "AB\n\\q"


def test_empty_block_and_last_line_without_newline(tmp_path: Path) -> None:
    """An empty COPY block loads zero rows; a final '\\.' without newline still ends a block."""
    p = tmp_path / "d.sql"
    p.write_text(PRELUDE + f"COPY public.xcom ({AF2_COLS}) FROM stdin;\n\\.\n"
                 f"COPY public._xcom_archive ({AF2_COLS}) FROM stdin;\n{_row('t', chr(92) * 2 + 'x3432')}\n\\.")
    f = xcomlab.load_export(p)
    rep = xcomlab.load_report(f)
    assert [(t.table, t.rows_loaded) for t in rep.tables] == [("xcom", 0), ("_xcom_archive", 1)]


def test_unterminated_block(tmp_path: Path) -> None:
    """A truncated dump says the COPY block never ends, with the COPY line."""
    p = tmp_path / "d.sql"
    p.write_text(PRELUDE + f"COPY public.xcom ({AF2_COLS}) FROM stdin;\n{_row('t', '42')}\n")
    with pytest.raises(ExportFormatError, match=r"d\.sql, line 7: COPY block of xcom never ends"):
        xcomlab.load_export(p)


def test_bad_field_count_names_line(tmp_path: Path) -> None:
    """A row with too few fields is named by its line in the dump."""
    p = _dump(tmp_path, ("xcom", AF2_COLS, [_row("t1", "42"), "1\tt2\t-1"]))
    with pytest.raises(ExportFormatError, match=r"line 9, row 2: expected 8 tab-separated fields"):
        xcomlab.load_export(p)
    f = xcomlab.load_export(p, errors="collect")
    assert len(f) == 1 and xcomlab.load_report(f).rows_rejected == 1


def test_custom_format_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A pg_dump -Fc archive names pg_restore as the fix."""
    p = tmp_path / "x.dump"
    p.write_bytes(b"PGDMP\x01\x0e\x00")
    with pytest.raises(UnsupportedSourceError, match="pg_restore"):
        xcomlab.load_export(p)
