"""Compressed exports (gzip, zstd, xz): told by their first bytes, read as a stream.

Operators keep dumps compressed (``pg_dump | gzip``, ``xcom.csv.zst``). A file is
compressed when its first bytes are a codec's magic number, whatever its name says
(gzip ``1f 8b``, zstd ``28 b5 2f fd``, xz ``fd 37 7a 58 5a 00``; RFC 1952 §2.3.1,
RFC 8878 §3.1.1, the .xz file format §2.1.1.1). Text formats (CSV, pg_dump, JSON
Lines) are decompressed while they are read: memory stays bounded and nothing is
written to disk. SQLite and Parquet need random access, so :func:`temporary_copy`
decompresses them to a temporary file, refusing more than a cap.

A truncated or corrupt stream raises :class:`~xcomlab.errors.ExportFormatError`
naming the file and the codec.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from xcomlab.errors import ExportFormatError

__all__ = ["CODECS", "DEFAULT_TEMP_CAP_BYTES", "codec_of", "compressed_tell", "head", "inner_name",
           "open_binary", "open_text", "temporary_copy"]

#: Codec → the magic number its streams start with.
CODECS: dict[str, bytes] = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "xz": b"\xfd7zXZ\x00"}
#: File name suffixes that say a codec (only used to name the inner file; content decides).
_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".tgz": "gzip", ".zst": "zstd", ".zstd": "zstd",
             ".xz": "xz"}
#: Largest SQLite or Parquet file :func:`temporary_copy` writes (16 GiB). A compressed
#: file can expand a thousandfold; the cap keeps a hostile one from filling the disk.
#: ``XCOMLAB_DECOMPRESS_CAP_BYTES`` overrides it.
DEFAULT_TEMP_CAP_BYTES = 16 * 2**30
_TOOLS = {"gzip": "gzip -t", "zstd": "zstd -t", "xz": "xz -t"}
_CHUNK = 1 << 20
#: Decompressed bytes kept for stepping back without starting again.
_WINDOW = 4 << 20


def codec_of(path: str | os.PathLike[str]) -> str | None:
    """The codec whose magic number ``path`` starts with, or None for an uncompressed file."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except (IsADirectoryError, FileNotFoundError):
        return None
    for codec, sig in CODECS.items():
        if magic.startswith(sig):
            return codec
    return None


def inner_name(path: str | os.PathLike[str]) -> str:
    """The file name without its codec suffix: ``xcom.csv.gz`` → ``xcom.csv``."""
    name = Path(path).name
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIXES:
        return name[: -len(suffix)]
    return name


def _corrupt(path: str, codec: str, exc: BaseException) -> ExportFormatError:
    what = " ".join(str(exc).split())[:120] or type(exc).__name__
    msg = (f"{path}: the {codec} stream is truncated or corrupt ({what}); expected a complete "
           f"{codec} file: copy it again (`{_TOOLS[codec]} {Path(path).name}` checks a copy)")
    return ExportFormatError(msg)


def _decompressor(codec: str, raw: IO[bytes]) -> IO[bytes]:
    if codec == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if codec == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    # Arrow's zstd stream reports a truncated last frame; zstandard's stream reader ends quietly.
    import pyarrow as pa

    return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")  # type: ignore[return-value]


class _Decompressed(io.RawIOBase):
    """A decompressed view of one file that reads as a stream.

    It keeps the last :data:`_WINDOW` bytes it produced, so a reader that looks ahead and
    steps back (the pg_dump scanner) re-reads them from memory; a seek further back starts
    the stream again, a seek forward reads and drops.
    """

    def __init__(self, path: str, codec: str) -> None:
        self.path = path
        self.codec = codec
        self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._stream = _decompressor(codec, self._raw)
        self._pos = 0  # where the next read starts
        self._out = 0  # how far the stream has produced
        self._hist = bytearray()  # bytes [self._out - len(self._hist), self._out)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def compressed_tell(self) -> int:
        """Compressed bytes consumed so far (for progress against the file's size)."""
        return 0 if self._raw.closed else self._raw.tell()

    def _produce(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
            raise _corrupt(self.path, self.codec, exc) from exc
        self._out += len(data)
        self._hist += data
        if len(self._hist) > _WINDOW:
            del self._hist[: len(self._hist) - _WINDOW]
        return data

    def readinto(self, b: Any) -> int:
        if self._pos < self._out:  # replay from the window
            at = len(self._hist) - (self._out - self._pos)
            data = bytes(self._hist[at: at + len(b)])
        else:
            data = self._produce(len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            msg = f"{self.path}: a compressed stream cannot seek from its end"
            raise io.UnsupportedOperation(msg)
        if offset < self._out - len(self._hist):
            self._restart()
        self._pos = min(offset, self._out)
        while self._out < offset:
            if not self._produce(min(_CHUNK, offset - self._out)):
                break
            self._pos = self._out
        return self._pos

    def _restart(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        self._raw.close()
        self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._stream = _decompressor(self.codec, self._raw)
        self._pos = self._out = 0
        self._hist = bytearray()

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._raw.close()
        super().close()


def open_binary(path: str | os.PathLike[str], codec: str | None = None) -> io.BufferedReader:
    """``path`` opened for reading, decompressed when it is compressed (``codec`` or sniffed)."""
    codec = codec or codec_of(path)
    if codec is None:
        return open(path, "rb")
    return io.BufferedReader(_Decompressed(os.fspath(path), codec), buffer_size=_CHUNK)


def open_text(path: str | os.PathLike[str], *, errors: str = "strict", newline: str | None = "",
              encoding: str = "utf-8") -> io.TextIOWrapper:
    """``path`` as text, decompressed when it is compressed."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors=errors, newline=newline)


def compressed_tell(f: Any) -> int:
    """Bytes of the file on disk a stream from :func:`open_binary` has consumed."""
    raw = getattr(f, "raw", f)
    if isinstance(raw, _Decompressed):
        return raw.compressed_tell()
    return 0 if f.closed else int(f.tell())


def head(path: str | os.PathLike[str], n: int = 4096) -> bytes:
    """The first ``n`` decompressed bytes of ``path`` (fewer if it is shorter)."""
    with open_binary(path) as f:
        return f.read(n)


def arrow_stream(path: str, codec: str | None) -> tuple[Any, Callable[[], int]]:
    """A pyarrow input stream of ``path`` decompressed, and how far into the file it is.

    gzip and zstd are decompressed by Arrow's own codecs (no Python per block), xz by
    :mod:`lzma`. Arrow reports a truncated gzip/zstd stream as ``OSError``; the caller
    turns it into :func:`corrupt`.
    """
    import pyarrow as pa

    if codec in ("gzip", "zstd"):
        raw = pa.OSFile(path, "rb")
        return pa.CompressedInputStream(raw, codec), lambda: 0 if raw.closed else raw.tell()
    f = open_binary(path, codec)
    return pa.PythonFile(f, mode="r"), lambda: compressed_tell(f)


def corrupt(path: str, codec: str, exc: BaseException) -> ExportFormatError:
    """The one-line error for a truncated or corrupt compressed ``path``."""
    return _corrupt(path, codec, exc)


def _cap() -> int:
    text = os.environ.get("XCOMLAB_DECOMPRESS_CAP_BYTES")
    if not text:
        return DEFAULT_TEMP_CAP_BYTES
    try:
        return int(text)
    except ValueError:
        msg = f"XCOMLAB_DECOMPRESS_CAP_BYTES={text!r}; expected a whole number of bytes"
        raise ExportFormatError(msg) from None


@contextlib.contextmanager
def temporary_copy(path: str, codec: str, cap_bytes: int | None = None) -> Iterator[tuple[Path, int]]:
    """``path`` decompressed into a private temporary directory; yields (copy, bytes).

    For SQLite and Parquet, which need random access. Refuses (with
    :class:`~xcomlab.errors.ExportFormatError`) a file that expands past ``cap_bytes``
    (default :data:`DEFAULT_TEMP_CAP_BYTES` or ``XCOMLAB_DECOMPRESS_CAP_BYTES``). The copy
    is deleted on exit.
    """
    cap = _cap() if cap_bytes is None else cap_bytes
    with tempfile.TemporaryDirectory(prefix="xcomlab-") as tmp:
        target = Path(tmp) / (inner_name(path) or "export")
        written = 0
        with open_binary(path, codec) as src, open(target, "wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > cap:
                    msg = (f"{path}: decompresses to more than {cap:,} bytes, the cap for a "
                           f"compressed SQLite or Parquet file; decompress it yourself "
                           f"(`{codec} -d`) or raise XCOMLAB_DECOMPRESS_CAP_BYTES")
                    raise ExportFormatError(msg)
                dst.write(chunk)
        shutil.copystat(path, target)
        yield target, written
