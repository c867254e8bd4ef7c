"""Time-based findings alert at their severity only while the NYSE is in session."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import RunChecks
from tests.pg import run_sql_file
from tradewatch import catalogue, demo, market_hours, report
from tradewatch.findings import Finding
from tradewatch.judging import Judge

STUCK = Finding("STUCK_ORDER", "WARNING", {"order_id": 17}, "order 17 submitted for 20 min",
                details={"minutes_pending": 20.0})
STALE_CYCLE = Finding("CYCLE_STALE", "WARNING", {"cycle_id": "20251230-001"}, "cycle stale")
STALE_PNL = Finding("STALE_POSITION_DATA", "INFO", {"position_id": 7}, "P&L not updated")
WRONG_SIDE = Finding("WRONG_ORDER_SIDE", "CRITICAL", {"order_id": 15}, "order 15 is a sell")


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        pytest.param("2025-12-27T11:00:00-05:00", False, id="saturday"),
        pytest.param("2025-12-25T11:00:00-05:00", False, id="christmas-holiday"),
        pytest.param("2025-11-28T12:30:00-05:00", True, id="half-day-before-13h"),
        pytest.param("2025-11-28T13:30:00-05:00", False, id="half-day-after-13h"),
        pytest.param("2025-12-31T11:00:00-05:00", True, id="demo-as-of"),
        pytest.param("2025-12-31T09:29:00-05:00", False, id="before-the-open"),
        pytest.param("2025-12-31T16:00:00-05:00", False, id="at-the-close"),
        pytest.param("2025-07-15T10:00:00-04:00", True, id="summer-time-session"),
        pytest.param("2025-07-15T09:00:00-04:00", False, id="summer-time-pre-open"),
        pytest.param("2025-12-31T16:00:00", True, id="naive-is-utc"),
    ],
)
def test_in_session(moment: str, open_: bool) -> None:
    assert market_hours.in_session(datetime.fromisoformat(moment)) is open_


def _settle(moment: str, *found: Finding) -> list[Finding]:
    judge = Judge(datetime.fromisoformat(moment), market_hours.in_session)
    return [judge.settle(RULE_OF[finding.type], finding) for finding in found]


RULE_OF = {"STUCK_ORDER": catalogue.BY_NAME["no_stuck_orders"],
           "CYCLE_STALE": catalogue.BY_NAME["running_cycle_fresh"],
           "STALE_POSITION_DATA": catalogue.BY_NAME["position_pnl_fresh"],
           "WRONG_ORDER_SIDE": catalogue.BY_NAME["order_side_matches_purpose"]}


def test_time_based_rules_are_the_catalogues() -> None:
    assert {rule.name for rule in catalogue.RULES if rule.time_based} == {
        "no_stuck_orders", "running_cycle_fresh", "position_pnl_fresh"}


@pytest.mark.parametrize(
    "moment",
    ["2025-12-27T11:00:00-05:00", "2025-12-25T11:00:00-05:00", "2025-11-28T13:30:00-05:00"],
    ids=["saturday", "christmas-holiday", "half-day-after-13h"],
)
def test_outside_a_session_time_based_findings_are_info(moment: str) -> None:
    stuck, cycle, pnl, side = _settle(moment, STUCK, STALE_CYCLE, STALE_PNL, WRONG_SIDE)
    for finding in (stuck, cycle):
        assert finding.severity == "INFO"
        assert finding.severity_default == "WARNING"
        assert finding.details["outside_market_hours"] is True
        assert finding.details["severity_in_session"] == "WARNING"
    assert stuck.details["minutes_pending"] == 20.0
    assert stuck.fingerprint == STUCK.fingerprint  # Alerting still knows it as the same finding.
    assert (pnl.severity, pnl.details) == (STALE_PNL.severity, STALE_PNL.details)  # Already INFO.
    assert (side.severity, side.details) == ("CRITICAL", {})  # Not time-based: wrong at any hour.


def test_in_a_session_findings_keep_their_severity() -> None:
    settled = _settle(demo.DEMO_AS_OF.isoformat(), STUCK, STALE_CYCLE, WRONG_SIDE)
    assert [(f.severity, f.details, f.rule) for f in settled] == [
        (f.severity, f.details, RULE_OF[f.type].name) for f in (STUCK, STALE_CYCLE, WRONG_SIDE)]


def test_calendar_is_loaded_only_when_needed_and_once() -> None:
    market_hours._calendar.cache_clear()
    _settle("2025-12-27T11:00:00-05:00", WRONG_SIDE, STALE_PNL)
    assert market_hours._calendar.cache_info().currsize == 0
    judge = Judge(datetime.fromisoformat("2025-12-27T11:00:00-05:00"), market_hours.in_session)
    for _ in range(3):
        judge.settle(RULE_OF["STUCK_ORDER"], STUCK)
    assert market_hours._calendar.cache_info().misses == 1


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        pytest.param("2025-12-30T11:59:00+08:00", True, id="morning-session"),
        pytest.param("2025-12-30T12:30:00+08:00", False, id="lunch-break"),
        pytest.param("2025-12-30T13:01:00+08:00", True, id="afternoon-session"),
        pytest.param("2025-12-30T16:30:00+08:00", False, id="after-the-close"),
        pytest.param("2026-01-01T11:00:00+08:00", False, id="new-year-holiday"),
    ],
)
def test_hong_kong_session_and_lunch_break(moment: str, open_: bool) -> None:
    assert market_hours.in_session(datetime.fromisoformat(moment), "XHKG") is open_


def test_a_moment_beyond_the_calendar_keeps_severity() -> None:
    assert market_hours.in_session(datetime.fromisoformat("1990-06-02T11:00:00-04:00")) is True


@pytest.fixture
def demo_db(migrated_db: str) -> str:
    """A migrated database holding the demo desk and its planted defects."""
    run_sql_file(migrated_db, demo.DEMO_SQL)
    return migrated_db


@pytest.mark.parametrize(
    ("as_of", "status"),
    [("2026-01-03T11:00:00-05:00", "OK"), ("2025-12-31T11:00:00-05:00", "WARNING")],
    ids=["saturday", "session"],
)
def test_checks_run_quiet_outside_a_session(
    demo_db: str, run_checks: RunChecks, as_of: str, status: str
) -> None:
    result, data = run_checks(demo_db, "-m", "not broker", "-k", "stuck or fresh", as_of=as_of)
    summary = report.summarize(data)
    assert summary["summary"]["status"] == status
    # Both are WARNING in a session (stale P&L is INFO at any hour).
    timed = [i for i in summary["issues"] if i["type"] in ("STUCK_ORDER", "CYCLE_STALE")]
    assert {i["type"] for i in timed} == {"STUCK_ORDER", "CYCLE_STALE"}
    if status == "OK":
        ran = data["summary"]["collected"] - data["summary"]["deselected"]
        assert data["summary"].get("passed", 0) + data["summary"].get("skipped", 0) == ran
        assert result.ret == 0
        assert all(i["severity"] == "INFO" and i["details"]["outside_market_hours"] for i in timed)
    else:
        assert all(i["severity"] == "WARNING" for i in timed)
        assert not any("outside_market_hours" in i["details"] for i in timed)
