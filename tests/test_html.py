"""tradewatch html: a real report as a person sees it in headless Chromium, hostile values included."""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import struct
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.conftest import CHECKOUT, RunChecks
from tests.pg import run_sql_file
from tradewatch import cli, demo, html_report, report
from tradewatch import files as tw_files

INSTALL = "install them with: apt-get install -y chromium chromium-driver (Debian's packages)"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run")
SCREENSHOTS = CHECKOUT / "reports"
# Values a writer could have stored; the page must show each as text and run none of it.
SCRIPT = '<script>window.tradewatchPwned = 1; document.title = "pwned";</script>'
IMG = '<img src="x" onerror="window.tradewatchPwned = 2">'
QUOTES = "O'Brien \"quoted\" & <b>bold</b>"
HUGE = "0123456789" * 40_000
HOSTILE_DB = 'desk"><script>window.tradewatchPwned = 3;</script>'
ACK = {"reason": "broker ticket 4711:\nwaiting for their answer <i>", "owner": "ops@desk",
       "until": "2026-01-15T16:00:00-05:00"}
NOT_APPLICABLE_TOP = {"check": "checks/test_orders.py::test_order_purpose_set", "rule": "order_purpose_set",
                      "reason": "orders has no order_purpose column in the catalyst-2026-04 layout"}
NOT_APPLICABLE_TEST = "positions has no risk_amount column in this layout"
RUN_ERROR = "the run was cut by its deadline after 600 s"
STALE_ACK = {"reason": "order 99 fixed by hand", "owner": "ops@desk", "until": "2026-01-02"}
CHECK_ERROR = "database unreachable: <script>window.tradewatchPwned = 4;</script>\nsecond line"


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


@pytest.fixture
def demo_report(demo_db: str, run_checks: RunChecks) -> dict[str, Any]:
    """A real report of every check on the demo desk, the broker replayed from its cassette."""
    _, data = run_checks(demo_db, f"--broker-cassette={demo.DEMO_CASSETTE}")
    assert report.validation_errors(data) == []
    assert {"CRITICAL", "WARNING", "INFO"} <= {issue["severity"] for issue in report.issues(data)}
    return data


def _findings(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [finding for test in data["tests"] for finding in test["metadata"].get("findings", [])]


def _test(data: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(test for test in data["tests"] if test["nodeid"].endswith(suffix))


def edited(real: dict[str, Any]) -> dict[str, Any]:
    """A copy of a real report with what the checks do not produce yet, and hostile values."""
    data = copy.deepcopy(real)
    meta = data["tradewatch"]
    meta["demo"] = True
    meta["profile"] = "catalyst-2026-04\x1b[2J"
    meta["database"]["name"] = HOSTILE_DB
    meta["pipeline"]["cycle_id"] = SCRIPT
    meta["not_applicable"] = [NOT_APPLICABLE_TOP]
    meta["error"] = RUN_ERROR
    meta["acknowledgements"] = {"stale": [{"fingerprint": "0123456789abcdef0123", **STALE_ACK}]}
    warning = next(f for f in _findings(data) if f["severity"] == "WARNING")
    warning["acknowledged"] = dict(ACK)
    critical = next(f for f in _findings(data) if f["severity"] == "CRITICAL")
    critical["symbol"] = QUOTES
    critical["message"] = f"hostile {IMG} \x1b[31mred\x1b[0m and \u202eevil"
    critical["details"] = {"note": SCRIPT, "lines": "line one\nline two", "huge": HUGE,
                           "nested": {"a": [1, None]}}
    passed = [test for test in data["tests"] if test["outcome"] == "passed"]
    errored, skipped = passed[0], passed[1]
    errored["outcome"], errored["metadata"] = "error", {"error": CHECK_ERROR}
    skipped["outcome"], skipped["metadata"] = "skipped", {
        "not_applicable": NOT_APPLICABLE_TEST, "rule": "risk_limit", "case": None}
    assert report.validation_errors(data) == []
    return data


def as_text(value: object) -> str:
    """How a stored value reads on the page: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def write_page(tmp_path: Path, data: dict[str, Any], name: str) -> Path:
    """Write the report, run `tradewatch html` on it, and return the page."""
    source, page = tmp_path / f"{name}.json", tmp_path / f"{name}.html"
    source.write_text(json.dumps(data))
    assert cli.main(["html", str(source), "-o", str(page)]) == 0
    return page


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


# -- In the browser ------------------------------------------------------------------------------

def browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver on PATH; the test fails, saying how to install them, without them."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", chromedriver))
                               if path is None)
        pytest.fail(f"{missing} not found: the HTML report test opens the page in headless Chromium; "
                    f"{INSTALL}")
    return chromium, chromedriver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium through its chromedriver, with a fresh profile; never skipped."""
    chromium, chromedriver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,1000")
    # The performance log lists every request the page made (Network.requestWillBeSent).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # A driver path given: Selenium Manager (which would download a driver) is not used.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: webdriver.Chrome, page: Path) -> list[str]:
    """Load a page; return the URLs of every request it made or tried, the page itself included."""
    driver.get_log("performance")  # Drop what earlier pages logged.
    driver.get(page.as_uri())
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        # Requests of this page only: the browser's own (its new-tab page at start-up) are not its.
        if message["method"] == "Network.requestWillBeSent" and (
            message["params"].get("documentURL") == page.as_uri()
        ):
            requested.append(message["params"]["request"]["url"])
    return requested


def section(driver: webdriver.Chrome, section_id: str) -> str:
    """The text a person sees in one section of the page."""
    return driver.find_element(By.ID, section_id).text


def screenshot(driver: webdriver.Chrome, name: str) -> bytes:
    """A PNG of the whole page, also kept under reports/ for people to look at."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 100, 12_000))
    png: bytes = driver.get_screenshot_as_png()
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(png)
    driver.set_window_size(1280, 1000)
    return png


def assert_real_png(png: bytes) -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, chunk = struct.unpack(">I4s", png[8:16])
    width, height = struct.unpack(">II", png[16:24])
    assert (length, chunk) == (13, b"IHDR")
    assert width >= 800
    assert height >= 1000
    assert len(png) > 20_000  # A blank page compresses to far less.


def test_missing_browser_fails_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"chromium and chromedriver not found.*apt-get install"):
        browser_paths()


def test_network_check_sees_a_page_that_fetches(browser: webdriver.Chrome, tmp_path: Path) -> None:
    """The request log the next tests rely on does list what a page fetches."""
    page = tmp_path / "fetching.html"
    page.write_text('<!DOCTYPE html><link rel="stylesheet" href="http://127.0.0.1:9/style.css">'
                    '<img src="http://127.0.0.1:9/pixel.png"><p>fetching</p>')
    requested = open_page(browser, page)
    assert "http://127.0.0.1:9/style.css" in requested
    assert "http://127.0.0.1:9/pixel.png" in requested


def test_page_shows_a_real_run(
    demo_report: dict[str, Any], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    page = write_page(tmp_path, demo_report, "real")
    assert open_page(browser, page) == [page.as_uri()]  # Nothing but the page itself.
    summary = report.summarize(demo_report)
    assert summary["summary"]["status"] == "CRITICAL"
    header = section(browser, "header")
    database = demo_report["tradewatch"]["database"]
    assert browser.find_element(By.ID, "status").text == "CRITICAL"
    assert f"{database['name']} on {database['host']}" in header
    assert "as of 2025-12-31T11:00:00-05:00" in header
    assert "data live" in header
    assert "DEMO" not in header
    assert "Why ERROR" not in header
    pipeline = section(browser, "pipeline")
    for key, value in demo_report["tradewatch"]["pipeline"].items():
        assert f"{key} {as_text(value)}" in pipeline
    for finding in _findings(demo_report):
        shown_in = section(browser, f"findings-{finding['severity']}")
        assert finding["message"] in shown_in
        assert f"{finding['type']} (" in shown_in
        if finding["fix"]:
            assert finding["fix"] in shown_in
        for key, value in finding["details"].items():
            assert f"{key} {as_text(value)}" in shown_in
        for level in {"CRITICAL", "WARNING", "INFO"} - {finding["severity"]}:
            assert finding["message"] not in section(browser, f"findings-{level}")
    assert "Every check ran." in section(browser, "problems")
    shown_not_applicable = section(browser, "not-applicable")
    for entry in demo_report["tradewatch"]["not_applicable"]:
        assert entry["reason"] in shown_not_applicable
    assert "Acknowledged findings (0)" in section(browser, "acknowledged")
    assert_real_png(screenshot(browser, "html-report"))


def test_page_shows_acknowledged_not_applicable_errored_and_hostile_values_safely(
    demo_report: dict[str, Any], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    data = edited(demo_report)
    page = write_page(tmp_path, data, "hostile")
    assert open_page(browser, page) == [page.as_uri()]
    # No injected script ran, and each shows as the text it is.
    assert browser.execute_script("return window.tradewatchPwned === undefined") is True
    assert browser.title.startswith("tradewatch ERROR")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "\x1b" not in body
    assert "\u202e" not in body
    header = section(browser, "header")
    assert browser.find_element(By.ID, "status").text == "ERROR"
    assert HOSTILE_DB in header
    assert "DEMO" in header
    assert "profile catalyst-2026-04\\x1b[2J" in header
    # The reason is report.problems' line: the error's line breaks folded into spaces.
    assert "Why ERROR: checks/" in header
    assert "<script>window.tradewatchPwned = 4;</script> second line" in header
    assert f"The run could not start or was cut short: {RUN_ERROR}" in header
    assert f"cycle_id {SCRIPT}" in section(browser, "pipeline")

    critical = section(browser, "findings-CRITICAL")
    assert f"hostile {IMG} \\x1b[31mred\\x1b[0m and \\u202eevil" in critical
    assert f"symbol {QUOTES}" in critical
    assert f"note {SCRIPT}" in critical
    assert "lines line one\\nline two" in critical
    assert 'nested {"a": [1, null]}' in critical
    cut = len(HUGE) - html_report.DISPLAY_LIMIT
    assert f"huge {HUGE[:html_report.DISPLAY_LIMIT]}...(+{cut} characters)" in critical
    assert HUGE[: html_report.DISPLAY_LIMIT + 1] not in page.read_text()

    [acknowledged] = [f for f in _findings(data) if f.get("acknowledged")]
    apart = section(browser, "acknowledged")
    assert "Acknowledged findings (1)" in apart
    assert acknowledged["message"] in apart
    assert "reason broker ticket 4711:\\nwaiting for their answer <i>" in apart
    assert f"owner {ACK['owner']}" in apart
    assert f"until {ACK['until']}" in apart
    assert acknowledged["message"] not in section(browser, "findings")
    stale = apart.partition("Acknowledgements whose finding is gone")[2]
    assert f"fingerprint 0123456789abcdef0123\nreason {STALE_ACK['reason']}" in stale
    assert "1 acknowledged" in section(browser, "counts")

    problems = section(browser, "problems")
    errored = next(test for test in data["tests"] if test["outcome"] == "error")
    assert errored["nodeid"] in problems
    assert "database unreachable: <script>window.tradewatchPwned = 4;</script>\\nsecond line" in problems
    for line in report.problems(data):
        assert html_report.shown(line) in problems
    not_applicable = section(browser, "not-applicable")
    assert NOT_APPLICABLE_TOP["reason"] in not_applicable
    assert NOT_APPLICABLE_TOP["rule"] in not_applicable
    assert NOT_APPLICABLE_TEST in not_applicable
    assert "risk_limit" in not_applicable
    assert_real_png(screenshot(browser, "html-report-hostile"))


# -- The page itself and the command -------------------------------------------------------------

def test_page_has_no_script_and_no_external_resource(demo_report: dict[str, Any], tmp_path: Path) -> None:
    page = write_page(tmp_path, edited(demo_report), "hostile").read_text()
    found = tags_of(page)
    assert "script" not in {tag for tag, _ in found}
    assert not [(tag, attrs) for tag, attrs in found if any(name.startswith("on") for name in attrs)]
    links = [attrs[name] for _, attrs in found
             for name in ("src", "href", "action", "srcset") if name in attrs]
    assert all((link or "").startswith("#") for link in links), links
    assert "@import" not in page
    assert "url(" not in page
    assert any(tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy" for tag, attrs in found)
    assert len(page) < 200_000  # The 400k value is cut, not carried.


def test_template_ships_as_package_data() -> None:
    assert files("tradewatch").joinpath("templates/report.html.j2").is_file()
    pyproject = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    assert "templates/*.j2" in pyproject["tool"]["setuptools"]["package-data"]["tradewatch"]


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"tests": []})],
                         ids=["missing", "not-json", "not-a-report"])
def test_unreadable_report_exits_3_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    source, page = tmp_path / "report.json", tmp_path / "report.html"
    if content is not None:
        source.write_text(content)
    page.write_text("the previous page")
    assert cli.main(["html", str(source), "-o", str(page)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("tradewatch html: ")
    assert err.count("\n") == 1
    assert page.read_text() == "the previous page"


def test_page_replaces_the_old_one_whole(demo_report: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    page.write_text("the previous page")
    before = page.stat().st_ino
    source = tmp_path / "report.json"
    source.write_text(json.dumps(demo_report))
    umask = os.umask(0o022)
    try:
        assert cli.main(["html", str(source), "-o", str(page)]) == 0
    finally:
        os.umask(umask)
    assert page.stat().st_ino != before  # A new file renamed over the old one,
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert sorted(os.listdir(page.parent)) == ["report.html"]  # no scratch file left,
    assert stat.S_IMODE(page.stat().st_mode) == 0o644  # readable by other users, as open() makes it.


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_text("the previous page")
    with pytest.raises(UnicodeEncodeError):
        tw_files.write_atomically(target, "half written \udc80")
    assert target.read_text() == "the previous page"
    assert sorted(os.listdir(tmp_path)) == ["page.html"]
