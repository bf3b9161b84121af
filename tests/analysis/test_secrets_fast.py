"""The vectorized secret scan finds exactly what a plain per-value Python scan finds.

The reference here is the slowest possible one: every value decoded in Python and checked
by :func:`find_secrets`, no prefilter. The fast paths (``scan_batch`` over an Arrow
column, ``scan_secrets`` over a stream, the summary's ``secrets`` tables) must give the
same findings on the labelled corpus and on every bundled sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

import xcomlab
from analysis.test_secrets import NEGATIVES, POSITIVES, _synthetic_corpus
from xcomlab.analysis.secrets import scan_secrets
from xcomlab.ingest.secret_rules import candidates, find_secrets, scan_batch, secret_name
from xcomlab.summary import summarize_file, summarize_frame

SAMPLES = sorted(p for p in (ROOT / "data" / "samples").rglob("*")
                 if p.suffix in {".db", ".csv", ".sql", ".jsonl", ".parquet"} and p.is_file())
IDS = ["source_table", "dag_id", "task_id", "run_id", "key", "map_index"]


def _slow(values: list[str | bytes | None], keys: list[str | None]) -> list[tuple[int, str, str]]:
    """Every value through find_secrets, one by one (no prefilter)."""
    out = []
    for i, (v, k) in enumerate(zip(values, keys, strict=True)):
        if v is None:
            continue
        text = v if isinstance(v, str) else v.decode("utf-8", errors="replace")
        key = str(k) if k and secret_name(str(k)) else ""
        out.extend((i, kind, ev) for kind, ev in find_secrets(text, key))
    return out


def _corpus() -> tuple[list[str | bytes], list[str]]:
    pos, neg = _synthetic_corpus(range(6))
    both = pos + POSITIVES + neg + NEGATIVES
    return [v for _, v in both], [k for k, _ in both]


def test_batch_scan_equals_the_plain_scan_on_the_labelled_corpus() -> None:
    values, keys = _corpus()
    want = _slow(values, keys)
    assert len(want) > 50  # the corpus really holds secrets
    arr = pa.array([v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    words = sorted(set(keys))
    codes = np.array([words.index(k) for k in keys], dtype=np.int64)
    assert scan_batch(arr, codes, words) == want
    # the prefilter really filters: most rows never reach Python
    named = np.array([secret_name(k) for k in keys])
    assert len(candidates(arr, named)) < 0.5 * len(values)


def test_batch_scan_handles_nulls_text_and_chunks() -> None:
    values = [None, '{"a": "AKIAIOSFODNN7EXAMPLE"}', "", b"\x80\x04junk ghp_" + b"a" * 36]
    arr = pa.chunked_array([pa.array(values[:2], pa.binary()), pa.array(values[2:], pa.binary())])
    got = scan_batch(arr, np.array([0, -1, 0, 0]), ["return_value"])
    assert got == _slow(values, ["return_value", None, "return_value", "return_value"])
    assert [k for _, k, _ in got] == ["aws_access_key", "github_token"]
    text = pa.array([None if v is None else (v if isinstance(v, str) else v.decode("latin-1"))
                     for v in values[:3]], pa.string())
    assert scan_batch(text, 0, ["return_value"]) == got[:1]


def _plain_findings(path: Path) -> pd.DataFrame:
    frame = xcomlab.load_export(path, keep_values=True)
    values = frame["value"].tolist()
    keys = frame["key"].astype(str).tolist()
    recs = []
    for i, kind, ev in _slow(values, keys):
        row = frame.iloc[i]
        recs.append((str(row["source_table"]), str(row["dag_id"]), str(row["task_id"]),
                     str(row["run_id"]), str(row["key"]), int(row["map_index"]), kind, ev))
    return pd.DataFrame(recs, columns=[*IDS, "kind", "evidence"])


def _sorted(f: pd.DataFrame) -> list[tuple]:
    return sorted(f[[*IDS, "kind", "evidence"]].astype({"map_index": "int64"}).itertuples(index=False, name=None))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scan_secrets_equals_the_plain_scan_on_the_samples(path: Path) -> None:
    want = _plain_findings(path)
    report = scan_secrets(path)
    assert _sorted(report.findings) == _sorted(want)
    assert report.rows_scanned == len(report.frame)


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_summary_secrets_equal_the_plain_scan(path: Path) -> None:
    """The streamed summary's tables hold exactly the plain scan's findings (each XCom
    once per kind) and the frame path agrees with the file path."""
    want = _plain_findings(path)
    s = summarize_file(path)
    assert s.rows_scanned("secrets") == s.rows
    counts = want.groupby(["source_table", "dag_id", "task_id", "key", "kind"]).size()
    got = s.secrets["rows"]
    assert {tuple(map(str, k)): int(v) for k, v in got.items()} == \
        {tuple(map(str, k)): int(v) for k, v in counts.items()}
    evidence = want.groupby(["source_table", "dag_id", "task_id", "key", "kind"])["evidence"].min()
    assert {tuple(map(str, k)): v for k, v in s.secrets["evidence"].items()} == \
        {tuple(map(str, k)): v for k, v in evidence.items()}
    assert len(s.secret_rows) == min(len(want), len(s.secret_rows)) and len(s.secret_rows) == len(want)
    assert s.equals(summarize_frame(xcomlab.load_export(path, keep_values=True)))
    # a report passed in gives the same tables as scanning the value column
    frame = xcomlab.load_export(path)
    assert summarize_frame(frame, secrets=scan_secrets(path)).secrets.equals(s.secrets)


def test_truth_of_the_bundled_sample_is_in_the_summary() -> None:
    path = ROOT / "data" / "samples" / "af3" / "airflow.db"
    truth = json.loads((path.parent / "truth.json").read_text())["secrets"]
    s = summarize_file(path)
    rows = s.secret_rows.reset_index()
    flagged = set(rows[IDS].astype({"map_index": "int64"}).itertuples(index=False, name=None))
    planted = {(t["table"], t["dag_id"], t["task_id"], t["run_id"], t["key"], t["map_index"]) for t in truth}
    assert planted <= flagged


def test_a_summary_without_values_says_it_was_not_scanned() -> None:
    path = ROOT / "data" / "samples" / "af3" / "xcom_copy.csv"
    s = summarize_file(path, secrets=False, sample=False)
    assert s.rows_scanned("secrets") == 0 and s.rows_scanned("sample") == 0 and s.sample is None
    assert len(s.secrets) == 0 and s.rows > 0
    assert summarize_frame(xcomlab.load_export(path, sample_values=False)).equals(s)


def test_prefilter_needs_a_secret_word_in_a_key_not_in_a_value() -> None:
    """A word in a value (``"status": "passed"``) is no candidate; a key holding it is, also
    spelled with escapes (json.loads decodes ``pa\\u0073sword`` to ``password``)."""
    secret = "Zx8#kQ2!vR7&mW4p"
    cases = [
        (json.dumps({"status": "passed", "note": "token bucket"}), False),
        (json.dumps({"db_password": secret}), True),
        ('{"db_pa\\u0073sword": "' + secret + '"}', True),
        ('{"x\\"password" :\n "' + secret + '"}', True),
        (json.dumps([{"nested": {"Client-Secret": secret}}]), True),
    ]
    arr = pa.array([t.encode() for t, _ in cases], pa.binary())
    assert [bool(i in set(candidates(arr).tolist())) for i in range(len(cases))] == [c for _, c in cases]
    got = scan_batch(arr, 0, ["return_value"])
    assert got == _slow([t for t, _ in cases], ["return_value"] * len(cases))
    assert {row for row, _, _ in got} == {1, 2, 3, 4}


def test_every_rule_has_an_re2_filter() -> None:
    from xcomlab.ingest.secret_rules import _RULE_FILTERS, _RULES

    assert list(_RULE_FILTERS) == list(_RULES)


# Pieces of values where Python's rules and the RE2 filters could part ways: multi-byte
# characters next to a match or inside a bounded run, escapes in names, lists under names.
_PIECES = ["AKIA" + "Q" * 16, "ASIA" + "7" * 16, "é", "ü" * 70, "日本", "\u00a0", " ", '"', "\\u0070",
           "postgres://", "ü" * 100 + ":" + "pässwörd" * 3 + "@db", "user:s3cr3t_pw@host", "://a:b@c",
           "eyJhbGciOiJI.eyJzdWIiOiIx.", "abcdefghijklmnopqrstuvwx", "ghp_", "a" * 40, "github_pat_",
           "xoxb-", "1234567890-abc", "AIza", "sk_live_", "-----BEGIN ", "OPENSSH ", "PRIVATE KEY-----",
           '{"api_token": "', '{"pässword": "', '{"Passwort": ["', '", "session_key": ', "[1, ",
           '{"token": "', "Bearer ", "none", '"}', "]}", '{"auth_mode": "x"}', "Kelvin\u212a"]


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12),
       st.sampled_from(["return_value", "api_token", "password", None]))
@settings(max_examples=400, deadline=None)
def test_re2_filters_never_hide_a_finding(parts: list[str], key: str | None) -> None:
    """The batch scan (RE2 filters, then Python for what they leave open) finds exactly what
    every rule run on every value finds, on values built to trip the filters."""
    value = "".join(parts)
    values = [value, json.dumps({"v": value}), json.dumps({"v": value}, ensure_ascii=False)]
    keys = [key] * len(values)
    words = [key] if key is not None else []
    codes = np.array([0 if key is not None else -1] * len(values), dtype=np.int64)
    arr = pa.array([v.encode("utf-8", "surrogatepass") for v in values], pa.binary())
    assert scan_batch(arr, codes, words) == _slow(values, keys)
