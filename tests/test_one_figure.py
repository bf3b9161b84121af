"""One figure per question (docs/figures.md): the API, the CLI, the report and the capacity
notebook print the same number, with the same label, for the same question, on the bundled samples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

import xcomlab
from xcomlab.analysis import disk_ratio, estimate_disk, on_disk_bytes
from xcomlab.analysis.disk import DIALECTS
from xcomlab.plots import format_bytes
from xcomlab.report import write_report
from xcomlab.summary import summarize_source

SAMPLES = {"af3": ROOT / "data" / "samples" / "af3" / "airflow.db",
           "af2": ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql"}


@cache
def _frame(name: str) -> Any:
    return xcomlab.load_export(SAMPLES[name])


@cache
def _summary(name: str) -> dict[str, Any]:
    return xcomlab.summarize(_frame(name))


def _cli(*argv: str) -> str:
    """Run the CLI as a user does: a separate process, this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", "import sys; from xcomlab.cli import main; sys.exit(main())",
                           *argv], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@cache
def _report_text(name: str, tmp: str) -> str:
    path = write_report(SAMPLES[name], Path(tmp) / f"{name}.html")
    html = re.sub(r"data:image/png;base64,[^\"]+", "", path.read_text(encoding="utf-8"))
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_api_functions_agree(name: str) -> None:
    frame, s = _frame(name), _summary(name)
    live, every = on_disk_bytes(frame), on_disk_bytes(frame, tables="all")
    assert live == s["on_disk_bytes"] and every == s["on_disk_bytes_all_tables"]
    for d in DIALECTS:
        est, est_all = estimate_disk(frame, d), estimate_disk(frame, d, tables="all")
        assert est.total_bytes == live[d] and est_all.total_bytes == every[d]
        assert est.logical_bytes == s["value_bytes"]
        assert disk_ratio(frame, d) == est.ratio == s["disk_ratio"][d]
        # tables modelled apart: archives add to the live table, never take away
        assert est.by_table == {"xcom": live[d]}
        assert sum(est_all.by_table.values()) == every[d]
        assert est_all.by_table["xcom"] == live[d]
        assert every[d] >= live[d]
        assert set(est_all.by_table) == set(s["tables"])
    assert s["on_disk_scope"]["on_disk_bytes"] == "xcom table"


def test_archives_are_counted_apart_on_the_af3_sample() -> None:
    """The sample has two archive tables: "all tables" is strictly larger, in every dialect (the
    MySQL estimate used to shrink when archive rows were added to the live table's pages)."""
    s = _summary("af3")
    assert all(s["on_disk_bytes_all_tables"][d] > s["on_disk_bytes"][d] for d in DIALECTS)
    assert s["on_disk_scope"]["on_disk_bytes_all_tables"] == "all XCom tables (xcom + 2 archive)"
    est = estimate_disk(_frame("af3"), "mysql", tables="all")
    assert est.by_table["_xcom_archive"] > 0 and est.scope.startswith("all XCom tables")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cli_prints_the_api_figures(name: str) -> None:
    """The CLI streams a summary (issue 13): it prints what the API gives for that summary, and
    the summary's figures are the frame's — exactly for rows and bytes, within the on-disk
    model's stated group approximation (≤ 1 %, docs/figures.md#summary) for on-disk sizes."""
    from xcomlab.summary import summarize_source

    src = str(SAMPLES[name])
    s, per_row = xcomlab.summarize(summarize_source(src)), _summary(name)
    assert (s["rows"], s["value_bytes"]) == (per_row["rows"], per_row["value_bytes"])
    for key in ("on_disk_bytes", "on_disk_bytes_all_tables"):
        for d in DIALECTS:
            assert s[key][d] == pytest.approx(per_row[key][d], rel=0.01), (key, d)
    out = json.loads(_cli("profile", src, "--json"))
    for key in ("rows", "value_bytes", "on_disk_bytes", "on_disk_bytes_all_tables", "on_disk_scope"):
        assert out[key] == s[key], key
    assert out["disk_ratio"] == pytest.approx(s["disk_ratio"], rel=1e-12)
    text = _cli("profile", src)
    sizes = ", ".join(f"{d} {format_bytes(s['on_disk_bytes'][d])}" for d in DIALECTS)  # exact in --json
    assert f"On disk, modelled (xcom table): {sizes}" in text
    for d in ("postgresql", "mysql"):
        fc = json.loads(_cli("forecast", src, "--json", "--dialect", d))
        assert fc["disk_ratio"] == pytest.approx(s["disk_ratio"][d], rel=1e-12)
        assert fc["current_bytes"] == s["value_bytes"]
    here = s["deployment"]["dialect"]  # the dialect the source says (sqlite for af3, postgresql for af2)
    ret = json.loads(_cli("retention", src, "--json", "--max-age", "30"))
    assert ret["disk_ratio"] == pytest.approx(s["disk_ratio"][here], rel=1e-12)
    assert ret["disk_ratio_source"] == f"{here} on-disk model, xcom table"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_report_prints_the_api_figures(name: str, tmp_path: Path) -> None:
    # the report streams its source into a summary (pushed down for airflow.db): its figures
    s = xcomlab.summarize(summarize_source(SAMPLES[name]))
    text = " ".join(_report_text(name, str(tmp_path)).split())
    ratio = s["disk_ratio"][s["deployment"]["dialect"]]  # the inferred dialect's, as the CLI uses
    for d in DIALECTS:
        card = (f"{d} on disk (xcom table) {format_bytes(s['on_disk_bytes'][d])} modelled, "
                f"×{s['disk_ratio'][d]:.2f}; all tables {format_bytes(s['on_disk_bytes_all_tables'][d])}")
        assert card in text, card
    assert f"{s['rows']:,} live XComs" in text
    assert f"on-disk ratio {ratio:.2f}" in text  # the retention what-if
    assert f"(xcom table) ×{ratio:.2f} = {format_bytes(s['value_bytes'] * ratio)}" in text  # the forecast


def test_the_capacity_notebook_prints_the_api_figures() -> None:
    """The committed outputs of notebooks/capacity_planning.ipynb show today's figures."""
    nb = json.loads((ROOT / "notebooks" / "capacity_planning.ipynb").read_text(encoding="utf-8"))
    outputs = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    s = _summary("af3")
    pg, pg_all = s["on_disk_bytes"]["postgresql"], s["on_disk_bytes_all_tables"]["postgresql"]
    assert f"{pg:,} B on disk (xcom table)" in outputs
    assert f"all XCom tables (xcom + 2 archive): postgresql {pg_all:,} B" in outputs
