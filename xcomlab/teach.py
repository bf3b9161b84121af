"""Teach: which XCom rows a TaskFlow task's return value makes, without Airflow installed.

Used by ``notebooks/xcom_fundamentals.ipynb`` to push, through the reference backend, the
same rows Airflow would write. The rules follow docs/airflow-xcom.md#core-keys (rows
Airflow writes by itself) and docs/airflow-xcom.md#mapping (dynamic task mapping):

* a task that returns ``None`` writes no row;
* any other result is stored under ``return_value`` (``do_xcom_push=True``, the default);
* with ``multiple_outputs=True`` the result must be a dict with str keys: one row per key
  **plus** the whole dict as ``return_value``, so the data is stored twice;
* a mapped task instance writes its rows at its own ``map_index`` (``-1`` when not mapped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from xcomlab.errors import XcomlabError

__all__ = ["RETURN_KEY", "TeachError", "XComRow", "mapped_xcoms", "taskflow_xcoms"]

#: Airflow's ``XCOM_RETURN_KEY`` (docs/airflow-xcom.md#basexcom-3).
RETURN_KEY: Final = "return_value"


class TeachError(XcomlabError, TypeError):
    """A result that a TaskFlow task could not push as asked (e.g. multiple_outputs on a list)."""


class XComRow(NamedTuple):
    """One XCom a task instance writes: its ``key``, ``map_index`` and ``value``."""

    key: str
    map_index: int
    value: Any


def taskflow_xcoms(result: Any, *, multiple_outputs: bool = False,
                   map_index: int = -1) -> list[XComRow]:
    """The XCom rows one TaskFlow task instance writes when it returns ``result``.

    Parameters
    ----------
    result
        What the ``@task`` function returned.
    multiple_outputs
        As ``@task(multiple_outputs=True)``: also push each dict item under its own key.
    map_index
        The task instance's map index (``-1``: not mapped).

    Returns
    -------
    list of XComRow
        Per-key rows first (in the dict's order), then ``return_value``; empty for ``None``.

    Raises
    ------
    TeachError
        ``multiple_outputs`` with a result that is not a dict with str keys.

    Examples
    --------
    >>> [r.key for r in taskflow_xcoms({"a": 1, "b": 2}, multiple_outputs=True)]
    ['a', 'b', 'return_value']
    >>> taskflow_xcoms(None)
    []
    """
    if not isinstance(map_index, int) or isinstance(map_index, bool) or map_index < -1:
        msg = f"map_index must be an int ≥ -1 (-1 when not mapped), got {map_index!r}"
        raise TeachError(msg)
    if result is None:
        return []
    rows: list[XComRow] = []
    if multiple_outputs:
        if not isinstance(result, Mapping):
            msg = (f"multiple_outputs=True needs a dict result, got {type(result).__name__}; "
                   "return a dict or drop multiple_outputs")
            raise TeachError(msg)
        bad = [k for k in result if not isinstance(k, str)]
        if bad:
            msg = f"multiple_outputs=True needs str keys, got {bad[0]!r}; XCom keys are strings"
            raise TeachError(msg)
        rows.extend(XComRow(k, map_index, v) for k, v in result.items())
    rows.append(XComRow(RETURN_KEY, map_index, result))
    return rows


def mapped_xcoms(results: Sequence[Any], *, multiple_outputs: bool = False) -> list[XComRow]:
    """The rows of a mapped task whose instance ``i`` returned ``results[i]``.

    Each map index writes its own rows (docs/airflow-xcom.md#mapping), so the row count is
    the sum over instances of :func:`taskflow_xcoms`.

    Examples
    --------
    >>> len(mapped_xcoms([{"a": 1}, {"a": 2}, None], multiple_outputs=True))
    4
    """
    return [row for i, r in enumerate(results)
            for row in taskflow_xcoms(r, multiple_outputs=multiple_outputs, map_index=i)]
