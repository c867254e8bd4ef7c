"""Orders: the right side for their purpose, a known purpose and status, no stuck or unlinked ones."""

import pytest

from tradewatch import vocabulary
from tradewatch.plugin import ReportFindings
from tradewatch.queries import orders
from tradewatch.watched import WatchedDatabase

pytestmark = pytest.mark.orders


@pytest.mark.parametrize("purpose", vocabulary.ORDER_PURPOSES)
@pytest.mark.parametrize("position_side", vocabulary.POSITION_SIDES)
def test_order_side_matches_purpose(
    watched_db: WatchedDatabase, report_findings: ReportFindings,
    position_side: str, purpose: str,
) -> None:
    report_findings(orders.wrong_sides(watched_db, position_side, purpose))


def test_order_purpose_set(watched_db: WatchedDatabase, report_findings: ReportFindings) -> None:
    report_findings(orders.purpose_missing(watched_db))


@pytest.mark.parametrize("status", vocabulary.PENDING_STATUSES)
def test_no_stuck_orders(
    watched_db: WatchedDatabase, report_findings: ReportFindings, status: str
) -> None:
    report_findings(orders.stuck(watched_db, status))


def test_filled_entries_linked(watched_db: WatchedDatabase, report_findings: ReportFindings) -> None:
    report_findings(orders.unlinked_entries(watched_db))


def test_order_status_known(watched_db: WatchedDatabase, report_findings: ReportFindings) -> None:
    report_findings(orders.unknown_statuses(watched_db))
