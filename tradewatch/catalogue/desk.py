"""The desk's day at a glance, for the report's metadata (the watchdog's v2 counts): today's orders and
positions by status and the day's P&L, taken from the table reads the rules make anyway."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from psycopg import sql

from tradewatch import vocabulary as v
from tradewatch.catalogue.cycles import day_bounds
from tradewatch.catalogue.rule import Context, Predicate, Row
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import jsonable


def _since_start(scope: Scope, ctx: Context, *fields: str) -> sql.Composable:
    present = [scope.col(field) for field in fields if scope.has(field)]
    if not present:
        return sql.SQL("false")
    start, _ = day_bounds(ctx)
    return sql.SQL("GREATEST({}) >= {}").format(sql.SQL(", ").join(present), scope.param(start))


def _orders_today(scope: Scope, ctx: Context) -> sql.Composable:
    return _since_start(scope, ctx, "orders.submitted_at", "orders.created_at")


def _positions_today(scope: Scope, ctx: Context) -> sql.Composable:
    live = scope.is_one_of("positions.status", v.LIVE_POSITION_STATUSES) if scope.has("positions.status") \
        else sql.SQL("false")
    return sql.SQL("({}) IS TRUE OR {}").format(
        live, _since_start(scope, ctx, "positions.opened_at", "positions.closed_at"))


# What the desk figures ask of each table's read.
WANTS: dict[str, dict[str, Predicate]] = {
    "orders": {"today": _orders_today}, "positions": {"today": _positions_today},
}


def figures(orders: list[Row] | None, positions: list[Row] | None) -> dict[str, Any]:
    """Today's orders and positions by status (as stored), and the day's P&L: realized on what closed
    today, unrealized on what is open. A table that was not read gives no figures (left out)."""
    desk: dict[str, Any] = {}
    if orders is not None:
        desk["orders"] = dict(Counter(str(row["status"]) for row in orders))
    if positions is not None:
        desk["positions"] = dict(Counter(str(row["status"]) for row in positions))
        pnl = Decimal(0)
        for row in positions:
            live = row["status_meaning"] in v.LIVE_POSITION_STATUSES
            value = row["unrealized_pnl"] if live else row["realized_pnl"]
            pnl += Decimal(value) if value is not None else Decimal(0)
        desk["daily_pnl"] = jsonable(pnl) if pnl.is_finite() else None  # a NaN P&L is no figure
    return desk
