"""The Hong Kong desk on the HKEX calendar: a stale cycle alerts in the morning and afternoon sessions,
is reported but quiet over the 12:00-13:00 lunch break and outside the session, and the trading day
(today's cycle, NO_CYCLE) is Hong Kong's, whatever the server's clock zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import RunChecks
from tests.layouts import LAYOUTS, checks_in, layout_database, nodeid
from tests.pg import ScratchServer, dbname, run_sql
from tradewatch import report as reports

HONG_KONG = LAYOUTS["catalyst-international"]
STALE_CYCLE = nodeid("running_cycle_fresh", "running")
STALE_PNL = nodeid("position_pnl_fresh")
NO_CYCLE = nodeid("cycle_for_today")


@dataclass(frozen=True)
class Moment:
    """An as-of on the clean Hong Kong desk, and how its time-based findings must come out."""

    as_of: str
    in_session: bool
    trading_date: str


# The clean desk's running cycle last reported at 10:58, its positions' P&L at 10:58 and 10:59: by
# 11:50 all are past their thresholds (30 and 10 minutes) and stay so for the rest of the day.
MOMENTS = {
    "morning-session": Moment("2026-03-03T11:50:00+08:00", True, "2026-03-03"),
    "lunch-break": Moment("2026-03-03T12:40:00+08:00", False, "2026-03-03"),
    "afternoon-session": Moment("2026-03-03T13:30:00+08:00", True, "2026-03-03"),
    "after-the-close": Moment("2026-03-03T16:30:00+08:00", False, "2026-03-03"),
    "saturday": Moment("2026-03-07T11:00:00+08:00", False, "2026-03-07"),
}


def _findings(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return list(checks_in(report)[check]["metadata"]["findings"])


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_stale_cycle_alerts_only_in_a_session(
    moment: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    at = MOMENTS[moment]
    url = layout_database(pg_server, HONG_KONG)
    result, report = run_checks(url, "-m", "not broker", as_of=at.as_of)
    assert report["tradewatch"]["market"] == {"calendar": "XHKG", "zone": "Asia/Hong_Kong",
                                              "in_session": at.in_session}
    (stale,) = _findings(report, STALE_CYCLE)
    assert (stale["type"], stale["cycle_id"], stale["severity_default"]) == ("CYCLE_STALE", "4", "WARNING")
    if at.in_session:
        assert stale["severity"] == "WARNING"
        assert "outside_market_hours" not in stale["details"]
    else:
        assert stale["severity"] == "INFO"
        assert (stale["details"]["outside_market_hours"], stale["details"]["severity_in_session"]) == (
            True, "WARNING")
    assert checks_in(report)[STALE_CYCLE]["outcome"] == ("failed" if at.in_session else "passed")
    # Stale P&L is INFO at any hour: nothing to lower.
    pnl = _findings(report, STALE_PNL)
    assert [(f["position_id"], f["severity"]) for f in pnl] == [(1, "INFO"), (2, "INFO")]
    assert not any("outside_market_hours" in f["details"] for f in pnl)
    no_cycle = _findings(report, NO_CYCLE)
    if moment == "saturday":
        assert [(f["type"], f["severity"], f["details"]["trading_date"]) for f in no_cycle] == [
            ("NO_CYCLE", "INFO", at.trading_date)]
        assert report["tradewatch"]["pipeline"] is None
    else:
        assert no_cycle == []
        assert report["tradewatch"]["pipeline"]["cycle_id"] == "4"
    assert reports.summarize(report)["summary"]["status"] == ("WARNING" if at.in_session else "OK")
    assert result.ret == (1 if at.in_session else 0)


def _server_zone(url: str, zone: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = {}").format(
            sql.Identifier(dbname(url)), sql.Literal(zone)))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_the_trading_day_is_hong_kongs(
    zone: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """A cycle started at 07:30 in Hong Kong (the day before in UTC and New York) is today's cycle;
    half an hour after Hong Kong's midnight, the new day has none yet."""
    url = layout_database(pg_server, HONG_KONG)
    _server_zone(url, zone)
    run_sql(url, "UPDATE trading_cycles SET started_at = '2026-03-03 07:30+08' WHERE cycle_id = 4")
    _, early = run_checks(url, "-m", "not broker", as_of="2026-03-03T07:45:00+08:00")
    assert _findings(early, NO_CYCLE) == []
    assert (early["tradewatch"]["pipeline"]["cycle_id"], early["tradewatch"]["pipeline"]["cycle_date"]) == (
        "4", "2026-03-03")
    assert early["tradewatch"]["market"]["in_session"] is False  # before the 09:30 open
    _, midnight = run_checks(url, "-m", "not broker", as_of="2026-03-04T00:30:00+08:00")
    (no_cycle,) = _findings(midnight, NO_CYCLE)
    assert (no_cycle["severity"], no_cycle["details"]["trading_date"]) == ("INFO", "2026-03-04")
    assert "Asia/Hong_Kong" in no_cycle["message"]
    assert midnight["tradewatch"]["pipeline"] is None


# Each half set alone keeps the other: the layout's, or for a calendar set alone its exchange's zone.
HALVES = {
    "calendar-named-again": (("--market-calendar=XHKG",), "catalyst-international",
                             {"calendar": "XHKG", "zone": "Asia/Hong_Kong"}),
    "zone-alone": (("--market-zone=UTC",), "catalyst-international", {"calendar": "XHKG", "zone": "UTC"}),
    "calendar-alone-on-new-york": (("--market-calendar=XHKG",), "catalyst-2026-04",
                                   {"calendar": "XHKG", "zone": "Asia/Hong_Kong"}),
    "zone-alone-on-new-york": (("--market-zone=Europe/London",), "catalyst-2026-04",
                               {"calendar": "XNYS", "zone": "Europe/London"}),
}


@pytest.mark.parametrize("case", HALVES)
def test_one_half_of_the_market_set_keeps_the_other(
    case: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    options, profile, market = HALVES[case]
    url = layout_database(pg_server, LAYOUTS[profile])
    _, report = run_checks(url, "-m", "not broker", *options, as_of="2026-03-03T11:50:00+08:00")
    assert {key: report["tradewatch"]["market"][key] for key in ("calendar", "zone")} == market


@pytest.mark.parametrize("where", ["cli", "ini"])
def test_an_unknown_calendar_stops_the_run_in_one_line(
    where: str, pg_server: ScratchServer, run_checks: RunChecks,
) -> None:
    """A misspelt calendar is never taken for an exchange always in session."""
    url = layout_database(pg_server, HONG_KONG)
    option = ("--market-calendar=NOPE",) if where == "cli" else ("-o", "tradewatch_market_calendar=NOPE")
    result, report = run_checks(url, "-m", "not broker", *option, as_of="2026-03-07T11:00:00+08:00")
    assert report["tradewatch"]["error"] == (
        "market_calendar: no exchange calendar named 'NOPE'; for example XNYS, XHKG, XLON, XTKS")
    assert {test["outcome"] for test in report["tests"]} == {"error"}
    assert result.ret == pytest.ExitCode.INTERRUPTED
