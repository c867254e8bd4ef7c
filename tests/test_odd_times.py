"""Times no clock could have written: a moment in the future, 'infinity', a timestamp without a zone.
None is a pass: each is as unknown as NULL to the time-based checks, and no one row stops a read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from psycopg import conninfo, sql

from tests.conftest import RunChecks
from tests.layouts import LAYOUTS, checks_in, layout_database, nodeid
from tests.pg import ScratchServer, run_sql

AFTER = "since a time still to come"
ORDER_100 = "UPDATE orders SET submitted_at = {at}, created_at = {at} WHERE order_id = 100"


def _messages(report: dict[str, Any], check: str) -> list[str]:
    return [finding["message"] for finding in checks_in(report)[check]["metadata"]["findings"]]


@pytest.mark.parametrize("at", ["'2099-01-01 10:00-05'", "'infinity'", "'12000-01-01 10:00-05'"])
def test_a_time_after_as_of_is_no_evidence_of_freshness(
    at: str, seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    url = seeded_db("clean", "stuck_new")
    run_sql(url, sql.SQL(ORDER_100).format(at=sql.SQL(at)))
    run_sql(url, sql.SQL("UPDATE trading_cycles SET updated_at = {at} WHERE cycle_id = '20251231-001'; "
                         "UPDATE positions SET updated_at = {at} WHERE position_id = 1").format(
        at=sql.SQL(at)))
    result, report = run_checks(url, "-m", "not broker")
    [stuck] = _messages(report, nodeid("no_stuck_orders", "new"))
    assert stuck.startswith("order 100 (AAPL sell exit 100) 'new' " + AFTER)
    [stale] = _messages(report, nodeid("running_cycle_fresh", "active"))
    assert stale.startswith("cycle 20251231-001 is 'active' but not updated " + AFTER)
    [pnl] = _messages(report, nodeid("position_pnl_fresh"))
    assert pnl.startswith("position 1 (AAPL) P&L not updated " + AFTER)
    assert not [test["nodeid"] for test in report["tests"] if test["outcome"] == "error"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("at", ["'-infinity'", "'0044-03-15 12:00+00 BC'", "'12000-01-01 00:00+00'"])
def test_an_endless_time_on_a_history_row_stops_no_read(
    at: str, seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    """A time beyond Python's years on an order another rule reports: read, and reported, not a
    DataError for the whole table."""
    url = seeded_db("clean", "stuck_new")
    run_sql(url, sql.SQL("UPDATE orders SET filled_at = {at}, status = 'Filled' WHERE order_id = 15").format(
        at=sql.SQL(at)))
    result, report = run_checks(url, "-m", "not broker")
    [unknown] = checks_in(report)[nodeid("order_status_known")]["metadata"]["findings"]
    assert (unknown["order_id"], unknown["details"]["status"]) == (15, "Filled")
    assert not [test["nodeid"] for test in report["tests"] if test["outcome"] == "error"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("style", ["German", "SQL, DMY", "Postgres, MDY"])
def test_a_database_writing_times_another_way_is_read_as_usual(
    style: str, seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    """A database set to write its times in another style: the check session asks for ISO."""
    url = seeded_db("clean", "stuck_new")
    name = conninfo.conninfo_to_dict(url)["dbname"]
    run_sql(url, sql.SQL("ALTER DATABASE {} SET DateStyle = {}").format(sql.Identifier(str(name)), style))
    result, report = run_checks(url, "-m", "not broker")
    [stuck] = _messages(report, nodeid("no_stuck_orders", "new"))
    assert stuck.startswith("order 100 (AAPL sell exit 100) 'new' for ")
    assert not [test["nodeid"] for test in report["tests"] if test["outcome"] == "error"]
    assert result.ret == pytest.ExitCode.TESTS_FAILED


NAIVE = """
ALTER TABLE orders ALTER COLUMN submitted_at TYPE timestamp, ALTER COLUMN created_at TYPE timestamp,
    ALTER COLUMN updated_at TYPE timestamp, ALTER COLUMN filled_at TYPE timestamp;
ALTER TABLE positions ALTER COLUMN updated_at TYPE timestamp, ALTER COLUMN opened_at TYPE timestamp;
"""


def test_timestamps_without_a_zone_are_read_as_utc(pg_server: ScratchServer, run_checks: RunChecks) -> None:
    """The April desk keeping its times without a zone (written in UTC): judged as the same instants."""
    layout = LAYOUTS["catalyst-2026-04"]
    url = layout_database(pg_server, layout, "stuck_pending")
    with_zone = run_checks(url, "-m", "not broker", as_of=layout.as_of)[1]
    run_sql(url, "SET TimeZone = 'UTC';" + NAIVE)
    result, without = run_checks(url, "-m", "not broker", as_of=layout.as_of)
    outcomes = {name: test["outcome"] for name, test in checks_in(without).items()}
    assert outcomes == {name: test["outcome"] for name, test in checks_in(with_zone).items()}
    assert outcomes[nodeid("no_stuck_orders", "pending")] == "failed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def hidden_rows_role(pg_server: ScratchServer) -> Iterator[str]:
    """A role that may read the tables, not own them, with a role of its own name dropped after."""
    role = "tw_selftest_rls_reader"
    admin = pg_server.admin_url
    run_sql(admin, sql.SQL("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        run_sql(admin, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_rows_a_security_policy_hides_are_an_error(
    seeded_db: Callable[..., str], run_checks: RunChecks, hidden_rows_role: str,
) -> None:
    """A policy showing the checks' role only today's orders: the order checks error, never pass on
    the rows they were let see."""
    url = seeded_db("clean", "stuck_new")
    role = sql.Identifier(hidden_rows_role)
    run_sql(url, sql.SQL(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {0}; "
        "ALTER TABLE orders ENABLE ROW LEVEL SECURITY; "
        "CREATE POLICY today_only ON orders FOR SELECT TO {0} USING (created_at > '2025-12-31 10:45-05')"
    ).format(role))
    try:
        result, report = run_checks(conninfo.make_conninfo(url, user=hidden_rows_role), "-m", "not broker")
    finally:  # what the role holds here goes, so the fixture may drop it
        run_sql(url, sql.SQL("DROP POLICY today_only ON orders; DROP OWNED BY {}").format(role))
    errors = {name: test["metadata"]["error"] for name, test in checks_in(report).items()
              if test["outcome"] == "error"}
    assert nodeid("no_stuck_orders", "new") in errors
    assert all("row-level security" in error for error in errors.values()), errors
    assert result.ret == pytest.ExitCode.TESTS_FAILED
