"""Plots: thin matplotlib shells over profile tables. Each returns its Axes.

Plots take tables and duck-typed results and import nothing from the analyses, so a
result can offer ``.plot()`` (importing this module on use: it loads matplotlib).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import Formatter, FuncFormatter, Locator, MaxNLocator

from xcomlab.constants import DEFAULT_CEILINGS
from xcomlab.units import format_bytes  # one formatter for plots, report, widgets and CLI

__all__ = ["daily", "forecast", "format_bytes", "size_cdf", "size_hist", "top_bar"]


def _ax(ax: Any, figsize: tuple[float, float] = (7, 3)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


# --- axes ticked at round values of their unit --------------------------------------------

_UNITS = (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10), ("B", 1.0))
#: Tick steps of a linear axis, in its unit: 1, 2 or 5 × 10^k.
_STEPS = [1, 2, 5, 10]


def plain(text: Any) -> str:
    """``text`` as matplotlib prints it literally: ``$`` escaped, so no mathtext parsing.

    Labels are DAG ids, task ids, keys and names a user chose: ``a$\\x$b`` must print as
    written rather than reach the mathtext parser (which raises on it). Matplotlib turns
    ``\\$`` back into ``$`` when it draws plain text.
    """
    return str(text).replace("$", r"\$")


def _unit(vmax: float) -> tuple[str, float]:
    """The largest binary unit ``vmax`` reaches (``B`` below 1 KiB)."""
    for name, size in _UNITS:
        if abs(vmax) >= size:
            return name, size
    return "B", 1.0


def _decimals(step: float) -> int:
    return max(0, -int(np.floor(np.log10(step) + 1e-9))) if step > 0 else 0


class ByteLocator(Locator):
    """Linear byte axis: ticks every 1, 2 or 5 × 10^k of one unit (KiB, MiB, GiB …)."""

    def __call__(self) -> Any:
        axis: Any = self.axis
        vmin, vmax = axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        _, size = _unit(max(abs(vmin), abs(vmax)))
        ticks = MaxNLocator(nbins=6, steps=_STEPS).tick_values(vmin / size, vmax / size)
        return np.asarray(ticks, dtype="float64") * size


class ByteFormatter(Formatter):
    """Labels of a :class:`ByteLocator` axis, every tick in the same unit (``0``, ``2 MiB`` …)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        axis: Any = self.axis
        vmin, vmax = axis.get_view_interval()
        name, size = _unit(max(abs(vmin), abs(vmax)))
        ticks = axis.get_majorticklocs()
        step = float(np.min(np.diff(ticks))) / size if len(ticks) > 1 else 1.0
        if abs(x) < 1e-9 * size:
            return "0"
        return f"{x / size:,.{_decimals(step)}f} {name}"


def _bytes_axis(axis: Any) -> None:
    """A linear byte axis ticked at round values of one binary unit."""
    axis.set_major_locator(ByteLocator())
    axis.set_major_formatter(ByteFormatter())


class RoundLogLocator(Locator):
    """Log axis ticks at 1 × 10^k (1, 2, 5 × 10^k over a short span; fewer decades over a long one).

    With ``binary=True`` the decades are those of each binary unit: 1, 10, 100 B, 1 KiB,
    10 KiB … (1, 2, 5, 10, 20, 50 … of the unit over a short span).
    """

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary

    def __call__(self) -> Any:
        axis: Any = self.axis
        vmin, vmax = axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((max(vmin, 1e-300), max(vmax, 1e-300)))
        span = np.log10(hi / lo)
        subs = (1.0, 2.0, 5.0) if span <= 1.5 else (1.0,)
        stride = max(1, int(np.ceil(span / 8))) if not self.binary else 1
        if self.binary:
            bases = [size for _, size in _UNITS[::-1]]
            mults = [m * 10.0**k for k in range(3) for m in subs] if span <= 1.5 else [1, 10, 100]
            if span > 8:
                mults = [1]
            ticks = sorted({b * m for b in bases for m in mults if lo / 10 <= b * m <= hi * 10})
        else:
            k0, k1 = int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1
            ticks = [m * 10.0**k for k in range(k0, k1 + 1) if k % stride == 0 for m in subs]
        return np.asarray(ticks, dtype="float64")


def _log_bytes_label(x: float, _pos: Any = None) -> str:
    name, size = _unit(x)
    v = x / size
    return f"{v:,.{_decimals(v) if v < 1 else 0}f} {name}"


def _log_axis(axis: Any, kind: str = "number") -> None:
    """A log axis ticked at round values: ``bytes`` (binary units), ``usd`` or plain ``number``."""
    from matplotlib.ticker import NullFormatter, NullLocator

    axis.set_major_locator(RoundLogLocator(binary=kind == "bytes"))
    labels = {"bytes": _log_bytes_label,
              "usd": lambda v, _p=None: plain(f"${v:,.{_decimals(v)}f}"),
              "number": lambda v, _p=None: f"{v:,.{_decimals(v)}f}"}
    axis.set_major_formatter(FuncFormatter(labels[kind]))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _linear_axis(axis: Any, percent: bool = False) -> None:
    """A linear axis of counts or shares ticked every 1, 2 or 5 × 10^k."""
    axis.set_major_locator(MaxNLocator(nbins=6, steps=_STEPS))
    if percent:
        axis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))


def size_hist(sizes: pd.Series, ax: Any = None, bins: int = 40) -> Any:
    """Histogram of value sizes on log-log axes (sizes are heavy-tailed)."""
    ax = _ax(ax)
    s = sizes.dropna().astype("float64")
    s = s[s > 0]
    top = np.log10(s.max()) + 0.1 if len(s) else 1.0
    ax.hist(s, bins=np.logspace(0, top, bins))
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis, "bytes")
    _log_axis(ax.yaxis)
    ax.set_xlabel("value size")
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
    _log_axis(ax.xaxis, "bytes")
    ax.set_xlabel("value size")
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.01)
    _linear_axis(ax.yaxis, percent=True)
    ax.legend(loc="lower right")
    ax.set_title("Cumulative distribution of value sizes")
    return ax


def top_bar(table: pd.DataFrame, n: int = 10, ax: Any = None, title: str = "") -> Any:
    """Horizontal bars of the ``n`` largest rows of a profile table by ``value_bytes``."""
    ax = _ax(ax, (7, 0.35 * min(n, len(table)) + 1))
    top = table.head(n).iloc[::-1]
    labels = [plain(" / ".join(map(str, i)) if isinstance(i, tuple) else i) for i in top.index]
    y = np.arange(len(top))
    ax.barh(y, top["value_bytes"])
    ax.set_yticks(y, labels)
    ax.set_xlabel("value bytes")
    _bytes_axis(ax.xaxis)
    ax.set_title(plain(title or "Largest by value bytes"))
    for i, v in enumerate(top["value_bytes"]):
        ax.annotate(format_bytes(v), (v, i), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_xlim(0, float(top["value_bytes"].max()) * 1.15 if len(top) else 1.0)
    return ax


def _dates(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def daily(table: pd.DataFrame, ax: Any = None, last_timestamp: Any = None) -> Any:
    """Bytes written per day, with a 7-day mean.

    ``last_timestamp`` (the export's last write): when it falls on the table's last day, that
    day is partial (writes after it are not in the export). It is drawn apart, hollow and
    labelled "partial", and left out of the 7-day mean, so it does not read as a drop.
    """
    ax = _ax(ax)
    values = table["value_bytes"].astype("float64")
    partial = (last_timestamp is not None and len(table) > 1
               and pd.Timestamp(last_timestamp).floor("D") == pd.Timestamp(table.index[-1]).floor("D"))
    full = values.iloc[:-1] if partial else values
    ax.plot(full.index, full, lw=0.8, alpha=0.6, label="per day")
    ax.plot(full.index, full.rolling(7, min_periods=1).mean(), lw=2, label="7-day mean")
    if partial:
        ts = pd.Timestamp(last_timestamp)
        ax.plot(values.index[-2:], values.iloc[-2:], lw=0.8, ls=":", color="grey")
        ax.plot(values.index[-1:], values.iloc[-1:], ls="none", marker="o", ms=7, mfc="white",
                mec="crimson", label=f"partial day (to {ts:%H:%M} UTC)")
        ax.annotate(f"partial (to {ts:%H:%M} UTC)", (values.index[-1], values.iloc[-1]),
                    xytext=(-6, 8), textcoords="offset points", ha="right", fontsize=8, color="crimson")
    _dates(ax)
    ax.set_ylabel("value bytes written")
    ax.set_ylim(0, max(float(values.max()) * 1.1, 1.0) if len(values) else 1.0)
    _bytes_axis(ax.yaxis)
    ax.set_title("XCom bytes written per day")
    ax.legend(loc="upper left")
    return ax


def _ceiling_label(name: str, size: float, vmax: float) -> str:
    """``name``, with its value in the axis's unit when that reads differently."""
    unit, scale = _unit(vmax)
    conv = f"{size / scale:,.1f}".rstrip("0").rstrip(".") + f" {unit}"
    same = conv.replace(" ", "").lower() in str(name).replace(" ", "").lower()
    return plain(name if same else f"{name} = {conv}")


def forecast(fc: Any, ax: Any = None, ceilings: dict[str, float] | None = None) -> Any:
    """On-disk table size: the rows present now by write day, then the projection and band.

    ``fc`` is an :class:`xcomlab.analysis.forecast.Forecast`; ceilings (default its
    ``DEFAULT_CEILINGS``) are drawn when the band comes within a factor 2 of them, labelled
    with the name they were given and, when it reads differently, their value in the axis's
    unit ("300 MB = 286.1 MiB").
    """
    ax = _ax(ax)
    r = fc.disk_ratio
    p = fc.projection
    ax.plot(fc.history.index, fc.history.cumsum() * r, lw=1.5, label="rows present now (by write day)")
    ax.plot(p.index, p["expected"] * r, lw=2, label="expected")
    ax.fill_between(p.index, p["lower"] * r, p["upper"] * r, alpha=0.25, label="5–95 % band")
    top = float(p["upper"].max() * r)
    drawn = {str(k): float(v) for k, v in (ceilings or DEFAULT_CEILINGS).items() if v <= 2 * top}
    vmax = max([top, *drawn.values()]) * 1.05
    for name, size in drawn.items():
        ax.axhline(size, ls="--", lw=1, color="grey")
        ax.annotate(_ceiling_label(name, size, vmax), (p.index[0], size), xytext=(2, 2),
                    textcoords="offset points", fontsize=8)
    _dates(ax)
    ax.set_ylim(0, vmax)
    _bytes_axis(ax.yaxis)
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
    ax.set_xticks(x, [plain(v) for v in labels], rotation=30, fontsize=8)
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
    _log_axis(ax.yaxis, "usd")
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
    _log_axis(ax.yaxis)
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
                label=plain(f"front: {name}"))
    if best is not None and best in table.index:
        ax.plot([table.loc[best, x]], [table.loc[best, y]], marker="*", ms=16, color="crimson",
                ls="none", alpha=0.8, label=plain(f"recommended: {best}"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis, "usd" if "usd" in x else "number")
    _log_axis(ax.yaxis, "usd" if "usd" in y else "number")
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
        (line,) = ax.plot(n, g["median_s"] * 1e6, marker="o", label=plain(q))
        if fits is not None and q in fits.index:
            f = fits.loc[q]
            grid = np.geomspace(n.min(), n.max(), 50)
            model = np.log(grid) if f["model"] == "log n" else grid
            ax.plot(grid, _positive((f["a"] * model + f["b"]) * 1e6), ls="--", lw=1,
                    color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis)
    _log_axis(ax.yaxis)
    ax.set_xlabel("rows in xcom (N)")
    ax.set_ylabel("median time (µs)")
    ax.set_title(plain(title) if title else "XCom query time as the table grows (dashed: fitted model)")
    ax.legend(loc="best", fontsize=7)
    return ax


__all__ += ["complexity", "cost_curve", "latency_curve", "pareto"]


def _usd_text(v: float) -> str:
    return "$0" if not v > 0 else f"${v:,.4f}" if v < 1 else f"${v:,.2f}"


def candidates(table: pd.DataFrame, best: str | None = None, axes: Any = None) -> Any:
    """Every backend candidate on its own row: monthly cost (left) and p99 latency (right).

    Rows are ranked by monthly cost, cheapest on top (ties by push p99), so candidates with
    equal numbers sit on separate rows instead of one dot; each row is labelled with the
    candidate's name and each point with its value. The Pareto front is blue, dominated
    candidates grey, ``best`` crimson with a bold label. ``table`` is
    :func:`xcomlab.recommend.evaluate`'s (``monthly_cost_usd, push_p99_ms, pull_p99_ms,
    pareto``). Returns the two Axes (``axes``: a pair sharing y, or None for a new figure).
    """
    if axes is None:
        import matplotlib.pyplot as plt

        axes = plt.subplots(1, 2, sharey=True, figsize=(11, 0.3 * len(table) + 1.4))[1]
    ax_cost, ax_lat = axes
    t = table.sort_values(["monthly_cost_usd", "push_p99_ms"], ascending=False, kind="stable")
    y = np.arange(len(t))
    front = (t["pareto"].astype(bool) if "pareto" in t else pd.Series(False, index=t.index)).to_numpy()
    is_best = np.asarray([str(n) == str(best) for n in t.index])
    color = np.where(is_best, "crimson", np.where(front, "tab:blue", "grey"))
    cost = _positive(t["monthly_cost_usd"])
    floor = float(np.nanmin(cost)) if np.isfinite(cost).any() else 1e-3
    cost_x = np.where(np.isnan(cost), floor, cost)
    ax_cost.scatter(cost_x, y, c=list(color), s=np.where(is_best, 60, 28), zorder=3)
    for yi, (xv, v) in enumerate(zip(cost_x, t["monthly_cost_usd"], strict=True)):
        ax_cost.annotate(_usd_text(float(v)), (xv, yi), xytext=(6, 0), textcoords="offset points",
                         va="center", fontsize=7.5)
    push, pull = _positive(t["push_p99_ms"]), _positive(t["pull_p99_ms"])
    ax_lat.scatter(push, y, c=list(color), s=np.where(is_best, 60, 28), zorder=3)
    ax_lat.scatter(pull, y, facecolors="none", edgecolors=list(color), s=28, zorder=3)
    for yi, (a, b) in enumerate(zip(push, pull, strict=True)):
        x_right = np.nanmax([a, b]) if np.isfinite([a, b]).any() else np.nan
        if np.isfinite(x_right):
            ax_lat.annotate(f"{a:,.1f} / {b:,.1f} ms", (x_right, yi), xytext=(6, 0),
                            textcoords="offset points", va="center", fontsize=7.5)
    ax_cost.set_yticks(y, [plain(n) for n in t.index], fontsize=8)
    for label, b in zip(ax_cost.get_yticklabels(), is_best, strict=True):
        if b:
            label.set_color("crimson")
            label.set_fontweight("bold")
    for ax, lo, hi, kind, xlabel in (
            (ax_cost, floor, np.nanmax(cost_x), "usd", "USD per month (log)"),
            (ax_lat, np.nanmin([push, pull]), np.nanmax([push, pull]), "number",
             "p99 ms (log): push ● / pull ○")):
        ax.set_xscale("log")
        if np.isfinite([lo, hi]).all():
            ax.set_xlim(lo / 1.6, hi * 6)
        _log_axis(ax.xaxis, kind)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", color="#e4e7eb", lw=0.6)
        ax.set_axisbelow(True)
    ax_cost.set_ylim(-0.7, len(t) - 0.3)
    from matplotlib.lines import Line2D

    legend = [Line2D([], [], ls="none", marker="o", color=c, label=plain(lab))
              for c, lab in (("tab:blue", "Pareto front"), ("grey", "dominated"),
                             ("crimson", f"recommended: {best}"))
              if lab != "recommended: None"]
    ax_lat.legend(handles=legend, loc="upper right", fontsize=7)
    ax_cost.set_title("Monthly cost per candidate (cheapest on top)", fontsize=10)
    ax_lat.set_title("p99 push / pull latency", fontsize=10)
    return ax_cost, ax_lat


__all__ += ["candidates", "plain"]
