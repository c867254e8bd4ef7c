"""The database agrees with the broker: positions by symbol, orders by broker id."""

import pytest

from tradewatch.broker_plugin import BrokerFeed
from tradewatch.plugin import ReportFindings
from tradewatch.queries import broker
from tradewatch.watched import WatchedDatabase

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("kind", broker.POSITION_KINDS)
def test_positions_match_broker(
    watched_db: WatchedDatabase, broker_snapshot: BrokerFeed, report_findings: ReportFindings,
    kind: str,
) -> None:
    snapshot = broker_snapshot.get(report_findings)
    report_findings(broker.positions(watched_db, snapshot, kind))


@pytest.mark.parametrize("kind", broker.ORDER_KINDS)
def test_orders_match_broker(
    watched_db: WatchedDatabase, broker_snapshot: BrokerFeed, report_findings: ReportFindings,
    kind: str,
) -> None:
    snapshot = broker_snapshot.get(report_findings)
    report_findings(broker.orders(watched_db, snapshot, kind))
