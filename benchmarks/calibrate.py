"""Latency calibration: measure every local backend, rewrite the committed calibration data.

Usage::

    python -m benchmarks.calibrate [--repeats 12] [--sizes 100,1000,...] [--out FILE] [--quick]

Drives :func:`xcomlab.measure.run` (set then get, interleaved across stores) over

``sqlite``            SQLite file, values inline
``postgresql``        PostgreSQL on 127.0.0.1:5432, values inline (a throwaway schema)
``mariadb``           MariaDB/MySQL on 127.0.0.1:3306, values inline (a throwaway database)
``sqlite+file``       values offloaded to ``file://`` (zstd), reference rows in SQLite
``sqlite+memory``     values offloaded to fsspec ``memory://`` (zstd)
``sqlite+s3``         values offloaded to moto's S3 API server on loopback (zstd) — a *local
                      stand-in* for an object store, not a cloud figure (label ``s3local``)
``sqlite+file+fernet``  as ``sqlite+file`` with Fernet encryption (calibrates the encrypt step)

for sizes 100 B – 64 MB and two kinds of value (compressible records, incompressible random
base64 text), ``--repeats`` times each (4× up to 100 KB, 3× at 1 MB, 2× at 8 MB, 1× from 32 MB:
:func:`plan_repeats`), every repeat of everything before the next (interleaved). It writes
one CSV (``xcomlab/data/latency_calibration.csv`` by default) whose ``#`` header records the
date, the machine (``/proc/cpuinfo``), versions and the load average, then prints the held-out
p50 error table (:func:`xcomlab.models.calibration.held_out_errors`).

MariaDB refuses statements above ``max_allowed_packet`` (16 MiB by default) and the session
value is read-only there, so a 64 MB point needs the *global* value raised: the script raises
it for the run and restores the previous value in a ``finally`` (``--no-raise-packet`` skips
sizes that do not fit instead). Needs ``moto[server]``, ``s3fs``, ``psycopg`` and ``PyMySQL``;
a database that does not answer is left out and said so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

import xcomlab.measure as xm
from xcomlab.backend import StoreConfig
from xcomlab.models.calibration import (
    CALIBRATION_COLUMNS,
    DEFAULT_CALIBRATION,
    DEFAULT_INTERPOLATION,
    calibration_frame,
    load_default_calibration,
)

PG_URL = os.environ.get("XCOMLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("XCOMLAB_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000, 8_000_000, 64_000_000)
QUICK_SIZES = (100, 10_000, 1_000_000)
#: Sizes between the grid points, measured after the grid: the fitted model must predict them
#: too (a piecewise-linear step is not a table of the grid's medians).
BETWEEN_SIZES = (30_000, 300_000, 3_000_000, 24_000_000)
BETWEEN_REPEATS = 2
#: moto's S3 server on loopback: measured, but a stand-in — not a cloud round trip.
BACKEND_OF_STORE = {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql",
                    "sqlite+file": "file", "sqlite+file+fernet": "file",
                    "sqlite+memory": "memory", "sqlite+s3": "s3local"}
#: Fernet key used only for the calibration run (a throwaway, fixed so runs are comparable).
_KEY = "Y2FsaWJyYXRpb24tb25seS1ub3QtYS1zZWNyZXQtISE="


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def _pg_schema(url: str) -> Iterator[tuple[str, str]]:
    """A throwaway schema on the loopback PostgreSQL: (store URL, server version)."""
    import sqlalchemy as sa

    schema = f"xcomlab_cal_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        version = str(conn.exec_driver_sql("SHOW server_version").scalar())
    try:
        yield f"{url}?options=-csearch_path%3D{schema}", f"PostgreSQL {version}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@contextlib.contextmanager
def _mysql_db(url: str, packet_bytes: int | None) -> Iterator[tuple[str, str, int]]:
    """A throwaway MariaDB database; raises the global ``max_allowed_packet`` for the run and
    restores it afterwards. Yields (store URL, server version, packet limit in effect)."""
    import sqlalchemy as sa

    db = f"xcomlab_cal_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
        version = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
        before = int(conn.exec_driver_sql("SELECT @@global.max_allowed_packet").scalar() or 0)
        if packet_bytes and packet_bytes > before:
            conn.exec_driver_sql(f"SET GLOBAL max_allowed_packet = {int(packet_bytes)}")
    try:
        yield url.rsplit("/", 1)[0] + f"/{db}", f"MariaDB {version}", max(before, packet_bytes or 0)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {db}")
            conn.exec_driver_sql(f"SET GLOBAL max_allowed_packet = {before}")
        engine.dispose()


def _cpu() -> str:
    """CPU model and count from /proc/cpuinfo, RAM from /proc/meminfo (Linux), else platform."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
        model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
        count = sum(line.startswith("processor") for line in info)
        mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
                   if line.startswith("MemTotal"))
        return f"{count} × {model}, {int(mem) / 2**20:.0f} GiB RAM, {platform.system()} {platform.release()}"
    except (OSError, StopIteration, ValueError):
        return f"{os.cpu_count()} CPUs, {platform.platform()}"


def _versions(servers: list[str]) -> str:
    pkgs = []
    for name in ("xcomlab", "SQLAlchemy", "psycopg", "PyMySQL", "moto", "s3fs", "zstandard", "cryptography"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pkgs.append(f"{name} {metadata.version(name)}")
    return "; ".join([f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}",
                      *servers, *pkgs])


def _stores(workdir: Path, s3: xm.S3Endpoint | None, pg: str | None, my: str | None) -> dict[str, StoreConfig]:
    def db(name: str) -> str:  # one SQLite file per store: no store's WAL checkpoint lands on another
        return f"sqlite:///{workdir / name}.db"

    stores = {"sqlite": StoreConfig(url=db("inline"), table="xcomlab_cal")}
    if pg:
        stores["postgresql"] = StoreConfig(url=pg, table="xcomlab_cal")
    if my:
        stores["mariadb"] = StoreConfig(url=my, table="xcomlab_cal")
    obj = {"threshold": 0, "table": "xcomlab_cal"}
    stores["sqlite+file"] = StoreConfig(url=db("file"), object_base=f"file://{workdir / 'objects'}", **obj)
    stores["sqlite+memory"] = StoreConfig(url=db("memory"), **obj,
                                          object_base=f"memory://xcomlab-cal-{uuid.uuid4().hex[:8]}")
    if s3 is not None:
        stores["sqlite+s3"] = StoreConfig(url=db("s3"), object_base=s3.base(f"cal-{uuid.uuid4().hex[:8]}"),
                                          storage_options=dict(s3.storage_options), **obj)
    stores["sqlite+file+fernet"] = StoreConfig(url=db("sealed"), object_base=f"file://{workdir / 'sealed'}",
                                               fernet_keys=(_KEY,), **obj)
    return stores


def plan_repeats(sizes: tuple[int, ...], repeats: int) -> dict[int, int]:
    """Repeats per size: ``4 × repeats`` up to 100 KB (cheap, and the noisiest: a commit's
    fsync varies 10× under load), ``3 ×`` at 1 MB, ``2 ×`` up to 8 MB, ``repeats`` from
    32 MB (at least 4, so both halves of the split hold two). Large values get many repeats
    too: a 64 MB copy on a shared machine varies 2× from one repeat to the next, and the
    held-out half's median of three did not repeat itself within ±20 %."""
    def n(size: int) -> int:
        if size <= 100_000:
            return 4 * repeats
        if size <= 1_000_000:
            return 3 * repeats
        return 2 * repeats if size < 32_000_000 else max(4, repeats)
    return {s: n(s) for s in sizes}


#: Stores whose large writes land in the page cache: their 8 MB and 64 MB timings are bimodal
#: (a write of 6 MB took 2 ms or 11 ms, round after round, as the kernel had free pages or had
#: to reclaim some; measured 2026-12-07, docs/latency.md#calibration), so they get more repeats
#: there (:func:`plan_file_repeats`).
FILE_STORES = ("sqlite+file", "sqlite+file+fernet")


def plan_file_repeats(sizes: tuple[int, ...], repeats: int) -> dict[int, int]:
    """:func:`plan_repeats` for :data:`FILE_STORES`: twice the repeats from 8 MB and three
    times from 32 MB, so that each half of the split holds 24 and 18 writes at 8 and 64 MB
    (12 and 6 held out were 37–44 % apart at those sizes on an idle machine)."""
    plan = plan_repeats(sizes, repeats)
    return {s: n if s < 8_000_000 else n * (2 if s < 32_000_000 else 3) for s, n in plan.items()}


def to_calibration_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The measurement frame reduced to :data:`CALIBRATION_COLUMNS`, seconds to 4 significant digits."""
    out = calibration_frame(frame, BACKEND_OF_STORE)
    for col in [c for c in CALIBRATION_COLUMNS if c.endswith("_s")]:
        out[col] = out[col].astype("float64").map(lambda v: float(f"{v:.4g}"))
    return out


def write_csv(frame: pd.DataFrame, path: Path, header: dict[str, str]) -> None:
    """Write the calibration CSV with a ``# key: value`` header."""
    lines = [f"# {k}: {v}" for k, v in header.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
        frame.to_csv(fh, index=False, lineterminator="\n")


def measure(sizes: tuple[int, ...], repeats: int, *, raise_packet: bool = True,
            use_s3: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run the calibration workload; return the calibration frame and the CSV header."""
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    servers: list[str] = []
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        pg = my = None
        if _answers(5432):
            pg, v = stack.enter_context(_pg_schema(PG_URL))
            servers.append(v)
        else:
            notes.append("PostgreSQL did not answer on 127.0.0.1:5432: not measured")
        if _answers(3306):
            packet = 2 * max(sizes) + (1 << 20) if raise_packet else None
            my, v, limit = stack.enter_context(_mysql_db(MYSQL_URL, packet))
            servers.append(f"{v} (max_allowed_packet {limit} B for this run, restored after)")
        else:
            notes.append("MariaDB did not answer on 127.0.0.1:3306: not measured")
        s3 = stack.enter_context(xm.moto_server(bucket="xcomlab-calibration")) if use_s3 else None
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xcomlab-cal-")))
        stores = _stores(work, s3, pg, my)
        files = plan_file_repeats(sizes, repeats)
        frame = xm.run(stores, sizes=sizes, repeats=plan_repeats(sizes, repeats),
                       kinds=xm.KINDS, rng=0, max_total_bytes=2**62,
                       store_repeats={name: files for name in FILE_STORES if name in stores})
    load_after = os.getloadavg()
    sets = frame[frame["op"] == "set"]
    plan = sets[~sets["store"].isin(FILE_STORES)].groupby("size")["repeat"].nunique()
    more = sets[sets["store"].isin(FILE_STORES)].groupby("size")["repeat"].nunique()
    more = more[more > plan.reindex(more.index).fillna(0)]
    header = {
        "what": "xcomlab latency calibration: one row per measured set/get "
                "(python -m benchmarks.calibrate; xcomlab.models.calibration.load_default_calibration)",
        "date": started.strftime("%Y-%m-%d"),
        "machine": _cpu(),
        "versions": _versions(servers),
        "load": (f"load average (1/5/15 min) {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f} "
                 f"before, {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} after; "
                 "the machine was shared with other jobs: stores run interleaved, models use medians"),
        "repeats": ", ".join(f"{s} B × {n}" for s, n in plan.items())
                   + " per store, kind and op"
                   + (f" ({', '.join(FILE_STORES)}: " + ", ".join(f"{s} B × {n}" for s, n in more.items()) + ")"
                      if len(more) else "")
                   + "; fit on odd repeats, hold out even ones",
        "stand-in": "backend s3local is moto's S3 API server on 127.0.0.1 (in-process): "
                    "a local stand-in, not a cloud object store",
    }
    if notes:
        header["notes"] = "; ".join(notes)
    return to_calibration_frame(frame), header


ROOT = Path(__file__).resolve().parents[1]
DOC_PAGES = (ROOT / "docs" / "latency.md", ROOT / "benchmarks" / "README.md")
_START, _END = "<!-- calibration-table:start -->", "<!-- calibration-table:end -->"


def report(frame: pd.DataFrame, header: dict[str, str], between: pd.DataFrame | None = None) -> str:
    """The held-out error tables (store step, whole operation), the noise floor and, given
    measurements at sizes between the grid points, the error there, as Markdown."""
    from xcomlab.models.validation import error_table, held_out_errors, markdown, repeatability

    errors = held_out_errors(frame)
    noise = repeatability(frame)
    parts = [
        f"Measured {header.get('date', '?')} on {header.get('machine', '?')}; "
        f"{header.get('load', '')}.",
        "",
        "**Store step** (database or object storage, reference row included; no codecs — a "
        "DB-tier read keeps the JSON parse its driver runs), worst |held-out p50 error| per "
        "backend and size:",
        "",
        markdown(error_table(errors, "step_error")),
        "",
        "**Whole operation** (serialize + compress + encrypt + store step):",
        "",
        markdown(error_table(errors, "error")),
        "",
        "**Noise floor**: the fit half's median against the held-out half's, same store step "
        "(no model can be closer than the measurements are to themselves):",
        "",
        markdown(error_table(noise, "step_error")),
    ]
    if between is not None and len(between):
        inter = held_out_errors(frame, against=between)
        parts += ["", "**Between the grid points** (sizes never measured in the fit; the same "
                  "model against the median of every repeat there), store step / whole operation:",
                  "", markdown(error_table(inter, "step_error")), "",
                  markdown(error_table(inter, "error"))]
    return "\n".join(parts)


def replace_between_markers(page: Path, text: str) -> None:
    """Replace what sits between the calibration-table markers of ``page`` by ``text``."""
    src = page.read_text(encoding="utf-8")
    head, _, rest = src.partition(_START)
    _, _, tail = rest.partition(_END)
    page.write_text(f"{head}{_START}\n{text}\n{_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Measure, write the CSV, print the held-out error table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--sizes", default=None, help="comma-separated byte counts (default 100 B – 64 MB)")
    ap.add_argument("--quick", action="store_true", help="3 sizes, 4 repeats (a smoke run)")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"CSV to write (default {DEFAULT_CALIBRATION}; --quick writes nothing unless given)")
    ap.add_argument("--no-raise-packet", action="store_true",
                    help="leave MariaDB's max_allowed_packet alone (sizes above it fail)")
    ap.add_argument("--no-s3", action="store_true", help="skip the moto S3 server")
    ap.add_argument("--docs", action="store_true",
                    help="rewrite the held-out tables in docs/latency.md and benchmarks/README.md")
    ap.add_argument("--report-only", type=Path, default=None, metavar="CSV",
                    help="measure nothing: print (and with --docs, write) the tables of this CSV")
    ap.add_argument("--between", type=Path, default=DEFAULT_INTERPOLATION, metavar="CSV",
                    help=f"CSV of the sizes between the grid points {BETWEEN_SIZES} (default "
                         f"{DEFAULT_INTERPOLATION}): measured after a full run, read by --report-only")
    ap.add_argument("--no-between", action="store_true", help="do not measure the sizes between the grid points")
    args = ap.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    repeats = 4 if args.quick and args.repeats == 12 else args.repeats
    t0 = time.perf_counter()
    if args.report_only is not None:
        data = load_default_calibration(args.report_only)
        between = load_default_calibration(args.between).frame if args.between.is_file() else None
        return _print_report(report(data.frame, data.meta, between), args.docs)
    frame, header = measure(tuple(sizes), repeats, raise_packet=not args.no_raise_packet,
                            use_s3=not args.no_s3)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_CALIBRATION)
    if out is not None:
        write_csv(frame, out, header)
        print(f"wrote {len(frame)} rows to {out}")
    between = None
    if not (args.quick or args.sizes or args.no_between):
        between, bh = measure(BETWEEN_SIZES, BETWEEN_REPEATS, raise_packet=not args.no_raise_packet,
                              use_s3=not args.no_s3)
        bh["repeats"] = (bh["repeats"].split(" per store")[0] + " per store, kind and op; sizes "
                         "between the calibration's grid points, never fitted: every repeat is compared")
        write_csv(between, args.between, bh)
        print(f"wrote {len(between)} rows to {args.between}")
    for k, v in header.items():
        print(f"{k}: {v}")
    _print_report(report(frame, header, between), args.docs)
    print(f"took {time.perf_counter() - t0:.0f} s")
    return 0


def _print_report(text: str, docs: bool) -> int:
    print(text)
    if docs:
        for page in DOC_PAGES:
            replace_between_markers(page, text)
            print(f"updated {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
