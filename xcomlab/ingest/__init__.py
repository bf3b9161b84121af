"""Ingest: read every kind of xcom export into the XCom frame (see :mod:`xcomlab.schema`)."""

from xcomlab.ingest.audit import load_audit
from xcomlab.ingest.loader import LoadReport, TableReport, load_export, load_report

__all__ = ["LoadReport", "TableReport", "load_audit", "load_export", "load_report"]
