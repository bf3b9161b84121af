"""Serde: Python values ⇄ JSON-able objects with Airflow-compatible envelopes.

Non-JSON types become ``{"__classname__": qualname, "__version__": int, "__data__": ...}``
exactly as Airflow 3's ``airflow.sdk.serde.serialize`` writes them
(docs/airflow-xcom.md#serialization-3, read from task-sdk 1.3.2 on 2026-11-24), so rows
written here decode in Airflow and Airflow's rows decode here. Supported: tuple, set, frozenset, datetime (aware and naive),
date, timedelta, Decimal, UUID and dataclasses. One deliberate difference: ``Decimal`` is
written as its exact string (Airflow writes a lossy float); both readers accept either.
Datetimes keep Airflow's float POSIX timestamp, which is microsecond-exact while
``|timestamp| < 2**32`` s (years 1834–2106) and within a few microseconds beyond.

Decoding a dataclass imports its module, so only classes matching ``allowed_classes``
(fnmatch patterns, like Airflow's ``[core] allowed_deserialization_classes``) are rebuilt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import fnmatch
import importlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, Final

from xcomlab.errors import XcomlabError

__all__ = ["CLASSNAME", "DATA", "VERSION", "SerdeError", "deserialize", "deserialize_json",
           "is_plain", "serialize"]

CLASSNAME: Final = "__classname__"
VERSION: Final = "__version__"
DATA: Final = "__data__"
#: Keys a user dict may not carry: they would be read back as an envelope (Airflow's
#: FORBIDDEN_XCOM_KEYS, docs/airflow-xcom.md#reserved-keys, plus xcomlab's own marker).
RESERVED_KEYS: Final = frozenset({CLASSNAME, "__id__", "__xcomlab__"})
_FIXED_TZ: Final = "pendulum.tz.timezone.FixedTimezone"
_MAX_DEPTH: Final = 100


class SerdeError(XcomlabError, TypeError):
    """A value has no JSON form here, or an envelope cannot be rebuilt."""


def serialize(value: Any, _depth: int = 0) -> Any:
    """Return a JSON-able object for ``value`` (Airflow 3 serde format).

    Raises
    ------
    SerdeError
        For types without a serializer (bytes, arbitrary objects), dicts carrying reserved
        keys, non-string dict keys other than int/float/bool, or nesting deeper than 100.

    Examples
    --------
    >>> serialize((1, 2))
    {'__classname__': 'builtins.tuple', '__version__': 1, '__data__': [1, 2]}
    """
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if _depth == 0 and is_plain(value):
        return value  # already its own serde form: skip the copying walk
    if _depth > _MAX_DEPTH:
        msg = f"value nests deeper than {_MAX_DEPTH} levels; flatten it before pushing"
        raise SerdeError(msg)
    if kind is list:
        return [v if type(v) in _PRIMITIVES else serialize(v, _depth + 1) for v in value]
    if kind is dict:
        return _serialize_dict(value, _depth)
    if value is None or isinstance(value, bool | int | float | str):  # subclasses
        return value
    if isinstance(value, list):
        return [serialize(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        return _serialize_dict(value, _depth)
    return _envelope_of(value, _depth)


_PRIMITIVES: Final = frozenset({str, int, float, bool, type(None)})
_PLAIN: Final = _PRIMITIVES | {list, dict}
_STR_ONLY: Final = frozenset({str})
#: An escaped ASCII character (``\u0000``–``\u007f``) in JSON text: it could spell a marker key.
_ASCII_ESCAPE: Final = re.compile(rb"\\u00[0-7]")


def is_plain(value: Any) -> bool:
    """True when ``value`` is its own serde form, so :func:`serialize` and
    :func:`deserialize` both return it unchanged.

    That is: exact ``dict`` (str keys, none reserved) / ``list`` / ``str`` / ``int`` /
    ``float`` / ``bool`` / ``None``, nested at most 99 levels. The walk goes level by level
    with C-level iteration (``itertools.chain``, ``map``, set operations), so a 10 MB list
    of records costs a fraction of the copying walk. False means "take the full walk",
    never that the value is invalid.
    """
    lists: list[Any] = []
    dicts: list[Any] = []
    kind = type(value)
    if kind in _PRIMITIVES:
        return True
    if kind is list:
        lists.append(value)
    elif kind is dict:
        dicts.append(value)
    else:
        return False
    for _level in range(_MAX_DEPTH):
        if dicts:
            keys = set(chain.from_iterable(dicts))
            if not RESERVED_KEYS.isdisjoint(keys) or not set(map(type, keys)) <= _STR_ONLY:
                return False
        types = set(map(type, _children(lists, dicts)))
        if types <= _PRIMITIVES:
            return True  # the usual last level: its items were never copied into a list
        if not types <= _PLAIN:
            return False
        items = list(_children(lists, dicts))
        only_containers = types.isdisjoint(_PRIMITIVES)
        lists = _of_type(items, list, types, only_containers)
        dicts = _of_type(items, dict, types, only_containers)
    return False


def _children(lists: list[Any], dicts: list[Any]) -> Iterator[Any]:
    """The items of ``lists`` and the values of ``dicts``, iterated at C speed."""
    return chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts)))


def _of_type(items: list[Any], kind: type, types: set[type], only_containers: bool) -> list[Any]:
    if kind not in types:
        return []
    if only_containers and len(types) == 1:
        return items
    return [v for v in items if type(v) is kind]


def _serialize_dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    if "__classname__" in value or "__id__" in value or "__xcomlab__" in value:
        bad = sorted(k for k in RESERVED_KEYS if k in value)
        msg = f"dict keys {bad} are reserved for envelopes; rename them before pushing"
        raise SerdeError(msg)
    out: dict[str, Any] = {}
    for k, v in value.items():
        if type(k) is not str:
            if not isinstance(k, str | int | float | bool) and k is not None:
                msg = f"dict key {k!r} of type {type(k).__name__} has no JSON form; use str keys"
                raise SerdeError(msg)
            k = k if isinstance(k, str) else _json_key(k)
        out[k] = v if type(v) in _PRIMITIVES else serialize(v, depth + 1)
    return out


def _json_key(k: Any) -> str:
    """The key ``json.dumps`` would write for a non-str key."""
    if k is None or isinstance(k, bool):
        return {None: "null", True: "true", False: "false"}[k]
    return repr(k) if isinstance(k, float) else str(k)


def _env(classname: str, version: int, data: Any) -> dict[str, Any]:
    return {CLASSNAME: classname, VERSION: version, DATA: data}


def _envelope_of(value: Any, depth: int) -> dict[str, Any]:
    if isinstance(value, tuple | set | frozenset):
        name = {tuple: "builtins.tuple", set: "builtins.set", frozenset: "builtins.frozenset"}
        items = value if isinstance(value, tuple) else _stable(value)
        cls = next(c for c in name if isinstance(value, c))
        return _env(name[cls], 1, [serialize(v, depth + 1) for v in items])
    if isinstance(value, dt.datetime):
        tz = _timezone(value.tzinfo, value) if value.tzinfo is not None else None
        return _env("datetime.datetime", 2, {"timestamp": value.timestamp(), "tz": tz})
    if isinstance(value, dt.date):
        return _env("datetime.date", 2, value.isoformat())
    if isinstance(value, dt.timedelta):
        return _env("datetime.timedelta", 2, value.total_seconds())
    if isinstance(value, decimal.Decimal):
        return _env("decimal.Decimal", 1, str(value))
    if isinstance(value, uuid.UUID):
        return _env("uuid.UUID", 1, str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        version = getattr(cls, "__version__", 0)
        return _env(f"{cls.__module__}.{cls.__qualname__}", version, serialize(fields, depth + 1))
    msg = (f"{type(value).__module__}.{type(value).__qualname__} has no JSON serializer; "
           "convert it to JSON types, or enable pickle explicitly (StoreConfig.allow_pickle)")
    raise SerdeError(msg)


def _stable(items: Iterable[Any]) -> list[Any]:
    """Set members in a repeatable order when they are sortable."""
    seq = list(items)
    try:
        return sorted(seq)
    except TypeError:
        return seq


def _timezone(tz: dt.tzinfo, when: dt.datetime) -> dict[str, Any]:
    """A timezone as Airflow's serializer tuple ``(name|offset, class, 1, True)``."""
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
    if isinstance(key, str):
        return _env("builtins.tuple", 1, [key, "zoneinfo.ZoneInfo", 1, True])
    offset = tz.utcoffset(when)
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return _env("builtins.tuple", 1, ["UTC" if seconds == 0 else seconds, _FIXED_TZ, 1, True])


def deserialize(obj: Any, *, allowed_classes: Iterable[str] = ()) -> Any:
    """Rebuild the Python value from a JSON-able object written by :func:`serialize`.

    Parameters
    ----------
    obj
        A JSON-decoded object.
    allowed_classes
        fnmatch patterns of dataclass names that may be imported and rebuilt.
    """
    if is_plain(obj):
        return obj  # no envelope anywhere: nothing to rebuild
    allowed = tuple(allowed_classes)
    try:
        return _de(obj, allowed)
    except SerdeError:
        raise
    except Exception as exc:  # untrusted payload: KeyError, OverflowError, InvalidOperation, …
        detail = str(exc)
        detail = detail if len(detail) <= 160 else detail[:160] + "…"
        msg = f"malformed serde payload ({type(exc).__name__}: {detail})"
        raise SerdeError(msg) from exc


def deserialize_json(text: bytes, *, allowed_classes: Iterable[str] = ()) -> Any:
    """:func:`deserialize` of JSON text, skipping the walk when the text cannot hold an envelope.

    The marker key ``"__classname__"`` must appear in the text for an envelope to exist
    (unless spelled with ``\\u`` escapes of ASCII characters, which sends the text down the
    full walk too); both checks run over the bytes at C speed.
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        msg = f"stored value is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})"
        raise SerdeError(msg) from exc
    if CLASSNAME.encode() not in text and _ASCII_ESCAPE.search(text) is None:
        return obj
    return deserialize(obj, allowed_classes=allowed_classes)


def _de(obj: Any, allowed: tuple[str, ...]) -> Any:
    kind = type(obj)
    if kind is list:
        return [v if type(v) in _PRIMITIVES else _de(v, allowed) for v in obj]
    if kind is not dict:
        return obj
    if CLASSNAME in obj and DATA in obj:
        return _de_envelope(str(obj[CLASSNAME]), obj[DATA], allowed)
    return {k: v if type(v) in _PRIMITIVES else _de(v, allowed) for k, v in obj.items()}


def _de_envelope(name: str, data: Any, allowed: tuple[str, ...]) -> Any:
    if name in ("builtins.tuple", "builtins.set", "builtins.frozenset"):
        items = [_de(v, allowed) for v in data]
        return {"builtins.tuple": tuple, "builtins.set": set, "builtins.frozenset": frozenset}[name](items)
    if name in ("datetime.datetime", "pendulum.datetime.DateTime"):
        tz = _de_timezone(data.get("tz"), allowed)
        return dt.datetime.fromtimestamp(float(data["timestamp"]), tz)
    if name in ("datetime.date", "pendulum.date.Date"):
        return dt.date.fromisoformat(data)
    if name == "datetime.timedelta":
        return dt.timedelta(seconds=float(data))
    if name == "decimal.Decimal":
        return decimal.Decimal(str(data))
    if name == "uuid.UUID":
        return uuid.UUID(str(data))
    return _de_dataclass(name, data, allowed)


def _de_timezone(tz: Any, allowed: tuple[str, ...]) -> dt.tzinfo | None:
    if tz is None:
        return None
    parts = _de(tz, allowed)
    ident = parts[0] if isinstance(parts, tuple | list) and parts else parts
    if ident == "UTC":
        return dt.UTC
    if isinstance(ident, int | float):
        return dt.timezone(dt.timedelta(seconds=ident))
    from zoneinfo import ZoneInfo

    return ZoneInfo(str(ident))


def _de_dataclass(name: str, data: Any, allowed: tuple[str, ...]) -> Any:
    if not any(fnmatch.fnmatchcase(name, p) for p in allowed):
        msg = (f"class {name!r} is not allowed for deserialization; add it (or a pattern) to "
               "StoreConfig.allowed_classes")
        raise SerdeError(msg)
    module, _, qual = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), qual)
    except (ImportError, AttributeError, ValueError) as exc:
        msg = f"class {name!r} cannot be imported ({exc}); is its module installed here?"
        raise SerdeError(msg) from exc
    if not dataclasses.is_dataclass(cls):
        msg = f"class {name!r} is not a dataclass; only dataclasses are rebuilt from envelopes"
        raise SerdeError(msg)
    fields = _de(data, allowed)
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: v for k, v in fields.items() if k in init})  # type: ignore[operator]
