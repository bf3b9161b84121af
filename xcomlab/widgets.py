"""Widgets: an ipywidgets explorer of XCom backend trade-offs for a workload.

:class:`BackendExplorer` puts the recommender's knobs on sliders and dropdowns — offload
threshold, compression, retention, backend, object store and the three prices that move the
answer (DB storage, object storage, PUT requests) — and shows, live, the monthly cost and
push/pull latency of every threshold with the current choice marked, the current
configuration's numbers, and :func:`xcomlab.recommend.recommend`'s advice re-run with the
current prices and retention.

Speed: volumes and latencies do not depend on prices, so the table of every threshold is
evaluated once per (compression, retention, object store) and re-priced with
:func:`xcomlab.models.cost.monthly_cost` when a price moves; recommendations are cached by
their inputs. Every default price comes from ``xcomlab/data/pricing.csv`` (each row has its
source and date).

>>> explorer = BackendExplorer(frame)                 # doctest: +SKIP
>>> explorer                                          # doctest: +SKIP  (in Jupyter: the widgets)
>>> explorer.threshold.value = 0; explorer.current    # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, Literal

import pandas as pd

from xcomlab import plots
from xcomlab.errors import ParameterError, ParameterTypeError
from xcomlab.models.cost import OBJECT_SERVICES, Prices, monthly_cost
from xcomlab.models.latency import LatencyModel
from xcomlab.plots import format_bytes
from xcomlab.randomness import RNG, seed_of
from xcomlab.recommend import (
    COMMON_IO_EXAMPLE,
    DEFAULT_DB,
    POLICY_48KB,
    Candidate,
    Recommendation,
    candidates,
    evaluate,
    recommend,
)

__all__ = ["COMPRESSIONS", "OBJECT_STORES", "THRESHOLDS", "BackendExplorer"]

#: Threshold slider stops, smallest first (common-io meaning: 0 offloads everything, -1
#: nothing). 48 KB is the ``MAX_XCOM_SIZE`` policy and 1 MiB common-io's documented example
#: (:data:`xcomlab.recommend.POLICY_48KB`, :data:`~xcomlab.recommend.COMMON_IO_EXAMPLE`, with
#: their sources); the other stops are powers of two for the curve.
THRESHOLDS: Final[tuple[tuple[str, int], ...]] = (
    ("always", 0), ("1 KiB", 2**10), ("4 KiB", 2**12), ("16 KiB", 2**14),
    ("48 KB", POLICY_48KB), ("256 KiB", 2**18), ("1 MiB", COMMON_IO_EXAMPLE),
    ("4 MiB", 2**22), ("16 MiB", 2**24), ("never", -1),
)
COMPRESSIONS: Final = ("none", "gzip", "zstd")
OBJECT_STORES: Final = ("s3", "gcs", "azure")
_BACKENDS: Final = ("db", "tiered", "object")
_DIALECTS: Final = ("postgresql", "mysql", "sqlite")
_UNITS: Final = {"usd_per_gb_month": "$/GB-month", "usd_per_gib_month": "$/GiB-month",
                 "usd_per_1000_requests": "$ per 1000"}
# Slider ranges (log10 of the price): wide enough for ×100 either way of every bundled price.
_DB_RANGE: Final = (-3.0, 2.0)
_OBJECT_RANGE: Final = (-4.0, 1.0)
_PUT_RANGE: Final = (-4.0, 1.0)
_CURRENT_KEYS: Final = ("monthly_cost_usd", "db_storage_usd", "object_storage_usd", "requests_usd",
                        "push_p50_ms", "push_p99_ms", "pull_p50_ms", "pull_p99_ms",
                        "peak_db_bytes", "object_bytes", "objects", "puts_per_month",
                        "offloaded_share", "violations")


def _candidate(threshold: int, compression: str, store: str, dialect: str) -> Candidate:
    """The configuration a threshold stands for (``-1`` DB only, ``0`` object only)."""
    label = dict((v, k) for k, v in THRESHOLDS).get(threshold, f"{threshold} B")
    if threshold < 0:
        name = "db" if compression == "none" else f"db+{compression}"
        return Candidate(name, "db", -1, compression, None, dialect)  # type: ignore[arg-type]
    if threshold == 0:
        return Candidate(f"object-{store}", "object", 0, compression, store, dialect)  # type: ignore[arg-type]
    return Candidate(f"tiered-{store}@{label}", "tiered", threshold, compression, store, dialect)  # type: ignore[arg-type]


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if abs(usd) >= 0.995 else f"${usd:.3g}"


class BackendExplorer:
    """Sliders and dropdowns over :func:`~xcomlab.recommend.recommend`, with live plots.

    Parameters
    ----------
    frame
        An XCom frame (:func:`xcomlab.load_export`).
    dialect
        The metadata DB: ``postgresql``, ``mysql`` or ``sqlite`` (its default storage price
        and hard limits).
    rng
        Seed or generator of the latency draws (same seed, same numbers; kept as ``seed``).
    threshold, compression, retention_days, object_store
        Initial widget values: threshold in bytes (a stop of :data:`THRESHOLDS`; ``0``
        always offload, ``-1`` never), ``none``/``gzip``/``zstd``, days kept (``0`` keep
        forever), ``s3``/``gcs``/``azure``. The backend dropdown follows the threshold.
    prices
        Base :class:`~xcomlab.models.cost.Prices` (default: the bundled table with the
        dialect's managed DB); the price sliders override its DB storage, object storage
        and PUT prices when moved away from the table's.
    latency, compression_ratio, horizon_days, sample_size
        Passed to :func:`~xcomlab.recommend.evaluate`.
    latency_budget_ms, db_ceiling_bytes, cost_tolerance, cost_tolerance_usd
        Passed to :func:`~xcomlab.recommend.recommend` (``cost_tolerance_usd=0`` lets small
        deployments, whose costs are cents, still see a difference).

    Attributes
    ----------
    current : dict
        The selected configuration's numbers (``name``, ``monthly_cost_usd``,
        ``db_storage_usd``, ``push_p50_ms``, ``push_p99_ms``, ``peak_db_bytes``, …).
    curve : pandas.DataFrame
        Every threshold stop for the current compression, store, retention and prices.
    recommendation : Recommendation
        The last :func:`~xcomlab.recommend.recommend` result.
    recommendation_text : str
        The advice shown (plain text): the recommended configuration, why, and how the
        current choice compares.
    last_update_s : float
        Seconds the last :meth:`update` took.
    """

    def __init__(self, frame: pd.DataFrame, *, dialect: str = "postgresql", rng: RNG = 0,
                 threshold: int = POLICY_48KB, compression: str = "zstd",
                 retention_days: int = 0, object_store: str = "s3",
                 prices: Prices | None = None, latency: LatencyModel | None = None,
                 compression_ratio: float | dict[str, float] | None = None,
                 horizon_days: int = 30, sample_size: int = 20_000,
                 latency_budget_ms: float | None = None, db_ceiling_bytes: float | None = None,
                 cost_tolerance: float = 0.10, cost_tolerance_usd: float = 1.0) -> None:
        import ipywidgets as w

        _check_choice("dialect", dialect, _DIALECTS)
        _check_choice("compression", compression, COMPRESSIONS)
        _check_choice("object_store", object_store, OBJECT_STORES)
        stops = [v for _, v in THRESHOLDS]
        if threshold not in stops:
            msg = f"threshold={threshold!r}; expected one of {stops} (bytes; 0 always, -1 never)"
            raise ParameterError(msg)
        if not isinstance(frame, pd.DataFrame):
            msg = f"frame is a {type(frame).__name__}; expected the XCom frame from xcomlab.load_export"
            raise ParameterTypeError(msg)
        self.frame = frame
        self.dialect = dialect
        self.seed = seed_of(rng)
        self._base = prices if prices is not None else Prices(db=DEFAULT_DB[dialect])
        self._eval_kw: dict[str, Any] = {
            "latency": latency, "compression_ratio": compression_ratio, "dialect": dialect,
            "horizon_days": horizon_days, "sample_size": sample_size, "rng": self.seed}
        self._rec_kw: dict[str, Any] = {
            "latency_budget_ms": latency_budget_ms, "db_ceiling_bytes": db_ceiling_bytes,
            "cost_tolerance": cost_tolerance, "cost_tolerance_usd": cost_tolerance_usd}
        self._curves: dict[tuple[Any, ...], pd.DataFrame] = {}
        self._recs: dict[tuple[Any, ...], Recommendation] = {}
        self._syncing = False
        wide = {"description_width": "initial"}
        layout = w.Layout(width="420px")

        self.threshold = w.SelectionSlider(options=list(THRESHOLDS), value=threshold,
                                           description="offload threshold", style=wide,
                                           layout=layout, continuous_update=False)
        self.backend = w.Dropdown(options=list(_BACKENDS), value=_backend_of(threshold),
                                  description="backend", style=wide)
        self.compression = w.Dropdown(options=list(COMPRESSIONS), value=compression,
                                      description="compression", style=wide)
        self.retention = w.IntSlider(value=retention_days, min=0, max=365, step=1,
                                     description="retention days (0 = forever)", style=wide,
                                     layout=layout, continuous_update=False)
        self.object_store = w.Dropdown(options=list(OBJECT_STORES), value=object_store,
                                       description="object store", style=wide)
        db_unit = self._table_price(self._base.db, "storage")[1]
        self.db_price = w.FloatLogSlider(
            value=self._table_price(self._base.db, "storage")[0], base=10, min=_DB_RANGE[0],
            max=_DB_RANGE[1], step=0.05, readout_format=".3g", style=wide, layout=layout,
            description=f"DB storage {_UNITS.get(db_unit, db_unit)}", continuous_update=False)
        self.object_price = w.FloatLogSlider(
            value=1.0, base=10, min=_OBJECT_RANGE[0], max=_OBJECT_RANGE[1], step=0.05,
            readout_format=".3g", style=wide, layout=layout, continuous_update=False)
        self.put_price = w.FloatLogSlider(
            value=1.0, base=10, min=_PUT_RANGE[0], max=_PUT_RANGE[1], step=0.05,
            readout_format=".3g", style=wide, layout=layout, continuous_update=False)
        self._reset_object_prices()
        self.plot = w.Image(format="png", layout=w.Layout(width="900px"))
        self.table = w.HTML(layout=w.Layout(min_width="340px"))
        self.recommendation_html = w.HTML(layout=w.Layout(width="560px"))
        for widget, cls in ((self.threshold, "threshold"), (self.backend, "backend"),
                            (self.compression, "compression"), (self.retention, "retention"),
                            (self.object_store, "object-store"), (self.db_price, "db-price"),
                            (self.object_price, "object-price"), (self.put_price, "put-price"),
                            (self.plot, "plot"), (self.table, "table"),
                            (self.recommendation_html, "recommendation")):
            widget.add_class(f"xcomlab-{cls}")
        self._controls = (self.threshold, self.backend, self.compression, self.retention,
                          self.object_store, self.db_price, self.object_price, self.put_price)
        for widget in self._controls:
            widget.observe(self._changed, names="value")
        self.widget = w.VBox([
            w.HBox([w.VBox([self.threshold, self.backend, self.compression, self.retention]),
                    w.VBox([self.object_store, self.db_price, self.object_price, self.put_price])]),
            self.plot, w.HBox([self.table, self.recommendation_html])])
        self.widget.add_class("xcomlab-explorer")
        self.current: dict[str, Any] = {}
        self.curve = pd.DataFrame()
        self.recommendation: Recommendation | None = None
        self.recommendation_text = ""
        self.last_update_s = 0.0
        self._figure: Any = None
        self.update()

    # --- prices ------------------------------------------------------------------------

    def _table_price(self, service: str, item: str) -> tuple[float, str]:
        """First-tier price and unit of a service item in the base prices (their overrides applied)."""
        _, prices, unit, _ = self._base.tiers(service, item)
        return float(prices[0]), unit

    def _reset_object_prices(self) -> None:
        """Object-storage and PUT sliders to the selected store's table prices."""
        service = OBJECT_SERVICES[self.object_store.value]
        for slider, item in ((self.object_price, "storage"), (self.put_price, "put")):
            price, unit = self._table_price(service, item)
            slider.value = price
            slider.description = f"{'object storage' if item == 'storage' else 'PUT'} {_UNITS.get(unit, unit)}"

    def prices(self) -> Prices:
        """The base prices with the sliders that moved away from the table as overrides."""
        service = OBJECT_SERVICES[self.object_store.value]
        over: dict[str, float] = {}
        for slider, key in ((self.db_price, (self._base.db, "storage")),
                            (self.object_price, (service, "storage")),
                            (self.put_price, (service, "put"))):
            if abs(slider.value - self._table_price(*key)[0]) > 1e-9 * max(abs(slider.value), 1e-12):
                over[".".join(key)] = float(slider.value)
        return replace(self._base.with_overrides(**over), object_store=self.object_store.value)

    # --- widget events -----------------------------------------------------------------

    def _changed(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            owner = change["owner"]
            if owner is self.threshold:
                self.backend.value = _backend_of(self.threshold.value)
            elif owner is self.backend:
                self.threshold.value = {"db": -1, "object": 0}.get(
                    self.backend.value, self.threshold.value if self.threshold.value > 0 else POLICY_48KB)
            elif owner is self.object_store:
                self._reset_object_prices()
        finally:
            self._syncing = False
        self.update()

    # --- computation -------------------------------------------------------------------

    def _retention(self) -> int | None:
        return int(self.retention.value) or None

    def _volumes(self) -> pd.DataFrame:
        """Every threshold stop evaluated at table prices (cached: prices only re-price it)."""
        key = (self.compression.value, self._retention(), self.object_store.value)
        if key not in self._curves:
            cands = [_candidate(v, self.compression.value, self.object_store.value, self.dialect)
                     for _, v in THRESHOLDS]
            table = evaluate(self.frame, cands, prices=replace(self._base, object_store=key[2]),
                             retention_days=key[1], **self._eval_kw)
            table.insert(0, "threshold", [label for label, _ in THRESHOLDS])
            self._curves[key] = table
        return self._curves[key]

    def _priced(self, table: pd.DataFrame, prices: Prices) -> pd.DataFrame:
        """``table`` with its cost columns recomputed at ``prices``."""
        out = table.copy()
        for name, row in zip(table.index, table.to_dict("records"), strict=True):
            cost = monthly_cost(db_bytes=float(row["peak_db_bytes"]),
                                object_bytes=float(row["object_bytes"]),
                                puts=float(row["puts_per_month"]), gets=float(row["gets_per_month"]),
                                object_store=row["object_store"] or None, prices=prices)
            out.loc[name, ["monthly_cost_usd", "db_storage_usd", "object_storage_usd",
                           "requests_usd"]] = [cost.total, cost.db_storage, cost.object_storage,
                                               cost.requests]
        return out

    def _recommend(self, prices: Prices) -> Recommendation:
        codec: Literal["gzip", "zstd"] = "gzip" if self.compression.value == "gzip" else "zstd"
        key = (tuple(sorted(prices.overrides.items())), self._retention(),
               self.object_store.value, codec)
        if key not in self._recs:
            cands = candidates(self.frame, dialect=self.dialect,
                               object_stores=(self.object_store.value,), compression=codec)
            self._recs[key] = recommend(self.frame, candidates=cands, prices=prices,
                                        retention_days=key[1], **self._eval_kw, **self._rec_kw)
        return self._recs[key]

    def update(self) -> None:
        """Recompute the curve, the current numbers, the recommendation and the widgets."""
        t0 = time.perf_counter()
        prices = self.prices()
        self.curve = self._priced(self._volumes(), prices)
        pos = [v for _, v in THRESHOLDS].index(self.threshold.value)
        row = self.curve.iloc[pos]
        self.current = {"name": str(self.curve.index[pos]), "backend": row["backend"],
                        "kind": row["kind"], "threshold_bytes": int(row["threshold_bytes"]),
                        "compression": row["compression"], "object_store": self.object_store.value,
                        "retention_days": self._retention(),
                        **{k: float(row[k]) for k in _CURRENT_KEYS}}
        self.current["violations"] = int(self.current["violations"])
        self.recommendation = self._recommend(prices)
        self.recommendation_text = self._advice(self.recommendation)
        self.recommendation_html.value = self._advice_html(self.recommendation)
        self.table.value = self._table_html()
        self.plot.value = self._png(pos)
        self.last_update_s = time.perf_counter() - t0

    # --- rendering ---------------------------------------------------------------------

    def _advice(self, rec: Recommendation) -> str:
        cur = self.current
        diff = cur["monthly_cost_usd"] - float(rec.table["monthly_cost_usd"].loc[rec.best.name])
        mine = (f"Your choice {cur['name']} costs {_money(cur['monthly_cost_usd'])}/month "
                f"({'+' if diff >= 0 else '-'}{_money(abs(diff))} against the recommendation), "
                f"push p99 {cur['push_p99_ms']:,.1f} ms, peak DB {format_bytes(cur['peak_db_bytes'])}.")
        return f"Recommended: {rec.best.name}. {rec.reason} {mine}"

    def _advice_html(self, rec: Recommendation) -> str:
        env = "".join(f"<li><code>{html.escape(k)}={html.escape(v)}</code></li>"
                      for k, v in rec.settings["xcomlab"].items() if k.startswith("XCOMLAB_"))
        head, _, rest = self.recommendation_text.partition(". ")
        return (f"<div><p><b>{html.escape(head)}.</b> {html.escape(rest)}</p>"
                f"<p>xcomlab backend settings:</p><ul>{env}</ul></div>")

    def _table_html(self) -> str:
        c = self.current
        rows = [("configuration", c["name"]), ("monthly cost", _money(c["monthly_cost_usd"])),
                ("  DB storage", _money(c["db_storage_usd"])),
                ("  object storage", _money(c["object_storage_usd"])),
                ("  requests", _money(c["requests_usd"])),
                ("push p50 / p99", f"{c['push_p50_ms']:,.1f} / {c['push_p99_ms']:,.1f} ms"),
                ("pull p50 / p99", f"{c['pull_p50_ms']:,.1f} / {c['pull_p99_ms']:,.1f} ms"),
                ("peak DB", format_bytes(c["peak_db_bytes"])), ("object bytes", format_bytes(c["object_bytes"])),
                ("offloaded", f"{c['offloaded_share']:.2%}"),
                ("PUTs / month", f"{c['puts_per_month']:,.0f}"),
                ("rows over the DB's hard limit", f"{c['violations']:,}")]
        body = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right; white-space:nowrap'>"
                       f"{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table class='xcomlab-current'>{body}</table>"

    def _png(self, pos: int) -> bytes:
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        if self._figure is None:
            self._figure = Figure(figsize=(11, 3.6))  # fixed margins: constrained layout costs 0.6 s
            self._figure.subplots(1, 2)
            self._figure.subplots_adjust(left=0.07, right=0.99, bottom=0.24, top=0.91, wspace=0.22)
        ax_cost, ax_lat = self._figure.axes
        ax_cost.clear()
        ax_lat.clear()
        plots.cost_curve(self.curve, current=pos, ax=ax_cost)
        plots.latency_curve(self.curve, current=pos, ax=ax_lat)
        for ax in (ax_cost, ax_lat):  # speed: no minor ticks, fixed title position
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_title(ax.get_title(), y=1.0)
        buf = io.BytesIO()
        self._figure.savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return (f"BackendExplorer({self.current.get('name')}: "
                f"{_money(self.current.get('monthly_cost_usd', 0.0))}/month; "
                f"recommended {self.recommendation.best.name if self.recommendation else '?'})")


def _backend_of(threshold: int) -> str:
    return "db" if threshold < 0 else "object" if threshold == 0 else "tiered"


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        msg = f"{name}={value!r}; expected one of {list(allowed)}"
        raise ParameterError(msg)
