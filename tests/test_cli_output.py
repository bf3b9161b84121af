"""The CLI's output for people and for programs, run as a user runs it (a subprocess).

Every command: lines fit 100 columns, no Python reprs or raw floats, plain text in a
pipe (no escape codes); ``--json`` validates against the committed JSON Schema; every
option's help states its default.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT

from xcomlab.cli import SCHEMA_VERSION, _parser

AF3 = ROOT / "data" / "samples" / "af3" / "airflow.db"
AF3_CSV = ROOT / "data" / "samples" / "af3" / "xcom_copy.csv"
AF2 = ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql"
SCHEMA = json.loads((ROOT / "xcomlab" / "data" / "cli_output.schema.json").read_text())

#: Each command with arguments that make it print every section it has.
COMMANDS: dict[str, list[str]] = {
    "profile": ["profile", str(AF3)],
    "audit": ["audit", str(AF2), "--policy", "10000"],
    "scan": ["scan", str(AF3)],
    "forecast": ["forecast", str(AF3), "--by-dag", "--ceiling", "5MB", "--ceiling", "20GB"],
    "retention": ["retention", str(AF3), "--max-age", "30", "--dag-max-age", "ads_sync=7"],
    "recommend": ["recommend", str(AF3), "--object-stores", "s3,gcs", "--latency-budget-ms", "50"],
}
#: What must not reach a person: reprs, dicts, raw floats, pandas' missing markers.
REPRS = re.compile(r"\w+Report\(|Profile\(|Forecast\(|MigrationAudit\(|\{'|<NA>|\bNone\b|\bNaN\b(?!/)|"
                   r"(?<![\w:$.])\d+\.\d{5,}|\d[eE][+-]\d\d|dtype:")
ANSI = re.compile(r"\x1b\[")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "xcomlab", *argv], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = {}
    report = tmp_path_factory.mktemp("rep") / "r.html"
    for name, argv in {**COMMANDS, "report": ["report", str(AF3), "-o", str(report)]}.items():
        proc = _run(*argv)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        out[name] = proc.stdout
    return out


@pytest.mark.parametrize("name", [*COMMANDS, "report"])
def test_text_fits_100_columns_without_reprs_or_escape_codes(texts: dict[str, str], name: str) -> None:
    text = texts[name]
    assert text.strip()
    wide = [line for line in text.splitlines() if len(line) > 100]
    assert not wide, f"{name}: {len(wide)} lines over 100 columns, e.g. {wide[0]!r}"
    assert not ANSI.search(text), f"{name}: escape codes in a pipe"
    found = REPRS.search(text)
    assert found is None, f"{name}: {found.group(0)!r} in {text[max(0, found.start() - 80):found.end() + 80]!r}"
    assert not any(line != line.rstrip() for line in text.splitlines()), f"{name}: trailing blanks"


def test_sizes_read_in_binary_units_with_separators(texts: dict[str, str]) -> None:
    assert "1.2 MiB of values (1,212,127 bytes)" in texts["profile"]
    assert re.search(r"ads_sync\s+1,220\s+252\.8 KiB", texts["profile"])
    assert "value_bytes" not in texts["profile"] and "share 0." not in texts["profile"]
    assert re.search(r"20GB\s+18\.6 GiB\s+not in 180", texts["forecast"])
    assert re.search(r"5MB\s+4\.8 MiB\s+\d+\s+20\d\d-\d\d-\d\d\s+\d+ to \d+", texts["forecast"])
    assert re.search(r"\d+\.\d KiB", texts["retention"]) and "$0.00" in texts["recommend"]
    assert re.search(r"wrote .*r\.html \(\d+\.\d KiB\)", texts["report"])


def test_explanations_are_wrapped_not_cut(texts: dict[str, str]) -> None:
    """audit's explanations are printed whole, over as many lines as they need."""
    words = " ".join(texts["audit"].split())
    for phrase in ("silent truncation otherwise", "(OverflowError in comms.py)",
                   "Airflow 3 cannot read them"):
        assert phrase in words, phrase
    assert not re.search(r"\w\.\.\.$", texts["audit"], re.M)  # pandas' "va..." cut marks


def test_commands_stay_copy_pasteable(texts: dict[str, str]) -> None:
    """A long ``airflow db clean`` command is split with shell continuations, not wrapped."""
    lines = texts["retention"].splitlines()
    start = lines.index("Equivalent command:") + 1
    cmd = []
    for line in lines[start:]:
        cmd.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    joined = " ".join(cmd)
    assert joined.startswith("airflow db clean --clean-before-timestamp '") and joined.endswith("--yes")
    assert "--exclude-dag-ids ads_sync" in joined


@pytest.mark.parametrize("name", [*COMMANDS, "report"])
def test_json_validates_against_the_schema(name: str, tmp_path: Path) -> None:
    argv = COMMANDS.get(name, ["report", str(AF3), "-o", str(tmp_path / "r.html")])
    proc = _run(*argv, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["command"] == name
    jsonschema.validate(doc, SCHEMA)


@pytest.mark.parametrize("source", [AF3_CSV, AF2])
def test_json_of_other_formats_validates(source: Path) -> None:
    for argv in (["profile", str(source)], ["scan", str(source)], ["audit", str(source)]):
        proc = _run(*argv, "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        jsonschema.validate(json.loads(proc.stdout), SCHEMA)


def test_the_schema_catches_a_broken_document() -> None:
    """The schema is not a rubber stamp: a renamed field or a wrong type fails."""
    good = {"schema_version": SCHEMA_VERSION, "command": "report", "path": "/tmp/r.html", "bytes": 10}
    jsonschema.validate(good, SCHEMA)
    for bad in ({**good, "bytes": "10"}, {k: v for k, v in good.items() if k != "path"},
                {**good, "schema_version": 0}, {**good, "command": "nope"},
                {"schema_version": SCHEMA_VERSION, "command": "scan", "rows_scanned": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_every_option_says_its_default() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    assert set(sub.choices) >= {*COMMANDS, "report"}
    for name, p in sub.choices.items():
        formatter = p._get_formatter()
        for action in p._actions:
            if not action.option_strings or action.dest in ("help",):
                continue
            text = formatter._expand_help(action) if action.help else ""
            assert text.strip(), f"{name} {action.option_strings[0]}: no help text"
            assert "default" in text.lower(), f"{name} {action.option_strings[0]}: {text!r} names no default"


def test_help_prints_defaults_within_the_width() -> None:
    proc = _run("forecast", "--help")
    assert proc.returncode == 0
    assert "(default: 180)" in proc.stdout and "(default: off)" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
