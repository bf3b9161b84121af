"""A seeded, bounded mutation fuzzer over every input format ``load_export`` reads.

Seeds are cut from our own samples and fixtures (CSV from ``psql \\copy`` and from
``airflow db export-archived``, ``pg_dump`` plain SQL, an ``airflow.db`` SQLite file)
plus JSON Lines and Parquet written from the same rows, and compressed copies (gzip,
zstd, xz) of some of them, whose mutations hit the compressed bytes. Each case mutates one seed
(byte flips, truncation, inserted quotes / ``\\r`` / ``\\xff`` / NUL, deep nesting, a
huge field, a bad ``map_index``, invalid UTF-8 in an identifier) and checks:

- only :class:`~xcomlab.errors.XcomlabError` escapes ``load_export``, in both
  ``errors="raise"`` and ``errors="collect"``;
- nothing hangs (a per-case alarm; a watchdog ends the process if C code hangs);
- with ``errors="collect"``, loaded + rejected rows equal an independent count of
  the mutated input's rows (Python's csv module, line counts, SQLite's own
  ``count(*)``, Parquet metadata) wherever one can be computed.

The default run has :data:`CASES` cases (a few hundred, under a minute); set
``XCOMLAB_FUZZ_CASES=5000`` for a long run and ``XCOMLAB_FUZZ_SEED`` to move the
sequence. A failure names the case number and seed, and :func:`mutate` rebuilds
the very input from them. ``python tests/test_fuzz.py N`` runs N cases and prints
a tally by outcome.
"""

from __future__ import annotations

import csv
import faulthandler
import gzip
import io
import json
import lzma
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # pragma: no cover - when run as a script
    sys.path.insert(0, str(ROOT))

import xcomlab  # noqa: E402
from xcomlab.errors import XcomlabError  # noqa: E402

# Read at import: the suite's autouse fixture clears XCOMLAB_* settings per test.
CASES = int(os.environ.get("XCOMLAB_FUZZ_CASES", "240"))
SEED = int(os.environ.get("XCOMLAB_FUZZ_SEED", "20261207"))
#: Seconds one case may take (both loads) before it counts as a hang.
CASE_TIMEOUT_S = 20
#: Records kept per seed: small seeds keep each case in tens of milliseconds.
SEED_ROWS = 120
#: Deepest nesting and largest field a case writes.
DEEP = 50_000
HUGE_BYTES = 4 * 2**20

SAMPLES = ROOT / "data" / "samples"
csv.field_size_limit(2**31 - 1)  # the independent count must read what xcomlab reads
FIXTURES = ROOT / "tests" / "fixtures" / "airflow"


# --------------------------------------------------------------------------- seeds

@dataclass(frozen=True)
class Seed:
    name: str
    suffix: str  # file suffix the loader sniffs
    data: bytes


def _csv_head(path: Path, rows: int) -> bytes:
    """Header + the first ``rows`` records of a CSV export, records kept whole."""
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, rec in enumerate(reader):
        if i > rows:
            break
        writer.writerow(rec)
    return out.getvalue().encode()


def _pgdump_head(path: Path, rows: int) -> bytes:
    """The dump with its first COPY block cut to ``rows`` data lines."""
    lines = path.read_bytes().split(b"\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"COPY "))
    end = lines.index(b"\\.", start)
    return b"\n".join(lines[: start + 1 + rows] + lines[end:])


def _sqlite_small(path: Path, rows: int, tmp: Path) -> bytes:
    out = tmp / f"seed_{path.parent.parent.name}_{path.parent.name}.db"
    out.write_bytes(path.read_bytes())
    con = sqlite3.connect(out)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        if "xcom" in name:
            con.execute(f'DELETE FROM "{name}" WHERE rowid NOT IN '
                        f'(SELECT rowid FROM "{name}" ORDER BY rowid LIMIT {rows})')
        elif not name.startswith("sqlite_"):
            con.execute(f'DROP TABLE "{name}"')
    con.commit()
    con.execute("VACUUM")
    con.close()
    return out.read_bytes()


def _jsonl_and_parquet(csv_bytes: bytes) -> tuple[bytes, bytes]:
    recs = list(csv.DictReader(io.StringIO(csv_bytes.decode(), newline="")))
    for r in recs:
        r["map_index"] = int(r["map_index"])  # type: ignore[assignment]
        r["dag_run_id"] = int(r["dag_run_id"])  # type: ignore[assignment]
    jsonl = "".join(json.dumps(r) + "\n" for r in recs).encode()
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(recs), buf, row_group_size=40)
    return jsonl, buf.getvalue()


def make_seeds(tmp: Path) -> list[Seed]:
    """Small seeds of every format, cut from the repository's samples."""
    copy_csv = _csv_head(SAMPLES / "af3" / "xcom_copy.csv", SEED_ROWS)
    archived = next((SAMPLES / "af2" / "export_archived").glob("*.csv"))
    jsonl, parquet = _jsonl_and_parquet(copy_csv)
    seeds = [
        Seed("af3_copy_csv", ".csv", copy_csv),
        Seed("af2_archived_csv", ".csv", _csv_head(archived, SEED_ROWS)),
        Seed("af210_pg_csv", ".csv", _csv_head(FIXTURES / "af210" / "pg" / "xcom.csv", SEED_ROWS)),
        Seed("af2_pgdump", ".sql", _pgdump_head(SAMPLES / "af2" / "xcom_pgdump.sql", SEED_ROWS)),
        Seed("af33_pgdump", ".sql", _pgdump_head(FIXTURES / "af33" / "pg" / "xcom_data.sql", SEED_ROWS)),
        Seed("af3_sqlite", ".db", _sqlite_small(SAMPLES / "af3" / "airflow.db", SEED_ROWS, tmp)),
        Seed("af210_sqlite", ".db", _sqlite_small(FIXTURES / "af210" / "sqlite" / "airflow.db",
                                                  SEED_ROWS, tmp)),
        Seed("af3_jsonl", ".jsonl", jsonl),
        Seed("af3_parquet", ".parquet", parquet),
    ]
    by_name = {s.name: s for s in seeds}
    for name, codec in (("af3_copy_csv", "gzip"), ("af2_pgdump", "zstd"), ("af3_jsonl", "xz"),
                        ("af3_sqlite", "gzip")):
        suffix, compress = COMPRESSORS[codec]
        seeds.append(Seed(f"{name}_{codec}", by_name[name].suffix + suffix, compress(by_name[name].data)))
    return seeds


#: Codec → (file suffix, compress): compressed seeds and the independent count's decompression.
COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", gzip.compress),
    "zstd": (".zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    "xz": (".xz", lzma.compress),
}
_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress, ".zst": lambda b: zstandard.ZstdDecompressor().decompress(b, max_output_size=1 << 28),
    ".xz": lzma.decompress,
}


# ----------------------------------------------------------------------- mutations

def _flip(rng: random.Random, b: bytes) -> bytes:
    buf = bytearray(b)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _truncate(rng: random.Random, b: bytes) -> bytes:
    return b[: rng.randrange(len(b))]


def _insert(rng: random.Random, b: bytes) -> bytes:
    token = rng.choice([b'"', b"\r", b"\xff", b"\x00", b"\n", b",", b"\\", b"\t", b"\xc3",
                        b'"\r"', b"\\."])
    # Half the time hit the header / first bytes, where sniffing and schema checks run.
    i = rng.randrange(min(len(b), 200)) if rng.random() < 0.5 else rng.randrange(len(b))
    return b[:i] + token + b[i:]


def _lines(rng: random.Random, b: bytes) -> bytes:
    lines = b.split(b"\n")
    i = rng.randrange(len(lines))
    op = rng.choice(["drop", "dup", "swap"])
    if op == "drop":
        del lines[i]
    elif op == "dup":
        lines.insert(i, lines[i])
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _deep_json(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _text_field(rng: random.Random, seed: Seed, b: bytes) -> bytes:
    """Put deep nesting, a huge field, ``+5`` or a secret-looking row into a text export."""
    kind = rng.choice(["deep", "huge", "plus", "dollar", "secret"])
    if kind == "deep":
        payload = _deep_json(rng.choice([1_000, DEEP]))
    elif kind == "huge":
        payload = '{"a": "' + "x" * rng.randint(HUGE_BYTES // 4, HUGE_BYTES) + '"}'
    elif kind == "plus":
        return b.replace(b",-1,", b",+5,", 1) if seed.suffix == ".csv" else \
            b.replace(b'"map_index": -1', b'"map_index": "+5"', 1)
    elif kind == "dollar":
        return b.replace(b"marketing_export", b"a$\\x$b", 3)
    else:
        payload = '{"password": "hunter2", "url": "postgresql://u:S3cr3tPw@db/x"}'
    lines = b.split(b"\n")
    i = rng.randrange(1, max(2, len(lines) - 1))
    if seed.suffix == ".jsonl":
        try:
            obj = json.loads(lines[i])
            obj["value"] = payload
            lines[i] = json.dumps(obj).encode()
        except ValueError:
            pass
    elif seed.suffix == ".csv":
        lines[i] = _replace_first_quoted(lines[i], '"' + payload.replace('"', '""') + '"')
    elif seed.suffix == ".sql":
        fields = lines[i].split(b"\t")
        if len(fields) > 6:
            fields[6] = payload.replace("\\", "\\\\").encode()
            lines[i] = b"\t".join(fields)
    return b"\n".join(lines)


def _replace_first_quoted(line: bytes, quoted: str) -> bytes:
    start = line.find(b'"')
    end = line.find(b'",', start + 1)
    if start < 0 or end < 0:
        return line
    return line[:start] + quoted.encode() + line[end + 1:]


def _sqlite_rows(rng: random.Random, db: Path) -> None:
    """Edit an SQLite seed with SQL: deep/huge values, invalid UTF-8, odd types."""
    con = sqlite3.connect(db)
    table = "xcom"
    rowid = con.execute(f"SELECT rowid FROM {table} ORDER BY random() LIMIT 1").fetchone()
    if rowid is None:
        con.close()
        return
    kind = rng.choice(["deep", "huge", "bad_utf8_dag", "text_map_index", "null_key", "blob_value",
                       "bad_utf8_value", "dollar"])
    sets = {
        "deep": ("value = ?", (_deep_json(DEEP),)),
        "huge": ("value = ?", ('{"a": "' + "x" * HUGE_BYTES + '"}',)),
        "bad_utf8_dag": ("dag_id = CAST(x'61ff62' AS TEXT)", ()),
        "text_map_index": ("map_index = '+5'", ()),
        "null_key": ("key = NULL", ()),
        "blob_value": ("value = x'80049500'", ()),
        "bad_utf8_value": ("value = CAST(x'7b22ff227d' AS TEXT)", ()),
        "dollar": ("dag_id = 'a$\\x$b'", ()),
    }
    clause, args = sets[kind]
    try:
        con.execute(f"UPDATE {table} SET {clause} WHERE rowid = {rowid[0]}", args)
        con.commit()
    except sqlite3.DatabaseError:
        pass
    con.close()


MUTATORS: list[tuple[str, Callable[[random.Random, bytes], bytes]]] = [
    ("flip", _flip), ("truncate", _truncate), ("insert", _insert), ("lines", _lines),
]


@dataclass(frozen=True)
class Case:
    number: int
    seed: Seed
    mutation: str
    path: Path


def mutate(number: int, seeds: list[Seed], tmp: Path, base_seed: int = SEED) -> Case:
    """Case ``number``: one seed, one to three mutations, written under ``tmp``."""
    rng = random.Random(base_seed * 1_000_003 + number)
    seed = seeds[number % len(seeds)]
    data = seed.data
    names = []
    path = tmp / f"case{number}{seed.suffix}"
    structured = rng.random() < 0.35
    if structured and seed.suffix == ".db":
        path.write_bytes(data)
        _sqlite_rows(rng, path)
        return Case(number, seed, "sql-edit", path)
    if structured and seed.suffix in (".csv", ".jsonl", ".sql"):
        data = _text_field(rng, seed, data)
        names.append("field")
    for _ in range(rng.randint(0 if names else 1, 2)):
        name, fn = rng.choice(MUTATORS)
        if data:
            data = fn(rng, data)
        names.append(name)
    path.write_bytes(data)
    return Case(number, seed, "+".join(names), path)


# ------------------------------------------------------------ independent counts

def independent_rows(case: Case) -> int | None:
    """Rows the mutated input holds, counted without xcomlab; None when unknowable.

    A compressed case is decompressed with Python's own codecs first (None when they
    refuse it: then xcomlab must have refused it too, which ``check_case`` sees)."""
    data = case.path.read_bytes()
    outer = Path(case.seed.suffix).suffix
    if outer in _DECOMPRESSORS:
        try:
            inner = _DECOMPRESSORS[outer](data)
        except Exception:
            return None
        inner_suffix = case.seed.suffix[: -len(outer)]
        plain = case.path.with_name(case.path.name + ".plain" + inner_suffix)
        plain.write_bytes(inner)
        seed = Seed(case.seed.name, inner_suffix, b"")
        return independent_rows(Case(case.number, seed, case.mutation, plain))
    try:
        if case.seed.suffix == ".csv":
            text = data.decode("utf-8")
            if "\x00" in text:
                return None
            rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]  # blank: no row
            return len(rows) - 1 if rows else None
        if case.seed.suffix == ".jsonl":
            # Lines end at \n only (str.splitlines would also split at \f, \x1c, \u2028 …).
            return sum(1 for line in data.decode("utf-8").split("\n") if line.strip())
        if case.seed.suffix == ".parquet":
            return pq.ParquetFile(case.path).metadata.num_rows
        if case.seed.suffix == ".db":
            con = sqlite3.connect(f"file:{case.path}?mode=ro", uri=True)
            try:
                return int(con.execute("SELECT count(*) FROM xcom").fetchone()[0])
            finally:
                con.close()
        if case.seed.suffix == ".sql":
            lines = data.split(b"\n")
            starts = [i for i, line in enumerate(lines) if line.startswith(b"COPY ")]
            if len(starts) != 1 or b"\\." not in lines[starts[0]:]:
                return None
            end = lines.index(b"\\.", starts[0])
            return end - starts[0] - 1
    except (UnicodeDecodeError, csv.Error, sqlite3.Error, OSError, pa.ArrowException, ValueError):
        return None
    return None


# ---------------------------------------------------------------------- running

class CaseTimeoutError(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise CaseTimeoutError


@dataclass
class Outcome:
    raised: str  # "ok", or the XcomlabError subclass names raised (raise/collect)
    loaded: int | None = None
    rejected: int | None = None
    read: int | None = None


def run_case(case: Case) -> Outcome:
    """Load a case strictly and in collect mode; any non-XcomlabError propagates."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    faulthandler.dump_traceback_later(CASE_TIMEOUT_S * 3, exit=True)  # hangs in C code
    try:
        names = []
        try:
            xcomlab.load_export(case.path)
            names.append("ok")
        except XcomlabError as exc:
            names.append(type(exc).__name__)
        try:
            frame = xcomlab.load_export(case.path, errors="collect")
        except XcomlabError as exc:
            return Outcome(f"{names[0]}/{type(exc).__name__}")
        rep = xcomlab.load_report(frame)
        read = sum(t.rows_read for t in rep.tables if t.table == "xcom")
        loaded = int((frame["source_table"] == "xcom").sum())
        rejected = sum(1 for r in rep.rejections if r.table == "xcom")
        return Outcome(f"{names[0]}/ok", loaded, rejected, read)
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()


def check_case(case: Case) -> Outcome:
    try:
        out = run_case(case)
    except CaseTimeoutError:
        pytest.fail(f"case {case.number} ({case.seed.name}, {case.mutation}, seed {SEED}) "
                    f"took over {CASE_TIMEOUT_S} s")
    except Exception as exc:  # the finding: anything but XcomlabError
        msg = (f"case {case.number} ({case.seed.name}, {case.mutation}, seed {SEED}): "
               f"{type(exc).__name__} escaped: {str(exc)[:300]}")
        raise AssertionError(msg) from exc
    if out.loaded is not None:
        assert out.loaded + (out.rejected or 0) == out.read, (case.number, out)
        expected = independent_rows(case)
        if expected is not None:
            assert out.read == expected, (
                f"case {case.number} ({case.seed.name}, {case.mutation}): xcomlab read "
                f"{out.read} rows ({out.loaded} loaded + {out.rejected} rejected), an "
                f"independent count finds {expected}")
    return out


def _batches(n: int, size: int = 40) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Seed]:
    return make_seeds(tmp_path_factory.mktemp("fuzz_seeds"))


def test_seeds_load_cleanly(seeds: list[Seed], tmp_path: Path) -> None:
    """Unmutated, every seed loads with no rejection and its independent count."""
    for s in seeds:
        p = tmp_path / f"{s.name}{s.suffix}"
        p.write_bytes(s.data)
        frame = xcomlab.load_export(p, tables="xcom")
        case = Case(-1, s, "none", p)
        assert 0 < len(frame) == independent_rows(case) <= SEED_ROWS, s.name


@pytest.mark.parametrize("cases", list(_batches(CASES)), ids=lambda r: f"{r.start}-{r.stop - 1}")
def test_fuzz_only_xcomlab_errors_escape(seeds: list[Seed], tmp_path: Path, cases: range) -> None:
    for n in cases:
        case = mutate(n, seeds, tmp_path)
        check_case(case)
        case.path.unlink()


#: Cases also run through the CLI, one subprocess each (a cost: keep it a handful).
CLI_CASES = (3, 14, 26, 41, 57, 88)


@pytest.mark.parametrize("number", CLI_CASES)
def test_fuzz_cli_prints_one_line(seeds: list[Seed], tmp_path: Path, number: int) -> None:
    case = mutate(number, seeds, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "xcomlab", "scan", str(case.path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    if proc.returncode == 2:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("xcomlab: "), proc.stderr[-2000:]
        assert "hunter2" not in proc.stderr and "S3cr3tPw" not in proc.stderr


def main(argv: list[str]) -> int:  # pragma: no cover - ad-hoc long runs
    import tempfile
    import time

    n = int(argv[0]) if argv else CASES
    tally: Counter[str] = Counter()
    findings: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        seeds = make_seeds(tmp)
        for i in range(n):
            case = mutate(i, seeds, tmp)
            try:
                out = check_case(case)
                tally[f"{case.seed.name}: {out.raised}"] += 1
            except (AssertionError, pytest.fail.Exception) as exc:
                findings.append(str(exc).splitlines()[0][:300])
                tally["FINDING"] += 1
            case.path.unlink(missing_ok=True)
    for k, v in sorted(tally.items()):
        print(f"{v:6d}  {k}")
    print(f"{n} cases in {time.perf_counter() - t0:.1f} s; {len(findings)} findings")
    for f in findings[:60]:
        print(" -", f)
    return 1 if findings else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
