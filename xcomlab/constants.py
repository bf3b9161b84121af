"""Figures shared across layers: each one defined once here, with its source and date.

Pure Python: the backend and the plots import it as cheaply as the analyses do.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_CEILINGS", "DIALECTS", "DIALECT_ALIASES", "ONE_OFF_MIN_BYTES", "REFERENCE_ROW_BYTES"]

#: Metadata databases xcomlab models (MariaDB is modelled as ``mysql``: InnoDB both).
DIALECTS: Final = ("postgresql", "mysql", "sqlite")
#: Other spellings of those dialects users and URLs write.
DIALECT_ALIASES: Final = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql",
                          "innodb": "mysql"}

#: Ceilings people plan against, in on-disk bytes (docs/managed-airflow.md, read
#: 2026-11): Cloud Composer blocks upgrades and snapshots above 20 GB
#: (cloud.google.com/composer/docs/cleanup-airflow-database, 2024–26); Astronomer warns of
#: a degraded scheduler for a table above 50 GiB
#: (astronomer.io/docs/learn/airflow-3/cleanup-dag-tutorial; astronomer/docs PR#3596, 2025–26).
DEFAULT_CEILINGS: Final[dict[str, float]] = {"20 GB": 20e9, "50 GiB": 50 * 2**30}

#: Bytes of the metadata-DB value an offloaded XCom leaves behind: the JSON of xcomlab's
#: reference envelope (``xcomlab.backend.envelope``: URI, codec, sizes, sha256, kind,
#: length and an 80-character preview) for a 1,000-item list pushed as ``return_value``
#: by a 20-character task of a 20-character DAG in a scheduled run, stored under
#: ``s3://airflow-xcom/xcom`` (a 167-byte URI). Measured through ``XComStore.set`` on
#: 2026-12-07 [L]; ``tests/test_constants.py`` measures it again so it cannot drift.
#: common-io's reference (the JSON string of the URL alone) is smaller, ~100–200 B
#: (docs/airflow-xcom.md#common-io-path): pass ``ref_bytes`` to size for it.
REFERENCE_ROW_BYTES: Final = 487

#: The smallest value the growth forecast may call a one-off offender
#: (:mod:`xcomlab.analysis.forecast`); summaries keep where in time values this large fell
#: (``Summary.big``), so the forecast reads the same rows from either shape.
ONE_OFF_MIN_BYTES: Final = 64 * 2**10
