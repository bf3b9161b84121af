"""Query complexity on real databases: B-tree lookups grow like log N, the cleanup scan like N."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from xcomlab.errors import NotFittedError
from xcomlab.models.complexity import QUERIES, fit_growth, measure_complexity

SIZES = (2_000, 10_000, 30_000, 100_000)


def test_fit_growth_tells_log_from_linear() -> None:
    n = np.array([1e3, 1e4, 1e5, 1e6])
    lin = fit_growth(n, 2e-8 * n + 1e-4)
    assert lin["model"] == "n" and lin["a"] == pytest.approx(2e-8, rel=1e-6)
    log = fit_growth(n, 3e-6 * np.log(n) + 1e-5)
    assert log["model"] == "log n" and log["a"] == pytest.approx(3e-6, rel=1e-6)
    rng = np.random.default_rng(0)
    flat = fit_growth(n, 5e-5 * rng.lognormal(0, 0.05, 4))  # a lookup drowned in noise
    assert flat["model"] == "log n" and abs(flat["exponent"]) < 0.1
    with pytest.raises(ValueError, match="≥ 3 sizes"):
        fit_growth([1e3, 1e4], [1e-5, 1e-4])


def test_sqlite_lookups_are_log_and_the_cleanup_scan_is_linear(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    r = measure_complexity(url, SIZES, repeats=7)
    assert r.model("get_pk") == "log n"
    assert r.model("get_task_instance") == "log n"
    assert r.model("cleanup_by_timestamp") == "n"
    assert "sqlite_autoindex_xcom_1" in r.plans["get_pk"]  # the primary key's B-tree
    assert "USING INDEX idx_xcom_task_instance" in r.plans["get_task_instance"]
    assert r.plans["cleanup_by_timestamp"].startswith("SCAN xcom")  # no index on timestamp
    assert r.plans_by_n[("cleanup_by_timestamp", SIZES[0])].startswith("SCAN xcom")
    scan = r.table.loc["cleanup_by_timestamp", "median_s"]
    assert scan.iloc[-1] > 10 * scan.iloc[0]
    # The model extrapolates: a million-row cleanup costs ~10× the 100k one, a lookup barely more.
    assert r.predict("cleanup_by_timestamp", 1e6) > 5 * r.predict("cleanup_by_timestamp", 1e5)
    assert r.predict("get_pk", 1e6) < 2 * r.predict("get_pk", 1e4)
    assert set(r.fits.index) == set(QUERIES)
    with sqlite3.connect(tmp_path / "c.db") as con:  # dropped afterwards
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'xcom'").fetchone() == (0,)


def test_postgresql_plans_and_growth(pg_url: str) -> None:
    r = measure_complexity(pg_url, (2_000, 10_000, 50_000, 100_000), repeats=7,
                           queries=("get_pk", "get_task_instance", "cleanup_by_timestamp"))
    assert "Index Scan using xcom_pkey" in r.plans["get_pk"]
    assert "idx_xcom_task_instance" in r.plans["get_task_instance"]
    assert "Seq Scan on xcom" in r.plans["cleanup_by_timestamp"]
    assert r.model("get_pk") == "log n"
    assert r.model("get_task_instance") == "log n"
    assert r.model("cleanup_by_timestamp") == "n"
    assert r.dialect == "postgresql" and "ComplexityResult(postgresql" in repr(r)


def test_mysql_plans(mysql_url: str) -> None:
    r = measure_complexity(mysql_url, (2_000, 4_000, 8_000), repeats=3,
                           queries=("get_pk", "cleanup_by_timestamp"))
    assert "key=PRIMARY" in r.plans["get_pk"]
    assert "type=ALL" in r.plans["cleanup_by_timestamp"]  # a full table scan


def test_refuses_an_existing_xcom_table(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE xcom (value JSON)")
        con.execute("INSERT INTO xcom VALUES ('1')")
    with pytest.raises(ValueError, match="table xcom already exists"):
        measure_complexity(f"sqlite:///{db}", SIZES)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM xcom").fetchone() == (1,)


def test_bad_arguments(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with pytest.raises(ValueError, match="unknown queries"):
        measure_complexity(url, SIZES, queries=("get_everything",))
    with pytest.raises(ValueError, match="need ≥ 3 distinct sizes"):
        measure_complexity(url, (2_000, 4_000))
    r = measure_complexity(url, (2_000, 3_000, 4_000), queries=("get_pk",), repeats=2)
    with pytest.raises(NotFittedError, match="was not measured"):
        r.predict("fan_in", 10)
