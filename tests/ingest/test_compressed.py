"""Compressed exports: every format × gzip, zstd, xz loads as its uncompressed file does,
told by content (not name); truncated or corrupt streams are one-line errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import ROOT

import xcomlab
from xcomlab.cli import main
from xcomlab.errors import ExportFormatError
from xcomlab.ingest.compressed import codec_of, inner_name, open_binary

SAMPLES = ROOT / "data" / "samples"
CODECS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", gzip.compress),
    "zstd": (".zst", lambda b: zstandard.ZstdCompressor(level=3).compress(b)),
    "xz": (".xz", lzma.compress),
}


def _jsonl_parquet(tmp: Path) -> tuple[Path, Path]:
    text = (SAMPLES / "af3" / "xcom_copy.csv").read_text(encoding="utf-8")
    recs = list(csv.DictReader(io.StringIO(text, newline="")))[:500]
    for r in recs:
        r["map_index"] = int(r["map_index"])  # type: ignore[assignment]
        r["dag_run_id"] = int(r["dag_run_id"])  # type: ignore[assignment]
    jl = tmp / "xcom.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    pqf = tmp / "xcom.parquet"
    pq.write_table(pa.Table.from_pylist(recs), pqf)
    return jl, pqf


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("plain")
    jl, pqf = _jsonl_parquet(tmp)
    return {
        "copy_csv": SAMPLES / "af3" / "xcom_copy.csv",
        "archived_csv": next((SAMPLES / "af2" / "export_archived").glob("*.csv")),
        "pgdump": SAMPLES / "af2" / "xcom_pgdump.sql",
        "jsonl": jl,
        "parquet": pqf,
        "sqlite": SAMPLES / "af3" / "airflow.db",
    }


def _compressed(src: Path, codec: str, tmp: Path, name: str | None = None) -> Path:
    suffix, compress = CODECS[codec]
    out = tmp / (name or src.name + suffix)
    out.write_bytes(compress(src.read_bytes()))
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("fmt", ["copy_csv", "archived_csv", "pgdump", "jsonl", "parquet", "sqlite"])
def test_each_format_and_codec_loads_as_uncompressed(plain: dict[str, Path], fmt: str, codec: str,
                                                     tmp_path: Path) -> None:
    src = plain[fmt]
    packed = _compressed(src, codec, tmp_path)
    assert codec_of(packed) == codec and inner_name(packed) == src.name
    want = xcomlab.load_export(src)
    got = xcomlab.load_export(packed)
    _same(got, want)
    rep = xcomlab.load_report(got)
    assert [t.table for t in rep.tables] == [t.table for t in xcomlab.load_report(want).tables]
    copied = [n for n in rep.notes if "temporary decompressed copy" in n]
    assert bool(copied) == (fmt in ("sqlite", "parquet"))  # binary formats say they were copied
    assert all(str(packed) in n for n in copied)


@pytest.mark.parametrize("codec", list(CODECS))
def test_content_decides_not_the_name(plain: dict[str, Path], codec: str, tmp_path: Path) -> None:
    """A gzip'd CSV named .csv, a zstd'd dump named .dat: sniffed by their magic bytes."""
    csv_wrong = _compressed(plain["copy_csv"], codec, tmp_path, "xcom.csv")
    _same(xcomlab.load_export(csv_wrong), xcomlab.load_export(plain["copy_csv"]))
    dump_odd = _compressed(plain["pgdump"], codec, tmp_path, "backup.dat")
    _same(xcomlab.load_export(dump_odd), xcomlab.load_export(plain["pgdump"]))
    db_odd = _compressed(plain["sqlite"], codec, tmp_path, "metadata.bin")
    assert len(xcomlab.load_export(db_odd)) == len(xcomlab.load_export(plain["sqlite"]))


def test_a_directory_of_compressed_archives(plain: dict[str, Path], tmp_path: Path) -> None:
    """``airflow db export-archived`` output gzip'd in place keeps its table names."""
    src = plain["archived_csv"]
    d = tmp_path / "archived"
    d.mkdir()
    _compressed(src, "gzip", d)
    (d / "notes.txt.gz").write_bytes(gzip.compress(b"not an export"))
    rep = xcomlab.load_report(xcomlab.load_export(d))
    assert [t.table for t in rep.tables] == [src.stem]
    assert rep.tables[0].rows_read == len(xcomlab.load_export(src))


def test_collect_names_lines_inside_a_compressed_csv(tmp_path: Path) -> None:
    lines = (SAMPLES / "af3" / "xcom_copy.csv").read_bytes().split(b"\n")
    lines.insert(5, b"only,three,fields")
    p = tmp_path / "xcom.csv.zst"
    p.write_bytes(CODECS["zstd"][1](b"\n".join(lines)))
    frame = xcomlab.load_export(p, errors="collect")
    rej = xcomlab.load_report(frame).rejections
    assert len(rej) == 1 and rej[0].line == 6
    with pytest.raises(ExportFormatError, match=r"xcom\.csv\.zst, table xcom, line 6"):
        xcomlab.load_export(p)


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("fmt", ["copy_csv", "pgdump", "jsonl", "sqlite"])
def test_truncated_stream_is_one_line_naming_the_file(plain: dict[str, Path], fmt: str, codec: str,
                                                      tmp_path: Path) -> None:
    packed = _compressed(plain[fmt], codec, tmp_path)
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ExportFormatError, match=rf"{packed.name}.*{codec} stream is truncated or corrupt") as err:
        xcomlab.load_export(packed)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("codec", list(CODECS))
def test_corrupt_body_is_refused(plain: dict[str, Path], codec: str, tmp_path: Path) -> None:
    packed = _compressed(plain["copy_csv"], codec, tmp_path)
    data = bytearray(packed.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    packed.write_bytes(bytes(data))
    with pytest.raises(ExportFormatError, match=packed.name):
        xcomlab.load_export(packed)


def test_magic_then_garbage(tmp_path: Path) -> None:
    p = tmp_path / "xcom.csv"
    p.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(ExportFormatError, match="gzip stream is truncated or corrupt"):
        xcomlab.load_export(p)


def test_cli_one_line_for_a_truncated_gz(plain: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    packed = _compressed(plain["pgdump"], "gzip", tmp_path)
    packed.write_bytes(packed.read_bytes()[:5000])
    assert main(["profile", str(packed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"xcomlab: {packed}") and "gzip -t" in err


def test_temporary_copy_is_capped_and_removed(plain: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    packed = _compressed(plain["sqlite"], "zstd", tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert len(xcomlab.load_export(packed)) > 0
    assert list(scratch.iterdir()) == []  # the copy is gone after the load
    monkeypatch.setenv("XCOMLAB_DECOMPRESS_CAP_BYTES", "100000")
    with pytest.raises(ExportFormatError, match=r"more than 100,000 bytes.*XCOMLAB_DECOMPRESS_CAP_BYTES"):
        xcomlab.load_export(packed)
    assert list(scratch.iterdir()) == []


def test_stream_seeks_back_and_forth(plain: dict[str, Path], tmp_path: Path) -> None:
    """The decompressed view serves reads at any offset (the pg_dump scanner steps back)."""
    raw = plain["copy_csv"].read_bytes()
    for codec in CODECS:
        with open_binary(_compressed(plain["copy_csv"], codec, tmp_path)) as f:
            for offset, n in ((1_000_000, 10), (5, 100), (2_000_000, 3 << 20), (1_999_000, 2000)):
                f.seek(offset)
                assert f.read(n) == raw[offset:offset + n]


def test_plain_files_are_untouched(plain: dict[str, Path]) -> None:
    assert codec_of(plain["copy_csv"]) is None
    with open_binary(plain["copy_csv"]) as f:
        assert isinstance(f, io.BufferedReader) and f.read(9) == plain["copy_csv"].read_bytes()[:9]
