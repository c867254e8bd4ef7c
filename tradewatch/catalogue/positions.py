"""Position rules: known sides and statuses, fresh P&L on live positions."""

from __future__ import annotations

from psycopg import sql

from tradewatch import vocabulary as v
from tradewatch.catalogue.common import cutoff, minutes_since, older_than, unknown_value, waited
from tradewatch.catalogue.rule import Context, Row, RowRule
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding

VALUE_CASES = ("side", "status")


def _unknown_value(scope: Scope, ctx: Context) -> sql.Composable:
    checks = [sql.SQL("{} IS NOT TRUE").format(scope.is_one_of(f"positions.{case}"))
              for case in VALUE_CASES if scope.has(f"positions.{case}")]
    return sql.SQL(" OR ").join(checks) if checks else sql.SQL("false")


def _value_cases(scope: Scope, ctx: Context) -> sql.Composable:
    # A row may hold two unknown values: each is a finding of its own.
    cases = [sql.SQL("CASE WHEN {} IS NOT TRUE THEN {} END").format(
        scope.is_one_of(f"positions.{case}"), sql.Literal(case))
        for case in VALUE_CASES if scope.has(f"positions.{case}")]
    return sql.SQL("array_remove(ARRAY[{}]::text[], NULL)").format(sql.SQL(", ").join(cases))


def _unknown_value_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    assert case is not None
    return unknown_value(row, f"positions.{case}", ctx)


POSITION_VALUES_KNOWN = RowRule(
    "position_values_known", "test_position_values_known", "positions", ("UNKNOWN_VALUE",), "WARNING",
    "positions", "every position's side and status are in the layout's vocabulary ('Long' and NULL "
    "are not)",
    cases=VALUE_CASES, cases_about="`side`, `status`",
    case_fields={case: (f"positions.{case}",) for case in VALUE_CASES},
    predicate=_unknown_value, cases_of=_value_cases, finding=_unknown_value_finding,
)


def _stale(scope: Scope, ctx: Context) -> sql.Composable:
    return sql.SQL("{} AND {}").format(
        scope.is_one_of("positions.status", v.LIVE_POSITION_STATUSES),
        older_than(scope, ctx, scope.col("positions.updated_at"),
                   cutoff(ctx, POSITION_PNL_FRESH.name, "stale_pnl_minutes")))


def _stale_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    minutes = minutes_since(ctx, row["updated_at"])
    threshold = ctx.threshold(POSITION_PNL_FRESH.name, "stale_pnl_minutes")
    return Finding(
        "STALE_POSITION_DATA", "INFO",
        {"position_id": row["position_id"], "symbol": row["symbol"], "cycle_id": row["cycle_id"]},
        f"position {row['position_id']} ({row['symbol']}) P&L not updated "
        f"{waited(ctx, row['updated_at'], 'ever (no updated_at)')} (threshold {threshold:g})",
        details={"unrealized_pnl": row["unrealized_pnl"], "updated_at": row["updated_at"],
                 "minutes_since_update": minutes},
    )


POSITION_PNL_FRESH = RowRule(
    "position_pnl_fresh", "test_position_pnl_fresh", "positions", ("STALE_POSITION_DATA",), "INFO",
    "positions", "a live position's P&L was refreshed within the threshold (never refreshed is stale)",
    needs=("positions.status", "positions.updated_at"),
    predicate=_stale, finding=_stale_finding, time_based=True, thresholds=("stale_pnl_minutes",),
    volatile=("minutes_since_update",),
)

RULES = (POSITION_VALUES_KNOWN, POSITION_PNL_FRESH)
