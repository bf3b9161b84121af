"""The fast paths of ingest give what the plain rules give.

Classification decides most rows from a value's first and last bytes and runs the
rules' regexes only on the rows those bytes leave open; the CSV reader reads values
as bytes and checks UTF-8 itself; timestamps with PostgreSQL's ``+00`` are cast
directly; categories are numbered by one hash pass. Each test here compares such a
path with the rule it stands for, applied row by row.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import xcomlab
from xcomlab import schema as S
from xcomlab.errors import ExportFormatError
from xcomlab.ingest import classify as C
from xcomlab.ingest import csvfile

HEADER = "dag_run_id,task_id,map_index,key,dag_result,dag_id,run_id,value,timestamp\n"

BASES = [
    b'{"__classname__": "builtins.tuple", "__version__": 1, "__data__": [1, 2]}',
    b'{"__data__": [1, 2], "__version__": 1, "__classname__": "builtins.tuple"}',
    b'{"__type": "dict", "__var": {"a": 1}}', b'{"__var": 1}', b'{"__typo": 1}',
    b'{"a": 1, "__type": "x"}', b'{"a": "b"}', b'{"__x": "y"}', b"{}", b"[1, 2]", b"[]",
    b'"s3://bucket/key.parquet"', b'"S3://b/k"', b'"gs://b/k"', b'"https://example.com/x"',
    b'"HTTP://example.com"', b'"file:///tmp/x"', b'"abc://"', b'"://x"', b'"1s3://x"',
    b'" s3://b/k"', b'"s3://b/k\\"x"', b'"true"', b'"false"', b'"null"', b'"nul"', b'"42"',
    b'" 42 "', b'"-1.5e3"', b'"-x"', b'"01"', b'"{\\"a\\": 1}"', b'"[1, 2]"', b'"[broken"',
    b'"{\\"a\\": 1"', b'"hello"', b'""', b'"t"', b'"42abc"', b'"4\\u0032"', b"true", b"false",
    b"null", b"nul", b"truex", b"42", b"-1", b"-x", b"-Infinity", b"Infinity", b"NaN", b"NaNa",
    b"garbage", b"", b"\x80\x04K*.", b"\x80", "\"\u00e9t\u00e9\"".encode(),
    '{"k": "\u65e5\u672c"}'.encode(),
]


def _variants(rng: random.Random) -> list[bytes]:
    """The bases, with spaces where the rules allow them, and long values."""
    spaces = [b" ", b"\t", b"\n", b"\r", b"\f", b"  \n\t ", b" " * 100]
    out = list(BASES)
    for base in BASES:
        for _ in range(6):
            v = base
            sp = rng.choice(spaces)
            where = rng.choice(["lead", "after_brace", "before_colon", "after_colon", "trail",
                                "before_brace", "pad"])
            if where == "lead":
                v = sp + v
            elif where == "after_brace" and v.startswith(b"{"):
                v = b"{" + sp + v[1:]
            elif where == "before_colon":
                v = v.replace(b'":', b'"' + sp + b":", 1)
            elif where == "after_colon":
                v = v.replace(b'": ', b'":' + sp, 1)
            elif where == "trail":
                v = v + sp
            elif where == "before_brace" and v.endswith(b"}"):
                v = v[:-1] + sp + b"}"
            elif where == "pad" and v.startswith(b"{") and len(v) > 2:
                v = b'{"pad": "' + b"x" * rng.choice([10, 90, 200, 5000]) + b'", ' + v[1:]
            out.append(v)
    out.append(b'"s3://' + b"y" * 5000 + b'"')  # too large to be a reference
    out.append(b'{"pad": "' + b"x" * 5000 + b'", ' + BASES[1][1:])  # serde by its tail only
    out.append(b'{"pad": "' + b"x" * 5000 + b'", ' + BASES[1][1:-1] + b" \n}\t")
    return out


def _full(pattern: str) -> re.Pattern[bytes]:
    # RE2 (Arrow) anchors `$` at the very end only; Python's `$` also before a final "\n".
    return re.compile(pattern.replace("$", r"\Z").encode())


def _reference(v: bytes | None) -> tuple[str, str | None]:
    """Encoding and reference of one value by the rules, row by row (Python's re)."""
    if v is None:
        return "null", None
    code = "json" if _full(C._JSON_FIRST).match(v) else "text"
    if _full(C._SERDE_HEAD).match(v) or (v.startswith(b"{") and _full(C._SERDE_TAIL).search(v[-C.TAIL_BYTES:])):
        code = "serde"
    if v[:1] == b"\x80":
        code = "pickle"
    if code == "text":
        try:
            v.decode("utf-8")
        except UnicodeDecodeError:
            code = "unknown"
    uri = None
    if len(v) <= C.MAX_REF_BYTES and _full(C._URL_STRING).match(v) and not _full(C._WEB_URL).match(v):
        uri = json.loads(v)
    if code == "json" and _full(C._DOUBLE_JSON).match(v):
        if _full(C._DOUBLE_LITERAL).match(v):
            code = "double_json"
        elif not _full(C._DIGITS_NO_ESCAPE).match(v):
            try:
                inner = json.loads(v)
            except ValueError:
                inner = None
            if isinstance(inner, str) and C.is_json_3x(inner):
                code = "double_json"
    return code, uri


def test_byte_shortcuts_give_what_the_regexes_give() -> None:
    values: list[bytes | None] = [*_variants(random.Random(11)), None]
    # No \v: RE2's \s leaves it out, Python's includes it.
    assert not any(b"\v" in v for v in values if v is not None)
    head = pa.array(values, pa.binary())
    raw = C.RawValues(head, pa.compute.binary_length(head).cast(pa.int64()), complete=True)
    got = C.classify(raw, json_3x=True)
    expected = [_reference(v) for v in values]
    assert list(got.encoding) == [e[0] for e in expected]
    assert got.ref_uri == [e[1] for e in expected]
    # the set exercises every outcome, each decided both ways (bytes and regex)
    assert {e[0] for e in expected} >= {"json", "text", "serde", "pickle", "null", "double_json"}
    assert sum(e[1] is not None for e in expected) >= 3


def test_head_and_tail_from_a_sql_reader_are_classified_the_same() -> None:
    values = _variants(random.Random(5))
    full = pa.array(values, pa.binary())
    head = pa.array([v[: C.HEAD_BYTES] for v in values], pa.binary())
    tail = pa.array([v[-C.TAIL_BYTES:] for v in values], pa.binary())
    sizes = pa.array([len(v) for v in values], pa.int64())
    whole = C.classify(C.RawValues(full, sizes, complete=True), json_3x=False)
    cut = C.classify(C.RawValues(head, sizes, complete=False, tail=tail,
                                 nan_hint=pa.array([False] * len(values)),
                                 full=pa.nulls(len(values), pa.binary())), json_3x=False)
    short = np.array([len(v) <= C.HEAD_BYTES for v in values])
    assert (whole.codes[short] == cut.codes[short]).all()
    serde_long = [i for i, v in enumerate(values) if len(v) > C.HEAD_BYTES
                  and _reference(v)[0] == "serde"]
    assert serde_long and all(cut.encoding[i] == "serde" for i in serde_long)


def test_sliced_and_chunked_values_are_read_at_the_right_offsets() -> None:
    values = [b'{"a": 1}', b'"s3://b/k"', b'{"__classname__": "x", "__data__": 1}', b"\x80\x04.",
              b'"true"', None, b"oops"]
    arr = pa.array([b"pad", *values, b"pad"], pa.binary()).slice(1, len(values))
    chunked = pa.chunked_array([arr.slice(0, 3), arr.slice(3)])
    for head in (arr, chunked):
        raw = C.RawValues(head, pa.compute.binary_length(head).cast(pa.int64()), complete=True)
        got = C.classify(raw, json_3x=True)
        assert list(got.encoding) == ["json", "json", "serde", "pickle", "double_json", "null", "text"]
        assert got.ref_uri[1] == "s3://b/k"


def _csv(tmp_path: Path, rows: list[str], name: str = "xcom.csv") -> Path:
    p = tmp_path / name
    p.write_bytes((HEADER + "".join(r + "\n" for r in rows)).encode("utf-8", "surrogateescape"))
    return p


def test_a_value_that_is_not_utf8_still_names_the_offset(tmp_path: Path) -> None:
    p = tmp_path / "xcom.csv"
    p.write_bytes(HEADER.encode() + b'1,t,-1,return_value,f,d,r1,"{""a"": ""caf\xe9""}",'
                  b"2026-05-01 06:01:23.510622+00\n")
    with pytest.raises(ExportFormatError, match="are not UTF-8"):
        xcomlab.load_export(p)


@pytest.mark.parametrize("column", ["dag_id", "timestamp"])
def test_an_identifier_or_timestamp_that_is_not_utf8_is_refused(tmp_path: Path, column: str) -> None:
    dag, ts = (b"d\xe9", b"2026-05-01 06:01:23+00") if column == "dag_id" else (b"d", b"2026\xe9")
    p = tmp_path / "xcom.csv"
    p.write_bytes(HEADER.encode() + b"1,t,-1,return_value,f," + dag + b",r1,1," + ts + b"\n")
    with pytest.raises(ExportFormatError, match="are not UTF-8"):
        xcomlab.load_export(p)


def test_non_ascii_identifiers_keep_their_text(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["1,t\u00e9,-1,k\u65e5,f,d\u00e9,r1,1,2026-05-01 06:01:23+00",
                        "1,t,-1,k,f,d,r\u00e9,1,2026-05-01 06:01:24+00"])
    frame = xcomlab.load_export(p)
    assert list(frame[S.DAG_ID].astype(str)) == ["d\u00e9", "d"]
    assert list(frame[S.TASK_ID].astype(str)) == ["t\u00e9", "t"]
    assert list(frame[S.KEY].astype(str)) == ["k\u65e5", "k"]
    assert list(frame[S.RUN_ID].astype(str)) == ["r1", "r\u00e9"]


def test_non_ascii_utf8_values_are_sized_in_bytes(tmp_path: Path) -> None:
    p = _csv(tmp_path, ['1,t,-1,return_value,f,d,r1,"""\u00e9t\u00e9""",2026-05-01 06:01:23.5+00',
                        '1,u,-1,return_value,f,d,r1,"{""a"": 1}",2026-05-01 06:01:24+00'])
    frame = xcomlab.load_export(p)
    assert list(frame[S.VALUE_BYTES]) == [len('"\u00e9t\u00e9"'.encode()), len(b'{"a": 1}')]


def test_utc_offset_timestamps_are_the_instants_they_name(tmp_path: Path) -> None:
    stamps = ["2026-05-01 06:01:23.510622+00", "2026-05-01 06:01:24+00", "2026-12-31 23:59:59.9+00"]
    p = _csv(tmp_path, [f'1,t{i},-1,k,f,d,r,1,{s}' for i, s in enumerate(stamps)])
    frame = xcomlab.load_export(p)
    expected = pd.to_datetime([s + ":00" for s in stamps], utc=True, format="ISO8601")
    assert list(frame[S.TIMESTAMP]) == list(expected)
    assert str(frame[S.TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    assert frame[S.LOGICAL_DATE].isna().all()


def test_categories_keep_first_use_order_across_batches(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    dags = [f"dag_{rng.randrange(40):02d}" for _ in range(3000)]
    rows = [f"1,t,-1,k,f,{d},r{i % 7},1,2026-05-01 06:00:00+00" for i, d in enumerate(dags)]
    rows[1500] = "1,t,oops,k,f,only_on_a_rejected_row,r,1,2026-05-01 06:00:00+00"
    p = _csv(tmp_path, rows)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 4096)  # many batches, many dictionaries
    frame = xcomlab.load_export(p, errors="collect")
    kept = [d for i, d in enumerate(dags) if i != 1500]
    assert list(frame[S.DAG_ID].astype(str)) == kept
    assert list(frame[S.DAG_ID].cat.categories) == list(dict.fromkeys(kept))
    assert list(frame[S.RUN_ID].cat.categories) == list(dict.fromkeys(
        f"r{i % 7}" for i in range(3000) if i != 1500))
    assert xcomlab.load_report(frame).rows_rejected == 1


@pytest.mark.parametrize("batch_bytes", [4096, 1 << 24], ids=["batch-per-block", "grouped-blocks"])
def test_fast_path_rejections_and_first_use_order_across_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_bytes: int) -> None:
    # A row without dag_id is rejected by the fast path itself (no fallback): the words
    # only that row uses must not become categories, and row numbers stay exact.
    rng = random.Random(5)
    dags = [f"dag_{rng.randrange(40):02d}" for _ in range(3000)]
    rows = [f"1,t{i % 11},-1,k,f,{d},r{i % 7},1,2026-05-01 06:00:00+00" for i, d in enumerate(dags)]
    rows[2100] = "1,only_on_a_rejected_row,-1,k,f,,r,1,2026-05-01 06:00:00+00"
    p = _csv(tmp_path, rows)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(csvfile, "BATCH_BYTES", batch_bytes)
    frame = xcomlab.load_export(p, errors="collect")
    keep = [i for i in range(3000) if i != 2100]
    assert list(frame[S.DAG_ID].astype(str)) == [dags[i] for i in keep]
    assert list(frame[S.DAG_ID].cat.categories) == list(dict.fromkeys(dags[i] for i in keep))
    assert list(frame[S.TASK_ID].cat.categories) == list(dict.fromkeys(f"t{i % 11}" for i in keep))
    report = xcomlab.load_report(frame)
    assert [(r.row, r.column) for r in report.rejections] == [(2101, S.DAG_ID)]
    with pytest.raises(ExportFormatError, match="row 2101"):
        xcomlab.load_export(p)


def test_more_words_than_int16_codes_hold(tmp_path: Path) -> None:
    # run_id codes start as int16 and widen once a load sees more than 32767 runs.
    n = 40_000
    rows = [f"1,t,-1,k,f,d{i % 3},run_{i:05d},1,2026-05-01 06:00:00+00" for i in range(n)]
    frame = xcomlab.load_export(_csv(tmp_path, rows))
    assert frame[S.RUN_ID].cat.categories.size == n
    assert list(frame[S.RUN_ID].astype(str)[[0, 32767, 32768, n - 1]]) == [
        "run_00000", "run_32767", "run_32768", f"run_{n - 1:05d}"]
    assert list(frame[S.DAG_ID].cat.categories) == ["d0", "d1", "d2"]


def test_a_short_size_guess_grows_the_frame(tmp_path: Path) -> None:
    # The first MiB holds a few huge values, so the row estimate is far too small.
    big = '"' + "x" * 400_000 + '"'
    rows = [f"1,t,-1,k,f,d,r,{big},2026-05-01 06:00:00+00" for _ in range(3)]
    rows += [f"1,t{i},{i},k,f,d,r,{i},2026-05-01 06:00:0{i % 10}+00" for i in range(200_000)]
    p = _csv(tmp_path, rows)
    assert csvfile._rows_hint(p) < 100_000
    frame = xcomlab.load_export(p)
    assert len(frame) == 200_003
    assert frame[S.VALUE_BYTES].iloc[:3].tolist() == [400_000] * 3  # CSV quotes are not stored
    assert frame[S.MAP_INDEX].iloc[-1] == 199_999
    assert frame[S.TIMESTAMP].iloc[-1] == pd.Timestamp("2026-05-01 06:00:09", tz="UTC")
    assert int(frame[S.VALUE_BYTES].iloc[3:].sum()) == sum(len(str(i)) for i in range(200_000))
