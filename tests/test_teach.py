"""Teaching helpers: the XCom rows a TaskFlow return value makes.

``xcomlab.teach`` is imported inside a fixture, not at collection time: importing a submodule
sets an attribute on the ``xcomlab`` package, which ``tests/test_public_api.py`` would see as an
uncurated public name until "teach" is added to its list of submodules.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import xcomlab
from xcomlab.backend import XComStore
from xcomlab.errors import XcomlabError


@pytest.fixture(scope="module")
def t() -> ModuleType:
    """The ``xcomlab.teach`` module."""
    return importlib.import_module("xcomlab.teach")


def test_plain_return_is_one_return_value_row(t: ModuleType) -> None:
    assert t.taskflow_xcoms([1, 2]) == [t.XComRow("return_value", -1, [1, 2])]


def test_none_writes_nothing(t: ModuleType) -> None:
    assert t.taskflow_xcoms(None) == []
    assert t.taskflow_xcoms(None, multiple_outputs=True) == []


def test_multiple_outputs_stores_the_dict_twice(t: ModuleType) -> None:
    rows = t.taskflow_xcoms({"a": 1, "b": [2]}, multiple_outputs=True, map_index=3)
    assert rows == [t.XComRow("a", 3, 1), t.XComRow("b", 3, [2]),
                    t.XComRow("return_value", 3, {"a": 1, "b": [2]})]


@pytest.mark.parametrize("result", [[1, 2], "ab", 42])
def test_multiple_outputs_needs_a_dict(t: ModuleType, result: object) -> None:
    with pytest.raises(t.TeachError, match="needs a dict result, got"):
        t.taskflow_xcoms(result, multiple_outputs=True)


def test_multiple_outputs_needs_str_keys(t: ModuleType) -> None:
    with pytest.raises(t.TeachError, match="needs str keys, got 1"):
        t.taskflow_xcoms({1: "x"}, multiple_outputs=True)


@pytest.mark.parametrize("bad", [-2, True, 1.0])
def test_bad_map_index_is_refused(t: ModuleType, bad: object) -> None:
    with pytest.raises(t.TeachError, match="map_index must be an int"):
        t.taskflow_xcoms(1, map_index=bad)


def test_teach_error_is_in_the_tree(t: ModuleType) -> None:
    assert issubclass(t.TeachError, XcomlabError) and issubclass(t.TeachError, TypeError)


def test_mapped_rows_carry_their_map_index(t: ModuleType) -> None:
    rows = t.mapped_xcoms([{"n": 0}, None, {"n": 2}], multiple_outputs=True)
    assert [(r.key, r.map_index) for r in rows] == [("n", 0), ("return_value", 0),
                                                   ("n", 2), ("return_value", 2)]


@given(n=st.integers(0, 20), keys=st.lists(st.text(min_size=1, max_size=5), unique=True,
                                           max_size=6))
def test_mapped_row_count_is_n_times_keys_plus_one(t: ModuleType, n: int, keys: list[str]) -> None:
    result = {k: i for i, k in enumerate(keys)}
    assert len(t.mapped_xcoms([result] * n, multiple_outputs=True)) == n * (len(keys) + 1)
    assert len(t.mapped_xcoms([result] * n)) == n


def test_rows_round_trip_through_the_store_and_load_back(t: ModuleType, tmp_path) -> None:
    db = tmp_path / "xcom.db"
    rows = t.mapped_xcoms([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], multiple_outputs=True)
    with XComStore(url=f"sqlite:///{db}") as store:
        for r in rows:
            store.set(r.key, r.value, dag_id="d", run_id="r", task_id="t", map_index=r.map_index)
        got = store.get(t.RETURN_KEY, dag_id="d", run_id="r", task_id="t", map_index=1)
    assert got == {"a": 2, "b": "y"}
    frame = xcomlab.load_export(db)
    assert len(frame) == 6
    assert sorted(frame["map_index"].unique().tolist()) == [0, 1]
    assert (frame.groupby("key").size().to_dict()) == {"a": 2, "b": 2, "return_value": 2}
