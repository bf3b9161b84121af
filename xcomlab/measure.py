"""Measure: drive a set/get workload against XCom stores and return the measurement frame.

:func:`run` writes deterministic JSON values of each size (100 B – 64 MB by default) to
every configured :class:`~xcomlab.backend.StoreConfig` — SQLite, PostgreSQL, MariaDB, local
files, ``memory://`` or an S3 API — and reads them back. Each operation is one row of
:meth:`XComStore.measurements` (op, tier, dialect, protocol, codec, bytes in/stored,
seconds per phase), plus ``store``, ``size`` and ``repeat``; the frame is what
:meth:`xcomlab.models.latency.LatencyModel.fit` calibrates on.

:func:`moto_server` starts moto's S3 API server on a free loopback port (``moto[server]``,
a dev dependency) so the object tier can be measured against a real S3 protocol.

Examples
--------
>>> import xcomlab.measure as xm
>>> df = xm.run(sizes=(100, 10_000), repeats=2)
>>> sorted(df["store"].unique())
['sqlite', 'sqlite+file']
>>> len(df)  # 2 stores × 2 sizes × 2 repeats × (set, get)
16
"""

from __future__ import annotations

import base64
import json
import random
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from xcomlab.backend import StoreConfig, XComStore
from xcomlab.errors import XcomlabError
from xcomlab.randomness import RNG, seed_of

__all__ = [
    "DEFAULT_SIZES",
    "KINDS",
    "OPS",
    "MeasureError",
    "S3Endpoint",
    "default_stores",
    "moto_server",
    "run",
    "value_of",
]

#: Serialized sizes (bytes of JSON) measured by default: 100 B to 64 MB.
DEFAULT_SIZES: Final = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 64_000_000)
#: Kinds of value :func:`value_of` writes: ``records`` (JSON event records, zstd ≈ 3–5×) and
#: ``random`` (one JSON string of random base64 text, like an encoded binary: zstd ≈ 0.75×).
KINDS: Final = ("records", "random")
#: Operations :func:`run` can drive, in the order they run per value.
OPS: Final = ("set", "get", "delete")
#: Default cap on the JSON bytes written per store (repeats of large sizes are cut first).
DEFAULT_MAX_TOTAL_BYTES: Final = 1_000_000_000
_EVENTS: Final = ("click", "view", "purchase", "signup", "logout", "search", "refund", "share")
_COUNTRIES: Final = ("DE", "US", "FR", "IN", "BR", "JP", "GB", "NG", "CA", "MX")


class MeasureError(XcomlabError, ValueError):
    """A measurement run was asked for something it cannot do."""


# --- values ----------------------------------------------------------------------------------


def _record(rng: random.Random, i: int) -> dict[str, Any]:
    """One event record: ids, a category, numbers and a short free-text field."""
    return {"id": i, "user": f"u{rng.randrange(10**7):07d}", "event": rng.choice(_EVENTS),
            "country": rng.choice(_COUNTRIES), "amount": round(rng.lognormvariate(3, 1), 2),
            "ts": 1_767_225_600 + i * 7 + rng.randrange(7),
            "note": "".join(rng.choices("abcdefghij klmnop", k=rng.randrange(4, 24)))}


def value_of(nbytes: int, seed: int = 0, kind: str = "records") -> Any:
    """A JSON-able value whose ``json.dumps`` text is ``nbytes`` long (± a few bytes).

    ``kind="records"``: a list of event records (ids, categories, amounts, short text) —
    compressible like typical task output (zstd ≈ 3–5×) — padded to the size.
    ``kind="random"``: one string of random base64 characters, as a task returning an
    encoded binary would (incompressible beyond base64's 6 bits per character). The same
    ``(nbytes, seed, kind)`` always gives the same value.
    """
    if nbytes < 2:
        msg = f"nbytes={nbytes}; the smallest JSON value measured is 2 bytes ([])"
        raise MeasureError(msg)
    if kind not in KINDS:
        msg = f"kind={kind!r}; expected one of {KINDS}"
        raise MeasureError(msg)
    rng = random.Random(f"{seed}:{nbytes}")
    if kind == "random":  # '"' + text + '"'
        return base64.b64encode(rng.randbytes(nbytes))[: nbytes - 2].decode()
    out: list[Any] = []
    total, i = 2, 0  # "[]"
    pad_overhead = len(json.dumps({"pad": ""})) + 2
    while True:
        rec = _record(rng, i)
        n = len(json.dumps(rec)) + (2 if out else 0)
        if total + n > nbytes - pad_overhead:
            break
        out.append(rec)
        total, i = total + n, i + 1
    room = nbytes - total - (2 if out else 0) - len(json.dumps({"pad": ""}))
    if room >= 0:
        out.append({"pad": "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=room))})
    return out


# --- object storage on loopback ----------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3 API: its URL, one bucket and the fsspec options to reach it."""

    endpoint: str
    bucket: str
    storage_options: Mapping[str, Any]

    def base(self, prefix: str = "xcom") -> str:
        """An ``s3://`` object base under the bucket."""
        return f"s3://{self.bucket}/{prefix.strip('/')}"


@contextmanager
def moto_server(bucket: str = "xcomlab-measure") -> Iterator[S3Endpoint]:
    """Run moto's S3 server on ``127.0.0.1`` (a free port) with one bucket, then stop it.

    Raises
    ------
    MeasureError
        When ``moto[server]``, ``boto3`` or ``s3fs`` is not installed.
    """
    try:
        import boto3
        import s3fs  # noqa: F401  (the fsspec "s3" protocol the store will use)
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        msg = f"moto_server() needs moto[server], boto3 and s3fs (pip install 'moto[server]' s3fs): {exc}"
        raise MeasureError(msg) from exc
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"key": "testing", "secret": "testing"}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=creds["key"], aws_secret_access_key=creds["secret"])
        client.create_bucket(Bucket=bucket)
        client.close()
        options = {**creds, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
        yield S3Endpoint(endpoint, bucket, options)
    finally:
        server.stop()


def default_stores(workdir: str | Path, *, urls: Mapping[str, str] | None = None,
                   s3: S3Endpoint | None = None) -> dict[str, StoreConfig]:
    """Stores to measure: each database with everything inline, and each object store.

    ``workdir`` holds the SQLite files (one for inline values, one for reference rows) and the
    ``file://`` objects. ``urls`` adds databases (``{"postgresql": url, "mariadb": url}``),
    measured with every value inline; ``s3`` adds an S3 object store (values offloaded,
    ``threshold=0``, reference rows in SQLite).
    """
    wd = Path(workdir)
    sqlite = f"sqlite:///{wd / 'measure.db'}"
    # reference rows in a file of their own: a WAL checkpoint after a large inline write
    # would otherwise land on the next small write of the other store
    refs = f"sqlite:///{wd / 'measure-refs.db'}"
    stores = {"sqlite": StoreConfig(url=sqlite),
              "sqlite+file": StoreConfig(url=refs, object_base=f"file://{wd / 'objects'}",
                                         threshold=0)}
    for name, url in (urls or {}).items():
        stores[name] = StoreConfig(url=url)
    if s3 is not None:
        stores["sqlite+s3"] = StoreConfig(url=refs, object_base=s3.base(f"measure-{uuid.uuid4().hex[:8]}"),
                                          storage_options=dict(s3.storage_options), threshold=0)
    return stores


# --- the workload ---------------------------------------------------------------------------------


def _plan(sizes: Sequence[int], repeats: int | Mapping[int, int],
          max_total_bytes: int) -> list[tuple[int, int]]:
    """``(size, repeats)`` per size, ascending, cutting repeats so the total fits the cap."""
    left, plan = max_total_bytes, []
    for size in sorted(set(sizes)):
        want = repeats if isinstance(repeats, int) else int(repeats.get(size, 0))
        n = min(want, left // size)
        if n > 0:
            plan.append((size, n))
            left -= n * size
    return plan


def _check(sizes: Sequence[int], repeats: int | Mapping[int, int], ops: Sequence[str],
           kinds: Sequence[str]) -> None:
    if not sizes or any(int(s) < 2 for s in sizes):
        msg = f"sizes={tuple(sizes)}; expected byte counts ≥ 2"
        raise MeasureError(msg)
    counts = [repeats] if isinstance(repeats, int) else [repeats.get(int(s), 0) for s in sizes]
    if any(int(n) < 1 for n in counts):
        msg = f"repeats={repeats}; expected ≥ 1 (per size when a mapping)"
        raise MeasureError(msg)
    bad = [op for op in ops if op not in OPS]
    if bad or not ops or "set" not in ops:
        msg = f"ops={tuple(ops)}; expected 'set' and any of {OPS}"
        raise MeasureError(msg)
    if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        msg = f"kinds={tuple(kinds)}; expected distinct values among {KINDS}"
        raise MeasureError(msg)


@dataclass
class _Probe:
    """One open store, its XCom ids (a dag_id of its own) and the labels of the operations it ran."""

    name: str
    store: XComStore
    ids: dict[str, str]
    labels: list[tuple[int, str, int]]

    def once(self, value: Any, size: int, kind: str, r: int, ops: Sequence[str]) -> None:
        key, task_id = f"r{r}", f"{kind}_{size}"
        dag_id, run_id = self.ids["dag_id"], self.ids["run_id"]
        for op in (o for o in OPS if o in ops):
            if op == "set":
                self.store.set(key, value, dag_id=dag_id, run_id=run_id, task_id=task_id)
            elif op == "get":
                self.store.get(key, dag_id=dag_id, run_id=run_id, task_id=task_id)
            else:
                self.store.delete(key, dag_id=dag_id, run_id=run_id, task_id=task_id)
            self.labels.append((size, kind, r))

    def frame(self, ops: Sequence[str]) -> pd.DataFrame:
        frame = self.store.measurements()
        self.store.clear(dag_id=self.ids["dag_id"])  # leave nothing behind (objects included)
        # purges inside set/delete record their own rows before the operation's row: drop them
        frame = frame[frame["op"].isin(list(ops))].reset_index(drop=True)
        if len(frame) != len(self.labels):
            msg = f"store {self.name!r} recorded {len(frame)} operations, expected {len(self.labels)}"
            raise MeasureError(msg)
        frame.insert(0, "store", self.name)
        frame["size"] = [s for s, _, _ in self.labels]
        frame["kind"] = [k for _, k, _ in self.labels]
        frame["repeat"] = [r for _, _, r in self.labels]
        return frame


def _drive(configs: Mapping[str, StoreConfig], plans: Mapping[str, list[tuple[int, int]]], seed: int,
           ops: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    """Run each store's plan, interleaved; return their measurement rows for ``ops``.

    Repeat ``r`` runs every (size, kind) on every store before repeat ``r + 1`` starts, the
    store order rotating and the (size, kind) order shuffled (seeded), so a burst of load
    from elsewhere on the machine falls on one repeat of everything — which the medians over
    repeats discard — rather than on every repeat of one size or one store, and no size
    always follows the largest (whose cleanup, e.g. a WAL checkpoint, lands on the next). Values are built once and kept for the whole run. Each
    store writes under a dag_id of its own, so stores may share a database table. A store
    whose plan has more repeats of a size than the others' runs them in the later rounds,
    interleaved with the other stores that still have some.
    """
    tag = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        probes = [_Probe(name, stack.enter_context(XComStore(cfg.replace(measure=True))),
                         {"dag_id": f"xcomlab_measure_{tag}_{i}", "run_id": f"seed_{seed}"}, [])
                  for i, (name, cfg) in enumerate(configs.items())]
        for p in probes:  # warm up (connection, table, object-store client), unrecorded
            p.once(value_of(100, seed), 100, "records", -1, ("set", "get", "delete"))
            p.labels.clear()
            p.store.recorder.clear()
        counts = {name: dict(plan) for name, plan in plans.items()}
        most: dict[int, int] = {}
        for plan in plans.values():
            for size, n in plan:
                most[size] = max(most.get(size, 0), n)
        values = {(size, kind): value_of(size, seed, kind) for size in sorted(most) for kind in kinds}
        order = random.Random(seed)
        for r in range(max(most.values(), default=0)):
            todo = [(s, k) for s in sorted(most) if r < most[s] for k in kinds]
            if r:  # the first repeat ascends (a cap-cut plan fails early); later ones are shuffled
                order.shuffle(todo)
            for i, (size, kind) in enumerate(todo):
                turn = (r + i) % len(probes)
                for p in probes[turn:] + probes[:turn]:
                    if r < counts[p.name].get(size, 0):
                        p.once(values[(size, kind)], size, kind, r, ops)
        values.clear()
        return pd.concat([p.frame(ops) for p in probes], ignore_index=True)


def run(stores: Mapping[str, StoreConfig] | None = None, *,
        sizes: Sequence[int] = DEFAULT_SIZES, repeats: int | Mapping[int, int] = 5, rng: RNG = 0,
        ops: Sequence[str] = ("set", "get"), kinds: Sequence[str] = ("records",),
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        store_repeats: Mapping[str, int | Mapping[int, int]] | None = None) -> pd.DataFrame:
    """Write and read values of each size against each store; return the measurements.

    Stores, sizes and kinds are driven interleaved: repeat ``r`` of everything runs before
    repeat ``r + 1``, so load from other processes spreads over all of them.

    Parameters
    ----------
    stores
        ``{name: StoreConfig}``; None measures SQLite inline and SQLite + ``file://``
        objects in a temporary directory (see :func:`default_stores`).
    sizes
        Serialized sizes in bytes (JSON text); values come from :func:`value_of`.
    repeats
        Operations per size, kind and op (different keys, same value); a mapping gives
        each size its own count (small sizes are cheap to repeat and noisy).
    rng
        Seed or generator of the values (recorded as ``attrs["seed"]``).
    ops
        Among ``set``, ``get``, ``delete``; each repeat runs them in that order.
    kinds
        Kinds of value among :data:`KINDS` (compressible records, incompressible random text).
    max_total_bytes
        Cap on the JSON bytes written per store, shared equally by the kinds: the largest
        sizes get fewer repeats, and a size that does not fit once is skipped (listed in
        ``frame.attrs["skipped_sizes"]``).
    store_repeats
        ``{store: repeats}`` for stores that need another count than ``repeats`` (same forms),
        e.g. more repeats of the large sizes where a store's timings are bimodal; the extra
        repeats run interleaved with the stores that still have some.

    Returns
    -------
    pandas.DataFrame
        One row per operation: ``store`` then the columns of
        :meth:`XComStore.measurements` (``op, tier, dialect, protocol, codec, bytes_in,
        bytes_stored, serialize_s, compress_s, encrypt_s, object_s, db_s, total_s, ok`` …),
        then ``size`` (the requested size), ``kind`` and ``repeat``.
    """
    _check(sizes, repeats, ops, kinds)
    for own in (store_repeats or {}).values():
        _check(sizes, own, ops, kinds)
    seed = seed_of(rng)
    cap = max_total_bytes // len(kinds)
    with tempfile.TemporaryDirectory(prefix="xcomlab-measure-") as tmp:
        configs = dict(stores) if stores is not None else default_stores(tmp)
        if not configs:
            msg = "stores is empty; pass {name: StoreConfig} or None for the defaults"
            raise MeasureError(msg)
        unknown = sorted(set(store_repeats or {}) - set(configs))
        if unknown:
            msg = f"store_repeats names stores {unknown} that are not measured; stores: {sorted(configs)}"
            raise MeasureError(msg)
        plans = {name: _plan([int(s) for s in sizes], (store_repeats or {}).get(name, repeats), cap)
                 for name in configs}
        out = _drive(configs, plans, seed, ops, kinds)
    out.attrs["skipped_sizes"] = sorted(set(sizes) - {s for plan in plans.values() for s, _ in plan})
    out.attrs["seed"] = seed
    return out
