"""The fan-in cache: one fetch per offloaded value, bounded, never shared, never cross-row."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from xcomlab.backend import (
    ConfigError,
    IntegrityError,
    ObjectStoreError,
    RowRef,
    StoreConfig,
    XComStore,
)
from xcomlab.backend.cache import ValueCache
from xcomlab.backend.objects import ObjectStore

IDS = {"dag_id": "d", "run_id": "r", "task_id": "t"}
ROW = RowRef("d", "r", "t", -1, "k")
BIG = {"rows": list(range(5000)), "name": "big"}


class CountingStore(ObjectStore):
    """The real file:// object store, counting reads (the fan-in is what we measure)."""

    gets = 0

    def get(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        type(self).gets += 1
        return super().get(uri, max_bytes=max_bytes)


def _store(tmp_path: Path, **kw: Any) -> XComStore:
    cfg = StoreConfig(url=f"sqlite:///{tmp_path / 's.db'}", object_base=f"file://{tmp_path / 'o'}",
                      threshold=1000, measure=True)
    store = XComStore(cfg.replace(**kw))
    assert store.objects is not None
    counting = CountingStore(store.objects.base)
    CountingStore.gets = 0
    store.objects = counting
    return store


def test_mapped_pulls_fetch_once(tmp_path: Path) -> None:
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    store.set("return_value", BIG, **IDS)
    for _ in range(20):
        assert store.get("return_value", **IDS) == BIG
    assert CountingStore.gets == 1
    s = store.cache.stats() if store.cache else None
    assert s is not None and (s.hits, s.misses, s.entries) == (19, 1, 1)
    m = store.measurements()
    gets = m[m.op == "get"]
    assert (gets.tier == "object").all() and (gets.bytes_stored > 0).all()


def test_off_by_default_fetches_every_time(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.cache is None
    store.set("k", BIG, **IDS)
    for _ in range(3):
        store.get("k", **IDS)
    assert CountingStore.gets == 3


def test_returned_values_are_never_shared(tmp_path: Path) -> None:
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    store.set("k", BIG, **IDS)
    first = store.get("k", **IDS)
    first["rows"].append("mutated")
    first["name"] = "changed"
    second = store.get("k", **IDS)
    assert second == BIG and second is not first and second["rows"] is not first["rows"]


def test_the_adapter_path_uses_the_cache(tmp_path: Path) -> None:
    """``decode`` (Airflow's deserialize_value) on the same row value: one fetch."""
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    stored = store.encode(BIG, key="k", **IDS)
    assert [store.decode(dict(stored), row=ROW) for _ in range(5)] == [BIG] * 5
    assert CountingStore.gets == 1


def test_a_copied_sha256_next_to_another_uri_is_not_served(tmp_path: Path) -> None:
    """The writer picks the sha256: keyed by it alone, a row copying a victim's sha256 could
    read the victim's cached value. Keyed by (uri, sha256), it must read its own object."""
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    store.set("k", BIG, dag_id="victim", run_id="r", task_id="t")
    assert store.get("k", dag_id="victim", run_id="r", task_id="t") == BIG  # now cached
    victim = store.get_stored("k", dag_id="victim", run_id="r", task_id="t")
    store.set("k", {"mine": list(range(3000))}, dag_id="attacker", run_id="r", task_id="t")
    mine = store.get_stored("k", dag_id="attacker", run_id="r", task_id="t")
    forged = {**mine, "sha256": victim["sha256"]}
    with pytest.raises(IntegrityError, match="sha256"):
        store.decode(forged, row=RowRef("attacker", "r", "t", -1, "k"))


def test_a_corrupted_object_is_never_cached(tmp_path: Path) -> None:
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    store.set("k", BIG, **IDS)
    uri = store.get_stored("k", **IDS)["uri"]
    path = Path(uri.removeprefix("file://"))
    good = path.read_bytes()
    path.write_bytes(b"tampered" + good[8:])
    for _ in range(2):
        with pytest.raises(IntegrityError):
            store.get("k", **IDS)
    assert store.cache is not None and store.cache.stats().entries == 0
    path.write_bytes(good)
    assert store.get("k", **IDS) == BIG


def test_delete_forgets_the_value(tmp_path: Path) -> None:
    store = _store(tmp_path, cache_max_bytes=10_000_000)
    store.set("k", BIG, **IDS)
    stored = store.get_stored("k", **IDS)
    store.get("k", **IDS)
    store.delete("k", **IDS)
    assert store.cache is not None and store.cache.stats().entries == 0
    with pytest.raises(ObjectStoreError, match="missing"):
        store.decode(stored, row=ROW)  # a stale copy of the row: the object is gone, so is the cache


def test_bounds_by_bytes_and_entries() -> None:
    c = ValueCache(max_bytes=100, max_entries=3)
    assert not c.put("u0", "s", b"x" * 101)  # too big: never cached
    for i in range(4):
        assert c.put(f"u{i}", "s", b"x" * 10)
    s = c.stats()
    assert (s.entries, s.bytes, s.evictions) == (3, 30, 1) and c.get("u0", "s") is None
    assert c.get("u1", "s") == b"x" * 10  # u1 is now most recent
    c.put("u9", "s", b"y" * 80)  # 110 of 100 bytes: evicts u2, the least recently used
    assert c.get("u2", "s") is None and c.get("u3", "s") is not None
    assert c.stats().bytes == 100  # order now u1, u9, u3 (u3 read last)
    c.put("u1", "s", b"z" * 20)  # re-counted: 80 + 10 + 20 = 110, evicts u9 (least recent)
    assert c.get("u1", "s") == b"z" * 20 and c.get("u3", "s") == b"x" * 10
    assert c.get("u9", "s") is None and c.stats().bytes == 30


def test_thread_safe_under_contention() -> None:
    c = ValueCache(max_bytes=5_000, max_entries=50)

    def work(n: int) -> None:
        for i in range(2_000):
            c.put(f"u{(i * n) % 97}", "s", b"x" * (i % 200))
            c.get(f"u{i % 97}", "s")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = c.stats()
    assert s.bytes <= 5_000 and s.entries <= 50
    assert s.bytes == sum(len(c.get(u, s_) or b"") for u, s_ in list(c._data))


@pytest.mark.parametrize("kw", [{"cache_max_bytes": -1}, {"cache_max_entries": -5}])
def test_bad_settings(kw: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="cache_max"):
        StoreConfig(**kw)


def test_settings_from_environment() -> None:
    cfg = StoreConfig.from_env(environ={"XCOMLAB_CACHE_MAX_BYTES": "67108864",
                                        "AIRFLOW__XCOMLAB__CACHE_MAX_ENTRIES": "8"})
    assert (cfg.cache_max_bytes, cfg.cache_max_entries) == (64 << 20, 8)
