"""Every table of a summary merges: random frames cut into random shards and merged in
random orders and groupings give the summary of the whole frame — secrets (counts,
evidence, the bounded row list), the largest rows (with ties), mapped fan-out, threshold
counts — and the value samples of the shards merge the same whatever the order."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from xcomlab import schema as S
from xcomlab.ingest.sample import SAMPLE_ATTR, ValueSample
from xcomlab.summary import (
    LARGEST_PER_TABLE,
    SECRET_ROWS_PER_GROUP,
    THRESHOLD_GRID,
    Summary,
    merge_all,
    summarize_frame,
)

_SECRETS = ['{"id": "AKIAIOSFODNN7EXAMPLE"}', '"postgresql://u:hunter2pass@h/db"',
            '{"gh": "ghp_' + "a1B2" * 9 + '"}', '"AKIAZZZZZZZZZZZZZZZZ and xoxb-123456789012-abcdefghij"']


def _frame(n: int, seed: int) -> pd.DataFrame:
    """A random XCom frame with values: few groups, many ties in size, planted secrets."""
    rng = np.random.default_rng(seed)
    pick = lambda options, p=None: [options[i] for i in rng.choice(len(options), n, p=p)]  # noqa: E731
    sizes_pool = np.array([0, 10, 700, 1024, 1025, 4096, 70_000, 2**20 + 1, 2**30 + 5], dtype=np.int64)
    sizes = sizes_pool[rng.integers(0, len(sizes_pool), n)]
    lost = rng.random(n) < 0.05
    values: list[bytes | None] = []
    for i in range(n):
        if lost[i]:
            values.append(None)
        elif rng.random() < 0.6:
            values.append(_SECRETS[int(rng.integers(0, len(_SECRETS)))].encode())
        else:
            values.append(b'{"rows": %d}' % int(rng.integers(0, 9)))
    keys = pick(["return_value", "api_token", "rows"], [0.6, 0.3, 0.1])
    frame = pd.DataFrame({
        S.SOURCE_TABLE: pick(["xcom", "_xcom_archive"], [0.8, 0.2]),
        S.DAG_ID: pick(["a", "b", "c"]),
        S.TASK_ID: pick(["t", "u"]),
        S.RUN_ID: [None if rng.random() < 0.05 else f"r{int(k)}" for k in rng.integers(0, 6, n)],
        S.KEY: keys,
        S.MAP_INDEX: np.where(rng.random(n) < 0.4, rng.integers(0, 5, n), -1),
        S.DAG_RUN_ID: pd.array(rng.integers(1, 50, n), dtype="Int64"),
        S.LOGICAL_DATE: pd.to_datetime(rng.integers(1.7e9, 1.71e9, n), unit="s", utc=True),
        S.TIMESTAMP: pd.to_datetime(rng.integers(1.7e9, 1.71e9, n), unit="s", utc=True),
        S.DAG_RESULT: pd.array([False] * n, dtype="boolean"),
        S.VALUE_BYTES: pd.arrays.IntegerArray(np.where(lost, 0, sizes), lost),
        S.SIZE_EXACT: ~lost,
        S.ENCODING: pick(["json", "pickle", "serde"]),
        S.REF_URI: pd.array([None] * n, dtype="string"),
        S.REF_BYTES: pd.array([None] * n, dtype="Int64"),
        S.INTERNAL: rng.random(n) < 0.1,
        S.HAS_NAN: rng.random(n) < 0.1,
        S.AIRFLOW_SCHEMA: ["3.3+"] * n,
        S.VALUE: values,
    })
    frame = frame.astype({c: t for c, t in S.DTYPES.items() if c in frame.columns})  # type: ignore[arg-type]
    frame.index = pd.RangeIndex(n)
    return frame


@pytest.mark.slow  # ~5 s an example: every shard scanned and merged in pandas
@settings(max_examples=25, deadline=None, database=None,
          phases=(Phase.explicit, Phase.generate))  # shrinking a frame takes minutes
@given(st.integers(min_value=0, max_value=420), st.integers(min_value=0, max_value=2**31),
       st.lists(st.integers(min_value=0, max_value=420), min_size=0, max_size=5),
       st.randoms(use_true_random=False))
def test_shards_merge_to_the_whole(n: int, seed: int, cuts: list[int], rnd: object) -> None:
    frame = _frame(n, seed)
    order = np.random.default_rng(seed).permutation(n)
    shuffled = frame.iloc[order]
    edges = [0, *sorted(min(c, n) for c in cuts), n]
    shards = [shuffled.iloc[a:b].copy() for a, b in itertools.pairwise(edges)]
    root = ValueSample(per_class=3, class_bytes=1 << 12, max_value_bytes=64, seed=seed)
    for i, shard in enumerate(shards):
        part = root.spawn(i)
        part.add(shard[S.VALUE].tolist())
        shard.attrs = {SAMPLE_ATTR: part}
    parts = [summarize_frame(s) for s in shards]
    in_order = functools.reduce(lambda a, b: a.merge(b), parts, Summary.empty())
    assert in_order.sample is not None
    frame.attrs = {SAMPLE_ATTR: in_order.sample}  # the whole frame's sample: its shards' keys
    want = summarize_frame(frame)
    assert in_order.equals(want)
    shuffled_parts = list(parts)
    rnd.shuffle(shuffled_parts)  # type: ignore[attr-defined]
    # random grouping: merge neighbours pairwise until one is left
    while len(shuffled_parts) > 1:
        i = rnd.randrange(len(shuffled_parts) - 1)  # type: ignore[attr-defined]
        shuffled_parts[i:i + 2] = [shuffled_parts[i].merge(shuffled_parts[i + 1])]
    assert shuffled_parts[0].equals(want)
    assert merge_all(reversed(parts)).equals(want)

    # the tables hold what they say, checked against the frame directly
    known = frame[frame[S.VALUE_BYTES].notna()]
    grid = want.grid_counts()
    assert grid == {lim: int((known[S.VALUE_BYTES] > lim).sum()) for _, lim in THRESHOLD_GRID}
    for table, rows in known.groupby(S.SOURCE_TABLE, observed=True):
        top = want.largest.xs(table, level=S.SOURCE_TABLE)
        assert len(top) == min(len(rows), LARGEST_PER_TABLE)
        assert top["value_bytes"].tolist() == sorted(rows[S.VALUE_BYTES].astype(int), reverse=True)[:len(top)]
    mapped = frame[frame[S.MAP_INDEX] >= 0].groupby([S.SOURCE_TABLE, S.DAG_ID, S.TASK_ID], observed=True)
    assert want.mapped["mapped_rows"].to_dict() == {k: int(v) for k, v in mapped.size().items()}
    assert want.mapped["max_map_index"].to_dict() == {k: int(v) for k, v in mapped[S.MAP_INDEX].max().items()}
    per_group = want.secret_rows.groupby(level=[0, 1, 2, 3, 4]).size()
    assert (per_group <= SECRET_ROWS_PER_GROUP).all()
    assert (per_group == want.secrets["rows"].clip(upper=SECRET_ROWS_PER_GROUP).loc[per_group.index]).all()
    assert want.rows_scanned("secrets") == n and want.rows_scanned("sample") == n
    if frame[S.VALUE].isin([v.encode() for v in _SECRETS]).any():  # a frame of few rows may hold none
        assert int(want.secrets["rows"].sum()) > 0


def test_a_group_with_many_findings_keeps_the_first_by_run_and_map_index() -> None:
    frame = _frame(420, 7)
    for col, word in ((S.SOURCE_TABLE, "xcom"), (S.DAG_ID, "a"), (S.TASK_ID, "t"), (S.KEY, "return_value")):
        frame[col] = pd.Categorical([word] * len(frame))  # one group: more findings than are kept
    s = summarize_frame(frame)
    big = s.secrets["rows"].idxmax()
    assert s.secrets.loc[big, "rows"] > SECRET_ROWS_PER_GROUP  # the cut is exercised
    kept = s.secret_rows.xs(big, level=[0, 1, 2, 3, 4], drop_level=True)
    assert len(kept) == SECRET_ROWS_PER_GROUP
    ids = list(kept.index)
    assert ids == sorted(ids, key=lambda t: (pd.isna(t[0]), str(t[0]), t[1]))


def test_value_sample_merge_is_associative_and_commutative() -> None:
    rng = np.random.default_rng(3)
    root = ValueSample(per_class=4, class_bytes=1 << 14, max_value_bytes=32, seed=5)
    parts = []
    for i in range(5):
        p = root.spawn(i)
        p.add([bytes(rng.integers(0, 255, int(k), dtype=np.uint8)) for k in rng.integers(1, 3000, 200)])
        parts.append(p)

    def same(a: ValueSample, b: ValueSample) -> bool:
        return a.classes() == b.classes() and (a.rows == b.rows).all() and (a.bytes == b.bytes).all()

    a, b, c, d, e = parts
    left = a.merge(b).merge(c).merge(d).merge(e)
    assert same(left, e.merge(d.merge(c.merge(b.merge(a)))))
    assert same(left, c.merge(a).merge(e.merge(b)).merge(d))
    assert same(a.merge(b), b.merge(a))
    # equal keys (as good as impossible from the generator): the bytes decide, either order
    x, y = ValueSample(per_class=1, seed=0), ValueSample(per_class=1, seed=0)
    x.add([b"aa"]); y.add([b"bb"])  # noqa: E702 - the same seed: the same key
    assert same(x.merge(y), y.merge(x))


def test_primary_keeps_the_live_table_even_where_it_has_no_group() -> None:
    """No secret (nor mapped task) in the live table, some in the archive: primary() works."""
    frame = _frame(200, 3)
    live = (frame[S.SOURCE_TABLE] == "xcom").to_numpy()
    frame.loc[live, S.VALUE] = b'{"rows": 1}'
    frame.loc[live, S.KEY] = "rows"
    frame.loc[live, S.MAP_INDEX] = -1
    s = summarize_frame(frame)
    p = s.primary()
    assert len(s.secrets) > 0 and len(p.secrets) == 0 and len(p.mapped) == 0
    assert p.rows == int(live.sum()) and p.tables() == ["xcom"]
    assert p.secrets.index.names == s.secrets.index.names


def test_primary_of_a_live_table_alone_is_the_summary_itself() -> None:
    """An export of the live table only: primary() drops nothing, so it copies nothing (at
    100M rows each copy of the tables is hundreds of MB)."""
    frame = _frame(200, 4)
    frame[S.SOURCE_TABLE] = pd.Categorical(["xcom"] * len(frame))
    s = summarize_frame(frame)
    assert s.tables() == ["xcom"] and s.primary() is s
    mixed = summarize_frame(_frame(200, 3))
    assert mixed.primary() is not mixed and mixed.primary().tables() == ["xcom"]


@pytest.mark.parametrize("name", ["secret_rows", "largest"])
def test_bounded_tables_merge_as_columns_like_a_multiindex_concat(name: str) -> None:
    """The bounded tables merge by concatenating their rows as columns; the result equals
    the canonical form of the MultiIndex concat they merged by before (nulls, ties and
    duplicate ids included)."""
    from xcomlab.summary import core

    frame = _frame(1200, 7)
    tables = [getattr(summarize_frame(frame.iloc[i:i + 240]), name) for i in range(0, 1200, 240)]
    tables.append(tables[1])  # duplicate ids and evidence
    assert sum(len(t) for t in tables) > (SECRET_ROWS_PER_GROUP if name == "secret_rows" else LARGEST_PER_TABLE)
    merged = core.merge_tables(name, tables)
    before = core._canonical(name, pd.concat([t for t in tables if len(t)]))
    pd.testing.assert_frame_equal(merged, before)
    assert merged.index.equals(before.index) and merged.index.names == before.index.names
    # the rows as columns sorted and cut by pandas (what secret_rows merged by before it
    # merged in code space): the same rows, order and dtypes
    rows = pd.concat([t for t in tables if len(t)]).reset_index()
    flat = core._cut(name, core._typed_flat(name, rows))
    pd.testing.assert_frame_equal(merged, flat)
    assert merged.index.equals(flat.index)
    if name == "secret_rows":
        assert merged.index.get_level_values(S.RUN_ID).isna().any()  # nulls sort last, coded -1
        assert (merged.index.codes[list(merged.index.names).index(S.RUN_ID)] == -1).any()
