"""Cost: what an XCom configuration costs per month — DB storage, object storage, requests, egress.

Prices live in ``xcomlab/data/pricing.csv``: one row per (provider, service, item, tier) with
its unit, region, source, date and a confidence tag (docs/prices.md; docs/methods.md#tags: [P] primary,
[S] secondary, [D] derived, [U] unverified — verify [U] rows before publishing). Volume tiers
are rows with the same item and a ``tier_start`` (in the price's unit, per month). Units:
``usd_per_gb_month`` (GB = 10⁹ B), ``usd_per_gib_month`` (GiB = 2³⁰ B),
``usd_per_1000_requests``, ``usd_per_gb`` / ``usd_per_gib`` (transfer), ``factor``.

Users pass their own prices with ``Prices(overrides={"s3.put": 0.004})`` (a flat price in the
row's unit) or a whole table with ``Prices(table=load_prices("my.csv"))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from xcomlab.errors import ParameterError, SchemaMismatchError, XcomlabError

__all__ = [
    "OBJECT_SERVICES",
    "PROVIDER_STORES",
    "CostBreakdown",
    "MissingPriceError",
    "Prices",
    "load_prices",
    "monthly_cost",
]

PRICE_COLUMNS: Final = ("provider", "service", "item", "unit", "price", "region", "tier_start",
                        "tag", "source", "date")
_BYTES_PER: Final = {"gb": 1e9, "gib": float(2**30)}
_PER_REQUESTS: Final = 1000.0

#: Object store name (as in ``LatencyModel``/``Candidate``) → service in the price table.
OBJECT_SERVICES: Final = {"s3": "s3", "gcs": "gcs", "azure": "blob", "file": "file",
                          "s3express": "s3express"}


class MissingPriceError(XcomlabError, KeyError):
    """The price table has no row for a (service, item) a cost needs."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def load_prices(path: str | Path | None = None) -> pd.DataFrame:
    """Read a price table (default: the bundled ``xcomlab/data/pricing.csv``).

    Raises
    ------
    SchemaMismatchError
        A column is missing, a price is not a number, or a row has no source or date.
    """
    if path is None:
        return _bundled().copy()
    return _checked(pd.read_csv(path), str(path))


@lru_cache(maxsize=1)
def _bundled() -> pd.DataFrame:
    with resources.files("xcomlab").joinpath("data/pricing.csv").open("rb") as fh:
        return _checked(pd.read_csv(fh), "xcomlab/data/pricing.csv")


def _checked(table: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in PRICE_COLUMNS if c not in table.columns]
    if missing:
        msg = f"{where}: missing columns {missing}; expected {list(PRICE_COLUMNS)}"
        raise SchemaMismatchError(msg)
    price = pd.to_numeric(table["price"], errors="coerce")
    bad = table[price.isna() | table["source"].isna() | table["date"].isna()]
    if len(bad):
        msg = (f"{where}: rows {list(bad.index + 2)} need a numeric price, a source and a date "
               f"(first: {bad.iloc[0].to_dict()})")
        raise SchemaMismatchError(msg)
    table = table.assign(price=price.astype("float64"),
                         tier_start=pd.to_numeric(table["tier_start"]).fillna(0.0))
    return table.sort_values(["service", "item", "tier_start"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class CostBreakdown:
    """Monthly cost in USD, by component.

    ``db_storage`` (allocated DB storage, × the Multi-AZ factor), ``object_storage``,
    ``requests`` (PUT + GET-class, incl. HEAD), ``egress``; ``total`` is their sum;
    ``lines`` lists each charge with its quantity, unit price and source.
    """

    db_storage: float
    object_storage: float
    requests: float
    egress: float
    lines: pd.DataFrame = field(repr=False)

    @property
    def total(self) -> float:
        """Sum of all components (USD/month)."""
        return self.db_storage + self.object_storage + self.requests + self.egress

    def as_dict(self) -> dict[str, float]:
        """``{component: USD/month}`` including ``total``."""
        return {"db_storage": self.db_storage, "object_storage": self.object_storage,
                "requests": self.requests, "egress": self.egress, "total": self.total}

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v:,.2f}" for k, v in self.as_dict().items())
        return f"CostBreakdown(USD/month: {parts})"

    def _repr_html_(self) -> str:
        return f"<p><b>{self!r}</b></p>" + self.lines.to_html(index=False)


@dataclass(frozen=True)
class Prices:
    """A price selection: which DB and object store, and the user's overrides.

    Parameters
    ----------
    table
        A price table (default: :func:`load_prices`).
    overrides
        ``{"service.item": price}``: a flat price in the row's unit replacing every tier,
        e.g. ``{"s3.storage": 0.0125, "rds-postgresql-gp3.storage": 0.2}``.
    object_store
        ``s3``, ``gcs``, ``azure``, ``file`` or ``s3express``.
    db
        The metadata-DB storage service: ``rds-postgresql-gp3``, ``rds-mysql-gp3``,
        ``ebs-gp3``, ``mwaa``, ``cloudsql-ssd``, ``cloudsql-hdd`` (or one of your table).
    multi_az
        Bill DB storage × the service's ``multi_az_factor``.
    region
        Only rows of this region (default: whatever region each service is listed for).
    """

    table: pd.DataFrame = field(default_factory=load_prices, repr=False)
    overrides: Mapping[str, float] = field(default_factory=dict)
    object_store: str = "s3"
    db: str = "rds-postgresql-gp3"
    multi_az: bool = False
    region: str | None = None

    def __post_init__(self) -> None:
        t = self.table if self.region is None else self.table[self.table["region"] == self.region]
        index = {(str(svc), str(item)): (g["tier_start"].to_numpy(float), g["price"].to_numpy(float),
                                         str(g["unit"].iloc[0]),
                                         "; ".join(dict.fromkeys(g["source"].astype(str))))
                 for (svc, item), g in t.groupby(["service", "item"], sort=False)}
        object.__setattr__(self, "_index", index)

    def tiers(self, service: str, item: str) -> tuple[np.ndarray, np.ndarray, str, str]:
        """``(tier_start, price, unit, source)`` of one item (overrides applied)."""
        key = f"{service}.{item}"
        found = self._index.get((service, item))  # type: ignore[attr-defined]
        if found is None:
            if key in self.overrides:
                return np.zeros(1), np.array([float(self.overrides[key])]), "", "user override"
            known = sorted(f"{s}.{i}" for s, i in self._index)  # type: ignore[attr-defined]
            msg = (f"no price for {key!r}" + (f" in region {self.region!r}" if self.region else "")
                   + f"; known: {known}. Pass Prices(overrides={{{key!r}: <price>}}) or a table row")
            raise MissingPriceError(msg)
        starts, prices, unit, source = found
        if key in self.overrides:
            return np.zeros(1), np.array([float(self.overrides[key])]), unit, "user override"
        return starts, prices, unit, source

    def with_overrides(self, **changes: float) -> Prices:
        """A copy with more ``service.item`` overrides (use ``**{"s3.put": 0.01}``)."""
        return replace(self, overrides={**self.overrides, **changes})

    def scaled(self, factor: float, *, services: tuple[str, ...] | None = None) -> Prices:
        """A copy with every price of ``services`` (default: all) multiplied by ``factor``."""
        t = self.table.copy()
        mask = (t["unit"] != "factor") & (t["service"].isin(services) if services else True)
        t.loc[mask, "price"] = t.loc[mask, "price"] * factor
        over = {k: v * factor for k, v in self.overrides.items()
                if services is None or k.split(".")[0] in services}
        return replace(self, table=t, overrides={**self.overrides, **over})

    def monthly(self, *, db_bytes: float, object_bytes: float, puts: float, gets: float,
                egress_bytes: float = 0.0) -> CostBreakdown:
        """Monthly cost of this selection (see :func:`monthly_cost`)."""
        return monthly_cost(db_bytes=db_bytes, object_bytes=object_bytes, puts=puts,
                            gets=gets, egress_bytes=egress_bytes, prices=self)


@lru_cache(maxsize=1)
def _default_prices() -> Prices:
    return Prices()


def _tiered(quantity: float, starts: np.ndarray, prices: np.ndarray) -> float:
    """Charge a monthly quantity against volume tiers (each price applies from its start)."""
    ends = np.append(starts[1:], np.inf)
    return float((np.clip(quantity - starts, 0.0, ends - starts) * prices).sum())


def _units(nbytes: float, unit: str) -> float:
    for token, size in _BYTES_PER.items():
        if f"_{token}" in unit:
            return nbytes / size
    return nbytes / 1e9


#: Provider → its object store (``monthly_cost(provider=...)``).
PROVIDER_STORES: Final = {"aws": "s3", "gcp": "gcs", "azure": "azure", "local": "file"}


def monthly_cost(*, db_bytes: float, object_bytes: float, puts: float, gets: float,
                 egress_bytes: float = 0.0, provider: str | None = None,
                 region: str | None = None, object_store: str | None = None,
                 db: str | None = None, multi_az: bool | None = None,
                 prices: Prices | None = None) -> CostBreakdown:
    """Monthly USD for a configuration.

    Parameters
    ----------
    db_bytes
        DB on-disk bytes billed (use the peak: RDS bills allocated storage).
    object_bytes
        Object-store bytes (after compression), averaged over the month.
    puts, gets
        Object-store requests per month (count HEADs as gets: same price class on S3).
    egress_bytes
        Bytes per month leaving the cloud (0 when workers run in the bucket's region).
    provider, region
        ``aws`` (S3), ``gcp`` (GCS), ``azure`` or ``local`` (file) picks the object store;
        ``region`` keeps only that region's rows (the bundled table lists one region per
        service: us-east-1, us-central1, eastus).
    object_store, db, multi_az
        Override the selection in ``prices``.
    prices
        A :class:`Prices` (default: bundled prices, S3 + RDS PostgreSQL gp3, Single-AZ).

    Examples
    --------
    >>> round(monthly_cost(db_bytes=10e9, object_bytes=0, puts=0, gets=0).total, 2)
    1.15
    """
    for name, value in (("db_bytes", db_bytes), ("object_bytes", object_bytes), ("puts", puts),
                        ("gets", gets), ("egress_bytes", egress_bytes)):
        if not np.isfinite(value) or value < 0:
            msg = f"{name}={value!r}; expected a finite number ≥ 0"
            raise ParameterError(msg)
    p = prices or _default_prices()
    if region is not None and region != p.region:
        p = replace(p, region=region)
    if provider is not None and provider not in PROVIDER_STORES:
        msg = f"provider={provider!r}; expected one of {sorted(PROVIDER_STORES)}"
        raise ParameterError(msg)
    store = object_store or (PROVIDER_STORES[provider] if provider else p.object_store)
    db_service = db or p.db
    service = OBJECT_SERVICES.get(store, store)
    lines: list[dict[str, object]] = []

    def charge(svc: str, item: str, amount: float, *, per_bytes: bool, factor: float = 1.0) -> float:
        if amount == 0 and item not in ("storage",):
            return 0.0
        starts, unit_prices, unit, source = p.tiers(svc, item)
        qty = _units(amount, unit) if per_bytes else amount / _PER_REQUESTS
        usd = _tiered(qty, starts, unit_prices) * factor
        lines.append({"service": svc, "item": item, "quantity": qty, "unit": unit,
                      "factor": factor, "usd": usd, "source": source})
        return usd

    az = float(p.tiers(db_service, "multi_az_factor")[1][0]) if (
        p.multi_az if multi_az is None else multi_az) else 1.0
    db_usd = charge(db_service, "storage", db_bytes, per_bytes=True, factor=az)
    obj_usd = charge(service, "storage", object_bytes, per_bytes=True) if object_bytes else 0.0
    req_usd = (charge(service, "put", puts, per_bytes=False)
               + charge(service, "get", gets, per_bytes=False))
    egress_usd = charge(service, "egress", egress_bytes, per_bytes=True)
    return CostBreakdown(db_usd, obj_usd, req_usd, egress_usd, pd.DataFrame(lines))
