"""The trading day is New York's, whatever the server's TimeZone: same date, same findings."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import RunChecks
from tests.pg import dbname
from tests.test_checks_seeds import Case, check_run, found

ZONES = ("UTC", "Australia/Perth")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def set_server_zone(url: str, zone: str) -> None:
    """Make zone the TimeZone of every new session on url's database."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = {}").format(
            sql.Identifier(dbname(url)), sql.Literal(zone)))
    with psycopg.connect(url) as conn:
        shown: Any = conn.execute("SHOW TimeZone").fetchone()
    assert shown[0] == zone


def in_utc(value: Any) -> Any:
    """A report with every timestamp written in UTC: the same instant reads the same."""
    if isinstance(value, dict):
        return {key: in_utc(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [in_utc(item) for item in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    return value


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What a run concluded: each check's outcome and findings, and the pipeline."""
    concluded: dict[str, Any] = in_utc({
        "tests": {test["nodeid"]: (test["outcome"], test.get("metadata", {}).get("findings"))
                  for test in report["tests"]},
        "pipeline": report["tradewatch"].get("pipeline"),
    })
    return concluded


MOMENTS = [
    # 04:50 UTC and 12:50 in Perth on 2026-01-01, but still New Year's Eve in New York.
    pytest.param("2025-12-31T23:50:00-05:00", Case("midnight", pipeline="20251231-002"),
                 "2025-12-31", id="before-us-midnight"),
    # New Year's Day in New York: no cycle has started yet, and the P&L is 25 minutes old.
    pytest.param(
        "2026-01-01T00:10:00-05:00",
        Case("midnight", pipeline=None, info={
            "test_cycles.py::test_cycle_for_today": [found("NO_CYCLE", "INFO")],
            "test_positions.py::test_position_pnl_fresh": [found(
                "STALE_POSITION_DATA", "INFO", position_id=1, symbol="AAPL", cycle_id="20251231-002")],
        }),
        "2026-01-01", id="after-us-midnight",
    ),
]


@pytest.mark.parametrize(("as_of", "case", "trading_date"), MOMENTS)
def test_same_trading_date_and_findings_in_any_server_zone(
    as_of: str, case: Case, trading_date: str,
    seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    """Around US midnight, a UTC and a Perth server give the New York date and the same findings."""
    url = seeded_db(case.seed)
    seen = {}
    for zone in ZONES:
        set_server_zone(url, zone)
        _, report = run_checks(url, "-m", "not broker", as_of=as_of)
        check_run(case, report)
        seen[zone] = comparable(report)
        no_cycle = [f for test in report["tests"] for f in test["metadata"].get("findings", [])
                    if f["type"] == "NO_CYCLE"]
        assert [f["details"]["trading_date"] for f in no_cycle] == (
            [trading_date] if case.info else [])
    assert seen["UTC"] == seen["Australia/Perth"]


@pytest.mark.parametrize("zone", ZONES)
def test_view_dates_cycles_in_new_york(zone: str, seeded_db: Callable[..., str]) -> None:
    """v_trade_pipeline_status's cycle_date is the New York date, not the server's."""
    url = seeded_db("midnight")
    set_server_zone(url, zone)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT v.cycle_id, v.cycle_date, t.started_at::date
            FROM v_trade_pipeline_status v JOIN trading_cycles t USING (cycle_id)
            ORDER BY v.cycle_id
            """
        ).fetchall()
    new_years_eve, new_year = date(2025, 12, 31), date(2026, 1, 1)
    # The server's own reading dates the evening cycle a day late in both zones.
    assert rows == [
        ("20251231-001", new_years_eve, new_years_eve),
        ("20251231-002", new_years_eve, new_year),
    ]
