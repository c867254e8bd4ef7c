"""The database agrees with the broker: positions by symbol, orders by broker id."""

import pytest

from tradewatch.catalogue import check
from tradewatch.plugin import Judge

pytestmark = pytest.mark.broker


@check("positions_match_broker")
def test_positions_match_broker(judge: Judge, case: str) -> None:
    judge(case)


@check("orders_match_broker")
def test_orders_match_broker(judge: Judge, case: str) -> None:
    judge(case)
