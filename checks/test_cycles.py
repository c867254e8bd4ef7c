"""Trading cycles: running ones keep their heartbeat, statuses are known, today has one."""

import pytest

from tradewatch.catalogue import check
from tradewatch.plugin import Judge

pytestmark = pytest.mark.cycles


@check("running_cycle_fresh")
def test_running_cycle_fresh(judge: Judge, case: str) -> None:
    judge(case)


@check("cycle_status_known")
def test_cycle_status_known(judge: Judge) -> None:
    judge()


@check("cycle_for_today")
def test_cycle_for_today(judge: Judge) -> None:
    judge()
