"""``summarize_db``: the summary of a live metadata database, computed by the database.

The SQL loader (:mod:`xcomlab.ingest.sqlsource`) moves a head and a tail of every value
to Python. Here the database groups instead: per table, one aggregate over
``(dag_id, task_id, key, size bucket, class, limits exceeded, day of a large row)`` gives
the ``keys``, ``histogram``, ``classes``, ``over``, ``big`` and ``mapped`` tables, and
one over ``(dag_id, run_id, UTC day, key)`` the ``runs``, ``daily`` and ``run_keys``
tables; ``sources`` adds both up. Each row is derived once: on PostgreSQL both
aggregates (and the rows fetched) come from one scan, with ``GROUPING SETS``; on
MySQL/MariaDB one scan fills a temporary table of derived rows that the aggregates read;
SQLite scans per aggregate. Size buckets and encodings are SQL twins of the Python rules (:mod:`xcomlab.summary.sqlrules`);
the few rows SQL cannot classify exactly (NaN/Infinity candidates, possible references,
non-JSON text) are fetched — their head and tail, as the loader reads them — and
classified by :func:`xcomlab.ingest.classify.classify` (references among them give
``run_keys`` its ``refs`` and ``ref_bytes``). The result equals
``summarize_frame(load_export(url))``, load report included.

The per-run tables are bounded as :func:`~xcomlab.summary.coarsen` bounds them
(``max_run_keys``: the runs before the cut rolled up per day into ``old_runs`` and
``old_run_keys``, :mod:`xcomlab.summary.runs`). On PostgreSQL the database rolls them in
the groups statement (:func:`_rolled_sql`), so only the exact runs' groups cross the wire;
elsewhere Python does, after the groups arrive.

Everything runs in one read-only transaction, with an optional statement timeout
(:mod:`xcomlab.summary.sqlsession`, which also times each statement); the summary's
tables are built from the groups by :mod:`xcomlab.summary.pushtables`.

The value sample (:class:`~xcomlab.ingest.sample.ValueSample`) is drawn without moving
the values: one statement returns every row's ids and stored size (cheap columns only),
Python hashes the ids into the rows' sample keys (:func:`~xcomlab.ingest.sample.row_keys`,
as the file path does), picks per size class the rows the bottom-k keeps, and fetches the
values (their first ``max_value_bytes``) of those rows only, by their ids. The sample
equals the file path's for the same rows; its cost is the ids of every row
(:attr:`PushdownStats.sample_id_rows`), plus at most ``per_class`` values a size class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from xcomlab import schema as S
from xcomlab.constants import ONE_OFF_MIN_BYTES
from xcomlab.errors import ExportFormatError, ParameterError, XcomlabError
from xcomlab.ingest.classify import HEAD_BYTES, classify
from xcomlab.ingest.failures import translate
from xcomlab.ingest.formats import resolve_format
from xcomlab.ingest.loader import LoadReport, TableReport
from xcomlab.ingest.normalize import detect_schema, is_json_schema
from xcomlab.ingest.sample import N_CLASSES, ValueSample, row_keys
from xcomlab.ingest.secret_rules import secret_name
from xcomlab.ingest.sqlsource import (
    PG_FENCE,
    open_engine,
    quote,
    row_source,
    value_sql,
    xcom_table_names,
    xcom_tables,
)
from xcomlab.summary.core import (
    GROUPS,
    LARGEST_PER_TABLE,
    TABLES,
    Summary,
    _rolled_note,
    coarsen,
    merge_all,
    merge_tables,
)
from xcomlab.summary.pushtables import (
    SORTED_LIMITS,
    Rolled,
    assemble,
    check_rows,
    findings,
    labels,
    raw,
    stamps,
)
from xcomlab.summary.runs import KEEP_SHARE, MAX_EXACT_RUN_KEYS
from xcomlab.summary.sqlrules import HARD, SqlRules, rules_for
from xcomlab.summary.sqlsession import (
    FoundTable,
    PushdownStats,
    Runner,
    bar,
    estimate,
    session,
    timeout_error,
)

if TYPE_CHECKING:  # loaded when a database is opened (summarize_db), not on import:
    import sqlalchemy as sa  # summarize_source streams a file without it

__all__ = ["PushdownStats", "summarize_db", "summarize_source"]

_ENCODINGS = np.asarray(S.ENCODINGS, dtype=object)


def summarize_db(source: str | sa.Engine, *, tables: str | list[str] | None = None,
                 statement_timeout: float | None = None, secrets: bool = True,
                 sample: bool = True, progress: bool | None = None,
                 stats: PushdownStats | None = None, errors: str = "raise",
                 max_run_keys: int = MAX_EXACT_RUN_KEYS) -> Summary:
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
        Draw the bounded value sample (:class:`~xcomlab.ingest.sample.ValueSample`, in
        ``sample``), equal to the one ``load_export(source, sample_values=True)`` keeps:
        every row's ids and size cross the wire, and the values of the sampled rows only
        (at most ``per_class`` a size class) — only for tables of at most
        :data:`SAMPLE_MAX_ROWS` rows in all (beyond, a load report note says the sample was
        not drawn). False: ``sample`` stays None.
    progress
        A progress bar per table on stderr; by default only when stderr is a terminal.
    stats
        Filled with the statements run and the bytes received.
    errors
        ``"raise"`` (default): a row the loader would reject (no ``dag_id``, ``task_id``
        or ``key``, or no timestamp) raises :class:`~xcomlab.errors.ExportFormatError`, as
        ``load_export`` does; ``"collect"``: such rows are left out of every table and
        counted in the report's ``rows_rejected`` (not listed: the report's
        ``rejections`` stays empty).
    max_run_keys
        ``run_keys`` groups kept exact, as for :func:`~xcomlab.summary.coarsen`: beyond,
        the runs before the cut are rolled up per day into ``old_runs`` and
        ``old_run_keys`` (:mod:`xcomlab.summary.runs`) — on PostgreSQL by the database, so
        the rolled runs' groups never cross the wire.

    Returns
    -------
    Summary
        Equal to ``summarize_frame(load_export(source, tables=tables, keep_values=True))``
        (with ``secrets=False``: without ``keep_values``; with ``sample``:
        ``sample_values=True``), and with the same
        :class:`~xcomlab.ingest.loader.LoadReport` in ``report`` (source, format, and per
        table its Airflow schema, columns and rows).
    """
    if statement_timeout is not None and not statement_timeout > 0:
        msg = f"statement_timeout={statement_timeout!r}; expected a positive number of seconds or None"
        raise ParameterError(msg)
    if errors not in ("raise", "collect"):
        msg = f"errors={errors!r}; expected 'raise' or 'collect'"
        raise ParameterError(msg)
    if max_run_keys <= 0:
        msg = f"max_run_keys={max_run_keys!r}; expected a positive number of groups"
        raise ParameterError(msg)
    st = stats if stats is not None else PushdownStats()
    start = time.perf_counter()
    engine, label, own = _open(source)
    try:
        try:
            fmt, shown = resolve_format(source, None)  # the load report's, as load_export names them
            out, read, notes = _summarize(engine, label, tables, statement_timeout, progress, secrets, st,
                                          errors == "collect", sample, max_run_keys)
            out = replace(out, report=LoadReport(shown, fmt, tuple(read), (), tuple(notes)))
            # the load report says which runs were rolled up, as coarsen's says it on the file path
            return replace(out, report=_rolled_note(out.report, out)) if len(out.old_runs) else out
        except XcomlabError:
            raise
        except Exception as exc:
            err = timeout_error(exc, label, statement_timeout) or translate(exc, label)
            if err is None:
                raise
            raise err from exc
    finally:
        st.seconds = time.perf_counter() - start
        if own:
            engine.dispose()


def _open(source: str | sa.Engine) -> tuple[sa.Engine, str, bool]:
    import sqlalchemy as sa

    if isinstance(source, sa.Engine):
        return open_engine(source, False)
    text = str(source)
    return open_engine(text, "://" not in text)



def _tables(engine: sa.Engine, label: str, wanted: str | list[str] | None) -> list[FoundTable]:
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
        out.append(FoundTable(name, list(info), is_json, is_json_schema(schema), aware, valid, schema))
    return out


def _summarize(engine: sa.Engine, label: str, wanted: str | list[str] | None, timeout: float | None,
               progress: bool | None, secrets: bool, st: PushdownStats,
               collect: bool = False, sample: bool = False,
               max_run_keys: int = MAX_EXACT_RUN_KEYS) -> tuple[Summary, list[TableReport], list[str]]:
    """The summary of the tables, and per table what the loader's report says of it (every
    row read is summarised: the loader's rejects raise, as ``load_export`` does by default;
    one read-only transaction, so the rows cannot change under the read).

    On PostgreSQL the per-run tables are bounded by the database (:func:`_rolled_sql`): the
    cut over one table's ``run_keys`` groups in its groups statement, over several tables'
    by a statement of its own first (:func:`_run_cut`); elsewhere by
    :func:`~xcomlab.summary.core.coarsen` in Python. Either way the result is
    ``coarsen(…, max_run_keys)`` of the unbounded summary."""
    found = _tables(engine, label, wanted)
    parts: list[Summary] = []
    read: list[TableReport] = []
    scratch, create, drop = _scratch_tables(engine, found, secrets)
    drawn = ValueSample() if sample else None
    ids: list[_Ids] = []
    notes: list[str] = []
    in_sql = engine.dialect.name == "postgresql"
    with session(engine, timeout, st, create, drop) as run:
        estimates = {t.name: estimate(run, engine, t.name) for t in found}
        roll: _Roll | None = None
        if in_sql:
            roll = _Roll(max_run_keys, _run_cut(run, engine, found, max_run_keys, collect) if len(found) > 1
                         else _COMPUTED)
        with bar(progress, sum(estimates.values())) as step:
            for table in found:
                part = _table_summary(run, engine, label, table, secrets, st, scratch.get(table.name), collect,
                                      roll)
                rejected = _rejected(run, engine, table) if collect else 0
                parts.append(part)
                read.append(TableReport(table.name, table.airflow_schema, tuple(table.columns),
                                        part.rows + rejected, part.rows, rejected, True))
                st.tables.append(table.name)
                step(estimates[table.name])
        total = sum(p.rows for p in parts)
        if drawn is not None and total > SAMPLE_MAX_ROWS:
            drawn = None
            notes.append(f"value sample not drawn: {total:,} rows is over {SAMPLE_MAX_ROWS:,} (every "
                         "row's ids would cross the wire); compression ratios are defaults — "
                         "summarise a file export of the table for measured ones")
        if drawn is not None:
            for table in found:
                ids.append(_sample_ids(run, engine, table, drawn, st, collect))
            _draw_sample(run, engine, ids, drawn, st)
    if in_sql:  # rolled at the one cut already: merged as they are (coarsen would cut again)
        merged: dict[str, Any] = {n: merge_tables(n, [getattr(p, n) for p in parts]) for n in TABLES}
        out = Summary(**merged)
    else:  # per-run tables bounded as a file's (merge_all of one part does not)
        out = coarsen(merge_all(parts), max_run_keys)
    if drawn is not None:
        out = replace(out, sample=drawn)
    st.rows_summarised = out.rows
    return out, read, notes


#: :attr:`_Roll.cut` when each table's groups statement computes the cut itself (one table).
_COMPUTED: Final = "computed"


@dataclass(frozen=True)
class _Roll:
    """How a PostgreSQL groups statement rolls runs up: the bound, and the cut — the
    newest last write (epoch microseconds) a rolled run may not reach, None when nothing
    rolls, or :data:`_COMPUTED` (computed in the statement, from its own groups)."""

    max_run_keys: int
    cut: int | str | None


def _run_cut(run: Runner, engine: sa.Engine, found: list[FoundTable], max_run_keys: int,
             collect: bool) -> int | None:
    """The cut of :func:`~xcomlab.summary.core.coarsen` over several tables' ``run_keys``
    groups, by the database (ids and timestamps only, no value): the last write of the
    ``KEEP_SHARE × max_run_keys``-th newest group when there are more than
    ``max_run_keys``, else None (epoch microseconds; a group without a timestamp as -1)."""
    rules = rules_for(engine.dialect.name, False)
    parts = []
    for t in found:
        q = {c: quote(engine, c) for c in ("dag_id", "run_id", "key", "timestamp")}
        by = ", ".join(f"x.{q[c]}" for c in ("dag_id", "run_id", "key") if c in t.columns or c != "run_id")
        where = f" WHERE {_kept(engine, t, 'x')}" if collect else ""
        last = rules.instant(f"x.{q['timestamp']}", "MAX")
        parts.append(f"SELECT COALESCE({last}, -1) AS l FROM {quote(engine, t.name)} x{where} GROUP BY {by}")
    keep = max(int(max_run_keys * KEEP_SHARE), 1)
    sql = (f"WITH u AS ({' UNION ALL '.join(parts)}) SELECT CASE WHEN (SELECT count(*) FROM u) > {int(max_run_keys)} "
           f"THEN (SELECT l FROM u ORDER BY l DESC OFFSET {keep - 1} LIMIT 1) END")
    got = run.scalar("run cut", sql)
    return None if got is None else int(got)


# -- one table ------------------------------------------------------------------------------



def _derived(engine: sa.Engine, table: FoundTable, rules: SqlRules, named: list[str] | None,
             source: str | None = None, scratch: bool = False, collect: bool = False) -> tuple[str, dict[str, str]]:
    """Per-row columns ``d, t, k, r, mi, ri, rs, ts, vb, nn, b, day, bd, c, o, pf, nk`` (ids, map
    index, the run's integer id (-1 where null), 1 where ``dag_result`` is not null,
    timestamp, size, NaN hint, size bucket, UTC day, the day again for rows of at least
    :data:`~xcomlab.constants.ONE_OFF_MIN_BYTES` (else null), class code, limits exceeded,
    picked by the secret prefilter, secret-like key name: :data:`_SC` is a secret candidate),
    and the SQL of the head, tail, full and whole value (``h, tl, fl, v``) over the derived
    row ``z``, for the rows fetched.

    ``named`` are the table's keys with a secret-like name (None: no secret scan).
    On PostgreSQL each level is fenced (:data:`~xcomlab.ingest.sqlsource.PG_FENCE`, a
    volatile column: parallel plans stay open) so every expression runs once per
    row, and the head and tail are taken only where a rule reads them; elsewhere the
    optimiser merges the levels and evaluates each ``CASE`` branch only when it is taken.
    ``scratch`` (MySQL/MariaDB): the rows to keep in a temporary table, the class and the
    prefilter computed once a row (in user variables) and the value's parts kept only on
    the rows fetched (:func:`_scratch_tables`). ``collect``: only the rows the loader keeps
    (:func:`_kept`).
    """
    where = f" WHERE {_kept(engine, table, 'x')}" if collect else ""
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
    pf = "(1=0)" if named is None else rules.secret("y.v")
    nk = f"({' OR '.join(f'y.k = {_sql_text(engine, k)}' for k in named)})" if named else "(1=0)"
    if d == "postgresql":
        ids = ids.replace(f", {e['nan']} AS nn", "")

        def at(col: str, row: str) -> str:
            return e[col].replace("x.v", f"{row}.v")

        # the value's first 17 characters and, for an object holding '"__' (what every rule
        # that reads an object's tail needs), its tail: computed once a row; one byte scan
        # of an object is cheaper than its tail (right() counts characters)
        ends = (f"CASE WHEN {rules.at('x.v', 0)} = {rules.lit('{')} AND {rules.contains('x.v', chr(34) + '__')} "
                f"THEN {e['tail']} END")
        inner = (f"SELECT {ids}, x.v AS v, {rules.prefix('x.v', 17)} AS p, {ends} AS e, {PG_FENCE} "
                 f"FROM {src}{where}")
        over = f"COALESCE(width_bucket(y.vb - 1, '{{{','.join(str(x) for x in SORTED_LIMITS)}}}'::bigint[]), 0)"
        head = f"CASE WHEN y.vb <= {HEAD_BYTES} THEN y.v ELSE {at('head', 'y')} END"  # a short value is its head
        nn = "false" if table.valid_json else at("nan", "y")  # jsonb holds no NaN token: the hint cannot matter
        cls = rules.encoding(table.json_3x, v="y.v", h=head, tl="y.e", vb="y.vb", nn=nn, p="y.p", e="y.e",
                             u="y.e IS NOT NULL")
        sql = (f"SELECT y.d, y.t, y.k, y.r, y.mi, y.ri, y.rs, y.ts, y.vb, y.v, {rules.bucket('y.vb')} AS b, "
               f"{rules.day('y.ts', table.aware)} AS day, {big}, {cls} AS c, {over} AS o, {pf} AS pf, {nk} AS nk, "
               f"{PG_FENCE} FROM ({inner}) y")
        return sql, {"h": at("head", "z"), "tl": at("tail", "z"), "fl": at("full", "z"), "v": "z.v",
                     "nn": at("nan", "z")}
    inner = (f"SELECT {ids}, {e['value']} AS v, {e['head']} AS h, {e['tail']} AS tl, {e['full']} AS fl "
             f"FROM {src}{where}")
    over = " + ".join(f"(CASE WHEN y.vb > {lim} THEN 1 ELSE 0 END)" for lim in SORTED_LIMITS)
    cls = rules.encoding(table.json_3x, v="y.v", h="y.h", tl="y.tl", vb="y.vb", nn="(y.nn <> 0)")
    if scratch:
        kept = ", ".join(f"CASE WHEN @c = {HARD} THEN y.{c} END AS {c}" for c in ("nn", "h", "tl", "fl"))
        sql = (f"SELECT y.d, y.t, y.k, y.r, y.mi, y.ri, y.rs, y.ts, y.vb, {rules.bucket('y.vb')} AS b, "
               f"{rules.day('y.ts', table.aware)} AS day, {big}, @c := ({cls}) AS c, {over} AS o, "
               f"@p := ({pf}) AS pf, {nk} AS nk, {kept}, CASE WHEN @p OR {nk} THEN y.v END AS v FROM ({inner}) y")
        return sql, {"h": "z.h", "tl": "z.tl", "fl": "z.fl", "v": "z.v", "nn": "z.nn"}
    sql = (f"SELECT y.d, y.t, y.k, y.r, y.mi, y.ri, y.rs, y.ts, y.vb, y.nn, y.h, y.tl, y.fl, y.v, "
           f"{rules.bucket('y.vb')} AS b, {rules.day('y.ts', table.aware)} AS day, {big}, {cls} AS c, "
           f"{over} AS o, {pf} AS pf, {nk} AS nk FROM ({inner}) y")
    return sql, {"h": "z.h", "tl": "z.tl", "fl": "z.fl", "v": "z.v", "nn": "z.nn"}


def _sql_text(engine: sa.Engine, text: str) -> str:
    """A string literal (keys are ids: short, and quoted by the dialect's own rules)."""
    import sqlalchemy as sa

    return sa.literal(text, sa.String()).compile(dialect=engine.dialect,
                                                 compile_kwargs={"literal_binds": True}).string


_MEASURES = ["n", "bytes", "mn", "mx", "first_ts", "last_ts", "mapped", "top", "res", "runid", "pfn"]
#: A secret candidate: picked by the prefilter, or under a secret-like key name.
_SC = "(z.pf OR z.nk)"
#: Groups per key, size bucket, class and limits (``bd``: the day of large rows only).
_KEY_COLS = ["d", "t", "k", "b", "c", "o", "bd"]
#: Groups per run, day and key: ``runs``, ``daily`` and ``run_keys`` all add these up.
_RUN_COLS = ["d", "r", "day", "k"]
_HARD_COLS = ["d", "r", "k", "vb", "h", "tl", "nn", "fl"]
_SECRET_COLS = ["d", "t", "r", "k", "mi", "v"]


def _measure_exprs(rules: SqlRules, z: str = "z.") -> dict[str, str]:
    """The aggregates of every grouping, by the name each is received as (:data:`_MEASURES`)."""
    return {"n": "COUNT(*)", "bytes": f"COALESCE(SUM({z}vb), 0)", "mn": f"MIN({z}vb)", "mx": f"MAX({z}vb)",
            "first_ts": rules.instant(f"{z}ts", "MIN"), "last_ts": rules.instant(f"{z}ts", "MAX"),
            "mapped": f"SUM(CASE WHEN {z}mi >= 0 THEN 1 ELSE 0 END)", "top": f"MAX({z}mi)",
            "res": f"SUM({z}rs)", "runid": f"MAX({z}ri)", "pfn": f"SUM(CASE WHEN {z}pf THEN 1 ELSE 0 END)"}


def _measures(rules: SqlRules, z: str = "z.") -> str:
    return ", ".join(f"{e} AS {m}" for m, e in _measure_exprs(rules, z).items())


#: Of the one ``GROUPING SETS`` statement (PostgreSQL), the grouping sets that read each
#: measure (``GROUPING(r, fx)``: 3 per key, 1 per run, 2 the fetched rows); every other
#: set receives NULL there, so the run groups (most of the rows received) carry five
#: measures, not eleven.
_READ_BY: Final = {"n": (1, 2, 3), "bytes": (1, 3), "first_ts": (1,), "last_ts": (1,), "runid": (1,)}


def _pg_measures(rules: SqlRules) -> str:
    out = []
    for m, e in _measure_exprs(rules, "").items():
        sets = _READ_BY.get(m, (3,))
        out.append(f"{e} AS {m}" if len(sets) == 3 else
                   f"CASE WHEN GROUPING(r, fx) IN ({', '.join(map(str, sets))}) THEN {e} END AS {m}")
    return ", ".join(out)


#: The fetched rows' columns as the PostgreSQL groups statement sends them: ids, size, NaN
#: hint and map index in one text array (``fx``), the value's parts in another (``fv``).
_FX: Final = ["h_d", "h_r", "h_k", "h_vb", "h_nn", "s_d", "s_t", "s_r", "s_k", "s_mi"]
_FV: Final = ["h_h", "h_tl", "h_fl", "s_v"]


def _fetched(part: pd.DataFrame) -> pd.DataFrame:
    """The fetched rows' groups with their arrays (:data:`_FX`, :data:`_FV`) as columns, typed."""
    out = part.drop(columns=["fx", "fv"])
    fx, fv = part["fx"].tolist(), part["fv"].tolist()
    for i, c in enumerate(_FX):
        got = [a[i] for a in fx]
        if c in ("h_vb", "s_mi"):
            got = [None if v is None else int(v) for v in got]
        elif c == "h_nn":
            got = [None if v is None else v in ("true", "t") for v in got]
        out[c] = pd.Series(got, index=part.index, dtype=object)
    for i, c in enumerate(_FV):
        out[c] = pd.Series([a[i] for a in fv], index=part.index, dtype=object)
    return out


def _part(rows: list[tuple[Any, ...]], names: list[str], g: int, wanted: list[str]) -> pd.DataFrame:
    """The rows of grouping set ``g`` of a ``GROUPING SETS`` result, only its own columns
    (a frame of all columns, mostly null, costs seconds to build at 10⁵ groups)."""
    at = names.index("g")
    pick = itemgetter(*(names.index(c) for c in wanted))
    return pd.DataFrame([pick(row) for row in rows if row[at] == g], columns=wanted)


#: Codes (``g``) of the rows :func:`_rolled_sql` adds to a groups statement's: rows and
#: bytes per DAG and day of the rolled runs, ``old_runs`` and ``old_run_keys`` groups.
_DAILY_OLD, _OLD_RUNS, _OLD_KEYS = 4, 5, 6
_DAY_US: Final = 86_400 * 10**6


def _rolled_sql(groups: str, names: list[str], roll: _Roll) -> tuple[str, list[str]]:
    """The PostgreSQL groups statement with its runs before the cut rolled up in the database
    (:func:`~xcomlab.summary.core.coarsen`, :func:`~xcomlab.summary.runs.rolled_tables`):
    its result and the names of its columns (``names`` and ``rday, runs, rb``).

    The groups' result is kept (``g``); from its run groups (per DAG, run, day and key) the
    statement computes each run's totals and last write, the cut (``roll.cut``, or the last
    write of the ``KEEP_SHARE × max_run_keys``-th newest ``run_keys`` group when there are
    more than ``max_run_keys``), and returns the key groups and fetched rows as they are
    (each undecided row with its run's day, ``rday``, when the run is rolled), the run
    groups of the runs that stay exact, and for the rolled runs only their rows and bytes
    per DAG and day (``g`` :data:`_DAILY_OLD`), the ``old_runs`` groups (per DAG, day of the
    run's last write and UTF-8 bytes of its run id, ``rb``; :data:`_OLD_RUNS`) and the
    ``old_run_keys`` groups (per DAG, key and day; :data:`_OLD_KEYS`) — not their groups
    per run. When nothing rolls, the result is the groups' own: every step past the cut is
    gated on it (a one-time filter), so the statement computes no more than the count."""
    out = [*names, "rday", "runs", "rb"]
    keep = max(int(roll.max_run_keys * KEEP_SHARE), 1)
    limit = int(roll.max_run_keys)

    def same(a: str, b: str) -> str:  # NULL matches NULL, and a hash join stays possible
        return f"COALESCE({a}, '') = COALESCE({b}, '') AND ({a} IS NULL) = ({b} IS NULL)"

    def branch(cols: dict[str, str], rest: str) -> str:
        # NULL takes the type of the first branch's column (the groups'); the new columns are typed
        return f"SELECT {', '.join(cols.get(c, _NULL_TYPES.get(c, 'NULL')) for c in out)} {rest}"

    # the run_keys groups (rk) make the cut, the runs and old_run_keys
    rk = ("rk AS (SELECT d, r, k, SUM(n)::bigint AS n, SUM(bytes)::bigint AS bytes, MIN(first_ts) AS first_ts, "
          "MAX(last_ts) AS last_ts, MAX(runid) AS runid FROM g WHERE g.g = 1 GROUP BY d, r, k)")
    if isinstance(roll.cut, int):
        cut = f"cut AS (SELECT {roll.cut}::bigint AS c)"
    else:  # _COMPUTED: a count of the run groups first (never fewer than the run_keys groups)
        cut = (f"cut AS (SELECT CASE WHEN (SELECT count(*) FROM g WHERE g.g = 1) > {limit} "
               f"AND (SELECT count(*) FROM rk) > {limit} THEN (SELECT COALESCE(last_ts, -1) AS l FROM rk "
               f"ORDER BY l DESC OFFSET {keep - 1} LIMIT 1) END AS c)")
    rolls = "(SELECT c FROM cut) IS NOT NULL"
    ctes = (f"WITH g AS MATERIALIZED ({groups}), {rk}, {cut}, "
            "run AS (SELECT d, r, SUM(n)::bigint AS n, SUM(bytes)::bigint AS bytes, MIN(first_ts) AS first_ts, "
            "MAX(last_ts) AS last_ts, MAX(runid) AS runid FROM rk GROUP BY d, r), "
            "flag AS (SELECT run.*, COALESCE(run.last_ts, -1) < cut.c AS old, "
            f"floor(run.last_ts::numeric / {_DAY_US})::bigint AS rday FROM run CROSS JOIN cut WHERE cut.c IS NOT NULL), "
            "gr AS (SELECT g.d, g.r, g.day, g.k, g.n, g.bytes, g.first_ts, g.last_ts, g.runid, f.old "
            f"FROM g JOIN flag f ON {same('g.d', 'f.d')} AND {same('g.r', 'f.r')} WHERE g.g = 1)")
    own = {c: f"g.{c}" for c in names}
    run_cols = {c: f"gr.{c}" for c in ("d", "r", "day", "k", "n", "bytes", "first_ts", "last_ts", "runid")}
    parts = [
        branch(own, f"FROM g WHERE g.g = 3 OR (g.g IN (1, 2) AND NOT {rolls})"),
        branch({**own, "rday": "CASE WHEN f.old THEN f.rday END"},
               f"FROM g LEFT JOIN flag f ON {same('g.fx[1]', 'f.d')} AND {same('g.fx[2]', 'f.r')} "
               f"WHERE g.g = 2 AND {rolls}"),
        branch({**run_cols, "g": "1"}, f"FROM gr WHERE NOT gr.old AND {rolls}"),
        branch({"d": "gr.d", "day": "gr.day", "g": str(_DAILY_OLD), "n": "SUM(gr.n)::bigint",
                "bytes": "SUM(gr.bytes)::bigint"}, f"FROM gr WHERE gr.old AND {rolls} GROUP BY gr.d, gr.day"),
        branch({"d": "q.d", "rday": "q.rday", "rb": "q.rb", "g": str(_OLD_RUNS), "n": "SUM(q.n)::bigint",
                "bytes": "SUM(q.bytes)::bigint", "runs": "COUNT(*)", "first_ts": "MIN(q.first_ts)",
                "last_ts": "MAX(q.last_ts)", "runid": "MAX(q.runid)"},
               "FROM (SELECT f.*, COALESCE(octet_length(convert_to(f.r, 'UTF8')), 0) AS rb FROM flag f "
               f"WHERE f.old) q WHERE {rolls} GROUP BY q.d, q.rday, q.rb"),
        branch({"d": "rk.d", "k": "rk.k", "rday": "f.rday", "g": str(_OLD_KEYS), "n": "SUM(rk.n)::bigint",
                "bytes": "SUM(rk.bytes)::bigint", "runs": "COUNT(*)", "first_ts": "MIN(rk.first_ts)",
                "last_ts": "MAX(rk.last_ts)"},
               f"FROM rk JOIN flag f ON {same('rk.d', 'f.d')} AND {same('rk.r', 'f.r')} WHERE f.old AND {rolls} "
               "GROUP BY rk.d, rk.k, f.rday"),
    ]
    return f"{ctes} {' UNION ALL '.join(parts)}", out


#: The NULLs of :func:`_rolled_sql`'s own columns where a branch has none (the groups'
#: columns take untyped NULLs: they resolve to the first branch's types).
_NULL_TYPES: Final = {"rday": "NULL::bigint", "runs": "NULL::bigint", "rb": "NULL::int"}


def _scratch_tables(engine: sa.Engine, found: list[FoundTable],
                    secrets: bool) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """MySQL/MariaDB: per table a temporary table of its derived rows (the class, the
    prefilter and the value's parts computed once a row, where a merged derived table would
    compute them once per use, and each grouping reads it instead of the table), with the
    statements that create it before the read-only transaction (which refuses
    ``CREATE``, yet lets a temporary table be filled) and drop it after."""
    if engine.dialect.name not in ("mysql", "mariadb"):
        return {}, (), ()
    names = {t.name: f"xcomlab_push_rows_{i}" for i, t in enumerate(found)}
    create, drop = [], []
    import sqlalchemy as sa

    kind = "ENGINE=Aria" if getattr(engine.dialect, "is_mariadb", False) else ""  # Aria: MariaDB's own scratch engine
    for t in found:
        rules = rules_for(engine.dialect.name, not t.is_json)
        sql, _ = _derived(engine, t, rules, [] if secrets else None, scratch=True)
        text = sa.text(f"SELECT * FROM ({sql}) q LIMIT 0").bindparams(
            **{k: v for k, v in rules.patterns().items() if f":{k}" in sql})
        shown = str(text.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        drop.append(f"DROP TEMPORARY TABLE IF EXISTS {names[t.name]}")
        create += [drop[-1], f"CREATE TEMPORARY TABLE {names[t.name]} {kind} AS {shown}"]
    return names, tuple(create), tuple(drop)


def _table_summary(run: Runner, engine: sa.Engine, label: str, table: FoundTable, secrets: bool,
                   st: PushdownStats, scratch: str | None = None, collect: bool = False,
                   roll: _Roll | None = None) -> Summary:
    rules = rules_for(engine.dialect.name, not table.is_json)
    named = _named_keys(run, engine, table) if secrets else None
    rolled: Rolled | None = None
    derived, held = _derived(engine, table, rules, named, scratch=scratch is not None, collect=collect)
    params = rules.patterns()
    rows_from = f"({derived})"
    if scratch is not None:
        run.fetch("derived rows", f"INSERT INTO {scratch} {derived}", params)
        rows_from = scratch
    keys = ", ".join(f"z.{c}" for c in _KEY_COLS)
    runs = ", ".join(f"z.{c}" for c in _RUN_COLS)
    exprs = {"d": "z.d", "r": "z.r", "k": "z.k", "vb": "z.vb", **held}
    ids = {"d": "z.d", "t": "z.t", "r": "z.r", "k": "z.k", "mi": "z.mi", "v": held["v"]}
    if engine.dialect.name == "postgresql":
        # one scan: the groupings at once; the rows fetched are a grouping of their own
        # (undecided rows' heads and tails, secret candidates' ids and values; every other
        # row falls in one group of nulls), grouped as two arrays (ids and sizes as text, the
        # value's parts): the planner, which estimates 200 groups an expression it has no
        # statistics of, hashes them, where it sorted every row in the leader for fourteen
        # columns (10M rows)
        cols = [f"CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}" for c in _HARD_COLS]
        cols += [f"CASE WHEN {_SC} THEN {ids[c]} END AS s_{c}" for c in _SECRET_COLS]
        fx = ", ".join(f"z.{c}::text" for c in _FX)
        fv = ", ".join(f"z.{c}" for c in _FV)
        sql = (f"SELECT {', '.join(_KEY_COLS)}, r, day, fx, fv, GROUPING(r, fx) AS g, "
               f"{_pg_measures(rules)} FROM (SELECT z.*, ARRAY[{fx}] AS fx, ARRAY[{fv}] AS fv FROM "
               f"(SELECT z.*, {', '.join(cols)} FROM ({derived}) z) z) z "
               f"GROUP BY GROUPING SETS (({', '.join(_KEY_COLS)}), ({', '.join(_RUN_COLS)}), (fx, fv))")
        names = [*_KEY_COLS, "r", "day", "fx", "fv", "g", *_MEASURES]
        if roll is not None and roll.cut is not None:
            sql, names = _rolled_sql(sql, names, roll)
            # the planner cannot estimate the rows of the CTEs the rolled runs are made of: it
            # sorts 2.2M run_keys groups for old_run_keys where hashing them is cheaper (10M
            # rows, 8 Dec 2026: 8.6 s, 5.3 of them an external sort); sorts that have no
            # alternative (the cut's top-N, the fetched rows' set) stay
            conn = run.conn
            was = conn.exec_driver_sql("SELECT current_setting('enable_sort'), "
                                       "set_config('enable_sort', 'off', true)").scalar()
            try:
                rows = run.fetch("groups", sql, params, values=("fv",))
            finally:
                conn.exec_driver_sql("SELECT set_config('enable_sort', %(was)s, true)", {"was": str(was)})
        else:
            rows = run.fetch("groups", sql, params, values=("fv",))
        by_key = _part(rows, names, 3, [*_KEY_COLS, *_MEASURES])
        by_run = _part(rows, names, 1, [*_RUN_COLS, *_MEASURES])
        held_rows = _fetched(_part(rows, names, 2, ["fx", "fv", *_MEASURES, *(["rday"] if "rday" in names else [])]))
        hard_rows = held_rows[held_rows["h_k"].notna()]
        times = hard_rows["n"].to_numpy(dtype=np.int64)
        hard = pd.DataFrame({c: np.repeat(hard_rows[f"h_{c}"].to_numpy(), times) for c in _HARD_COLS})
        if "rday" in names:  # the day of the run of each undecided row, where the run is rolled up
            hard["rday"] = np.repeat(hard_rows["rday"].to_numpy(), times)
            rolled = Rolled(_part(rows, names, _DAILY_OLD, ["d", "day", "n", "bytes"]),
                            _part(rows, names, _OLD_RUNS, ["d", "rday", "rb", "n", "bytes", "runs", "first_ts",
                                                           "last_ts", "runid"]),
                            _part(rows, names, _OLD_KEYS, ["d", "k", "rday", "n", "bytes", "runs", "first_ts",
                                                           "last_ts"]))
        cand_rows = held_rows[held_rows["s_k"].notna()]
        cands = pd.DataFrame({c: np.repeat(cand_rows[f"s_{c}"].to_numpy(), cand_rows["n"].to_numpy(dtype=np.int64)) for c in _SECRET_COLS})
    else:
        by_key = pd.DataFrame(run.fetch("key groups", f"SELECT {keys}, {_measures(rules)} FROM {rows_from} z GROUP BY {keys}",
                                        params), columns=[*_KEY_COLS, *_MEASURES])
        by_run = pd.DataFrame(run.fetch("run groups", f"SELECT {runs}, {_measures(rules)} FROM {rows_from} z GROUP BY {runs}",
                                        params), columns=[*_RUN_COLS, *_MEASURES])
        hard = pd.DataFrame(columns=_HARD_COLS)
        cands = pd.DataFrame(columns=_SECRET_COLS)
        if (by_key["c"] == HARD).any() or named is not None:
            # one more scan fetches both: undecided rows' heads and candidates' values
            cols = [f"CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}" for c in _HARD_COLS]
            cols += [f"CASE WHEN {_SC} THEN {ids[c]} END AS s_{c}" for c in _SECRET_COLS]
            sql = f"SELECT {', '.join(cols)} FROM {rows_from} z WHERE z.c = {HARD} OR {_SC}"
            names = [*(f"h_{c}" for c in _HARD_COLS), *(f"s_{c}" for c in _SECRET_COLS)]
            got = pd.DataFrame(run.fetch("fetched rows", sql, params, values=("h_h", "h_tl", "h_fl", "s_v")), columns=names)
            picked = got[got["h_k"].notna()]
            hard = pd.DataFrame({c: picked[f"h_{c}"].to_numpy() for c in _HARD_COLS})
            picked = got[got["s_k"].notna()]
            cands = pd.DataFrame({c: picked[f"s_{c}"].to_numpy() for c in _SECRET_COLS})
    if not collect:
        days = by_run if rolled is None else pd.concat([by_run[["day", "n"]], rolled.daily[["day", "n"]]])
        check_rows(label, table.name, by_key, days)
    st.prefilter_rows += int(pd.to_numeric(by_key["pfn"]).fillna(0).sum()) if named is not None else 0
    st.classified_rows += len(hard)
    st.secret_candidates += len(cands)
    if not len(by_key):
        return Summary.empty()
    largest = _largest(run, engine, table, rules, params, st, collect)
    found = findings(table.name, cands) if named is not None else None
    return assemble(table, by_key, by_run, hard, largest, found, rolled)


#: Sampled rows whose values one statement fetches (a few parameters a row: far under
#: SQLite's oldest limit of 999 bound parameters).
_SAMPLE_FETCH_ROWS = 150
#: Rows above which a push-down draws no value sample: drawing it moves every row's ids and
#: size over the wire (~88 B a row on PostgreSQL; 1M rows, 7 Dec 2026: 60 → 149 MB received,
#: 16.9 → 28.5 s), so beyond this the ratios fall back to defaults and the load report says so.
SAMPLE_MAX_ROWS: Final = 2_000_000
#: Rows of ids a chunk of the sample's ids statement holds (about 30 MB of Python objects).
_SAMPLE_CHUNK_ROWS = 50_000


def _sample_ids(run: Runner, engine: sa.Engine, table: FoundTable, sample: ValueSample,
                st: PushdownStats, collect: bool = False) -> _Ids:
    """Every row's ids and stored size (no value), streamed in chunks: each row's sample key
    is hashed from its ids, the per-class totals counted, and only each class's bottom-k
    candidates kept (memory bounded by a chunk, not the table)."""
    e = value_sql(engine.dialect.name, table.is_json, "")
    q = {c: quote(engine, c) for c in ("dag_id", "task_id", "key", "run_id", "map_index")}
    run_col = f"x.{q['run_id']}" if "run_id" in table.columns else "NULL"
    mi = f"COALESCE(x.{q['map_index']}, -1)" if "map_index" in table.columns else "-1"
    cols = f"x.{q['dag_id']}, x.{q['task_id']}, {run_col}, x.{q['key']}, {mi}, {e['vb']}"
    where = _has_value(engine, table) + (f" AND {_kept(engine, table, 'x')}" if collect else "")
    sql = f"SELECT {cols} FROM {row_source(engine, table.name, table.is_json)} WHERE {where}"
    out = _Ids(table, [], np.zeros(0), np.zeros(0, np.int64), np.zeros(N_CLASSES, np.int64),
               np.zeros(N_CLASSES, np.int64), cols, where, mi)
    for chunk in run.stream("sample ids", sql, size=_SAMPLE_CHUNK_ROWS):
        st.sample_id_rows += len(chunk)
        sizes = np.fromiter((r[5] for r in chunk), dtype=np.int64, count=len(chunk))
        cls = np.minimum(np.floor(np.log2(np.maximum(sizes, 1))).astype(np.int64), N_CLASSES - 1)
        out.rows_total += np.bincount(cls, minlength=N_CLASSES).astype(np.int64)
        np.add.at(out.bytes_total, cls, sizes)
        keys = np.concatenate([out.keys, _sample_keys(table.name, chunk, sample.seed)])
        cls = np.concatenate([out.cls, cls])
        both = out.rows + chunk
        keep = _bottom(keys, cls, sample)
        out.rows, out.keys, out.cls = [both[i] for i in keep.tolist()], keys[keep], cls[keep]
    return out


def _has_value(engine: sa.Engine, table: FoundTable) -> str:
    """True for the rows with a non-empty value. A PostgreSQL json/jsonb value's text is never
    empty, so there it is ``value IS NOT NULL``: a condition on a column of the table itself,
    which reaches the scan without rendering the text a second time (the row source's
    subquery is fenced by a volatile column, not by ``OFFSET 0``, so conditions on its
    plain columns are pushed into it)."""
    if engine.dialect.name == "postgresql" and table.valid_json:
        return f"x.{quote(engine, 'value')} IS NOT NULL"
    return f"{value_sql(engine.dialect.name, table.is_json, '')['vb']} > 0"


@dataclass
class _Ids:
    """One table's sample candidates as :func:`_sample_ids` kept them (ids and size, key,
    size class), its per-class totals, and the SQL that read them."""

    table: FoundTable
    rows: list[tuple[Any, ...]]
    keys: np.ndarray
    cls: np.ndarray
    rows_total: np.ndarray
    bytes_total: np.ndarray
    cols: str
    where: str
    mi: str


def _bottom(keys: np.ndarray, cls: np.ndarray, sample: ValueSample) -> np.ndarray:
    """Positions of each class's bottom-k candidates: the ``capacity`` smallest keys and
    every key tied with the last of them (ascending positions)."""
    picked: list[np.ndarray] = [np.zeros(0, np.int64)]
    for c in np.unique(cls).tolist():
        at = np.flatnonzero(cls == c)
        cap = sample.capacity(c)
        if len(at) > cap:
            at = at[keys[at] <= np.partition(keys[at], cap - 1)[cap - 1]]
        picked.append(at)
    return np.sort(np.concatenate(picked))


def _draw_sample(run: Runner, engine: sa.Engine, found: list[_Ids], sample: ValueSample,
                 st: PushdownStats) -> None:
    """Add every table's rows to ``sample`` as the file path does, fetching only the values
    the bottom-k of each size class keeps over all the tables (by their ids).

    The per-class totals are counted from every row's size: the population's. A fetch by
    ids may return more rows than asked (a case-insensitive collation, or rows whose ids
    repeat): their keys are hashed from their own ids, so a row outside a class's bottom-k
    is dropped by :meth:`~xcomlab.ingest.sample.ValueSample.add` as on the file path."""
    if not found:
        return
    keys = np.concatenate([f.keys for f in found])
    cls = np.concatenate([f.cls for f in found])
    which = np.repeat(np.arange(len(found)), [len(f.rows) for f in found])
    offset = np.cumsum([0] + [len(f.rows) for f in found])
    chosen = _bottom(keys, cls, sample)
    part = ValueSample(sample.per_class, sample.class_bytes, sample.max_value_bytes, sample.seed)
    for i, f in enumerate(found):
        mine = (chosen[which[chosen] == i] - offset[i]).tolist()
        got = _sample_values(run, engine, f, mine, sample.max_value_bytes)
        st.sample_values += len(got)
        if got:
            part.add([r[6] if isinstance(r[6], str) else bytes(r[6]) for r in got],
                     _sample_keys(f.table.name, got, sample.seed),
                     np.fromiter((r[5] for r in got), dtype=np.int64, count=len(got)))
    # the population's totals, not the fetched rows'
    part.rows = np.sum([f.rows_total for f in found], axis=0).astype(np.int64)
    part.bytes = np.sum([f.bytes_total for f in found], axis=0).astype(np.int64)
    sample.absorb(part)


def _sample_values(run: Runner, engine: sa.Engine, f: _Ids, picked: list[int],
                   max_bytes: int) -> list[tuple[Any, ...]]:
    """The rows ``picked`` (positions in ``f.rows``) with their values' first ``max_bytes``
    characters (at least as many bytes), fetched by their ids."""
    table = f.table
    q = {c: quote(engine, c) for c in ("dag_id", "task_id", "key", "run_id")}
    e = value_sql(engine.dialect.name, table.is_json, "")
    src = row_source(engine, table.name, table.is_json)
    got: list[tuple[Any, ...]] = []
    for start in range(0, len(picked), _SAMPLE_FETCH_ROWS):
        conds: list[str] = []
        params: dict[str, Any] = {}
        for j, i in enumerate(picked[start:start + _SAMPLE_FETCH_ROWS]):
            dag, task, run_id, key, index = f.rows[i][:5]
            params |= {f"d{j}": dag, f"t{j}": task, f"k{j}": key}
            cond = [f"x.{q['dag_id']} = :d{j}", f"x.{q['task_id']} = :t{j}", f"x.{q['key']} = :k{j}"]
            if "run_id" in table.columns:
                if run_id is None:
                    cond.append(f"x.{q['run_id']} IS NULL")
                else:
                    params[f"r{j}"] = run_id
                    cond.append(f"x.{q['run_id']} = :r{j}")
            if "map_index" in table.columns:
                params[f"m{j}"] = int(index)
                cond.append(f"{f.mi} = :m{j}")
            conds.append(f"({' AND '.join(cond)})")
        got += run.fetch("sample values", f"SELECT {f.cols}, substr({e['value']}, 1, {max_bytes}) AS v "
                         f"FROM {src} WHERE {f.where} AND ({' OR '.join(conds)})", params, values=("v",))
    return got


def _sample_keys(name: str, rows: list[tuple[Any, ...]], seed: int) -> np.ndarray:
    """:func:`~xcomlab.ingest.sample.row_keys` of fetched rows ``(dag, task, run, key, map index, …)``."""
    ids: list[tuple[np.ndarray | int, list[str | None]]] = [(0, [name])]
    for at in range(4):
        codes, words = pd.factorize(pd.Series([r[at] for r in rows], dtype=object), use_na_sentinel=True)
        ids.append((codes, [w if isinstance(w, str) else str(w) for w in words]))
    index = np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows))
    return row_keys(ids, index, seed=seed)


def _named_keys(run: Runner, engine: sa.Engine, table: FoundTable) -> list[str]:
    """The table's distinct keys whose name says they hold a secret (read off the key index)."""
    keys = run.scalars("key names", f"SELECT DISTINCT {quote(engine, 'key')} FROM {quote(engine, table.name)}")
    return sorted(k for k in keys if isinstance(k, str) and k and secret_name(k))



def _largest(run: Runner, engine: sa.Engine, table: FoundTable, rules: SqlRules,
             params: dict[str, str], st: PushdownStats, collect: bool = False) -> pd.DataFrame:
    """The :data:`~xcomlab.summary.LARGEST_PER_TABLE` largest rows: picked in SQL by size, then
    ids in code-point order (as the summary's index sorts them), and only those rows
    classified (the undecided among them from their fetched heads)."""
    derived, held = _derived(engine, table, rules, None, _top_rows(engine, table, collect))
    exprs = {"d": "z.d", "r": "z.r", "k": "z.k", "vb": "z.vb", **held}
    picked = ["d", "t", "r", "k", "mi", "vb", "ts", "c"]
    sql = (f"SELECT {', '.join(f'z.{c}' for c in picked)}, "
           f"{', '.join(f'CASE WHEN z.c = {HARD} THEN {exprs[c]} END AS h_{c}' for c in _HARD_COLS)} "
           f"FROM ({derived}) z")
    rows = run.fetch("largest", sql, params, values=("h_h", "h_tl", "h_fl"))
    out = pd.DataFrame(rows, columns=[*picked, *(f"h_{c}" for c in _HARD_COLS)])
    enc = _ENCODINGS[np.maximum(out["c"].to_numpy(dtype=np.int64), 0)] if len(out) else np.array([], object)
    hard = out["c"].to_numpy(dtype=np.int64) == HARD if len(out) else np.zeros(0, bool)
    if hard.any():
        sub = out[hard]
        got = classify(raw(pd.DataFrame({c: sub[f"h_{c}"].to_numpy() for c in _HARD_COLS})),
                       json_3x=table.json_3x)
        enc = enc.copy()
        enc[hard] = got.encoding
    index = pd.MultiIndex.from_arrays(
        [[table.name] * len(out), labels(out["d"]), labels(out["t"]), labels(out["r"]), labels(out["k"]),
         out["mi"].astype("int64")], names=GROUPS["largest"])
    return pd.DataFrame({"value_bytes": out["vb"].astype("int64").to_numpy(), "encoding": enc,
                         "timestamp": stamps(out["ts"]).to_numpy()}, index=index)


def _kept(engine: sa.Engine, table: FoundTable, alias: str) -> str:
    """True for the rows the loader keeps (:func:`~xcomlab.summary.pushtables.check_rows`
    names the others): non-empty ``dag_id``, ``task_id`` and ``key``, and a timestamp."""
    ids = [f"{alias}.{quote(engine, c)}" for c in ("dag_id", "task_id", "key")]
    return " AND ".join([*(f"{c} IS NOT NULL AND {c} <> ''" for c in ids),
                         f"{alias}.{quote(engine, 'timestamp')} IS NOT NULL"])


def _rejected(run: Runner, engine: sa.Engine, table: FoundTable) -> int:
    """How many of the table's rows the loader rejects (with ``errors="collect"``)."""
    return int(run.scalar("rejected rows", f"SELECT COALESCE(SUM(CASE WHEN {_kept(engine, table, 'x')} THEN 0 "
                                           f"ELSE 1 END), 0) FROM {quote(engine, table.name)} x") or 0)


def _top_rows(engine: sa.Engine, table: FoundTable, collect: bool = False) -> str:
    """A row source of the table's largest rows, largest first, ties by ids in code-point
    order with nulls last (the order of the summary's ``largest`` table)."""
    d = engine.dialect.name
    e = value_sql(d, table.is_json, "")
    name = quote(engine, table.name)
    cols = {c: f"s.{quote(engine, c)}" for c in ("dag_id", "task_id", "run_id", "key", "map_index")}
    kept = f" AND {_kept(engine, table, 's')}" if collect else ""
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
        # a parallel top-N of the rows' addresses (sizes only), then the rows themselves by
        # address: rendering each value once in the scan, and only 100 of them in the result
        # (10M rows, load 3.4–3.8, 7 Dec 2026: 13.6–16.7 s; the fenced serial scan that kept
        # every value's text, 23.7–28.3 s; same rows)
        cast = "s.value::text" if table.is_json else "s.value"
        keys = ", ".join([f"octet_length({cast}) DESC", *order])
        top = (f"SELECT s.ctid FROM {name} s WHERE s.value IS NOT NULL{kept} ORDER BY {keys} "
               f"LIMIT {LARGEST_PER_TABLE}")
        return f"(SELECT s.*, {cast} AS v FROM {name} s WHERE s.ctid = ANY(ARRAY({top})) ORDER BY {keys}) x"
    base = f"{name} s WHERE s.value IS NOT NULL{kept}"
    size = e["vb"].replace("value", "s.value")
    return (f"(SELECT s.* FROM {base} ORDER BY {size} DESC, {', '.join(order)} "
            f"LIMIT {LARGEST_PER_TABLE}) x")



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
                            progress=progress, stats=stats, errors=load_options.get("errors", "raise"),
                            sample=load_options.get("sample", True))
    return summarize_file(source, format=format, tables=tables, progress=progress, **load_options)
