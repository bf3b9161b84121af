"""A summary saved to one file, and read back: a zip of Parquet tables and a JSON header.

Layout (every member stored in this order; nothing else is accepted)::

    xcomlab-summary.json    header: format, format_version, xcomlab_version, created (UTC),
                            source (what was summarised), per member its bytes and SHA-256
    tables/<name>.parquet   each table of the summary, its index as columns
    sample.parquet          the value sample's kept values (only when it has one); its
                            bounds, seed and per-class totals are in the header

The header is the zip's first member, so the file starts with a zip local header naming
``xcomlab-summary.json``: :func:`is_summary_file` sniffs that without unzipping anything.
A summary file is untrusted input: no pickle anywhere (Parquet and JSON only), every
member's size is bounded and checked against the header before it is read, its SHA-256
must match, and tables must hold exactly the summary's columns. Any failure raises
:class:`SummaryFileError` naming the file. The tables' meaning is
:mod:`xcomlab.summary.core`'s (``Summary.save`` / ``Summary.load``); this module only
writes and checks the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xcomlab.errors import ExportFormatError
from xcomlab.ingest.allocator import release_memory
from xcomlab.ingest.sample import N_CLASSES, SampledValue, ValueSample

__all__ = ["FORMAT_VERSION", "MAX_MEMBER_BYTES", "SummaryFileError", "flat_frame", "is_summary_file",
           "read_file", "summary_header", "write_file"]

#: Version of the file layout; a file of another version is refused.
FORMAT_VERSION: Final = 1
#: The name of the header member, first in every summary file (the magic).
HEADER: Final = "xcomlab-summary.json"
_FORMAT: Final = "xcomlab-summary"
#: Largest member accepted (uncompressed), and largest header.
MAX_MEMBER_BYTES: Final = 1 << 30
MAX_HEADER_BYTES: Final = 1 << 20
_MAGIC: Final = b"PK\x03\x04"


class SummaryFileError(ExportFormatError):
    """A saved summary that cannot be used: not one, another format version, tampered
    with or incomplete. The message names the file."""


def _xcomlab_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - the standard library has it
        return "unknown"
    try:
        return version("xcomlab")
    except PackageNotFoundError:
        return "unknown"


def is_summary_file(path: str | os.PathLike[str] | Any) -> bool:
    """True when ``path`` is a file whose first zip member is a summary header (the
    magic of :func:`save_summary`'s files); reads 64 bytes, never raises for other input."""
    if not isinstance(path, str | os.PathLike):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(30 + len(HEADER))
    except OSError:
        return False
    if len(head) < 30 + len(HEADER) or not head.startswith(_MAGIC):
        return False
    (name_len,) = struct.unpack("<H", head[26:28])
    return name_len == len(HEADER) and head[30:30 + name_len] == HEADER.encode()


def _table_bytes(flat: pd.DataFrame | pa.Table) -> bytes:
    arrow = flat if isinstance(flat, pa.Table) else pa.Table.from_pandas(flat, preserve_index=False)
    arrow = arrow.replace_schema_metadata(None)  # plain columns: nothing pandas-specific to rebuild
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    return buf.getvalue()


def _sample_bytes(sample: ValueSample) -> tuple[bytes, dict[str, Any]]:
    recs = [(c, s.key, s.value_bytes, s.data) for c, kept in sample.classes().items() for s in kept]
    arrow = pa.table({"class": pa.array([r[0] for r in recs], pa.int64()),
                      "key": pa.array([r[1] for r in recs], pa.float64()),
                      "value_bytes": pa.array([r[2] for r in recs], pa.int64()),
                      "data": pa.array([r[3] for r in recs], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    meta = {"per_class": sample.per_class, "class_bytes": sample.class_bytes,
            "max_value_bytes": sample.max_value_bytes, "seed": sample.seed,
            "rows": [int(x) for x in sample.rows], "bytes": [int(x) for x in sample.bytes]}
    return buf.getvalue(), meta


def write_file(path: str | os.PathLike[str],
               tables: Mapping[str, pd.DataFrame | pa.Table | Callable[[], pd.DataFrame | pa.Table]],
               sample: ValueSample | None, about: dict[str, Any]) -> Path:
    """Write flat ``tables`` (their index as columns), the sample and the header fields
    ``about`` to ``path`` (written aside, then renamed: never a half file).

    A table may be given as a function that makes it: it is then made, written and let go
    before the next is made (a summary of 100M rows holds ~20M groups)."""
    members: list[tuple[str, bytes]] = []
    for n, t in tables.items():
        members.append((f"tables/{n}.parquet", _table_bytes(t() if callable(t) else t)))
        release_memory()  # the table's Arrow copy: before the next is made
    sample_meta = None
    if sample is not None:
        data, sample_meta = _sample_bytes(sample)
        members.append(("sample.parquet", data))
    header = {
        **about,
        "format": _FORMAT, "format_version": FORMAT_VERSION, "xcomlab_version": _xcomlab_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": list(tables),
        "members": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for name, data in members},
        "sample": sample_meta,
    }
    out = Path(path)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(HEADER, json.dumps(header, indent=1, sort_keys=True))
        for name, data in members:
            z.writestr(name, data)
    tmp.replace(out)
    return out


def _fail(path: Path, what: str) -> SummaryFileError:
    return SummaryFileError(f"{path}: {what}; expected a summary file written by "
                            f"`xcomlab profile SOURCE --summary --save-summary FILE` "
                            f"(format version {FORMAT_VERSION})")


def _read(z: zipfile.ZipFile, path: Path, name: str, limit: int, want: dict[str, Any] | None) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise _fail(path, f"member {name!r} is missing (incomplete file)") from None
    if info.file_size > limit or (want is not None and info.file_size != want.get("bytes")):
        raise _fail(path, f"member {name!r} holds {info.file_size:,} bytes, not the "
                          f"{want.get('bytes') if want else f'at most {limit:,}'} recorded")
    try:
        with z.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _fail(path, f"member {name!r} cannot be read ({exc})") from None
    if len(data) > limit:
        raise _fail(path, f"member {name!r} is larger than {limit:,} bytes")
    if want is not None and hashlib.sha256(data).hexdigest() != want.get("sha256"):
        raise _fail(path, f"member {name!r} does not match its recorded SHA-256 (changed after saving)")
    return data


def _parquet(path: Path, name: str, data: bytes) -> pa.Table:
    """The member's table; text columns dictionary-encoded as Parquet stores them (a
    label is made once, not once per row)."""
    try:
        buf = io.BytesIO(data)
        text = [f.name for f in pq.read_schema(buf) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        return pq.read_table(buf, read_dictionary=text)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _fail(path, f"member {name!r} is not a readable Parquet table ({exc})") from None


def _check_columns(path: Path, name: str, arrow: pa.Table, want: list[str]) -> None:
    if arrow.column_names != want:
        raise _fail(path, f"table {name!r} has columns {arrow.column_names}, not {want}")


def flat_frame(arrow: pa.Table) -> pd.DataFrame:
    """A table read from a summary file as a pandas frame: text as Python objects, nulls
    as NaN (as a frame's labels)."""
    for i, f in enumerate(arrow.schema):
        if pa.types.is_dictionary(f.type):  # text read dictionary-encoded: plain text
            arrow = arrow.set_column(i, f.name, arrow.column(i).cast(f.type.value_type))
    flat = arrow.to_pandas()
    for col in flat.columns:
        flat[col] = _objects(flat[col])
    return flat


def _flat_series(col: pa.ChunkedArray) -> pd.Series:
    """One column of :func:`flat_frame`."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return _objects(col.to_pandas())


def _objects(s: pd.Series) -> pd.Series:
    """Text as Python objects, nulls as NaN (as a frame's labels); other columns as they are."""
    if pd.api.types.is_string_dtype(s) and s.dtype != object:
        s = s.astype(object)
    if s.dtype == object:
        s = s.where(s.notna(), np.nan)
    return s


def _sample(path: Path, meta: dict[str, Any], arrow: pa.Table) -> ValueSample:
    try:
        s = ValueSample(int(meta["per_class"]), int(meta["class_bytes"]), int(meta["max_value_bytes"]),
                        int(meta["seed"]), np.array(meta["rows"], dtype=np.int64),
                        np.array(meta["bytes"], dtype=np.int64))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the sample's header is malformed ({exc})") from None
    if s.rows.shape != (N_CLASSES,) or s.bytes.shape != (N_CLASSES,):
        raise _fail(path, f"the sample's totals are not {N_CLASSES} classes")
    if arrow.column_names != ["class", "key", "value_bytes", "data"]:
        raise _fail(path, f"the sample has columns {arrow.column_names}")
    cols = arrow.to_pydict()
    for c, key, size, data in zip(cols["class"], cols["key"], cols["value_bytes"], cols["data"], strict=True):
        if not (0 <= c < N_CLASSES) or data is None or len(data) > s.max_value_bytes:
            raise _fail(path, f"the sample holds a value outside its bounds (class {c})")
        s._kept.setdefault(int(c), []).append(SampledValue(float(key), int(size), bytes(data)))
    for c, kept in s._kept.items():
        kept.sort(key=lambda v: (v.key, v.value_bytes, v.data))
        if len(kept) > s.capacity(c):
            raise _fail(path, f"the sample holds {len(kept)} values in class {c}, over its capacity")
    return s


def read_file(path: str | os.PathLike[str], columns: dict[str, list[str]], *,
              optional: tuple[str, ...] = (),
              build: Callable[[str, pa.Table], Any] | None = None,
              ) -> tuple[dict[str, Any], ValueSample | None, dict[str, Any]]:
    """The flat tables (exactly ``columns``: name → column names), the sample and the
    header of a file :func:`write_file` wrote; every check of the module docstring.

    A table named in ``optional`` that the file's header does not list (a file saved
    before the table existed) is read as empty: same format version, one member fewer.
    ``build``: what each table is made into from its checked Arrow table (the member's
    bytes let go before the next is read; None for an absent optional table); by default
    a pandas frame of its columns."""
    p = Path(path)
    if not is_summary_file(p):
        raise _fail(p, "not a summary file (no summary header at its start)")
    try:
        z = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(p, f"not a readable zip ({exc})") from None
    with z:
        try:
            header = json.loads(_read(z, p, HEADER, MAX_HEADER_BYTES, None))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _fail(p, f"its header is not JSON ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise _fail(p, "its header does not name the summary format")
        if header.get("format_version") != FORMAT_VERSION:
            raise _fail(p, f"format version {header.get('format_version')!r} (written by xcomlab "
                           f"{header.get('xcomlab_version')!r}); this xcomlab reads version {FORMAT_VERSION}")
        members = header.get("members")
        if not isinstance(members, dict):
            raise _fail(p, "its header lists no members")
        listed = header.get("tables")
        absent = {n for n in optional if isinstance(listed, list) and n not in listed}
        want_of = dict(columns)
        columns = {n: c for n, c in columns.items() if n not in absent}
        expected = {f"tables/{n}.parquet" for n in columns} | ({"sample.parquet"} if header.get("sample") else set())
        names = set(z.namelist()) - {HEADER}
        if set(members) != expected or names != expected:
            raise _fail(p, f"members {sorted(names)} (header lists {sorted(members)}), not {sorted(expected)}")
        tables = {}
        for n, want in columns.items():
            member = f"tables/{n}.parquet"
            raw = _read(z, p, member, MAX_MEMBER_BYTES, members[member])
            arrow = _parquet(p, member, raw)
            del raw
            _check_columns(p, n, arrow, want)
            tables[n] = build(n, arrow) if build is not None else flat_frame(arrow)
            del arrow
            release_memory()  # the table's read and conversion: before the next is read
        sample = None
        if header.get("sample"):
            raw = _read(z, p, "sample.parquet", MAX_MEMBER_BYTES, members["sample.parquet"])
            sample = _sample(p, header["sample"], _parquet(p, "sample.parquet", raw))
    for n in absent:
        tables[n] = build(n, None) if build is not None else pd.DataFrame({c: [] for c in want_of[n]})
    return tables, sample, header


def summary_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a summary file (format, versions, creation time, source), unchecked
    beyond the magic and its size."""
    p = Path(path)
    if not is_summary_file(p):
        raise _fail(p, "not a summary file (no summary header at its start)")
    with zipfile.ZipFile(p) as z:
        return dict(json.loads(_read(z, p, HEADER, MAX_HEADER_BYTES, None)))


def flat_arrow(table: pd.DataFrame) -> pa.Table:
    """A summary table's rows as Arrow columns, its index levels first: each level made
    from the index's codes and its labels (text labels stay Arrow strings), never a Python
    object per row as ``reset_index`` makes (a 100M-row export's summary holds ~20M groups)."""
    index = table.index
    if not isinstance(index, pd.MultiIndex) or not len(table):
        return pa.Table.from_pandas(table.reset_index(), preserve_index=False)
    columns: dict[str, Any] = {}
    for i, name in enumerate(map(str, index.names)):
        level, codes = index.levels[i], np.asarray(index.codes[i])
        if not len(level) and level.dtype == object:  # every label null: nulls, as pandas' objects give
            columns[name] = pa.nulls(len(codes))
            continue
        if level.dtype != object or not all(isinstance(w, str) for w in level):
            # numbers, days, flags (no Python object per row), or labels not text: as pandas converts them
            columns[name] = pa.array(index.get_level_values(i), from_pandas=True)
            continue
        missing = codes < 0
        indices = pa.array(np.where(missing, 0, codes), mask=missing if missing.any() else None)
        columns[name] = pa.DictionaryArray.from_arrays(indices, pa.array(level.tolist(), pa.string())).cast(pa.string())
    measures = pa.Table.from_pandas(table.reset_index(drop=True), preserve_index=False)
    for name in measures.column_names:
        columns[name] = measures.column(name)
    return pa.table(columns)


def indexed_frame(arrow: pa.Table, groups: list[str]) -> pd.DataFrame | None:
    """A table read from a summary file, indexed by its ``groups`` columns: levels of sorted
    labels (text dictionary-encoded in Arrow, numbers and days factorised), rows in group
    order (nulls last), measures as :func:`flat_frame` makes them. None where a group column
    holds neither text, nulls, numbers nor times (the caller takes the general path)."""
    levels: list[pd.Index] = []
    codes: list[np.ndarray] = []
    for g in groups:
        got = _level(arrow.column(g))
        if got is None:
            return None
        levels.append(got[0])
        codes.append(got[1])
    order = _group_order(codes, [len(lv) for lv in levels])
    index = pd.MultiIndex(levels=levels, codes=[c[order] for c in codes],  # type: ignore[arg-type]
                          names=groups, verify_integrity=False)
    del codes
    # column by column, each put in order as it is made: one copy of a column at a time
    measures = {c: _flat_series(arrow.column(c)).take(order).reset_index(drop=True)
                for c in arrow.column_names if c not in groups}
    return pd.DataFrame(measures, copy=False).set_axis(index)


def _level(col: pa.ChunkedArray) -> tuple[pd.Index, np.ndarray] | None:
    """A group column's sorted distinct labels and each row's code into them (null: -1)."""
    t = col.type
    if pa.types.is_null(t):
        return pd.Index([], dtype=object), np.full(len(col), -1, dtype=np.int32)
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        d = col.chunk(0) if col.num_chunks == 1 else _unified(col)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        d = pc.dictionary_encode(col.combine_chunks())
    else:
        d = None
    if d is not None:
        if pc.count_distinct(d.dictionary, mode="all").as_py() != len(d.dictionary) or d.dictionary.null_count:
            d = pc.dictionary_encode(d.dictionary_decode())  # a file's dictionary with repeats or nulls
        idx = pc.fill_null(d.indices, -1).to_numpy().astype(np.int64, copy=False)
        used = np.bincount(idx[idx >= 0], minlength=len(d.dictionary)) > 0
        order = pc.array_sort_indices(d.dictionary).to_numpy()  # bytes order: UTF-8 keeps code points'
        order = order[used[order]]  # labels no row uses are no level's
        rank = np.full(len(d.dictionary), -1, dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        labels = pd.Index(d.dictionary.take(pa.array(order)).to_pylist(), dtype=object)
        return labels, np.where(idx < 0, -1, rank[np.maximum(idx, 0)]).astype(np.int32)
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_timestamp(t) or pa.types.is_floating(t):
        found, uniques = pd.factorize(col.to_pandas(), sort=True)
        return pd.Index(uniques), np.asarray(found, dtype=np.int32)
    return None


def _unified(col: pa.ChunkedArray) -> pa.DictionaryArray:
    """Dictionary chunks as one (Arrow cannot unify dictionaries that hold a null: decoded
    and encoded again)."""
    try:
        return col.unify_dictionaries().combine_chunks()
    except pa.ArrowInvalid:
        return pc.dictionary_encode(col.cast(col.type.value_type).combine_chunks())


def _group_order(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """The stable order that sorts rows by their codes, level by level, nulls (-1) last."""
    ranked = [np.where(c < 0, size, c).astype(np.int64) for c, size in zip(codes, sizes, strict=True)]
    radix = 1
    for size in sizes:
        radix *= size + 1
    if radix >= 2**63:
        return np.lexsort(ranked[::-1])
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for r, size in zip(ranked, sizes, strict=True):
        key *= size + 1
        key += r
    return np.argsort(key, kind="stable")
