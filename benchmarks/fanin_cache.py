"""Fan-in cache benchmark: 100 pulls of one 10 MB offloaded value, without and with the cache.

Usage::

    python -m benchmarks.fanin_cache [--pulls 100] [--mb 10] [--no-s3] [--json FILE]

For each object store — ``file://`` on local disk and an S3 API (moto server on loopback;
``--no-s3`` skips it) — one value (``xcomlab.measure.value_of``, JSON records) is pushed once
with ``threshold=0`` (zstd, one SQLite row), then pulled ``--pulls`` times with
``XComStore.get`` by a store without the cache (the baseline: every pull fetches, checks
the sha256, decompresses and decodes) and by a store with ``cache_max_bytes=256 MiB`` (one
fetch, then every pull decodes the cached plaintext again). The two stores alternate in
rounds of 10 pulls so both see the same machine load. Printed: seconds per pull and the
ratio baseline / cached.

Also printed: why a hit decodes the cached bytes instead of copying a decoded value —
one ``serde.deserialize_json`` of the plaintext against one ``copy.deepcopy`` of the value.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xcomlab.backend import StoreConfig, XComStore, serde
from xcomlab.backend.codecs import dumps_json
from xcomlab.measure import moto_server, value_of

IDS = {"dag_id": "bench", "run_id": "r", "task_id": "producer"}
ROUND = 10
CACHE_BYTES = 256 << 20


@contextmanager
def _bases(tmp: Path, s3: bool) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    bases = [("file", f"file://{tmp / 'objects'}", {})]
    if not s3:
        yield bases
        return
    with moto_server("xcomlab-fanin") as ep:
        bases.append(("s3 (moto)", ep.base("fanin"), ep.storage_options))
        yield bases


def _pulls(store: XComStore, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        store.get("return_value", **IDS)
    return time.perf_counter() - t0


def run(pulls: int = 100, mb: float = 10, s3: bool = True) -> dict[str, Any]:
    """Time the pulls; return the figures (also printed by :func:`main`)."""
    value = value_of(int(mb * 1_000_000), seed=1)
    out: dict[str, Any] = {"pulls": pulls, "value_bytes": len(dumps_json(value)), "stores": {}}
    with tempfile.TemporaryDirectory() as d, _bases(Path(d), s3) as bases:
        for name, base, options in bases:
            cfg = StoreConfig(url=f"sqlite:///{d}/{name[:4]}.db", object_base=base,
                              storage_options=options, threshold=0, measure=False)
            plain, cached = XComStore(cfg), XComStore(cfg.replace(cache_max_bytes=CACHE_BYTES))
            plain.set("return_value", value, **IDS)
            assert plain.get("return_value", **IDS) == value
            t_plain = t_cached = 0.0
            for _ in range(pulls // ROUND):
                t_plain += _pulls(plain, ROUND)
                t_cached += _pulls(cached, ROUND)
            stats = cached.cache.stats() if cached.cache else None
            out["stores"][name] = {"baseline_s": t_plain, "cached_s": t_cached,
                                   "ratio": t_plain / t_cached,
                                   "fetches_cached": stats.misses if stats else None,
                                   "stored_bytes": plain.get_stored("return_value", **IDS)["stored_bytes"]}
            plain.close()
            cached.close()
    raw = dumps_json(value)
    decode = statistics.median(_time(lambda: serde.deserialize_json(raw)) for _ in range(5))
    deep = statistics.median(_time(lambda: copy.deepcopy(value)) for _ in range(5))
    out["copy_vs_decode"] = {"decode_s": decode, "deepcopy_s": deep, "ratio": deep / decode}
    return out


def _time(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pulls", type=int, default=100)
    p.add_argument("--mb", type=float, default=10)
    p.add_argument("--no-s3", action="store_true")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    r = run(a.pulls, a.mb, s3=not a.no_s3)
    print(f"{a.pulls} pulls of one {r['value_bytes'] / 1e6:.1f} MB value (JSON), zstd, threshold=0")
    print(f"{'store':<10} {'no cache s/pull':>16} {'cache s/pull':>13} {'fetches':>8} {'ratio':>6}")
    for name, s in r["stores"].items():
        print(f"{name:<10} {s['baseline_s'] / a.pulls:>16.4f} {s['cached_s'] / a.pulls:>13.4f} "
              f"{s['fetches_cached']:>8} {s['ratio']:>5.2f}x")
    c = r["copy_vs_decode"]
    print(f"a hit decodes the cached bytes: {c['decode_s']:.4f} s; copy.deepcopy of the value "
          f"instead: {c['deepcopy_s']:.4f} s ({c['ratio']:.2f}x the decode)")
    if a.json:
        a.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
