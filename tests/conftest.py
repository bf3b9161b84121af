"""Shared fixtures: tiny export files, and real database servers when they answer."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
FIXTURES = ROOT / "tests" / "fixtures"

#: Whole suites that are slow by nature: a browser, real Airflow, killed processes, many
#: workers, query-scaling fits, benchmark smoke runs. ``make check`` (``-m "not slow"``)
#: leaves them out; ``make test`` and CI run them. Single heavy tests carry
#: ``@pytest.mark.slow`` in their own module.
SLOW_PATHS = (
    "notebooks/",  # every cell nbval collects: each notebook runs top to bottom in a kernel
    "tests/browser/",
    "tests/backend/test_airflow_integration.py",
    "tests/backend/test_airflow2_integration.py",
    "tests/backend/test_maintenance_dag.py",
    "tests/backend/test_crash.py",
    "tests/backend/test_concurrency.py",
    "tests/models/test_complexity.py",
    "tests/simulate/test_benchmark_small.py",
    "tests/test_benchmarks.py",
    "tests/test_benchmark_summary.py",
    "tests/test_benchmarks_backend.py",
    # CLI and report by subprocess, the fuzzer and the compressed-format matrix: run in CI
    # (`make test`), left out of the fast loop
    "tests/test_cli_output.py",
    "tests/test_cli_errors.py",
    "tests/test_one_figure.py",
    "tests/test_report_output.py",
    "tests/test_fuzz.py",
    "tests/ingest/test_compressed.py",
    "tests/backend/test_metrics.py",
)

PG_URL = os.environ.get("XCOMLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("XCOMLAB_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests under :data:`SLOW_PATHS` ``slow``.

    This hook sees every collected item, the notebooks' cells included, whenever ``tests/``
    is collected (the default ``testpaths``). ``conftest`` is imported by name by several
    test modules, so there is no second conftest under ``notebooks/``: ``pytest notebooks/``
    alone runs the notebooks, as asked.
    """
    for item in items:
        path = Path(str(item.path)).resolve()
        if (path.is_relative_to(ROOT) and path.relative_to(ROOT).as_posix().startswith(SLOW_PATHS)
                and item.get_closest_marker("slow") is None):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No XCOMLAB_* setting leaks into a test from the developer's shell."""
    for k in list(os.environ):
        if k.startswith("XCOMLAB_") and not k.startswith("XCOMLAB_TEST_"):
            monkeypatch.delenv(k)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL schema on the loopback server (skips when none answers)."""
    if not _answers(5432):
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    import sqlalchemy as sa

    schema = f"xcomlab_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A throwaway MariaDB/MySQL database on the loopback server (skips when none answers)."""
    if not _answers(3306):
        pytest.skip("no MariaDB/MySQL server answers on 127.0.0.1:3306")
    import sqlalchemy as sa

    db = f"xcomlab_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(MYSQL_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
    try:
        yield MYSQL_URL.rsplit("/", 1)[0] + f"/{db}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {db}")
        engine.dispose()
