"""``summarize_db``: the summary of a live metadata database, computed by the database.

The SQL loader (:mod:`xcomlab.ingest.sqlsource`) moves a head and a tail of every value
to Python. Here the database groups instead: per table, one aggregate over
``(dag_id, task_id, key, size bucket, class, limits exceeded, day of a large row)`` gives
the ``keys``, ``histogram``, ``classes``, ``over``, ``big`` and ``mapped`` tables, and
one over ``(dag_id, run_id, UTC day, key)`` the ``runs``, ``daily`` and ``run_keys``
tables; ``sources`` adds both up (on PostgreSQL both in one scan, with ``GROUPING
SETS``). Size
buckets and encodings are SQL twins of the Python rules (:mod:`xcomlab.summary.sqlrules`);
the few rows SQL cannot classify exactly (NaN/Infinity candidates, possible references,
non-JSON text) are fetched — their head and tail, as the loader reads them — and
classified by :func:`xcomlab.ingest.classify.classify` (references among them give
``run_keys`` its ``refs`` and ``ref_bytes``). The result equals
``summarize_frame(load_export(url))``, load report included.

Everything runs in one read-only transaction, with an optional statement timeout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from xcomlab import schema as S
from xcomlab.constants import ONE_OFF_MIN_BYTES
from xcomlab.errors import ExportFormatError, ParameterError, StatementTimeoutError, XcomlabError
from xcomlab.ingest.classify import HEAD_BYTES, Classified, RawValues, classify
from xcomlab.ingest.failures import translate
from xcomlab.ingest.formats import resolve_format
from xcomlab.ingest.loader import LoadReport, TableReport
from xcomlab.ingest.normalize import detect_schema, is_json_schema
from xcomlab.ingest.secret_rules import scan_values, secret_name
from xcomlab.ingest.sqlsource import (
    open_engine,
    quote,
    readonly,
    row_source,
    value_sql,
    xcom_table_names,
    xcom_tables,
)
from xcomlab.summary.core import (
    FINDING_COLUMNS,
    GROUPS,
    LARGEST_PER_TABLE,
    Summary,
    _canonical,
    _empty,
    _secret_tables,
    merge_all,
    over_targets,
)
from xcomlab.summary.sqlrules import HARD, SqlRules, rules_for, sqlite_bucket, sqlite_regexp

__all__ = ["PushdownStats", "summarize_db", "summarize_source"]

_T = S.SOURCE_TABLE
_ENCODINGS = np.asarray(S.ENCODINGS, dtype=object)


@dataclass
class PushdownStats:
    """What a :func:`summarize_db` run asked and received (fill one by passing ``stats=``).

    ``bytes_received`` counts every fetched cell (text and bytes by length, numbers as 8
    bytes); ``value_bytes_received`` only the cells that hold (a part of) a stored value.
    """

    statements: int = 0
    rows_received: int = 0
    bytes_received: int = 0
    value_bytes_received: int = 0
    #: Rows whose head and tail were fetched for exact classification in Python.
    classified_rows: int = 0
    #: Rows the secret prefilter (or a secret-like key) picked, whose values were fetched.
    secret_candidates: int = 0
    rows_summarised: int = 0
    seconds: float = 0.0
    tables: list[str] = field(default_factory=list)


def summarize_db(source: str | sa.Engine, *, tables: str | list[str] | None = None,
                 statement_timeout: float | None = None, secrets: bool = True,
                 sample: bool = True, progress: bool | None = None,
                 stats: PushdownStats | None = None) -> Summary:
    """Summarise the xcom tables of a live database without moving its values.

    Parameters
    ----------
    source
        A SQLAlchemy URL (``postgresql://…``, ``mysql://…``, ``sqlite:///…``), an
        ``airflow.db`` path, or an Engine (left open).
    tables
        Xcom-like tables to summarise (all present by default), as for
        :func:`xcomlab.load_export`.
    statement_timeout
        Seconds any one statement may run; :class:`~xcomlab.errors.StatementTimeoutError`
        when one runs longer. None: no limit.
    secrets
        Scan values for secrets: the database picks the rows the secret prefilter
        (:mod:`xcomlab.ingest.secret_rules`) or a secret-like key name may match, and only
        those values are fetched and checked (the ``secrets``, ``secret_rows`` and
        ``scanned`` tables).
    sample
        Reserved for the value sample (not drawn yet: ``sample`` stays None).
    progress
        A progress bar per table on stderr; by default only when stderr is a terminal.
    stats
        Filled with the statements run and the bytes received.

    Returns
    -------
    Summary
        Equal to ``summarize_frame(load_export(source, tables=tables, keep_values=True))``
        (with ``secrets=False``: without ``keep_values``), and with the same
        :class:`~xcomlab.ingest.loader.LoadReport` in ``report`` (source, format, and per
        table its Airflow schema, columns and rows).
    """
    if statement_timeout is not None and not statement_timeout > 0:
        msg = f"statement_timeout={statement_timeout!r}; expected a positive number of seconds or None"
        raise ParameterError(msg)
    _ = sample
    st = stats if stats is not None else PushdownStats()
    start = time.perf_counter()
    engine, label, own = _open(source)
    try:
        try:
            fmt, shown = resolve_format(source, None)  # the load report's, as load_export names them
            out, read = _summarize(engine, label, tables, statement_timeout, progress, secrets, st)
            return replace(out, report=LoadReport(shown, fmt, tuple(read)))
        except XcomlabError:
            raise
        except Exception as exc:
            err = _timeout_error(exc, label, statement_timeout) or translate(exc, label)
            if err is None:
                raise
            raise err from exc
    finally:
        st.seconds = time.perf_counter() - start
        if own:
            engine.dispose()


def _open(source: str | sa.Engine) -> tuple[sa.Engine, str, bool]:
    if isinstance(source, sa.Engine):
        return open_engine(source, False)
    text = str(source)
    return open_engine(text, "://" not in text)


@dataclass(frozen=True)
class _Table:
    name: str
    columns: list[str]
    is_json: bool
    json_3x: bool
    aware: bool  # timestamp with time zone (PostgreSQL)
    valid_json: bool  # a JSON type that refuses NaN tokens (PostgreSQL json/jsonb)
    airflow_schema: str  # as the loader detects it (:func:`~xcomlab.ingest.normalize.detect_schema`)


def _tables(engine: sa.Engine, label: str, wanted: str | list[str] | None) -> list[_Table]:
    names = xcom_table_names(engine)
    want = [wanted] if isinstance(wanted, str) else wanted
    if want is not None:
        absent = [t for t in want if t not in names]
        if absent:
            msg = f"{label}: no table {absent} in this export; it has {sorted(names) or 'none'}"
            raise ExportFormatError(msg)
        names = [t for t in names if t in want]
    if not names:
        msg = (f"{label}: no xcom table found; expected a table named xcom, _xcom_archive "
               "or _airflow_deleted__xcom__*")
        raise ExportFormatError(msg)
    out = []
    for name, info, is_json in xcom_tables(engine, label, names):
        schema = detect_schema(set(info), json_values=is_json)
        aware = bool(getattr(info["timestamp"]["type"], "timezone", False))
        type_name = str(info["value"]["type"]).upper()
        valid = engine.dialect.name == "postgresql" and type_name in ("JSON", "JSONB")
        out.append(_Table(name, list(info), is_json, is_json_schema(schema), aware, valid, schema))
    return out


def _summarize(engine: sa.Engine, label: str, wanted: str | list[str] | None, timeout: float | None,
               progress: bool | None, secrets: bool, st: PushdownStats) -> tuple[Summary, list[TableReport]]:
    """The summary of the tables, and per table what the loader's report says of it (every
    row read is summarised: the loader's rejects raise, as ``load_export`` does by default;
    one read-only transaction, so the rows cannot change under the read)."""
    found = _tables(engine, label, wanted)
    parts: list[Summary] = []
    read: list[TableReport] = []
    with _session(engine, timeout) as run:
        estimates = {t.name: _estimate(run, engine, t.name) for t in found}
        with _bar(progress, sum(estimates.values())) as bar:
            for table in found:
                part = _table_summary(run, engine, label, table, secrets, st)
                parts.append(part)
                read.append(TableReport(table.name, table.airflow_schema, tuple(table.columns), part.rows,
                                        part.rows, 0, True))
                st.tables.append(table.name)
                bar(estimates[table.name])
    out = merge_all(parts)
    st.rows_summarised = out.rows
    return out, read


# -- one table ------------------------------------------------------------------------------

_LIMITS = over_targets()


def _derived(engine: sa.Engine, table: _Table, rules: SqlRules, named: list[str] | None,
             source: str | None = None) -> tuple[str, dict[str, str]]:
    """Per-row columns ``d, t, k, r, mi, ri, rs, ts, vb, nn, b, day, bd, c, o, sc`` (ids, map
    index, the run's integer id (-1 where null), 1 where ``dag_result`` is not null,
    timestamp, size, NaN hint, size bucket, UTC day, the day again for rows of at least
    :data:`~xcomlab.constants.ONE_OFF_MIN_BYTES` (else null), class code, limits exceeded,
    secret candidate), and the SQL of the head, tail, full and whole value (``h, tl, fl, v``) over
    the derived row ``z``, for the rows fetched.

    ``named`` are the table's keys with a secret-like name (None: no secret scan).
    On PostgreSQL each level is fenced (``OFFSET 0``) so every expression runs once per
    row, and the head and tail are taken only where a rule reads them; elsewhere the
    optimiser merges the levels and evaluates each ``CASE`` branch only when it is taken.
    """
    d = engine.dialect.name
    e = value_sql(d, table.is_json, "")
    q = {c: quote(engine, c) for c in ("dag_id", "task_id", "key", "run_id", "timestamp", "map_index")}
    run = f"x.{q['run_id']}" if "run_id" in table.columns else "NULL"
    mi = f"COALESCE(x.{q['map_index']}, -1)" if "map_index" in table.columns else "-1"
    ri = "COALESCE(x.dag_run_id, -1)" if "dag_run_id" in table.columns else "-1"
    rs = "CASE WHEN x.dag_result IS NULL THEN 0 ELSE 1 END" if "dag_result" in table.columns else "0"
    ids = (f"x.{q['dag_id']} AS d, x.{q['task_id']} AS t, x.{q['key']} AS k, {run} AS r, {mi} AS mi, "
           f"{ri} AS ri, {rs} AS rs, x.{q['timestamp']} AS ts, {e['vb']} AS vb, {e['nan']} AS nn")
    big = f"CASE WHEN y.vb >= {ONE_OFF_MIN_BYTES} THEN {rules.day('y.ts', table.aware)} END AS bd"
    src = source or row_source(engine, table.name, table.is_json)
    if named is None:
        sc = "(1=0)"
    else:
        listed = " OR ".join(f"y.k = {_sql_text(engine, k)}" for k in named)
        sc = f"({rules.secret('y.v')}{' OR ' + listed if listed else ''})"
    if d == "postgresql":
        ids = ids.replace(f", {e['nan']} AS nn", "")

        def at(col: str, row: str) -> str:
            return e[col].replace("x.v", f"{row}.v")

        # the value's first 17 characters and, for an object, its tail: computed once a row
        ends = f"CASE WHEN {rules.at('x.v', 0)} = {rules.lit('{')} THEN {e['tail']} END"
        inner = f"SELECT {ids}, x.v AS v, {rules.prefix('x.v', 17)} AS p, {ends} AS e FROM {src} OFFSET 0"
        over = f"COALESCE(width_bucket(y.vb - 1, '{{{','.join(str(x) for x in _SORTED_LIMITS)}}}'::bigint[]), 0)"
        head = f"CASE WHEN y.vb <= {HEAD_BYTES} THEN y.v ELSE {at('head', 'y')} END"  # a short value is its head
        nn = "false" if table.valid_json else at("nan", "y")  # jsonb holds no NaN token: the hint cannot matter
        cls = rules.encoding(table.json_3x, v="y.v", h=head, tl="y.e", vb="y.vb", nn=nn, p="y.p", e="y.e")
        sql = (f"SELECT y.d, y.t, y.k, y.r, y.mi, y.ri, y.rs, y.ts, y.vb, y.v, {rules.bucket('y.vb')} AS b, "
               f"{rules.day('y.ts', table.aware)} AS day, {big}, {cls} AS c, {over} AS o, {sc} AS sc "
               f"FROM ({inner}) y OFFSET 0")
        return sql, {"h": at("head", "z"), "tl": at("tail", "z"), "fl": at("full", "z"), "v": "z.v",
                     "nn": at("nan", "z")}
    inner = (f"SELECT {ids}, {e['value']} AS v, {e['head']} AS h, {e['tail']} AS tl, {e['full']} AS fl "
             f"FROM {src}")
    over = " + ".join(f"(CASE WHEN y.vb > {lim} THEN 1 ELSE 0 END)" for lim in _SORTED_LIMITS)
    cls = rules.encoding(table.json_3x, v="y.v", h="y.h", tl="y.tl", vb="y.vb", nn="(y.nn <> 0)")
    sql = (f"SELECT y.d, y.t, y.k, y.r, y.mi, y.ri, y.rs, y.ts, y.vb, y.nn, y.h, y.tl, y.fl, y.v, "
           f"{rules.bucket('y.vb')} AS b, {rules.day('y.ts', table.aware)} AS day, {big}, {cls} AS c, "
           f"{over} AS o, {sc} AS sc FROM ({inner}) y")
    return sql, {"h": "z.h", "tl": "z.tl", "fl": "z.fl", "v": "z.v", "nn": "z.nn"}


def _sql_text(engine: sa.Engine, text: str) -> str:
    """A string literal (keys are ids: short, and quoted by the dialect's own rules)."""
    return sa.literal(text, sa.String()).compile(dialect=engine.dialect,
                                                 compile_kwargs={"literal_binds": True}).string


#: The limits of ``limits.csv``, ascending: a row over ``o`` of them is over the ``o`` smallest.
_SORTED_LIMITS = sorted({lim for _, lim in _LIMITS})
_MEASURES = ["n", "bytes", "mn", "mx", "first_ts", "last_ts", "mapped", "top", "res", "runid"]
#: Groups per key, size bucket, class and limits (``bd``: the day of large rows only).
_KEY_COLS = ["d", "t", "k", "b", "c", "o", "bd"]
#: Groups per run, day and key: ``runs``, ``daily`` and ``run_keys`` all add these up.
_RUN_COLS = ["d", "r", "day", "k"]
_HARD_COLS = ["d", "r", "k", "vb", "h", "tl", "nn", "fl"]
_SECRET_COLS = ["d", "t", "r", "k", "mi", "v"]


def _measures(z: str = "z.") -> str:
    return (f"COUNT(*) AS n, COALESCE(SUM({z}vb), 0) AS bytes, MIN({z}vb) AS mn, MAX({z}vb) AS mx, "
            f"MIN({z}ts) AS first_ts, MAX({z}ts) AS last_ts, SUM(CASE WHEN {z}mi >= 0 THEN 1 ELSE 0 END) "
            f"AS mapped, MAX({z}mi) AS top, SUM({z}rs) AS res, MAX({z}ri) AS runid")


def _table_summary(run: _Runner, engine: sa.Engine, label: str, table: _Table, secrets: bool,
                   st: PushdownStats) -> Summary:
    rules = rules_for(engine.dialect.name, not table.is_json)
    named = _named_keys(run, engine, table) if secrets else None
    derived, held = _derived(engine, table, rules, named)
    params = rules.patterns()
    keys = ", ".join(f"z.{c}" for c in _KEY_COLS)
    runs = ", ".join(f"z.{c}" for c in _RUN_COLS)
    exprs = {"d": "z.d", "r": "z.r", "k": "z.k", "vb": "z.vb", **held}
    ids = {"d": "z.d", "t": "z.t", "r": "z.r", "k": "z.k", "mi": "z.mi", "v": held["v"]}
    if engine.dialect.name == "postgresql":
        # one scan: the groupings at once; the rows fetched are a grouping of their own
        # (undecided rows' heads and tails, secret candidates' ids and values; every other
        # row falls in one group of nulls)
        cols = [f"CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}" for c in _HARD_COLS]
        cols += [f"CASE WHEN z.sc THEN {ids[c]} END AS s_{c}" for c in _SECRET_COLS]
        fetched = [*(f"h_{c}" for c in _HARD_COLS), *(f"s_{c}" for c in _SECRET_COLS)]
        sql = (f"SELECT {', '.join(_KEY_COLS)}, r, day, {', '.join(fetched)}, GROUPING(r, h_k) AS g, "
               f"{_measures('')} FROM (SELECT z.*, {', '.join(cols)} FROM ({derived}) z) z "
               f"GROUP BY GROUPING SETS (({', '.join(_KEY_COLS)}), ({', '.join(_RUN_COLS)}), "
               f"({', '.join(fetched)}))")
        rows = run.fetch(sql, params, st, values=("h_h", "h_tl", "h_fl", "s_v"))
        both = pd.DataFrame(rows, columns=[*_KEY_COLS, "r", "day", *fetched, "g", *_MEASURES])
        by_key = both[both["g"] == 3]
        by_run = both[both["g"] == 1]
        held_rows = both[both["g"] == 2]
        hard_rows = held_rows[held_rows["h_k"].notna()]
        hard = pd.DataFrame({c: np.repeat(hard_rows[f"h_{c}"].to_numpy(), hard_rows["n"].to_numpy(dtype=np.int64)) for c in _HARD_COLS})
        cand_rows = held_rows[held_rows["s_k"].notna()]
        cands = pd.DataFrame({c: np.repeat(cand_rows[f"s_{c}"].to_numpy(), cand_rows["n"].to_numpy(dtype=np.int64)) for c in _SECRET_COLS})
    else:
        by_key = pd.DataFrame(run.fetch(f"SELECT {keys}, {_measures()} FROM ({derived}) z GROUP BY {keys}",
                                        params, st), columns=[*_KEY_COLS, *_MEASURES])
        by_run = pd.DataFrame(run.fetch(f"SELECT {runs}, {_measures()} FROM ({derived}) z GROUP BY {runs}",
                                        params, st), columns=[*_RUN_COLS, *_MEASURES])
        hard = pd.DataFrame(columns=_HARD_COLS)
        cands = pd.DataFrame(columns=_SECRET_COLS)
        if (by_key["c"] == HARD).any() or named is not None:
            # one more scan fetches both: undecided rows' heads and candidates' values
            cols = [f"CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}" for c in _HARD_COLS]
            cols += [f"CASE WHEN z.sc THEN {ids[c]} END AS s_{c}" for c in _SECRET_COLS]
            sql = f"SELECT {', '.join(cols)} FROM ({derived}) z WHERE z.c = {HARD} OR z.sc"
            names = [*(f"h_{c}" for c in _HARD_COLS), *(f"s_{c}" for c in _SECRET_COLS)]
            got = pd.DataFrame(run.fetch(sql, params, st, values=("h_h", "h_tl", "h_fl", "s_v")), columns=names)
            picked = got[got["h_k"].notna()]
            hard = pd.DataFrame({c: picked[f"h_{c}"].to_numpy() for c in _HARD_COLS})
            picked = got[got["s_k"].notna()]
            cands = pd.DataFrame({c: picked[f"s_{c}"].to_numpy() for c in _SECRET_COLS})
    _check_rows(label, table.name, by_key, by_run)
    st.classified_rows += len(hard)
    st.secret_candidates += len(cands)
    if not len(by_key):
        return Summary.empty()
    largest = _largest(run, engine, table, rules, params, st)
    findings = _findings(table.name, cands) if named is not None else None
    return _assemble(table, by_key, by_run, hard, largest, findings)


def _named_keys(run: _Runner, engine: sa.Engine, table: _Table) -> list[str]:
    """The table's distinct keys whose name says they hold a secret (read off the key index)."""
    keys = run.scalars(f"SELECT DISTINCT {quote(engine, 'key')} FROM {quote(engine, table.name)}")
    return sorted(k for k in keys if isinstance(k, str) and k and secret_name(k))


def _findings(name: str, cands: pd.DataFrame) -> pd.DataFrame:
    """Row-level findings of the candidate rows, checked by the secret rules in Python."""
    if not len(cands):
        return pd.DataFrame({c: [] for c in FINDING_COLUMNS})
    keys = [str(k) for k in cands["k"]]
    results = scan_values(_binary(cands["v"]), keys)  # a NULL value (a secret-like key's) may come as NaN
    maps = cands["mi"].astype("int64").tolist()
    records = [(name, cands["d"].iat[i], cands["t"].iat[i], cands["r"].iat[i], cands["k"].iat[i],
                maps[i], kind, evidence)
               for i, found in enumerate(results) for kind, evidence in found]
    return pd.DataFrame.from_records(records, columns=list(FINDING_COLUMNS))


def _largest(run: _Runner, engine: sa.Engine, table: _Table, rules: SqlRules,
             params: dict[str, str], st: PushdownStats) -> pd.DataFrame:
    """The :data:`~xcomlab.summary.LARGEST_PER_TABLE` largest rows: picked in SQL by size, then
    ids in code-point order (as the summary's index sorts them), and only those rows
    classified (the undecided among them from their fetched heads)."""
    derived, held = _derived(engine, table, rules, None, _top_rows(engine, table))
    exprs = {"d": "z.d", "r": "z.r", "k": "z.k", "vb": "z.vb", **held}
    picked = ["d", "t", "r", "k", "mi", "vb", "ts", "c"]
    sql = (f"SELECT {', '.join(f'z.{c}' for c in picked)}, "
           f"{', '.join(f'CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}' for c in _HARD_COLS)} "
           f"FROM ({derived}) z")
    rows = run.fetch(sql, params, st, values=("h_h", "h_tl", "h_fl"))
    out = pd.DataFrame(rows, columns=[*picked, *(f"h_{c}" for c in _HARD_COLS)])
    enc = _ENCODINGS[np.maximum(out["c"].to_numpy(dtype=np.int64), 0)] if len(out) else np.array([], object)
    hard = out["c"].to_numpy(dtype=np.int64) == HARD if len(out) else np.zeros(0, bool)
    if hard.any():
        sub = out[hard]
        got = classify(_raw(pd.DataFrame({c: sub[f"h_{c}"].to_numpy() for c in _HARD_COLS})),
                       json_3x=table.json_3x)
        enc = enc.copy()
        enc[hard] = got.encoding
    index = pd.MultiIndex.from_arrays(
        [[table.name] * len(out), _labels(out["d"]), _labels(out["t"]), _labels(out["r"]), _labels(out["k"]),
         out["mi"].astype("int64")], names=GROUPS["largest"])
    return pd.DataFrame({"value_bytes": out["vb"].astype("int64").to_numpy(), "encoding": enc,
                         "timestamp": _stamps(out["ts"]).to_numpy()}, index=index)


def _top_rows(engine: sa.Engine, table: _Table) -> str:
    """A row source of the table's largest rows, largest first, ties by ids in code-point
    order with nulls last (the order of the summary's ``largest`` table)."""
    d = engine.dialect.name
    e = value_sql(d, table.is_json, "")
    name = quote(engine, table.name)
    cols = {c: f"s.{quote(engine, c)}" for c in ("dag_id", "task_id", "run_id", "key", "map_index")}
    order: list[str] = []
    for c in ("dag_id", "task_id", "run_id", "key"):
        if c not in table.columns:
            continue
        col = cols[c]
        if d == "postgresql":
            order.append(f'{col} COLLATE "C"')  # nulls sort last ascending
        else:
            order += [f"{col} IS NULL", f"CAST({col} AS BINARY)" if d != "sqlite" else col]
    if "map_index" in table.columns:
        order.append(f"COALESCE({cols['map_index']}, -1)")
    if d == "postgresql":
        cast = "value::text" if table.is_json else "value"
        base = f"(SELECT t.*, {cast} AS v FROM {name} t OFFSET 0) s WHERE s.v IS NOT NULL"
        size = "octet_length(s.v)"
    else:
        base = f"{name} s WHERE s.value IS NOT NULL"
        size = e["vb"].replace("value", "s.value")
    return (f"(SELECT s.* FROM {base} ORDER BY {size} DESC, {', '.join(order)} "
            f"LIMIT {LARGEST_PER_TABLE}) x")


def _check_rows(label: str, table: str, by_key: pd.DataFrame, by_run: pd.DataFrame) -> None:
    """Rows the loader would reject (``errors="raise"``): empty ids or no timestamp."""
    for col, name in (("d", S.DAG_ID), ("t", S.TASK_ID), ("k", S.KEY)):
        bad = by_key[by_key[col].isna() | (by_key[col].astype(object) == "")]
        if len(bad):
            msg = (f"{label}: table {table} has {int(bad['n'].sum())} rows with no {name}; "
                   f"expected a non-empty {name} in every row (load_export(..., errors='collect') "
                   "lists them)")
            raise ExportFormatError(msg)
    missing = int(by_run.loc[by_run["day"].isna(), "n"].sum())
    if missing:
        msg = (f"{label}: table {table} has {missing} rows with no timestamp; expected an ISO "
               "timestamp in every row (load_export(..., errors='collect') lists them)")
        raise ExportFormatError(msg)


def _labels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), np.nan)


def _stamps(values: pd.Series) -> pd.Series:
    if len(values) and values.map(lambda v: isinstance(v, str)).any():
        return pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.to_datetime(values, utc=True)


def _assemble(table: _Table, by_key: pd.DataFrame, by_run: pd.DataFrame, hard: pd.DataFrame,
              largest: pd.DataFrame, findings: pd.DataFrame | None) -> Summary:
    name = table.name
    by_key = by_key.astype({"n": "int64", "bytes": "int64", "c": "int64", "o": "int64", "res": "int64",
                            "mapped": "int64", "top": "int64"})
    by_run = by_run.astype({"n": "int64", "bytes": "int64", "runid": "int64"})
    hard = hard.reset_index(drop=True)
    got = classify(_raw(hard), json_3x=table.json_3x) if len(hard) else None
    sized = by_key["b"].notna()
    k = pd.DataFrame({_T: name, S.DAG_ID: _labels(by_key["d"]), S.TASK_ID: _labels(by_key["t"]),
                      S.KEY: _labels(by_key["k"]), "rows": by_key["n"],
                      "sized_rows": by_key["n"].where(sized, 0), "value_bytes": by_key["bytes"],
                      "min_bytes": by_key["mn"].astype("Int64"), "max_bytes": by_key["mx"].astype("Int64"),
                      "bucket": by_key["b"], "c": by_key["c"], "o": by_key["o"], "bd": by_key["bd"]})
    group = [_T, S.DAG_ID, S.TASK_ID, S.KEY]
    keys = k.groupby(group, sort=False, dropna=False).agg(
        rows=("rows", "sum"), sized_rows=("sized_rows", "sum"), value_bytes=("value_bytes", "sum"),
        min_bytes=("min_bytes", "min"), max_bytes=("max_bytes", "max"))
    histogram = k[sized].astype({"bucket": "int64"}).groupby([*group, "bucket"], sort=False).agg(
        rows=("rows", "sum"))
    large = k[k["bd"].notna()]
    big = large.assign(day=_days(large["bd"]), bucket=large["bucket"].astype("int64")).groupby(
        list(GROUPS["big"]), sort=False, dropna=False).agg(rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))
    o, n, vb = k["o"].to_numpy(), k["rows"].to_numpy(), k["value_bytes"].to_numpy()
    over_rows = []
    for target, limit in _LIMITS:
        above = o > _SORTED_LIMITS.index(limit)
        over_rows.append((name, target, limit, int(n[above].sum()), int(vb[above].sum())))
    over = pd.DataFrame(over_rows, columns=[_T, "target", "limit_bytes", "rows", "value_bytes"]).set_index(
        [_T, "target"])
    r = pd.DataFrame({_T: name, S.DAG_ID: _labels(by_run["d"]), S.RUN_ID: _labels(by_run["r"]),
                      S.KEY: _labels(by_run["k"]), "day": _days(by_run["day"]),
                      "rows": by_run["n"], "value_bytes": by_run["bytes"],
                      "first_timestamp": _stamps(by_run["first_ts"]), "last_timestamp": _stamps(by_run["last_ts"]),
                      "dag_run_id": by_run["runid"]})
    daily = r.groupby([_T, S.DAG_ID, "day"], sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))
    runs = r.groupby(list(GROUPS["runs"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"), dag_run_id=("dag_run_id", "max"))
    m = by_key[by_key["mapped"] > 0]
    mapped = pd.DataFrame({_T: name, S.DAG_ID: _labels(m["d"]), S.TASK_ID: _labels(m["t"]),
                           "mapped_rows": m["mapped"], "max_map_index": m["top"]}).groupby(
        list(GROUPS["mapped"]), sort=False, dropna=False).agg(
        mapped_rows=("mapped_rows", "sum"), max_map_index=("max_map_index", "max")) if len(m) else _empty("mapped")
    # a database keeps every row's size: nothing lost or rebuilt, so no inexact rows
    sources = pd.DataFrame([(name, table.airflow_schema, int(k["rows"].sum()), 0, int(by_key["res"].sum()),
                             int(by_key["mapped"].sum()), r["first_timestamp"].min(), r["last_timestamp"].max())],
                           columns=[*GROUPS["sources"], *_AGG_SOURCES]).set_index(list(GROUPS["sources"]))
    secrets, secret_rows = _secret_tables(findings)
    scanned = (pd.DataFrame([(name, "secrets", int(by_key["n"].sum()))], columns=[_T, "scan", "rows"])
               .set_index([_T, "scan"]) if findings is not None else _empty("scanned"))
    tables: dict[str, Any] = {
        "keys": keys, "histogram": histogram, "daily": daily, "runs": runs,
        "classes": _classes(name, k, hard, got), "over": over, "run_keys": _run_keys(name, r, hard, got),
        "sources": sources, "big": big, "secrets": secrets, "secret_rows": secret_rows,
        "largest": largest, "mapped": mapped, "scanned": scanned}
    typed: dict[str, Any] = {n: _canonical(n, t) for n, t in tables.items()}
    return Summary(**typed)


_AGG_SOURCES = ["rows", "inexact_rows", "result_rows", "mapped_rows", "first_timestamp", "last_timestamp"]


def _days(values: pd.Series) -> pd.Series:
    """UTC days as the database returned them (dates or ISO text)."""
    return pd.to_datetime(values.astype(str), utc=True)


def _run_keys(name: str, r: pd.DataFrame, hard: pd.DataFrame, got: Classified | None) -> pd.DataFrame:
    """``run_keys`` from the run groups, with the references found among the fetched rows
    (every row that may be a reference is undecided in SQL, so all of them are there)."""
    parts = [r.assign(refs=0, ref_bytes=0)]
    if got is not None and len(got.ref_rows):
        rows = np.asarray(got.ref_rows, dtype=np.int64)
        sizes = [got.ref_bytes[i] for i in rows.tolist()]
        refs = hard.iloc[rows]
        none = pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]")
        parts.append(pd.DataFrame({_T: name, S.DAG_ID: _labels(refs["d"]).to_numpy(),
                                   S.RUN_ID: _labels(refs["r"]).to_numpy(), S.KEY: _labels(refs["k"]).to_numpy(),
                                   "rows": 0, "value_bytes": 0, "first_timestamp": none, "last_timestamp": none,
                                   "refs": 1, "ref_bytes": [0 if b is None else int(b) for b in sizes]}))
    both = pd.concat(parts, ignore_index=True)
    return both.groupby(list(GROUPS["run_keys"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"), refs=("refs", "sum"),
        ref_bytes=("ref_bytes", "sum"), first_timestamp=("first_timestamp", "min"),
        last_timestamp=("last_timestamp", "max"))


def _classes(name: str, k: pd.DataFrame, hard: pd.DataFrame, got: Classified | None) -> pd.DataFrame:
    decided = k[k["c"] != HARD]
    parts = [pd.DataFrame({S.KEY: decided[S.KEY], S.ENCODING: _ENCODINGS[decided["c"].to_numpy()],
                           S.HAS_NAN: False, "reference": False, "rows": decided["rows"],
                           "value_bytes": decided["value_bytes"]})]
    if got is not None:
        reference = np.zeros(len(hard), dtype=bool)
        reference[got.ref_rows] = True
        parts.append(pd.DataFrame({S.KEY: _labels(hard["k"]), S.ENCODING: got.encoding,
                                   S.HAS_NAN: got.has_nan, "reference": reference, "rows": 1,
                                   "value_bytes": hard["vb"].fillna(0).astype("int64").to_numpy()}))
    both = pd.concat(parts, ignore_index=True)
    both[S.INTERNAL] = both[S.KEY].map(lambda key: S.is_internal_key(key) if isinstance(key, str) else False)
    both[_T] = name
    both = both.astype({S.HAS_NAN: bool, "reference": bool, S.INTERNAL: bool, "rows": "int64",
                        "value_bytes": "int64"})
    return both.groupby(list(GROUPS["classes"]), sort=False, dropna=False).agg(
        rows=("rows", "sum"), value_bytes=("value_bytes", "sum"))


def _binary(values: pd.Series) -> pa.Array:
    return pa.array([v.encode("utf-8") if isinstance(v, str)
                     else bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None
                     for v in values], pa.binary())


def _raw(hard: pd.DataFrame) -> RawValues:
    """The fetched rows as the SQL loader hands them to :func:`classify`."""
    vb = pa.array([None if pd.isna(v) else int(v) for v in hard["vb"]], pa.int64())
    nan = pa.array([bool(x) and not pd.isna(x) for x in hard["nn"]], pa.bool_())
    return RawValues(_binary(hard["h"]), vb, complete=False, tail=_binary(hard["tl"]),
                     nan_hint=nan, full=_binary(hard["fl"]))


# -- the session: read-only, timed out, counted -----------------------------------------------


class _Runner:
    """Runs statements on one read-only connection and counts what comes back."""

    def __init__(self, conn: sa.Connection, dialect: sa.Dialect, timeout: float | None) -> None:
        self.conn = conn
        self.dialect = dialect
        self.timeout = timeout

    def _timed(self, sql: str) -> str:
        if self.timeout is None or self.dialect.name not in ("mysql", "mariadb"):
            return sql
        if getattr(self.dialect, "is_mariadb", False):
            return f"SET STATEMENT max_statement_time={self.timeout:.3f} FOR {sql}"
        return sql.replace("SELECT", f"SELECT /*+ MAX_EXECUTION_TIME({max(1, round(self.timeout * 1000))}) */", 1)

    def fetch(self, sql: str, params: dict[str, str], st: PushdownStats,
              values: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        result = self.conn.execute(sa.text(self._timed(sql)), params)
        names = list(result.keys())
        rows = [tuple(row) for row in result]
        st.statements += 1
        st.rows_received += len(rows)
        for name, column in zip(names, zip(*rows, strict=True) if rows else (), strict=False):
            got = _column_bytes(column)
            st.bytes_received += got
            if name in values:
                st.value_bytes_received += got
        return rows

    def scalars(self, sql: str) -> list[Any]:
        return list(self.conn.execute(sa.text(self._timed(sql))).scalars())

    def scalar(self, sql: str) -> Any:
        return self.conn.execute(sa.text(self._timed(sql))).scalar()


def _column_bytes(column: tuple[Any, ...]) -> int:
    """:func:`_cell_bytes` summed over a fetched column: most cells of a grouping-sets
    result are NULL, and a column holds one type, so it is counted a column at a time."""
    types = set(map(type, column)) - {type(None)}
    if not types:
        return 0
    if types == {str}:
        return sum(map(len, map(str.encode, filter(None, column))))
    if types <= {bytes, bytearray, memoryview}:
        return sum(map(len, filter(None, column)))
    if not types & {str, bytes, bytearray, memoryview}:
        return 8 * (len(column) - column.count(None))
    return sum(_cell_bytes(v) for v in column)  # mixed types (SQLite): cell by cell


def _cell_bytes(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return len(v)
    return 8


@contextmanager
def _session(engine: sa.Engine, timeout: float | None) -> Iterator[_Runner]:
    with readonly(engine) as conn:
        d = engine.dialect.name
        if d == "postgresql":
            if timeout is not None:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        elif d == "sqlite":
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.create_function("xcomlab_bucket", 1, sqlite_bucket, deterministic=True)
            raw.create_function("xcomlab_regexp", 2, sqlite_regexp, deterministic=True)
            if timeout is not None:
                deadline = time.monotonic() + timeout
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield _Runner(conn, engine.dialect, timeout)
        finally:
            if d == "sqlite":
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.set_progress_handler(None, 0)


def _timeout_error(exc: BaseException, label: str, timeout: float | None) -> XcomlabError | None:
    if timeout is None:
        return None
    text = " ".join(str(getattr(exc, "orig", None) or exc).split()).lower()
    if any(s in text for s in ("statement timeout", "max_statement_time", "maximum statement execution time",
                               "interrupted")):
        return StatementTimeoutError(
            f"{label}: a statement ran longer than statement_timeout={timeout:g} s and was "
            "cancelled; nothing was written. Raise the timeout (--statement-timeout), summarise "
            "fewer tables (tables=…), or run it when the database is less busy")
    return None


def _estimate(run: _Runner, engine: sa.Engine, table: str) -> int:
    """About how many rows ``table`` holds, from the catalog where it keeps a count."""
    d = engine.dialect.name
    try:
        if d == "postgresql":
            got = run.scalar(f"SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('{quote(engine, table)}')")
            if got is not None and got >= 0:
                return int(got)
        elif d in ("mysql", "mariadb"):
            got = run.scalar("SELECT table_rows FROM information_schema.tables WHERE table_schema = DATABASE() "
                             f"AND table_name = '{table}'")
            if got is not None:
                return int(got)
    except sa.exc.DBAPIError:
        pass
    return int(run.scalar(f"SELECT count(*) FROM {quote(engine, table)}") or 0)


@contextmanager
def _bar(progress: bool | None, total: int) -> Iterator[Callable[[int], None]]:
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="rows", unit_scale=True, leave=False, desc="summarising") as bar:
        yield bar.update


def summarize_source(source: Any, *, format: str | None = None, tables: str | list[str] | None = None,
                     statement_timeout: float | None = None, progress: bool | None = None,
                     stats: PushdownStats | None = None, **load_options: Any) -> Summary:
    """The summary of any source: pushed down to the database for a database URL, an Engine
    or an ``airflow.db`` file (:func:`summarize_db`), streamed for every other export
    (:func:`xcomlab.summary.summarize_file`, which takes ``load_options``: ``jobs`` reads a
    plain CSV or Parquet file in several processes)."""
    from xcomlab.ingest.formats import resolve_format
    from xcomlab.summary.stream import summarize_file

    fmt, _ = resolve_format(source, format)
    if fmt in ("sql", "sqlite"):
        return summarize_db(source, tables=tables, statement_timeout=statement_timeout,
                            progress=progress, stats=stats)
    return summarize_file(source, format=format, tables=tables, progress=progress, **load_options)
