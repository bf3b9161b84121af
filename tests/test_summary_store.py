"""A saved summary reads back equal; a file of another version, tampered or cut is refused
with an error naming it; ``profile`` reads a saved summary as its SOURCE."""

from __future__ import annotations

import json
import shutil
import zipfile
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from xcomlab import schema as S
from xcomlab.cli import main
from xcomlab.summary import Summary, summarize_file
from xcomlab.summary.core import GROUPS
from xcomlab.summary.store import HEADER, SummaryFileError, is_summary_file, summary_header

SAMPLES = [ROOT / "data/samples/af3/airflow.db", ROOT / "data/samples/af3/xcom_copy.csv",
           ROOT / "data/samples/af2/xcom_pgdump.sql"]


@cache
def _summary(path: Path) -> Summary:
    return summarize_file(path)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_round_trip_equals(path: Path, tmp_path: Path) -> None:
    s = _summary(path)
    out = s.save(tmp_path / "s.xsum", source=str(path))
    assert is_summary_file(out) and not is_summary_file(path)
    back = Summary.load(out)
    assert back.equals(s)
    assert back.sample is not None and back.sample.classes() == s.sample.classes()
    head = summary_header(out)
    assert head["format_version"] == 1 and head["rows"] == s.rows and head["source"] == str(path)
    assert head["created"].endswith("+00:00") and "xcomlab_version" in head


def test_empty_and_sampleless_round_trip(tmp_path: Path) -> None:
    for s in (Summary.empty(), summarize_file(SAMPLES[1], secrets=False, sample=False)):
        assert Summary.load(s.save(tmp_path / "e.xsum")).equals(s)
        assert Summary.load(tmp_path / "e.xsum").sample is None


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> None:
    """Copy the zip ``src`` to ``dst`` with members replaced (bytes) or dropped (None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_tampered_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    good = _summary(SAMPLES[1]).save(tmp_path / "good.xsum")
    with zipfile.ZipFile(good) as z:
        header = json.loads(z.read(HEADER))
        keys = bytearray(z.read("tables/keys.parquet"))
    cases: dict[str, tuple[dict[str, bytes | None], str]] = {
        "version": ({HEADER: json.dumps({**header, "format_version": 99}).encode()}, "format version 99"),
        "missing": ({"tables/largest.parquet": None}, "members"),
        "changed": ({"tables/keys.parquet": bytes(keys[:-20]) + b"\0" * 20}, "keys.parquet"),
        "rows": ({HEADER: json.dumps({**header, "rows": 1}).encode()}, "rows"),
        "header": ({HEADER: b"{not json"}, "not JSON"),
        "format": ({HEADER: json.dumps({**header, "format": "other"}).encode()}, "summary format"),
    }
    for name, (change, match) in cases.items():
        bad = tmp_path / f"{name}.xsum"
        _rewrite(good, bad, change)
        with pytest.raises(SummaryFileError, match=match) as info:
            Summary.load(bad)
        assert str(bad) in str(info.value), name
    # cut short: not even a zip any more
    cut = tmp_path / "cut.xsum"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SummaryFileError, match=r"cut\.xsum"):
        Summary.load(cut)
    # an export is not a summary
    with pytest.raises(SummaryFileError, match="not a summary file"):
        Summary.load(SAMPLES[1])
    # an extra member (e.g. a pickle slipped in) is refused, not read
    extra = tmp_path / "extra.xsum"
    shutil.copy(good, extra)
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("payload.pkl", b"\x80\x04N.")
    with pytest.raises(SummaryFileError, match=r"payload\.pkl"):
        Summary.load(extra)


def test_profile_saves_and_reads_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "fleet.xsum"
    assert main(["profile", str(SAMPLES[0]), "--summary", "--save-summary", str(saved), "--json"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    # airflow.db is summarised by push-down: what crossed the wire describes that read, not the data
    assert streamed.pop("pushdown")["statements"] > 0
    # so does the prefilter's candidate count (the database's, not the summary's: a saved file has none)
    assert streamed["secrets"].pop("candidates") > 0
    assert is_summary_file(saved)
    assert main(["profile", str(saved), "--summary", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == streamed
    assert streamed["secrets"]["rows_scanned"] == _summary(SAMPLES[0]).rows
    assert sum(streamed["secrets"]["by_kind"].values()) == int(_summary(SAMPLES[0]).secrets["rows"].sum())
    # the summary file is recognised without --summary too: the full profile, its load
    # report (source, tables) kept in the file
    assert main(["profile", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "Largest values" in out and "airflow.db (sqlite)" in out


@pytest.mark.slow  # ~10 s each: generate, write, load with values, stream
@pytest.mark.parametrize(("fmt", "suffix", "airflow"), [
    ("psql_csv", "csv", "3.3"), ("pgdump", "sql", "2.10"), ("sqlite", "db", "3.3"),
    ("jsonl", "jsonl", "2.10"), ("parquet", "parquet", "3.3")])
def test_synthetic_exports_file_path_equals_frame_path(fmt: str, suffix: str, airflow: str,
                                                       tmp_path: Path) -> None:
    """Synthetic deployments with planted secrets and mapped tasks, in every writer's format:
    the streamed summary equals the frame's, exactly (rows, bytes, thresholds, secrets, largest,
    sample), and survives a save and load."""
    import xcomlab
    from xcomlab import schema as S
    from xcomlab import synth
    from xcomlab.summary import summarize_frame

    dep = synth.generate(seed=11, airflow=airflow, dags=5, days=15, max_fan_out=6, secrets=9)
    src = synth.write(dep, fmt, tmp_path / f"export.{suffix}")
    frame = xcomlab.load_export(src, keep_values=True)
    s = summarize_file(src, chunk_rows=333)
    assert s.equals(summarize_frame(frame))
    sizes = frame[S.VALUE_BYTES].dropna().astype("int64")
    assert s.rows == len(frame) and s.value_bytes == int(sizes.sum())
    assert s.grid_counts() == {lim: int((sizes > lim).sum()) for lim in s.grid_counts()}
    assert int(s.secrets["rows"].sum()) > 0 and s.rows_scanned("secrets") == s.rows
    assert int(s.mapped["mapped_rows"].sum()) == int((frame[S.MAP_INDEX] >= 0).sum())
    assert Summary.load(s.save(tmp_path / "s.xsum")).equals(s)


def test_a_file_saved_before_the_weekly_table_reads_back_without_it(tmp_path: Path) -> None:
    """``weekly`` is optional (xcomlab/summary/core.py OPTIONAL_TABLES): a file whose header
    does not list it reads back with it empty; every other table is still checked."""
    from xcomlab.summary import TABLES, store

    s = _summary(SAMPLES[0])
    flat = {n: getattr(s, n).reset_index() for n in TABLES if n != "weekly"}
    path = store.write_file(tmp_path / "old.xsum", flat, s.sample, {"source": "old", "rows": s.rows})
    back = Summary.load(path)
    assert not len(back.weekly) and len(s.weekly)
    assert all(getattr(back, n).equals(getattr(s, n)) for n in TABLES if n != "weekly")
    del flat["keys"]
    broken = store.write_file(tmp_path / "broken.xsum", flat, s.sample, {"source": "old", "rows": s.rows})
    with pytest.raises(SummaryFileError, match="keys"):
        Summary.load(broken)


def test_files_of_the_earlier_writer_and_odd_dictionaries_read_back_equal(tmp_path: Path) -> None:
    """A summary file is read level by level from Arrow (text dictionary-encoded, never a
    Python object per row): equal to the general path (pandas objects, ``set_index``,
    sort) on files the earlier writer made (plain text columns), on dictionaries with
    repeated, null or unused labels, several chunks and null groups."""
    import pyarrow as pa

    from xcomlab.summary import store
    from xcomlab.summary.core import TABLES, _canonical, _table_of_file

    s = _summary(SAMPLES[2])
    about = {"source": "", "rows": s.rows, "value_bytes": s.value_bytes, "source_tables": s.tables(),
             "rows_scanned": {}, "load_report": None}
    old = store.write_file(tmp_path / "old.xsum", {n: getattr(s, n).reset_index() for n in TABLES}, s.sample, about)
    assert Summary.load(old).equals(s)

    def general(name: str, arrow: pa.Table) -> pd.DataFrame:
        return _canonical(name, store.flat_frame(arrow).set_index(list(GROUPS[name])))

    labels = pa.array(["xcom", "xcom", None, "unused", "dag b", "dag a"])
    chunks = [pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 5], pa.int32()), labels),
              pa.DictionaryArray.from_arrays(pa.array([4, 2, 5, 0], pa.int32()), labels)]
    day = pd.to_datetime(["2026-01-02", None, "2026-01-01", "2026-01-02"] * 2, utc=True)
    arrow = pa.table({S.SOURCE_TABLE: pa.chunked_array([pa.array(["xcom"] * 4), pa.array(["xcom", None, "a", "a"])]),
                      S.DAG_ID: pa.chunked_array(chunks), "day": pa.array(day),
                      "rows": pa.array(range(8), pa.int64()), "value_bytes": pa.array(range(10, 18), pa.int64())})
    got, want = _table_of_file("daily", arrow), general("daily", arrow)
    assert got.equals(want) and got.index.equals(want.index)
    assert [list(lv) for lv in got.index.levels] == [list(lv) for lv in want.index.levels]
    assert (got.index.codes[1] == -1).sum() == 2  # the null labels: coded -1, not a level
