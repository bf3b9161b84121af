"""The interactive notebook in a real JupyterLab, driven by headless Chromium (Playwright).

Opens ``notebooks/backend_choice.ipynb`` (a tmp copy) in the Lab, runs every cell from the Run
menu, moves the explorer's DB-price slider to its maximum with the keyboard and checks that the
recommendation the kernel sends back changes. Skips when Chromium or Playwright is missing,
fails instead when ``XCOMLAB_REQUIRE_BROWSER=1`` (CI: ``.ci/run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

from .conftest import ROOT, Lab

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REQUIRE_BROWSER = os.environ.get("XCOMLAB_REQUIRE_BROWSER") == "1"
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "backend_choice.ipynb"

#: Chromium flags: no sandbox (containers, root), nothing that phones home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]

#: Kernel start plus a full run (a 13 s synthetic deployment, the explorer's first curves) on a
#: loaded 2-core machine.
RUN_TIMEOUT_MS = 150_000
#: One slider move: the kernel re-prices and re-runs the recommendation (~1–4 s).
UPDATE_TIMEOUT_MS = 60_000

#: "Recommended: <configuration>. <why> Your choice <configuration> costs …"
#: (xcomlab.widgets.BackendExplorer._advice; names from xcomlab.recommend.candidates).
ADVICE = re.compile(r"Recommended: (?P<best>db(\+\w+)?|tiered-\w+@[\w. ]+?|object-\w+)\. "
                    r".+ Your choice \S.* costs \$", re.DOTALL)

#: JS predicate: the notebook's kernel has started and is idle. The toolbar's execution
#: indicator alone says "idle" before any kernel exists (status bar: "No Kernel | Initializing"),
#: and Run All then only clears the prompts.
KERNEL_IDLE = """() => {
  const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const bar = document.querySelector('#jp-main-statusbar');
  return ind !== null && ind.dataset.status === 'idle' && bar !== null
    && bar.innerText.includes('| Idle') && !bar.innerText.includes('No Kernel');
}"""

#: Output areas of errors (JupyterLab renders a traceback with the stderr MIME type).
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"

#: JS predicate: a cell raised (Run All stops there), or the kernel is idle and every code cell
#: shows an execution count (none ``[*]``, none blank).
RUN_OVER = """([n, stderr]) => {
  if ([...document.querySelectorAll(stderr)].some(e => e.innerText.includes('Traceback'))) {
    return true;
  }
  const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  return ind !== null && ind.dataset.status === 'idle' && prompts.length === n
    && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
}"""


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"XCOMLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless system Chromium under Playwright (never ``playwright install``)."""
    exe = _chromium()
    if exe is None:
        _unavailable("chromium not installed (Debian: apt-get install chromium, or `make browser-deps`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Page, name: str, target: Locator | None = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    if target is not None:
        target.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / name))


def _menu(page: Page, menu: str, item: str) -> None:
    """Click ``menu`` in the menu bar, then its item whose label starts with ``item``."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=re.compile(f"^{re.escape(item)}")).click()


def _code_cells() -> int:
    nb = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())
    return sum(c["cell_type"] == "code" for c in nb["cells"])


def _run_notebook(page: Page, lab: Lab) -> None:
    """Open the notebook, wait for its kernel, clear the saved outputs and run every cell."""
    page.goto(lab.tree(NOTEBOOK))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    page.wait_for_function(KERNEL_IDLE)
    _menu(page, "Edit", "Clear Outputs of All Cells")
    assert page.locator(".xcomlab-recommendation").count() == 0
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_OVER, arg=[_code_cells(), STDERR])
    errors = [t for t in page.locator(STDERR).all_inner_texts() if "Traceback" in t]
    assert not errors, f"the notebook raised:\n{errors[0]}"
    page.wait_for_selector(".xcomlab-recommendation .widget-html-content")


def _advice(page: Page) -> str:
    return page.locator(".xcomlab-recommendation .widget-html-content").inner_text().strip()


def test_slider_changes_recommendation(jupyter_lab: Lab, browser: Browser) -> None:
    """Run All in the Lab, push the DB-price slider to its maximum: the advice follows."""
    from playwright.sync_api import Error as PlaywrightError

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(RUN_TIMEOUT_MS)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    explorer = page.locator(".xcomlab-explorer")
    try:
        _run_notebook(page, jupyter_lab)
        before = _advice(page)
        m = ADVICE.search(before)
        assert m, f"no recommendation in the explorer: {before!r}"
        _shot(page, "jupyterlab_backend_choice_before.png", explorer)

        slider = page.locator(".xcomlab-db-price")
        readout = slider.locator(".widget-readout")
        old_price = readout.inner_text()
        handle = slider.locator(".noUi-handle")
        handle.focus()
        handle.press("End")  # noUiSlider: End = the slider's maximum (10**2 $/GB-month)
        page.wait_for_function(
            "([sel, old]) => { const e = document.querySelector(sel);"
            " return e !== null && e.innerText.trim() !== old; }",
            arg=[".xcomlab-recommendation .widget-html-content", before],
            timeout=UPDATE_TIMEOUT_MS)
        after = _advice(page)
        # the advice is set before the plot: wait for the whole update before the screenshot
        page.wait_for_function(KERNEL_IDLE, timeout=UPDATE_TIMEOUT_MS)
        _shot(page, "jupyterlab_backend_choice.png", explorer)
    except PlaywrightError as exc:
        with contextlib.suppress(PlaywrightError):
            _shot(page, "jupyterlab_backend_choice_failure.png")
        pytest.fail(f"{exc}\n--- jupyter log ---\n{jupyter_lab.log_tail()}")

    # nothing past the loopback server (no CDN, news feed or update check)
    outside = [u for u in requested if urlsplit(u).scheme not in ("data", "blob")
               and not u.startswith(f"{jupyter_lab.url}/")]
    assert requested and not outside, f"requests outside {jupyter_lab.url}: {outside[:5]}"
    assert readout.inner_text() == "100", f"slider readout {old_price} -> {readout.inner_text()}"
    assert after != before
    m2 = ADVICE.search(after)
    assert m2, f"the advice lost its configuration: {after!r}"
    # storage at $100/GB-month: the recommendation moves further off the database
    assert m2["best"] != m["best"], after
    assert not m2["best"].startswith("db"), after


@pytest.mark.parametrize(("required", "outcome"), [(False, pytest.skip.Exception),
                                                   (True, pytest.fail.Exception)])
def test_missing_browser_skips_or_fails_when_required(
        monkeypatch: pytest.MonkeyPatch, required: bool, outcome: type[BaseException]) -> None:
    """Without Chromium/Playwright the test skips, unless CI requires the browser."""
    monkeypatch.setattr(f"{__name__}.REQUIRE_BROWSER", required)
    with pytest.raises(outcome, match="chromium not installed"):
        _unavailable("chromium not installed")
