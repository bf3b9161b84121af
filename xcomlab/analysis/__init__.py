"""Analyses over the XCom frame: profile, on-disk size, audit, forecast, retention, secrets."""

from xcomlab.analysis.profile import Profile, profile, summarize

__all__ = ["Profile", "profile", "summarize"]
