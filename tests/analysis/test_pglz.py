"""pglz, the jsonb binary form and lz4 sizes against PostgreSQL's own ``pg_column_size``."""

from __future__ import annotations

import base64
import json
import random

import pytest
import sqlalchemy as sa

from xcomlab.analysis import jsonb, pglz
from xcomlab.analysis.compressibility import lz4_size


def _values(seed: int) -> list[str]:
    """XCom-shaped JSON texts: records, repeated words, base64, hex, tiny and edge sizes."""
    rng = random.Random(seed)
    out = []
    for _ in range(25):
        n = rng.choice([3, 20, 60, 250, 900])
        out.append(json.dumps([{"id": i, "name": f"user_{rng.randint(0, 10**6)}", "score": round(rng.random() * 99, 3),
                                "ok": rng.random() < 0.5, "tags": rng.sample(["a", "bb", "ccc", "dd"], 2),
                                "none": None} for i in range(n)]))
    for _ in range(10):
        out.append(json.dumps({"b64": base64.b64encode(rng.randbytes(rng.choice([1500, 3000, 20000]))).decode()}))
        out.append(json.dumps(" ".join(rng.choice(["alpha", "beta", "lorem", "ipsum", "dolor"])
                                       for _ in range(rng.choice([500, 4000])))))
        out.append(json.dumps({"hex": rng.randbytes(rng.choice([1200, 5000])).hex(), "n": rng.randint(-10**12, 10**12)}))
    out += [json.dumps("x" * n) for n in (40, 3000, 70_000)] + ["[" + ", ".join(["1.50", "-0.001", "1e10"] * 900) + "]"]
    return out


def test_pglz_gives_up_like_postgresql() -> None:
    assert pglz.compressed_size(b"a" * 31) is None  # under min_input_size
    assert pglz.compressed_size(random.Random(1).randbytes(5000)) is None  # no match in 1024 B
    assert pglz.compressed_size(b"ab" * 5000) < 300  # 273-byte matches: 3-byte tags
    text = json.dumps([{"k": i} for i in range(400)]).encode()
    assert pglz.toast_stored_bytes(text) == pglz.compressed_size(text) + pglz.HEADER_BYTES


def test_jsonb_layout_by_hand() -> None:
    # header 4 + JEntries 2×4 + "a" 1 + pad 3 + numeric (4 B varlena, 2 B header, one digit) 8
    assert len(jsonb.encode('{"a": 1}')) == 24
    assert jsonb.encode('{"b": 1, "a": 2, "b": 3}') == jsonb.encode('{"a": 2, "b": 3}')  # last key wins, sorted
    assert len(jsonb.encode("null")) == 8  # a raw scalar: a one-element array
    with pytest.raises(ValueError):
        jsonb.encode("{not json")


@pytest.mark.parametrize(("column", "method"), [("text", "pglz"), ("jsonb", "pglz"), ("text", "lz4"), ("jsonb", "lz4")])
def test_sizes_match_pg_column_size(pg_url: str, column: str, method: str) -> None:
    """Within 2 % of PostgreSQL on the total, and byte for byte on most values."""
    values = _values(7)
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as con:
            con.exec_driver_sql(f"CREATE TABLE fidcomp_pglz (i int, v {column})")
            try:
                con.exec_driver_sql(f"ALTER TABLE fidcomp_pglz ALTER COLUMN v SET COMPRESSION {method}")
            except sa.exc.DBAPIError:
                pytest.skip(f"this PostgreSQL has no {method} (built without it, or older than 14)")
            con.exec_driver_sql("ALTER TABLE fidcomp_pglz ALTER COLUMN v SET STORAGE main")
            con.execute(sa.text(f"INSERT INTO fidcomp_pglz VALUES (:i, CAST(:v AS {column}))"),
                        [{"i": i, "v": v} for i, v in enumerate(values)])
            rows = con.exec_driver_sql(
                "SELECT i, v::text, pg_column_size(v), pg_column_compression(v) IS NOT NULL, "
                "pg_column_size(v) < octet_length(v::text) AND pg_column_compression(v) IS NULL "
                "FROM fidcomp_pglz ORDER BY i").all()
    finally:
        engine.dispose()
    ours = theirs = exact = compressed = 0
    for _, text, size, is_compressed, _ in rows:
        data = jsonb.encode(text) if column == "jsonb" else text.encode()
        n = pglz.compressed_size(data) if method == "pglz" else lz4_size(data)
        kept = n is not None and n + pglz.HEADER_BYTES < len(data) - 2
        if not is_compressed:
            assert not kept or len(data) + 4 < 2032, f"PostgreSQL kept a {len(data)} B value raw, we compressed it"
            continue
        compressed += 1
        assert kept, f"PostgreSQL compressed a {len(data)} B value, our {method} gave up"
        mine = n + pglz.HEADER_BYTES
        # an out-of-line compressed value reports its stored size without the 4 B header word
        exact += size in (mine, mine - 4)
        ours += mine
        theirs += size
    assert compressed >= 25
    assert abs(ours / theirs - 1) < 0.02
    assert exact >= 0.9 * compressed
