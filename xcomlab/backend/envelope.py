"""Envelope: the small JSON object a row holds instead of a value that is offloaded or packed.

Two shapes share the marker key ``"__xcomlab__": 1`` (the one ``xcomlab.ingest`` recognises,
see ``xcomlab/ingest/classify.py``):

* **reference** — the value lives in object storage::

      {"__xcomlab__": 1, "uri": "s3://b/xcom/d/r/t/-1/return_value-<uuid>.json.zst",
       "stored_bytes": 1234, "value_bytes": 56789, "codec": "json+zstd",
       "sha256": "<hex of the object's bytes>", "kind": "list", "length": 1000,
       "preview": "[{\\"id\\": 1, ..."}

* **packed** — the value is inline but compressed and/or encrypted, so not plain JSON; its
  bytes are carried as text (``data``: a Fernet token, or base64 of the compressed bytes)::

      {"__xcomlab__": 1, "codec": "json+zstd+fernet", "data": "gAAAA...", "stored_bytes": 120,
       "value_bytes": 310, "sha256": "<hex of the stored bytes>"}

``stored_bytes`` is the size of the stored payload (object, or decoded ``data``),
``value_bytes`` the serialized (JSON text) size before compression; ``kind`` is the JSON type
(or serde class) and ``length`` its item count. Encrypted values get no ``preview``, ``kind`` or
``length``: those would leak the plaintext. An envelope is kept under
:data:`MAX_ENVELOPE_BYTES` so a reader that fetches only a row's head (ingest reads 1,024
bytes) still parses it whole.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from typing import Any, Final, NoReturn

from xcomlab.backend.codecs import ALLOWED_CHAINS, CodecError

__all__ = ["ENVELOPE_KEY", "MAX_ENVELOPE_BYTES", "Envelope", "EnvelopeError", "is_envelope",
           "preview_of"]

#: Marker key (must match ``xcomlab.ingest.classify.ENVELOPE_KEY``).
ENVELOPE_KEY: Final = "__xcomlab__"
#: Largest envelope for a reference (ingest's HEAD_BYTES: 1,024).
MAX_ENVELOPE_BYTES: Final = 1000
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class EnvelopeError(CodecError):
    """A row's envelope is malformed (missing or mistyped field, unknown codec)."""


@dataclass(frozen=True)
class Envelope:
    """A row's envelope (reference when ``uri`` is set, packed when ``data`` is)."""

    codec: str
    stored_bytes: int
    value_bytes: int
    sha256: str
    uri: str | None = None
    data: str | None = None
    kind: str | None = None
    length: int | None = None
    preview: str | None = None

    @property
    def offloaded(self) -> bool:
        """True when the value lives in object storage."""
        return self.uri is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written into the row (optional fields omitted when unset)."""
        out: dict[str, Any] = {ENVELOPE_KEY: 1}
        for name in ("uri", "codec", "stored_bytes", "value_bytes", "sha256", "data", "kind",
                     "length", "preview"):
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Envelope:
        """Read and check an envelope written by :meth:`to_json` (untrusted: a task wrote it).

        Raises
        ------
        EnvelopeError
            A field is missing or of the wrong type, the codec is not in
            :data:`~xcomlab.backend.codecs.ALLOWED_CHAINS`, or it has both or neither of
            ``uri`` and ``data``.
        """
        codec = obj.get("codec")
        if not isinstance(codec, str) or codec not in ALLOWED_CHAINS:
            _bad("codec", codec, f"one of {sorted(ALLOWED_CHAINS)}")
        sizes = {}
        for name in ("stored_bytes", "value_bytes"):
            v = obj.get(name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                _bad(name, v, "an integer ≥ 0")
            sizes[name] = v
        sha = obj.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            _bad("sha256", sha, "64 lowercase hex digits")
        uri, data = obj.get("uri"), obj.get("data")
        if (uri is None) == (data is None):
            _bad("uri/data", (uri, data), "exactly one of uri (offloaded) and data (packed)")
        for name, v in (("uri", uri), ("data", data), ("kind", obj.get("kind")),
                        ("preview", obj.get("preview"))):
            if v is not None and not isinstance(v, str):
                _bad(name, v, "a string")
        length = obj.get("length")
        if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
            _bad("length", length, "an integer")
        return cls(codec=codec, stored_bytes=sizes["stored_bytes"],
                   value_bytes=sizes["value_bytes"], sha256=sha, uri=uri, data=data,
                   kind=obj.get("kind"), length=length, preview=obj.get("preview"))

    def payload(self) -> bytes:
        """The stored bytes of a packed envelope."""
        if self.data is None:
            msg = "a reference envelope carries no payload; read its uri"
            raise EnvelopeError(msg)
        try:
            if self.codec.endswith("+fernet"):
                return self.data.encode("ascii")  # a Fernet token is already url-safe base64
            return base64.b64decode(self.data, validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            msg = f"envelope data is not {'a Fernet token' if self.codec.endswith('+fernet') else 'base64'} ({exc})"
            raise EnvelopeError(msg) from exc

    @staticmethod
    def pack_data(codec: str, stored: bytes) -> str:
        """The text form of packed bytes (see :meth:`payload`)."""
        if codec.endswith("+fernet"):
            return stored.decode("ascii")
        return base64.b64encode(stored).decode("ascii")


def _bad(name: str, value: Any, expected: str) -> NoReturn:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:80] + "…"
    msg = f"malformed envelope: {name} is {shown}; expected {expected}"
    raise EnvelopeError(msg)


def is_envelope(obj: Any) -> bool:
    """True for a row value written as an xcomlab envelope."""
    return isinstance(obj, dict) and obj.get(ENVELOPE_KEY) == 1 and "codec" in obj


def has_marker(obj: Any) -> bool:
    """True for any dict carrying the envelope marker key, well-formed or not: a user value
    never does (serde refuses the key), so a reader treats it as an envelope and checks it."""
    return isinstance(obj, dict) and ENVELOPE_KEY in obj


def preview_of(jsonable: Any, chars: int) -> tuple[str, int | None, str]:
    """``(kind, length, preview)``: JSON type (or serde class), item count, first characters.

    The preview is the JSON of the value's first items (non-ASCII kept readable), cut to
    ``chars`` characters; a string shows its own first characters.
    """
    kinds: dict[type, str] = {dict: "dict", list: "list", str: "str"}
    kind = kinds.get(type(jsonable), "scalar")
    if isinstance(jsonable, dict) and "__classname__" in jsonable:
        kind = str(jsonable["__classname__"])
    length = len(jsonable) if isinstance(jsonable, dict | list | str) else None
    if isinstance(jsonable, str):
        shown = jsonable
    else:
        shown = json.dumps(_head(jsonable, max(1, chars // 4), 3, chars), ensure_ascii=False)
    preview = shown if len(shown) <= chars else shown[:chars] + "…"
    return kind, length, preview


def _head(obj: Any, items: int, depth: int, chars: int) -> Any:
    """The first ``items`` items of each container, ``depth`` levels deep (enough to preview)."""
    if isinstance(obj, str):
        return obj[:chars]
    if depth == 0 and isinstance(obj, list | dict):
        return "…"
    if isinstance(obj, list):
        head = [_head(v, items, depth - 1, chars) for v in obj[:items]]
        return [*head, "…"] if len(obj) > items else head
    if isinstance(obj, dict):
        return {k: _head(v, items, depth - 1, chars) for k, v in list(obj.items())[:items]}
    return obj


def fit(env: Envelope) -> Envelope:
    """Shorten the preview (longest that fits) so the envelope's JSON fits :data:`MAX_ENVELOPE_BYTES`."""
    if _size(env) <= MAX_ENVELOPE_BYTES or env.preview is None:
        return env
    text = env.preview.removesuffix("…")
    lo, hi = 0, len(text)  # invariant: a cut at lo fits (or lo == 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size(replace(env, preview=text[:mid] + "…")) <= MAX_ENVELOPE_BYTES:
            lo = mid
        else:
            hi = mid - 1
    return replace(env, preview=text[:lo] + "…" if lo else None)


def _size(env: Envelope) -> int:
    return len(json.dumps(env.to_json()).encode())
