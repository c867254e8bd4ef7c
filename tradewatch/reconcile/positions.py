"""Positions by symbol: held in the database and not at the broker, or the other way, or apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from tradewatch import fixes
from tradewatch.broker import BrokerSnapshot
from tradewatch.findings import Finding, Severity, jsonable
from tradewatch.reconcile.records import DbPosition

# Positions are compared per symbol: the broker holds one net position per symbol, while
# the database may hold several (a scale-in, or even a long and a short of one symbol).
# The database's live quantities are netted with their sign (long +, short -), and the net
# is compared with the broker's signed quantity: its sign is the side, its size the quantity.
# A symbol the database nets to zero has no side, so only its quantity can disagree.
POSITION_KINDS = ("db_only", "broker_only", "quantity", "side")


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
