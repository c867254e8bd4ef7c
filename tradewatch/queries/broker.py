"""Reconciling the database's rows with the broker snapshot: positions by symbol, orders by broker id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tradewatch import fixes, vocabulary
from tradewatch.broker import BrokerSnapshot
from tradewatch.findings import Finding, Severity, jsonable

# Positions are compared per symbol: the broker holds one net position per symbol, while
# the database may hold several (a scale-in, or even a long and a short of one symbol).
# The database's live quantities are netted with their sign (long +, short -), and the net
# is compared with the broker's signed quantity: its sign is the side, its size the quantity.
# A symbol the database nets to zero has no side, so only its quantity can disagree.
POSITION_KINDS = ("db_only", "broker_only", "quantity", "side")
ORDER_KINDS = ("status", "not_found", "not_in_db")


@dataclass(frozen=True)
class DbPosition:
    """A live position as the database records it."""

    position_id: int
    symbol: str
    side: str
    quantity: Decimal
    status: str

    @property
    def signed(self) -> Decimal:
        """Quantity with the side as its sign."""
        return -self.quantity if self.side == "short" else self.quantity


@dataclass(frozen=True)
class DbOrder:
    """A non-terminal order the database says the broker has."""

    order_id: int
    position_id: int | None
    alpaca_order_id: str
    symbol: str
    status: str


def reconcile_positions(
    rows: Sequence[DbPosition], snapshot: BrokerSnapshot, kind: str, threshold_pct: float,
) -> list[Finding]:
    """The findings of one kind, from the database's live positions and the broker's."""
    mine: dict[str, list[DbPosition]] = defaultdict(list)
    for row in rows:
        mine[row.symbol].append(row)
    held: dict[str, Decimal] = defaultdict(Decimal)
    for position in snapshot.positions:
        held[position.symbol] += position.qty
    findings: list[Finding] = []
    for symbol in sorted(set(mine) | set(held)):
        db_rows, broker_qty = mine.get(symbol, []), held.get(symbol, Decimal(0))
        if kind == "db_only" and db_rows and broker_qty == 0:
            findings.extend(_phantom(row) for row in db_rows)
        elif kind == "broker_only" and not db_rows and broker_qty != 0:
            findings.append(_orphan(symbol, broker_qty))
        elif db_rows and broker_qty != 0:
            db_qty = sum((row.signed for row in db_rows), Decimal(0))
            if kind == "quantity" and abs(db_qty) != abs(broker_qty):
                findings.append(_qty_mismatch(symbol, db_rows, db_qty, broker_qty, threshold_pct))
            elif kind == "side" and db_qty != 0 and (db_qty > 0) != (broker_qty > 0):
                findings.append(_side_mismatch(symbol, db_rows, db_qty, broker_qty))
    return findings


def _side(qty: Decimal) -> str:
    return "short" if qty < 0 else "long"


def _ids(rows: Iterable[DbPosition]) -> list[int]:
    return [row.position_id for row in rows]


def _phantom(row: DbPosition) -> Finding:
    return Finding(
        "PHANTOM_POSITION", "CRITICAL", {"position_id": row.position_id, "symbol": row.symbol},
        f"position {row.position_id} ({row.symbol} {row.side} {jsonable(row.quantity)}) is "
        f"{row.status} in the database, but the broker holds no {row.symbol}",
        details={"side": row.side, "db_qty": row.quantity, "broker_qty": 0, "status": row.status},
        # Guarded by the status read, so a fix reviewed late cannot close a position twice.
        fix_data=fixes.update_row(
            "positions", {"position_id": row.position_id}, {"status": row.status},
            {"status": "closed", "close_reason": "phantom_reconciliation"},
            set_now=("closed_at", "updated_at"), source="broker",
        ),
    )


def _orphan(symbol: str, broker_qty: Decimal) -> Finding:
    return Finding(
        "ORPHAN_POSITION", "CRITICAL", {"symbol": symbol},
        f"the broker holds {symbol} {_side(broker_qty)} {jsonable(abs(broker_qty))}, "
        "but no live position in the database does",
        details={"side": _side(broker_qty), "db_qty": 0, "broker_qty": broker_qty},
    )


def _qty_mismatch(
    symbol: str, rows: Sequence[DbPosition], db_qty: Decimal,
    broker_qty: Decimal, threshold_pct: float,
) -> Finding:
    db_abs, broker_abs = abs(db_qty), abs(broker_qty)
    pct = abs(db_abs - broker_abs) * 100 / max(db_abs, broker_abs)
    severity: Severity = "WARNING" if pct < Decimal(str(threshold_pct)) else "CRITICAL"
    fix = None
    # Only one position to correct, on the broker's side, to a whole number the column takes.
    if len(rows) == 1 and (db_qty > 0) == (broker_qty > 0) and broker_abs == broker_abs.to_integral():
        fix = fixes.update_row(
            "positions", {"position_id": rows[0].position_id}, {"quantity": rows[0].quantity},
            {"quantity": broker_abs}, source="broker",
        )
    return Finding(
        "QTY_MISMATCH", severity, {"symbol": symbol},
        f"{symbol}: the database holds {jsonable(db_abs)}, the broker {jsonable(broker_abs)} "
        f"({pct:.1f}% apart, threshold {threshold_pct:g}%)",
        details={"db_qty": db_abs, "broker_qty": broker_abs, "difference": broker_abs - db_abs,
                 "difference_pct": round(float(pct), 2), "position_ids": _ids(rows)},
        fix_data=fix,
    )


def _side_mismatch(
    symbol: str, rows: Sequence[DbPosition], db_qty: Decimal, broker_qty: Decimal
) -> Finding:
    return Finding(
        "SIDE_MISMATCH", "CRITICAL", {"symbol": symbol},
        f"{symbol}: the database is {_side(db_qty)} {jsonable(abs(db_qty))}, "
        f"the broker {_side(broker_qty)} {jsonable(abs(broker_qty))}",
        details={"db_side": _side(db_qty), "broker_side": _side(broker_qty),
                 "db_qty": db_qty, "broker_qty": broker_qty, "position_ids": _ids(rows)},
    )


def reconcile_orders(
    rows: Sequence[DbOrder], snapshot: BrokerSnapshot, kind: str
) -> list[Finding]:
    """Status mismatches or orders the broker does not know, from the database's open orders."""
    findings = []
    for row in rows:
        keys = {"order_id": row.order_id, "position_id": row.position_id,
                "alpaca_order_id": row.alpaca_order_id, "symbol": row.symbol}
        theirs = snapshot.order(row.alpaca_order_id)
        if kind == "status" and theirs is not None:
            if vocabulary.normalize_status(row.status) == vocabulary.normalize_status(theirs.status):
                continue
            changes = {"status": theirs.status, "filled_qty": theirs.filled_qty,
                       "filled_avg_price": theirs.filled_avg_price, "filled_at": theirs.filled_at,
                       "cancelled_at": theirs.canceled_at, "expired_at": theirs.expired_at}
            # Only what the broker knows: a fix never blanks a fill the database already has.
            changes = {column: value for column, value in changes.items() if value is not None}
            findings.append(Finding(
                "ORDER_STATUS_MISMATCH", "WARNING", keys,
                f"order {row.order_id} ({row.symbol}) is {row.status!r} in the database "
                f"but {theirs.status!r} at the broker",
                details={"db_status": row.status, "broker_status": theirs.status,
                         "broker_filled_qty": theirs.filled_qty,
                         "broker_filled_avg_price": theirs.filled_avg_price,
                         "broker_filled_at": theirs.filled_at},
                # Guarded by the status read, so a fix reviewed late cannot undo a newer update.
                fix_data=fixes.update_row(
                    "orders", {"order_id": row.order_id}, {"status": row.status}, changes,
                    source="broker",
                ),
            ))
        elif kind == "not_found" and snapshot.confirmed_missing(row.alpaca_order_id):
            findings.append(Finding(
                "ORDER_NOT_FOUND", "WARNING", keys,
                f"order {row.order_id} ({row.symbol}, {row.status!r}) has broker id "
                f"{row.alpaca_order_id}, which the broker does not know",
                details={"db_status": row.status},
                fix_data=fixes.update_row(
                    "orders", {"order_id": row.order_id}, {"status": row.status},
                    {"status": "not_found"}, source="broker",
                ),
            ))
    if kind == "not_found" and snapshot.unconfirmed:
        findings.append(unconfirmed(snapshot.unconfirmed))
    return findings


def unconfirmed(alpaca_order_ids: Sequence[str]) -> Finding:
    """Orders left unasked past the look-up limit: reported, so nothing is silently unchecked."""
    return Finding(
        "RECONCILIATION_SKIPPED", "INFO", {"table": "orders"},
        f"{len(alpaca_order_ids)} database order(s) missing from the broker's listings were not "
        "looked up this run (--broker-lookup-limit); settle the ones reported to reach them",
        details={"unconfirmed": len(alpaca_order_ids), "alpaca_order_ids": list(alpaca_order_ids[:20])},
    )


def orders_not_in_db(snapshot: BrokerSnapshot, known_ids: Collection[str]) -> list[Finding]:
    """Open broker orders (bracket legs included) that no database order carries."""
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
    ]


def skipped(reason: str) -> Finding:
    """Said once per run when the broker cannot be compared at all, so the report shows it."""
    return Finding(
        "RECONCILIATION_SKIPPED", "INFO", {},
        f"broker reconciliation skipped: {reason}",
        details={"reason": reason},
    )
