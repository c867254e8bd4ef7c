"""Cost basis per symbol: the database's quantity-weighted entry price against the broker's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from tradewatch import fixes
from tradewatch.broker import BrokerSnapshot
from tradewatch.findings import Finding, jsonable
from tradewatch.reconcile.records import DbPosition

AVG_PRICE_TOLERANCE_PCT = 0.5
PRICE_PLACES = Decimal("0.0001")


def avg_price_mismatches(
    rows: Sequence[DbPosition], snapshot: BrokerSnapshot, *,
    tolerance_pct: float = AVG_PRICE_TOLERANCE_PCT,
) -> list[Finding]:
    """AVG_PRICE_MISMATCH per symbol whose entry price is more than tolerance_pct percent off.

    rows: the database's live positions. A symbol the broker does not hold, holds on the other
    side, or holds without an average entry price is left to the position rules.
    """
    mine: dict[str, list[DbPosition]] = defaultdict(list)
    for row in rows:
        mine[row.symbol].append(row)
    held = {position.symbol: position for position in snapshot.positions}
    findings = []
    for symbol, db_rows in sorted(mine.items()):
        theirs = held.get(symbol)
        if theirs is None or theirs.qty == 0 or theirs.avg_entry_price is None:
            continue
        side = "short" if theirs.qty < 0 else "long"
        if any(row.side != side for row in db_rows):
            continue  # a side disagreement is SIDE_MISMATCH's, and has no one average
        broker_price = Fraction(theirs.avg_entry_price)
        db_price = weighted_entry_price(db_rows)
        if db_price is not None and broker_price and (
                abs(db_price - broker_price) * 100 / broker_price <= Fraction(str(tolerance_pct))):
            continue
        findings.append(_mismatch(symbol, db_rows, db_price, theirs.avg_entry_price, tolerance_pct))
    return findings


def weighted_entry_price(rows: Sequence[DbPosition]) -> Fraction | None:
    """The quantity-weighted entry price, exactly; None when a position has none, or no quantity."""
    if any(row.entry_price is None for row in rows):
        return None
    qty = sum((Fraction(row.quantity) for row in rows), Fraction(0))
    if not qty:
        return None
    return sum((Fraction(row.quantity) * Fraction(row.entry_price or 0) for row in rows), Fraction(0)) / qty


def _mismatch(
    symbol: str, rows: Sequence[DbPosition], db_price: Fraction | None, broker_price: Decimal,
    tolerance_pct: float,
) -> Finding:
    shown = None if db_price is None else (
        Decimal(db_price.numerator) / Decimal(db_price.denominator)).quantize(PRICE_PLACES).normalize()
    apart = None
    if db_price is not None and broker_price:
        apart = round(float(abs(db_price - Fraction(broker_price)) * 100 / Fraction(broker_price)), 4)
    fix = None
    if len(rows) == 1:  # one position to correct, to the broker's price
        fix = fixes.update_row("positions", {"position_id": rows[0].position_id},
                               {"entry_price": rows[0].entry_price}, {"entry_price": broker_price},
                               source="broker")
    said = "has no entry price" if db_price is None else f"entered at {jsonable(shown)}"
    return Finding(
        "AVG_PRICE_MISMATCH", "WARNING", {"symbol": symbol},
        f"{symbol}: the database {said}, the broker at {jsonable(broker_price)} "
        f"(tolerance {tolerance_pct:g}%)",
        details={"db_avg_entry_price": shown, "broker_avg_entry_price": broker_price,
                 "difference_pct": apart, "position_ids": [row.position_id for row in rows]},
        fix_data=fix,
    )
