"""Analyses over the XCom frame: profile, on-disk size, audit, forecast, retention, secrets."""

from xcomlab.analysis.disk import DiskEstimate, disk_ratio, estimate, on_disk_bytes
from xcomlab.analysis.profile import Profile, profile, summarize

__all__ = ["DiskEstimate", "Profile", "disk_ratio", "estimate", "on_disk_bytes", "profile", "summarize"]
