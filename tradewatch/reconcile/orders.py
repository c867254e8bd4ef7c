"""Orders by broker id: statuses apart, orders the broker does not know, orders the database lacks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from tradewatch import fixes
from tradewatch.broker import BrokerSnapshot
from tradewatch.findings import Finding
from tradewatch.reconcile.grace import GRACE, order_moments, settling
from tradewatch.reconcile.notices import unconfirmed
from tradewatch.reconcile.records import DbOrder
from tradewatch.reconcile.status import order_status_mismatches

ORDER_KINDS = ("status", "not_found", "not_in_db")


def reconcile_orders(
    rows: Sequence[DbOrder], snapshot: BrokerSnapshot, kind: str, *,
    as_of: datetime | None = None, grace: timedelta = GRACE,
) -> list[Finding]:
    """Status mismatches or orders the broker does not know, from the database's open orders; one
    submitted or changed within grace before as_of is not judged (as_of None judges all)."""
    if kind == "status":
        return order_status_mismatches(rows, snapshot, as_of=as_of, grace=grace)
    findings = []
    if kind == "not_found":
        for row in rows:
            if snapshot.confirmed_missing(row.alpaca_order_id) and not settling(
                    as_of, grace, order_moments(row)):
                findings.append(_not_found(row))
        if snapshot.unconfirmed:
            findings.append(unconfirmed(snapshot.unconfirmed))
    return findings


def _not_found(row: DbOrder) -> Finding:
    return Finding(
        "ORDER_NOT_FOUND", "WARNING", row.keys,
        f"order {row.order_id} ({row.symbol}, {row.status!r}) has broker id "
        f"{row.alpaca_order_id}, which the broker does not know",
        details={"db_status": row.status},
        fix_data=fixes.update_row(
            "orders", {"order_id": row.order_id}, {"status": row.status},
            {"status": "not_found"}, source="broker",
        ),
    )


def orders_not_in_db(
    snapshot: BrokerSnapshot, known_ids: Collection[str], *,
    as_of: datetime | None = None, grace: timedelta = GRACE,
) -> list[Finding]:
    """Open broker orders (bracket legs included) that no database order carries; one submitted or
    changed within grace before as_of is not judged yet (the database may still be writing it)."""
    return [
        Finding(
            "ORDER_NOT_IN_DB", "CRITICAL", {"alpaca_order_id": order.id, "symbol": order.symbol},
            " ".join(filter(None, ("the broker has an open", order.symbol, order.side, order.order_type,
                                   f"order {order.id} ({order.status})",
                                   "that the database does not record"))),
            details={"status": order.status, "side": order.side, "order_type": order.order_type,
                     "qty": order.qty, "submitted_at": order.submitted_at,
                     "client_order_id": order.client_order_id, "parent_id": order.parent_id},
        )
        for order in sorted(snapshot.orders.values(), key=lambda order: order.id)
        if order.is_open and order.id not in known_ids
        and not settling(as_of, grace, order_moments(None, order))
    ]
