"""Complexity: how the time of each XCom query grows with the rows in the ``xcom`` table.

:func:`measure_complexity` builds Airflow 3's ``xcom`` table (DDL, primary key and both
indexes from :mod:`xcomlab.airflow_tables`, docs/airflow-xcom.md#schema-3) in a real database,
grows it through the requested sizes with server-side ``INSERT … SELECT``, and at each size
times the queries Airflow runs (median of warm repeats) and keeps their ``EXPLAIN`` plans.
Each query's times are then fitted both as ``a·log N + b`` and as ``a·N + b``; the better
fit says whether the query walks a B-tree (lookups by primary key or
``idx_xcom_task_instance``) or scans (``airflow db clean``'s ``timestamp`` filter has no
index, docs/airflow-xcom.md#db-clean).

Rows are laid out like a deployment of 100 DAGs: each run writes 10 unmapped tasks and one
task mapped over 10 indexes (20 rows), runs are an hour apart per DAG, and ``timestamp``
grows with the row number (one second apart).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab.airflow_tables import create_statements
from xcomlab.errors import (
    InsufficientDataError,
    NotFittedError,
    ParameterError,
    UnsupportedSourceError,
)
from xcomlab.randomness import seed_of

__all__ = ["QUERIES", "ComplexityResult", "fit_growth", "measure_complexity"]

_DAGS: Final = 100
_ROWS_PER_RUN: Final = 20
_UNMAPPED: Final = 10
_T0: Final = 1_767_225_600  # 2026-01-01T00:00:00Z
_MIN_LINEAR_EXPONENT: Final = 0.25
_COLUMNS: Final = ["dag_run_id", "task_id", "map_index", "key", "dag_result", "dag_id", "run_id",
                   "value", "timestamp"]

#: The queries timed, as Airflow issues them (``{k}``/``{ts}``: quoted ``key``/``timestamp``).
QUERIES: Final[dict[str, str]] = {
    # XComModel lookups by primary key (dag_run_id, task_id, map_index, key), docs/airflow-xcom.md#schema-3.
    "get_pk": "SELECT value FROM xcom WHERE dag_run_id = :run AND task_id = :task "
              "AND map_index = :mi AND {k} = :key",
    # get_one / the execution API's GET by task instance: idx_xcom_task_instance + key.
    "get_task_instance": "SELECT value FROM xcom WHERE dag_id = :dag AND task_id = :task "
                         "AND run_id = :run_id AND map_index = :mi AND {k} = :key",
    # XComModel.get_many(run_id=, dag_ids=, key=) without task_ids (docs/airflow-xcom.md#basexcom-3).
    "get_many_run": "SELECT task_id, map_index, value FROM xcom WHERE dag_id = :dag "
                    "AND run_id = :run_id AND {k} = :key ORDER BY {ts} DESC",
    # A mapped task's values in one pull (3.3 get_all / the slice endpoint, docs/airflow-xcom.md#mapping).
    "fan_in": "SELECT map_index, value FROM xcom WHERE dag_id = :dag AND task_id = 'mapped' "
              "AND run_id = :run_id AND {k} = :key ORDER BY map_index",
    # airflow db clean's selection: WHERE timestamp < :clean_before_timestamp (docs/airflow-xcom.md#db-clean).
    "cleanup_by_timestamp": "SELECT count(*) FROM xcom WHERE {ts} < :cutoff",
    # Listing a DAG's XComs per key (the UI / REST list endpoint filtered by dag_id).
    "list_keys": "SELECT {k}, count(*) FROM xcom WHERE dag_id = :dag GROUP BY {k}",
}
_MODELS: Final[dict[str, Callable[[np.ndarray], np.ndarray]]] = {
    "log n": lambda n: np.log(n),
    "n": lambda n: n,
}


@dataclass(frozen=True)
class ComplexityResult:
    """Timings, plans and growth fits of the XCom queries.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (query, n): ``median_s``, ``min_s``, ``repeats``.
    fits : pandas.DataFrame
        Per query: ``model`` (``"log n"`` or ``"n"``), ``a``, ``b`` of the chosen model,
        ``rss_log``/``rss_n`` (relative residuals of both fits) and ``exponent`` (slope
        of log time on log N: ≈ 1 for a scan, ≈ 0 for a B-tree lookup).
    plans : dict
        ``{query: EXPLAIN text}`` at the largest N.
    plans_by_n : dict
        ``{(query, n): EXPLAIN text}`` at every N.
    """

    url: str
    dialect: str
    sizes: tuple[int, ...]
    table: pd.DataFrame
    fits: pd.DataFrame
    plans: dict[str, str]
    plans_by_n: dict[tuple[str, int], str] = field(default_factory=dict)

    def model(self, query: str) -> str:
        """The growth the query follows: ``"log n"`` or ``"n"``."""
        return str(self._fit(query)["model"])

    def predict(self, query: str, n: Any) -> np.ndarray:
        """Predicted seconds of ``query`` on a table of ``n`` rows (array-like)."""
        row = self._fit(query)
        x = np.asarray(n, dtype=np.float64)
        return np.asarray(float(row["a"]) * _MODELS[str(row["model"])](x) + float(row["b"]))

    def _fit(self, query: str) -> dict[str, Any]:
        if query not in self.fits.index:
            msg = f"query {query!r} was not measured; measured: {list(self.fits.index)}"
            raise NotFittedError(msg)
        return {str(k): v for k, v in self.fits.loc[query].items()}

    def __repr__(self) -> str:
        models = ", ".join(f"{q}: {m}" for q, m in self.fits["model"].items())
        return f"ComplexityResult({self.dialect}, N = {list(self.sizes)}; {models})"

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.fits.to_html()


def fit_growth(n: Sequence[float], seconds: Sequence[float]) -> dict[str, Any]:
    """Fit ``a·log N + b`` and ``a·N + b`` (a, b ≥ 0) to times; return the better one.

    Residuals are relative (each time weighs by 1/t), so small N count as much as large.
    The linear model is chosen only when it fits better *and* time grows at least like
    N^0.25 over the range: flat timings are B-tree lookups whatever the noise says (a
    lookup's log N only doubles from 10³ to 10⁶ rows, an exponent ≤ 0.1).
    """
    x, y = np.asarray(n, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
    if len(x) < 3 or (y <= 0).any():
        msg = f"need ≥ 3 sizes and positive times to fit growth; got n={list(x)}, seconds={list(y)}"
        raise InsufficientDataError(msg)
    fits = {name: _weighted_fit(f(x), y) for name, f in _MODELS.items()}
    exponent = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    best = "n" if fits["n"][2] < fits["log n"][2] and exponent >= _MIN_LINEAR_EXPONENT else "log n"
    a, b, _ = fits[best]
    return {"model": best, "a": a, "b": b, "rss_log": fits["log n"][2], "rss_n": fits["n"][2],
            "exponent": exponent}


def _weighted_fit(f: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares of ``(a·f + b − y)/y`` with a, b ≥ 0; returns a, b and the residual sum."""
    design = np.column_stack([f / y, 1 / y])
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if a < 0:
        a, b = 0.0, float(np.sum(1 / y) / np.sum(1 / y**2))
    elif b < 0:
        a, b = float(np.sum(f / y) / np.sum((f / y) ** 2)), 0.0
    rss = float(np.sum(((a * f + b) - y) ** 2 / y**2))
    return float(a), float(b), rss


# --- measuring ---------------------------------------------------------------------------

def measure_complexity(url: str, sizes: Sequence[int] = (1_000, 10_000, 100_000, 1_000_000), *,
                       queries: Sequence[str] = tuple(QUERIES), repeats: int = 15,
                       rng: np.random.Generator | int | None = 0, keep: bool = False) -> ComplexityResult:
    """Time XCom queries on a real database as the ``xcom`` table grows.

    Parameters
    ----------
    url
        SQLAlchemy URL of an empty database or schema (SQLite, PostgreSQL, MySQL/MariaDB).
        The ``xcom`` table must not exist: it is created, filled and dropped.
    sizes
        Table sizes N (rows), ascending; the table grows from one to the next.
    queries
        Names from :data:`QUERIES`.
    repeats
        Timed runs per query and size (each with other parameters, after one warm-up run);
        the median is kept. Lookups under a millisecond are repeated 10× as often.
    rng
        Seed or generator of which rows the lookups pick.
    keep
        Leave the filled table in place.
    """
    import sqlalchemy as sa

    unknown = [q for q in queries if q not in QUERIES]
    if unknown:
        msg = f"unknown queries {unknown}; expected names from {list(QUERIES)}"
        raise ParameterError(msg)
    ns = sorted({int(n) for n in sizes})
    if len(ns) < 3 or ns[0] < _ROWS_PER_RUN * _DAGS:
        msg = f"sizes={list(sizes)}; need ≥ 3 distinct sizes of at least {_ROWS_PER_RUN * _DAGS} rows"
        raise ParameterError(msg)
    engine = sa.create_engine(url)
    dialect = "mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    if dialect not in ("sqlite", "postgresql", "mysql"):
        msg = f"{engine.dialect.name} is not supported; use SQLite, PostgreSQL or MySQL/MariaDB"
        raise UnsupportedSourceError(msg)
    if sa.inspect(engine).has_table("xcom"):
        engine.dispose()
        msg = (f"table xcom already exists at {engine.url.render_as_string(hide_password=True)}; "
               "point measure_complexity at an empty database or schema (it creates and drops xcom)")
        raise ParameterError(msg)
    gen = np.random.default_rng(seed_of(rng))
    raw = engine.raw_connection()
    try:
        db = _Db(raw, dialect)
        db.create()
        try:
            rows, plans = _measure(db, ns, list(queries), repeats, gen)
        finally:
            if not keep:
                db.execute("DROP TABLE xcom")
                db.commit()
    finally:
        raw.close()
        engine.dispose()
    table = pd.DataFrame(rows).set_index(["query", "n"])
    fits = pd.DataFrame({q: fit_growth(ns, [r["median_s"] for r in rows if r["query"] == q])
                         for q in queries}).T
    fits = fits.astype({"a": float, "b": float, "rss_log": float, "rss_n": float, "exponent": float})
    top = {q: plans[(q, ns[-1])] for q in queries}
    return ComplexityResult(engine.url.render_as_string(hide_password=True), dialect, tuple(ns),
                            table, fits, top, plans)


def _measure(db: _Db, ns: list[int], queries: list[str], repeats: int,
             rng: np.random.Generator) -> tuple[list[dict[str, Any]], dict[tuple[str, int], str]]:
    rows: list[dict[str, Any]] = []
    plans: dict[tuple[str, int], str] = {}
    have = 0
    for n in ns:
        db.fill(have, n)
        have = n
        for q in queries:
            sql = db.sql(q)
            plans[(q, n)] = db.explain(sql, _params(q, n, rng, db.dialect))
            db.query(sql, _params(q, n, rng, db.dialect))  # warm-up
            times = [db.timed(sql, _params(q, n, rng, db.dialect)) for _ in range(repeats)]
            if np.median(times) < 1e-3:
                times += [db.timed(sql, _params(q, n, rng, db.dialect)) for _ in range(9 * repeats)]
            rows.append({"query": q, "n": n, "median_s": float(np.median(times)),
                         "min_s": float(np.min(times)), "repeats": len(times)})
    return rows, plans


def _params(query: str, n: int, rng: np.random.Generator, dialect: str) -> dict[str, Any]:
    """Parameters naming an existing row (or run) of a table of ``n`` rows."""
    i = int(rng.integers(0, n))
    run, j = divmod(i, _ROWS_PER_RUN)
    if query == "fan_in":
        j = _UNMAPPED
    mapped = j >= _UNMAPPED
    when = pd.Timestamp(_T0 + (run // _DAGS) * 3600, unit="s", tz="UTC")
    cutoff = pd.Timestamp(_T0 + n // 10, unit="s")  # the oldest tenth of the rows
    return {
        "run": run + 1,
        "task": "mapped" if mapped else f"task_{j:02d}",
        "mi": j - _UNMAPPED if mapped else -1,
        "key": "return_value",
        "dag": f"dag_{run % _DAGS:03d}",
        "run_id": f"scheduled__{when:%Y-%m-%dT%H:%M:%S}+00:00",
        "cutoff": (cutoff.strftime("%Y-%m-%d %H:%M:%S.000000") if dialect == "sqlite"
                   else cutoff.tz_localize("UTC").to_pydatetime() if dialect == "postgresql"
                   else cutoff.to_pydatetime()),
    }


class _Db:
    """A DBAPI connection with the dialect's SQL spellings."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw, self.dialect = raw, dialect
        self.cur = raw.cursor()
        self.quote = "`" if dialect == "mysql" else '"'

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cur.execute(sql, tuple(params))

    def commit(self) -> None:
        self.raw.commit()

    def create(self) -> None:
        for stmt in create_statements(self.dialect, "xcom", _COLUMNS, "json"):
            self.execute(stmt)
        self.commit()

    def sql(self, query: str) -> tuple[str, list[str]]:
        """The query in the driver's paramstyle and the order of its parameters."""
        text = QUERIES[query].format(k=f"{self.quote}key{self.quote}", ts=f"{self.quote}timestamp{self.quote}")
        names = re.findall(r":(\w+)", text)
        return re.sub(r":(\w+)", "?" if self.dialect == "sqlite" else "%s", text), names

    def query(self, sql: tuple[str, list[str]], params: dict[str, Any]) -> list[Any]:
        self.cur.execute(sql[0], tuple(params[p] for p in sql[1]))
        return list(self.cur.fetchall())

    def timed(self, sql: tuple[str, list[str]], params: dict[str, Any]) -> float:
        args = tuple(params[p] for p in sql[1])
        t = time.perf_counter()
        self.cur.execute(sql[0], args)
        self.cur.fetchall()
        return time.perf_counter() - t

    def explain(self, sql: tuple[str, list[str]], params: dict[str, Any]) -> str:
        prefix = "EXPLAIN QUERY PLAN " if self.dialect == "sqlite" else "EXPLAIN "
        rows = self.query((prefix + sql[0], sql[1]), params)
        if self.dialect == "sqlite":  # (id, parent, notused, detail)
            return "\n".join(str(r[3]) for r in rows)
        if self.dialect == "postgresql":
            return "\n".join(str(r[0]) for r in rows)
        names = [d[0] for d in self.cur.description]
        return "\n".join(", ".join(f"{k}={v}" for k, v in zip(names, r, strict=True) if v is not None)
                         for r in rows)

    def fill(self, lo: int, hi: int) -> None:
        """Insert rows ``lo … hi-1`` and refresh the planner's statistics."""
        if self.dialect == "mysql":
            self._fill_client(lo, hi)
        else:
            self.execute(_FILL[self.dialect], (lo, hi - 1) if self.dialect == "postgresql" else (lo, hi))
        self.commit()
        self.execute("ANALYZE xcom" if self.dialect != "mysql" else "ANALYZE TABLE xcom")
        if self.dialect == "mysql":
            self.cur.fetchall()
        self.commit()

    def _fill_client(self, lo: int, hi: int) -> None:
        cols = ", ".join(f"`{c}`" for c in _COLUMNS)
        sql = f"INSERT INTO xcom ({cols}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        for start in range(lo, hi, 5_000):
            self.cur.executemany(sql, [_row(i) for i in range(start, min(hi, start + 5_000))])


def _row(i: int) -> tuple[Any, ...]:
    """Row ``i`` as the server-side fills build it (for servers without generate_series)."""
    run, j = divmod(i, _ROWS_PER_RUN)
    mapped = j >= _UNMAPPED
    when = pd.Timestamp(_T0 + (run // _DAGS) * 3600, unit="s")
    ts = pd.Timestamp(_T0 + i, unit="s")
    return (run + 1, "mapped" if mapped else f"task_{j:02d}", j - _UNMAPPED if mapped else -1,
            "return_value", 0, f"dag_{run % _DAGS:03d}", f"scheduled__{when:%Y-%m-%dT%H:%M:%S}+00:00",
            f'{{"rows": {i}}}', f"{ts:%Y-%m-%d %H:%M:%S}.000000")


_FILL: Final = {
    "sqlite": f"""
        WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?)
        INSERT INTO xcom ({", ".join(f'"{c}"' for c in _COLUMNS)})
        SELECT i / {_ROWS_PER_RUN} + 1,
               CASE WHEN i % {_ROWS_PER_RUN} < {_UNMAPPED} THEN printf('task_%02d', i % {_ROWS_PER_RUN}) ELSE 'mapped' END,
               CASE WHEN i % {_ROWS_PER_RUN} < {_UNMAPPED} THEN -1 ELSE i % {_ROWS_PER_RUN} - {_UNMAPPED} END,
               'return_value', 0, printf('dag_%03d', (i / {_ROWS_PER_RUN}) % {_DAGS}),
               'scheduled__' || strftime('%Y-%m-%dT%H:%M:%S', {_T0} + (i / {_ROWS_PER_RUN * _DAGS}) * 3600, 'unixepoch') || '+00:00',
               '{{"rows": ' || i || '}}',
               strftime('%Y-%m-%d %H:%M:%S', {_T0} + i, 'unixepoch') || '.000000'
        FROM c""",
    "postgresql": f"""
        INSERT INTO xcom ({", ".join(f'"{c}"' for c in _COLUMNS)})
        SELECT i / {_ROWS_PER_RUN} + 1,
               CASE WHEN i %% {_ROWS_PER_RUN} < {_UNMAPPED} THEN 'task_' || lpad((i %% {_ROWS_PER_RUN})::text, 2, '0') ELSE 'mapped' END,
               CASE WHEN i %% {_ROWS_PER_RUN} < {_UNMAPPED} THEN -1 ELSE i %% {_ROWS_PER_RUN} - {_UNMAPPED} END,
               'return_value', false, 'dag_' || lpad(((i / {_ROWS_PER_RUN}) %% {_DAGS})::text, 3, '0'),
               'scheduled__' || to_char(to_timestamp({_T0} + (i / {_ROWS_PER_RUN * _DAGS}) * 3600) AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
               jsonb_build_object('rows', i),
               to_timestamp({_T0} + i)
        FROM generate_series(%s::bigint, %s::bigint) AS i""",
}
