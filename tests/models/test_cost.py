"""Cost model: the price table, known bills, monotonicity, user prices."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcomlab.errors import SchemaMismatchError, XcomlabError
from xcomlab.models.cost import (
    OBJECT_SERVICES,
    PRICE_COLUMNS,
    MissingPriceError,
    Prices,
    load_prices,
    monthly_cost,
)

GB = 1e9


def test_every_price_row_has_source_date_and_tag() -> None:
    t = load_prices()
    assert list(t.columns[: len(PRICE_COLUMNS)]) != []  # loaded
    for col in PRICE_COLUMNS:
        assert col in t
    assert t["source"].str.len().gt(10).all()
    dates = pd.to_datetime(t["date"], format="%Y-%m-%d")
    assert (dates.dt.year >= 2025).all()
    assert t["tag"].isin(["P", "S", "D", "U"]).all()
    assert (t["price"] >= 0).all()
    # every object store the recommender offers has storage, put and get prices
    for service in OBJECT_SERVICES.values():
        items = set(t.loc[t["service"] == service, "item"])
        assert {"storage", "put", "get"} <= items, service


def test_known_bills() -> None:
    # 10 GB on RDS PostgreSQL gp3: 10 × 0.115 (docs/prices.md#database-storage)
    assert monthly_cost(db_bytes=10 * GB, object_bytes=0, puts=0, gets=0).total == pytest.approx(1.15)
    # one million S3 PUTs: 1000 × 0.005; a million GETs: 1000 × 0.0004
    c = monthly_cost(db_bytes=0, object_bytes=0, puts=1e6, gets=1e6)
    assert c.requests == pytest.approx(5.4)
    # S3 storage crosses the 50 TB tier: 51 200 GB at 0.023, the rest at 0.022
    c = monthly_cost(db_bytes=0, object_bytes=60_000 * GB, puts=0, gets=0)
    assert c.object_storage == pytest.approx(51_200 * 0.023 + 8_800 * 0.022)
    # egress: first 100 GB free, then 0.09
    c = monthly_cost(db_bytes=0, object_bytes=0, puts=0, gets=0, egress_bytes=300 * GB)
    assert c.egress == pytest.approx(200 * 0.09)
    # GCS is priced per GiB
    c = monthly_cost(db_bytes=0, object_bytes=2**30 * 100, puts=0, gets=0, object_store="gcs")
    assert c.object_storage == pytest.approx(2.0)
    assert set(c.as_dict()) == {"db_storage", "object_storage", "requests", "egress", "total"}


def test_multi_az_doubles_db_storage_only() -> None:
    single = monthly_cost(db_bytes=50 * GB, object_bytes=10 * GB, puts=1e5, gets=1e5)
    multi = monthly_cost(db_bytes=50 * GB, object_bytes=10 * GB, puts=1e5, gets=1e5, multi_az=True)
    assert multi.db_storage == pytest.approx(2 * single.db_storage)
    assert multi.object_storage == single.object_storage
    assert multi.requests == single.requests


@pytest.mark.parametrize("store", sorted(OBJECT_SERVICES))
@given(base=st.lists(st.floats(0, 1e14), min_size=5, max_size=5),
       which=st.integers(0, 4), extra=st.floats(1, 1e13))
@settings(max_examples=40, deadline=None)
def test_monotone_in_every_input(store: str, base: list[float], which: int, extra: float) -> None:
    names = ["db_bytes", "object_bytes", "puts", "gets", "egress_bytes"]
    kw = dict(zip(names, base, strict=True))
    if store not in ("s3", "gcs"):
        kw["egress_bytes"] = 0.0  # no egress price listed for these stores
        which = which % 4
    before = monthly_cost(object_store=store, **kw).total
    kw[names[which]] += extra
    assert monthly_cost(object_store=store, **kw).total >= before


def test_user_overrides_and_scaling_change_the_result() -> None:
    usage = dict(db_bytes=20 * GB, object_bytes=200 * GB, puts=2e6, gets=4e6)
    base = Prices().monthly(**usage)
    dear_db = Prices(overrides={"rds-postgresql-gp3.storage": 1.15}).monthly(**usage)
    assert dear_db.db_storage == pytest.approx(10 * base.db_storage)
    assert dear_db.object_storage == base.object_storage
    cheap_put = Prices().with_overrides(**{"s3.put": 0.0}).monthly(**usage)
    assert cheap_put.requests == pytest.approx(base.requests - 2e6 / 1000 * 0.005)
    x100 = Prices().scaled(100, services=("s3",)).monthly(**usage)
    assert x100.object_storage == pytest.approx(100 * base.object_storage)
    assert x100.requests == pytest.approx(100 * base.requests)
    assert x100.db_storage == base.db_storage
    assert "user override" in set(dear_db.lines["source"])
    assert "USD/month" in repr(base)


def test_another_db_and_a_user_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = monthly_cost(db_bytes=10 * GB, object_bytes=0, puts=0, gets=0, db="cloudsql-ssd")
    assert c.db_storage == pytest.approx(1.7)
    t = load_prices()
    t.loc[(t["service"] == "s3") & (t["item"] == "put"), "price"] = 0.01
    path = tmp_path / "mine.csv"
    t.to_csv(path, index=False)
    mine = Prices(table=load_prices(path))
    assert mine.monthly(db_bytes=0, object_bytes=0, puts=1000, gets=0).requests == pytest.approx(0.01)


def test_bad_input_raises_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="puts=-1"):
        monthly_cost(db_bytes=0, object_bytes=0, puts=-1, gets=0)
    with pytest.raises(MissingPriceError, match=r"blob\.egress") as err:
        monthly_cost(db_bytes=0, object_bytes=0, puts=0, gets=0, egress_bytes=GB, object_store="azure")
    assert isinstance(err.value, XcomlabError)
    with pytest.raises(MissingPriceError, match=r"oracle-db\.storage"):
        monthly_cost(db_bytes=GB, object_bytes=0, puts=0, gets=0, db="oracle-db")
    t = load_prices()
    t.loc[3, "source"] = None
    path = tmp_path / "bad.csv"
    t.to_csv(path, index=False)
    with pytest.raises(SchemaMismatchError, match=r"rows \[5\] need a numeric price, a source and a date"):
        load_prices(path)
    t.drop(columns=["date"]).to_csv(path, index=False)
    with pytest.raises(SchemaMismatchError, match="missing columns"):
        load_prices(path)


def test_provider_and_region_select_the_store() -> None:
    usage = dict(db_bytes=0, object_bytes=100 * 2**30, puts=0, gets=0)
    assert monthly_cost(provider="gcp", **usage).object_storage == pytest.approx(2.0)
    assert monthly_cost(provider="aws", region="us-east-1", **usage).object_storage == pytest.approx(
        100 * 2**30 / 1e9 * 0.023)
    with pytest.raises(MissingPriceError, match="eu-west-9"):
        monthly_cost(provider="aws", region="eu-west-9", **usage)
    with pytest.raises(ValueError, match="provider='ibm'"):
        monthly_cost(provider="ibm", **usage)
