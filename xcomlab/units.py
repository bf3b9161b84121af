"""How figures read for people: binary byte units, thousands separators, shares, money.

One formatter per kind, shared by the CLI, the report, plots and widgets, so a size
reads the same everywhere (``1.2 MiB``: binary units, IEC 80000-13). Missing values
(None, NaN, ``pd.NA``) read as an en dash.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MISSING", "format_bytes", "format_count", "format_share", "format_usd"]

#: What a missing figure reads as.
MISSING = "–"
_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _number(n: Any) -> float | None:
    """``n`` as a float, or None when it is missing (None, NaN, ``pd.NA``, not a number)."""
    if n is None:
        return None
    try:
        x = float(n)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def format_bytes(n: Any) -> str:
    """``1234567`` → ``1.2 MiB``; under 1 KiB in bytes (``512 B``); missing → ``–``.

    Examples
    --------
    >>> format_bytes(1234567), format_bytes(512), format_bytes(None)
    ('1.2 MiB', '512 B', '–')
    """
    x = _number(n)
    if x is None:
        return MISSING
    for unit, size in _BINARY:
        if abs(x) >= size:
            return f"{x / size:,.1f} {unit}"
    return f"{x:,.0f} B"


def format_count(n: Any) -> str:
    """``12345`` → ``12,345``; missing → ``–``."""
    x = _number(n)
    return MISSING if x is None else f"{x:,.0f}"


def format_share(x: Any, digits: int = 1) -> str:
    """``0.2136`` → ``21.4%``; missing → ``–``."""
    v = _number(x)
    return MISSING if v is None else f"{v:.{digits}%}"


def format_usd(x: Any) -> str:
    """Dollars: ``1234.5`` → ``$1,234.50``, ``0.000658`` → ``$0.00066`` (two significant digits under $1); missing → ``–``."""
    v = _number(x)
    if v is None:
        return MISSING
    if v == 0 or abs(v) >= 1:
        return f"${v:,.2f}"
    decimals = min(12, 1 - math.floor(math.log10(abs(v))))  # two significant digits
    return f"${v:.{decimals}f}"
