"""xcomlab: size Apache Airflow XComs — how big, how fast they grow, what breaks, what it costs."""

from xcomlab.analysis import Profile, profile, summarize
from xcomlab.errors import (
    ExportFormatError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedSourceError,
    XcomlabError,
)
from xcomlab.ingest import LoadReport, load_export, load_report
from xcomlab.schema import validate_frame

__version__ = "0.1.0"

__all__ = [
    "ExportFormatError",
    "LoadReport",
    "NotFittedError",
    "Profile",
    "SchemaMismatchError",
    "UnsupportedSourceError",
    "XcomlabError",
    "__version__",
    "load_export",
    "load_report",
    "profile",
    "summarize",
    "validate_frame",
]
