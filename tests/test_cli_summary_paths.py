"""The commands that stream SOURCE into a summary print what the whole-frame path
(``--frame``) prints: every field the same, but the on-disk figures (within
:data:`DISK_BOUND`, the model over size buckets), the size quantiles of the text tables
(within the stated bound) and a retention's steady state (groups straddling its window)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xcomlab.cli import main
from xcomlab.summary import QUANTILE_RELATIVE_ERROR

ROOT = Path(__file__).resolve().parents[1]
AF3 = str(ROOT / "data/samples/af3/airflow.db")
AF2 = str(ROOT / "data/samples/af2/xcom_pgdump.sql")
ARCHIVED = str(ROOT / "data/samples/af2/export_archived")
DISK_BOUND = 0.01
#: JSON fields computed from the on-disk model (or a retention's steady state), compared
#: within a bound instead of exactly.
_NEAR = re.compile(r"on_disk|disk_ratio|steady_state|bytes_per_day")


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def _same(a: object, b: object, path: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif _NEAR.search(path) and isinstance(a, int | float) and isinstance(b, int | float):
        bound = 0.05 if "steady_state" in path or "bytes_per_day" in path else DISK_BOUND
        assert abs(a - b) <= bound * max(abs(a), abs(b), 1), (path, a, b)
    else:
        assert a == b, (path, a, b)


JSON_COMMANDS = [
    ["profile", AF3], ["profile", AF2],
    ["audit", AF3], ["audit", AF2, "--all-tables"], ["audit", AF3, "--policy", "2048"],
    ["scan", AF3], ["scan", AF2],
    ["forecast", AF2, "--by-dag", "--max-age", "5"],
    ["retention", AF3, "--max-age", "3"], ["retention", AF2, "--keep-last", "4", "--drop-internal"],
]


def test_audit_json_matches_the_frame_path(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["audit", AF2, "--json"]
    _same(json.loads(_run(capsys, [*argv, "--frame"])), json.loads(_run(capsys, argv)))


@pytest.mark.slow
@pytest.mark.parametrize("argv", JSON_COMMANDS, ids=lambda a: "-".join(Path(x).name for x in a))
def test_json_output_matches_the_frame_path(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    streamed = json.loads(_run(capsys, [*argv, "--json"]))
    whole = json.loads(_run(capsys, [*argv, "--json", "--frame"]))
    _same(whole, streamed)


_NUMBER = re.compile(r"[0-9][0-9,.]*(?: [KMGT]?i?B| B)?")


def _fuzzy_line(a: str, b: str) -> bool:
    """Lines equal once numbers are compared within the quantile bound (sizes print
    rounded, so one unit of the last digit on top)."""
    na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b) or len(na) != len(nb):
        return False
    for x, y in zip(na, nb, strict=True):
        fx, fy = (float(v.split()[0].replace(",", "")) for v in (x, y))
        if abs(fx - fy) > QUANTILE_RELATIVE_ERROR * 1.5 * max(fx, fy) + 3:
            return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["profile", AF3], ["audit", AF3], ["scan", AF2],
                                  ["forecast", ARCHIVED], ["retention", AF2, "--keep-last", "3"]],
                         ids=lambda a: "-".join(Path(x).name for x in a))
def test_text_output_matches_the_frame_path(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    streamed = _run(capsys, argv).splitlines()
    whole = _run(capsys, [*argv, "--frame"]).splitlines()
    assert len(streamed) == len(whole)
    differ = [(a, b) for a, b in zip(whole, streamed, strict=True) if a != b]
    assert all(_fuzzy_line(a, b) for a, b in differ), differ
