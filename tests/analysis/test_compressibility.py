"""The value sample load_export keeps, and the ratios measured on it."""

from __future__ import annotations

import base64
import json
import random

import numpy as np
import pyarrow as pa
import pytest
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

import xcomlab
from xcomlab.analysis.compressibility import CompressibilityError, compressibility
from xcomlab.analysis.disk import estimate
from xcomlab.ingest.sample import ValueSample, value_sample


def _mixed(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps([{"id": j, "v": "x" * 20} for j in range(rng.randint(1, 400))]) if i % 2
            else base64.b64encode(rng.randbytes(rng.randint(10, 30_000))).decode() for i in range(n)]


def test_sample_is_bounded_seeded_and_counts_everything() -> None:
    vals = _mixed(3000)
    s = ValueSample(per_class=8, class_bytes=64 * 1024, max_value_bytes=4096)
    for i in range(0, 3000, 500):
        s.add(pa.array(vals[i:i + 500]))
    assert int(s.rows.sum()) == 3000
    assert int(s.bytes.sum()) == sum(len(v) for v in vals)
    for c, kept in s.classes().items():
        assert len(kept) <= s.capacity(c) <= 8
        assert all(len(k.data) <= 4096 for k in kept)
    again = ValueSample(per_class=8, class_bytes=64 * 1024, max_value_bytes=4096)
    again.add(pa.array(vals))  # other batch boundaries, same stream: same sample
    assert [k.data for v in again.classes().values() for k in v] == [k.data for v in s.classes().values() for k in v]


def test_merge_keeps_the_smallest_keys_of_both() -> None:
    a, b = ValueSample(per_class=4).spawn(0), ValueSample(per_class=4).spawn(1)
    a.add(_mixed(200, 1))
    b.add(_mixed(200, 2))
    m = a.merge(b)
    assert int(m.rows.sum()) == 400
    for c, kept in m.classes().items():
        pool = sorted(x.key for x in a.classes().get(c, []) + b.classes().get(c, []))
        assert [k.key for k in kept] == pool[: m.capacity(c)]


def test_ratios_tell_compressible_from_incompressible() -> None:
    records = [json.dumps([{"id": j, "name": f"user_{j % 7}", "ok": True} for j in range(n)]) for n in (50, 200, 900)]
    noise = [base64.b64encode(random.Random(n).randbytes(n)).decode() for n in (3000, 9000, 30_000)]
    hi, lo = compressibility(records), compressibility(noise)
    for codec in ("pglz", "lz4", "zstd", "gzip", "pglz_jsonb"):
        assert hi.ratio(codec) < 0.3, codec
    assert lo.ratio("pglz") == 1.0  # TOAST keeps base64 raw: pglz cannot save 25 %
    assert 0.7 < lo.ratio("zstd") < 0.8  # entropy coders still undo base64's 6 bits a byte
    assert hi.source == "measured on 3 values"
    assert compressibility([]).source == "default" and compressibility([]).ratio("pglz") is None
    with pytest.raises(CompressibilityError, match="codec='brotli'"):
        hi.ratio("brotli")


def test_load_export_keeps_a_sample_and_the_disk_estimate_uses_it() -> None:
    frame = xcomlab.load_export(SAMPLES / "af3" / "xcom_copy.csv")
    sample = value_sample(frame)
    assert sample is not None and sample.n_values > 100 and int(sample.rows.sum()) == frame["value_bytes"].notna().sum()
    assert value_sample(frame[frame["dag_id"] == frame["dag_id"].iloc[0]]) is sample  # attrs follow subsets
    est = estimate(frame, "postgresql")
    assert est.compression_source == f"measured on {sample.n_values} values"
    assert any("value sample" in a for a in est.assumptions)
    bare = frame.copy()
    bare.attrs = {}
    assert estimate(bare, "postgresql").compression_source == "default"
    assert estimate(frame, "mysql").compression_source == "n/a"
    assert value_sample(xcomlab.load_export(SAMPLES / "af3" / "xcom_copy.csv", sample_values=False)) is None


def test_measured_ratio_moves_the_estimate() -> None:
    """The same sizes with compressible or random values: the estimate follows the values."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(3000, 40_000, 300)
    text = [json.dumps([{"id": j, "status": "ok"} for j in range(s // 25)])[:s] for s in sizes]
    noise = [base64.b64encode(rng.bytes(int(s * 3 / 4))).decode()[:s] for s in sizes]
    from tests.analysis.test_disk import _frame

    ests = {}
    for name, vals in (("text", text), ("noise", noise)):
        f = _frame([len(v) for v in vals], schema="2.3-2.11")
        s = ValueSample()
        s.add(vals)
        f.attrs["xcomlab.value_sample"] = s
        ests[name] = estimate(f, "postgresql")
    assert ests["text"].total_bytes < 0.4 * ests["noise"].total_bytes
    assert ests["noise"].compressibility == 1.0


def test_recommend_measures_codec_ratios_on_a_pg_dump() -> None:
    """`recommend` on a pg_dump measures zstd on the file's values, no 'keep_values' advice."""
    from conftest import FIXTURES

    from xcomlab.recommend import evaluate

    path = FIXTURES / "airflow" / "disk" / "pg"
    notes = {kind: evaluate(xcomlab.load_export(path / f"{kind}.sql")).attrs["notes"][0]
             for kind in ("compressible", "incompressible")}
    for note in notes.values():
        assert "measured on" in note and "keep_values" not in note
    ratio = {k: float(n.split()[2].rstrip(":")) for k, n in notes.items()}
    assert ratio["compressible"] < 0.3 < 0.6 < ratio["incompressible"]  # base64 0.75, hex ~0.5


def test_row_keys_do_not_depend_on_the_batch_dictionary() -> None:
    """The same ids give the same key whatever else the batch's dictionary holds."""
    from xcomlab.ingest.sample import row_keys

    words = [f"scheduled__2026-01-01T00:00:{i:06d}+00:00" for i in range(5000)] + ["é", "日本", "", "x\ud800y"]
    rows = np.array([0, 5, len(words) - 1, len(words) - 2, -1, 4003, len(words) - 3, len(words) - 4], dtype=np.int64)
    big = row_keys([(rows, words)], np.zeros(len(rows), dtype=np.int64), seed=7)
    used = sorted(set(rows[rows >= 0].tolist()))
    small = [words[i] for i in used]
    codes = np.array([used.index(r) if r >= 0 else -1 for r in rows.tolist()], dtype=np.int64)
    np.testing.assert_array_equal(row_keys([(codes, small)], np.zeros(len(rows), dtype=np.int64), seed=7), big)
    assert len(set(big.tolist())) == len(rows)


def _reference_word_hash(word: str | None, salt: bytes) -> int:
    """The word hash as its docstring defines it, one word in plain Python."""
    import hashlib

    d = hashlib.blake2b(b"xcomlab.sample.word-hash", digest_size=24, key=salt).digest()
    p, q, s = (int.from_bytes(d[i:i + 8], "little") for i in (0, 8, 16))
    p, q, m = p | 1, q | 1, (1 << 64) - 1

    def mix(h: int) -> int:
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & m
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & m
        return h ^ (h >> 31)

    if word is None:
        return mix(s ^ q)
    data = word.encode("utf-8", "surrogatepass")
    poly = sum(b * pow(p, j, 1 << 64) for j, b in enumerate(data)) & m
    return mix((poly * 0x9E3779B97F4A7C15 + (len(data) + 1) * q + s) & m)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=80)), max_size=40), st.binary(min_size=16, max_size=16))
def test_word_hashes_match_their_definition(words: list[str | None], salt: bytes) -> None:
    """The vectorised hash equals the definition word by word (empty, null, multi-byte and
    surrogate words included)."""
    from xcomlab.ingest.sample import _word_hashes

    got = _word_hashes(words, salt).tolist()
    assert got == [_reference_word_hash(w, salt) for w in words]


def test_word_hash_keys_are_uniform() -> None:
    """100,000 run ids of one shape: keys spread evenly over [0, 1) and never collide."""
    from xcomlab.ingest.sample import row_keys

    words = [f"scheduled__2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00_{i}" for i in range(100_000)]
    keys = row_keys([(np.arange(len(words)), words)], np.full(len(words), -1, dtype=np.int64))
    assert len(np.unique(keys)) == len(words)
    counts = np.histogram(keys, bins=20, range=(0, 1))[0]
    assert np.abs(counts - 5000).max() < 5 * np.sqrt(5000)  # ~5 sigma of a binomial


def test_per_row_ratio_is_the_nearest_measured_class() -> None:
    """``per_row`` by a look-up per class equals the nearest-class ``argmin`` over every row
    (ties to the first measured class, NaN and inf to the first class)."""
    from xcomlab.analysis.compressibility import Compressibility

    rng = np.random.default_rng(3)
    classes = {c: [bytes(rng.integers(0, 4, 2**c, dtype=np.uint8))] for c in (3, 7, 8, 12)}
    comp = Compressibility(classes, np.ones(48, np.int64), np.ones(48, np.int64))
    sizes = np.concatenate([rng.integers(0, 2**20, 5000).astype(np.float64), [0.0, 1.0, 2**10, 2**62, np.nan, np.inf]])
    cs = np.array(list(comp._classes), dtype=np.float64)
    r = comp._class_ratios("zstd")
    with np.errstate(invalid="ignore"):
        cls = np.floor(np.log2(np.maximum(sizes, 1)))
    expected = r[np.abs(cls[:, None] - cs[None, :]).argmin(axis=1)]
    got = comp.per_row("zstd", sizes)
    assert got is not None
    np.testing.assert_array_equal(got, expected)
