"""The code-space accumulator (:mod:`xcomlab.summary.accumulate`): batches folded in any
grouping give the grouped tables of the whole frame, nulls and ties included; the
streamed summary equals the frame's when every batch forces a fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.shapes import write_shape
from xcomlab import load_export
from xcomlab import schema as S
from xcomlab.summary import accumulate, summarize_file, summarize_frame
from xcomlab.summary.accumulate import Accumulator, _runs
from xcomlab.summary.core import GROUPED, frame_columns, grouped_parts


def _frame(n: int, seed: int) -> pd.DataFrame:
    """A random XCom frame with null run ids, keys and timestamps, and many repeats."""
    rng = np.random.default_rng(seed)
    pick = lambda options: [options[i] for i in rng.integers(0, len(options), n)]  # noqa: E731
    lost = rng.random(n) < 0.1
    stamps = pd.to_datetime(rng.integers(1.7e9, 1.703e9, n), unit="s", utc=True)
    frame = pd.DataFrame({
        S.SOURCE_TABLE: pick(["xcom", "_xcom_archive"]),
        S.DAG_ID: pick(["a", "b", "c", "d"]),
        S.TASK_ID: pick(["t", "u", "v"]),
        S.RUN_ID: [None if rng.random() < 0.1 else f"r{int(k)}" for k in rng.integers(0, 30, n)],
        S.KEY: [None if rng.random() < 0.05 else k for k in pick(["return_value", "k", "_x"])],
        S.MAP_INDEX: np.where(rng.random(n) < 0.3, rng.integers(0, 5, n), -1),
        S.DAG_RUN_ID: pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(1, 50, n)), dtype="Int64"),
        S.LOGICAL_DATE: stamps,
        S.TIMESTAMP: stamps.where(rng.random(n) > 0.05),
        S.DAG_RESULT: pd.array([False] * n, dtype="boolean"),
        S.VALUE_BYTES: pd.arrays.IntegerArray(rng.choice([0, 10, 700, 70_000, 2**21], n), lost),
        S.SIZE_EXACT: ~lost,
        S.ENCODING: pick(["json", "pickle"]),
        S.REF_URI: pd.array(np.where(rng.random(n) < 0.2, "s3://b/x", None), dtype="string"),
        S.REF_BYTES: pd.array(np.where(rng.random(n) < 0.2, 99, None), dtype="Int64"),
        S.INTERNAL: rng.random(n) < 0.1,
        S.HAS_NAN: rng.random(n) < 0.1,
        S.AIRFLOW_SCHEMA: ["3.3+"] * n,
    })
    frame = frame.astype({c: t for c, t in S.DTYPES.items() if c in frame.columns})  # type: ignore[arg-type]
    frame.index = pd.RangeIndex(n)
    return frame


@pytest.mark.parametrize("seed", range(4))
def test_batches_fold_to_the_whole(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accumulate, "FOLD_MIN_GROUPS", 7)  # fold after nearly every batch
    frame = _frame(900, seed)
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, len(frame), 6))
    acc, other = Accumulator(), None
    for i, part in enumerate(np.split(np.arange(len(frame)), cuts)):
        if i == 3:  # half the batches in a second accumulator over the same labels
            other = Accumulator(acc.labels)
        (acc if other is None else other).add(grouped_parts(frame_columns(frame.iloc[part])))
    assert other is not None
    acc.absorb(other)
    got = acc.frames()
    want = summarize_frame(frame)
    for name in GROUPED:
        assert got[name].equals(getattr(want, name)), name


def test_the_fold_sorts_and_cuts_the_same_with_or_without_one_key() -> None:
    rng = np.random.default_rng(1)
    codes = [rng.integers(-1, 3, 200).astype(np.int32) for _ in range(3)]
    small = _runs(codes, [3, 3, 3])  # one int64 key
    huge = _runs(codes, [2**40, 2**40, 3])  # past int64: a lexicographic sort of the levels
    for _, starts in (small, huge):
        assert len(starts) == len({tuple(int(c[i]) for c in codes) for i in range(200)})
    firsts = [[tuple(int(c[o]) for c in codes) for o in order[starts]] for order, starts in (small, huge)]
    assert firsts[0] == firsts[1] == sorted(firsts[0])


@pytest.mark.slow  # DuckDB writes the export: ~2 s a shape
@pytest.mark.parametrize("shape", ["many_dags", "mixed"])
def test_streamed_summary_equals_the_frames(shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accumulate, "FOLD_MIN_GROUPS", 50)  # many folds, of uneven parts
    path = tmp_path / "xcom.csv"
    write_shape(shape, 4000, path, threads=1)
    got = summarize_file(path, format="csv", chunk_rows=300)
    want = summarize_frame(load_export(path, format="csv", keep_values=True))
    assert got.equals(want)
    assert len(got.run_keys) > 500


def test_small_tables_fold_as_their_rows_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The findings and largest rows of many batches fold into the running summary at
    uneven intervals (:data:`~xcomlab.summary.stream.MAX_PENDING`, a quarter of its rows):
    the same summary as the frames', planted secrets and all."""
    from xcomlab.summary import stream

    monkeypatch.setattr(stream, "PENDING", 2)
    monkeypatch.setattr(stream, "MAX_PENDING", 5)
    path = tmp_path / "xcom.csv"
    write_shape("mixed", 4000, path, threads=1)
    got = summarize_file(path, format="csv", chunk_rows=100)
    want = summarize_frame(load_export(path, format="csv", keep_values=True))
    assert got.equals(want)
    assert len(got.secret_rows) >= 20  # one planted secret in 200 rows


def test_folded_state_is_narrow_and_counts_past_int32_stay_exact() -> None:
    """Between folds a table keeps codes in the narrowest type and counts as int32; a sum
    past 2**31 - 1 (two batches of 2**31 - 1 rows in one group) comes back int64 and exact."""
    table = accumulate.Table("daily")
    big = np.int64(2**31 - 1)
    for _ in range(2):
        codes = [np.zeros(1, np.int32), np.array([3], np.int32), np.array([40_000], np.int32)]
        table.add(codes, {"rows": np.array([big]), "value_bytes": np.array([big * 10])}, [2, 200, 50_000])
        table.fold([2, 200, 50_000])
    assert [c.dtype for c in table.codes] == [np.int8, np.int16, np.int32]
    assert table.values["rows"].dtype == np.int64 and table.values["rows"].tolist() == [2 * big]
    small = accumulate.Table("daily")
    small.add([np.zeros(2, np.int32)] * 3, {"rows": np.array([5, 6]), "value_bytes": np.array([1, 2])},
              [1, 1, 1])
    small.fold([1, 1, 1])
    assert small.values["rows"].dtype == np.int32 and small.values["rows"].tolist() == [11]
    assert small.values["value_bytes"].dtype == np.int32  # any measure whose groups all fit
    other = accumulate.Table("daily")  # two int32 states absorbed: summed in int64
    other.add([np.zeros(1, np.int32)] * 3, {"rows": np.array([big]), "value_bytes": np.array([1])}, [1, 1, 1])
    other.fold([1, 1, 1])
    for _ in range(2):  # a table owns what it is given (a fold empties it): copies
        small.add(list(other.codes), dict(other.values), [1, 1, 1])
    small.fold([1, 1, 1])
    assert small.values["rows"].tolist() == [11 + 2 * big]


def test_narrowed_minima_and_maxima_stay_exact_across_folds() -> None:
    """Minima and maxima narrowed to int32 in one fold meet int64 values in the next: the
    fold takes them in int64 (a maximum past 2**31, a minimum's int64 "none", timestamps)."""
    sizes = [1, 1, 1]
    table = accumulate.Table("runs")
    ns = np.int64(1_700_000_000) * 10**9

    def part(dag_run_id: int, first: int, last: int) -> dict[str, np.ndarray]:
        return {"rows": np.array([1]), "value_bytes": np.array([10]), "first_timestamp": np.array([first]),
                "last_timestamp": np.array([last]), "dag_run_id": np.array([dag_run_id])}

    table.add([np.zeros(1, np.int32)] * 3, part(7, ns + 5, ns + 9), sizes)
    table.fold(sizes)
    assert table.values["dag_run_id"].dtype == np.int32
    assert table.values["first_timestamp"].dtype == np.int64
    table.add([np.zeros(1, np.int32)] * 3, part(2**40, ns + 1, -1), sizes)  # -1: no timestamp
    table.fold(sizes)
    assert table.values["dag_run_id"].tolist() == [2**40]
    assert table.values["first_timestamp"].tolist() == [ns + 1]
    assert table.values["last_timestamp"].tolist() == [ns + 9]
    assert table.values["value_bytes"].tolist() == [20]


@pytest.mark.parametrize("huge", [False, True])
def test_a_fold_merges_into_sorted_groups_as_a_group_by_would(huge: bool) -> None:
    """Batches of random groups folded one by one (a merge into the running groups, or with
    levels too many for an int64 key a sort of both) equal a group-by of all of them: sums
    past int32 in groups both sides hold and in new ones, minima and maxima, a level whose
    labels grow past int8 between folds, nulls first."""
    rng = np.random.default_rng(5)
    table = accumulate.Table("runs")
    rows: list[pd.DataFrame] = []
    for step in range(6):
        n = 400
        sizes = [2, 50 + 60 * step, 2**62 if huge else 30]  # labels seen so far, per level
        codes = [rng.integers(-1, s, n).astype(np.int32) for s in (2, 50 + 60 * step, 30)]
        big = rng.random(n) < 0.05
        values = {"rows": np.where(big, 2**31 - 5, rng.integers(1, 4, n)).astype(np.int64),
                  "value_bytes": rng.integers(0, 100, n).astype(np.int64),
                  "first_timestamp": rng.integers(0, 2**40, n).astype(np.int64),
                  "last_timestamp": rng.integers(-1, 2**40, n).astype(np.int64),
                  "dag_run_id": np.where(big, 2**33, rng.integers(-1, 9, n)).astype(np.int64)}
        rows.append(pd.DataFrame({**{f"l{i}": c.astype(np.int64) for i, c in enumerate(codes)}, **values}))
        table.add([c.copy() for c in codes], {k: v.copy() for k, v in values.items()}, sizes)
        table.fold(sizes)
        key = accumulate._radix([c.astype(np.int64) for c in table.codes], [2, 400, 30])
        assert np.all(np.diff(key) > 0)  # sorted, one row a group
    assert table.codes[1].dtype == np.int16  # 350 labels on the last folds
    want = pd.concat(rows).groupby(["l0", "l1", "l2"], sort=True).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"), dag_run_id=("dag_run_id", "max"))
    got = pd.DataFrame({**{f"l{i}": c.astype(np.int64) for i, c in enumerate(table.codes)},
                        **{k: v.astype(np.int64) for k, v in table.values.items()}}).set_index(["l0", "l1", "l2"])
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert table.values["rows"].dtype == np.int64 and table.values["value_bytes"].dtype == np.int32
