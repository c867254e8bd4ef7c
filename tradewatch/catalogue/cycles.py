"""Cycle rules: running cycles keep their heartbeat, statuses are known, today has a cycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from tradewatch import vocabulary as v
from tradewatch.catalogue.common import (
    cutoff,
    minutes_since,
    older_than,
    shown,
    trading_date,
    unknown_value,
    waited,
)
from tradewatch.catalogue.rule import Context, EvaluatedRule, Row, RowRule, Sources
from tradewatch.catalogue.schema import is_view_failure, view_row_of_day
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding, jsonable
from tradewatch.schema_map.resolve import SchemaMap


def day_bounds(ctx: Context) -> tuple[datetime, datetime]:
    """The instants the trading date starts and ends (23 or 25 hours at DST changes)."""
    zone, day = ZoneInfo(ctx.map.market.zone), trading_date(ctx)
    return datetime.combine(day, time(), zone), datetime.combine(day + timedelta(days=1), time(), zone)


def _stale(scope: Scope, ctx: Context) -> sql.Composable:
    return sql.SQL("{} AND {}").format(
        scope.is_one_of("cycles.status", v.RUNNING_CYCLE_STATUSES),
        older_than(scope, ctx, scope.col("cycles.heartbeat"),
                   cutoff(ctx, RUNNING_CYCLE_FRESH.name, "stale_cycle_minutes")))


def _stale_finding(row: Row, case: str | None, ctx: Context) -> Finding:
    minutes = minutes_since(ctx, row["heartbeat"])
    threshold = ctx.threshold(RUNNING_CYCLE_FRESH.name, "stale_cycle_minutes")
    return Finding(
        "CYCLE_STALE", "WARNING", {"cycle_id": row["cycle_id"]},
        f"cycle {row['cycle_id']} is {shown(row['status'])} but not updated "
        f"{waited(ctx, row['heartbeat'], 'ever (no heartbeat)')} "
        f"(threshold {threshold:g})",
        details={"status": row["status"], "updated_at": row["heartbeat"], "minutes_since_update": minutes},
    )


RUNNING_CYCLE_FRESH = RowRule(
    "running_cycle_fresh", "test_running_cycle_fresh", "cycles", ("CYCLE_STALE",), "WARNING", "cycles",
    "a running cycle's heartbeat is within the threshold (no heartbeat at all is stale)",
    cases=v.RUNNING_CYCLE_STATUSES,
    cases_about=", ".join(f"`{status}`" for status in v.RUNNING_CYCLE_STATUSES),
    needs=("cycles.status", "cycles.heartbeat"),
    case_values={status: (("cycles.status", status),) for status in v.RUNNING_CYCLE_STATUSES},
    predicate=_stale, case_of=lambda scope, ctx: scope.canonical("cycles.status"),
    finding=_stale_finding, time_based=True, thresholds=("stale_cycle_minutes",),
    volatile=("minutes_since_update",),
)


CYCLE_STATUS_KNOWN = RowRule(
    "cycle_status_known", "test_cycle_status_known", "cycles", ("UNKNOWN_VALUE",), "WARNING", "cycles",
    "every cycle's status is in the layout's vocabulary (NULL is not)",
    needs=("cycles.status",),
    predicate=lambda scope, ctx: sql.SQL("{} IS NOT TRUE").format(scope.is_one_of("cycles.status")),
    finding=lambda row, case, ctx: unknown_value(row, "cycles.status", ctx, now=()),
)


def _today(scope: Scope, ctx: Context) -> sql.Composable:
    """A cycle of the trading date: by its date column, else by when it started."""
    if scope.has("cycles.date"):
        return sql.SQL("{} = {}").format(scope.col("cycles.date"), scope.param(trading_date(ctx)))
    start, end = day_bounds(ctx)
    return sql.SQL("{col} >= {start} AND {col} < {end}").format(
        col=scope.col("cycles.started_at"), start=scope.param(start), end=scope.param(end))


def pipeline(sources: Sources) -> dict[str, Any] | None:
    """Today's latest cycle as the pipeline status view shows it, else as the cycles table does."""
    ctx = sources.ctx
    if ctx.map.profile.migrated:
        return _pipeline_view(sources.connection(), trading_date(ctx))
    today = sorted(sources.wanted("cycles", "today"), key=lambda row: str(row["started_at"]))
    if not today:
        return None
    row = today[-1]
    latest: dict[str, Any] = jsonable({
        "cycle_id": row["cycle_id"], "cycle_date": trading_date(ctx), "cycle_status": row["status"],
        "cycle_start": row["started_at"], "cycle_end": row["ended_at"], "cycle_updated": row["heartbeat"],
    })
    return latest


def _pipeline_view(conn: psycopg.Connection, day: date) -> dict[str, Any] | None:
    """The view's row of the day's latest cycle; None without one, or when the view is broken."""
    try:
        row = view_row_of_day(conn, day)
    except psycopg.Error as exc:
        # The view check reports a broken view (today's row included); the cycle is still checked.
        if not is_view_failure(exc):
            raise
        return None
    if row is None:
        return None
    shown_row: dict[str, Any] = jsonable(row)
    return shown_row


def _no_cycle(sources: Sources, case: str | None) -> Sequence[Finding]:
    sources.record("pipeline", pipeline(sources))
    if sources.wanted("cycles", "today"):
        return []
    ctx = sources.ctx
    day = trading_date(ctx)
    return [Finding(
        "NO_CYCLE", "INFO", {},
        f"no trading cycle for {day.isoformat()} ({ctx.map.market.zone})",
        details={"trading_date": day},
    )]


def _dated(smap: SchemaMap) -> str | None:
    if smap.has("cycles.date") or smap.has("cycles.started_at"):
        return None
    return f"the {smap.profile.name} layout has no cycles.date or cycles.started_at"


CYCLE_FOR_TODAY = EvaluatedRule(
    "cycle_for_today", "test_cycle_for_today", "cycles", ("NO_CYCLE",), "INFO", "cycles",
    "a cycle exists for today's trading date in the market's zone (INFO: weekends and holidays "
    "have none); the report records the pipeline row",
    needs=("cycles.id",), requires=_dated, wants={"cycles": {"today": _today}},
    evaluate=_no_cycle,
)

RULES = (RUNNING_CYCLE_FRESH, CYCLE_STATUS_KNOWN, CYCLE_FOR_TODAY)
