"""The loader's parts: no process-wide side effects by default, the read-ahead thread,
the typed pieces of a batch and the frame builder."""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import xcomlab
from xcomlab import schema as S
from xcomlab.ingest import allocator
from xcomlab.ingest.classify import RawValues
from xcomlab.ingest.frame_builder import FrameBuilder
from xcomlab.ingest.normalize import BatchContext, RawBatch, build_batch
from xcomlab.ingest.pieces import BatchPieces, Coded
from xcomlab.ingest.pipeline import ReadAhead

ROOT = Path(__file__).resolve().parents[2]
HEAD = "dag_run_id,task_id,map_index,key,dag_result,dag_id,run_id,value,timestamp\n"
ROW = '7,load,{i},return_value,f,etl,run_{r},"{v}",2026-11-24 06:09:00+00\n'

# Counts glibc's mmapped chunks around one malloc of 24 MiB: 1 when malloc maps it
# (glibc's default below its dynamic threshold), 0 when it comes from the heap
# (threshold raised to 32 MiB by the tuning).
_PROBE = """
import ctypes, os, sys
import xcomlab
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks",
                                                "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
xcomlab.load_export(sys.argv[1], **eval(sys.argv[2]))
before = libc.mallinfo2().hblks
p = libc.malloc(24 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(ctypes.c_void_p(p))
"""


def _glibc() -> bool:
    return sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def _probe(env: dict[str, str], kwargs: str = "{}") -> int:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XCOMLAB_")}
    environ.update(env, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _PROBE,
                          str(ROOT / "data/samples/af3/xcom_copy.csv"), kwargs],
                         env=environ, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _glibc(), reason="glibc malloc only")
def test_malloc_is_left_alone_unless_asked() -> None:
    """A load changes no allocator setting by default; env var or argument opt in."""
    assert _probe({}) == 1
    assert _probe({"XCOMLAB_TUNE_MALLOC": "0"}) == 1
    assert _probe({"XCOMLAB_TUNE_MALLOC": "1"}) == 0
    assert _probe({}, "{'tune_malloc': True}") == 0
    assert _probe({"XCOMLAB_TUNE_MALLOC": "1"}, "{'tune_malloc': False}") == 1


def test_tune_requested_reads_the_variable() -> None:
    assert allocator.tune_requested(None, {}) is False
    assert allocator.tune_requested(None, {"XCOMLAB_TUNE_MALLOC": " Yes "}) is True
    assert allocator.tune_requested(False, {"XCOMLAB_TUNE_MALLOC": "1"}) is False
    assert allocator.tune_requested(True, {}) is True
    with pytest.raises(ValueError, match=r"XCOMLAB_TUNE_MALLOC='maybe'; expected 1 or 0"):
        allocator.tune_requested(None, {"XCOMLAB_TUNE_MALLOC": "maybe"})


def test_import_leaves_the_csv_field_limit_alone() -> None:
    code = ("import csv; before = csv.field_size_limit(); import xcomlab.ingest.csvfile, "
            "xcomlab.ingest.loader; print(before, csv.field_size_limit())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    before, after = out.stdout.split()
    assert before == after


def test_exact_reader_takes_huge_fields_and_restores_the_limit(tmp_path: Path) -> None:
    """A 300 kB value on the exact (csv module) path loads; the caller's limit comes back."""
    big = '{""pad"": ""' + "x" * 300_000 + '""}'
    text = HEAD + ROW.format(i=0, r=1, v=big) + "1,t\n" + ROW.format(i=1, r=1, v="[1]")
    p = tmp_path / "xcom.csv"
    p.write_text(text)
    old = csv.field_size_limit(1000)
    try:
        frame = xcomlab.load_export(p, errors="collect")
        assert csv.field_size_limit() == 1000
    finally:
        csv.field_size_limit(old)
    assert frame[S.VALUE_BYTES].tolist() == [len('{"pad": ""}') + 300_000, 3]
    assert xcomlab.load_report(frame).rejected_frame()["reason"].tolist() == ["field_count"]


def test_read_ahead_hands_over_items_then_the_error() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ExceptionGroup("reader failed", [ValueError("x")])

    got: list[int] = []
    ahead = ReadAhead(items(), depth=2)
    with pytest.raises(ExceptionGroup, match="reader failed"):
        for item in ahead:
            got.append(item)
    ahead.close()
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_close_stops_and_closes_the_reader() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            closed.set()

    ahead = ReadAhead(items(), depth=2)
    first = next(iter(ahead))
    ahead.close()
    assert first == 0
    assert closed.wait(5)
    assert not ahead._thread.is_alive()


def _raw(dags: list[str], first_row: int = 1) -> RawBatch:
    n = len(dags)
    values = [b"[1, 2]"] * n
    cols = {
        S.DAG_ID: pa.array(dags), S.TASK_ID: pa.array(["t"] * n), S.KEY: pa.array(["k"] * n),
        S.RUN_ID: pa.array([None] + ["r"] * (n - 1)), S.MAP_INDEX: pa.array([-1] * n),
        S.TIMESTAMP: pa.array(["2026-01-01 00:00:00+00"] * n),
    }
    head = pa.array(values, pa.binary())
    sizes = pa.array([len(v) for v in values], pa.int64())
    return RawBatch(cols, RawValues(head, sizes, complete=True), first_row)


def test_batch_pieces_are_typed() -> None:
    ctx = BatchContext("f.csv", "xcom", "2.3-2.11", collect=False)
    pieces, table = build_batch(_raw(["b", "a", "b"]), ctx)
    assert isinstance(pieces, BatchPieces)
    assert table is None and pieces.value is None
    assert len(pieces) == 3
    assert pieces.source_table == Coded(0, ["xcom"])
    assert pieces.dag_id.words == ["b", "a"]
    assert np.asarray(pieces.dag_id.codes).tolist() == [0, 1, 0]
    assert np.asarray(pieces.run_id.codes).tolist() == [-1, 0, 0]
    assert pieces.dag_run_id.values is None and pieces.dag_run_id.mask is None  # all null
    assert pieces.ref_uri is None
    assert pieces.airflow_schema == S.AIRFLOW_SCHEMAS.index("2.3-2.11")
    assert not hasattr(pieces, "__dict__")  # slots: no stray fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        pieces.dag_id = Coded(0, ["x"])  # type: ignore[misc]


def test_frame_builder_numbers_words_across_batches_and_truncates() -> None:
    ctx = BatchContext("f.csv", "xcom", "2.3-2.11", collect=False)
    builder = FrameBuilder(keep_values=False, capacity=2)  # grows on the way
    builder.add(build_batch(_raw(["b", "a"]), ctx)[0])
    builder.add(build_batch(_raw(["c", "a", "d"], first_row=3), ctx)[0])
    builder.truncate(2)  # forget the second batch and its new words
    builder.add(build_batch(_raw(["e", "b"], first_row=3), ctx)[0])
    frame = builder.frame()
    assert frame[S.DAG_ID].tolist() == ["b", "a", "e", "b"]
    assert list(frame[S.DAG_ID].cat.categories) == ["b", "a", "e"]
    assert frame[S.RUN_ID].isna().tolist() == [True, False, True, False]
    assert frame[S.DAG_RUN_ID].isna().all()
