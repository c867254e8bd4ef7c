"""Trading cycles run, update, and exist for today; open positions' P&L is fresh."""

from typing import Any

import pytest

from tradewatch import vocabulary
from tradewatch.plugin import ReportFindings
from tradewatch.queries import cycles, positions
from tradewatch.watched import WatchedDatabase

pytestmark = pytest.mark.cycles


@pytest.mark.parametrize("status", vocabulary.RUNNING_CYCLE_STATUSES)
def test_running_cycle_fresh(
    watched_db: WatchedDatabase, report_findings: ReportFindings, status: str
) -> None:
    report_findings(cycles.stale(watched_db, status))


def test_cycle_for_today(
    watched_db: WatchedDatabase, report_findings: ReportFindings, run_metadata: dict[str, Any]
) -> None:
    run_metadata["pipeline"] = cycles.pipeline_status(watched_db)
    report_findings(cycles.no_cycle_today(watched_db))


def test_position_pnl_fresh(watched_db: WatchedDatabase, report_findings: ReportFindings) -> None:
    report_findings(positions.stale_pnl(watched_db))
