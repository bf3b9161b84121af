"""``summarize_file(jobs=N)``: shards on row boundaries give the one-process summary exactly."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xcomlab.errors import ExportFormatError
from xcomlab.ingest.sample import row_keys
from xcomlab.ingest.split import csv_spans, parquet_spans
from xcomlab.summary import parallel, summarize_file

#: Workers are fresh interpreters (spawn): a second or more each.
pytestmark = pytest.mark.slow

HEADER = ["dag_run_id", "task_id", "map_index", "key", "dag_id", "run_id", "value", "timestamp",
          "dag_result"]


def _row(i: int, value: str | None = None) -> list[str]:
    if value is None:
        # quoted newlines and escaped quotes in values, of many sizes
        pad = "x" * (i % 300)
        value = f'{{"i": {i}, "text": "line one\nline \\"two\\"\r\nthree", "pad": "{pad}"}}'
    return [str(i // 7), f"task_{i % 5}", str(i % 3 - 1), "return_value", f"dag_{i % 4}",
            f"scheduled__2026-05-{1 + i % 28:02d}T00:00:00+00:00", value,
            f"2026-05-{1 + i % 28:02d} 00:01:55.{i % 999999:06d}+00", ""]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return path


@pytest.fixture
def workers_read_the_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the parallel read falls back to one process (a shard failed); and
    let this process read the first shard only, so the workers read every other one (a
    small file is otherwise read whole before a worker is up)."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a shard failed: the read fell back to one process")
    claim = parallel._claim
    taken: list[int | None] = []

    def first_only(*, front: bool) -> int | None:
        if taken:
            return None
        taken.append(claim(front=front))
        return taken[0]
    monkeypatch.setattr(parallel, "_one_process", fail)
    monkeypatch.setattr(parallel, "_claim", first_only)


def _same(a_path: Path, jobs: int, **options: object) -> None:
    one = summarize_file(a_path, progress=False, **options)  # type: ignore[arg-type]
    many = summarize_file(a_path, jobs=jobs, progress=False, **options)  # type: ignore[arg-type]
    assert one.equals(many)
    assert one.sample is not None and many.sample is not None
    assert one.sample.classes() == many.sample.classes()
    assert one.report == many.report


def _record_starts(path: Path) -> set[int]:
    data = path.read_bytes()
    starts, inside, pos = {0}, False, 0
    for pos, byte in enumerate(data):
        if byte == ord('"'):
            inside = not inside
        elif byte == ord("\n") and not inside:
            starts.add(pos + 1)
    return starts


def test_csv_cuts_fall_on_record_starts_even_inside_long_quoted_values(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(400)]
    rows[200] = _row(200, '"quoted"\n' * 20_000)  # a value straddling the middle of the file
    p = _write(tmp_path / "xcom.csv", rows)
    starts = _record_starts(p)
    for jobs in (2, 3, 7):
        spans = csv_spans(p, jobs)
        assert spans[0][0] == 0 and spans[-1][1] == p.stat().st_size
        assert all(a == prev for (_, prev), (a, _) in itertools.pairwise(spans))
        assert {a for a, _ in spans} <= starts


@pytest.mark.usefixtures("workers_read_the_shards")
@pytest.mark.parametrize("per_job", [1, 4])
def test_two_jobs_give_the_one_process_summary_on_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      per_job: int) -> None:
    monkeypatch.setattr(parallel, "SHARD_BYTES", 1)
    monkeypatch.setattr(parallel, "SHARDS_PER_JOB", per_job)  # 4: shards taken from both ends
    rows = [_row(i) for i in range(3000)]
    rows[1500] = _row(1500, '{"a": "' + 'q""\n' * 5000 + '"}')  # straddles the cut
    _same(_write(tmp_path / "xcom.csv", rows), jobs=2)


@pytest.mark.usefixtures("workers_read_the_shards")
def test_an_empty_shard_and_a_file_smaller_than_the_jobs(tmp_path: Path) -> None:
    big = _write(tmp_path / "xcom.csv", [_row(0), _row(1, "v" * 200_000), _row(2)])
    spans = csv_spans(big, 4)
    assert any(a == b for a, b in spans)  # records longer than a share leave shards empty
    _same(big, jobs=4)
    (tmp_path / "one").mkdir()
    _same(_write(tmp_path / "one" / "xcom.csv", [_row(0)]), jobs=3)


@pytest.mark.usefixtures("workers_read_the_shards")
def test_two_jobs_give_the_one_process_summary_on_parquet(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(3000)]
    cols = {name: [r[j] for r in rows] for j, name in enumerate(HEADER)}
    table = pa.table({**cols, "dag_run_id": pa.array([int(v) for v in cols["dag_run_id"]]),
                      "map_index": pa.array([int(v) for v in cols["map_index"]]),
                      "dag_result": pa.array([None] * len(rows), pa.bool_())})
    p = tmp_path / "xcom.parquet"
    pq.write_table(table, p, row_group_size=400)
    assert len(parquet_spans(p, 2)) == 2
    _same(p, jobs=2)


def test_a_bad_row_in_the_second_shard_is_named_as_one_process_names_it(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(2000)]
    rows[1700][7] = "not a time"
    rows[1800] = rows[1800][:3]  # and a short row: the fast parser gives up, the exact one reads
    p = _write(tmp_path / "xcom.csv", rows)
    assert csv_spans(p, 2)[1][0] < p.read_bytes().index(b"not a time")
    with pytest.raises(ExportFormatError) as one:
        summarize_file(p, progress=False)
    with pytest.raises(ExportFormatError) as two:
        summarize_file(p, jobs=2, progress=False)
    assert str(two.value) == str(one.value)
    assert ", line 5402, row 1801: expected 9 fields" in str(one.value)


@pytest.mark.usefixtures("workers_read_the_shards")
def test_collected_rejections_name_file_rows_and_lines(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_row(i) for i in range(2000)]
    rows[100][7] = "not a time"
    rows[1700][7] = "not a time either"
    p = _write(tmp_path / "xcom.csv", rows)
    one = summarize_file(p, errors="collect", progress=False)
    monkeypatch.setattr(parallel, "SHARD_BYTES", 1)  # 8 shards, renumbered in file order
    two = summarize_file(p, jobs=2, errors="collect", progress=False)
    assert one.report is not None and two.report is not None
    assert [(r.row, r.line) for r in two.report.rejections] == [(r.row, r.line) for r in one.report.rejections]
    assert [r.row for r in one.report.rejections] == [101, 1701]
    assert one.equals(two) and one.report == two.report


def test_a_rows_sample_key_is_its_ids_whatever_the_batch() -> None:
    ids = [(np.array([0, 1, 0]), ["a", "b"]), (0, ["t"]), (np.array([-1, 0, -1]), ["r"])]
    keys = row_keys(ids, np.array([-1, -1, -1]))
    alone = row_keys([(np.array([0]), ["b"]), (0, ["t"]), (np.array([0]), ["r"])], np.array([-1]))
    assert keys[0] == keys[2] != keys[1]
    assert keys[1] == alone[0]
    assert row_keys(ids, np.array([-1, -1, -1]), seed=1)[1] != keys[1]
    assert ((keys >= 0) & (keys < 1)).all()


def test_spans_read_in_small_blocks_add_up_to_the_whole_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from xcomlab.ingest import csvfile
    from xcomlab.summary.core import merge_all

    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 1 << 14)  # many blocks per shard: pages released
    monkeypatch.setattr(csvfile, "BATCH_BYTES", 1 << 16)
    # "\r\n" in values too (one cut by a block end: tests/ingest/test_csv.py)
    p = _write(tmp_path / "xcom.csv", [_row(i, f'{{"i": {i}, "t": "a\r\nb \\"c\\"", "p": "{"x" * i}"}}')
                                       for i in range(3000)])
    whole = summarize_file(p, progress=False)
    parts = [summarize_file(p, span=span, progress=False) for span in csv_spans(p, 3)]
    assert merge_all(parts).equals(whole)
    assert sum(s.rows for s in parts) == whole.rows == 3000


@pytest.mark.usefixtures("workers_read_the_shards")
def test_the_bar_counts_the_bytes_of_every_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

        def close(self) -> None:
            pass

    bar = Bar()
    monkeypatch.setattr(parallel, "_bar", lambda *args: bar)
    p = _write(tmp_path / "xcom.csv", [_row(i) for i in range(3000)])
    summarize_file(p, jobs=2, progress=True)
    assert bar.n > 0.6 * p.stat().st_size  # more than the larger shard alone


def test_auto_jobs_reads_a_large_file_in_two_processes_when_cores_are_idle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big, small = tmp_path / "big.csv", _write(tmp_path / "xcom.csv", [_row(0)])
    with big.open("wb") as f:
        f.truncate(65 << 20)  # sparse: no disk used
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert [parallel.resolve_jobs("auto", p) for p in (big, small)] == [2, 1]
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)  # a second process costs more than it gives
    assert parallel.resolve_jobs("auto", big) == 1
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    assert parallel.resolve_jobs("auto", "postgresql://host/db") == 1
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (6.0, 6.0, 6.0))
    assert parallel.resolve_jobs("auto", big) == 1
    assert parallel.resolve_jobs(3, big) == 3
    with pytest.raises(ValueError, match="jobs=0; expected a count"):
        parallel.resolve_jobs(0, big)


def test_cli_jobs_gives_the_same_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xcomlab.cli import main

    p = _write(tmp_path / "xcom.csv", [_row(i) for i in range(500)])
    outs = []
    for jobs in ("1", "2"):
        assert main(["profile", str(p), "--summary", "--json", "--jobs", jobs]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    with pytest.raises(SystemExit):
        main(["profile", str(p), "--jobs", "0"])
    assert "expected auto or a count of processes" in capsys.readouterr().err
