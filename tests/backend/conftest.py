"""Fixtures of the backend conformance suite: metadata DBs × object stores, and a moto S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xcomlab.backend import StoreConfig, XComStore

S3_BUCKET = "xcomlab-test"
S3_CREDS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API (moto server) on a free loopback port, with one bucket."""
    for module in ("moto.server", "s3fs", "boto3"):
        pytest.importorskip(module)
    from xcomlab.measure import moto_server

    with moto_server(S3_BUCKET) as s3:
        yield s3.endpoint


def s3_options(endpoint: str) -> dict[str, Any]:
    """fsspec storage options for the moto server."""
    return {**S3_CREDS, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh metadata database of each kind (PostgreSQL/MariaDB skip when not running)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("mysql_url"))


@pytest.fixture(params=["file", "memory", "s3"])
def object_base(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """``(base URL, storage_options)`` of a fresh, empty object store of each kind."""
    tag = uuid.uuid4().hex[:12]
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}", {}
    if request.param == "memory":
        return f"memory://{tag}/xcom", {}
    endpoint = request.getfixturevalue("s3_endpoint")
    return f"s3://{S3_BUCKET}/{tag}/xcom", s3_options(endpoint)


StoreFactory = Callable[..., XComStore]


@pytest.fixture
def make_store(db_url: str, object_base: tuple[str, dict[str, Any]]) -> Iterator[StoreFactory]:
    """Build stores on this test's DB × object store; ``threshold`` etc. as keywords."""
    stores: list[XComStore] = []
    base, options = object_base

    def make(**kw: Any) -> XComStore:
        cfg = StoreConfig(url=db_url, object_base=base, storage_options=options)
        store = XComStore(cfg.replace(**kw) if kw else cfg)
        stores.append(store)
        return store

    yield make
    for s in stores:
        s.close()
