"""Summaries: the streamed file path equals the frame path, merges are associative, and
quantiles read from the size buckets stay within the stated bound."""

from __future__ import annotations

import itertools
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xcomlab
from xcomlab import schema as S
from xcomlab.ingest.batches import iter_frames
from xcomlab.summary import (
    QUANTILE_RELATIVE_ERROR,
    Summary,
    limit_targets,
    merge_all,
    summarize_file,
    summarize_frame,
)
from xcomlab.summary.histogram import EDGES, RATIO, bucket_of, quantile_from_counts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "data/samples/af3/airflow.db", ROOT / "data/samples/af3/xcom_copy.csv",
           ROOT / "data/samples/af2/xcom_pgdump.sql"]


@cache
def _frame(path: Path) -> pd.DataFrame:
    """The frame with its values: the summary's secret tables are scanned from them."""
    return xcomlab.load_export(path, keep_values=True)


# ------------------------------------------------------------------ the bound


def test_bucket_edges_give_the_stated_bound() -> None:
    assert EDGES[0] == 0 and np.all(np.diff(EDGES) > 0)
    highest = EDGES[2:] - 1
    assert float((highest / EDGES[1:-1]).max()) <= RATIO * (1 + 1e-12)
    assert abs(QUANTILE_RELATIVE_ERROR - 0.0198) < 1e-4
    assert QUANTILE_RELATIVE_ERROR <= 0.02
    # every size lands in the bucket whose integers hold it; small sizes are exact
    sizes = np.array([0, 1, 25, 26, 27, 1000, 49344, 49345, 2**40 + 7, 2**63 - 1], dtype=np.int64)
    b = bucket_of(sizes)
    assert np.all(EDGES[b] <= sizes)
    assert np.all((b + 1 >= len(EDGES)) | (sizes < EDGES[np.minimum(b + 1, len(EDGES) - 1)]))
    assert list(bucket_of(np.arange(26))) == list(range(26))


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=400),
       st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0]))
def test_quantiles_from_buckets_within_bound(sizes: list[int], q: float) -> None:
    """Against pandas' exact quantile (linear interpolation) of the same sizes."""
    arr = np.array(sizes, dtype=np.int64)
    exact = float(pd.Series(arr, dtype="float64").quantile(q))
    buckets, counts = np.unique(bucket_of(arr), return_counts=True)
    (est,) = quantile_from_counts(buckets, counts, (q,), float(arr.min()), float(arr.max()))
    if exact == 0:
        assert est == 0
    else:
        assert abs(est - exact) / exact <= QUANTILE_RELATIVE_ERROR + 1e-12


def test_quantile_error_measured_on_heavy_tailed_sizes() -> None:
    """A million log-normal sizes (30 B – 200 KB like real XComs): the worst error seen."""
    rng = np.random.default_rng(13)
    arr = np.clip(rng.lognormal(7, 2, 1_000_000), 30, 200_000).astype(np.int64)
    buckets, counts = np.unique(bucket_of(arr), return_counts=True)
    qs = tuple(np.linspace(0.001, 0.999, 999))
    est = np.array(quantile_from_counts(buckets, counts, qs, float(arr.min()), float(arr.max())))
    exact = np.quantile(arr.astype(np.float64), qs)
    worst = float(np.max(np.abs(est - exact) / exact))
    assert worst <= QUANTILE_RELATIVE_ERROR
    assert worst > 0.001  # the buckets are really used: not a copy of the data


# ------------------------------------------------------------------ equality


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_file_summary_equals_frame_summary(path: Path) -> None:
    frame = _frame(path)
    streamed = summarize_file(path)
    assert streamed.equals(summarize_frame(frame))
    assert streamed.rows == len(frame)
    assert streamed.value_bytes == int(frame[S.VALUE_BYTES].sum())
    # small batches: many per-batch summaries merged, still the same
    assert summarize_file(path, chunk_rows=97).equals(streamed)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_threshold_counts_exact(path: Path) -> None:
    frame = _frame(path)
    sizes = frame[S.VALUE_BYTES].dropna().astype("int64").to_numpy()
    got = summarize_file(path).threshold_counts()
    assert got == {t: int((sizes > lim).sum()) for t, lim in limit_targets()}
    assert "policy_48kb" in got and dict(limit_targets())["policy_48kb"] == 49344


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_per_dag_sizes_match_profile(path: Path) -> None:
    frame = _frame(path)
    want = xcomlab.profile(frame).by_dag
    got = summarize_file(path).primary().sizes().loc[want.index]
    assert got["rows"].tolist() == want["rows"].tolist()
    assert got["value_bytes"].tolist() == want["value_bytes"].tolist()
    assert got["max_bytes"].tolist() == want["max_bytes"].tolist()
    for col in ("p50_bytes", "p90_bytes", "p99_bytes"):
        rel = (got[col] - want[col]).abs() / want[col]
        assert (rel <= QUANTILE_RELATIVE_ERROR + 1e-12).all(), (col, rel.max())


def test_tables_hold_groups_not_rows() -> None:
    frame = _frame(SAMPLES[0])
    s = summarize_frame(frame)
    assert len(s.keys) == frame.groupby([S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID, S.KEY],
                                        observed=True).ngroups
    assert len(s.runs) == frame.groupby([S.SOURCE_TABLE, S.DAG_ID, S.RUN_ID], observed=True).ngroups
    assert int(s.daily["rows"].sum()) == len(frame)
    first = frame.groupby([S.SOURCE_TABLE, S.DAG_ID, S.RUN_ID], observed=True)[S.TIMESTAMP].min()
    got = s.runs["first_timestamp"].to_dict()
    assert got == {tuple(map(str, k)): v for k, v in first.items()}
    cls = s.classes.groupby(level=S.ENCODING)["rows"].sum()
    want = frame[S.ENCODING].astype(object).value_counts()
    assert cls.to_dict() == want.to_dict()
    for level, want_rows in (("reference", frame[S.REF_URI].notna().sum()),
                             (S.HAS_NAN, frame[S.HAS_NAN].sum()), (S.INTERNAL, frame[S.INTERNAL].sum())):
        flag = s.classes.index.get_level_values(level).to_numpy(dtype=bool)
        assert int(s.classes["rows"][flag].sum()) == int(want_rows), level


def test_restarted_table_is_not_counted_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed last line makes the fast CSV reader give up after it handed over
    batches; the exact re-read replaces them (with reads this small, a long value first
    makes the fast reader start again with bigger reads: one attempt more)."""
    from xcomlab.ingest import csvfile

    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 1 << 16)  # many small batches
    monkeypatch.setattr(csvfile, "BATCH_BYTES", 1 << 17)
    text = SAMPLES[1].read_text(encoding="utf-8")
    bad = tmp_path / "xcom.csv"
    bad.write_text(text + 'only,"three",fields\n', encoding="utf-8")
    attempts = sorted({b.attempt for b in iter_frames(bad, errors="collect")})
    assert attempts == list(range(len(attempts))) and len(attempts) >= 2
    frame = xcomlab.load_export(bad, errors="collect", keep_values=True)
    assert xcomlab.load_report(frame).rows_rejected == 1
    assert summarize_file(bad, errors="collect").equals(summarize_frame(frame))
    with pytest.raises(xcomlab.errors.ExportFormatError, match=r"xcom\.csv"):
        summarize_file(bad)


# ------------------------------------------------------------------ merge


def _split(frame: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    edges = [0, *sorted(min(c, len(frame)) for c in cuts), len(frame)]
    return [frame.iloc[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=25, deadline=None, database=None)
@given(st.lists(st.integers(min_value=0, max_value=10_020), min_size=2, max_size=2),
       st.randoms(use_true_random=False))
def test_merge_is_associative_and_matches_the_union(cuts: list[int], rnd: object) -> None:
    frame = _frame(SAMPLES[0]).copy()
    frame.attrs = {}  # a slice carries the whole frame's value sample: merged thrice, it would triple
    order = np.random.default_rng(rnd.randrange(2**32)).permutation(len(frame))  # type: ignore[attr-defined]
    shuffled = frame.iloc[order]
    a, b, c = (summarize_frame(part) for part in _split(shuffled, cuts))
    left = a.merge(b.merge(c))
    assert left.equals(a.merge(b).merge(c))
    assert left.equals(c.merge(a).merge(b))  # commutative
    assert left.equals(summarize_frame(frame))  # summary(f1 ∪ f2 ∪ f3)
    assert left.equals(merge_all([c, b, a]))


def test_empty_is_the_identity() -> None:
    s = summarize_frame(_frame(SAMPLES[2]))
    assert s.merge(Summary.empty()).equals(s) and Summary.empty().merge(s).equals(s)
    assert summarize_frame(S.empty_frame()).rows == 0


def test_two_deployments_merge() -> None:
    """An Airflow 3 SQLite and an Airflow 2 pg_dump in one fleet view."""
    a, b = summarize_file(SAMPLES[0]), summarize_file(SAMPLES[2])
    both = a.merge(b)
    assert both.rows == a.rows + b.rows and both.value_bytes == a.value_bytes + b.value_bytes
    over = both.threshold_counts()
    assert over == {t: a.threshold_counts()[t] + b.threshold_counts()[t] for t in over}
    assert math.isclose(both.sizes()["share"].sum(), 1.0)


def test_iter_frames_gives_the_loaders_rows() -> None:
    """The per-batch frames hold exactly the rows load_export builds, table by table."""
    path = SAMPLES[0]
    items = list(iter_frames(path, chunk_rows=500))
    frames = [b.frame for b in items if len(b.frame)]
    assert len(frames) > 3  # really batched
    for f in frames:
        S.validate_frame(f)
    whole = _frame(path)
    joined = pd.concat([f.astype({c: object for c in (S.SOURCE_TABLE, S.DAG_ID)}) for f in frames])
    assert len(joined) == len(whole)
    assert int(joined[S.VALUE_BYTES].sum()) == int(whole[S.VALUE_BYTES].sum())
    reports = [b.report for b in items if b.report is not None]
    assert [r.rows_loaded for r in reports] == [t.rows_loaded for t in xcomlab.load_report(whole).tables]


def test_export_archived_directory_streams_too() -> None:
    """A directory of `airflow db export-archived` files (several tables) summarises the same."""
    path = ROOT / "data/samples/af2/export_archived"
    assert summarize_file(path).equals(summarize_frame(xcomlab.load_export(path, keep_values=True)))


def test_quantiles_of_many_groups_equal_one_group_at_a_time() -> None:
    """``quantiles_by_group`` (every group in one pass, as ``Summary.sizes`` reads them) gives
    what ``quantile_from_counts`` gives group by group: empty groups, zero counts, unknown
    or clamping extremes, one row, many rows."""
    from xcomlab.summary.histogram import quantile_from_counts, quantiles_by_group

    rng = np.random.default_rng(5)
    qs = (0.0, 0.5, 0.9, 0.99, 1.0)
    groups, buckets, counts, lows, highs, want = [], [], [], [], [], []
    for g in range(300):
        k = int(rng.integers(0, 6))
        b = rng.choice(400, size=k, replace=False)
        c = rng.integers(0, 4, size=k) * (rng.random(k) < 0.8)
        lo = np.nan if rng.random() < 0.3 else float(rng.integers(0, 50))
        hi = np.nan if rng.random() < 0.3 else float(rng.integers(50, 10**6))
        groups += [g] * k
        buckets += b.tolist()
        counts += c.tolist()
        lows.append(lo)
        highs.append(hi)
        want.append(quantile_from_counts(b, c, qs, None if np.isnan(lo) else lo, None if np.isnan(hi) else hi))
    order = rng.permutation(len(groups))  # entries in any order
    got = quantiles_by_group(np.array(groups)[order], np.array(buckets)[order], np.array(counts)[order], qs,
                             np.array(lows), np.array(highs))
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float64))
    assert np.isnan(got).any() and (~np.isnan(got)).sum() > 500
