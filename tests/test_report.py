"""The HTML report: sections, masking, self-containment, the CLI, and a real headless browser."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

import xcomlab
from xcomlab.analysis.retention import RetentionPolicy
from xcomlab.analysis.secrets import _RULES, _looks_secret, _named_strings, _secret_name
from xcomlab.cli import main
from xcomlab.report import SECTIONS, render, write_report
from xcomlab.synth import SynthConfig, generate, write

AF3 = ROOT / "data" / "samples" / "af3" / "airflow.db"
ARTIFACTS = ROOT / "test-artifacts"  # gitignored
# Read at import: the autouse _clean_environ fixture drops XCOMLAB_* variables inside tests.
REQUIRE_BROWSER = os.environ.get("XCOMLAB_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The bundled Airflow 3.3 sample with its values kept: a leak would be possible."""
    return xcomlab.load_export(AF3, keep_values=True)


@pytest.fixture(scope="module")
def html(frame: pd.DataFrame) -> str:
    return render(frame, source_name="airflow.db")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"no section #{sid}"
    return m.group(1)


def test_every_section_is_there_in_order(html: str) -> None:
    found = re.findall(r'<section id="([a-z]+)"><h2>', html)
    assert found == list(SECTIONS)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_summary_matches_the_sample_truth(html: str) -> None:
    truth = json.loads((AF3.parent / "truth.json").read_text())
    summary = _section(html, "summary")
    assert f"{truth['rows']:,}" in summary
    assert f"{truth['value_bytes']:,} B" in summary
    for dialect in ("postgresql", "mysql", "sqlite"):
        assert f"{dialect} on disk" in summary
    for table, v in truth["tables"].items():
        assert table in summary and f"{v['rows']:,}" in summary
    # an airflow.db is SQLite: MySQL's 64 KiB BLOB limit is not the headline, only "if you moved"
    assert "Key findings" in summary and "Hard limits on sqlite (sqlite file), Airflow 3.3" in summary
    assert "If you moved to mysql (Airflow &lt;=2.8): 2 row(s) would be over mysql_blob" in summary
    assert "Secrets: 7 XCom(s)" in summary and "Backend: " in summary


def test_profile_audit_forecast_retention_content(html: str) -> None:
    profile = _section(html, "profile")
    assert "ads_sync" in profile and profile.count("data:image/png;base64,") == 4
    audit = _section(html, "audit")
    assert "mysql_blob" in audit and "not applicable" in audit  # already an Airflow 3 schema
    forecast = _section(html, "forecast")
    assert "20 GB" in forecast and "50 GiB" in forecast and "history is short" not in forecast
    retention = _section(html, "retention")
    assert "older than 30 days" in retention and "airflow db clean" in retention
    backends = _section(html, "backends")
    assert "Recommended: " in backends and "Pareto front" in backends and "USD/month" in backends


def _raw_secrets(frame: pd.DataFrame) -> list[str]:
    """The clear-text credentials in the sample, found independently of the report."""
    raw: list[str] = []
    for key, value in zip(frame["key"], frame["value"], strict=True):
        if value is None:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        for kind, rule in _RULES.items():
            for m in rule.finditer(text):
                if kind == "private_key":  # the key body, not its public header
                    body = text[m.end():m.end() + 200].replace("\\n", "\n").strip().splitlines()
                    raw += [line for line in body[:2] if len(line) >= 16]
                else:
                    raw.append(m.group(1) if kind == "url_password" else m.group(0))
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        raw += [v for name, v in _named_strings(obj, str(key)) if _secret_name(name) and _looks_secret(v)]
    return raw


def test_secrets_are_masked_never_raw(frame: pd.DataFrame, html: str) -> None:
    raw = _raw_secrets(frame)
    assert len(raw) >= 7 and all(len(s) >= 8 for s in raw)
    for secret in raw:
        assert secret not in html, f"raw secret {secret[:4]}… is in the report"
    section = _section(html, "secrets")
    assert "7 of" in section
    assert "ghp_…(40 chars)" in section and "AKIA…(20 chars)" in section


def test_self_contained(html: str) -> None:
    low = html.lower()
    assert "<script" not in low and "<link" not in low and "@import" not in low
    assert not re.search(r'\b(src|href)="(?!data:|#)', html)  # only data: URIs and anchors
    assert "url(" not in low
    outside_method = html.replace(_section(html, "method"), "")
    assert "http://" not in outside_method and "https://" not in outside_method
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 6
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)


@pytest.mark.slow
def test_render_is_deterministic_and_stamps_only_when_asked(frame: pd.DataFrame, html: str) -> None:
    stamped = render(frame, source_name="airflow.db", now=pd.Timestamp("2026-11-25T10:00Z").to_pydatetime())
    assert "generated 2026-11-25 10:00 UTC" in stamped and not re.search(r"generated \d{4}-", html)
    # a second render, charts and sampled latencies included, differs by the stamp alone
    assert stamped.replace("generated 2026-11-25 10:00 UTC", "no generation time recorded") == html


@pytest.mark.slow
def test_options_reach_the_sections(frame: pd.DataFrame) -> None:
    page = render(frame.drop(columns=["value"]), dialect="mysql", title="Ops <review>",
                  retention_policy=RetentionPolicy(keep_last_runs=3), ceilings={"tiny": 1e6})
    assert "<title>Ops &lt;review&gt;</title>" in page
    assert "keep the last 3 runs per DAG" in _section(page, "retention")
    assert "already over" in _section(page, "forecast")  # 1 MB is below today's on-disk size
    assert "Values were not scanned" in _section(page, "secrets")
    assert "Storage constants (mysql)" in _section(page, "method")


@pytest.mark.slow
def test_a_short_history_is_called_short(tmp_path: Path) -> None:
    dest = tmp_path / "short.db"
    write(generate(SynthConfig(seed=3, dags=3, days=10, offenders=0, secrets=1)), "sqlite", dest)
    page = render(xcomlab.load_export(dest))
    assert "The history is short" in _section(page, "forecast")


@pytest.mark.slow
def test_an_airflow_2_export_gets_the_upgrade_verdict(tmp_path: Path) -> None:
    page = write_report(ROOT / "data" / "samples" / "af2" / "xcom_pgdump.sql", tmp_path / "af2.html").read_text()
    assert 'class="badge warn">data loss</span>' in _section(page, "audit")
    assert "pickled" in _section(page, "audit")  # 56 pickled rows move to _xcom_archive
    assert "Airflow 2 → 3 upgrade to 3.3.2: data loss." in _section(page, "summary")


def test_empty_frame_is_a_clear_error(frame: pd.DataFrame) -> None:
    with pytest.raises(xcomlab.XcomlabError, match="no rows"):
        render(frame.iloc[:0])


@pytest.mark.slow
def test_write_report_from_a_path_scans_while_streaming(tmp_path: Path) -> None:
    out = write_report(AF3, tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert "7 of 10,020 rows" in _section(page, "secrets")
    assert "source airflow.db" in _section(page, "method")


@pytest.mark.slow
def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub.html"
    assert main(["report", str(AF3), "-o", str(out), "--max-age", "7", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(out.resolve()) and info["bytes"] == out.stat().st_size
    page = out.read_text(encoding="utf-8")
    assert "older than 7 days" in page and "generated 20" in page


def test_cli_report_bad_source_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x.html")]) == 2
    assert "xcomlab:" in capsys.readouterr().err and not (tmp_path / "x.html").exists()


# --- a real browser ------------------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = _chromium()
    if exe is None:
        if REQUIRE_BROWSER:
            pytest.fail("XCOMLAB_REQUIRE_BROWSER=1 but no chromium: run `make browser-deps` as root")
        pytest.skip("chromium not installed (Debian: apt-get install chromium, or `make browser-deps`)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
             f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=180, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
def test_chromium_renders_every_section_and_screenshots(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(AF3), "-o", str(page), "--no-timestamp"]) == 0
    dom = _browser(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in dom.stdout
    for heading in ("Summary", "Profile", "Limits and upgrade audit", "Forecast", "Retention what-if",
                    "Secrets (masked)", "Backends and recommendation", "Method and sources"):
        assert f"<h2>{heading}</h2>" in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") == 6
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run = _browser(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert _png_size(shot) == (1280, 2400) and shot.stat().st_size > 50_000  # drawn, not blank
    shutil.copyfile(page, ARTIFACTS / "report.html")
