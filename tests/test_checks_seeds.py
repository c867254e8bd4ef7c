"""Each database check fails on a seed holding its one defect, and every other check is unmoved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import CHECKS_DIR, QUICK_RUN, RunChecks
from tests.pg import replay
from tradewatch import vocabulary
from tradewatch.findings import ENTITY_KEYS

TODAY_CYCLE = "20251231-001"
ORDER_100 = "c0000000-0000-4000-8000-000000000100"
VIEW = "v_trade_pipeline_status"
Found = dict[str, Any]


def found(type_: str, severity: str, **keys: Any) -> Found:
    """A finding as the report must carry it: its type, severity and entity keys."""
    return {"type": type_, "severity": severity, **keys}


def essentials(finding: Mapping[str, Any]) -> Found:
    """The part of a reported finding a seed pins down: type, severity, entity keys."""
    return {key: finding[key] for key in ("type", "severity", *ENTITY_KEYS) if key in finding}


@dataclass(frozen=True)
class Case:
    """A seed, and what one run of the checks must report on the database it makes."""

    seed: str
    # Node ids (under checks/) of the checks that fail, each with all its findings.
    failed: Mapping[str, list[Found]] = field(default_factory=dict)
    # Checks that pass but report INFO findings.
    info: Mapping[str, list[Found]] = field(default_factory=dict)
    # Checks that cannot run, each with a text its error must contain.
    errors: Mapping[str, str] = field(default_factory=dict)
    # The cycle the run's pipeline metadata shows (None: no pipeline).
    pipeline: str | None = TODAY_CYCLE
    args: tuple[str, ...] = ()


def _aapl_100() -> dict[str, Any]:
    return {"order_id": 100, "position_id": 1, "alpaca_order_id": ORDER_100, "symbol": "AAPL"}


def _legacy(column: str) -> Case:
    return Case(
        f"legacy_{column}",
        failed={f"test_schema.py::test_legacy_column_dropped[{column}]": [
            found("LEGACY_COLUMN_PRESENT", "WARNING", table="positions", column=column)]},
    )


def _wrong_side(position_side: str, purpose: str) -> Case:
    position_id, symbol = (1, "AAPL") if position_side == "long" else (2, "TSLA")
    return Case(
        f"wrong_side_{position_side}_{purpose}",
        failed={f"test_orders.py::test_order_side_matches_purpose[{position_side}-{purpose}]": [
            found("WRONG_ORDER_SIDE", "CRITICAL", order_id=100, position_id=position_id,
                  alpaca_order_id=ORDER_100, symbol=symbol)]},
    )


def _stuck(status: str) -> Case:
    keys = _aapl_100()
    if status == "created":
        keys["alpaca_order_id"] = None  # Never sent, so the broker never named it.
    return Case(
        f"stuck_{status}",
        failed={f"test_orders.py::test_no_stuck_orders[{status}]": [
            found("STUCK_ORDER", "WARNING", **keys)]},
    )


def _stale_cycle(status: str) -> Case:
    return Case(
        f"stale_{status}_cycle",
        failed={f"test_cycles.py::test_running_cycle_fresh[{status}]": [
            found("CYCLE_STALE", "WARNING", cycle_id="20251231-100")]},
    )


def _view_broken(test: str) -> dict[str, list[Found]]:
    return {f"test_schema.py::{test}": [found("VIEW_BROKEN", "CRITICAL", table=VIEW)]}


# Every orders check reads order_purpose.
_ORDERS_CHECKS = [
    *(f"test_orders.py::test_order_side_matches_purpose[{side}-{purpose}]"
      for side in vocabulary.POSITION_SIDES for purpose in vocabulary.ORDER_PURPOSES),
    "test_orders.py::test_order_purpose_set",
    *(f"test_orders.py::test_no_stuck_orders[{status}]" for status in vocabulary.PENDING_STATUSES),
    "test_orders.py::test_filled_entries_linked",
    "test_orders.py::test_order_status_known",
]
_CYCLE_READERS = [
    "test_cycles.py::test_running_cycle_fresh[active]",
    "test_cycles.py::test_running_cycle_fresh[paused]",
    "test_cycles.py::test_cycle_for_today",
]

CASES = [
    *(_legacy(column) for column in ("alpaca_order_id", "alpaca_status", "alpaca_error")),
    Case(
        "order_purpose_column_missing",
        failed={"test_schema.py::test_phase2_column_present[orders.order_purpose]": [
            found("MISSING_COLUMN", "CRITICAL", table="orders", column="order_purpose")]},
        # Without the column these checks cannot look: errors, not passes.
        errors={test: "order_purpose" for test in _ORDERS_CHECKS},
    ),
    Case(
        "view_missing",
        failed={**_view_broken("test_pipeline_view_has_its_columns"),
                **_view_broken("test_pipeline_view_runs")},
        pipeline=None,
    ),
    Case("view_lacks_column", failed=_view_broken("test_pipeline_view_has_its_columns")),
    Case("view_fails_undefined_table", failed=_view_broken("test_pipeline_view_runs"),
         pipeline=None),
    Case("view_fails_bad_cast", failed=_view_broken("test_pipeline_view_runs"), pipeline=None),
    *(_wrong_side(side, purpose)
      for side in vocabulary.POSITION_SIDES for purpose in vocabulary.ORDER_PURPOSES),
    # A leg found through its parent's position, and reported with that position.
    Case("wrong_side_leg_without_position", failed={
        "test_orders.py::test_order_side_matches_purpose[short-stop_loss]": [
            found("WRONG_ORDER_SIDE", "CRITICAL", order_id=100, position_id=2,
                  alpaca_order_id=ORDER_100, symbol="TSLA")]}),
    Case("purpose_null", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", **_aapl_100())]}),
    Case("purpose_unknown", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", **_aapl_100())]}),
    *(_stuck(status) for status in vocabulary.PENDING_STATUSES),
    Case("unlinked_entry", failed={"test_orders.py::test_filled_entries_linked": [
        found("UNLINKED_ORDER", "CRITICAL", order_id=100, alpaca_order_id=ORDER_100,
              symbol="TSLA")]}),
    Case("unknown_status", failed={"test_orders.py::test_order_status_known": [
        found("UNKNOWN_ORDER_STATUS", "WARNING", **_aapl_100())]}),
    _stale_cycle("active"),
    _stale_cycle("paused"),
    Case("no_cycle_today", info={"test_cycles.py::test_cycle_for_today": [
        found("NO_CYCLE", "INFO")]}, pipeline=None),
    Case("stale_pnl", info={"test_cycles.py::test_position_pnl_fresh": [
        found("STALE_POSITION_DATA", "INFO", position_id=100, symbol="MSFT",
              cycle_id=TODAY_CYCLE)]}),
    # Checks that cannot run are errors; the others still pass or fail on their own.
    Case(
        "cycles_table_dropped",
        failed={**_view_broken("test_pipeline_view_has_its_columns"),
                **_view_broken("test_pipeline_view_runs")},
        errors={test: 'relation "trading_cycles" does not exist' for test in _CYCLE_READERS},
        pipeline=None,
    ),
    Case(
        "view_slow",
        errors={"test_schema.py::test_pipeline_view_runs": "QueryCanceled",
                "test_cycles.py::test_cycle_for_today": "QueryCanceled"},
        pipeline=None,
        args=("--statement-timeout=1",),
    ),
]

# What a fix sets on the row it repairs, besides its timestamps.
_INTENDED: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "WRONG_ORDER_SIDE": lambda finding: {"side": finding["details"]["expected_side"]},
    "STUCK_ORDER": lambda finding: {"status": "expired"},
    "UNKNOWN_ORDER_STATUS": lambda finding: {"status": finding["details"]["suggested_status"]},
}
_FIX_TIMESTAMPS = {"updated_at", "expired_at"}


def assert_fix_exact(url: str, finding: Mapping[str, Any]) -> None:
    """A finding's fix, replayed and rolled back, changes its own order row as intended and nothing else."""
    effect = replay(url, finding["fix"])
    assert effect.rowcount == 1, finding["fix"]
    assert effect.relations_after == effect.relations_before, finding["fix"]
    assert list(effect.changed) == [("orders", finding["order_id"])], finding["fix"]
    columns = effect.changed[("orders", finding["order_id"])]
    intended = _INTENDED[finding["type"]](finding)
    assert set(columns) <= set(intended) | _FIX_TIMESTAMPS, finding["fix"]
    assert {column: columns[column][1] for column in intended} == intended, finding["fix"]


def check_run(case: Case, report: dict[str, Any]) -> None:
    """Assert every check's outcome and findings in a report against a case."""
    tests = {test["nodeid"].removeprefix("checks/"): test for test in report["tests"]}
    named = {*case.failed, *case.info, *case.errors}
    assert named <= tests.keys(), f"no such checks: {sorted(named - tests.keys())}"
    for name, test in tests.items():
        metadata = test.get("metadata", {})
        outcome = "error" if name in case.errors else "failed" if name in case.failed else "passed"
        assert (name, test["outcome"]) == (name, outcome), metadata.get("error")
        if name in case.errors:
            assert case.errors[name] in metadata["error"], name
            assert "findings" not in metadata, name
            continue
        expected = case.failed.get(name) or case.info.get(name) or []
        assert [essentials(f) for f in metadata["findings"]] == expected, name
        assert metadata["finding_count"] == len(expected), name
    pipeline = report["tradewatch"].get("pipeline")
    if case.pipeline is None:
        assert pipeline is None
    else:
        assert pipeline is not None
        assert (pipeline["cycle_id"], pipeline["cycle_date"]) == (case.pipeline, "2025-12-31")


@pytest.mark.parametrize("case", [pytest.param(case, id=case.seed) for case in CASES])
def test_defect_seed(case: Case, seeded_db: Callable[..., str], run_checks: RunChecks) -> None:
    """The seed's check reports exactly its defect; every fix it offers repairs just that row."""
    url = seeded_db("clean", case.seed)
    result, report = run_checks(url, "-m", "not broker", *case.args)
    check_run(case, report)
    assert result.ret == (1 if case.failed or case.errors else 0)
    for test in report["tests"]:
        for finding in test.get("metadata", {}).get("findings", []):
            if finding["fix"] is not None:
                assert_fix_exact(url, finding)


def test_every_check_has_a_failing_seed(migrated_db: str, pytester: pytest.Pytester) -> None:
    """No database check, including one added later, is left without a seed that makes it fail."""
    result = pytester.runpytest_inprocess(
        str(CHECKS_DIR), "--collect-only", "-q", "-m", "not broker", "-p", "no:cacheprovider",
        *QUICK_RUN, f"--database-url={migrated_db}", "--tradewatch-report=",
    )
    collected = {
        line.removeprefix("checks/") for line in result.outlines if line.startswith("checks/")
    }
    shown = {name for case in CASES for name in (*case.failed, *case.info)}
    assert collected, result.outlines
    assert collected - shown == set()
