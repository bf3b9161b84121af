"""``summarize_db``: the database computes the summary, and it equals the frame path's.

Every test compares with ``summarize_frame(load_export(url))`` on the same database —
SQLite always, PostgreSQL and MariaDB when their loopback servers answer — over values
that exercise every rule of the classifier (the byte shortcuts' variants of
``tests/ingest/test_speed_paths.py``), NaN, pickles, references, secrets, NULL values,
archive tables and an empty table, in the Airflow 3 (JSON) and Airflow 2 (bytes) layouts.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import sqlalchemy as sa
from conftest import ROOT
from ingest.test_speed_paths import _variants

import xcomlab
from xcomlab.airflow_tables import AIRFLOW3_COLUMNS, create_statements
from xcomlab.errors import ExportFormatError, ParameterError, StatementTimeoutError
from xcomlab.summary import (
    TABLES,
    PushdownStats,
    Summary,
    summarize_db,
    summarize_frame,
    summarize_source,
)
from xcomlab.summary.core import OPTIONAL_TABLES, ROLLED_NOTE, coarsen
from xcomlab.summary.histogram import EDGES, bucket_of
from xcomlab.summary.sqlrules import rules_for

AF2_COLUMNS = tuple(c for c in AIRFLOW3_COLUMNS if c != "dag_result")
PICKLE = b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
EXTRA = [
    b"[1.5, NaN]", b'{"x": Infinity}', b'"NaN"', b'{"note": "NaN and Infinity"}', b"-Infinity",
    b'"{\\"x\\": NaN}"', PICKLE, b"\x80\x04K*.", b"\xff\xfe\x00binary", b"not json at all",
    b'"s3://aws_default@bucket/xcom/d/r/t/643212b5.gz"', b'"file:///srv/xcomstore/d1/t1/1.gz"',
    b'{"uri": "gs://b/xcomlab/d/r/t/k.zst", "__xcomlab__": 1, "stored_bytes": 1234}',
    b'"postgresql://airflow:hunter2secret@db:5432/airflow"', b'{"aws_key": "AKIAXCOMLABFAKEKEY01"}',
    b'{"password": "Zx9#kQ2!mP7$wL4@"}', b'{"\\u0070assword": "Qw8#kZ3!mP6$wL5@"}', b'{"rows": ' + b"1" * 3000 + b"}",
    b'{"pad": "' + b"x" * 5000 + b'", "__version__": 1, "__classname__": "builtins.tuple"}',
    b'"' + b"y" * 2000 + b'"', '"{\\"k\\": \\"\u65e5\u672c\\"}"'.encode(), b"null", b"true",
    # at and around ONE_OFF_MIN_BYTES (64 KiB): the rows of the summary's big table
    *(b'"' + b"z" * (size - 2) + b'"' for size in (65_535, 65_536, 65_536, 200_000)),
]
KEYS = ["return_value", "return_value", "skipmixin_key", "_link_Console", "password", "custom"]
T0 = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def _values(json_text: bool) -> list[bytes | None]:
    """The test values (JSON text only, as a JSON column accepts, for ``json_text``)."""
    out: list[bytes | None] = [*_variants(random.Random(11)), *EXTRA, None, None]
    if not json_text:
        return out
    keep: list[bytes | None] = []
    for v in out:
        if v is None:
            keep.append(v)
            continue
        try:
            json.loads(v.decode("utf-8"), parse_constant=lambda c: 1 / 0)
        except (ValueError, ZeroDivisionError):
            continue
        keep.append(v)
    return keep


def _rows(values: list[bytes | None], json_text: bool, af3: bool) -> list[dict[str, object]]:
    rows = []
    for i, v in enumerate(values):
        run = i % 7
        row: dict[str, object] = {
            "dag_run_id": run, "task_id": f"t{i % 5}", "map_index": i // 35, "key": KEYS[i % len(KEYS)],
            "dag_id": f"dag_{i % 3}", "run_id": f"run_{run}",
            # runs cross midnight UTC: days and first timestamps are both tested
            "timestamp": T0 + timedelta(minutes=17 * i),
            "value": None if v is None else (v.decode("utf-8") if json_text else v)}
        if af3:
            row["dag_result"] = i % 11 == 0
        rows.append(row)
    return rows


def _fill(url: str, *, af3: bool) -> None:
    """xcom (Airflow 3: JSON, Airflow 2: bytes), a bytes archive, a db-clean copy, an empty one."""
    engine = sa.create_engine(url)
    d = "mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    kind = "json" if af3 else "bytes"
    cols = AIRFLOW3_COLUMNS if af3 else AF2_COLUMNS
    tables = [("xcom", cols, kind, _values(af3)),
              ("_xcom_archive", AF2_COLUMNS, "bytes", _values(False)[::3]),
              ("_airflow_deleted__xcom__20260101000000", cols, kind, _values(af3)[1::4]),
              ("_airflow_deleted__xcom__20260201000000", cols, kind, [])]
    with engine.begin() as c:
        if d == "mysql":
            c.exec_driver_sql("SET time_zone = '+00:00'")
        for name, columns, k, values in tables:
            for stmt in create_statements(d, name, columns, k):
                c.exec_driver_sql(stmt)
            rows = _rows(values, k == "json", "dag_result" in columns)
            if not rows:
                continue
            if d != "postgresql":
                for r in rows:
                    r["timestamp"] = r["timestamp"].replace(tzinfo=None).isoformat(sep=" ")  # type: ignore[attr-defined]
            value = "CAST(:value AS jsonb)" if d == "postgresql" and k == "json" else ":value"
            q = '"key"' if d != "mysql" else "`key`"
            names = ", ".join(q if c == "key" else c for c in columns)
            marks = ", ".join(value if c == "value" else f":{c}" for c in columns)
            c.execute(sa.text(f"INSERT INTO {name} ({names}) VALUES ({marks})"), rows)
    engine.dispose()


def _assert_equal(got: Summary, want: Summary) -> None:
    for name in TABLES:
        a, b = getattr(got, name), getattr(want, name)
        if name in OPTIONAL_TABLES and not len(a):
            continue  # not pushed down yet: the analyses fall back (xcomlab/summary/core.py)
        assert a.equals(b), f"{name} differs:\n{a}\n--- frame path ---\n{b}"
    assert got.sample is None and want.sample is None


def _check(url: str | Path, **options: object) -> PushdownStats:
    """summarize_db equals the frame path: values scanned for secrets, and without them."""
    stats = PushdownStats()
    got = summarize_db(url, stats=stats, sample=False, **options)  # type: ignore[arg-type]
    want = summarize_frame(xcomlab.load_export(url, keep_values=True, sample_values=False,
                                               **options))  # type: ignore[arg-type]
    _assert_equal(got, want)
    # the same load report: source, format, and per table its schema, columns and rows
    assert got.report is not None and got.report == want.report, f"{got.report!r} != {want.report!r}"
    plain = summarize_db(url, secrets=False, sample=False, **options)  # type: ignore[arg-type]
    _assert_equal(plain, summarize_frame(xcomlab.load_export(url, sample_values=False, **options)))  # type: ignore[arg-type]
    return stats


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'airflow.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    name = {"sqlite": "sqlite_url", "postgresql": "pg_url", "mariadb": "mysql_url"}[request.param]
    return str(request.getfixturevalue(name))


# ------------------------------------------------------------------ equality


@pytest.mark.slow
@pytest.mark.parametrize("af3", [True, False], ids=["af3-json", "af2-bytes"])
def test_equals_the_frame_path(db_url: str, af3: bool) -> None:
    _fill(db_url, af3=af3)
    stats = _check(db_url)
    s = summarize_db(db_url, sample=False)
    assert set(s.tables()) == {"xcom", "_xcom_archive", "_airflow_deleted__xcom__20260101000000"}
    enc = set(s.classes.index.get_level_values("encoding"))
    assert {"json", "serde", "pickle", "null"} <= enc
    flags = s.classes.reset_index()
    assert flags["reference"].any() and flags["internal"].any()
    if not af3:  # a JSON column holds neither NaN nor text that is not JSON
        assert flags["has_nan"].any() and {"text", "unknown"} <= enc
    else:
        assert "double_json" in enc
    # these values are the rules' corner cases, yet many are decided in SQL: only the
    # undecided ones were fetched
    assert 0 < stats.classified_rows < 0.7 * s.rows
    kinds = set(s.secrets.index.get_level_values("kind"))
    assert {"aws_access_key", "url_password", "secret_named_key"} <= kinds
    assert s.rows_scanned("secrets") == s.rows and len(s.largest) and len(s.mapped)
    assert s.big.xs("xcom", level="source_table")["rows"].sum() == 3  # 65,535 bytes is under 64 KiB
    assert s.run_keys["refs"].sum() > 0 and s.sources["mapped_rows"].sum() > 0
    assert 0 < stats.secret_candidates < s.rows
    # the prefilter alone picks some of the candidates (the others: secret-like key names)
    assert 0 < stats.prefilter_rows <= stats.secret_candidates
    assert "largest" in {w for w, _, _ in stats.timings} and stats.statements == len(stats.timings)


@pytest.mark.parametrize(("max_run_keys", "af3"), [(10, True), (10, False), (1_000_000, True)],
                         ids=["rolled-af3-json", "rolled-af2-bytes", "exact"])
@pytest.mark.parametrize("tables", [None, "xcom"], ids=["all-tables", "one-table"])
def test_runs_rolled_up_as_coarsen_rolls_them(db_url: str, tables: str | None, max_run_keys: int,
                                               af3: bool) -> None:
    """A table with more ``run_keys`` groups than ``max_run_keys``: the runs before the cut
    are rolled up per day (on PostgreSQL by the database: the cut in the groups statement
    for one table, by a statement of its own for several), equal to ``coarsen`` of the
    frame path's summary — tables, references in the rolled runs and the report's note."""
    _fill(db_url, af3=af3)
    options: dict[str, object] = {} if tables is None else {"tables": tables}
    stats = PushdownStats()
    got = summarize_db(db_url, sample=False, max_run_keys=max_run_keys, stats=stats, **options)  # type: ignore[arg-type]
    want = coarsen(summarize_frame(xcomlab.load_export(db_url, keep_values=True, sample_values=False,
                                                       **options)), max_run_keys)  # type: ignore[arg-type]
    _assert_equal(got, replace(want, weekly=got.weekly))  # weekly is not pushed down
    for name in ("old_runs", "old_run_keys"):  # which _assert_equal passes over when empty
        assert getattr(got, name).equals(getattr(want, name)), name
    assert got.report is not None and got.report == want.report, f"{got.report!r} != {want.report!r}"
    if max_run_keys > 100:
        assert not len(got.old_runs)
        return
    assert len(got.old_runs) and len(got.old_run_keys) and len(got.runs) < len(got.old_runs) + len(got.runs)
    assert got.old_run_keys["refs"].sum() > 0  # references among the rolled runs' undecided rows
    assert any(n.startswith(ROLLED_NOTE) for n in got.report.notes)
    if db_url.startswith("postgresql"):  # the rolled runs' groups did not cross the wire
        plain = PushdownStats()
        summarize_db(db_url, sample=False, stats=plain, **options)  # type: ignore[arg-type]
        groups = {w: n for w, _, n in stats.timings}["groups"]
        assert groups < {w: n for w, _, n in plain.timings}["groups"]
        assert ("run cut" in {w for w, _, _ in stats.timings}) == (tables is None)


def test_max_run_keys_must_be_positive(sqlite_url: str) -> None:
    _fill(sqlite_url, af3=True)
    with pytest.raises(ParameterError, match="max_run_keys=0"):
        summarize_db(sqlite_url, max_run_keys=0)


@pytest.mark.slow
@pytest.mark.parametrize("path", [ROOT / "data/samples/af3/airflow.db",
                                  ROOT / "tests/fixtures/airflow/af33/sqlite/airflow.db",
                                  ROOT / "tests/fixtures/airflow/af210/sqlite/airflow.db"],
                         ids=["sample-af3", "real-af33", "real-af210"])
def test_airflow_db_files(path: Path) -> None:
    before = path.read_bytes()
    _check(path)
    assert path.read_bytes() == before  # opened read-only


@pytest.mark.slow
@pytest.mark.parametrize("version", ["af33", "af210"])
def test_real_airflow_tables_on_postgresql(pg_url: str, version: str) -> None:
    """Rows real Airflow wrote (jsonb on 3.3, bytea on 2.10), copied into a live table."""
    dump = ROOT / f"tests/fixtures/airflow/{version}/pg/xcom.csv"
    header = dump.read_text(encoding="utf-8").split("\n", 1)[0]
    kind = "json" if version == "af33" else "bytes"
    engine = sa.create_engine(pg_url)
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection
        with con.cursor() as cur:
            for stmt in create_statements("postgresql", "xcom", header.split(","), kind):
                cur.execute(stmt)
            with cur.copy(f"COPY xcom ({header}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(dump.read_bytes())
        con.commit()
    finally:
        raw.close()
        engine.dispose()
    _check(pg_url)


def test_tables_option_and_errors(sqlite_url: str) -> None:
    _fill(sqlite_url, af3=True)
    _check(sqlite_url, tables="_xcom_archive")
    assert summarize_db(sqlite_url, tables="_xcom_archive").tables() == ["_xcom_archive"]
    with pytest.raises(ExportFormatError, match=r"no table \['nope'\]"):
        summarize_db(sqlite_url, tables=["nope"])


def test_rows_the_loader_rejects_are_refused(sqlite_url: str) -> None:
    """An archive copy (no NOT NULL) with an empty dag_id: both paths raise."""
    _fill(sqlite_url, af3=True)
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO _airflow_deleted__xcom__20260201000000 (task_id, key, dag_id, run_id, "
                    "value, timestamp) VALUES ('t', 'k', '', 'r', '1', '2026-01-01 00:00:00')")
    with pytest.raises(ExportFormatError, match="no dag_id"):
        summarize_db(sqlite_url)
    with pytest.raises(ExportFormatError):
        xcomlab.load_export(sqlite_url)


def test_rows_the_loader_rejects_are_counted_with_collect(db_url: str) -> None:
    """``errors="collect"``: rows with an empty id are left out and counted, as the loader does."""
    _fill(db_url, af3=True)
    engine = sa.create_engine(db_url)
    q = "`key`" if engine.dialect.name in ("mysql", "mariadb") else '"key"'
    with engine.begin() as c:
        for dag, task in (("", "t"), ("d", ""), ("dag_0", "t0")):
            c.exec_driver_sql(f"INSERT INTO _airflow_deleted__xcom__20260201000000 (dag_run_id, task_id, map_index, "
                              f"{q}, dag_result, dag_id, run_id, value, timestamp) VALUES (1, '{task}', -1, 'k', "
                              f"false, '{dag}', 'r', '1', '2026-01-01 00:00:00')")
    engine.dispose()
    got = summarize_db(db_url, sample=False, errors="collect")
    want = summarize_frame(xcomlab.load_export(db_url, keep_values=True, sample_values=False, errors="collect"))
    _assert_equal(got, want)
    assert got.report is not None and want.report is not None
    assert [(t.table, t.rows_read, t.rows_loaded, t.rows_rejected) for t in got.report.tables] == \
        [(t.table, t.rows_read, t.rows_loaded, t.rows_rejected) for t in want.report.tables]
    assert got.report.rows_rejected == 2


def test_sql_prefilter_is_the_rules_prefilter_split() -> None:
    """The SQL prefilter is read off the secret rules' own (top-level alternatives, the
    case-insensitive ones matched case-insensitively): none is lost in the split."""
    from xcomlab.ingest.secret_rules import _PREFILTER
    from xcomlab.summary.sqlrules import SECRET_CI, SECRET_CS, _alternatives

    parts = _alternatives(_PREFILTER)
    assert "|".join(parts) == _PREFILTER and len(parts) > 3
    assert len(_alternatives(SECRET_CS)) + len(_alternatives(SECRET_CI)) == len(parts)


# ------------------------------------------------------------------ buckets


def _edge_sizes() -> np.ndarray:
    edges = EDGES[EDGES <= 2**45]
    sizes = np.unique(np.concatenate([edges - 1, edges, edges + 1]))
    return sizes[sizes >= 0]


def test_sql_buckets_are_bucket_of_at_every_edge(db_url: str) -> None:
    """The size bucket computed in SQL is bucket_of's at, below and above every edge."""
    sizes = _edge_sizes()
    engine = sa.create_engine(db_url)
    rules = rules_for(engine.dialect.name, True)
    try:
        with engine.begin() as c:
            c.exec_driver_sql("CREATE TABLE pushdown_sizes (s BIGINT)")
            c.execute(sa.text("INSERT INTO pushdown_sizes (s) VALUES (:s)"), [{"s": int(s)} for s in sizes])
        with engine.connect() as c:
            if engine.dialect.name == "sqlite":
                from xcomlab.summary.sqlrules import sqlite_bucket

                c.connection.driver_connection.create_function("xcomlab_bucket", 1, sqlite_bucket)
            got = c.exec_driver_sql(f"SELECT s, {rules.bucket('s')} FROM pushdown_sizes ORDER BY s").all()
    finally:
        engine.dispose()
    got_sizes = np.array([int(s) for s, _ in got], dtype=np.int64)
    assert (got_sizes == sizes).all()
    assert [int(b) for _, b in got] == bucket_of(sizes).astype(int).tolist()


# ------------------------------------------------------------------ the value sample


def _assert_same_sample(got: Summary, want: Summary) -> None:
    a, b = got.sample, want.sample
    assert a is not None and b is not None and a.n_values > 0
    assert (a.per_class, a.class_bytes, a.max_value_bytes, a.seed) == (b.per_class, b.class_bytes,
                                                                       b.max_value_bytes, b.seed)
    assert a.rows.tolist() == b.rows.tolist() and a.bytes.tolist() == b.bytes.tolist()
    assert a.classes() == b.classes(), f"{a!r} != {b!r}"


@pytest.mark.parametrize("af3", [True, False], ids=["af3-json", "af2-bytes"])
def test_sample_equals_the_file_paths(db_url: str, af3: bool) -> None:
    """The push-down draws the value sample the loader keeps (same keys, same rows), and
    fetches only the sampled rows' values: every row's ids, a few values a size class."""
    _fill(db_url, af3=af3)
    stats = PushdownStats()
    got = summarize_db(db_url, stats=stats, secrets=False)
    want = summarize_frame(xcomlab.load_export(db_url, sample_values=True))
    _assert_same_sample(got, want)
    s = got.sample
    assert s is not None and int(s.rows.sum()) == stats.sample_id_rows
    assert s.rows.max() > s.per_class  # a class drew its bottom-k out of more rows
    assert s.n_values == stats.sample_values < stats.sample_id_rows  # no tie, no id repeats here
    # the values received beyond the summary's own: the sampled ones' prefixes only
    plain = PushdownStats()
    _assert_equal(replace(got, sample=None), summarize_db(db_url, stats=plain, secrets=False, sample=False))
    extra = stats.value_bytes_received - plain.value_bytes_received
    assert s.sampled_bytes <= extra <= 4 * s.sampled_bytes  # a text prefix is cut by characters
    what = [w for w, _, _ in stats.timings]
    assert stats.statements - plain.statements == what.count("sample ids") + what.count("sample values")
    assert what.count("sample ids") == len(got.report.tables) if got.report is not None else False


def _statements(url: str, **options: object) -> list[tuple[str, object]]:
    """summarize_db on ``url``: each statement the driver received, with its parameters."""
    engine = sa.create_engine(url)
    sent: list[tuple[str, object]] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: sent.append((sql, params)))
    try:
        summarize_db(engine, **options)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return sent


def _one(sent: list[tuple[str, object]], *parts: str) -> tuple[str, object]:
    """The last statement holding every one of ``parts``."""
    return [(sql, params) for sql, params in sent if all(p in sql for p in parts)][-1]


def _plan(url: str, sql: str, params: object, *settings: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            for setting in settings:
                c.exec_driver_sql(f"SET LOCAL {setting}")
            rows = c.exec_driver_sql(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}", params).all()  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return "\n".join(r[0] for r in rows)


def test_postgresql_groups_run_as_a_parallel_plan_each_expression_once(pg_url: str) -> None:
    """The groups statement's per-row levels are fenced by a volatile, parallel-safe column,
    not ``OFFSET 0`` (which rules parallel plans out): PostgreSQL scans in parallel workers,
    yet renders each value's text once and runs the prefilter's case-insensitive regex once
    (the plan holds each expression once: a merged level would repeat it in every column
    that reads it). The sample's fetch by ids reaches the table's index."""
    _fill(pg_url, af3=True)
    sent = _statements(pg_url, tables="xcom")  # jsonb, rendered as text
    sql, params = _one(sent, "GROUPING SETS")
    parallel = ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                "max_parallel_workers_per_gather = 2")
    plan = _plan(pg_url, sql, params, *parallel)
    assert "Parallel Seq Scan" in plan and "Gather" in plan, plan
    assert plan.count("(t.value)::text") == 1, plan
    assert plan.count("~*") == 1, plan  # the prefilter's case-insensitive words
    assert "OFFSET 0" not in sql.upper()  # no fence by OFFSET (the cut of the runs takes one: not 0)
    sql, params = _one(sent, "SELECT", ") AS v FROM", " OR ")  # the sampled rows' values, by ids
    plan = _plan(pg_url, sql, params, "enable_seqscan = off")
    assert "Index" in plan and "Seq Scan" not in plan, plan
    assert plan.count("(t.value)::text") == 1, plan


def test_postgresql_session_lets_the_groupings_hash(pg_url: str) -> None:
    """The session's hash tables may grow to 1 GB (work_mem 64 MB × 16), only for its own
    read-only transaction: the connection is handed back with the server's settings."""
    from xcomlab.summary.sqlsession import session

    engine = sa.create_engine(pg_url, poolclass=sa.pool.StaticPool)
    try:
        with engine.connect() as c:
            before = c.exec_driver_sql("SHOW hash_mem_multiplier").scalar()
        with session(engine, None) as run:
            assert run.scalar("setting", "SHOW hash_mem_multiplier") == "16"
            assert run.scalar("setting", "SHOW work_mem") == "64MB"
        with engine.connect() as c:
            assert c.exec_driver_sql("SHOW hash_mem_multiplier").scalar() == before != "16"
    finally:
        engine.dispose()


def test_sample_ids_streamed_in_chunks(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ids come in chunks, each pruned to the classes' bottom-k: the same sample."""
    import xcomlab.summary.pushdown as pushdown

    _fill(db_url, af3=False)
    whole = summarize_db(db_url, secrets=False)
    monkeypatch.setattr(pushdown, "_SAMPLE_CHUNK_ROWS", 7)
    stats = PushdownStats()
    _assert_same_sample(summarize_db(db_url, secrets=False, stats=stats), whole)
    assert stats.sample_values == whole.sample.n_values if whole.sample is not None else False


def test_no_sample_over_the_row_bound_and_the_report_says_so(sqlite_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Over SAMPLE_MAX_ROWS no row's ids cross the wire for the sample: it stays None, the
    load report says why, and the rest of the summary is the same."""
    import xcomlab.summary.pushdown as pushdown

    _fill(sqlite_url, af3=True)
    whole = summarize_db(sqlite_url, secrets=False)
    assert whole.sample is not None and whole.report is not None and not whole.report.notes
    monkeypatch.setattr(pushdown, "SAMPLE_MAX_ROWS", whole.rows - 1)
    stats = PushdownStats()
    got = summarize_db(sqlite_url, secrets=False, stats=stats)
    assert got.sample is None and stats.sample_id_rows == 0 and stats.sample_values == 0
    assert got.report is not None and any(f"{whole.rows:,} rows is over" in n for n in got.report.notes)
    assert replace(got, sample=None).equals(replace(whole, sample=None))


def test_sample_of_collected_rows_only(sqlite_url: str) -> None:
    """errors="collect": rows the loader rejects are out of the sample as of every table."""
    _fill(sqlite_url, af3=True)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE xcom SET dag_id = '' WHERE map_index = 1")
    engine.dispose()
    got = summarize_db(sqlite_url, errors="collect", secrets=False)
    want = summarize_frame(xcomlab.load_export(sqlite_url, sample_values=True, errors="collect"))
    _assert_same_sample(got, want)
    assert got.report is not None and sum(t.rows_rejected for t in got.report.tables) > 0
    assert got.sample is not None and int(got.sample.rows.sum()) < sum(t.rows_read for t in got.report.tables)


# ------------------------------------------------------------------ the wire


def test_values_of_decided_rows_never_cross_the_wire(sqlite_url: str) -> None:
    """Large plain JSON values: sizes, buckets and classes come back, never the values."""
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        for stmt in create_statements("sqlite", "xcom", AIRFLOW3_COLUMNS, "json"):
            c.exec_driver_sql(stmt)
        rows = _rows([json.dumps({"rows": list(range(i, i + 2000))}).encode() for i in range(300)],
                     True, True)
        for r in rows:
            r["timestamp"] = r["timestamp"].isoformat(sep=" ")  # type: ignore[attr-defined]
            r["key"] = "return_value"  # no secret-like key name either
        c.execute(sa.text("INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_result, dag_id, "
                          "run_id, value, timestamp) VALUES (:dag_run_id, :task_id, :map_index, :key, "
                          ":dag_result, :dag_id, :run_id, :value, :timestamp)"), rows)
    engine.dispose()
    stats = PushdownStats()
    s = summarize_db(sqlite_url, stats=stats, sample=False)
    _assert_equal(s, summarize_frame(xcomlab.load_export(sqlite_url, keep_values=True, sample_values=False)))
    assert stats.value_bytes_received == 0 and stats.classified_rows == 0 and stats.secret_candidates == 0
    assert stats.bytes_received < s.value_bytes / 100
    # the value sample fetches its own values only: one class of 300 rows, 16 sampled
    stats = PushdownStats()
    sample = summarize_db(sqlite_url, stats=stats).sample
    assert sample is not None and sample.n_values == stats.sample_values == 16
    assert stats.value_bytes_received == sample.sampled_bytes < s.value_bytes / 10


# ------------------------------------------------------------------ read-only, timeout


def test_a_write_fails_inside_the_session(db_url: str) -> None:
    """The summary's transaction is read-only: a write there is refused by the database."""
    from xcomlab.summary.sqlsession import session as _session

    _fill(db_url, af3=False)
    engine = sa.create_engine(db_url)
    try:
        with _session(engine, None) as run, pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.only|readonly"):
            run.conn.exec_driver_sql("DELETE FROM xcom")
        with engine.connect() as c:  # nothing was deleted, and the pooled connection still writes
            assert c.exec_driver_sql("SELECT count(*) FROM xcom").scalar() > 0
        with engine.begin() as c:
            c.exec_driver_sql("CREATE TABLE pushdown_after (a INTEGER)")
    finally:
        engine.dispose()


def _big(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    d = engine.dialect.name
    value = '{"rows": [1, 2, 3], "name": "a value of some length"}'
    with engine.begin() as c:
        for stmt in create_statements("mysql" if d in ("mysql", "mariadb") else d, "xcom", AIRFLOW3_COLUMNS, "json"):
            c.exec_driver_sql(stmt)
        if d == "postgresql":
            c.exec_driver_sql(f"INSERT INTO xcom SELECT i, 't', -1, 'k' || mod(i, 50), false, 'd' || mod(i, 7), "
                              f"'r' || (i / 10), '{value}'::jsonb, now() FROM generate_series(1, {rows}) i")
        elif d == "sqlite":
            c.exec_driver_sql(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
                              f"INSERT INTO xcom SELECT i, 't', -1, 'k' || (i % 50), 0, 'd' || (i % 7), "
                              f"'r' || (i / 10), '{value}', '2026-01-01 00:00:00' FROM n")
        else:
            c.exec_driver_sql(f"INSERT INTO xcom SELECT seq, 't', -1, CONCAT('k', MOD(seq, 50)), 0, "
                              f"CONCAT('d', MOD(seq, 7)), CONCAT('r', seq DIV 10), '{value}', NOW() "
                              f"FROM seq_1_to_{rows}")
    engine.dispose()


@pytest.mark.slow
def test_statement_timeout_is_a_clear_error(db_url: str) -> None:
    _big(db_url, 30_000)
    with pytest.raises(StatementTimeoutError, match=r"statement_timeout=0\.001 s"):
        summarize_db(db_url, statement_timeout=0.001)
    assert summarize_db(db_url, statement_timeout=600).rows == 30_000


# ------------------------------------------------------------------ the entry points


def test_summarize_source_pushes_down_for_databases_only(sqlite_url: str) -> None:
    _fill(sqlite_url, af3=True)
    stats = PushdownStats()
    got = summarize_source(sqlite_url.removeprefix("sqlite:///"), stats=stats)
    assert stats.statements > 0
    assert got.sample is not None  # drawn, as a file's summary draws it
    _assert_equal(replace(got, sample=None), summarize_db(sqlite_url, sample=False))
    assert summarize_source(sqlite_url, sample=False).sample is None
    csv = ROOT / "data/samples/af3/xcom_copy.csv"
    stats = PushdownStats()
    streamed = summarize_source(csv, stats=stats)
    assert stats.statements == 0 and streamed.rows == len(xcomlab.load_export(csv))


def test_bytes_received_count_the_cells_of_arrays() -> None:
    """PostgreSQL sends the fetched rows as arrays: their cells count, not the array (UTF-8)."""
    from xcomlab.summary.sqlsession import _column_bytes

    column = [["ab", None, "\u00e9"], None, ["xyz"]]
    assert _column_bytes(column, True) == _column_bytes(column) == 2 + 2 + 3
    assert _column_bytes([[b"\x00\x01", None], [b"abc"]], True) == 5


def test_profile_summary_json_reports_bytes_received(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from xcomlab.cli import main

    _fill(sqlite_url, af3=True)
    assert main(["profile", sqlite_url, "--summary", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    schema = json.loads((ROOT / "xcomlab" / "data" / "cli_output.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["rows"] == summarize_db(sqlite_url).primary().rows
    assert doc["pushdown"]["statements"] > 0 and doc["pushdown"]["bytes_received"] > 0
    assert 0 < doc["secrets"]["candidates"] <= doc["pushdown"]["secret_candidates"]


def test_sqlite_first_and_last_timestamps_are_instants(sqlite_url: str) -> None:
    """SQLite keeps timestamps as text: 'T' sorts after ' ', and an offset shifts the
    instant, so first and last are compared as UTC instants, as the frame path does."""
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        for stmt in create_statements("sqlite", "xcom", AIRFLOW3_COLUMNS, "json"):
            c.exec_driver_sql(stmt)
        stamps = ["2026-01-01 06:00:00", "2026-01-01T05:00:00", "2026-01-01 07:30:00+02:00",
                  "2026-01-01 05:59:59.999999"]
        c.execute(sa.text("INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_result, dag_id, run_id, "
                          "value, timestamp) VALUES (1, :t, -1, 'k', 0, 'd', 'r', '1', :ts)"),
                  [{"t": f"t{i}", "ts": ts} for i, ts in enumerate(stamps)])
    engine.dispose()
    got = summarize_db(sqlite_url, sample=False)
    _assert_equal(got, summarize_frame(xcomlab.load_export(sqlite_url, keep_values=True, sample_values=False)))
    first, last = got.runs[["first_timestamp", "last_timestamp"]].iloc[0]
    assert str(first) == "2026-01-01 05:00:00+00:00" and str(last) == "2026-01-01 06:00:00+00:00"



