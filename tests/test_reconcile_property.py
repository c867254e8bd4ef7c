"""The fills tie-out and the order-status comparison against a reference model: random order books
with partial fills at the local broker, and a database that often, but not always, agrees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.alpaca_server import AlpacaServer, fill, order, stamp
from tests.broker_book import AS_OF, FILLS_SINCE, client_for, statuses
from tradewatch.broker import BrokerClient, take_snapshot
from tradewatch.reconcile.fills import fill_mismatches, fills_not_in_db
from tradewatch.reconcile.records import DbOrder
from tradewatch.reconcile.status import order_status_mismatches

GRACE = timedelta(seconds=30)
TOLERANCE_PCT = Fraction(1, 2)  # the rules' default price tolerance, 0.5 %
BROKER_STATUSES = ("new", "accepted", "partially_filled", "filled", "canceled", "expired")
DB_STATUSES = ("new", "accepted", "submitted", "partial_fill", "partially_filled", "filled",
               "canceled", "cancelled", "expired", "rejected")
BROKER_OPEN = ("new", "accepted", "partially_filled")
DB_OPEN = ("new", "accepted", "submitted", "partially_filled")
Seen = set[tuple[str, str, str]]  # finding type, severity, whose: db:<order_id> or broker:<id>


@dataclass(frozen=True)
class Fill:
    qty: int
    price: Decimal
    at: datetime


@dataclass(frozen=True)
class Order:
    """One broker order as the generator made it: every fill, inside the window or not."""

    id: str
    status: str
    qty: int
    submitted: datetime
    fills: tuple[Fill, ...]

    @property
    def updated(self) -> datetime:
        return max([self.submitted, *(f.at for f in self.fills)])


# ---------------------------------------------------------------- the reference model
def norm(status: str) -> str:
    return {"cancelled": "canceled", "partial_fill": "partially_filled"}.get(status, status)


def recent(*moments: datetime | None) -> bool:
    return any(moment is not None and moment >= AS_OF - GRACE for moment in moments)


def heard(row: DbOrder, b: Order) -> bool:
    """Whether the run learns the broker's status of this order: the broker lists it open, or the
    database's status and the window's fills disagree (open in the database; filled without the
    broker's last fill in the window; ended unfilled with it), so it is asked for alone."""
    if b.status in BROKER_OPEN or norm(row.status) in DB_OPEN:
        return True
    last_fill_in_window = b.status == "filled" and FILLS_SINCE <= b.fills[-1].at <= AS_OF
    return last_fill_in_window != (norm(row.status) == "filled")


def reference(broker: list[Order], db: list[DbOrder]) -> Seen:
    """What a careful person would report, order by order, in exact fractions."""
    expected: Seen = set()
    theirs = {o.id: o for o in broker}
    for row in db:
        b = theirs.get(row.alpaca_order_id)
        b_moments = (b.submitted, b.updated) if b else ()
        who = f"db:{row.order_id}"
        # Status: heard from the broker, nothing moved within the grace window.
        if b is not None and heard(row, b) and not recent(row.submitted_at, row.updated_at, *b_moments):
            mine, broker_status = norm(row.status), b.status
            if mine != broker_status:
                # Every broker status the generator makes, other than filled, is open or unfilled.
                critical = ((mine == "filled" and broker_status != "filled")
                            or (mine in ("canceled", "expired", "rejected") and broker_status == "filled"))
                expected.add(("ORDER_STATUS_MISMATCH", "CRITICAL" if critical else "WARNING", who))
        # Fills: those inside the window only.
        fills = [f for f in (b.fills if b else ()) if FILLS_SINCE <= f.at <= AS_OF]
        moments = (row.submitted_at, row.updated_at, *b_moments, *(f.at for f in fills))
        marked = norm(row.status) in ("filled", "partially_filled") or (row.filled_qty or 0) > 0
        if not marked:
            if fills and not recent(*moments):
                expected.add(("FILL_NOT_IN_DB", "CRITICAL", who))
            continue
        submitted = b.submitted if b else row.submitted_at
        if submitted is None or submitted < FILLS_SINCE or recent(*moments):
            continue  # it may have filled partly before the window: not judged
        broker_qty = sum(f.qty for f in fills)
        if broker_qty != (row.filled_qty or 0):
            expected.add(("FILL_MISMATCH", "CRITICAL", who))
        elif broker_qty:
            average = sum((Fraction(f.price) * f.qty for f in fills), Fraction(0)) / broker_qty
            price = row.filled_avg_price
            if price is None or abs(Fraction(price) - average) * 100 / average > TOLERANCE_PCT:
                expected.add(("FILL_MISMATCH", "WARNING", who))
    ours = {row.alpaca_order_id for row in db}
    for b in broker:
        fills = [f for f in b.fills if FILLS_SINCE <= f.at <= AS_OF]
        if b.id not in ours and fills and not recent(b.submitted, b.updated, *(f.at for f in fills)):
            expected.add(("FILL_NOT_IN_DB", "CRITICAL", f"broker:{b.id}"))
    return expected


# ---------------------------------------------------------------- the books
MINUTE = timedelta(minutes=1)
WINDOW_MINUTES = int((AS_OF - FILLS_SINCE) / MINUTE) - 5  # submissions leave room for a fill


@st.composite
def fill_times(draw: st.DrawFn, submitted: datetime, count: int) -> list[datetime]:
    """Fill moments after submission: inside the window, before it (for an early order), exactly at
    its start, or moments before as_of, around the grace boundary."""
    start = max(submitted, FILLS_SINCE - 30 * MINUTE) + MINUTE
    edges = [t for t in (FILLS_SINCE, FILLS_SINCE - timedelta(seconds=1)) if t > submitted]
    anywhere = st.integers(0, int((AS_OF - 2 * MINUTE - start) / MINUTE)).map(lambda m: start + m * MINUTE)
    just_now = st.sampled_from([5, 30, 31]).map(lambda s: AS_OF - timedelta(seconds=s))
    # Mostly anywhere after submission; now and then at the window's edge or just now.
    choices = [anywhere, anywhere, anywhere, just_now, *([st.sampled_from(edges)] if edges else [])]
    return sorted(draw(st.one_of(*choices)) for _ in range(count))


@st.composite
def broker_orders(draw: st.DrawFn, number: int) -> Order:
    qty = draw(st.integers(1, 40))
    status = draw(st.sampled_from(BROKER_STATUSES))
    early = draw(st.booleans())
    offset = draw(st.integers(1, 600)) if early else draw(st.integers(0, WINDOW_MINUTES))
    submitted = FILLS_SINCE - offset * MINUTE if early else FILLS_SINCE + offset * MINUTE
    if status == "filled":
        filled = qty
    elif status in ("partially_filled", "canceled", "expired") and qty > 1:
        filled = draw(st.integers(1 if status == "partially_filled" else 0, qty - 1))
    else:
        filled = 0
        status = "new" if status == "partially_filled" else status
    sizes: list[int] = []  # up to three fills, partial ones first
    while sum(sizes) < filled:
        left = filled - sum(sizes)
        sizes.append(left if len(sizes) == 2 else draw(st.integers(1, left)))
    one_price = Decimal(draw(st.integers(50, 150)))
    prices = [one_price if draw(st.booleans()) else Decimal(draw(st.integers(5000, 15000))) / 100
              for _ in sizes]
    times = draw(fill_times(submitted, len(sizes)))
    fills = tuple(Fill(size, price, at) for size, price, at in zip(sizes, prices, times, strict=True))
    return Order(f"f1000000-0000-4000-8000-{number:012d}", status, qty, submitted, fills)


@st.composite
def db_rows(draw: st.DrawFn, number: int, theirs: Order | None) -> DbOrder:
    """The database's record of an order: mostly agreeing, sometimes not, sometimes just moved."""
    total = sum(f.qty for f in theirs.fills) if theirs else 0
    average = None
    if theirs and total:
        average = sum((Fraction(f.price) * f.qty for f in theirs.fills), Fraction(0)) / total
    status = draw(st.one_of(
        st.just(theirs.status if theirs else "new"),
        st.sampled_from({"canceled": ["cancelled"], "partially_filled": ["partial_fill"]}.get(
            theirs.status if theirs else "", ["new"])),
        st.sampled_from(("filled", "cancelled", "expired")),  # the disagreements that are CRITICAL
        st.sampled_from(DB_STATUSES),
    ))
    filled_qty = draw(st.one_of(st.just(Decimal(total)), st.integers(0, 40).map(Decimal), st.none()))
    price: Decimal | None = None
    if average is not None:
        exact = Decimal(average.numerator) / Decimal(average.denominator)
        price = draw(st.one_of(
            st.just(exact.quantize(Decimal("0.0001"))),
            st.sampled_from([-6, -5, 5, 6]).map(
                lambda k: (exact * (1000 + k) / 1000).quantize(Decimal("0.000001"))),
            st.none(),
        ))
    submitted = theirs.submitted if theirs else FILLS_SINCE + draw(st.integers(0, WINDOW_MINUTES)) * MINUTE
    updated = submitted + MINUTE
    if not draw(st.integers(0, 5)):  # now and then it moved just now
        updated = AS_OF - timedelta(seconds=draw(st.sampled_from([5, 30, 31])))
    alpaca_id = theirs.id if theirs else f"f2000000-0000-4000-8000-{number:012d}"
    return DbOrder(number, None, alpaca_id, "AMD", status, filled_qty, price, submitted, updated)


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Order], list[DbOrder]]:
    broker = [draw(broker_orders(n)) for n in range(draw(st.integers(1, 6)))]
    rows = []
    for n, theirs in enumerate(broker):
        if draw(st.integers(0, 9)):  # now and then the database lacks the order
            rows.append(draw(db_rows(n, theirs)))
    for n in range(draw(st.integers(0, 1))):  # and now and then the broker lacks the database's
        rows.append(draw(db_rows(100 + n, None)))
    return broker, rows


def served(o: Order) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The order and its fills as the local broker serves them."""
    total = sum(f.qty for f in o.fills)
    average = (sum(f.price * f.qty for f in o.fills) / total) if total else None
    last = o.fills[-1].at if o.fills else None
    entry = order(o.id, "AMD", "buy", o.status, str(o.qty), o.submitted, filled_qty=str(total),
                  filled_avg_price=str(average) if average is not None else None,
                  filled_at=last if o.status == "filled" else None)
    entry["updated_at"] = stamp(o.updated)
    fills = [fill(o.id, "AMD", "buy", str(f.qty), str(f.price), f.at, sequence=n,
                  kind="fill" if n == len(o.fills) - 1 and o.status == "filled" else "partial_fill")
             for n, f in enumerate(o.fills)]
    return entry, fills


# ---------------------------------------------------------------- the property
@pytest.fixture(scope="module")
def broker_at() -> Iterator[tuple[AlpacaServer, BrokerClient]]:
    with AlpacaServer() as server:
        yield server, client_for(server)


@settings(max_examples=150, deadline=None)
@given(book=books())
def test_the_rules_match_the_reference_model(
    broker_at: tuple[AlpacaServer, BrokerClient], book: tuple[list[Order], list[DbOrder]]
) -> None:
    server, client = broker_at
    broker, rows = book
    server.orders, server.fills = [], []
    for o in broker:
        entry, fills = served(o)
        server.orders.append(entry)
        server.fills += fills
    # As a run does: the database's statuses go with the snapshot, which asks for what they contradict.
    snapshot = take_snapshot(client, AS_OF, statuses(rows), fills_since=FILLS_SINCE)
    found = [*order_status_mismatches(rows, snapshot, as_of=AS_OF, grace=GRACE),
             *fill_mismatches(rows, snapshot, as_of=AS_OF, grace=GRACE),
             *fills_not_in_db(rows, snapshot, as_of=AS_OF, grace=GRACE)]
    actual: Seen = {(f.type, f.severity, f"db:{f.keys['order_id']}" if "order_id" in f.keys
                     else f"broker:{f.keys['alpaca_order_id']}") for f in found}
    assert len(actual) == len(found), "one finding of a type per order"
    assert actual == reference(broker, rows)
