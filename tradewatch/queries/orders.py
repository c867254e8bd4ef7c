"""Order invariants: sides, purposes, statuses, links and progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from tradewatch import fixes, vocabulary
from tradewatch.findings import Finding, jsonable
from tradewatch.watched import WatchedDatabase

# The orders a check reads: those of live positions, pending ones, and those of the
# lookback window. Each branch reads through an index (migrations/0006) and carries the
# columns the checks read, so no plan goes back to the whole orders table: cost follows
# the open book. A check's conditions on these columns reach into every branch. The live
# positions are listed first, so their orders are found by position_id, never by a scan.
_SCOPED_ORDERS = sql.SQL("""
    scoped AS (
        SELECT {columns} FROM orders WHERE created_at >= %(since)s
        UNION
        SELECT {columns} FROM orders WHERE status = ANY(%(pending)s)
        UNION
        SELECT {columns} FROM orders
        WHERE position_id = ANY(ARRAY(
            SELECT position_id FROM positions WHERE status = ANY(%(live)s)
        ))
    )
""")
_SCOPED_COLUMNS = ("order_id", "position_id", "parent_order_id", "security_id", "alpaca_order_id",
                   "side", "order_purpose", "status", "filled_qty", "filled_at")


def _scoped(body: str) -> sql.Composed:
    """A query over the scoped orders: body reads the CTE named scoped."""
    scoped = _SCOPED_ORDERS.format(columns=sql.SQL(", ").join(map(sql.Identifier, _SCOPED_COLUMNS)))
    return sql.SQL("WITH {scoped} {body}").format(scoped=scoped, body=sql.SQL(body))


def _scope(watched: WatchedDatabase) -> dict[str, Any]:
    return {
        "since": watched.as_of - timedelta(hours=watched.settings.lookback_hours),
        "pending": list(vocabulary.PENDING_STATUSES),
        "live": list(vocabulary.LIVE_POSITION_STATUSES),
    }


def wrong_sides(watched: WatchedDatabase, position_side: str, purpose: str) -> list[Finding]:
    """Orders of one purpose on positions of one side whose side does not open/close it."""
    expected = vocabulary.expected_side(position_side, purpose)
    rows = watched.conn.execute(
        _scoped("""
        SELECT o.order_id, owner.position_id, o.alpaca_order_id, s.symbol, o.side
        FROM scoped o
        -- A bracket leg without a position_id belongs to its parent order's position.
        CROSS JOIN LATERAL (
            SELECT COALESCE(o.position_id, (
                SELECT parent.position_id FROM orders parent WHERE parent.order_id = o.parent_order_id
            )) AS position_id
        ) AS owner
        JOIN securities s ON s.security_id = o.security_id
        WHERE o.order_purpose = %(purpose)s AND o.side <> %(expected)s
          -- Looked up per scoped order: a join may be planned as a scan of all positions.
          AND (SELECT p.side FROM positions p WHERE p.position_id = owner.position_id)
              = %(position_side)s
        ORDER BY o.order_id
        """),
        {**_scope(watched), "position_side": position_side, "purpose": purpose,
         "expected": expected},
    ).fetchall()
    return [
        Finding(
            "WRONG_ORDER_SIDE", "CRITICAL",
            {"order_id": order_id, "position_id": position_id,
             "alpaca_order_id": alpaca_order_id, "symbol": symbol},
            f"order {order_id} ({symbol}, {purpose} of a {position_side} position) is a {side}, "
            f"expected {expected}",
            details={"side": side, "expected_side": expected, "order_purpose": purpose,
                     "position_side": position_side},
            fix_data=fixes.update_row("orders", {"order_id": order_id}, {"side": side}, {"side": expected}),
        )
        for order_id, position_id, alpaca_order_id, symbol, side in rows
    ]


def purpose_missing(watched: WatchedDatabase) -> list[Finding]:
    """Orders whose purpose is unset or outside entry/exit/stop_loss/take_profit."""
    rows = watched.conn.execute(
        _scoped("""
        SELECT o.order_id, o.position_id, o.alpaca_order_id, s.symbol, o.order_purpose
        FROM scoped o
        JOIN securities s ON s.security_id = o.security_id
        WHERE o.order_purpose IS NULL OR NOT o.order_purpose = ANY(%(purposes)s)
        ORDER BY o.order_id
        """),
        {**_scope(watched), "purposes": list(vocabulary.ORDER_PURPOSES)},
    ).fetchall()
    return [
        Finding(
            "ORDER_PURPOSE_MISSING", "WARNING",
            {"order_id": order_id, "position_id": position_id,
             "alpaca_order_id": alpaca_order_id, "symbol": symbol},
            f"order {order_id} ({symbol}) has "
            + (f"purpose {purpose!r}" if purpose is not None else "no purpose")
            + f", expected one of {', '.join(vocabulary.ORDER_PURPOSES)}",
            details={"order_purpose": purpose},
        )
        for order_id, position_id, alpaca_order_id, symbol, purpose in rows
    ]


def stuck(watched: WatchedDatabase, status: str) -> list[Finding]:
    """Top-level orders pending in one status beyond the threshold, submitted or never sent."""
    threshold = watched.settings.stuck_order_minutes
    rows = watched.conn.execute(
        """
        SELECT o.order_id, o.position_id, o.alpaca_order_id, s.symbol, o.side,
               o.order_purpose, o.quantity, o.submitted_at IS NULL AS never_submitted,
               EXTRACT(EPOCH FROM (%(as_of)s - COALESCE(o.submitted_at, o.created_at))) / 60
        FROM orders o
        JOIN securities s ON s.security_id = o.security_id
        WHERE o.status = %(status)s
          -- Bracket legs rest at the broker by design until their price is reached.
          AND o.parent_order_id IS NULL
          AND COALESCE(o.submitted_at, o.created_at) < %(cutoff)s
        ORDER BY o.order_id
        """,
        {"status": status, "as_of": watched.as_of,
         "cutoff": watched.as_of - timedelta(minutes=threshold)},
    ).fetchall()
    findings = []
    for order_id, position_id, alpaca_id, symbol, side, purpose, qty, unsent, minutes in rows:
        since = "created and never submitted" if unsent else f"{status}"
        findings.append(Finding(
            "STUCK_ORDER", "WARNING",
            {"order_id": order_id, "position_id": position_id,
             "alpaca_order_id": alpaca_id, "symbol": symbol},
            f"order {order_id} ({symbol} {side} {purpose or 'unknown purpose'} {qty}) "
            f"{since} for {float(minutes):.0f} min (threshold {threshold:g})",
            details={"status": status, "minutes_pending": round(float(minutes), 1),
                     "never_submitted": unsent, "side": side, "order_purpose": purpose,
                     "quantity": qty},
            # Guarded by the status read, so a fix reviewed late cannot undo a fill.
            fix_data=fixes.update_row(
                "orders", {"order_id": order_id}, {"status": status}, {"status": "expired"},
                set_now=("expired_at", "updated_at"),
            ),
        ))
    return findings


def unlinked_entries(watched: WatchedDatabase) -> list[Finding]:
    """Filled entry orders that belong to no position: shares held that no position tracks."""
    rows = watched.conn.execute(
        _scoped("""
        SELECT o.order_id, o.alpaca_order_id, s.symbol, o.side, o.filled_qty, o.filled_at
        FROM scoped o
        JOIN securities s ON s.security_id = o.security_id
        WHERE o.position_id IS NULL AND o.order_purpose = 'entry'
          AND o.status IN ('filled', 'partially_filled', 'partial_fill')
        ORDER BY o.order_id
        """),
        _scope(watched),
    ).fetchall()
    return [
        Finding(
            "UNLINKED_ORDER", "CRITICAL",
            {"order_id": order_id, "alpaca_order_id": alpaca_order_id, "symbol": symbol},
            f"filled entry order {order_id} ({symbol} {side} {jsonable(filled_qty)}) has no position",
            details={"side": side, "filled_qty": filled_qty, "filled_at": filled_at},
        )
        for order_id, alpaca_order_id, symbol, side, filled_qty, filled_at in rows
    ]


def unknown_statuses(watched: WatchedDatabase) -> list[Finding]:
    """Order statuses outside the broker's and the trading system's vocabularies."""
    rows = watched.conn.execute(
        _scoped("""
        SELECT o.order_id, o.position_id, o.alpaca_order_id, s.symbol, o.status
        FROM scoped o
        JOIN securities s ON s.security_id = o.security_id
        WHERE NOT o.status = ANY(%(known)s)
        ORDER BY o.order_id
        """),
        {**_scope(watched), "known": sorted(vocabulary.KNOWN_STATUSES)},
    ).fetchall()
    findings = []
    for order_id, position_id, alpaca_order_id, symbol, status in rows:
        repaired = _repair_status(status)
        findings.append(Finding(
            "UNKNOWN_ORDER_STATUS", "WARNING",
            {"order_id": order_id, "position_id": position_id,
             "alpaca_order_id": alpaca_order_id, "symbol": symbol},
            f"order {order_id} ({symbol}) has status {status!r}, which neither the broker "
            "nor the trading system uses",
            details={"status": status, "suggested_status": repaired},
            fix_data=None if repaired is None else fixes.update_row(
                "orders", {"order_id": order_id}, {"status": status}, {"status": repaired},
            ),
        ))
    return findings


def _repair_status(status: str) -> str | None:
    """The known status a mangled one stands for ('OrderStatus.NEW' is 'new'), if any."""
    candidate = status.strip().lower().removeprefix("orderstatus.")
    return candidate if candidate in vocabulary.KNOWN_STATUSES else None

