"""Positions: known sides and statuses, fresh P&L."""

import pytest

from tradewatch.catalogue import check
from tradewatch.plugin import Judge

pytestmark = pytest.mark.positions


@check("position_values_known")
def test_position_values_known(judge: Judge, case: str) -> None:
    judge(case)


@check("position_pnl_fresh")
def test_position_pnl_fresh(judge: Judge) -> None:
    judge()
