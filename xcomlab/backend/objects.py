"""Object storage: an fsspec filesystem under one base URL, with atomic writes.

``file://`` writes go to ``<key>.tmp-<uuid>`` and are then renamed: a POSIX rename in
one directory is atomic, so a reader never sees half an object. Object stores (``s3://``,
``gs://``, ``az://``) and ``memory://`` make a single PUT visible all at once (S3: "Amazon S3
never adds partial objects", S3 user guide "Amazon S3 data consistency model", read
2026-11-25), so they need no temporary name. Every URI handed out is under the base:
reading or deleting anything else is refused.

``file://`` writes are not fsynced: ``put`` returns once the object is in the page cache, and
the kernel writes it back within about 30 s (``vm.dirty_expire_centisecs``). A machine crash in
that window can leave a committed reference row whose object is missing or short; reading it
then fails with :class:`ObjectStoreError` or ``IntegrityError`` (size and sha256 are checked),
never with wrong bytes. An ``fsync`` of the file and its directory per object cost 3.3–4.3 ms
against 0.24 ms for a 100 B object, and 1.2–1.4× for 6–48 MB, on the project's machine
(2026-12-07, docs/latency.md#calibration): a price every small offloaded value would pay.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import fsspec
from fsspec.core import url_to_fs

from xcomlab.backend.paths import MAX_PREFIX_BYTES
from xcomlab.errors import UnsupportedSourceError, XcomlabError

__all__ = ["TMP_MARK", "ObjectInfo", "ObjectStore", "ObjectStoreError"]

#: Marker in the names of temporary files of an unfinished local write.
TMP_MARK: Final = ".tmp-"
_EXTRAS: Final = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


class ObjectStoreError(XcomlabError, OSError):
    """An object is missing, outside the base path, or the store refused an operation."""


class ObjectInfo(dict[str, Any]):
    """One listed object: ``uri``, ``size`` (bytes) and ``modified`` (UTC datetime or None)."""


class ObjectStore:
    """Objects under ``base`` (an fsspec URL) on one filesystem.

    Parameters
    ----------
    base
        ``file:///srv/xcom``, ``memory://bucket/xcom``, ``s3://bucket/prefix``, ...
    storage_options
        Passed to the fsspec filesystem (e.g. ``client_kwargs={"endpoint_url": ...}``).
    """

    def __init__(self, base: str, storage_options: Mapping[str, Any] | None = None) -> None:
        if "://" not in base:
            msg = f"object base {base!r} has no scheme; expected e.g. file:///srv/xcom or s3://bucket/xcom"
            raise UnsupportedSourceError(msg)
        self.base = base.rstrip("/")
        self.protocol = base.split("://", 1)[0].lower()
        try:
            fs, root = url_to_fs(self.base, **dict(storage_options or {}))
        except (ImportError, ValueError) as exc:
            lib = _EXTRAS.get(self.protocol, f"the fsspec driver for {self.protocol}://")
            msg = f"cannot open object base {base!r} ({exc}); install {lib}"
            raise UnsupportedSourceError(msg) from exc
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = str(root).rstrip("/")
        if len(self.root.encode()) > MAX_PREFIX_BYTES:
            msg = f"object base path is {len(self.root.encode())} bytes; keep it under {MAX_PREFIX_BYTES}"
            raise UnsupportedSourceError(msg)
        self.atomic_rename = self.protocol in ("file", "local")

    def __repr__(self) -> str:
        return f"ObjectStore({re.sub(r'://[^/@]*@', '://***@', self.base)!r})"

    def uri(self, rel: str) -> str:
        """The public URI of the relative key ``rel``."""
        return f"{self.base}/{rel}"

    def _path(self, uri: str) -> str:
        """The filesystem path of a URI under the base; anything else is refused."""
        prefix = self.base + "/"
        rel = uri[len(prefix):] if uri.startswith(prefix) else None
        if not rel or any(p in ("", ".", "..") for p in rel.split("/")):
            msg = f"URI {uri!r} is not under the store's object base {self.base!r}"
            raise ObjectStoreError(msg)
        return f"{self.root}/{rel}"

    def put(self, rel: str, data: bytes) -> str:
        """Write ``data`` atomically at ``rel`` and return its URI."""
        path = f"{self.root}/{rel}"
        parent = path.rsplit("/", 1)[0]
        if self.atomic_rename:
            self.fs.makedirs(parent, exist_ok=True)
            tmp = f"{path}{TMP_MARK}{uuid.uuid4().hex}"
            try:
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, path)
            except BaseException:
                self._remove_quietly(tmp)
                raise
        else:
            self.fs.pipe_file(path, data)
        return self.uri(rel)

    def get(self, uri: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of the object at ``uri`` (at most ``max_bytes + 1`` are read, so a
        caller expecting ``max_bytes`` sees a larger object without loading it whole)."""
        try:
            if max_bytes is None:
                return bytes(self.fs.cat_file(self._path(uri)))
            return bytes(self.fs.cat_file(self._path(uri), start=0, end=max_bytes + 1))
        except FileNotFoundError as exc:
            msg = f"object {uri!r} is missing; its row is dangling (see XComStore.reconcile)"
            raise ObjectStoreError(msg) from exc

    def delete(self, uri: str) -> bool:
        """Remove the object; return False when it was already gone."""
        return self._remove_quietly(self._path(uri))

    def _remove_quietly(self, path: str) -> bool:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def exists(self, uri: str) -> bool:
        """True when the object at ``uri`` exists."""
        return bool(self.fs.exists(self._path(uri)))

    def listing(self) -> Iterator[ObjectInfo]:
        """Every object under the base (temporary files included), fresh from the store."""
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            if info.get("type", "file") != "file":
                continue
            rel = str(path)[len(self.root) + 1:] if str(path).startswith(self.root) else str(path)
            yield ObjectInfo(uri=self.uri(rel.lstrip("/")), size=int(info.get("size") or 0),
                             modified=_modified(info))


def _modified(info: Mapping[str, Any]) -> datetime | None:
    for k in ("mtime", "LastModified", "last_modified", "created", "updated"):
        v = info.get(k)
        if isinstance(v, datetime):
            return v if v.tzinfo else v.replace(tzinfo=UTC)
        if isinstance(v, int | float):
            return datetime.fromtimestamp(float(v), UTC)
    return None
