"""Plots: thin matplotlib shells over profile tables. Each returns its Axes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["daily", "forecast", "size_cdf", "size_hist", "top_bar"]


def _ax(ax: Any, figsize: tuple[float, float] = (7, 3)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _bytes_label(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def size_hist(sizes: pd.Series, ax: Any = None, bins: int = 40) -> Any:
    """Histogram of value sizes on log-log axes (sizes are heavy-tailed)."""
    ax = _ax(ax)
    s = sizes.dropna().astype("float64")
    s = s[s > 0]
    top = np.log10(s.max()) + 0.1 if len(s) else 1.0
    ax.hist(s, bins=np.logspace(0, top, bins))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("value bytes")
    ax.set_ylabel("XComs")
    ax.set_title("Value sizes")
    return ax


def size_cdf(sizes: pd.Series, ax: Any = None) -> Any:
    """Share of XComs (and of bytes) at or below each size."""
    ax = _ax(ax)
    s = np.sort(sizes.dropna().astype("float64").to_numpy())
    if len(s):
        ax.step(s, np.arange(1, len(s) + 1) / len(s), where="post", label="share of XComs")
        ax.step(s, np.cumsum(s) / s.sum() if s.sum() else s, where="post", label="share of bytes")
    ax.set_xscale("log")
    ax.set_xlabel("value bytes")
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right")
    ax.set_title("Cumulative distribution of value sizes")
    return ax


def top_bar(table: pd.DataFrame, n: int = 10, ax: Any = None, title: str = "") -> Any:
    """Horizontal bars of the ``n`` largest rows of a profile table by ``value_bytes``."""
    ax = _ax(ax, (7, 0.35 * min(n, len(table)) + 1))
    top = table.head(n).iloc[::-1]
    labels = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in top.index]
    ax.barh(labels, top["value_bytes"])
    ax.set_xlabel("value bytes")
    ax.set_title(title or "Largest by value bytes")
    for y, v in enumerate(top["value_bytes"]):
        ax.annotate(_bytes_label(v), (v, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    return ax


def daily(table: pd.DataFrame, ax: Any = None) -> Any:
    """Bytes written per day, with a 7-day mean."""
    ax = _ax(ax)
    ax.plot(table.index, table["value_bytes"], lw=0.8, alpha=0.6, label="per day")
    ax.plot(table.index, table["value_bytes"].rolling(7, min_periods=1).mean(), lw=2,
            label="7-day mean")
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("value bytes written")
    ax.set_title("XCom bytes written per day")
    ax.legend(loc="upper left")
    return ax


def forecast(fc: Any, ax: Any = None, ceilings: dict[str, float] | None = None) -> Any:
    """On-disk table size: the rows present now by write day, then the projection and band.

    ``fc`` is an :class:`xcomlab.analysis.forecast.Forecast`; ceilings (default its
    ``DEFAULT_CEILINGS``) are drawn when the band comes within a factor 2 of them.
    """
    from xcomlab.analysis.forecast import DEFAULT_CEILINGS

    ax = _ax(ax)
    r = fc.disk_ratio
    p = fc.projection
    ax.plot(fc.history.index, fc.history.cumsum() * r, lw=1.5, label="rows present now (by write day)")
    ax.plot(p.index, p["expected"] * r, lw=2, label="expected")
    ax.fill_between(p.index, p["lower"] * r, p["upper"] * r, alpha=0.25, label="5–95 % band")
    top = float(p["upper"].max() * r)
    for name, size in (ceilings or DEFAULT_CEILINGS).items():
        if size <= 2 * top:
            ax.axhline(size, ls="--", lw=1, color="grey")
            ax.annotate(name, (p.index[0], size), xytext=(2, 2), textcoords="offset points", fontsize=8)
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _bytes_label(v)))
    ax.set_ylabel("xcom size on disk" if r != 1 else "xcom value bytes")
    ax.set_title("XCom table size: history and forecast")
    ax.legend(loc="upper left")
    return ax
