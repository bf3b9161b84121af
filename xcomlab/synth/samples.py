"""The bundled samples in ``data/samples/``: small deployments written as real exports.

``make samples`` (``python -m xcomlab.synth --samples data/samples``) rewrites them
byte for byte from the seeds below; ``tests/test_synth.py`` checks that they match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from xcomlab.synth.generate import Deployment, SynthConfig, generate
from xcomlab.synth.writers import write

__all__ = ["SAMPLES", "write_samples"]

#: name → (config, [(format, file name, tables: a list, "archives" or None for all)])
SAMPLES: Final[dict[str, tuple[SynthConfig, list[tuple[str, str, list[str] | str | None]]]]] = {
    # Airflow 3.3 upgraded from 2.10 a third of the way in (pickles in _xcom_archive),
    # with one `airflow db clean` two weeks in: the full story for the notebooks.
    "af3": (
        SynthConfig(seed=2026, airflow="3.3", dags=10, days=120, max_fan_out=10,
                    max_runs_per_day=1,
                    upgraded_from="2.10", cleaned_before_day=14, offenders=3,
                    offender_bytes=100_000),
        [("sqlite", "airflow.db", None), ("psql_csv", "xcom_copy.csv", ["xcom"])],
    ),
    # Airflow 2.10 on PostgreSQL: a pg_dump of xcom and the export-archived CSV of a clean.
    "af2": (
        SynthConfig(seed=2010, airflow="2.10", dags=6, days=45, max_fan_out=8,
                    max_runs_per_day=1,
                    cleaned_before_day=10, offenders=2, offender_bytes=60_000),
        [("pgdump", "xcom_pgdump.sql", ["xcom"]), ("archive_csv", "export_archived", "archives")],
    ),
}


def write_samples(root: str | Path) -> dict[str, Deployment]:
    """Write every sample under ``root`` with its ``truth.json``; return the deployments."""
    out = {}
    for name, (cfg, files) in SAMPLES.items():
        dep = generate(cfg)
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for fmt, file_name, tables in files:
            chosen = ([t for t in dep.tables if t != "xcom"] if tables == "archives"
                      else None if tables is None else list(tables))
            write(dep, fmt, folder / file_name, tables=chosen)
        (folder / "truth.json").write_text(json.dumps(dep.truth, indent=1) + "\n")
        out[name] = dep
    return out
