"""The database agrees with the broker: positions, orders, fills, cost basis; account and risk hold."""

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


@check("fills_match_broker")
def test_fills_match_broker(judge: Judge, case: str) -> None:
    judge(case)


@check("cost_basis_matches_broker")
def test_cost_basis_matches_broker(judge: Judge) -> None:
    judge()


@check("account_in_good_standing")
def test_account_in_good_standing(judge: Judge, case: str) -> None:
    judge(case)


@check("risk_limits_held")
def test_risk_limits_held(judge: Judge, case: str) -> None:
    judge(case)
