"""CSV exports: psql \\copy and airflow db export-archived, every flavour and every error."""

from __future__ import annotations

import csv
import gzip
import lzma
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import xcomlab
from xcomlab.errors import ExportFormatError
from xcomlab.ingest import csvfile
from xcomlab.ingest.split import csv_spans
from xcomlab.summary import summarize_file
from xcomlab.summary.core import merge_all

PSQL_AF3 = (
    "dag_run_id,task_id,map_index,key,dag_result,dag_id,run_id,value,timestamp\n"
    '7,extract,-1,return_value,f,etl,scheduled__2026-01-01,"{""rows"": 12, ""ok"": true}",2026-11-24 06:08:08.751217+00\n'
    '7,load,3,return_value,t,etl,scheduled__2026-01-01,42,2026-11-24 06:09:00+00\n'
    "7,load,4,x,f,etl,scheduled__2026-01-01,,2026-11-24 06:09:00+00\n"
)


def _write(tmp_path: Path, text: str, name: str = "xcom.csv", newline: str = "\n") -> Path:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode())
    return p


def test_psql_airflow3_with_dag_result(tmp_path: Path) -> None:
    """JSON text values, t/f booleans, +00 offsets; dag_result means schema 3.3+."""
    f = xcomlab.load_export(_write(tmp_path, PSQL_AF3))
    assert f["value_bytes"].tolist()[:2] == [len('{"rows": 12, "ok": true}'), 2]
    assert pd.isna(f["value_bytes"].iloc[2]) and f["encoding"].iloc[2] == "null"
    assert f["dag_result"].tolist() == [False, True, False]
    assert f["map_index"].tolist() == [-1, 3, 4]
    assert f["dag_run_id"].tolist() == [7, 7, 7]
    assert set(f["airflow_schema"]) == {"3.3+"}
    assert f["timestamp"].iloc[0] == pd.Timestamp("2026-11-24 06:08:08.751217", tz="UTC")
    assert xcomlab.load_report(f).sizes_exact


def test_columns_are_found_by_name_not_position(tmp_path: Path) -> None:
    """A 2.3-migrated table orders columns differently; the result is the same."""
    text = ("dag_run_id,task_id,key,value,timestamp,dag_id,run_id,map_index\n"
            "1,t,return_value,\\x3432,2026-01-01 00:00:00+00,d,r,-1\n")
    f = xcomlab.load_export(_write(tmp_path, text))
    assert (f["dag_id"].iloc[0], f["run_id"].iloc[0], f["value_bytes"].iloc[0]) == ("d", "r", 2)
    assert f["airflow_schema"].iloc[0] == "2.3-2.11"


def test_older_schemas_are_detected(tmp_path: Path) -> None:
    """An id column means 1.10; execution_date without run_id means 2.0–2.2."""
    v110 = ("id,key,value,timestamp,execution_date,task_id,dag_id\n"
            "1,return_value,\\x80034b2a2e,2020-01-01 00:00:00+00,2020-01-01 00:00:00+00,t,d\n")
    f = xcomlab.load_export(_write(tmp_path, v110))
    assert f["airflow_schema"].iloc[0] == "1.10"
    assert f["encoding"].iloc[0] == "pickle"
    assert f["logical_date"].iloc[0] == pd.Timestamp("2020-01-01", tz="UTC")
    assert f["run_id"].isna().all() and f["map_index"].iloc[0] == -1
    v20 = ("key,value,timestamp,execution_date,task_id,dag_id\n"
           "return_value,\\x3432,2021-01-01 00:00:00+00,2021-01-01 00:00:00+00,t,d\n")
    assert xcomlab.load_export(_write(tmp_path, v20))["airflow_schema"].iloc[0] == "2.0-2.2"


def test_multiline_quoted_values(tmp_path: Path) -> None:
    """Newlines inside quoted fields stay in the value."""
    text = ("dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
            '1,t,-1,k,d,r,"""line1\nline2""",2026-01-01 00:00:00+00\n'
            '1,u,-1,k,d,r,"[1,\n2]",2026-01-01 00:00:00+00\n')
    f = xcomlab.load_export(_write(tmp_path, text))
    assert f["value_bytes"].tolist() == [len('"line1\nline2"'), len("[1,\n2]")]


def test_export_archived_sqlite_airflow2(tmp_path: Path) -> None:
    """CRLF and b'…' reprs (SQLite) are decoded back to the stored bytes, exactly."""
    text = ("dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
            "1,t,-1,return_value,d,r,\"b'{\"\"a\"\": 1}'\",2024-01-01 00:00:00.000000\n"
            "1,u,-1,return_value,d,r,b'\\x80\\x04K*.',2024-01-01 00:00:00.000000\n")
    f = xcomlab.load_export(_write(tmp_path, text, "_airflow_deleted__xcom__20240102000000.csv", "\r\n"))
    assert f["value_bytes"].tolist() == [len(b'{"a": 1}'), 5]
    assert f["encoding"].tolist() == ["json", "pickle"]
    assert f["source_table"].iloc[0] == "_airflow_deleted__xcom__20240102000000"
    assert f["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_export_archived_postgres_airflow2_lost_values(tmp_path: Path) -> None:
    """<memory at 0x…> placeholders: sizes are lost, not counted as the placeholder's length."""
    text = ("dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
            "1,t,-1,return_value,d,r,<memory at 0x7f1fd6d36e00>,2026-11-24 06:08:08.751217+00:00\n"
            "1,u,-1,return_value,d,r,,2026-11-24 06:08:08.751217+00:00\n")
    f = xcomlab.load_export(_write(tmp_path, text, newline="\r\n"))
    assert f["encoding"].tolist() == ["lost", "null"]
    assert f["value_bytes"].isna().all()
    rep = xcomlab.load_report(f)
    assert not rep.sizes_exact
    assert any("sizes are lost" in n for n in rep.notes)
    assert xcomlab.summarize(f)["sizes_exact"] is False


def test_export_archived_postgres_airflow3_reprs_are_approximate(tmp_path: Path) -> None:
    """Python reprs of decoded JSON are rebuilt as JSON, flagged approximate."""
    text = ("dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp,dag_result\n"
            "1,t,-1,return_value,d,r,\"{'a': 1, 'x': True}\",2026-11-24 06:08:08.751217+00:00,False\n"
            "1,u,-1,return_value,d,r,hello,2026-11-24 06:08:08.751217+00:00,False\n"
            "1,v,-1,return_value,d,r,\"[1.5, None]\",2026-11-24 06:08:08.751217+00:00,\n")
    f = xcomlab.load_export(_write(tmp_path, text, newline="\r\n"))
    assert f["value_bytes"].tolist() == [len('{"a": 1, "x": true}'), len('"hello"'), len("[1.5, null]")]
    assert not f["size_exact"].any()
    assert any("approximate" in n for n in xcomlab.load_report(f).notes)
    assert f["dag_result"].tolist()[:2] == [False, False]


def test_directory_of_export_archived_files(tmp_path: Path) -> None:
    """A directory holding several archive CSVs loads each as its own table."""
    body = "1,t,-1,k,d,r,b'1',2024-01-01 00:00:00.000000\n"
    head = "dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
    _write(tmp_path, head + body, "_airflow_deleted__xcom__20240101000000.csv", "\r\n")
    _write(tmp_path, head + body + body, "_xcom_archive.csv", "\r\n")
    _write(tmp_path, "a,b\n1,2\n", "dag_run.csv")
    f = xcomlab.load_export(tmp_path)
    assert f["source_table"].value_counts().to_dict() == {
        "_xcom_archive": 2, "_airflow_deleted__xcom__20240101000000": 1}


# --- errors -------------------------------------------------------------------------------

BAD_HEAD = "dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp\n"
GOOD = "1,t,-1,k,d,r,42,2026-01-01 00:00:00+00\n"


def test_missing_column_names_file_line_and_columns(tmp_path: Path) -> None:
    """A header without value/timestamp names both and the file's line 1."""
    p = _write(tmp_path, "dag_id,task_id,key\nd,t,k\n")
    with pytest.raises(ExportFormatError, match=r"xcom\.csv, line 1: header .* lacks \['value', 'timestamp'\]"):
        xcomlab.load_export(p)


def test_bad_integer_names_line_row_column(tmp_path: Path) -> None:
    """A map_index of 'abc' on line 3 is reported with row, line, column and the text."""
    p = _write(tmp_path, BAD_HEAD + GOOD + "1,t,abc,k,d,r,42,2026-01-01 00:00:00+00\n")
    with pytest.raises(ExportFormatError, match=r"line 3, row 2, column 'map_index': expected an integer map_index, found 'abc'"):
        xcomlab.load_export(p)


def test_bad_timestamp(tmp_path: Path) -> None:
    """An unparseable timestamp is named with what was expected."""
    p = _write(tmp_path, BAD_HEAD + "1,t,-1,k,d,r,42,yesterday\n")
    # The found text is masked like all quoted row content: 'yes…(9 chars)'.
    with pytest.raises(ExportFormatError, match=r"row 1, column 'timestamp': expected an ISO timestamp.*'yes…\(9 chars\)'"):
        xcomlab.load_export(p)


def test_wrong_field_count_names_physical_line(tmp_path: Path) -> None:
    """A short row after a multi-line value is located by its physical line."""
    text = BAD_HEAD + '1,t,-1,k,d,r,"[1,\n2]",2026-01-01 00:00:00+00\n' + "1,t,-1,k\n" + GOOD
    p = _write(tmp_path, text)
    with pytest.raises(ExportFormatError, match=r"line 4, row 2: expected 8 fields as in the header, found 4"):
        xcomlab.load_export(p)


def test_bad_hex_and_null_identifier(tmp_path: Path) -> None:
    """Invalid bytea hex and a missing dag_id are both errors naming their column."""
    p = _write(tmp_path, BAD_HEAD + "1,t,-1,k,d,r,\\x4g,2026-01-01 00:00:00+00\n")
    with pytest.raises(ExportFormatError, match=r"column 'value': expected PostgreSQL hex bytea"):
        xcomlab.load_export(p)
    p = _write(tmp_path, BAD_HEAD + "1,t,-1,k,,r,\\x34,2026-01-01 00:00:00+00\n")
    with pytest.raises(ExportFormatError, match=r"column 'dag_id': expected a non-empty dag_id"):
        xcomlab.load_export(p)


def test_unterminated_quote(tmp_path: Path) -> None:
    """A quote that never closes swallows the rest: named by line, not a parser traceback."""
    p = _write(tmp_path, BAD_HEAD + GOOD + '1,t,-1,k,d,r,"[1, 2,2026-01-01 00:00:00+00\n')
    with pytest.raises(ExportFormatError, match=r"xcom\.csv, table xcom, line 3, row 2: expected 8 fields"):
        xcomlab.load_export(p)


def test_collect_mode_reconciles_counts(tmp_path: Path) -> None:
    """errors='collect' keeps good rows and reports every bad one; counts add up."""
    text = (BAD_HEAD + GOOD + "1,t,abc,k,d,r,42,2026-01-01 00:00:00+00\n" + "1,t\n" + GOOD
            + "1,t,-1,k,d,r,42,nope\n" + GOOD)
    f = xcomlab.load_export(_write(tmp_path, text), errors="collect")
    rep = xcomlab.load_report(f)
    assert len(f) == 3
    assert rep.tables[0].rows_read == 6 == rep.rows_loaded + rep.rows_rejected
    rejected = rep.rejected_frame()
    assert rejected[["line", "reason"]].values.tolist() == [
        [3, "bad_integer"], [4, "field_count"], [6, "bad_timestamp"]]


def test_empty_file(tmp_path: Path) -> None:
    """An empty file is named as such."""
    with pytest.raises(ExportFormatError, match="the file is empty"):
        xcomlab.load_export(_write(tmp_path, ""))


def test_cli_exit_code_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints one line naming the problem and exits with 2."""
    from xcomlab.cli import main

    p = _write(tmp_path, BAD_HEAD + "1,t,abc,k,d,r,42,2026-01-01 00:00:00+00\n")
    assert main(["profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xcomlab: ") and "map_index" in err and "Traceback" not in err



# A "\r\n" inside a quoted value where Arrow's reader ends one read and starts the next
# (apache/arrow issue 51368: the "\n" was dropped; xcomlab.ingest.csvfile._CrlfKept).
_BLOCK = 1 << 12
_AF3 = b"dag_run_id,task_id,map_index,key,dag_id,run_id,value,timestamp,dag_result\n"
_TAIL = b",2026-05-15 00:01:55.711909+00,\n"


def _af3_row(task: str, value: str, newline: bytes = b"\n") -> bytes:
    quoted = '"' + value.replace('"', '""') + '"'
    return f"62,{task},-1,return_value,etl,scheduled__2026-05-08,{quoted}".encode() + _TAIL[:-1] + newline


def _crlf_at(cr: int, *, start: int = 0) -> bytes:
    """An Airflow 3.3 psql export whose one ``\\r\\n`` (in task ``special``'s value) has its
    ``\\r`` at byte ``cr``; when ``start`` is given, a record starts at byte ``start`` (a
    shard's first byte), before the special record."""
    out = _AF3
    filler = _af3_row("filler", '{"pad": "' + "x" * 150 + '"}')
    for upto in (start, cr) if start else (cr,):
        while len(out) + len(filler) + 400 < upto:
            out += filler
        if upto == start:
            out += b"\n" * (start - len(out))  # blank lines hold no record
    head = b'62,special,-1,return_value,etl,scheduled__2026-05-08,"{""a"": ""'
    out += head + b"b" * (cr - len(out) - len(head)) + b'\r\n""}"' + _TAIL
    assert out[cr:cr + 2] == b"\r\n"
    return out + _af3_row("after", '{"pad": "' + "y" * 300 + '"}') * 5


def _truth(p: Path, opener: Any = open) -> list[str]:
    """Every record's value as Python's csv module reads the file."""
    with opener(p, "rt", newline="", encoding="utf-8") as f:
        return [r[6] for r in list(csv.reader(f))[1:] if r]


@pytest.mark.parametrize("shift", range(-3, 4))
@pytest.mark.parametrize("where", ["whole", "shard"])
def test_a_crlf_in_a_value_where_a_read_block_ends_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           where: str, shift: int) -> None:
    """The "\\r" as a block's last byte (shift 0) and 3 bytes either side: the value and
    its size are the file's bytes, whole and in a shard (whose blocks count from its start)."""
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", _BLOCK)
    start = 3 * _BLOCK + 77 if where == "shard" else 0
    p = tmp_path / "xcom.csv"
    p.write_bytes(_crlf_at(start + 2 * _BLOCK - 1 + shift, start=start))
    truth = _truth(p)
    special = '{"a": "' + "b" * truth[-6].count("b") + '\r\n"}'
    assert truth[-6] == special
    if where == "whole":
        f = xcomlab.load_export(p, keep_values=True)
        got = f.loc[f["task_id"] == "special", ["value", "value_bytes"]].iloc[0]
        assert (got["value"], got["value_bytes"]) == (special.encode(), len(special))
        assert f["value"].tolist() == [v.encode() for v in truth]
        assert int(f["value_bytes"].sum()) == sum(len(v.encode()) for v in truth)
    else:
        size = p.stat().st_size
        parts = [summarize_file(p, span=span, progress=False) for span in ((0, start), (start, size))]
        assert sum(s.value_bytes for s in parts) == sum(len(v.encode()) for v in truth)
        assert merge_all(parts).equals(summarize_file(p, progress=False))


@pytest.mark.parametrize("codec", [None, "gzip", "xz"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_values_full_of_crlf_read_exactly_in_small_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          codec: str | None, newline: bytes) -> None:
    """Values of many "\\r\\n" (JSON whitespace), records ended by "\\n" or "\\r\\n" (Python's
    csv writer): many block ends fall between a "\\r" and its "\\n", in values and between
    records; every value and size is the file's, plain or compressed, whole and in 2 shards."""
    block = 1 << 10
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", block)
    data = _AF3.replace(b"\n", newline) + b"".join(
        _af3_row(f"t{i}", "[" + ",\r\n".join("1" * (i % 7 + 1) for _ in range(i % 40 + 1)) + "]", newline)
        for i in range(400))
    # the case exists: reads of the whole and of the second shard end between "\r" and "\n"
    plain = tmp_path / "plain.csv"
    plain.write_bytes(data)
    spans = csv_spans(plain, 2)
    for a, b in [(0, len(data)), spans[1]]:
        cut = [k for k in range(a + block, b, block) if data[k - 1:k + 1] == b"\r\n"]
        assert sum(data[:k].count(b'"') % 2 for k in cut) >= 2  # inside a quoted value
    opener: Any = open
    p = plain
    if codec is not None:
        compress, opener = {"gzip": (gzip.compress, gzip.open), "xz": (lzma.compress, lzma.open)}[codec]
        p = tmp_path / f"xcom.csv.{'gz' if codec == 'gzip' else 'xz'}"
        p.write_bytes(compress(data))
    truth = _truth(p, opener)
    assert len(truth) == 400 and sum("\r\n" in v for v in truth) == 390
    f = xcomlab.load_export(p, keep_values=True)
    assert f["value"].tolist() == [v.encode() for v in truth]
    assert f["value_bytes"].tolist() == [len(v.encode()) for v in truth]
    if codec is None:
        parts = [summarize_file(p, span=span, progress=False) for span in spans]
        assert merge_all(parts).equals(summarize_file(p, progress=False))
        assert sum(s.value_bytes for s in parts) == sum(len(v.encode()) for v in truth)


@pytest.mark.parametrize("big", [3 * 2**20, 5 * 2**20, 20 * 2**20])
def test_a_value_longer_than_two_reads_keeps_the_fast_path(tmp_path: Path, big: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A record spanning more than two of Arrow's 2 MiB reads ("straddling object") is read
    again with bigger reads, not row by row: the exact reader is never asked (it was, for the
    whole table, at the first value over ~4 MB: a 5M-row mixed export, 76 s)."""
    value = '"' + "x" * big + '"'
    rows = [f'{i},t{i % 3},-1,return_value,f,etl,run_{i},"{{""n"": {i}}}",2026-11-24 06:08:0{i % 10}+00'
            for i in range(2000)]
    rows.insert(1500, f'9999,big,-1,return_value,f,etl,run_big,"{value.replace(chr(34), chr(34) * 2)}",'
                      "2026-11-24 06:09:00+00")
    path = _write(tmp_path, PSQL_AF3.splitlines()[0] + "\n" + "\n".join(rows) + "\n")

    def exact(self: Any) -> Any:
        raise AssertionError("the exact row-by-row reader was used")

    monkeypatch.setattr(csvfile._CsvReader, "slow", exact)
    frame = xcomlab.load_export(path, keep_values=True)
    assert len(frame) == 2001
    assert int(frame.loc[frame["task_id"] == "big", "value_bytes"].iloc[0]) == len(value)
    summary = summarize_file(path)
    assert summary.rows == 2001 and summary.value_bytes == int(frame["value_bytes"].sum())
