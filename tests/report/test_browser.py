"""The report in a real browser (headless Chromium via selenium and the Debian chromedriver):
no console errors, every chart and table present, and injected scripts never run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fivefold.report import write_report

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not CHROMEDRIVER.is_file(),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: Any, run_dir: Path) -> None:
    html, _ = write_report(run_dir)
    driver.get(html.resolve().as_uri())


def _errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _screenshot(driver: Any, path: Path) -> None:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    target = os.environ.get("FIVEFOLD_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _count(driver: Any, selector: str) -> int:
    return int(driver.execute_script(f"return document.querySelectorAll('{selector}').length"))


def test_report_renders_with_every_chart_and_table(
    browser: Any, run_dir: Path, tmp_path: Path
) -> None:
    _open(browser, run_dir)
    assert _errors(browser) == []
    for table in ("run-info", "scorecard", "pillar-scores", "failed"):
        assert _count(browser, f"table#{table}") == 1, table
    for pillar in ("generalization", "data_efficiency", "robustness", "interpretability", "safety"):
        assert _count(browser, f"table#metrics-{pillar}") == 1, pillar
    n_recipes = 3
    expected = {"radar": n_recipes, "learning-curve": 1, "corruption-curve": 9,
                "attack-curve": 2, "shift-curve": 2, "attribution-image": 2 * n_recipes,
                "reliability": n_recipes, "risk-coverage": 1, "pareto": 2}  # fmt: skip
    for kind, n in expected.items():
        assert _count(browser, f'svg[data-chart="{kind}"]') == n, kind
    assert _count(browser, "table#scorecard tbody tr") == n_recipes
    assert _count(browser, "table#failed tbody tr") == 1
    # every chart has axes or content, and a tooltip title
    assert _count(browser, "svg.chart > title") == _count(browser, "svg.chart")
    _screenshot(browser, tmp_path / "report-digits.png")
    for button in browser.find_elements("css selector", ".tabs button"):
        button.click()
        panel = browser.find_element("id", button.get_attribute("data-panel"))
        assert panel.is_displayed()
    assert _errors(browser) == []


def test_fairness_and_tabular_attributions(
    browser: Any, fairness_dir: Path, tmp_path: Path
) -> None:
    _open(browser, fairness_dir)
    assert _errors(browser) == []
    assert _count(browser, 'svg[data-chart="fairness"]') == 3
    assert _count(browser, 'svg[data-chart="attribution-tabular"]') == 4
    browser.find_element("css selector", 'button[data-panel="panel-safety"]').click()
    _screenshot(browser, tmp_path / "report-fairness.png")
    assert "not evaluated" in browser.find_element("id", "pillar-scores").text


def test_injected_scripts_do_not_run(
    browser: Any, hostile_dir: Path, payload: str, tmp_path: Path
) -> None:
    _open(browser, hostile_dir)
    for button in browser.find_elements("css selector", ".tabs button"):
        button.click()
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title.startswith("fivefold · exp<script>")
    body = browser.find_element("tag name", "body").text
    assert "<script>window.__pwned=1" in body  # shown as text
    assert payload in browser.find_element("id", "failed").text
    assert _errors(browser) == []
    _screenshot(browser, tmp_path / "report-escaped.png")
