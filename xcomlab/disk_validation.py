"""Disk validation: load synthetic workloads into real databases and compare with the disk model.

:func:`validate` writes :mod:`xcomlab.synth` deployments as real ``xcom`` tables
(PostgreSQL, MariaDB/MySQL, SQLite), measures them (:func:`measure`), loads them back
with :func:`xcomlab.load_export` and compares :func:`xcomlab.analysis.disk.estimate` with
the measurement. A tool above the analyses: it drives the generator, the loader and real
databases, none of which the model itself needs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

from xcomlab.analysis.disk import DiskModelError, canonical_dialect, estimate
from xcomlab.ingest import load_export
from xcomlab.synth import SynthConfig, generate, write

__all__ = ["WORKLOADS", "measure", "validate"]

#: Synthetic workloads for :func:`validate` (``xcomlab.synth.SynthConfig`` overrides):
#: small values (~70–100 B), medium (1–4 kB, around the TOAST threshold) and TOASTed
#: (≥ 8 kB: path lists that compress ~6:1 plus hex-Parquet frames that compress ~2:1).
WORKLOADS: Final = {
    "small": {"median_value_bytes": 100, "offenders": 0, "rows": 20_000},
    "medium": {"median_value_bytes": 2500, "offenders": 0, "rows": 10_000},
    "toasted": {"median_value_bytes": 20_000, "offenders": 1000, "offender_bytes": 20_000, "days": 5,
                "rows": 4000},
}
_BASE: Final = {"seed": 1, "offload_threshold_bytes": None, "pickled_dags": 0, "secrets": 0,
                "nan_values": 0}


def measure(url: str) -> dict[str, int]:
    """Bytes the ``xcom`` table takes in the database at ``url``, by part, and ``total``.

    PostgreSQL: ``VACUUM ANALYZE`` then ``pg_total_relation_size`` (parts: heap,
    TOAST, each index). MariaDB/MySQL: ``ANALYZE TABLE`` (persistent statistics) then
    ``information_schema.tables`` ``data_length + index_length``. SQLite: ``VACUUM``
    then the pages of the table and its indexes from ``dbstat``.
    """
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            name = engine.dialect.name
            if name == "postgresql":
                return _measure_pg(con)
            if name in ("mysql", "mariadb"):
                return _measure_mysql(con)
            if name == "sqlite":
                return _measure_sqlite(con)
    finally:
        engine.dispose()
    msg = f"cannot measure a {name} database; use PostgreSQL, MySQL/MariaDB or SQLite"
    raise DiskModelError(msg)


def _measure_pg(con: Any) -> dict[str, int]:
    con.exec_driver_sql("VACUUM ANALYZE xcom")
    row = con.exec_driver_sql(
        "SELECT pg_total_relation_size(c.oid), pg_table_size(c.oid) - coalesce(pg_total_relation_size(c.reltoastrelid), 0), "
        "coalesce(pg_total_relation_size(c.reltoastrelid), 0), pg_relation_size('xcom_pkey'), "
        "pg_relation_size('idx_xcom_key'), pg_relation_size('idx_xcom_task_instance') "
        "FROM pg_class c WHERE c.oid = 'xcom'::regclass").one()
    return dict(zip(("total", "table", "out_of_line", "xcom_pkey", "idx_xcom_key", "idx_xcom_task_instance"),
                    (int(v) for v in row), strict=True))


def _measure_mysql(con: Any) -> dict[str, int]:
    con.exec_driver_sql("OPTIMIZE TABLE xcom").all()
    con.exec_driver_sql("ANALYZE TABLE xcom").all()
    data, index = con.exec_driver_sql(
        "SELECT data_length, index_length FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'xcom'").one()
    return {"total": int(data) + int(index), "table": int(data), "indexes": int(index)}


def _measure_sqlite(con: Any) -> dict[str, int]:
    con.exec_driver_sql("VACUUM")
    rows = con.exec_driver_sql(
        "SELECT d.name, sum(d.pgsize), sum(CASE WHEN d.pagetype = 'overflow' THEN d.pgsize ELSE 0 END) "
        "FROM dbstat d JOIN sqlite_schema m ON m.name = d.name WHERE m.tbl_name = 'xcom' GROUP BY d.name").all()
    out = {str(n): int(b) - int(o) for n, b, o in rows}
    out["table"] = out.pop("xcom", 0)
    out["out_of_line"] = sum(int(o) for _, _, o in rows)
    out["total"] = sum(int(b) for _, b, _ in rows)
    return out


def validate(urls: dict[str, str] | None = None, *, workloads: tuple[str, ...] = ("small", "medium", "toasted"),
             airflow: tuple[str, ...] = ("2.10", "3.3"), rows: int | None = None,
             keep_values: bool = True, seed: int = 1) -> pd.DataFrame:
    """Load synthetic workloads into real databases and compare prediction with measurement.

    Parameters
    ----------
    urls
        ``{dialect: SQLAlchemy URL}`` of empty databases (PostgreSQL: a schema via
        ``?options=-csearch_path%3D…``). Each workload is written as ``xcom``,
        measured (:func:`measure`), loaded back with :func:`xcomlab.load_export` and
        predicted, then the table is dropped. Default: SQLite in a temporary file.
    workloads
        Names in :data:`WORKLOADS`.
    airflow
        Airflow versions whose schema is written (``"2.10"``: bytes; ``"3.3"``: JSON).
    rows
        Override the row count of every workload.
    keep_values
        Read the values back to estimate compressibility (else the default ratio).
    seed
        Seed of the synthetic deployments (the fill constants were measured on seed 1;
        other seeds check the model out of sample).

    Returns
    -------
    pandas.DataFrame
        ``workload, airflow, dialect, rows, logical_bytes, predicted_bytes,
        measured_bytes, error_pct`` (``100 * (predicted - measured) / measured``).
    """
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        msg = f"workloads {unknown}; expected names from {list(WORKLOADS)}"
        raise DiskModelError(msg)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = dict(urls) if urls else {"sqlite": ""}
        for w in workloads:
            for af in airflow:
                params = {**_BASE, **WORKLOADS[w], "airflow": af, "seed": seed}
                if rows is not None:
                    params["rows"] = rows
                dep = generate(SynthConfig(**params))  # type: ignore[arg-type]
                for dialect, url in targets.items():
                    target = url or f"sqlite:///{Path(tmp) / f'{w}_{af}.db'}"
                    write(dep, "database", target)
                    try:
                        measured = measure(target)
                        frame = load_export(target, tables=["xcom"], keep_values=keep_values)
                        est = estimate(frame, canonical_dialect(dialect))
                    finally:
                        _drop(target)
                    out.append({"workload": w, "airflow": af, "dialect": est.dialect, "rows": est.rows,
                                "logical_bytes": est.logical_bytes, "predicted_bytes": est.total_bytes,
                                "measured_bytes": measured["total"],
                                "error_pct": round(100 * (est.total_bytes - measured["total"]) / measured["total"], 1)})
    return pd.DataFrame(out)


def _drop(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            con.exec_driver_sql("DROP TABLE xcom")
    finally:
        engine.dispose()
