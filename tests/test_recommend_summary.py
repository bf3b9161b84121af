"""recommend/evaluate/candidates on a summary against the frame path, and the report from both."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import xcomlab
from xcomlab.analysis import disk
from xcomlab.recommend import candidates, evaluate, recommend
from xcomlab.report import write_report
from xcomlab.summary import summarize_file, summarize_frame

SAMPLES = [ROOT / "data/samples/af3/xcom_copy.csv", ROOT / "data/samples/af2/xcom_pgdump.sql"]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_recommend_on_a_summary_agrees_with_the_frame(path: Path) -> None:
    frame = xcomlab.load_export(path)
    a, b = recommend(frame), recommend(summarize_file(path))
    assert b.best.name == a.best.name
    assert list(b.table.index) == list(a.table.index)  # same candidates, in order
    t, u = a.table, b.table
    # untiered candidates: every row stays in the DB; the group model is within 2 % on disk
    for name in ("db", "db+zstd"):
        assert int(u.loc[name, "violations"]) == int(t.loc[name, "violations"])  # type: ignore[arg-type]
        assert u.loc[name, "peak_db_bytes"] == pytest.approx(t.loc[name, "peak_db_bytes"], rel=0.02)
        assert u.loc[name, "monthly_cost_usd"] == pytest.approx(t.loc[name, "monthly_cost_usd"], rel=0.02)
    # fixed thresholds (48 KB, 1 MiB) and object-only: offloaded shares within one bucket's rows
    fixed = [n for n in t.index if not re.search(r"@p\d", str(n)) and t.loc[n, "kind"] != "db"]
    np.testing.assert_allclose(u.loc[fixed, "offloaded_share"], t.loc[fixed, "offloaded_share"], atol=0.01)
    # quantile thresholds come from the buckets (≈ 2 %): ties at the cut move more rows
    q = [n for n in t.index if re.search(r"@p\d", str(n))]
    np.testing.assert_allclose(u.loc[q, "offloaded_share"], t.loc[q, "offloaded_share"], atol=0.03)


def test_candidates_of_a_summary_are_the_frame_quantiles_within_a_bucket() -> None:
    frame = xcomlab.load_export(SAMPLES[0])
    a = {c.name: c.threshold_bytes for c in candidates(frame)}
    b = {c.name: c.threshold_bytes for c in candidates(summarize_frame(frame))}
    assert a.keys() == b.keys()
    for name, cut in a.items():
        assert b[name] == pytest.approx(cut, rel=0.04, abs=1)


def test_groups_split_at_a_cut_keep_rows_and_bytes() -> None:
    groups = disk.sized_groups(summarize_frame(xcomlab.load_export(SAMPLES[0])))
    cut = int(np.median(groups.value)) + 1
    split = groups.split([cut, 49_344])
    assert split.weight.sum() == pytest.approx(groups.weight.sum())
    assert (split.value * split.weight).sum() == pytest.approx((groups.value * groups.weight).sum(), rel=0.01)
    assert len(split.value) > len(groups.value)


def test_evaluate_on_a_summary_without_values_uses_defaults() -> None:
    whole = replace(summarize_frame(xcomlab.load_export(SAMPLES[1])), sample=None)
    table = evaluate(whole, dialect="postgresql")
    assert table["pareto"].any() and (table["offloaded_share"].between(0, 1)).all()
    assert any("default" in n and n.startswith("zstd") for n in table.attrs["notes"])
    measured = evaluate(summarize_frame(xcomlab.load_export(SAMPLES[1])), dialect="postgresql")
    assert any("value sample" in n or "sampled" in n or "measured" in n for n in measured.attrs["notes"])


_HEADLINES = (r'class="value">([^<]*)<', r'<p class="sub">([^<]*)<', r"<b>Recommended: ([^<]*)</b>")


@pytest.mark.slow
def test_report_from_a_summary_agrees_with_the_frame_report(tmp_path: Path) -> None:
    """Every headline (cards, subtitle, key findings, recommendation) is the same, except the
    on-disk growth per day, which the group model gives within 1 %."""
    path = SAMPLES[0]
    a = write_report(path, tmp_path / "a.html", frame=True).read_text(encoding="utf-8")
    b = write_report(path, tmp_path / "b.html").read_text(encoding="utf-8")
    for pattern in _HEADLINES:
        assert re.findall(pattern, a) == re.findall(pattern, b), pattern
    key = re.compile(r"Key findings</b><ul>(.*?)</ul>", re.S)
    fa, fb = (re.findall(r"<li>(.*?)</li>", key.search(h).group(1)) for h in (a, b))  # type: ignore[union-attr]
    assert fa[1:] == fb[1:]
    on_disk = re.compile(r"\(([\d.]+) KiB/day on disk")
    assert float(on_disk.search(fb[0]).group(1)) == pytest.approx(  # type: ignore[union-attr]
        float(on_disk.search(fa[0]).group(1)), rel=0.01)  # type: ignore[union-attr]
    assert on_disk.sub("", fa[0]) == on_disk.sub("", fb[0])


def test_report_reads_a_saved_summary(tmp_path: Path) -> None:
    path = SAMPLES[1]
    saved = summarize_file(path).save(tmp_path / "af2.xsum")
    a = write_report(path, tmp_path / "a.html").read_text(encoding="utf-8")
    b = write_report(saved, tmp_path / "b.html").read_text(encoding="utf-8")
    for pattern in _HEADLINES:
        assert re.findall(pattern, a) == re.findall(pattern, b), pattern


def test_cli_recommend_streams_a_summary_and_frame_keeps_the_old_path(capsys: pytest.CaptureFixture[str]) -> None:
    from xcomlab.cli import main

    picks = []
    for extra in ([], ["--frame"]):
        assert main(["recommend", str(SAMPLES[1]), "--json", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        picks.append((out["best"], [c["name"] for c in out["candidates"]]))
    assert picks[0] == picks[1]
