"""Order statuses in both directions: the database's open and recently ended orders vs the broker's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tradewatch import fixes, vocabulary
from tradewatch.broker import BrokerOrder, BrokerSnapshot
from tradewatch.findings import Finding, Severity
from tradewatch.reconcile.grace import GRACE, order_moments, settling
from tradewatch.reconcile.records import DbOrder
from tradewatch.vocabulary import Vocabulary

# Ended without (all of) a fill: a database that says filled where the broker says one of
# these, or the other way round, has the wrong shares (rejected, error and not_found are the
# trading system's words for orders that never filled at all).
UNFILLED_ENDS = frozenset({"canceled", "expired", "rejected", "error", "not_found"})


def order_status_mismatches(
    rows: Sequence[DbOrder], snapshot: BrokerSnapshot, *,
    as_of: datetime | None = None, grace: timedelta = GRACE, words: Vocabulary | None = None,
) -> list[Finding]:
    """ORDER_STATUS_MISMATCH for each order whose status the broker contradicts.

    rows: the database's open orders and those that ended inside the fills window. An order
    the broker replaced is judged by its last replacement; one submitted or changed within
    grace before as_of (on either side) is not judged. as_of None judges everything. words:
    the layout's vocabulary, where a broker status it has no word for is recorded as one of
    its stand-ins (a layout without 'held' agrees with a held order it calls 'new'); None
    compares the statuses as they are.
    """
    findings = []
    for row in rows:
        own = snapshot.order(row.alpaca_order_id)
        if own is None:
            continue  # ORDER_NOT_FOUND's, or outside what the snapshot read
        # The database calling it replaced agrees with the order itself, not its replacement.
        replaced = row.normalized_status == "replaced"
        theirs = own if replaced else (snapshot.current(row.alpaca_order_id) or own)
        if settling(as_of, grace, order_moments(row, own, theirs)):
            continue
        if row.normalized_status not in _recorded_as(theirs.status, words):
            findings.append(_mismatch(row, own, theirs))
    return findings


def _recorded_as(broker_status: str, words: Vocabulary | None) -> tuple[str, ...]:
    """What the database may call an order in the broker's status: the status itself, or what a
    layout without a word for it writes instead."""
    status = vocabulary.normalize_status(broker_status)
    return (words.holds_as("orders.status", status) if words is not None else ()) or (status,)


def severity(db_status: str, theirs: BrokerOrder) -> Severity:
    """CRITICAL when one side says filled and the other open or ended unfilled, else WARNING."""
    mine, broker = vocabulary.normalize_status(db_status), vocabulary.normalize_status(theirs.status)
    if mine == "filled" and (theirs.is_open or broker in UNFILLED_ENDS):
        return "CRITICAL"
    if mine in UNFILLED_ENDS and broker == "filled":
        return "CRITICAL"
    return "WARNING"


def _mismatch(row: DbOrder, own: BrokerOrder, theirs: BrokerOrder) -> Finding:
    level = severity(row.normalized_status, theirs)
    via = "" if theirs is own else f" (its replacement {theirs.id})"
    details = {"db_status": row.status, "broker_status": theirs.status,
               "broker_filled_qty": theirs.filled_qty,
               "broker_filled_avg_price": theirs.filled_avg_price,
               "broker_filled_at": theirs.filled_at}
    if theirs is not own:
        details["replaced_by"] = theirs.id
    fix = None
    # A person decides where the shares went (CRITICAL), or what to do with a replacement the
    # database lacks; otherwise the broker's word, guarded by the status read, so a fix
    # reviewed late cannot undo a newer update.
    if level == "WARNING" and theirs is own:
        changes = {"status": theirs.status, "filled_qty": theirs.filled_qty,
                   "filled_avg_price": theirs.filled_avg_price, "filled_at": theirs.filled_at,
                   "cancelled_at": theirs.canceled_at, "expired_at": theirs.expired_at}
        # Only what the broker knows: a fix never blanks a fill the database already has.
        changes = {column: value for column, value in changes.items() if value is not None}
        fix = fixes.update_row("orders", {"order_id": row.order_id}, {"status": row.status}, changes,
                               source="broker")
    return Finding(
        "ORDER_STATUS_MISMATCH", level, row.keys,
        f"order {row.order_id} ({row.symbol}) is {row.status!r} in the database "
        f"but {theirs.status!r} at the broker{via}",
        details=details, fix_data=fix,
    )
