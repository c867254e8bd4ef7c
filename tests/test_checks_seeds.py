"""Each database check fails on a seed holding its one defect, and every other check is unmoved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import RunChecks
from tests.pg import replay, run_sql
from tradewatch import catalogue, vocabulary
from tradewatch.catalogue.orders import SIDE_CASES
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


# The checks the December layout cannot judge: its vocabulary has none of these values.
NOT_APPLICABLE_A = {
    "test_cycles.py::test_running_cycle_fresh[running]": "cycles.status meaning 'running'",
    "test_cycles.py::test_running_cycle_fresh[suspended]": "cycles.status meaning 'suspended'",
    **{f"test_orders.py::test_order_side_matches_purpose[{side}-{purpose}]":
       f"orders.purpose meaning {purpose!r}"
       for side in ("long", "short") for purpose in ("scale_in", "scale_out")},
    "test_orders.py::test_no_stuck_orders[pending]": "orders.status meaning 'pending'",
}


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
    # Checks that do not apply to the layout, each with a text its reason must contain.
    not_applicable: Mapping[str, str] = field(default_factory=lambda: NOT_APPLICABLE_A)
    # The cycle the run's pipeline metadata shows (None: no pipeline).
    pipeline: str | None = TODAY_CYCLE
    args: tuple[str, ...] = ()


def _aapl_100() -> dict[str, Any]:
    return {"order_id": 100, "position_id": 1, "alpaca_order_id": ORDER_100, "symbol": "AAPL"}


def _order_15(**changed: Any) -> dict[str, Any]:
    """The keys of the exit of the closed AAPL trade of 2025-12-22 (clean.sql's history)."""
    return {"order_id": 15, "position_id": 5, "alpaca_order_id": _c(15), "symbol": "AAPL", **changed}


def _c(number: int) -> str:
    return f"c0000000-0000-4000-8000-{number:012d}"


def _unknown(table: str, column: str, **keys: Any) -> Found:
    return found("UNKNOWN_VALUE", "WARNING", **keys, table=table, column=column)


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


_PURPOSE_READERS = [
    *(f"test_orders.py::test_order_side_matches_purpose[{case}]" for case in SIDE_CASES),
    "test_orders.py::test_order_purpose_set",
]
_CYCLE_READERS = [
    *(f"test_cycles.py::test_running_cycle_fresh[{status}]" for status in vocabulary.RUNNING_CYCLE_STATUSES),
    "test_cycles.py::test_cycle_status_known",
    "test_cycles.py::test_cycle_for_today",
]
_PENDING_A = ("created", "submitted", "pending_new", "accepted", "new")

CASES = [
    *(_legacy(column) for column in ("alpaca_order_id", "alpaca_status", "alpaca_error")),
    Case(
        "order_purpose_column_missing",
        failed={"test_schema.py::test_phase2_column_present[orders.order_purpose]": [
            found("MISSING_COLUMN", "CRITICAL", table="orders", column="order_purpose")]},
        # The layout declares the column: without it the purpose rules cannot see, errors that say why.
        errors=dict.fromkeys(_PURPOSE_READERS,
                             "no column order_purpose in orders (profile catalyst-2025-12)"),
        not_applicable={name: why for name, why in NOT_APPLICABLE_A.items() if name not in _PURPOSE_READERS},
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
      for side in vocabulary.POSITION_SIDES for purpose in ("entry", "exit", "stop_loss", "take_profit")),
    # A leg found through its parent's position, and reported with that position.
    Case("wrong_side_leg_without_position", failed={
        "test_orders.py::test_order_side_matches_purpose[short-stop_loss]": [
            found("WRONG_ORDER_SIDE", "CRITICAL", order_id=100, position_id=2,
                  alpaca_order_id=ORDER_100, symbol="TSLA")]}),
    # History is judged like today: a trade closed nine days ago.
    Case("wrong_side_history", failed={
        "test_orders.py::test_order_side_matches_purpose[long-exit]": [
            found("WRONG_ORDER_SIDE", "CRITICAL", **_order_15())]}),
    Case("purpose_null", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", **_aapl_100())]}),
    Case("purpose_unknown", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", **_aapl_100())]}),
    Case("purpose_null_history", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", **_order_15(order_id=14, alpaca_order_id=_c(14)))]}),
    *(_stuck(status) for status in _PENDING_A),
    # A leg that lost its purpose still rests by design (its type, its parent): only the purpose is missing.
    Case("purpose_null_legs", failed={"test_orders.py::test_order_purpose_set": [
        found("ORDER_PURPOSE_MISSING", "WARNING", order_id=leg, position_id=1, alpaca_order_id=_c(leg),
              symbol="AAPL") for leg in (2, 3)]}),
    # A parent alone makes no bracket leg: an entry naming itself still waits.
    Case("stuck_with_a_parent", failed={"test_orders.py::test_no_stuck_orders[new]": [
        found("STUCK_ORDER", "WARNING", **_aapl_100())]}),
    Case("stuck_history", failed={"test_orders.py::test_no_stuck_orders[submitted]": [
        found("STUCK_ORDER", "WARNING", order_id=100, position_id=5, alpaca_order_id=ORDER_100,
              symbol="AAPL")]}),
    Case("unlinked_entry", failed={"test_orders.py::test_order_linked_to_position[no_position]": [
        found("UNLINKED_ORDER", "CRITICAL", order_id=100, position_id=None, alpaca_order_id=ORDER_100,
              symbol="TSLA")]}),
    Case("unlinked_history", failed={"test_orders.py::test_order_linked_to_position[no_position]": [
        found("UNLINKED_ORDER", "CRITICAL", order_id=100, position_id=None, alpaca_order_id=ORDER_100,
              symbol="TSLA")]}),
    Case("dangling_position", failed={
        "test_orders.py::test_order_linked_to_position[dangling_position]": [
            found("UNLINKED_ORDER", "CRITICAL", **_order_15(position_id=999))]}),
    Case("unknown_status", failed={"test_orders.py::test_order_status_known": [
        found("UNKNOWN_ORDER_STATUS", "WARNING", **_aapl_100())]}),
    Case("status_null", failed={"test_orders.py::test_order_status_known": [
        found("UNKNOWN_ORDER_STATUS", "WARNING", **_order_15(order_id=14, alpaca_order_id=_c(14)))]}),
    # A side outside the vocabulary is unknown, and wrong for the exit it is.
    *(Case(seed, failed={
        "test_orders.py::test_order_side_matches_purpose[long-exit]": [
            found("WRONG_ORDER_SIDE", "CRITICAL", **_order_15())],
        "test_orders.py::test_order_side_known": [
            _unknown("orders", "side", order_id=15, symbol="AAPL")],
    }) for seed in ("order_side_variant", "order_side_null")),
    # An order whose security points nowhere is judged all the same, its symbol unknown.
    Case("security_nowhere", failed={"test_orders.py::test_order_side_matches_purpose[long-exit]": [
        found("WRONG_ORDER_SIDE", "CRITICAL", **{**_aapl_100(), "symbol": None})]}),
    Case("duplicate_client_id", failed={"test_orders.py::test_client_order_ids_unique": [
        found("DUPLICATE_CLIENT_ORDER_ID", "WARNING", alpaca_client_order_id="cts-7")]}),
    Case("position_side_variant", failed={"test_positions.py::test_position_values_known[side]": [
        _unknown("positions", "side", position_id=5, symbol="AAPL")]}),
    Case("position_status_null", failed={"test_positions.py::test_position_values_known[status]": [
        _unknown("positions", "status", position_id=5, symbol="AAPL")]}),
    Case("cycle_status_variant", failed={"test_cycles.py::test_cycle_status_known": [
        _unknown("trading_cycles", "status", cycle_id="20251222-001")]}),
    _stale_cycle("active"),
    _stale_cycle("paused"),
    Case("stale_cycle_never", failed={"test_cycles.py::test_running_cycle_fresh[active]": [
        found("CYCLE_STALE", "WARNING", cycle_id=TODAY_CYCLE)]}),
    Case("no_cycle_today", info={"test_cycles.py::test_cycle_for_today": [
        found("NO_CYCLE", "INFO")]}, pipeline=None),
    Case("stale_pnl", info={"test_positions.py::test_position_pnl_fresh": [
        found("STALE_POSITION_DATA", "INFO", position_id=100, symbol="MSFT",
              cycle_id=TODAY_CYCLE)]}),
    Case("stale_pnl_never", info={"test_positions.py::test_position_pnl_fresh": [
        found("STALE_POSITION_DATA", "INFO", position_id=1, symbol="AAPL", cycle_id=TODAY_CYCLE)]}),
    # Checks that cannot run are errors; the others still pass or fail on their own.
    Case(
        "cycles_table_dropped",
        failed={**_view_broken("test_pipeline_view_has_its_columns"),
                **_view_broken("test_pipeline_view_runs")},
        errors=dict.fromkeys(_CYCLE_READERS, "no table trading_cycles"),
        not_applicable={k: v for k, v in NOT_APPLICABLE_A.items() if "test_cycles" not in k},
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
    "UNKNOWN_VALUE": lambda finding: {finding["column"]: finding["details"]["suggested_value"]},
}
_FIX_TIMESTAMPS = {"updated_at", "expired_at", "cancelled_at"}


def assert_fix_exact(url: str, finding: Mapping[str, Any]) -> None:
    """A finding's fix, replayed and rolled back, changes its own row as intended and nothing else."""
    fix = finding["fix_data"]
    row = (fix["table"], next(iter(fix["key"].values())))
    effect = replay(url, finding["fix"])
    assert effect.rowcount == 1, finding["fix"]
    assert effect.relations_after == effect.relations_before, finding["fix"]
    assert list(effect.changed) == [row], finding["fix"]
    columns = effect.changed[row]
    intended = _INTENDED[finding["type"]](finding)
    assert set(columns) <= set(intended) | _FIX_TIMESTAMPS, finding["fix"]
    assert {column: columns[column][1] for column in intended} == intended, finding["fix"]


def check_run(case: Case, report: dict[str, Any]) -> None:
    """Assert every check's outcome and findings in a report against a case."""
    tests = {test["nodeid"].removeprefix("checks/"): test for test in report["tests"]
             if test["outcome"] != "deselected"}
    named = {*case.failed, *case.info, *case.errors}
    assert named <= tests.keys(), f"no such checks: {sorted(named - tests.keys())}"
    for name, test in tests.items():
        metadata = test.get("metadata", {})
        outcome = ("error" if name in case.errors else "failed" if name in case.failed
                   else "skipped" if name in case.not_applicable else "passed")
        assert (name, test["outcome"]) == (name, outcome), metadata.get("error") or metadata
        if name in case.errors:
            assert case.errors[name] in metadata["error"], name
            assert "findings" not in metadata, name
            continue
        if name in case.not_applicable:
            assert case.not_applicable[name] in metadata["not_applicable"], name
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


def test_every_check_has_a_failing_seed() -> None:
    """No database check of the December layout, one added later included, is left without a seed
    that makes it fail (or report its INFO finding); the catalogue says which checks there are."""
    checks = {nodeid for rule in catalogue.RULES if not rule.broker for nodeid in rule.nodeids}
    shown = {name for case in CASES for name in (*case.failed, *case.info)}
    assert checks - set(NOT_APPLICABLE_A) - shown == set()
    assert shown <= checks


BROKEN_TODAY = f"""
ALTER VIEW {VIEW} RENAME TO pipeline_as_written;
CREATE VIEW {VIEW} AS SELECT p.*, 1 / (31 - extract(day FROM p.cycle_date)::int) AS broken_today
    FROM (SELECT * FROM pipeline_as_written ORDER BY cycle_date OFFSET 0) AS p;
"""  # Oldest first, and the division by zero on the 31st's row alone: one row of history reads well.


def test_a_view_broken_for_today_alone_is_broken(
    seeded_db: Callable[..., str], run_checks: RunChecks,
) -> None:
    """Its oldest row reads; today's, the one the run's pipeline shows, divides by zero: VIEW_BROKEN,
    and the pipeline is left out rather than shown from a row that cannot be read."""
    url = seeded_db("clean")
    run_sql(url, BROKEN_TODAY)
    result, report = run_checks(url, "-m", "not broker")
    check_run(Case("view_broken_today", failed=_view_broken("test_pipeline_view_runs"), pipeline=None),
              report)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
