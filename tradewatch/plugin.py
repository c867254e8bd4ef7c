"""The pytest plugin: options, the run's shared reads, each check's verdict, and the JSON report."""

from __future__ import annotations

import gc
import os
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

# Every pytest run of an environment holding tradewatch loads this plugin, its entry points in any
# order. pytest-recording comes first: it has vcr's matchers rewritten, which pytest can do only
# before vcr is imported (else it warns). And a dependency's deprecation notice on import
# (alpaca-py's websockets.legacy) is kept out of other projects' runs, where warnings may be errors.
import pytest_recording  # noqa: F401

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    from tradewatch import catalogue, checkrun, deadline, heartbeat, resources, settings, text
    from tradewatch.checkrun import CheckRun, Verdict
    from tradewatch.watched import WatchedDatabase

# The report is pytest-json-report's: where plugins are not loaded by their entry points, load it here.
pytest_plugins = ["tradewatch.terminal",
                  *(["pytest_jsonreport.plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else [])]

SETTINGS_KEY = pytest.StashKey[settings.Settings]()
RUN_KEY = pytest.StashKey[CheckRun]()
RUN_ERROR_KEY = pytest.StashKey[str]()
RUN_PROBLEMS_KEY = pytest.StashKey[tuple[str, ...]]()
RUN_METADATA_KEY = pytest.StashKey[dict[str, Any]]()
VERDICT_KEY = pytest.StashKey[Verdict]()
COLLECTED_KEY = pytest.StashKey[list[str]]()
TIMING_KEY = pytest.StashKey[dict[str, float]]()
DEADLINE_KEY = pytest.StashKey[deadline.RunDeadline]()
EXIT_KEY = pytest.StashKey[int]()
FAILURE_LINES = 5
# How long after the run's deadline the test loop itself is ended, should something outside any
# check hang (each check is bounded by the deadline on its own, and ends first).
LOOP_GRACE_S = 5.0
# The longest error line a check that could not run shows.
ERROR_LIMIT = 500

Judge = Callable[..., None]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every tradewatch setting."""
    settings.register_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the settings once and, for a checks run, turn on the JSON report."""
    config.addinivalue_line("markers", f"{catalogue.MARKER}(name): the catalogue rule a check judges")
    checks = is_check_run(config)
    try:
        resolved = settings.resolve_from_pytest(config)
    except settings.SettingError as exc:
        if not checks:
            return  # Another project's tests: tradewatch's settings are none of their business.
        raise pytest.UsageError(f"tradewatch: {exc}") from None
    config.stash[SETTINGS_KEY] = resolved
    config.stash[RUN_METADATA_KEY] = {}
    # Listing the checks is no run: no report is written, and the last run's is kept.
    if not checks or config.option.collectonly:
        return
    # An explicit --json-report keeps its own file; otherwise the report setting decides.
    if resolved.report_path and not getattr(config.option, "json_report", True):
        config.option.json_report = True
        config.option.json_report_file = str(Path(config.rootpath, resolved.report_path))
        # Whatever happens next, the report on disk is this run's, never the last one's.
        Path(config.option.json_report_file).unlink(missing_ok=True)
    if _distributed(config):
        raise pytest.UsageError(
            "tradewatch: the checks cannot run under pytest-xdist (-n, --dist): a run reads each table "
            "once and takes one broker snapshot, shared by every check; run them in one process")
    config.pluginmanager.register(_ReportMetadata(config), "tradewatch-report-metadata")


def _distributed(config: pytest.Config) -> bool:
    """Whether pytest-xdist would spread this run over workers (or this is one of its workers)."""
    # xdist turns -n N into --dist load before pytest_configure; -n 0 leaves it "no".
    return getattr(config.option, "dist", "no") != "no" or hasattr(config, "workerinput")


def is_check_run(config: pytest.Config) -> bool:
    """Whether this run collects tradewatch's checks (not the self-tests, nor another project's tests)."""
    folders = resources.checks_folders(config.rootpath)
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        # The package's shipped folder whole is what `tradewatch check` names: the checks and their data.
        if path == resources.SHIPPED or any(path == folder or folder in path.parents for folder in folders):
            return True
    return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the watched database and map its schema, so the header can say what is checked."""
    config = session.config
    if is_check_run(config) and not config.option.collectonly:
        started = time.perf_counter()
        # The run's deadline counts from here: connecting and reading the schema are part of the run.
        run_deadline = deadline.RunDeadline(config.stash[SETTINGS_KEY].run_deadline_s)
        config.stash[DEADLINE_KEY] = run_deadline
        try:
            with run_deadline.bound("start-up (connecting to the database and reading its schema)"):
                run = start_run(config)
        except deadline.Expired as exc:
            config.stash[RUN_ERROR_KEY] = f"tradewatch: {exc.message}"
            run = None
        if run is not None:
            run.run_deadline = run_deadline
        config.stash[TIMING_KEY] = {"connect_s": time.perf_counter() - started}


def start_run(config: pytest.Config) -> CheckRun | None:
    """The run's shared state; on failure the one line that says why is kept for the loop to stop on."""
    if RUN_KEY in config.stash or RUN_ERROR_KEY in config.stash:
        return config.stash.get(RUN_KEY, None)
    record_mode = str(config.getoption("record_mode", None) or "none")
    try:
        run = checkrun.start(config.stash[SETTINGS_KEY], config.rootpath, record_mode)
    except checkrun.RunCannotStart as exc:
        config.stash[RUN_ERROR_KEY] = f"tradewatch: {exc}"
        config.stash[RUN_PROBLEMS_KEY] = exc.problems
        return None
    config.stash[RUN_KEY] = run
    return run


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which server is checked, its layout, whether it is the demo, and the as-of time."""
    if RUN_KEY not in config.stash:
        return []
    run = config.stash[RUN_KEY]
    watched, smap = run.watched, run.map
    demo = " — DEMO data, not a live desk" if watched.demo else ""
    how = "detected" if smap.detected else "set"
    return [
        f"tradewatch: {watched.label} (PostgreSQL {text.escaped(watched.server.version)}, "
        f"database {text.escaped(watched.server.database)}){demo}",
        f"tradewatch: layout {smap.profile.name} ({how}); market {smap.market.calendar} "
        f"({smap.market.zone}); as of {watched.as_of.isoformat()}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Database checks first, broker checks last: a slow broker never holds back the database's."""
    items.sort(key=lambda item: bool((rule := _rule_of(item)) and rule.broker))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember what was collected: a run judges only the selected rules, and reports the rest unrun."""
    config = session.config
    config.stash[COLLECTED_KEY] = [item.nodeid for item in session.items]
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        rules = [rule for rule in map(_rule_of, session.items) if rule is not None]
        run.selected = {rule.name for rule in rules}
        if any(rule.time_based for rule in rules):
            # Before the first check: loading the exchange calendar is start-up, not a check's time.
            run.judge.market_open  # noqa: B018
        # What start-up loaded (pandas and the broker's models: hundreds of thousands of objects)
        # lives as long as the run: the collector need not walk it again in every full pass.
        gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """A run that could not start stops here, in one line; the report then says why."""
    error = session.config.stash.get(RUN_ERROR_KEY, None)
    if error is not None and not session.config.option.collectonly:
        problems = session.config.stash.get(RUN_PROBLEMS_KEY, ())
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if len(problems) > 1 and reporter is not None:  # one line each, before the line that joins them
            for problem in problems:
                reporter.write_line(f"tradewatch: {text.shown(problem, 500)}", red=True)
        pytest.exit(error, returncode=pytest.ExitCode.INTERRUPTED)
    run_deadline = session.config.stash.get(DEADLINE_KEY, None)
    if run_deadline is None:
        return (yield)
    # Each check is bounded by the deadline on its own; this ends the loop should anything else hang
    # (a fixture, a hook): the code under way is interrupted, and pytest stops after it. The checks
    # left are reported as errors (see _ReportMetadata), and the report is written.
    said = run_deadline.during("the checks, outside any one check")

    def stop() -> None:
        run_deadline.cut = True
        session.shouldstop = f"tradewatch: {said}"

    try:
        with deadline.bounded(ends=run_deadline.ends + LOOP_GRACE_S, message=said, on_fire=stop):
            return (yield)
    except deadline.Expired:
        pytest.exit(f"tradewatch: {said}", returncode=pytest.ExitCode.INTERRUPTED)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Keep pytest's exit status for the heartbeat of a run that writes no report."""
    session.config.stash[EXIT_KEY] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the session and stop the embedded server, also after Ctrl-C; then send the heartbeat."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        del config.stash[RUN_KEY]
        run.close()
        gc.unfreeze()  # a process running the checks again (the self-tests do) collects as before
    resolved = config.stash.get(SETTINGS_KEY, None)
    listing = config.option.collectonly
    if resolved is not None and resolved.heartbeat_url and is_check_run(config) and not listing:
        _beat(config, resolved.heartbeat_url)


def _beat(config: pytest.Config, url: str) -> None:
    """Ping the heartbeat with this run's outcome, read back from the report pytest has just written."""
    option = config.option
    written = getattr(option, "json_report", False) and getattr(option, "json_report_file", None)
    beat = heartbeat.of_report(Path(written) if written else None,
                               config.stash.get(EXIT_KEY, pytest.ExitCode.INTERRUPTED))
    problem = heartbeat.send(url, beat)
    # Not a check's outcome: one line on stderr, and the exit status stays the run's.
    said = problem or f"heartbeat sent to {heartbeat.where(url)} ({'fail' if beat.failed else 'ok'})"
    print(f"tradewatch: {said}", file=sys.stderr)


def _rule_of(item: pytest.Item) -> catalogue.Rule | None:
    marker = item.get_closest_marker(catalogue.MARKER)
    return catalogue.BY_NAME[marker.args[0]] if marker else None


@pytest.fixture(scope="session")
def tradewatch_settings(pytestconfig: pytest.Config) -> settings.Settings:
    """The run's resolved settings."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def check_run(pytestconfig: pytest.Config) -> CheckRun:
    """The run's shared reads of the watched database and the broker."""
    run = start_run(pytestconfig)
    if run is None:
        pytest.exit(pytestconfig.stash[RUN_ERROR_KEY], returncode=pytest.ExitCode.INTERRUPTED)
    return run


@pytest.fixture(scope="session")
def watched_db(check_run: CheckRun) -> WatchedDatabase:
    """The read-only session on the watched database."""
    return check_run.watched


@pytest.fixture
def judge(request: pytest.FixtureRequest, check_run: CheckRun) -> Judge:
    """Judge this check's rule for a case: skip when not applicable, fail on findings or when blind."""
    rule = _rule_of(request.node)
    if rule is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses judge but is no catalogue check")

    def judge_case(case: str | None = None) -> None:
        verdict = check_run.verdict(rule, case)
        request.node.stash[VERDICT_KEY] = check_run.verdicts[request.node.nodeid] = verdict
        if verdict.error is not None:
            pytest.fail(f"check could not run: {text.shown(verdict.error, ERROR_LIMIT)}", pytrace=False)
        if verdict.not_applicable is not None:
            pytest.skip(f"not applicable: {verdict.not_applicable}")
        if verdict.skipped is not None:
            pytest.skip(verdict.skipped)
        if verdict.fails:
            lines = [finding.one_line() for finding in verdict.failing[:FAILURE_LINES]]
            rest = verdict.fails - len(lines)
            if rest > 0:
                lines.append(f"... and {rest} more (see the JSON report)")
            pytest.fail(f"{verdict.fails} finding(s):\n" + "\n".join(lines), pytrace=False)

    return judge_case


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Time the check phase: from the first check's start to the last one's end."""
    timing = item.config.stash.get(TIMING_KEY, None)
    if timing is not None:
        timing.setdefault("first_check", time.perf_counter())
    try:
        return (yield)
    finally:
        if timing is not None:
            timing["checks_s"] = time.perf_counter() - timing["first_check"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A check skipped as not applicable is shown at the check, not at the plugin line that skipped it."""
    report = yield
    if report.skipped and VERDICT_KEY in item.stash and isinstance(report.longrepr, tuple):
        path, lineno, _ = item.location
        report.longrepr = (path, (lineno or 0) + 1, report.longrepr[2])
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """Attach a check's verdict to its report entry: findings (count, worst first), error, or why n/a."""
    if call.when != "call":
        return {}
    verdict = item.stash.get(VERDICT_KEY, None)
    if verdict is None:
        return {}
    described: dict[str, Any] = {"rule": verdict.rule.name, "case": verdict.case}
    if verdict.error is not None:
        return {**described, "error": verdict.error}
    if verdict.not_applicable is not None:
        return {**described, "not_applicable": verdict.not_applicable}
    found = verdict.found
    return {**described, "finding_count": found.count if found else 0,
            "findings": [finding.to_json() for finding in (found.findings if found else [])]}


class _ReportMetadata:
    """Writes the run's metadata into the JSON report; one per run, since the hook has no config."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """Add the run's metadata; a check that could not run, or never ran, is an error."""
        json_report["tradewatch"] = run_description(self.config)
        reported = {test["nodeid"] for test in json_report.get("tests", [])}
        for test in json_report.get("tests", []):
            if "error" in test.get("metadata", {}):
                test["outcome"] = "error"
        run_deadline = self.config.stash.get(DEADLINE_KEY, None)
        cut = run_deadline is not None and run_deadline.cut
        ended = deadline.BEFORE if cut else "the run ended before this check ran"
        why = (self.config.stash.get(RUN_ERROR_KEY, None) or ended).removeprefix("tradewatch: ")
        for nodeid in self.config.stash.get(COLLECTED_KEY, []):
            if nodeid not in reported:
                json_report.setdefault("tests", []).append(
                    {"nodeid": nodeid, "outcome": "error", "metadata": {"error": why}})
        if cut and run_deadline is not None and "error" not in json_report["tradewatch"]:
            errored = sum(test["outcome"] == "error" for test in json_report.get("tests", []))
            json_report["tradewatch"]["error"] = (
                f"the run deadline ({run_deadline.seconds:g} s, --run-deadline) passed: "
                f"{errored} check(s) could not run")


def selection(collected: list[str]) -> dict[str, Any]:
    """Which of the catalogue's checks this run collected: one run of a few (-k, -m, a file) judges
    only those, and is said to be partial so that nothing reads it as the whole desk's health."""
    ran = {nodeid.rsplit("/", 1)[-1] for nodeid in collected}
    every = [nodeid for rule in catalogue.RULES for nodeid in rule.nodeids]
    unselected = [f"checks/{nodeid}" for nodeid in every if nodeid not in ran]
    return {"checks": len(every), "selected": len(every) - len(unselected), "unselected": unselected}


def run_description(config: pytest.Config) -> dict[str, Any]:
    """The report's top-level tradewatch metadata: what was checked, how, when, by which version."""
    described: dict[str, Any] = {"version": version("tradewatch")}
    run = config.stash.get(RUN_KEY, None)
    watched = run.watched if run else None
    if watched is not None:
        described.update(
            database={"host": watched.server.host, "name": watched.server.database,
                      "server_version": watched.server.version},
            demo=watched.demo, as_of=watched.as_of.isoformat(),
        )
    if run is not None:
        described.update(run.describe())
        described["not_applicable"] = [
            {"check": nodeid, "rule": verdict.rule.name, "reason": verdict.not_applicable}
            for nodeid, verdict in run.verdicts.items() if verdict.not_applicable is not None
        ]
    collected = config.stash.get(COLLECTED_KEY, None)
    if collected:
        described["selection"] = selection(collected)
    timing = config.stash.get(TIMING_KEY, None)
    if timing is not None:
        described["timing"] = {name: round(seconds, 4) for name, seconds in timing.items()
                               if name in ("connect_s", "checks_s")}
    if RUN_ERROR_KEY in config.stash:
        described["error"] = config.stash[RUN_ERROR_KEY].removeprefix("tradewatch: ")
    if RUN_METADATA_KEY in config.stash:
        recorded: dict[str, Any] = config.stash[RUN_METADATA_KEY]
        described.update(recorded)
    return described

