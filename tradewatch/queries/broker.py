"""The database's side of the broker reconciliation: its reads; the rules are tradewatch.reconcile."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from tradewatch import vocabulary
from tradewatch.broker import BrokerSnapshot
from tradewatch.findings import Finding
from tradewatch.reconcile.notices import skipped, unconfirmed
from tradewatch.reconcile.orders import ORDER_KINDS, orders_not_in_db, reconcile_orders
from tradewatch.reconcile.positions import POSITION_KINDS, reconcile_positions
from tradewatch.reconcile.records import DbOrder, DbPosition
from tradewatch.watched import WatchedDatabase

# The rules moved to tradewatch.reconcile; their old names here keep the checks working.
__all__ = [
    "ORDER_KINDS", "POSITION_KINDS", "DbOrder", "DbPosition", "known_order_ids", "live_positions",
    "open_orders", "orders", "orders_not_in_db", "positions", "reconcile_orders",
    "reconcile_positions", "skipped", "unconfirmed",
]


def live_positions(watched: WatchedDatabase) -> list[DbPosition]:
    """The positions that still hold shares, by the database."""
    rows = watched.conn.execute(
        """
        SELECT p.position_id, s.symbol, p.side, p.quantity, p.status
        FROM positions p
        JOIN securities s ON s.security_id = p.security_id
        WHERE p.status = ANY(%(live)s)
        ORDER BY s.symbol, p.position_id
        """,
        {"live": list(vocabulary.LIVE_POSITION_STATUSES)},
    ).fetchall()
    return [DbPosition(pid, symbol, side, Decimal(qty), status) for pid, symbol, side, qty, status in rows]


def open_orders(watched: WatchedDatabase) -> list[DbOrder]:
    """Orders with a broker id whose status is not terminal: the ones the broker should agree on."""
    rows = watched.conn.execute(
        """
        SELECT o.order_id, o.position_id, o.alpaca_order_id, s.symbol, o.status
        FROM orders o
        JOIN securities s ON s.security_id = o.security_id
        WHERE o.alpaca_order_id IS NOT NULL AND NOT lower(o.status) = ANY(%(terminal)s)
        ORDER BY o.order_id
        """,
        {"terminal": sorted(vocabulary.TERMINAL_STATUSES)},
    ).fetchall()
    return [DbOrder(*row) for row in rows]


def known_order_ids(watched: WatchedDatabase, alpaca_order_ids: Collection[str]) -> set[str]:
    """Which of these broker ids some database order carries, whatever its status."""
    if not alpaca_order_ids:
        return set()
    rows = watched.conn.execute(
        # Matched as the snapshot matches them, case and spaces aside (migrations/0006 indexes it).
        "SELECT lower(btrim(alpaca_order_id)) FROM orders WHERE lower(btrim(alpaca_order_id)) = ANY(%s)",
        ([alpaca_order_id.strip().lower() for alpaca_order_id in alpaca_order_ids],),
    ).fetchall()
    return {row[0] for row in rows}


def positions(watched: WatchedDatabase, snapshot: BrokerSnapshot, kind: str) -> list[Finding]:
    """Positions of one kind of disagreement (see POSITION_KINDS) between database and broker."""
    return reconcile_positions(
        live_positions(watched), snapshot, kind, watched.settings.qty_mismatch_pct
    )


def orders(watched: WatchedDatabase, snapshot: BrokerSnapshot, kind: str) -> list[Finding]:
    """Orders of one kind of disagreement (see ORDER_KINDS) between database and broker."""
    if kind == "not_in_db":
        open_ids = [order.id for order in snapshot.orders.values() if order.is_open]
        return orders_not_in_db(snapshot, known_order_ids(watched, open_ids))
    return reconcile_orders(open_orders(watched), snapshot, kind)
