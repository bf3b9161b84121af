"""Plots: thin matplotlib shells over profile tables. Each returns its Axes.

Plots take tables and duck-typed results and import nothing from the analyses, so a
result can offer ``.plot()`` (importing this module on use: it loads matplotlib).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MultipleLocator

from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.units import format_bytes  # one formatter for plots, report, widgets and CLI

__all__ = ["daily", "forecast", "format_bytes", "size_cdf", "size_hist", "top_bar"]


def _ax(ax: Any, figsize: tuple[float, float] = (7, 3)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _bytes_axis(axis: Any, vmax: float) -> None:
    """Ticks at binary steps labelled in KiB/MiB/GiB rather than raw byte counts."""
    if vmax > 0:
        axis.set_major_locator(MultipleLocator(2.0 ** np.floor(np.log2(vmax / 3))))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_bytes(v).replace(".0 ", " ")))


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
    _bytes_axis(ax.xaxis, float(top["value_bytes"].max()) if len(top) else 0.0)
    ax.set_title(title or "Largest by value bytes")
    for y, v in enumerate(top["value_bytes"]):
        ax.annotate(format_bytes(v), (v, y), xytext=(3, 0), textcoords="offset points", va="center",
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
    _bytes_axis(ax.yaxis, float(table["value_bytes"].max()) if len(table) else 0.0)
    ax.set_title("XCom bytes written per day")
    ax.legend(loc="upper left")
    return ax


def forecast(fc: Any, ax: Any = None, ceilings: dict[str, float] | None = None) -> Any:
    """On-disk table size: the rows present now by write day, then the projection and band.

    ``fc`` is an :class:`xcomlab.analysis.forecast.Forecast`; ceilings (default its
    ``DEFAULT_CEILINGS``) are drawn when the band comes within a factor 2 of them.
    """
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
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
    ax.set_ylabel("xcom size on disk" if r != 1 else "xcom value bytes")
    ax.set_title("XCom table size: history and forecast")
    ax.legend(loc="upper left")
    return ax


# --- backend trade-offs (xcomlab.recommend, xcomlab.widgets, xcomlab.models.complexity) ------

def _positive(values: Any) -> np.ndarray:
    """As float, with non-positive values masked (NaN) for log axes."""
    v = np.asarray(values, dtype="float64")
    return np.where(v > 0, v, np.nan)


def _threshold_axis(ax: Any, table: pd.DataFrame) -> np.ndarray:
    x = np.arange(len(table))
    labels = table.get("threshold", table.index)
    ax.set_xticks(x, [str(v) for v in labels], rotation=30, fontsize=8)
    ax.set_xlabel("offload threshold (always → never)")
    return x


def cost_curve(table: pd.DataFrame, current: int | None = None, ax: Any = None) -> Any:
    """Monthly cost and its parts across offload thresholds, the current one marked.

    ``table`` has one row per threshold (:attr:`xcomlab.widgets.BackendExplorer.curve` or an
    :func:`xcomlab.recommend.evaluate` table): ``monthly_cost_usd``, ``db_storage_usd``,
    ``object_storage_usd``, ``requests_usd`` and optionally a ``threshold`` label column.
    """
    ax = _ax(ax)
    x = _threshold_axis(ax, table)
    ax.plot(x, _positive(table["monthly_cost_usd"]), lw=2.2, marker="o", ms=3, label="total")
    for col, label in (("db_storage_usd", "DB storage"), ("object_storage_usd", "object storage"),
                       ("requests_usd", "requests")):
        ax.plot(x, _positive(table[col]), lw=1, ls="--", label=label)
    if current is not None:
        y = float(table["monthly_cost_usd"].iloc[current])
        ax.plot([x[current]], [y], marker="*", ms=14, color="crimson", ls="none", label="current")
    ax.set_yscale("log")
    ax.set_ylabel("USD / month")
    ax.set_title("Monthly cost by threshold")
    ax.legend(loc="best", fontsize=7)
    return ax


def latency_curve(table: pd.DataFrame, current: int | None = None, ax: Any = None) -> Any:
    """Push (and pull) p50/p99 across offload thresholds, the current one marked."""
    ax = _ax(ax)
    x = _threshold_axis(ax, table)
    for col, style in (("push_p50_ms", "-"), ("push_p99_ms", "-"), ("pull_p50_ms", ":"),
                       ("pull_p99_ms", ":")):
        ax.plot(x, _positive(table[col]), ls=style, marker="o", ms=3, lw=1.5 if "push" in col else 1,
                label=col.replace("_ms", "").replace("_", " "))
    if current is not None:
        y = float(table["push_p99_ms"].iloc[current])
        ax.plot([x[current]], [y], marker="*", ms=14, color="crimson", ls="none", label="current")
    ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.set_title("Push / pull latency by threshold")
    ax.legend(loc="best", fontsize=7)
    return ax


def pareto(table: pd.DataFrame, x: str = "monthly_cost_usd", y: str = "push_p99_ms",
           best: str | None = None, ax: Any = None) -> Any:
    """Candidates on two objectives, the Pareto front joined and labelled, ``best`` starred.

    ``table`` is :func:`xcomlab.recommend.evaluate`'s (or ``Recommendation.table``).
    """
    ax = _ax(ax, (7, 4))
    front = table["pareto"].astype(bool) if "pareto" in table else pd.Series(False, index=table.index)
    ax.scatter(table.loc[~front, x], table.loc[~front, y], s=18, color="grey", alpha=0.6,
               label="dominated")
    f = table[front].sort_values(x)
    ax.plot(f[x], f[y], color="tab:blue", lw=1, alpha=0.5)
    markers = "osD^vP<>hX"
    for i, (name, row) in enumerate(f.iterrows()):  # one legend entry per front point
        ax.plot([row[x]], [row[y]], marker=markers[i % len(markers)], ls="none", ms=7,
                label=f"front: {name}")
    if best is not None and best in table.index:
        ax.plot([table.loc[best, x]], [table.loc[best, y]], marker="*", ms=16, color="crimson",
                ls="none", alpha=0.8, label=f"recommended: {best}")
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.set_title("Candidates and their Pareto front")
    ax.legend(loc="best", fontsize=7)
    return ax


def complexity(table: pd.DataFrame, fits: pd.DataFrame | None = None, ax: Any = None,
               title: str = "") -> Any:
    """Median query time against table rows N on log-log axes, with the fitted growth.

    ``table`` has columns (or index levels) ``query``, ``n``, ``median_s``
    (:attr:`xcomlab.models.complexity.ComplexityResult.table`); ``fits`` its ``fits``
    (``model``, ``a``, ``b``) to draw each query's chosen model as a dashed line.
    """
    ax = _ax(ax, (7, 4))
    t = table.reset_index() if "query" not in table.columns else table
    for q, g in t.groupby("query", sort=False):
        g = g.sort_values("n")
        n = g["n"].to_numpy(dtype="float64")
        (line,) = ax.plot(n, g["median_s"] * 1e6, marker="o", label=str(q))
        if fits is not None and q in fits.index:
            f = fits.loc[q]
            grid = np.geomspace(n.min(), n.max(), 50)
            model = np.log(grid) if f["model"] == "log n" else grid
            ax.plot(grid, _positive((f["a"] * model + f["b"]) * 1e6), ls="--", lw=1,
                    color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows in xcom (N)")
    ax.set_ylabel("median time (µs)")
    ax.set_title(title or "XCom query time as the table grows (dashed: fitted model)")
    ax.legend(loc="best", fontsize=7)
    return ax


__all__ += ["complexity", "cost_curve", "latency_curve", "pareto"]
