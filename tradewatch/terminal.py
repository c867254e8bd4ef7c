"""The findings table printed at the end of a checks run, with what could not run or does not apply."""

from __future__ import annotations

from collections import Counter

import pytest

from tradewatch import text
from tradewatch.findings import SEVERITIES
from tradewatch.plugin import RUN_KEY, is_check_run

# The longest finding type the table shows; real ones are a few words.
TYPE_LIMIT = 60


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print findings by severity and type: the run's state at a glance."""
    run = config.stash.get(RUN_KEY, None)
    if run is None or not is_check_run(config):
        return  # Not a checks run (the suite's self-tests), or one that never started.
    verdicts = list(run.verdicts.values())
    terminalreporter.write_sep("-", "tradewatch findings")
    if not verdicts:
        terminalreporter.write_line("no check ran: the run is an ERROR", red=True)
        return
    found: Counter[tuple[str, str]] = Counter()
    acknowledged: Counter[tuple[str, str]] = Counter()
    for verdict in verdicts:
        if verdict.found:
            found.update(verdict.found.kinds)
            acknowledged.update(verdict.found.acknowledged)
    for line in table(found):
        terminalreporter.write_line(line)
    if acknowledged:
        terminalreporter.write_line(f"{sum(acknowledged.values())} acknowledged finding(s), not failing:")
        for line in table(acknowledged)[1:-1]:
            terminalreporter.write_line(f"  {line}")
    missing = sorted({verdict.not_applicable for verdict in verdicts if verdict.not_applicable})
    if missing:
        not_applicable = [verdict for verdict in verdicts if verdict.not_applicable]
        terminalreporter.write_line(f"{len(not_applicable)} check(s) not applicable to this layout:")
        for reason in missing:
            terminalreporter.write_line(f"  {text.shown(reason)}")
    errored = [verdict for verdict in verdicts if verdict.error]
    if errored:
        terminalreporter.write_line(f"{len(errored)} check(s) could not run: the run is an ERROR", red=True)


def table(counts: Counter[tuple[str, str]]) -> list[str]:
    """Rows of severity, type and count, worst first, then the totals."""
    if not counts:
        return ["no findings"]
    # A type is shown escaped and cut: the table stays one row per type whatever a check wrote.
    shown: Counter[tuple[str, str]] = Counter()
    for (severity, finding_type), count in counts.items():
        shown[severity, text.shown(finding_type, TYPE_LIMIT)] += count
    counts = shown
    rows = sorted(counts.items(), key=lambda row: (SEVERITIES.index(row[0][0]), row[0][1]))
    width = max(len(finding_type) for _, finding_type in counts)
    lines = [f"{'severity':<9} {'type':<{width}} {'count':>5}"]
    lines += [f"{severity:<9} {finding_type:<{width}} {count:>5}" for (severity, finding_type), count in rows]
    by_severity: Counter[str] = Counter()
    for (severity, _), count in counts.items():
        by_severity[severity] += count
    lines.append(", ".join(f"{by_severity[level]} {level.lower()}" for level in SEVERITIES))
    return lines
