"""Compressibility measured on the export's own values: pglz, lz4, zstd and gzip ratios.

:func:`xcomlab.load_export` keeps a bounded, seeded sample of stored values per power-of-two
size class (:class:`~xcomlab.ingest.sample.ValueSample`). :func:`compressibility` runs each
codec that matters on it:

``pglz``
    PostgreSQL's default TOAST compressor (:mod:`xcomlab.analysis.pglz`, checked against
    ``pg_column_size`` on PostgreSQL 15): a value's ratio is its compressed size over its
    raw size when TOAST keeps the compressed form, else 1.
``lz4``
    TOAST with ``default_toast_compression = lz4`` (PostgreSQL ≥ 14): ``LZ4_compress_default``
    of the system liblz4 (else the ``lz4`` package, see :func:`lz4_size`), kept on the same rule.
``zstd``, ``gzip``
    What the reference backend (and common-io's ``gzip``) store: zstd level 3, zlib level 6
    plus gzip's 18-byte frame.

Ratios are compressed/raw bytes. Per class they are weighted by the sampled bytes; the
export-wide ratio weights each class by the bytes the *whole export* holds in it, so a few
sampled values stand for their class. Without a sample (frames built by hand, live
databases read without ``sample_values``) :attr:`Compressibility.source` is ``"default"``
and the callers fall back to their documented defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import zlib
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd

from xcomlab.analysis import jsonb, pglz
from xcomlab.errors import XcomlabError
from xcomlab.ingest.sample import ValueSample, value_sample

__all__ = ["CODECS", "Compressibility", "compressibility", "lz4_size", "measure_values"]

#: Codecs measured on the sample. ``pglz_jsonb``/``lz4_jsonb``: TOAST of a PostgreSQL
#: ``jsonb`` column (Airflow 3), run on the binary form (:mod:`xcomlab.analysis.jsonb`;
#: values that are not JSON are measured as they are).
CODECS: Final = ("pglz", "lz4", "zstd", "gzip", "pglz_jsonb", "lz4_jsonb")
_CACHE_ATTR: Final = "_xcomlab_compressibility"


class CompressibilityError(XcomlabError, ValueError):
    """An unknown codec, or a ratio asked of a measurement that has none."""


def _toast_kept(raw: int, compressed: int | None) -> int:
    """Bytes TOAST stores (without the varlena header) for a value it tried to compress."""
    if compressed is None or compressed + pglz.HEADER_BYTES >= raw - 2:
        return raw  # toast_compress_datum keeps the raw value unless it saves > 2 B
    return compressed


def _pglz(data: bytes) -> int:
    return _toast_kept(len(data), pglz.compressed_size(data))


@functools.cache
def _liblz4() -> Any:
    """The system liblz4 (what PostgreSQL links), or None."""
    name = ctypes.util.find_library("lz4")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.LZ4_compress_default.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.LZ4_compressBound.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


def lz4_size(data: bytes) -> int:
    """Bytes ``LZ4_compress_default`` writes for ``data``.

    The system liblz4 is called when there is one: PostgreSQL calls that function of the
    liblz4 it links, and the ``lz4`` package's bundled build writes 1–4 % fewer bytes on
    XCom JSON (measured here: liblz4 1.9.4 on Debian 12 matched ``pg_column_size`` to
    the byte, ``lz4`` 4.4.5's block API did not). Without one, the ``lz4`` package.
    """
    lib = _liblz4()
    if lib is not None and len(data) < 2**31 - 2**20:
        dst = ctypes.create_string_buffer(lib.LZ4_compressBound(len(data)))
        n = int(lib.LZ4_compress_default(data, dst, len(data), len(dst)))
        if n > 0:
            return n
    import lz4.block  # imported on use: the fallback

    return len(lz4.block.compress(data, mode="default", store_size=False))


def _lz4(data: bytes) -> int:
    if len(data) < pglz.MIN_INPUT_BYTES:
        return len(data)  # TOAST does not try values that short (toast_compress_datum)
    out = lz4_size(data)
    return _toast_kept(len(data), out if out <= len(data) else None)


def _zstd(data: bytes) -> int:
    import zstandard

    return len(zstandard.ZstdCompressor(level=3).compress(data))


def _gzip(data: bytes) -> int:
    return len(zlib.compress(data, 6)) + 12  # zlib's 6 B of framing → gzip's 18 B


_MEASURE: Final[dict[str, Callable[[bytes], int]]] = {"pglz": _pglz, "lz4": _lz4, "zstd": _zstd,
                                                      "gzip": _gzip}


def _as_jsonb(data: bytes) -> bytes:
    try:
        return jsonb.encode(data)
    except (ValueError, RecursionError):
        return data


def measure_values(values: list[bytes], codec: str) -> tuple[int, int]:
    """(stored bytes, raw bytes) of ``values`` compressed one by one with ``codec``.

    For the ``_jsonb`` codecs both counts are of the ``jsonb`` binary form.
    """
    base, _, form = codec.partition("_")
    if codec not in CODECS:
        msg = f"codec={codec!r}; expected one of {list(CODECS)}"
        raise CompressibilityError(msg)
    f = _MEASURE[base]
    if form == "jsonb":
        values = [_as_jsonb(v) for v in values]
    return sum(f(v) for v in values), sum(len(v) for v in values)


class Compressibility:
    """Compression ratios measured on a value sample, each codec on first use.

    Parameters
    ----------
    classes
        Sampled values per size class (:meth:`ValueSample.classes`).
    rows, bytes
        Rows and bytes of the whole export per size class.

    Attributes
    ----------
    n_values : int
        Values measured (0: nothing to measure).
    """

    def __init__(self, classes: dict[int, list[bytes]], rows: np.ndarray, bytes: np.ndarray) -> None:
        self._classes = classes
        self._rows, self._bytes = rows, bytes
        self._ratios: dict[str, np.ndarray] = {}
        self.n_values = sum(len(v) for v in classes.values())

    @property
    def measured(self) -> bool:
        """True when the ratios come from the export's own values."""
        return self.n_values > 0

    @property
    def source(self) -> str:
        """``"measured on N values"``, or ``"default"`` when there were none."""
        return f"measured on {self.n_values} values" if self.measured else "default"

    def _class_ratios(self, codec: str) -> np.ndarray:
        if codec not in CODECS:
            msg = f"codec={codec!r}; expected one of {list(CODECS)}"
            raise CompressibilityError(msg)
        if codec not in self._ratios:
            pairs = [measure_values(v, codec) for v in self._classes.values()]
            self._ratios[codec] = np.array([st / rw if rw else 1.0 for st, rw in pairs], dtype=np.float64)
        return self._ratios[codec]

    @property
    def by_class(self) -> pd.DataFrame:
        """One row per sampled size class (index: its smallest size in bytes): ``rows`` and
        ``bytes`` of the whole export, ``sampled`` values, ``sampled_bytes``, and the
        compressed/raw ratio of every codec (all measured now if not yet)."""
        cs = list(self._classes)
        table = pd.DataFrame({
            "rows": self._rows[cs].astype(np.int64), "bytes": self._bytes[cs].astype(np.int64),
            "sampled": [len(v) for v in self._classes.values()],
            "sampled_bytes": [sum(map(len, v)) for v in self._classes.values()],
            **{codec: self._class_ratios(codec) for codec in CODECS}},
            index=pd.Index([1 << c for c in cs], name="class_min_bytes"))
        return table

    def ratio(self, codec: str, *, min_bytes: int = 0) -> float | None:
        """Export-wide ratio of ``codec`` over the size classes reaching ``min_bytes``, each
        class weighted by the bytes the export holds in it; None when not measured."""
        r = self._class_ratios(codec)
        cs = np.array(list(self._classes), dtype=np.int64)
        use = (np.exp2(cs + 1) > min_bytes) if len(cs) else np.zeros(0, bool)
        w = self._bytes[cs[use]].astype(np.float64) if len(cs) else np.zeros(0)
        return float((r[use] * w).sum() / w.sum()) if w.sum() > 0 else None

    def per_row(self, codec: str, value_bytes: np.ndarray) -> np.ndarray | None:
        """Each row's ratio: its size class's, or the nearest measured class's; None when not measured."""
        if not self._classes:
            return None
        r = self._class_ratios(codec)
        cs = np.array(list(self._classes), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            cls = np.floor(np.log2(np.maximum(np.asarray(value_bytes, np.float64), 1)))
        finite = np.isfinite(cls)  # NaN or inf: no nearest class, the first one (as argmin gives)
        at = np.where(finite, cls, 0).astype(np.int64)
        if not len(at):
            return r[np.zeros(0, dtype=np.int64)]
        # the nearest measured class of each possible class (the first on a tie), then a look-up
        nearest = np.abs(np.arange(int(at.max()) + 1, dtype=np.float64)[:, None] - cs[None, :]).argmin(axis=1)
        return r[np.where(finite, nearest[at], 0)]

    def __repr__(self) -> str:
        parts = ", ".join(f"{c} {r:.3f}" for c in ("pglz", "zstd") if (r := self.ratio(c)) is not None)
        return f"Compressibility({self.source}; {parts or 'no ratios'})"

    def _repr_html_(self) -> str:
        return f"<p><b>compressibility</b>: {self.source}</p>" + self.by_class.to_html()


def _measure(sample: ValueSample | None) -> Compressibility:
    if sample is None:
        return Compressibility({}, np.zeros(0, np.int64), np.zeros(0, np.int64))
    classes = {c: [s.data for s in kept] for c, kept in sample.classes().items()}
    return Compressibility(classes, sample.rows.copy(), sample.bytes.copy())


def compressibility(source: Any) -> Compressibility:
    """Compression ratios of pglz, lz4, zstd and gzip on an export's sampled values.

    Parameters
    ----------
    source
        A frame from :func:`xcomlab.load_export` (its ``attrs`` carry the
        :class:`~xcomlab.ingest.sample.ValueSample`), a ``ValueSample``, or a list of
        stored values (``str``/``bytes``).

    Returns
    -------
    Compressibility
        Measured once per sample and cached on it. ``source`` is ``"default"`` when
        there were no values to measure.

    Examples
    --------
    >>> import xcomlab
    >>> frame = xcomlab.load_export("data/samples/af3/xcom_copy.csv")  # doctest: +SKIP
    >>> compressibility(frame).ratio("pglz", min_bytes=2032)  # doctest: +SKIP
    """
    if isinstance(source, ValueSample):
        sample: ValueSample | None = source
    elif isinstance(source, list | tuple | pd.Series):
        sample = ValueSample(per_class=1 << 30, class_bytes=1 << 62, max_value_bytes=1 << 62)
        vals = [v for v in source if isinstance(v, str | bytes | bytearray | memoryview)]
        sample.add([bytes(v) if not isinstance(v, str) else v.encode() for v in vals])
    else:
        sample = value_sample(source)
    if sample is None:
        return _measure(None)
    key = (sample.n_values, int(sample.rows.sum()))
    cached = getattr(sample, _CACHE_ATTR, None)
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    out = _measure(sample)
    object.__setattr__(sample, _CACHE_ATTR, (key, out))
    return out
