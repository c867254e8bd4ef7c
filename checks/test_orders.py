"""Orders: the right side for their purpose, known values, none stuck, none unlinked."""

import pytest

from tradewatch.catalogue import check
from tradewatch.plugin import Judge

pytestmark = pytest.mark.orders


@check("order_side_matches_purpose")
def test_order_side_matches_purpose(judge: Judge, case: str) -> None:
    judge(case)


@check("order_purpose_set")
def test_order_purpose_set(judge: Judge) -> None:
    judge()


@check("no_stuck_orders")
def test_no_stuck_orders(judge: Judge, case: str) -> None:
    judge(case)


@check("order_linked_to_position")
def test_order_linked_to_position(judge: Judge, case: str) -> None:
    judge(case)


@check("order_status_known")
def test_order_status_known(judge: Judge) -> None:
    judge()


@check("order_side_known")
def test_order_side_known(judge: Judge) -> None:
    judge()


@check("client_order_ids_unique")
def test_client_order_ids_unique(judge: Judge) -> None:
    judge()
