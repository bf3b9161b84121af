"""``xcomlab profile --summary``: the streamed summary's per-DAG figures against the frame path."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT

import xcomlab
from xcomlab.cli import main
from xcomlab.summary import QUANTILE_RELATIVE_ERROR

SCHEMA = json.loads((ROOT / "xcomlab" / "data" / "cli_output.schema.json").read_text())
SAMPLES = [ROOT / "data/samples/af3/airflow.db", ROOT / "data/samples/af3/xcom_copy.csv",
           ROOT / "data/samples/af2/xcom_pgdump.sql"]


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_profile_summary_matches_the_frame_path(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _json(capsys, "profile", str(path), "--summary", "--json")
    jsonschema.validate(got, SCHEMA)
    want = _json(capsys, "profile", str(path), "--json")
    assert "shape" not in want  # the default output is unchanged
    assert got["shape"] == "summary" and got["quantile_relative_error"] == QUANTILE_RELATIVE_ERROR
    assert (got["rows"], got["value_bytes"]) == (want["rows"], want["value_bytes"])
    assert got["tables"] == want["tables"]
    assert {d: (v["rows"], v["value_bytes"]) for d, v in got["by_dag"].items()} == \
        {d: (v["rows"], v["value_bytes"]) for d, v in want["by_dag"].items()}
    assert list(got["by_dag"]) == list(want["by_dag"])  # largest first, same order
    exact = xcomlab.profile(xcomlab.load_export(path)).by_dag
    for dag, row in exact.iterrows():
        mine = got["by_dag"][str(dag)]
        assert mine["max_bytes"] == row["max_bytes"]
        for col in ("p50_bytes", "p90_bytes", "p99_bytes"):
            assert abs(mine[col] - row[col]) / row[col] <= QUANTILE_RELATIVE_ERROR + 1e-12
    for target, rows in got["rows_over"].items():
        assert rows == want["limit_violations"][target]


def test_profile_summary_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", str(SAMPLES[1]), "--summary", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "8,854 live rows" in out and "streamed summary" in out and "ads_sync" in out
    assert "marketing_export" not in out  # --top 3


def test_the_schema_tells_the_two_profile_shapes_apart(capsys: pytest.CaptureFixture[str]) -> None:
    got = _json(capsys, "profile", str(SAMPLES[2]), "--summary", "--json")
    for bad in ({**got, "rows": -1}, {k: v for k, v in got.items() if k != "by_dag"},
                {**got, "shape": "frame"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)
