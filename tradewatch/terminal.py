"""The findings table printed at the end of a checks run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tradewatch import text
from tradewatch.findings import SEVERITIES, Finding
from tradewatch.plugin import ERROR_KEY, FINDINGS_KEY, is_check_run

COLLECTED_KEY = pytest.StashKey[list[Finding]]()
ERRORED_KEY = pytest.StashKey[list[str]]()
RAN_KEY = pytest.StashKey[int]()
# The longest finding type the table shows; real ones are a few words.
TYPE_LIMIT = 60


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Gather each check's findings (and whether it could not run) as its call ends."""
    report = yield
    if call.when == "call":
        item.config.stash[RAN_KEY] = item.config.stash.get(RAN_KEY, 0) + 1
        found: list[Finding] = item.stash.get(FINDINGS_KEY, [])
        item.config.stash.setdefault(COLLECTED_KEY, []).extend(found)
        if ERROR_KEY in item.stash:
            item.config.stash.setdefault(ERRORED_KEY, []).append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print findings by severity and type: the run's state at a glance."""
    found = config.stash.get(COLLECTED_KEY, [])
    errored = config.stash.get(ERRORED_KEY, [])
    if not (found or errored or is_check_run(config)):
        return  # Not a checks run (the suite's self-tests): nothing to say.
    terminalreporter.write_sep("-", "tradewatch findings")
    if not config.stash.get(RAN_KEY, 0):
        terminalreporter.write_line("no check ran: the run is an ERROR", red=True)
        return
    for line in table(found):
        terminalreporter.write_line(line)
    if errored:
        terminalreporter.write_line(f"{len(errored)} check(s) could not run: the run is an ERROR", red=True)


def table(found: list[Finding]) -> list[str]:
    """Rows of severity, type and count, worst first, then the totals."""
    if not found:
        return ["no findings"]
    # A type is shown escaped and cut: the table stays one row per type whatever a check wrote.
    counts = Counter((finding.severity, text.shown(finding.type, TYPE_LIMIT)) for finding in found)
    rows = sorted(counts.items(), key=lambda row: (SEVERITIES.index(row[0][0]), row[0][1]))
    width = max(len(finding_type) for _, finding_type in counts)
    lines = [f"{'severity':<9} {'type':<{width}} {'count':>5}"]
    lines += [f"{severity:<9} {finding_type:<{width}} {count:>5}" for (severity, finding_type), count in rows]
    by_severity = Counter(finding.severity for finding in found)
    lines.append(", ".join(f"{by_severity[level]} {level.lower()}" for level in SEVERITIES))
    return lines
