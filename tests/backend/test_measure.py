"""xcomlab.measure: the workload driver against real stores, and the latency fit on its frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import xcomlab.measure as xm
from xcomlab.backend import StoreConfig, XComStore
from xcomlab.models.latency import LatencyModel

from .conftest import S3_BUCKET, s3_options

SIZES = (100, 1_000, 10_000, 100_000)
PHASE_COLUMNS = ["serialize_s", "compress_s", "encrypt_s", "object_s", "db_s", "total_s"]


def test_value_of_is_deterministic_sized_and_compressible() -> None:
    zstd = pytest.importorskip("zstandard")
    for n in (13, 100, 999, 10_000, 250_001):
        text = json.dumps(xm.value_of(n, seed=3)).encode()
        assert len(text) == n
    assert xm.value_of(5_000, seed=1) == xm.value_of(5_000, seed=1)
    assert xm.value_of(5_000, seed=1) != xm.value_of(5_000, seed=2)
    raw = json.dumps(xm.value_of(200_000)).encode()
    ratio = len(raw) / len(zstd.ZstdCompressor().compress(raw))
    assert 2.0 < ratio < 10.0  # like task output, not a run of one byte
    with pytest.raises(xm.MeasureError, match="nbytes"):
        xm.value_of(1)


def test_run_defaults_sqlite_inline_and_file_objects() -> None:
    df = xm.run(sizes=SIZES, repeats=3, rng=7)
    assert set(df["store"]) == {"sqlite", "sqlite+file"}
    assert len(df) == 2 * len(SIZES) * 3 * 2
    assert df["ok"].all()
    for col in ["store", "op", "tier", "dialect", "protocol", "codec", "bytes_in", "bytes_stored",
                *PHASE_COLUMNS, "size", "repeat"]:
        assert col in df.columns
    sets = df[df["op"] == "set"]
    assert (sets["bytes_in"] == sets["size"]).all()  # JSON bytes in == requested size
    inline, offloaded = sets[sets["store"] == "sqlite"], sets[sets["store"] == "sqlite+file"]
    assert set(inline["tier"]) == {"db"} and set(inline["dialect"]) == {"sqlite"}
    assert set(offloaded["tier"]) == {"object"} and set(offloaded["protocol"]) == {"file"}
    big = offloaded[offloaded["size"] == 100_000]
    assert (big["bytes_stored"] < big["bytes_in"] / 2).all()  # zstd on the object tier
    assert (df["total_s"] >= df[PHASE_COLUMNS[:-1]].sum(axis=1) - 1e-6).all()
    assert (sets.loc[sets["store"] == "sqlite+file", "object_s"] > 0).all()


def test_run_memory_objects_and_the_latency_fit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    stores = {"mem": StoreConfig(url=url, object_base="memory://measure-test/xcom", threshold=0),
              "db": StoreConfig(url=url)}
    df = xm.run(stores, sizes=SIZES, repeats=3)
    result = LatencyModel().fit(df)
    # the memory protocol is fitted as "memory"; the DB tier as the sqlite dialect
    assert set(result.fits_.index) == {("push", "memory"), ("pull", "memory"),
                                      ("push", "sqlite"), ("pull", "sqlite")}
    assert (result.fits_["n"] == len(SIZES) * 3).all()
    pred = result.predict("push", "sqlite", [1_000, 100_000], airflow3=False)
    assert pred[0] > 0 and pred[1] >= pred[0]
    # nothing left behind: rows and objects are cleared after the run
    with XComStore(StoreConfig(url=url, object_base="memory://measure-test/xcom")) as store:
        assert store.rows().empty
        report = store.reconcile(grace_s=0)
        assert report.objects == 0 and report.orphans == [] and report.young_orphans == []


def test_run_get_and_delete_ops_and_the_byte_cap(tmp_path: Path) -> None:
    stores = {"f": StoreConfig(url=f"sqlite:///{tmp_path / 'c.db'}",
                               object_base=f"file://{tmp_path / 'o'}", threshold=0)}
    df = xm.run(stores, sizes=(1_000, 50_000, 400_000), repeats=4, ops=("set", "get", "delete"),
                max_total_bytes=300_000)
    counts = df[df["op"] == "set"].groupby("size").size().to_dict()
    assert counts == {1_000: 4, 50_000: 4}  # 4 kB + 200 kB fit; 400 kB never fits
    assert df.attrs["skipped_sizes"] == [400_000]
    assert list(df["op"][:3]) == ["set", "get", "delete"]
    assert not any((tmp_path / "o").rglob("*.zst"))


def test_one_store_gets_more_repeats_interleaved_with_the_rest(tmp_path: Path) -> None:
    """store_repeats: the file store measures its large size 5 times, SQLite 2; the rounds
    beyond SQLite's run the file store alone."""
    stores = xm.default_stores(tmp_path)
    df = xm.run(stores, sizes=(100, 20_000), repeats=2, rng=5,
                store_repeats={"sqlite+file": {100: 2, 20_000: 5}})
    sets = df[df["op"] == "set"]
    counts = sets.groupby(["store", "size"])["repeat"].nunique().to_dict()
    assert counts == {("sqlite", 100): 2, ("sqlite", 20_000): 2,
                      ("sqlite+file", 100): 2, ("sqlite+file", 20_000): 5}
    assert sorted(sets.loc[sets["store"] == "sqlite+file", "repeat"].unique()) == [0, 1, 2, 3, 4]
    with pytest.raises(xm.MeasureError, match="not measured"):
        xm.run(stores, sizes=(100,), repeats=1, store_repeats={"sqlite+s3": 3})


@pytest.mark.parametrize("kw", [{"sizes": ()}, {"sizes": (1,)}, {"repeats": 0},
                                {"ops": ("get",)}, {"ops": ("set", "scan")},
                                {"store_repeats": {"sqlite": 0}}])
def test_run_rejects_bad_arguments(kw: dict[str, object]) -> None:
    with pytest.raises(xm.MeasureError):
        xm.run(**kw)  # type: ignore[arg-type]


def test_run_on_server_databases(pg_url: str, mysql_url: str) -> None:
    stores = {"postgresql": StoreConfig(url=pg_url), "mariadb": StoreConfig(url=mysql_url)}
    df = xm.run(stores, sizes=(100, 10_000), repeats=2)
    assert set(df["dialect"]) == {"postgresql", "mysql"}
    assert df["ok"].all()
    assert set(LatencyModel().fit(df).fits_.index.get_level_values("backend")) == {"postgresql", "mysql"}


@pytest.mark.slow
def test_moto_server_and_s3_store(tmp_path: Path) -> None:
    pytest.importorskip("moto.server")
    with xm.moto_server(bucket=S3_BUCKET) as s3:
        assert s3.endpoint.startswith("http://127.0.0.1:")
        stores = xm.default_stores(tmp_path, s3=s3)
        assert str(stores["sqlite+s3"].object_base).startswith(f"s3://{S3_BUCKET}/")
        df = xm.run({"s3": stores["sqlite+s3"]}, sizes=(100, 10_000), repeats=2)
    assert set(df["protocol"]) == {"s3"} and set(df["tier"]) == {"object"}
    assert s3_options(s3.endpoint)["client_kwargs"] == s3.storage_options["client_kwargs"]
    assert set(LatencyModel().fit(df).fits_.index.get_level_values("backend")) == {"s3"}


def test_random_values_are_sized_and_incompressible() -> None:
    zstd = pytest.importorskip("zstandard")
    for n in (2, 3, 100, 10_001):
        assert len(json.dumps(xm.value_of(n, seed=4, kind="random")).encode()) == n
    assert xm.value_of(500, kind="random") == xm.value_of(500, kind="random")
    raw = json.dumps(xm.value_of(200_000, kind="random")).encode()
    ratio = len(zstd.ZstdCompressor().compress(raw)) / len(raw)
    assert 0.7 < ratio < 0.8  # base64: 6 bits of entropy per 8-bit character
    with pytest.raises(xm.MeasureError, match="kind"):
        xm.value_of(100, kind="zeros")


def test_run_interleaves_stores_and_kinds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    stores = {"a": StoreConfig(url=url), "b": StoreConfig(url=url, object_base=f"file://{tmp_path / 'o'}",
                                                          threshold=0)}
    df = xm.run(stores, sizes=(100, 5_000), repeats=3, kinds=xm.KINDS)
    assert len(df) == 2 * 2 * 2 * 3 * 2
    assert set(df["kind"]) == set(xm.KINDS)
    sets = df[df["op"] == "set"]
    assert (sets["bytes_in"] == sets["size"]).all()
    big = sets[(sets["store"] == "b") & (sets["size"] == 5_000)].groupby("kind")["bytes_stored"].median()
    assert big["records"] < 0.5 * big["random"]  # compressible vs not, through the same zstd
    # interleaved: the stores alternate within one (size, kind); each repeat starts with another
    first = sets.sort_values("at").groupby(["size", "kind", "repeat"])["store"].first()
    assert set(first) == {"a", "b"}
    with pytest.raises(xm.MeasureError, match="kinds"):
        xm.run(stores, kinds=("records", "records"))
