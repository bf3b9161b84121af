"""Concurrent writers and readers (threads and spawned processes) on SQLite (WAL), PostgreSQL
and MariaDB.

A value whose ``set`` has returned is always seen by a later ``get``, whole and unmixed;
nothing is lost, and no object is left without a row.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from pathlib import Path
from typing import Any

import pytest

from xcomlab.backend import StoreConfig, XComStore

from ._workers import intact, payload, write_many

SIZES = [50, 3000, 20_000]  # below and above the threshold
THRESHOLD = 1000


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """A store shared by every writer and reader: one DB, one file:// object base."""
    fixture = {"postgresql": "pg_url", "mariadb": "mysql_url"}.get(request.param)
    url = (str(request.getfixturevalue(fixture)) if fixture
           else f"sqlite:///{tmp_path / 'store.db'}")
    config = StoreConfig(url=url, object_base=f"file://{tmp_path / 'objects'}", threshold=THRESHOLD)
    XComStore(config).close()  # create the tables once
    return config


def _check_consistent(cfg: StoreConfig, expected: int) -> None:
    with XComStore(cfg) as store:
        rows = store.rows(dag_id="conc")
        assert len(rows) == expected
        report = store.reconcile(grace_s=0)
        assert report.dangling == [] and report.orphans == [] and report.young_orphans == []
        assert report.objects == rows["uri"].notna().sum() > 0


def _read_announced(store: XComStore, announced: Any, writers: int, errors: list[str]) -> int:
    seen, finished = 0, 0
    while finished < writers:
        item = announced.get(timeout=60)
        if item is None:
            finished += 1
            continue
        key, task, map_index = item
        value = store.get(key, dag_id="conc", run_id="r", task_id=task, map_index=map_index)
        if value is None or not intact(value) or value["name"] != key:
            errors.append(f"{key}: {str(value)[:80]}")
        seen += 1
    return seen


def test_threads_push_then_pull(cfg: StoreConfig) -> None:
    """4 writer threads and 2 reader threads share one store object."""
    writers, count = 4, 20
    announced: queue.Queue[Any] = queue.Queue()
    errors: list[str] = []
    with XComStore(cfg) as store:
        threads = [threading.Thread(target=write_many, args=(cfg, w, count, SIZES, announced))
                   for w in range(writers)]
        for t in threads:
            t.start()
        seen = _read_announced(store, announced, writers, errors)
        for t in threads:
            t.join()
    assert errors == [] and seen == writers * count
    _check_consistent(cfg, writers * count)


def test_processes_push_then_pull(cfg: StoreConfig) -> None:
    """3 spawned writer processes; the parent pulls each value as soon as it is announced."""
    writers, count = 3, 15
    ctx = mp.get_context("spawn")
    announced = ctx.Queue()
    errors: list[str] = []
    procs = [ctx.Process(target=write_many, args=(cfg, w, count, SIZES, announced))
             for w in range(writers)]
    for p in procs:
        p.start()
    with XComStore(cfg) as store:
        seen = _read_announced(store, announced, writers, errors)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert errors == [] and seen == writers * count
    _check_consistent(cfg, writers * count)


def test_overwrites_are_never_torn(cfg: StoreConfig) -> None:
    """One key rewritten 41 times (inline ↔ offloaded) while 3 threads read it: every read is a
    whole version, versions never go back, and only the last object remains."""
    ids = {"dag_id": "conc", "run_id": "r", "task_id": "hot"}
    versions = 41
    stop = threading.Event()
    errors: list[str] = []

    def reader(store: XComStore) -> None:
        last = -1
        while not stop.is_set():
            v = store.get("hot", **ids)
            if v is None:
                continue
            if not intact(v) or v["seq"] < last:
                errors.append(f"seq {v.get('seq')} after {last}")
            last = v["seq"]

    with XComStore(cfg) as store:
        readers = [threading.Thread(target=reader, args=(store,)) for _ in range(3)]
        for t in readers:
            t.start()
        for i in range(versions):
            store.set("hot", payload("hot", SIZES[i % len(SIZES)], i), **ids)
        stop.set()
        for t in readers:
            t.join()
        assert errors == []
        assert store.get("hot", **ids)["seq"] == versions - 1
    _check_consistent(cfg, 1)
