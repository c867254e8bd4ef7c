"""Position reconciliation against a reference model: random books in the database and at the broker."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alpaca_server import position
from tests.test_broker_snapshot import make_settings
from tradewatch import db, demo
from tradewatch.broker import BrokerSnapshot, position_from_json
from tradewatch.checkrun import CheckRun
from tradewatch.reconcile import positions as broker
from tradewatch.reconcile.records import DbPosition
from tradewatch.schema_map import catalog as catalog_read
from tradewatch.schema_map.resolve import SchemaMap, resolve
from tradewatch.watched import WatchedDatabase

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
LIVE = ("open", "partial", "risk_reduced")
Row = tuple[int, str, str, int, str]  # position_id, symbol, side, quantity, status
Seen = set[tuple[str, str, str, int | None, Any]]


def reference(rows: list[Row], held: dict[str, Decimal], threshold: float) -> Seen:
    """What a careful person would report, symbol by symbol, computed in exact fractions."""
    expected: Seen = set()
    for symbol in SYMBOLS:
        live = [row for row in rows if row[1] == symbol and row[4] in LIVE]
        mine = sum((Fraction(qty if side == "long" else -qty) for _, _, side, qty, _ in live), Fraction(0))
        theirs = Fraction(held.get(symbol, Decimal(0)))
        if live and theirs == 0:
            expected |= {("PHANTOM_POSITION", "CRITICAL", symbol, row[0], None) for row in live}
        if not live and theirs != 0:
            expected.add(("ORPHAN_POSITION", "CRITICAL", symbol, None, None))
        if live and theirs != 0:
            if abs(mine) != abs(theirs):
                apart = abs(abs(mine) - abs(theirs)) * 100 / max(abs(mine), abs(theirs))
                severity = "CRITICAL" if apart >= Fraction(threshold) else "WARNING"
                expected.add(("QTY_MISMATCH", severity, symbol, None, (abs(mine), abs(theirs))))
            if mine != 0 and (mine < 0) != (theirs < 0):
                expected.add(("SIDE_MISMATCH", "CRITICAL", symbol, None, None))
    return expected


@pytest.fixture
def book_db(migrated_db: str) -> Iterator[tuple[psycopg.Connection, WatchedDatabase]]:
    """A writer for the test's books, and a check session reading them."""
    writer = psycopg.connect(migrated_db, autocommit=True)
    writer.execute("INSERT INTO trading_cycles (cycle_id) VALUES ('20251231-001')")
    for number, symbol in enumerate(SYMBOLS, start=1):
        writer.execute("INSERT INTO securities (security_id, symbol) VALUES (%s, %s)", (number, symbol))
    reader = db.connect(migrated_db, read_only=True, statement_timeout_s=10)
    watched = WatchedDatabase(reader, db.server_info(reader), "property", False, demo.DEMO_AS_OF,
                              make_settings())
    yield writer, watched
    reader.close()
    writer.close()


def _live_rows(watched: WatchedDatabase) -> list[Row]:
    """The live positions as the positions read finds them (the catalogue's own read)."""
    run = CheckRun(watched.settings, watched, _map(watched), catalog_read.read(watched.conn))
    return [(row["position_id"], row["symbol"], row["side"], row["quantity"], row["status"])
            for row in run.read("positions").wanted["live"]]


def _map(watched: WatchedDatabase) -> SchemaMap:
    return resolve(catalog_read.read(watched.conn), "auto", ())


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Row], list[dict[str, Any]], float]:
    """A database book (several positions per symbol, both sides, any status) and a broker book
    that often agrees, sometimes sits exactly at the threshold, and holds fractional shares."""
    threshold = draw(st.sampled_from([5.0, 10.0, 25.0]))
    entries = draw(st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(("long", "short")),
                                      st.integers(1, 60), st.sampled_from((*LIVE, "closed"))),
                            max_size=8))
    rows = [(number, *entry) for number, entry in enumerate(entries, start=1)]
    raw = []
    for symbol in SYMBOLS:
        net = sum(Decimal(qty) if side == "long" else -Decimal(qty)
                  for _, sym, side, qty, status in rows if sym == symbol and status in LIVE)
        qty = draw(st.one_of(
            st.just(Decimal(0)),  # not held
            st.just(net),  # agrees
            st.just(-net),  # the other side
            st.just(net * (100 - Decimal(str(threshold))) / 100),  # exactly at the threshold
            st.integers(-240, 240).map(lambda quarters: Decimal(quarters) / 4),  # anything, in quarters
        ))
        if qty != 0:
            # A short may come as side short with a negative qty, or with a positive one.
            positive_short = qty < 0 and draw(st.booleans())
            raw.append(position(symbol, str(abs(qty) if positive_short else qty),
                                side="short" if qty < 0 else "long"))
    return rows, raw, threshold


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=books())
def test_reconciliation_matches_the_reference_model(
    book_db: tuple[psycopg.Connection, WatchedDatabase], book: tuple[list[Row], list[dict[str, Any]], float]
) -> None:
    writer, watched = book_db
    rows, raw, threshold = book
    writer.execute("DELETE FROM positions")
    with writer.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price, "
            "status) VALUES (%s, '20251231-001', "
            "(SELECT security_id FROM securities WHERE symbol = %s), %s, %s, 100, %s)",
            rows,
        )
    snapshot = BrokerSnapshot(tuple(position_from_json(entry) for entry in raw), {})
    held = {p.symbol: p.qty for p in snapshot.positions}
    watched = WatchedDatabase(watched.conn, watched.server, watched.label, False, watched.as_of,
                              make_settings(qty_mismatch_pct=threshold))
    actual: Seen = set()
    live = [DbPosition(number, symbol, side, Decimal(qty), status)
            for number, symbol, side, qty, status in _live_rows(watched)]
    for kind in broker.POSITION_KINDS:
        for finding in broker.reconcile_positions(live, snapshot, kind, threshold):
            details = finding.details
            measured = None
            if finding.type == "QTY_MISMATCH":
                measured = (Fraction(details["db_qty"]), Fraction(details["broker_qty"]))
            actual.add((finding.type, finding.severity, finding.keys["symbol"],
                        finding.keys.get("position_id"), measured))
    assert actual == reference(rows, held, threshold)
