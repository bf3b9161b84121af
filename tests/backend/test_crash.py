"""Crash safety: SIGKILL a writer mid-``set`` many times; no row may point to a missing or torn
object, and reconcile() purges every orphan the kills left behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from xcomlab.backend import StoreConfig, XComStore

from ._workers import intact, set_forever

KILLS = 30
SEED = 20261125


@pytest.fixture(params=["sqlite", "postgresql"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    url = (f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    config = StoreConfig(url=url, object_base=f"file://{tmp_path / 'objects'}", threshold=1000)
    XComStore(config).close()
    return config


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_set_leaves_no_dangling_rows(cfg: StoreConfig) -> None:
    rng = random.Random(SEED)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["xcomlab.backend"])
    for i in range(KILLS):
        started = ctx.Event()
        proc = ctx.Process(target=set_forever, args=(cfg, started, 150_000, i), daemon=True)
        proc.start()
        assert started.wait(30), "writer did not start"
        time.sleep(rng.uniform(0.0, 0.2))
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL

    with XComStore(cfg) as store:
        before = store.reconcile(grace_s=0)
        assert before.dangling == []
        rows = store.rows(dag_id="crash")
        assert len(rows) > 0
        for r in rows.itertuples():  # every row reads back whole: no torn object
            assert intact(store.get(r.key, dag_id="crash", run_id=r.run_id, task_id="t"))
        purged = store.reconcile(purge=True, grace_s=0)
        after = store.reconcile(grace_s=0)
        assert purged.purged_objects == len(before.orphans)
        assert after.orphans == [] and after.dangling == [] and after.young_orphans == []
        assert after.objects == rows["uri"].notna().sum()
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    tmp = sum(".tmp-" in u for u in before.orphans)
    print(f"\n[crash {store.engine.dialect.name}] kills={KILLS} rows={len(rows)} "
          f"orphans={len(before.orphans)} (tmp files {tmp}) dangling=0 purged={purged.purged_objects}")
