"""The push-down benchmark runs end to end on a live PostgreSQL and its contenders agree."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from conftest import ROOT, _answers


@pytest.mark.slow
def test_small_pushdown_run_prints_the_ratio_and_agreeing_totals() -> None:
    if not _answers(5432):
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    schema = f"pushdown_test_{uuid.uuid4().hex[:8]}"  # its own schema: runs at the same time do not collide
    proc = subprocess.run([sys.executable, "-m", "benchmarks.pushdown", "--rows", "3000", "--repeat", "1",
                           "--name", schema],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    out = proc.stdout
    for name in ("cli", "sql"):
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+\d+\.\d\dx", out, re.M), out
    assert re.search(r"^totals agree \(cli, sql\): \d+ DAGs, 3,000 rows", out, re.M), out
    assert re.search(r"^bytes received by the summary: [\d,]+ in \d+ statements", out, re.M), out
    # the database's prefilter count is the baseline's (secrets.candidates)
    assert re.search(r"^prefilter: sql [\d,]+ candidate rows; cli secrets\.candidates [\d,]+ \(agrees\)", out, re.M), out


@pytest.mark.parametrize(("port", "base"), [
    (5432, "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    (3306, "mysql+pymysql://root@127.0.0.1:3306/test"),
])
def test_bulk_load_equals_the_synth_database_writer(port: int, base: str) -> None:
    """The benchmark's bulk load (synth CSV → COPY / LOAD DATA) gives the table the synth
    database writer gives: same columns and types, same rows and values."""
    if not _answers(port):
        pytest.skip(f"no server answers on 127.0.0.1:{port}")
    import sqlalchemy as sa

    from benchmarks.pushdown import _drop, _prepare, _target

    dialect = "postgresql" if port == 5432 else "mariadb"
    tag = uuid.uuid4().hex[:8]
    got: dict[str, tuple[list[tuple[object, ...]], list[tuple[object, ...]]]] = {}
    for load in ("copy", "writer"):
        url, name = _target(dialect, base, 2000, f"pushdown_load_{load}_{tag}")
        try:
            _prepare(dialect, base, url, name, 2000, load)
            engine = sa.create_engine(url)
            with engine.connect() as c:
                if dialect == "postgresql":
                    types = c.exec_driver_sql(
                        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                        f"WHERE table_schema = '{name}' AND table_name = 'xcom' ORDER BY ordinal_position").all()
                    rows = c.exec_driver_sql("SELECT dag_run_id, task_id, map_index, key, dag_result, dag_id, run_id, "
                                             "value::text, timestamp FROM xcom "
                                             "ORDER BY dag_run_id, task_id, map_index, key").all()
                else:
                    c.exec_driver_sql("SET time_zone = '+00:00'")
                    types = c.exec_driver_sql(f"SHOW CREATE TABLE `{name}`.xcom").all()
                    rows = c.exec_driver_sql("SELECT dag_run_id, task_id, map_index, `key`, dag_result, dag_id, "
                                             "run_id, CAST(value AS CHAR), CAST(`timestamp` AS CHAR) FROM xcom "
                                             "ORDER BY dag_run_id, task_id, map_index, `key`").all()
            engine.dispose()
            got[load] = ([tuple(t) for t in types], [tuple(r) for r in rows])
        finally:
            _drop(dialect, base, name)
    copy_types, copy_rows = got["copy"]
    writer_types, writer_rows = got["writer"]
    assert copy_types == writer_types
    assert len(copy_rows) == 2000
    assert copy_rows == writer_rows
    assert any(r[4] is not None for r in copy_rows)  # dag_result filled, not all null
