"""--as-of fixes "now": the same data is judged at the moment it names, not the wall clock's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import RunChecks, findings_of
from tests.pg import open_run
from tradewatch import catalogue

STUCK_CHECK = "test_orders.py::test_no_stuck_orders[submitted]"


def test_as_of_flips_a_stuck_order(seeded_db: Callable[..., str], run_checks: RunChecks) -> None:
    """An order submitted at 10:30 is pending at 10:33 and stuck at 11:00, on the same data."""
    url = seeded_db("clean", "stuck_submitted")
    early, early_report = run_checks(url, "-m", "not broker", as_of="2025-12-31T10:33:00-05:00")
    late, late_report = run_checks(url, "-m", "not broker", as_of="2025-12-31T16:00:00Z")
    assert (early.ret, late.ret) == (0, 1)
    assert early_report["tradewatch"]["as_of"] == "2025-12-31T10:33:00-05:00"
    assert late_report["tradewatch"]["as_of"] == "2025-12-31T16:00:00+00:00"
    assert findings_of(early_report, STUCK_CHECK) == []
    [stuck] = findings_of(late_report, STUCK_CHECK)
    assert (stuck["order_id"], stuck["details"]["minutes_pending"]) == (100, 30.0)


@pytest.mark.parametrize(
    ("as_of", "stuck"),
    [("2025-12-31T10:35:00-05:00", False), ("2025-12-31T10:35:01-05:00", True)],
    ids=["at-the-threshold", "a-second-past"],
)
def test_stuck_threshold_is_measured_from_as_of(
    seeded_db: Callable[..., str], as_of: str, stuck: bool
) -> None:
    """Pending exactly five minutes is not stuck yet; a second more is."""
    run = open_run(seeded_db("clean", "stuck_submitted"), as_of=as_of)
    try:
        verdict = run.verdict(catalogue.BY_NAME["no_stuck_orders"], "submitted")
        assert verdict.found is not None
        assert [f.keys["order_id"] for f in verdict.found.findings] == ([100] if stuck else [])
    finally:
        run.close()
