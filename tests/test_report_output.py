"""The report made for people: Markdown flavour, summary actions, round axes, readable charts,
pages that fit, the partial last day, labels that survive matplotlib; checked in Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from matplotlib.cbook import is_math_text
from matplotlib.figure import Figure

import xcomlab
from xcomlab import plots
from xcomlab.analysis.forecast import TOTAL, forecast
from xcomlab.analysis.profile import profile
from xcomlab.cli import main
from xcomlab.recommend import recommend
from xcomlab.report import render
from xcomlab.report_markdown import to_markdown
from xcomlab.synth import SynthConfig, generate, write

matplotlib.use("Agg")
AF3 = ROOT / "data" / "samples" / "af3" / "airflow.db"
AF2 = ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql"
REQUIRE_BROWSER = os.environ.get("XCOMLAB_REQUIRE_BROWSER") == "1"
_UNIT = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return xcomlab.load_export(AF3, keep_values=True)


@pytest.fixture(scope="module")
def html(frame: pd.DataFrame) -> str:
    return render(frame, source_name="airflow.db")


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"no section #{sid}"
    return m.group(1)


def _headings(page: str) -> list[tuple[int, str]]:
    return [(int(level), re.sub(r"<[^>]+>", "", text).replace("&amp;", "&"))
            for level, text in re.findall(r"<h([23])>(.*?)</h\1>", page)]


# --- Markdown ------------------------------------------------------------------------------

def test_markdown_has_the_same_sections_and_writes_the_figures(tmp_path: Path, html: str) -> None:
    out = tmp_path / "report.md"
    assert main(["report", str(AF3), "-o", str(out), "--no-timestamp"]) == 0
    md = out.read_text(encoding="utf-8")
    found = [(len(h), t.replace("\\", "")) for h, t in re.findall(r"^(#{2,3}) (.+)$", md, re.M)]
    assert found == _headings(html)  # same h2 and h3, same order
    assert md.startswith("# XCom capacity report: airflow.db")
    figures = sorted((tmp_path / "report_figures").glob("*.png"))
    assert len(figures) == html.count("data:image/png;base64,") == 6
    for fig in figures:
        assert f"](report_figures/{fig.name})" in md and fig.read_bytes()[:4] == b"\x89PNG"
    assert "| candidate | kind | USD/month |" in md and "|---|---|---:|" in md
    assert "```\nairflow db clean --clean-before-timestamp" in md
    assert "<script" not in md and "data:image" not in md


def test_markdown_without_figures_says_so(tmp_path: Path) -> None:
    out = tmp_path / "ticket.txt"
    assert main(["report", str(AF3), "-o", str(out), "--to", "md", "--no-figures"]) == 0
    md = out.read_text(encoding="utf-8")
    assert md.count("*(figure omitted: ") == 6 and not (tmp_path / "ticket_figures").exists()


def test_markdown_escapes_cells_and_keeps_code_verbatim() -> None:
    page = ("<section id=\"x\"><h2>T</h2><table><thead><tr><th>a_b</th><th class=\"num\">n</th></tr>"
            "</thead><tbody><tr><td>$x\\y$ | *z*</td><td class=\"num\">1</td></tr></tbody></table>"
            "<pre>a | `b` $c$</pre></section>")
    md, written = to_markdown(page)
    assert "| \\$x\\\\y\\$ \\| \\*z\\* | 1 |" in md and "|---|---:|" in md
    assert "```\na | `b` $c$\n```" in md and written == []


# --- summary: growth and actions -------------------------------------------------------------

def test_summary_states_growth_and_each_action_with_its_command(frame: pd.DataFrame, html: str) -> None:
    summary = _section(html, "summary")
    fc = forecast(frame)
    per_day = plots.format_bytes(fc.fit.loc[TOTAL, "level_bytes_per_day"])
    assert f"Growth: {per_day}/day written" in summary and "of today&#x27;s table per month" in summary
    assert re.search(r"\+\d+\.\d% of today", summary)
    actions = re.search(r'<div class="callout actions"><b>What to do</b><ol>(.*?)</ol></div>', summary, re.S)
    assert actions, "no action list"
    items = re.findall(r"<li><b>(.*?)</b>.*?<pre>(.*?)</pre></li>", actions.group(1), re.S)
    titles = [t for t, _ in items]
    assert titles[0].startswith("Rotate 7 leaked credential(s) in 4 DAG(s)")
    assert items[0][1].count("DELETE FROM ") == 7 and "ghp_…(40 chars)" in actions.group(1)
    assert "DELETE FROM _airflow_deleted__xcom__20260516030000 WHERE dag_id = " in items[0][1]
    assert titles[1].startswith("Clean up: remove rows older than 30 days frees ")
    assert items[1][1].startswith("airflow db clean --clean-before-timestamp")
    assert len(items) == 2  # the recommended backend is Airflow's default: no change to make


@pytest.mark.slow
def test_backend_change_and_migration_blockers_are_actions(tmp_path: Path) -> None:
    from xcomlab.recommend import candidates

    af2 = xcomlab.load_export(AF2)
    tiered = [c for c in candidates(af2) if c.backend != "db"]  # a change is then called for
    page = render(af2, source_name="xcom dump.sql", recommend_options={"candidates": tiered})
    summary = _section(page, "summary")
    assert "Change the XCom backend to " in summary and "AIRFLOW__CORE__XCOM_BACKEND=" in summary
    assert "Before the Airflow 2 → 3 upgrade to 3.3.2 (data loss)" in summary
    assert "56 pickled row(s) in ads_export" in summary
    assert "xcomlab audit &#x27;xcom dump.sql&#x27; --target 3.3.2" in summary
    assert "AIRFLOW__CORE__ENABLE_XCOM_PICKLING=False" in summary


def test_delete_commands_quote_hostile_ids(frame: pd.DataFrame) -> None:
    from xcomlab.report_actions import _sql

    assert _sql("x'; DROP TABLE xcom; --", "postgresql") == "'x''; DROP TABLE xcom; --'"
    assert _sql("a\\'b", "mysql") == "'a\\\\''b'"  # MySQL reads a backslash as an escape


# --- axes at round values ---------------------------------------------------------------------

def _round(v: float) -> bool:
    """v is 1, 2 or 5 × 10^k."""
    if v <= 0:
        return False
    k = np.floor(np.log10(v) + 1e-9)
    return any(np.isclose(v, m * 10.0**k, rtol=1e-9) for m in (1, 2, 5, 10))


def _check_axis(axis: object, kind: str) -> list[str]:
    """Every visible major tick sits at a round value of the unit its label names."""
    lo, hi = sorted(axis.get_view_interval())  # type: ignore[attr-defined]
    locs = [v for v in axis.get_majorticklocs() if lo - 1e-9 * abs(hi) <= v <= hi + 1e-9 * abs(hi)]  # type: ignore[attr-defined]
    labels = [t.get_text() for t in axis.get_majorticklabels()]  # type: ignore[attr-defined]
    assert len(locs) >= 2, f"{kind}: fewer than two ticks in view ({locs})"
    if kind == "linear-bytes":
        steps = np.diff(locs)
        assert np.allclose(steps, steps[0])
    for v, label in zip(axis.get_majorticklocs(), labels, strict=True):  # type: ignore[attr-defined]
        if not lo <= v <= hi or label == "":
            continue
        if kind.endswith("bytes"):
            m = re.fullmatch(r"([\d,.]+) (B|KiB|MiB|GiB|TiB)|0", label)
            assert m, f"label {label!r}"
            if label != "0":
                shown = float(m.group(1).replace(",", ""))
                assert np.isclose(shown * _UNIT[m.group(2)], v, rtol=1e-6), (label, v)
                if kind == "log-bytes":
                    assert _round(shown), label
        elif kind == "log":
            assert _round(v), (label, v)
    if kind == "linear-bytes":
        unit = {re.sub(r"[\d,. ]", "", t) for t in labels if t not in ("", "0")}
        assert len(unit) == 1, f"one unit per axis, got {unit}"
        step = (locs[1] - locs[0]) / _UNIT[unit.pop()]
        assert _round(step), f"step {step}"
    return labels


def _drawn(ax: object) -> None:
    ax.figure.canvas.draw()  # type: ignore[attr-defined]


def test_every_plot_ticks_round_values(frame: pd.DataFrame) -> None:
    p = profile(frame)
    ax = plots.size_hist(p.sizes, ax=Figure().subplots())
    _drawn(ax)
    _check_axis(ax.xaxis, "log-bytes")
    _check_axis(ax.yaxis, "log")
    ax = plots.size_cdf(p.sizes, ax=Figure().subplots())
    _drawn(ax)
    _check_axis(ax.xaxis, "log-bytes")
    assert [t.get_text() for t in ax.yaxis.get_majorticklabels()][:2] == ["0%", "20%"]
    ax = plots.daily(p.daily, ax=Figure().subplots())
    _drawn(ax)
    _check_axis(ax.yaxis, "linear-bytes")
    ax = plots.top_bar(p.by_dag, ax=Figure().subplots())
    _drawn(ax)
    _check_axis(ax.xaxis, "linear-bytes")
    fc = forecast(frame, disk_ratio=3.57)
    ax = plots.forecast(fc, ax=Figure(figsize=(11, 3.6)).subplots(), ceilings={"20 MB": 2e7})
    _drawn(ax)
    labels = _check_axis(ax.yaxis, "linear-bytes")
    assert all(t.endswith(" MiB") or t == "0" for t in labels if t)  # not 1.9, 3.8, 5.7 MiB
    assert "20 MB = 19.1 MiB" in [t.get_text() for t in ax.texts]  # the budget, both units
    rec = recommend(frame)
    ax_cost, ax_lat = plots.candidates(rec.table, rec.best.name, axes=Figure().subplots(1, 2, sharey=True))
    _drawn(ax_cost)
    _check_axis(ax_cost.xaxis, "log")
    _check_axis(ax_lat.xaxis, "log")
    assert next(t.get_text() for t in ax_cost.xaxis.get_majorticklabels() if t.get_text()).startswith("\\$")


@pytest.mark.parametrize("vmax", [900.0, 5e3, 3.9e6, 4.7e6, 1.2e9, 7.3e11])
def test_byte_locator_steps_are_round_in_one_unit(vmax: float) -> None:
    ax = Figure().subplots()
    ax.bar([0, 1], [vmax / 3, vmax])
    plots._bytes_axis(ax.yaxis)
    _drawn(ax)
    _check_axis(ax.yaxis, "linear-bytes")


# --- the cost/latency chart -------------------------------------------------------------------

def test_candidates_chart_labels_every_candidate(frame: pd.DataFrame) -> None:
    rec = recommend(frame)
    t = rec.table
    assert len(t) == 17
    ax_cost, ax_lat = plots.candidates(t, rec.best.name, axes=Figure(figsize=(11, 6)).subplots(1, 2, sharey=True))
    _drawn(ax_cost)
    names = [x.get_text() for x in ax_cost.get_yticklabels()]
    assert sorted(names) == sorted(map(str, t.index))  # one row per candidate, none merged
    assert len(ax_cost.texts) == len(t) and len(ax_lat.texts) == len(t)  # every point's value
    best = next(x for x in ax_cost.get_yticklabels() if x.get_text() == rec.best.name)
    assert best.get_fontweight() == "bold" and best.get_color() == "crimson"
    costs = t.loc[names[::-1], "monthly_cost_usd"].to_numpy()  # top row first
    assert (np.diff(costs) >= 0).all()  # ranked: cheapest on top
    legend = [x.get_text() for x in ax_lat.get_legend().get_texts()]
    assert legend == ["Pareto front", "dominated", f"recommended: {rec.best.name}"]


# --- hostile labels, partial day --------------------------------------------------------------

def test_a_dollar_backslash_dag_id_renders(frame: pd.DataFrame) -> None:
    odd = "$x\\y$"
    f = frame.copy()
    f["dag_id"] = f["dag_id"].astype(str).replace({"ads_sync": odd}).astype("category")
    page = render(f, source_name="odd")
    assert "$x\\y$" in _section(page, "profile")
    ax = plots.top_bar(profile(f).by_dag, ax=Figure().subplots())
    _drawn(ax)
    label = next(t for t in ax.get_yticklabels() if "x\\y" in t.get_text())
    assert not is_math_text(label.get_text()) and label.get_text().replace("\\$", "$") == odd
    md, _ = to_markdown(page)
    assert "\\$x\\\\y\\$" in md


def test_the_partial_last_day_is_marked_and_not_read_as_a_drop(tmp_path: Path) -> None:
    dest = tmp_path / "g.db"
    write(generate(SynthConfig(seed=5, dags=3, days=40, offenders=0, secrets=0)), "sqlite", dest)
    full = xcomlab.load_export(dest)
    last_day = full["timestamp"].max().floor("D")
    cut = full[full["timestamp"] < last_day - pd.Timedelta(days=1) + pd.Timedelta(hours=2)]
    before = full[full["timestamp"] < last_day - pd.Timedelta(days=1)]
    level = {name: float(forecast(f).fit.loc[TOTAL, "level_bytes_per_day"])
             for name, f in (("cut", cut), ("before", before))}
    assert level["cut"] >= 0.8 * level["before"]  # two hours of a day do not halve the rate
    p = profile(cut)
    ax = plots.daily(p.daily, ax=Figure().subplots(), last_timestamp=cut["timestamp"].max())
    assert len(ax.lines[0].get_xdata()) == len(p.daily) - 1  # the per-day line stops before it
    assert any(t.get_text().startswith("partial (to ") for t in ax.texts)
    assert any(line.get_label().startswith("partial day") for line in ax.lines)
    page = render(cut)
    assert "is partial" in _section(page, "forecast") and "partial last day" in _section(page, "summary")


# --- a real browser ---------------------------------------------------------------------------

@pytest.mark.slow
def test_no_horizontal_scroll_in_chromium(tmp_path: Path) -> None:
    from test_report import _chromium

    exe = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        if REQUIRE_BROWSER:
            pytest.fail("XCOMLAB_REQUIRE_BROWSER=1 but no chromium or playwright")
        pytest.skip("chromium or playwright not installed")
    page_path = tmp_path / "report.html"
    assert main(["report", str(AF3), "-o", str(page_path), "--no-timestamp"]) == 0
    probe = """() => {
      const d = document.documentElement;
      const over = [...document.querySelectorAll('section, .scroll, table, pre, .card, img')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible'
                     || e.getBoundingClientRect().right > d.clientWidth + 1)
        .map(e => `${e.closest('section')?.id}:${e.tagName}.${e.className}`);
      return {scroll: d.scrollWidth - d.clientWidth, over,
              summary: document.querySelector('#summary').innerText};
    }"""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in (1400, 1000):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_path.as_uri())
                seen = page.evaluate(probe)
                assert seen["scroll"] <= 0 and seen["over"] == [], (width, seen)
                assert "What to do" in seen["summary"] and "DELETE FROM xcom" in seen["summary"]
                assert "/day written" in seen["summary"]
                page.close()
        finally:
            browser.close()
