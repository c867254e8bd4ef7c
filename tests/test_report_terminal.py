"""The findings table at the end of a checks run: by severity and type, with totals."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.conftest import QUICK_RUN, RunChecks
from tests.pg import run_sql_file
from tradewatch import demo, report, terminal, text


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


def _section(output: str) -> list[str]:
    """The lines of the tradewatch findings section of pytest's output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^-+ tradewatch findings -+$", line))
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"^[-=]{3,} ", lines[i]))
    return lines[start + 1:end]


def test_table_counts_every_finding_by_severity_and_type(demo_db: str, run_checks: RunChecks) -> None:
    result, data = run_checks(demo_db, "-m", "not broker")
    section = _section(result.stdout.str())
    counts = Counter((issue["severity"], issue["type"]) for issue in report.issues(data))
    end = next(i for i, line in enumerate(section) if line.endswith(" info"))
    section = section[:end + 1]
    rows = [line.split() for line in section[1:-1]]
    assert section[0].split() == ["severity", "type", "count"]
    assert {(severity, kind): int(count) for severity, kind, count in rows} == counts
    severities = [row[0] for row in rows]
    assert severities == sorted(severities, key=["CRITICAL", "WARNING", "INFO"].index)  # Worst first.
    totals = Counter(issue["severity"] for issue in report.issues(data))
    assert section[-1] == (f"{totals['CRITICAL']} critical, {totals['WARNING']} warning, "
                           f"{totals['INFO']} info")


def test_a_clean_run_says_no_findings(seeded_db: Any, run_checks: RunChecks) -> None:
    result, data = run_checks(seeded_db("clean"), "-m", "not broker")
    assert report.issues(data) == []
    section = _section(result.stdout.str())
    assert section[0] == "no findings"
    # The checks the layout cannot judge are listed with their reasons, never silently passed.
    not_applicable = [test for test in data["tests"] if test["outcome"] == "skipped"]
    assert section[1] == f"{len(not_applicable)} check(s) not applicable to this layout:"
    reasons = {test["metadata"]["not_applicable"] for test in not_applicable}
    assert sorted(line.strip() for line in section[2:]) == sorted(reasons)


def test_checks_that_could_not_run_are_called_out(seeded_db: Any, run_checks: RunChecks) -> None:
    url = seeded_db("clean", "cycles_table_dropped")
    result, data = run_checks(url, "-m", "not broker")
    errored = sum(1 for test in data["tests"] if test["outcome"] == "error")
    assert errored
    assert f"{errored} check(s) could not run: the run is an ERROR" in _section(result.stdout.str())


def test_no_table_outside_a_checks_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess(
        "-p", "tradewatch.plugin", "-p", "tradewatch.terminal", *QUICK_RUN, "--tradewatch-report=",
    )
    result.assert_outcomes(passed=1)
    assert "tradewatch findings" not in result.stdout.str()


def test_a_run_where_no_check_ran_says_so(seeded_db: Any, run_checks: RunChecks) -> None:
    result, _ = run_checks(seeded_db("clean"), "-k", "no_such_check")
    assert _section(result.stdout.str()) == ["no check ran: the run is an ERROR"]


def test_the_table_escapes_and_cuts_what_a_check_wrote() -> None:
    hostile = "EVIL\x1b[2J\nINFO FAKE_ROW 99\u2028\u202e" + "X" * 500
    lines = terminal.table(Counter({("CRITICAL", hostile): 1, ("WARNING", "STUCK_ORDER"): 1}))
    assert len(lines) == 4  # Header, two rows, totals: the type cannot add a row.
    assert not any(text.has_unsafe(line) for line in lines)
    assert "EVIL\\x1b[2J\\nINFO FAKE_ROW 99\\u2028\\u202e" in lines[1]
    assert f"...(+{len(text.escaped(hostile)) - terminal.TYPE_LIMIT} characters)" in lines[1]
    assert max(len(line) for line in lines) < terminal.TYPE_LIMIT + 60
    assert lines[1].split()[-1] == "1"
