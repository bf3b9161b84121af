"""Proposed tests/backend/test_fastpaths.py (bperf): serde fast paths and zstd level knobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from xcomlab.backend import serde
from xcomlab.backend.codecs import Codec, CodecError, decompress


@dataclasses.dataclass
class _Point:
    x: int


PLAIN = [None, 1, "s", [], {}, {"a": [1, 2.5, None, True, {"b": "c"}]}, [[[{"k": []}]]]]
NOT_PLAIN = [(1,), [1, (2,)], {"a": {1, 2}}, {1: "int key"}, {"__classname__": 1},
             {"x": {"__id__": 1}}, [dt.date(2020, 1, 1)], {"p": _Point(1)}, b"bytes"]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_values_are_their_own_serde_form(value: object) -> None:
    assert serde.is_plain(value)
    assert serde.serialize(value) == value
    assert serde.deserialize(json.loads(json.dumps(value))) == value


@pytest.mark.parametrize("value", NOT_PLAIN)
def test_non_plain_values_take_the_full_walk(value: object) -> None:
    assert not serde.is_plain(value)


def test_fast_path_keeps_depth_and_cycle_errors() -> None:
    deep: list[object] = []
    inner = deep
    for _ in range(150):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    with pytest.raises(serde.SerdeError, match="deeper"):
        serde.serialize(deep)
    cyc: list[object] = []
    cyc.append(cyc)
    with pytest.raises(serde.SerdeError):
        serde.serialize(cyc)


def test_deserialize_json_rebuilds_envelopes_even_when_escaped() -> None:
    text = json.dumps(serde.serialize({"t": (1, 2)})).encode()
    assert serde.deserialize_json(text) == {"t": (1, 2)}
    escaped = text.replace(b"__classname__", b"__\\u0063lassname__")
    assert serde.deserialize_json(escaped) == {"t": (1, 2)}
    assert serde.deserialize_json(b'[{"a": "\\u00e9"}]') == [{"a": "\u00e9"}]


@pytest.mark.parametrize(("level", "threads"), [(None, 0), (None, 2), (3, 0), (10, -1)])
def test_zstd_levels_and_threads_round_trip(level: int | None, threads: int) -> None:
    data = json.dumps([{"id": i, "note": f"n{i % 97}"} for i in range(300_000)]).encode()
    codec = Codec(zstd_level=level, zstd_threads=threads)
    assert decompress("zstd", codec.compress(data), len(data)) == data


@pytest.mark.parametrize("kw", [{"zstd_level": 0}, {"zstd_level": 23}, {"zstd_threads": -2}])
def test_bad_zstd_settings_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(CodecError):
        Codec(**kw)  # type: ignore[arg-type]
