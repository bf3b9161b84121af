"""Analyses over the XCom frame: profile, on-disk size, audit, forecast, retention, secrets."""

from xcomlab.analysis.audit import (
    LimitReport,
    MigrationAudit,
    check_limits,
    limits,
    migration_audit,
)
from xcomlab.analysis.disk import DiskEstimate, disk_ratio, on_disk_bytes
from xcomlab.analysis.disk import estimate as estimate_disk
from xcomlab.analysis.forecast import DEFAULT_CEILINGS, Backtest, Forecast, backtest, forecast
from xcomlab.analysis.profile import Profile, profile, summarize
from xcomlab.analysis.retention import KeyRule, RetentionPolicy, RetentionReport, retention
from xcomlab.analysis.secrets import SecretReport, scan_secrets

__all__ = [
    "DEFAULT_CEILINGS",
    "Backtest",
    "DiskEstimate",
    "Forecast",
    "KeyRule",
    "LimitReport",
    "MigrationAudit",
    "Profile",
    "RetentionPolicy",
    "RetentionReport",
    "SecretReport",
    "backtest",
    "check_limits",
    "disk_ratio",
    "estimate_disk",
    "forecast",
    "limits",
    "migration_audit",
    "on_disk_bytes",
    "profile",
    "retention",
    "scan_secrets",
    "summarize",
]
