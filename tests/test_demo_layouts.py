"""The demo desk in a later layout: the same planted defects found, the rest listed as not applicable."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, RunChecks
from tests.pg import run_sql_file
from tradewatch import demo, report, watched
from tradewatch.catalogue import BY_NAME

# What two runs' findings must share: the rule, what it found, and on which rows.
Key = tuple[Any, ...]


def keys(data: dict[str, Any]) -> set[Key]:
    """Every finding of a report by rule, type, severity and entity (the case's name aside: the
    December 'created' status is the April layout's 'pending')."""
    return {
        (finding["rule"], finding["type"], finding["severity"], finding.get("order_id"),
         finding.get("position_id"), finding.get("symbol"), finding.get("alpaca_order_id"))
        for test in data["tests"] for finding in test.get("metadata", {}).get("findings", [])
    }


def whole_rules_not_applicable(data: dict[str, Any]) -> set[str]:
    """The rules none of whose cases apply to the run's layout."""
    listed = {entry["check"] for entry in data["tradewatch"]["not_applicable"]}
    by_rule: dict[str, set[bool]] = {}
    for test in data["tests"]:
        rule = test.get("metadata", {}).get("rule")
        if rule:
            by_rule.setdefault(rule, set()).add(any(test["nodeid"].endswith(name) for name in listed))
    return {rule for rule, applicable in by_rule.items() if applicable == {True}}


@pytest.fixture
def april_demo(migrated_db: str) -> str:
    """A scratch database holding the demo desk rewritten into the April layout."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        watched.rewrite_demo(conn, "catalyst-2026-04")
    return migrated_db


def test_the_april_demo_finds_the_decembers_defects(
    april_demo: str, pg_server: Any, migrated_template: str, run_checks: RunChecks
) -> None:
    december = pg_server.create(template=migrated_template)
    run_sql_file(december, demo.DEMO_SQL)
    args = (f"--broker-cassette={demo.DEMO_CASSETTE}",)
    _, december_report = run_checks(december, *args)
    _, april_report = run_checks(april_demo, *args)

    # auto found the April layout; nothing errored.
    assert april_report["tradewatch"]["profile"] == "catalyst-2026-04"
    assert report.problems(april_report) == []
    gone = whole_rules_not_applicable(april_report)
    assert {"running_cycle_fresh", "client_order_ids_unique", "legacy_column_dropped"} <= gone
    assert all(BY_NAME[rule] for rule in gone)
    # Every December finding whose rule applies is found again, on the same rows, and none more.
    expected = {key for key in keys(december_report) if key[0] not in gone}
    assert keys(april_report) == expected
    assert len(expected) > 20


def test_the_embedded_demo_runs_as_the_april_layout(pytester: pytest.Pytester, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = tmp_path / "report.json"
    result = pytester.runpytest_inprocess(str(CHECKS_DIR), *QUICK_RUN, "--profile=catalyst-2026-04",
                                          f"--tradewatch-report={path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report.load(str(path))
    assert (data["tradewatch"]["demo"], data["tradewatch"]["profile"]) == (True, "catalyst-2026-04")
    assert report.demo_findings_only(str(path))


def test_a_layout_without_a_demo_says_so(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = pytester.runpytest_inprocess(str(CHECKS_DIR), *QUICK_RUN, "--profile=catalyst-2026-02",
                                          "--tradewatch-report=")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert ("DATABASE_URL is not set and the demo has no catalyst-2026-02 layout (it runs as auto, "
            "catalyst-2025-12, catalyst-2026-04)") in "\n".join(result.outlines + result.errlines)
