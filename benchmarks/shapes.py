"""Exports shaped unlike ``xcomlab.synth``: written by DuckDB ``COPY … TO``, streamed, any size.

Each shape is one SQL query over ``range(rows)`` that yields the columns of Airflow 3.3's
``xcom`` table spelled as ``psql \\copy (SELECT * FROM xcom) TO … WITH CSV HEADER`` spells
them (``python -m xcomlab.synth --format psql_csv`` writes the same spelling): ``dag_result`` as
``t``/``f``, jsonb values as their text, ``2026-01-01 00:00:01.5+00`` timestamps (trailing
fraction zeros dropped), NULL as an empty field, ``"`` doubled inside quoted fields. DuckDB
streams the query into the file, so the writer's memory does not grow with ``rows``.

Rows come in dag runs of ``K`` rows (one row per task position), so ``(dag_run_id, task_id,
map_index, key)`` is unique, as Airflow's primary key requires, and the export loads back
into a real ``xcom`` table. Sizes and choices come from ``hash(i, n)``, so a shape at a given
size is the same file on every run of one DuckDB version.

``quotes``
    JSON strings full of escaped quotes (``\\"`` in the JSON text, ``""`` in the CSV field),
    SQL identifiers, Windows paths with escaped backslashes; 300 DAGs.
``long``
    One row in 1,000 holds a 100 KB – 5 MB value (log-uniform); the others 100 – 400 B;
    100 DAGs.
``many_dags``
    50,000 DAGs × 4 tasks (200,000 distinct task ids), small values.
``mixed``
    A bit of everything: small and medium JSON, quotes, scalars, NULLs, multi-byte UTF-8,
    words the secret prefilter matches without a secret, planted secrets (one row in 200:
    AWS key id, URL password, JWT, GitHub and Slack tokens in turn), a secret-named XCom key
    holding a 64-hex-digit token (one row in 500; a single md5 can fall under the scan's
    3.0 bits/char entropy bar), and one 100 KB – 5 MB value per 100,003 rows;
    2,000 DAGs. About 300 B per row, so 100M rows are ~30 GB.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

__all__ = ["COLUMNS", "SHAPES", "planted_secrets", "shape_query", "write_shape"]

#: Airflow 3.3's xcom columns in physical order (as ``xcomlab.synth`` writes them).
COLUMNS: Final = ("dag_run_id", "task_id", "map_index", "key", "dag_result", "dag_id", "run_id",
                  "value", "timestamp")
#: Shapes written here (``generator`` is ``python -m xcomlab.synth``, see benchmarks.scale).
SHAPES: Final = ("quotes", "long", "many_dags", "mixed")
#: 2026-01-01T00:00:00Z in microseconds since the epoch: the first run starts here.
_T0_US: Final = 1_767_225_600_000_000
_YEAR_US: Final = 365 * 86_400 * 1_000_000
#: Rows per dag run, DAGs, per shape.
_LAYOUT: Final = {"quotes": (8, 300), "long": (8, 100), "many_dags": (4, 50_000), "mixed": (10, 2_000)}
#: mixed: one planted secret per this many rows (at i % 200 == 17), one secret-named key per 500.
SECRET_EVERY: Final = 200
NAMED_EVERY: Final = 500

# Values are SQL expressions over the row number ``i`` and ``h1``, ``h2``, ``h3``
# (independent hashes of ``i``). SQL strings hold JSON text: ``\"`` is an escaped quote
# in the JSON, ``\\`` an escaped backslash (DuckDB string literals take backslashes as is).
_QUOTES: Final = r"""CASE h1 % 4
    WHEN 0 THEN '{"sql": "SELECT ' || repeat('\"col\", ', (1 + h2 % 24)::INT) || '\"id\" FROM \"raw\".\"events\"", "rows": ' || i || '}'
    WHEN 1 THEN '["' || repeat('\"quoted\" ', (1 + h2 % 24)::INT) || '", "C:\\Users\\airflow\\out_' || i || '.csv"]'
    WHEN 2 THEN '{"ok": true, "msg": "' || repeat('he said \"yes\", she said \"no\"; ', (1 + h2 % 12)::INT) || '"}'
    ELSE '"' || repeat('\"', (1 + h2 % 64)::INT) || '"' END"""
_SMALL: Final = r"""'{"rows": ' || (h2 % 5000000) || ', "files": ["' ||
    repeat('part-00000.parquet", "', (h3 % 4)::INT) || 'part-final.parquet"], "status": "ok"}'"""
_LONG: Final = r"""'{"blob": "' || repeat('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz',
    (floor(100000 * exp(ln(50) * (h3 % 1000000) / 1000000.0)) / 40)::INT) || '", "rows": ' || i || '}'"""
_MANY: Final = r"""'{"n": ' || i || ', "t": "' || repeat('x', (h2 % 200)::INT) || '"}'"""
_SECRET: Final = r"""CASE (i // 200) % 5
    WHEN 0 THEN '{"aws_access_key_id": "AKIA' || upper(substr(md5(i::VARCHAR), 1, 16)) || '"}'
    WHEN 1 THEN '{"conn": "postgresql://airflow:' || substr(md5(i::VARCHAR), 1, 14) || '@db.internal:5432/airflow"}'
    WHEN 2 THEN '{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ' || md5(i::VARCHAR) || '.' || md5((i + 1)::VARCHAR) || '"}'
    WHEN 3 THEN '{"note": "ghp_' || md5(i::VARCHAR) || substr(md5((i + 2)::VARCHAR), 1, 8) || '"}'
    ELSE '{"hook": "xoxb-' || md5(i::VARCHAR) || '"}' END"""
_MIXED: Final = r"""CASE
    WHEN i % 100003 = 7 THEN @LONG@
    WHEN i % @SE@ = 17 THEN @SECRET@
    WHEN i % @NE@ = 42 THEN '"' || md5(i::VARCHAR) || md5((i + 7)::VARCHAR) || '"'
    WHEN i % 100 < 50 THEN @SMALL@
    WHEN i % 100 < 62 THEN @QUOTES@
    WHEN i % 100 < 66 THEN (h2 % 1000000)::VARCHAR
    WHEN i % 100 < 69 THEN '"done: ' || (h2 % 1000) || '"'
    WHEN i % 100 < 70 THEN CASE WHEN h2 % 2 = 0 THEN 'true' ELSE 'null' END
    WHEN i % 100 < 71 THEN NULL
    WHEN i % 100 < 76 THEN '{"city": "Zürich – 東京 – café ' || repeat('ü', (h2 % 64)::INT) || '"}'
    WHEN i % 100 < 80 THEN '{"tokens": ' || (h2 % 900) || ', "auth_mode": "none", "primary_key": ' || i || '}'
    ELSE '["' || repeat('s3://lake/' || (h3 % 97) || '/dt=2026-01-01/part.parquet", "', (1 + h2 % 6)::INT) || 'end"]'
    END""".replace("@LONG@", _LONG).replace(
    "@SECRET@", _SECRET).replace("@SMALL@", _SMALL).replace("@QUOTES@", _QUOTES).replace(
    "@SE@", str(SECRET_EVERY)).replace("@NE@", str(NAMED_EVERY))
_VALUES: Final = {"quotes": _QUOTES, "long": f"CASE WHEN i % 1000 = 3 THEN {_LONG} ELSE {_SMALL} END",
                  "many_dags": _MANY, "mixed": _MIXED}


def _ids(shape: str) -> tuple[str, str, str]:
    """``dag_id``, ``task_id`` and ``key`` expressions over ``d`` (DAG number) and ``p`` (position)."""
    if shape == "many_dags":
        return ("'dag_' || lpad(d::VARCHAR, 5, '0')", "'d' || d || '_t' || p", "'return_value'")
    task = ("CASE WHEN p < 6 THEN (['extract', 'validate', 'transform', 'enrich', 'load', 'notify'])[p + 1] "
            "ELSE 'fan_out' END")
    key = "'return_value'"
    if shape == "mixed":
        key = (f"CASE WHEN i % {NAMED_EVERY} = 42 THEN 'api_token' WHEN p = 1 THEN 'row_count' "
               "ELSE 'return_value' END")
    prefix = {"quotes": "'quoted_'", "long": "'bulky_'", "mixed": "'team' || (d % 40) || '_pipeline_'"}[shape]
    return (f"{prefix} || d", task, key)


def shape_query(shape: str, rows: int) -> str:
    """The SELECT of ``rows`` rows of ``shape`` with :data:`COLUMNS` as psql's CSV text."""
    if shape not in _LAYOUT:
        msg = f"shape {shape!r}; expected one of {SHAPES}"
        raise ValueError(msg)
    k, dags = _LAYOUT[shape]
    run_step = max(_YEAR_US // max(rows // k, 1), k * 2_000_000)  # a year of runs, >= 2 s per task
    dag, task, key = _ids(shape)
    mapped = "CASE WHEN p >= 6 THEN p - 6 ELSE -1 END" if shape != "many_dags" else "-1"
    return f"""
WITH b AS (
    SELECT i, i // {k} AS r, i % {k} AS p, hash(i, 1) AS h1, hash(i, 2) AS h2, hash(i, 3) AS h3
    FROM range({rows}) t(i)
), c AS (
    SELECT *, hash(r, 9) % {dags} AS d,
           make_timestamp(({_T0_US} + r * {run_step})::BIGINT) AS run_ts,
           make_timestamp(({_T0_US} + r * {run_step} + p * 1000000 + h3 % 1000000)::BIGINT) AS ts
    FROM b
)
SELECT r + 1 AS dag_run_id, {task} AS task_id, {mapped} AS map_index, {key} AS key,
       'f' AS dag_result, {dag} AS dag_id,
       'scheduled__' || strftime(run_ts, '%Y-%m-%dT%H:%M:%S') || '+00:00' AS run_id,
       {_VALUES[shape]} AS value,
       rtrim(rtrim(strftime(ts, '%Y-%m-%d %H:%M:%S.%f'), '0'), '.') || '+00' AS "timestamp"
FROM c
"""


def planted_secrets(shape: str, rows: int) -> int:
    """Rows of ``shape`` that hold a planted secret (value or secret-named key); 0 but for mixed."""
    if shape != "mixed":
        return 0
    def hits(every: int, at: int) -> int:
        return (rows - at + every - 1) // every if rows > at else 0
    long_rows = {i for i in range(7, rows, 100_003)}
    shadowed = sum(1 for i in long_rows if i % SECRET_EVERY == 17 or i % NAMED_EVERY == 42)
    return hits(SECRET_EVERY, 17) + hits(NAMED_EVERY, 42) - shadowed


def write_shape(shape: str, rows: int, path: Path, *, threads: int = 2,
                memory_limit: str = "1GB") -> float:
    """Write ``rows`` rows of ``shape`` to ``path`` as a psql CSV export; return seconds taken."""
    import duckdb

    t0 = time.perf_counter()
    tmp = path.with_name(path.name + ".part")
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = true")
        query = shape_query(shape, rows)
        con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT csv, HEADER true, DELIMITER ',', "
                    "QUOTE '\"', ESCAPE '\"', NULLSTR '')")
    finally:
        con.close()
    tmp.rename(path)
    return time.perf_counter() - t0
