"""The pytest plugin: options, the watched-database fixtures, findings in the JSON report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tradewatch import db, market_hours, settings
from tradewatch.findings import SEVERITIES, Finding, failing
from tradewatch.watched import DatabaseRequired, WatchedDatabase, open_watched

SETTINGS_KEY = pytest.StashKey[settings.Settings]()
WATCHED_KEY = pytest.StashKey[WatchedDatabase]()
RUN_METADATA_KEY = pytest.StashKey[dict[str, Any]]()
FINDINGS_KEY = pytest.StashKey[list[Finding]]()
ERROR_KEY = pytest.StashKey[str]()
FAILURE_LINES = 5

ReportFindings = Callable[[Iterable[Finding]], None]


class CheckCannotRun(RuntimeError):
    """A check could not look at its data; the run is an error, not a pass or a finding."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every tradewatch setting."""
    settings.register_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the settings once and turn on the JSON report."""
    try:
        resolved = settings.resolve_from_pytest(config)
    except settings.SettingError as exc:
        raise pytest.UsageError(f"tradewatch: {exc}") from None
    config.stash[SETTINGS_KEY] = resolved
    config.stash[RUN_METADATA_KEY] = {}
    # An explicit --json-report keeps its own file; otherwise the report setting decides.
    if resolved.report_path and not getattr(config.option, "json_report", True):
        config.option.json_report = True
        config.option.json_report_file = str(Path(config.rootpath, resolved.report_path))
        # A run that stops before writing (database unreachable) must not leave the last
        # run's report for alerting to read as current.
        Path(config.option.json_report_file).unlink(missing_ok=True)
    config.pluginmanager.register(_ReportMetadata(config), "tradewatch-report-metadata")


def is_check_run(config: pytest.Config) -> bool:
    """Whether this run collects the checks (not only the suite's own self-tests)."""
    checks_dir = config.rootpath / "checks"
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == checks_dir or checks_dir in path.parents:
            return True
    return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the watched database before the header is printed; stop at once if it is out of reach."""
    if is_check_run(session.config):
        _watched(session.config)


def _watched(config: pytest.Config) -> WatchedDatabase:
    if WATCHED_KEY not in config.stash:
        try:
            config.stash[WATCHED_KEY] = open_watched(config.stash[SETTINGS_KEY])
        except (db.DatabaseUnreachable, DatabaseRequired) as exc:
            pytest.exit(f"tradewatch: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
    return config.stash[WATCHED_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which server is checked, whether it is the demo, and the as-of time."""
    if WATCHED_KEY not in config.stash:
        return []
    watched = config.stash[WATCHED_KEY]
    demo = " — DEMO data, not a live desk" if watched.demo else ""
    return [
        f"tradewatch: {watched.label} (PostgreSQL {watched.server.version}, "
        f"database {watched.server.database}){demo}",
        f"tradewatch: as of {watched.as_of.isoformat()}",
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the session and stop the embedded server, also after Ctrl-C."""
    watched = config.stash.get(WATCHED_KEY, None)
    if watched is not None:
        del config.stash[WATCHED_KEY]
        watched.close()


@pytest.fixture(scope="session")
def tradewatch_settings(pytestconfig: pytest.Config) -> settings.Settings:
    """The run's resolved settings."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def watched_db(pytestconfig: pytest.Config) -> WatchedDatabase:
    """The read-only session on the watched database, shared by every check."""
    return _watched(pytestconfig)


@pytest.fixture(scope="session")
def run_metadata(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Run-wide facts for the report's top-level tradewatch metadata."""
    return pytestconfig.stash[RUN_METADATA_KEY]


@pytest.fixture
def report_findings(request: pytest.FixtureRequest) -> ReportFindings:
    """Record a check's findings for the report, and fail when any is not INFO."""

    def report(findings: Iterable[Finding]) -> None:
        found = list(findings)
        watched = request.config.stash.get(WATCHED_KEY, None)
        if watched is not None:
            found = market_hours.adjust(found, watched.as_of)
        request.node.stash[FINDINGS_KEY] = found
        bad = failing(found)
        if bad:
            lines = [finding.one_line() for finding in bad[:FAILURE_LINES]]
            if len(bad) > FAILURE_LINES:
                lines.append(f"... and {len(bad) - FAILURE_LINES} more (see the JSON report)")
            pytest.fail(f"{len(bad)} finding(s):\n" + "\n".join(lines), pytrace=False)

    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Turn a database or broker failure inside a check into a check error."""
    if "watched_db" not in getattr(item, "fixturenames", ()):
        return (yield)
    try:
        return (yield)
    except (psycopg.Error, CheckCannotRun) as exc:
        # One line for the report: the server's primary message, without its LINE/caret lines.
        diag = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
        reason = diag or (str(exc).strip().splitlines() or [""])[0]
        message = f"check could not run: {type(exc).__name__}: {reason}"
        item.stash[ERROR_KEY] = message
        raise CheckCannotRun(message) from None


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """Attach a check's findings (count, and up to the cap) or its error to its report entry."""
    if call.when != "call":
        return {}
    if ERROR_KEY in item.stash:
        return {"error": item.stash[ERROR_KEY]}
    found = item.stash.get(FINDINGS_KEY, None)
    if found is None:
        return {}
    cap = item.config.stash[SETTINGS_KEY].findings_cap
    # Worst first, so the cap never hides a CRITICAL finding behind a page of WARNINGs.
    worst_first = sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))
    return {
        "finding_count": len(found),
        "findings": [finding.to_json() for finding in worst_first[:cap]],
    }


class _ReportMetadata:
    """Writes the run's metadata into the JSON report; one per run, since the hook has no config."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """Add the tradewatch metadata; a check that could not run is an error, not a failure."""
        json_report["tradewatch"] = run_description(self.config)
        for test in json_report.get("tests", []):
            if "error" in test.get("metadata", {}):
                test["outcome"] = "error"


def run_description(config: pytest.Config) -> dict[str, Any]:
    """The report's top-level tradewatch metadata: what was checked, when, by which version."""
    watched = config.stash.get(WATCHED_KEY, None)
    described: dict[str, Any] = {"version": version("tradewatch")}
    if watched is not None:
        described.update(
            database={
                "host": watched.server.host,
                "name": watched.server.database,
                "server_version": watched.server.version,
            },
            demo=watched.demo,
            as_of=watched.as_of.isoformat(),
        )
    if RUN_METADATA_KEY in config.stash:
        recorded: dict[str, Any] = config.stash[RUN_METADATA_KEY]
        described.update(recorded)
    return described
