"""Broker rules: the database's positions and orders agree with the run's one broker snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from psycopg import sql

from tradewatch import vocabulary as v
from tradewatch.catalogue.rule import Context, EvaluatedRule, Row, Sources
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding
from tradewatch.reconcile.orders import ORDER_KINDS, orders_not_in_db, reconcile_orders
from tradewatch.reconcile.positions import POSITION_KINDS, reconcile_positions
from tradewatch.reconcile.records import DbOrder, DbPosition
from tradewatch.schema_map.resolve import SchemaMap


def alpaca(smap: SchemaMap) -> str | None:
    """Why the Alpaca reconciliation does not apply to this layout's desk."""
    if smap.profile.broker == "alpaca":
        return None
    return f"the {smap.profile.name} desk trades through {smap.profile.broker}, not Alpaca"


def _with_symbols(smap: SchemaMap) -> str | None:
    reason = alpaca(smap)
    if reason is None and not (smap.has("positions.symbol") or (
            smap.has("positions.security") and smap.has("securities.symbol"))):
        reason = f"the {smap.profile.name} layout gives positions no symbol"
    return reason


def _live(scope: Scope, ctx: Context) -> sql.Composable:
    return scope.is_one_of("positions.status", v.LIVE_POSITION_STATUSES)


def _open_at_broker(scope: Scope, ctx: Context) -> sql.Composable:
    # An unknown status counts as open: the broker is asked rather than the order passed over.
    return sql.SQL("{} IS NOT NULL AND {} IS NOT TRUE").format(
        scope.col("orders.broker_id"), scope.is_one_of("orders.status", v.TERMINAL_STATUSES))


def live_positions(sources: Sources) -> list[DbPosition]:
    """The database's live positions from the positions read."""
    return [_position(row) for row in sources.wanted("positions", "live")]


def _position(row: Row) -> DbPosition:
    side = row["side_meaning"] or row["side"]
    quantity = Decimal(row["quantity"]) if row["quantity"] is not None else Decimal(0)
    return DbPosition(row["position_id"], row["symbol"], str(side), quantity, row["status"])


def open_orders(sources: Sources) -> list[DbOrder]:
    """The database's orders the broker should still hold, from the orders read."""
    return [DbOrder(row["order_id"], row["position_id"], row["alpaca_order_id"], row["symbol"],
                              row["status"] if row["status"] is not None else "NULL")
            for row in sources.wanted("orders", "open_at_broker")]


def _positions(sources: Sources, case: str | None) -> Sequence[Finding]:
    assert case is not None
    threshold = sources.ctx.threshold(POSITIONS_MATCH_BROKER.name, "qty_mismatch_pct")
    return reconcile_positions(live_positions(sources), sources.snapshot(), case, threshold)


POSITIONS_MATCH_BROKER = EvaluatedRule(
    "positions_match_broker", "test_positions_match_broker", "broker",
    ("PHANTOM_POSITION", "ORPHAN_POSITION", "QTY_MISMATCH", "SIDE_MISMATCH"), "CRITICAL", "broker",
    "per symbol, the signed sum of the database's live positions equals the broker's signed "
    "quantity (quantity: WARNING below the threshold)",
    cases=POSITION_KINDS, cases_about=", ".join(f"`{c}`" for c in POSITION_KINDS),
    needs=("positions.status", "positions.side", "positions.quantity"), requires=_with_symbols,
    wants={"positions": {"live": _live}}, thresholds=("qty_mismatch_pct",), broker=True,
    evaluate=_positions,
)


def known_broker_ids(sources: Sources, alpaca_order_ids: Sequence[str]) -> set[str]:
    """Which of these broker ids some database order carries, whatever its status (by index)."""
    if not alpaca_order_ids:
        return set()
    smap = sources.ctx.map
    folded = sql.SQL("lower(btrim({}::text))").format(smap.column("orders.broker_id"))
    query = sql.SQL("SELECT {folded} FROM {orders} WHERE {folded} = ANY(%s)").format(
        folded=folded, orders=smap.table("orders"))
    conn = sources.connection()
    with conn.transaction():
        rows = conn.execute(query, ([order_id.strip().lower() for order_id in alpaca_order_ids],)).fetchall()
    return {row[0] for row in rows}


def _orders(sources: Sources, case: str | None) -> Sequence[Finding]:
    snapshot = sources.snapshot()
    if case == "not_in_db":
        open_ids = [order.id for order in snapshot.orders.values() if order.is_open]
        return orders_not_in_db(snapshot, known_broker_ids(sources, open_ids))
    assert case is not None
    return reconcile_orders(open_orders(sources), snapshot, case)


ORDERS_MATCH_BROKER = EvaluatedRule(
    "orders_match_broker", "test_orders_match_broker", "broker",
    ("ORDER_STATUS_MISMATCH", "ORDER_NOT_FOUND", "ORDER_NOT_IN_DB"), "WARNING", "broker",
    "the database's open orders have the broker's status and exist at the broker; the broker's "
    "open orders exist in the database (not in the database: CRITICAL)",
    cases=ORDER_KINDS, cases_about=", ".join(f"`{c}`" for c in ORDER_KINDS),
    needs=("orders.broker_id", "orders.status"), requires=alpaca,
    wants={"orders": {"open_at_broker": _open_at_broker}}, broker=True, evaluate=_orders,
)

RULES = (POSITIONS_MATCH_BROKER, ORDERS_MATCH_BROKER)
