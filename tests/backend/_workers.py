"""Child-process bodies for the concurrency and crash tests (importable by spawn/forkserver)."""

from __future__ import annotations

import hashlib
import random
from multiprocessing.synchronize import Event
from typing import Any

from xcomlab.backend import StoreConfig, XComStore


def payload(name: str, size: int, seed: int) -> dict[str, Any]:
    """A value that proves its own integrity: ``data`` and its sha256."""
    rng = random.Random(f"{name}:{seed}")
    data = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=size))
    return {"name": name, "seq": seed, "data": data, "sha": hashlib.sha256(data.encode()).hexdigest()}


def intact(value: Any) -> bool:
    """True when ``value`` is a whole payload (not torn, not mixed)."""
    return (isinstance(value, dict) and hashlib.sha256(value["data"].encode()).hexdigest() == value["sha"])


def write_many(cfg: StoreConfig, writer: int, count: int, sizes: list[int], done: Any) -> None:
    """Set ``count`` values (cycling through ``sizes``) and announce each key once it is stored."""
    with XComStore(cfg, create=False) as store:
        for j in range(count):
            key = f"w{writer}-{j}"
            store.set(key, payload(key, sizes[j % len(sizes)], j), dag_id="conc", run_id="r",
                      task_id=f"t{writer}", map_index=j % 3 - 1)
            done.put((key, f"t{writer}", j % 3 - 1))
    done.put(None)


def set_forever(cfg: StoreConfig, started: Event, size: int, seed: int) -> None:
    """Write large values in a loop until killed (the crash test's victim)."""
    rng = random.Random(seed)
    with XComStore(cfg, create=False) as store:
        started.set()
        i = 0
        while True:
            key = f"k{rng.randrange(20)}"  # overwrites too: old objects get purged
            store.set(key, payload(key, size, seed * 100_000 + i), dag_id="crash", run_id=f"r{seed % 3}",
                      task_id="t")
            i += 1
