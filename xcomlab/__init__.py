"""xcomlab: size Apache Airflow XComs — how big, how fast they grow, what breaks, what it costs."""

from xcomlab.analysis import (
    Profile,
    RetentionPolicy,
    check_limits,
    estimate_disk,
    forecast,
    migration_audit,
    on_disk_bytes,
    profile,
    retention,
    scan_secrets,
    summarize,
)
from xcomlab.errors import (
    ExportFormatError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedSourceError,
    XcomlabError,
    XComTooLargeError,
)
from xcomlab.ingest import LoadReport, load_audit, load_export, load_report
from xcomlab.recommend import recommend
from xcomlab.schema import validate_frame

__version__ = "0.1.0"

__all__ = [
    "ExportFormatError",
    "LoadReport",
    "NotFittedError",
    "Profile",
    "RetentionPolicy",
    "SchemaMismatchError",
    "UnsupportedSourceError",
    "XComTooLargeError",
    "XcomlabError",
    "__version__",
    "check_limits",
    "estimate_disk",
    "forecast",
    "load_audit",
    "load_export",
    "load_report",
    "migration_audit",
    "on_disk_bytes",
    "profile",
    "recommend",
    "retention",
    "scan_secrets",
    "summarize",
    "validate_frame",
]
