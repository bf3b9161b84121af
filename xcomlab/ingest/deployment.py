"""Deployment: which database and Airflow release an export came from, inferred from the source.

An ``airflow.db`` is SQLite; a ``pg_dump`` and a ``psql \\copy`` CSV of ``bytea`` values
(``\\x…`` hex) are PostgreSQL; a database URL names its dialect. The Airflow release comes
from schema detection (the ``airflow_schema`` of the live rows). CSV of JSON values, JSON
Lines and Parquet do not say which database wrote them: the dialect is then unknown, and the
caller's default applies (said in :attr:`Deployment.notes`). ``dialect=`` / ``airflow=``
(the CLI's ``--dialect`` / ``--airflow``) override what was inferred.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pandas as pd

from xcomlab import schema as S
from xcomlab.constants import DIALECT_ALIASES, DIALECTS
from xcomlab.errors import ParameterError, XcomlabError
from xcomlab.ingest.loader import LoadReport, load_report

__all__ = ["DEFAULT_DIALECT", "DIALECTS", "Deployment", "deployment_of", "infer_deployment"]

#: What the analyses assume when neither the source nor the caller says (Airflow's
#: recommended production database).
DEFAULT_DIALECT: Final = "postgresql"
_ALIASES: Final = DIALECT_ALIASES
#: Airflow release each detected schema stands for (the earliest of the range; 2.x: unknown minor).
_RELEASE: Final = {"1.10": "1.10", "2.0-2.2": "2.0", "2.3-2.11": "2.x", "3.0-3.2": "3.0", "3.3+": "3.3"}
_CSV_SNIFF_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class Deployment:
    """The database and Airflow release an XCom frame describes.

    Attributes
    ----------
    dialect : str or None
        ``postgresql``, ``mysql`` or ``sqlite``; None when the source does not say.
    airflow : str or None
        Airflow release (``"3.3"``, ``"3.0"``, ``"2.x"`` …) from the detected schema.
    dialect_from, airflow_from : str
        How each was found (``"sqlite file"``, ``"pg_dump"``, ``"database URL"``, ``"given"``,
        ``"schema 3.3+"``, ``"unknown"``).
    notes : tuple of str
        What could not be inferred and what is assumed instead.
    """

    dialect: str | None
    airflow: str | None
    dialect_from: str = "unknown"
    airflow_from: str = "unknown"
    notes: tuple[str, ...] = field(default=())

    @property
    def dialect_or_default(self) -> str:
        """The dialect, or :data:`DEFAULT_DIALECT` when unknown."""
        return self.dialect or DEFAULT_DIALECT

    def describe(self) -> str:
        """One line: ``sqlite (sqlite file), Airflow 3.3 (schema 3.3+)``."""
        d = (f"{self.dialect} ({self.dialect_from})" if self.dialect
             else f"{DEFAULT_DIALECT} (assumed: the source does not say)")
        a = f"Airflow {self.airflow} ({self.airflow_from})" if self.airflow else "Airflow release unknown"
        return f"{d}, {a}"

    def as_dict(self) -> dict[str, str | None]:
        return {"dialect": self.dialect, "dialect_from": self.dialect_from,
                "airflow": self.airflow, "airflow_from": self.airflow_from}


def _canonical(dialect: str) -> str:
    d = _ALIASES.get(dialect.lower(), dialect.lower())
    if d not in DIALECTS:
        msg = f"dialect={dialect!r}; expected one of {DIALECTS} (or 'postgres', 'mariadb')"
        raise ParameterError(msg)
    return d


def _url_dialect(source: str) -> str | None:
    text = source.strip().strip("'\"")
    if "://" not in text:
        return None
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
    return _ALIASES.get(scheme, scheme) if _ALIASES.get(scheme, scheme) in DIALECTS else None


def _csv_dialect(path: str) -> str | None:
    """PostgreSQL when the ``value`` column holds ``bytea`` hex (``\\x…``, what ``psql \\copy`` writes)."""
    p = Path(path)
    files = sorted(p.glob("*.csv")) if p.is_dir() else [p]
    for f in files[:4]:
        try:
            with f.open("rb") as fh:
                head = fh.read(_CSV_SNIFF_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
        rows = csv.reader(io.StringIO(head.rsplit("\n", 1)[0] if "\n" in head else head))
        header = next(rows, [])
        if "value" not in header:
            continue
        i = header.index("value")
        values = [r[i] for r in rows if len(r) > i and r[i]]
        if values and sum(v.startswith("\\x") for v in values) >= len(values) / 2:
            return "postgresql"
    return None


def _dialect_of(rep: LoadReport) -> tuple[str | None, str]:
    if rep.format == "sqlite":
        return "sqlite", "sqlite file"
    if rep.format == "pgdump":
        return "postgresql", "pg_dump"
    if rep.format == "sql":
        found = _url_dialect(rep.source)
        return found, "database URL" if found else "unknown"
    if rep.format == "csv" and (found := _csv_dialect(rep.source)):
        return found, "psql CSV of bytea hex"
    return None, "unknown"


def infer_deployment(frame: pd.DataFrame, *, dialect: str | None = None,
                     airflow: str | None = None) -> Deployment:
    """The database and Airflow release behind ``frame``, inferred from its load report.

    Parameters
    ----------
    frame
        An XCom frame from :func:`xcomlab.load_export` (a frame built by hand has no
        load report: its dialect is unknown).
    dialect, airflow
        Overrides (``--dialect`` / ``--airflow``): taken as given, marked ``"given"``.

    Examples
    --------
    >>> infer_deployment(xcomlab.load_export("data/samples/af3/airflow.db")).describe()  # doctest: +SKIP
    'sqlite (sqlite file), Airflow 3.3 (schema 3.3+)'
    """
    try:
        report: LoadReport | None = load_report(frame)
    except XcomlabError:
        report = None
    rows = S.primary_rows(frame)
    mode = rows[S.AIRFLOW_SCHEMA].mode() if S.AIRFLOW_SCHEMA in rows and len(rows) else pd.Series([])
    schema = str(mode.iloc[0]) if len(mode) else None
    return deployment_of(report, schema, dialect=dialect, airflow=airflow)


def deployment_of(report: LoadReport | None, schema: str | None, *, dialect: str | None = None,
                  airflow: str | None = None) -> Deployment:
    """:func:`infer_deployment` from what it reads of a frame: the load report (None: not
    known) and the live rows' most common ``airflow_schema`` — the entry point for a
    summary (:class:`xcomlab.summary.Summary` carries both)."""
    notes: list[str] = []
    found: str | None
    release: str | None
    if dialect is not None:
        found, how = _canonical(dialect), "given"
    else:
        found, how = _dialect_of(report) if report is not None else (None, "unknown")
        if found is None:
            notes.append(f"the source does not say which database wrote it; {DEFAULT_DIALECT} is "
                         "assumed (pass --dialect / dialect= to say)")
    if airflow is not None:
        release, afrom = str(airflow), "given"
    else:
        release = _RELEASE.get(schema) if schema else None
        afrom = f"schema {schema}" if release else "unknown"
        if release == "2.x":
            notes.append("schema 2.3-2.11 does not tell 2.8 from 2.9+ (MySQL BLOB vs LONGBLOB); "
                         "pass --airflow / airflow= to say")
    return Deployment(found, release, how, afrom, tuple(notes))
