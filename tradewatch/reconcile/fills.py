"""The fills tie-out: the broker's executions per order against the database's filled quantity and price."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from tradewatch import fixes
from tradewatch.broker import BrokerFill, BrokerSnapshot
from tradewatch.findings import Finding, Severity, jsonable
from tradewatch.reconcile.grace import GRACE, order_moments, settling
from tradewatch.reconcile.records import DbOrder

# A database order in one of these, or with a filled quantity, says some of it filled.
MARKED_FILLED = frozenset({"filled", "partially_filled"})
PRICE_TOLERANCE_PCT = 0.5
PRICE_PLACES = Decimal("0.00000001")  # a fix's average price: finer than any price column


@dataclass
class Attribution:
    """The window's fills, by the database order they belong to, and those no order claims."""

    by_order: dict[int, list[BrokerFill]] = field(default_factory=lambda: defaultdict(list))
    unclaimed: dict[str, list[BrokerFill]] = field(default_factory=lambda: defaultdict(list))


def fill_order_ids(snapshot: BrokerSnapshot) -> set[str]:
    """The broker ids to read database orders for: each fill's order and the orders it replaced."""
    ids: set[str] = set()
    for fill in snapshot.fills:
        ids.add(fill.order_id)
        ids.update(snapshot.ancestors(fill.order_id))
    return ids


def attribute(rows: Sequence[DbOrder], snapshot: BrokerSnapshot) -> Attribution:
    """Give each fill to the database order with its order's id, else to the order it replaced."""
    by_id = {row.broker_id: row for row in rows}
    # A replacement the database does not hold belongs to the database order it replaced.
    successors: dict[str, DbOrder] = {}
    for row in rows:
        for later in snapshot.lineage(row.alpaca_order_id)[1:]:
            if later.id not in by_id:
                successors.setdefault(later.id, row)
    found = Attribution()
    for fill in snapshot.fills:
        owner = by_id.get(fill.order_id) or successors.get(fill.order_id)
        if owner is None:
            owner = next((by_id[earlier] for earlier in snapshot.ancestors(fill.order_id)
                          if earlier in by_id), None)
        if owner is None:
            found.unclaimed[fill.order_id].append(fill)
        else:
            found.by_order[owner.order_id].append(fill)
    return found


def marks_filled(row: DbOrder) -> bool:
    """Whether the database says some of the order filled."""
    return row.normalized_status in MARKED_FILLED or (row.filled_qty or 0) > 0


def fill_mismatches(
    rows: Sequence[DbOrder], snapshot: BrokerSnapshot, *, as_of: datetime | None = None,
    grace: timedelta = GRACE, price_tolerance_pct: float = PRICE_TOLERANCE_PCT, compare_prices: bool = True,
) -> list[Finding]:
    """FILL_MISMATCH for each order the database marks filled whose fills the broker's do not match.

    rows: every database order carrying a broker id of fill_order_ids(snapshot), and the
    database's orders that ended inside the fills window. Only an order whose fills all fall in
    the window is judged (one submitted before may have filled partly before it), and none that
    changed within grace before as_of. Quantities must agree exactly (CRITICAL); then the
    quantity-weighted fill price within price_tolerance_pct percent (WARNING), unless the layout
    keeps no fill price (compare_prices False).
    """
    since = _window(snapshot)
    fills_of = attribute(rows, snapshot).by_order
    findings = []
    for row in sorted(rows, key=lambda row: row.order_id):
        if not marks_filled(row):
            continue  # fills of an order the database does not mark filled are FILL_NOT_IN_DB's
        fills = fills_of.get(row.order_id, [])
        lineage = snapshot.lineage(row.alpaca_order_id)
        submitted = lineage[0].submitted_at if lineage and lineage[0].submitted_at else row.submitted_at
        if not _whole_in_window(submitted, since, fills):
            continue
        if settling(as_of, grace, [*order_moments(row, *lineage), *(f.transaction_time for f in fills)]):
            continue
        finding = _tie_out(row, fills, Fraction(str(price_tolerance_pct)), compare_prices)
        if finding is not None:
            findings.append(finding)
    return findings


def _whole_in_window(submitted: datetime | None, since: datetime, fills: Sequence[BrokerFill]) -> bool:
    """Whether every fill of the order falls in the window: submitted inside it; or, its submission
    unknown on both sides, its first fill of the window is its first at all (by the broker's
    cumulative quantity, where the broker gives one)."""
    if submitted is not None:
        return submitted >= since
    if not fills:
        return False  # nothing of it in the window: the status comparison asks the broker instead
    first = min(fills, key=lambda fill: (fill.transaction_time, fill.id))
    return first.cum_qty is None or first.cum_qty == first.qty


def fills_not_in_db(
    rows: Sequence[DbOrder], snapshot: BrokerSnapshot, *, as_of: datetime | None = None,
    grace: timedelta = GRACE,
) -> list[Finding]:
    """FILL_NOT_IN_DB for each broker order with fills the database lacks or does not mark filled.

    rows: every database order carrying a broker id of fill_order_ids(snapshot), whatever its
    status. Fills, or orders, within grace before as_of are not judged.
    """
    _window(snapshot)
    attributed = attribute(rows, snapshot)
    findings = []
    for order_id, fills in sorted(attributed.unclaimed.items()):
        if settling(as_of, grace, [*order_moments(None, snapshot.order(order_id)),
                                   *(f.transaction_time for f in fills)]):
            continue
        findings.append(Finding(
            "FILL_NOT_IN_DB", "CRITICAL", {"alpaca_order_id": order_id, "symbol": fills[0].symbol},
            f"the broker filled {_qty(fills)} {fills[0].symbol} ({fills[0].side}) of order "
            f"{order_id}, which no database order carries",
            details=_fills_details(fills),
        ))
    for row in sorted(rows, key=lambda row: row.order_id):
        fills = attributed.by_order.get(row.order_id, [])
        if not fills or marks_filled(row):
            continue
        if settling(as_of, grace, [*order_moments(row, *snapshot.lineage(row.alpaca_order_id)),
                                   *(f.transaction_time for f in fills)]):
            continue
        findings.append(Finding(
            "FILL_NOT_IN_DB", "CRITICAL", row.keys,
            f"the broker filled {_qty(fills)} of order {row.order_id} ({row.symbol}), "
            f"which the database has as {row.status!r} with nothing filled",
            details={"db_status": row.status, "db_filled_qty": row.filled_qty, **_fills_details(fills)},
        ))
    return findings


def _window(snapshot: BrokerSnapshot) -> datetime:
    if snapshot.fills_since is None:
        raise ValueError("the broker snapshot holds no fills: take it with fills_since")
    return snapshot.fills_since


def _tie_out(
    row: DbOrder, fills: list[BrokerFill], tolerance: Fraction, prices: bool = True,
) -> Finding | None:
    db_qty = row.filled_qty or Decimal(0)
    broker_qty = sum((fill.qty for fill in fills), Decimal(0))
    average = weighted_price(fills)
    apart = None if average is None else price_apart_pct(row.filled_avg_price, average)
    severity: Severity
    if db_qty != broker_qty:
        severity = "CRITICAL"
        what = f"filled {jsonable(db_qty)} in the database, {jsonable(broker_qty)} at the broker"
    elif average is None or not prices or (apart is not None and apart <= tolerance):
        return None  # nothing filled on either side, no price kept, or the prices agree
    else:
        severity = "WARNING"
        what = (f"average price {_shown(row.filled_avg_price)} in the database, "
                f"{_shown(_decimal(average))} at the broker (tolerance {float(tolerance):g}%)")
    fix = None
    if average is not None:  # the broker's fills, never a blanked one
        fix = fixes.update_row(
            "orders", {"order_id": row.order_id},
            {"filled_qty": row.filled_qty, "filled_avg_price": row.filled_avg_price},
            {"filled_qty": broker_qty, "filled_avg_price": _decimal(average)}, source="broker",
        )
    return Finding(
        "FILL_MISMATCH", severity, row.keys, f"order {row.order_id} ({row.symbol}): {what}",
        details={"db_filled_qty": db_qty, "broker_filled_qty": broker_qty,
                 "db_filled_avg_price": row.filled_avg_price,
                 "broker_filled_avg_price": None if average is None else _decimal(average),
                 "difference_pct": None if apart is None else round(float(apart), 4),
                 **_fills_details(fills)},
        fix_data=fix,
    )


def price_apart_pct(db_price: Decimal | None, average: Fraction) -> Fraction | None:
    """How far the database's price is from the broker's, in percent of the broker's; None when
    the database has no price (never within any tolerance)."""
    if db_price is None:
        return None
    if not average:
        return Fraction(0) if not db_price else None
    return abs(Fraction(db_price) - average) * 100 / average


def weighted_price(fills: Sequence[BrokerFill]) -> Fraction | None:
    """The quantity-weighted price of these fills, exactly; None when there are none."""
    qty = sum((Fraction(fill.qty) for fill in fills), Fraction(0))
    if not qty:
        return None
    return sum((Fraction(fill.qty) * Fraction(fill.price) for fill in fills), Fraction(0)) / qty


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(PRICE_PLACES).normalize()


def _shown(value: Decimal | None) -> str:
    return "none" if value is None else str(jsonable(value))


def _qty(fills: Sequence[BrokerFill]) -> str:
    return str(jsonable(sum((fill.qty for fill in fills), Decimal(0))))


def _fills_details(fills: Sequence[BrokerFill]) -> dict[str, object]:
    return {"fills": len(fills), "fill_ids": [fill.id for fill in fills[:20]],
            "first_fill_at": min((f.transaction_time for f in fills), default=None),
            "last_fill_at": max((f.transaction_time for f in fills), default=None)}
