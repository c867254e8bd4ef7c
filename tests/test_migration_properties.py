"""Properties of 0003: every order's side follows the mapping table, and its rollback restores every order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from tradewatch import migrate, vocabulary

ORDER_PURPOSE_SQL = (migrate.MIGRATIONS_DIR / "0003.order-purpose.sql").read_text()
START = datetime(2025, 12, 30, 15, 0, tzinfo=UTC)

# A later order of a position: a top-level exit, or a bracket leg of the entry order.
LATER_KINDS = {
    "exit_market": (False, "market", "exit"),
    "exit_limit": (False, "limit", "exit"),
    "leg_stop": (True, "stop", "stop_loss"),
    "leg_stop_limit": (True, "stop_limit", "stop_loss"),
    "leg_trailing_stop": (True, "trailing_stop", "stop_loss"),
    "leg_limit": (True, "limit", "take_profit"),
}
sides = st.sampled_from(["buy", "sell"])
# A later order: its kind, its side, whether it filled, and (legs) whether it names the position.
later_orders = st.tuples(st.sampled_from(sorted(LATER_KINDS)), sides, st.booleans(), st.booleans())
positions = st.lists(
    st.tuples(
        st.sampled_from(vocabulary.POSITION_SIDES),
        st.lists(sides, max_size=2),  # entry attempts that never filled (rejected)
        sides,  # the filled entry
        st.lists(later_orders, max_size=5),
    ),
    min_size=1, max_size=6,
)
Book = list[tuple[str, list[str], str, list[tuple[str, str, bool, bool]]]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=positions, standalone=st.lists(sides, max_size=3))
def test_sides_follow_the_mapping_after_phase2(phase1_db: str, book: Book, standalone: list[str]) -> None:
    expected: dict[int, tuple[str, str]] = {}
    ids = iter(range(1, 1000))
    with psycopg.connect(phase1_db) as conn, conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO securities (security_id, symbol) VALUES (1, 'SYM')")
        conn.execute("INSERT INTO trading_cycles (cycle_id) VALUES ('c')")
        for position_id, (position_side, attempts, entry_side, later) in enumerate(book, start=1):
            conn.execute(
                "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)"
                " VALUES (%s, 'c', 1, %s, 1, 1)", (position_id, position_side),
            )
            minute = 0
            for side in attempts:
                attempt_id = next(ids)
                _insert_order(conn, attempt_id, position_id, None, "market", side, minute, filled=False)
                expected[attempt_id] = ("entry", side)
                minute += 1
            entry_id = next(ids)
            _insert_order(conn, entry_id, position_id, None, "market", entry_side, minute, filled=True)
            expected[entry_id] = ("entry", entry_side)
            for kind, side, filled, names_position in later:
                is_leg, order_type, purpose = LATER_KINDS[kind]
                minute += 1
                order_id = next(ids)
                # A leg may leave position_id empty: it belongs to its parent's position.
                linked = position_id if names_position or not is_leg else None
                _insert_order(conn, order_id, linked, entry_id if is_leg else None,
                              order_type, side, minute, filled=filled)
                expected[order_id] = (purpose, vocabulary.expected_side(position_side, purpose))
        for side in standalone:
            order_id = next(ids)
            _insert_order(conn, order_id, None, None, "limit", side, 0, filled=False)
            expected[order_id] = ("entry", side)
        conn.execute(ORDER_PURPOSE_SQL)
        found = {row[0]: (row[1], row[2]) for row in
                 conn.execute("SELECT order_id, order_purpose, side FROM orders").fetchall()}
    assert found == expected


def _insert_order(conn: psycopg.Connection, order_id: int, position_id: int | None,
                  parent_id: int | None, order_type: str, side: str, minutes: int, *,
                  filled: bool) -> None:
    conn.execute(
        "INSERT INTO orders (order_id, position_id, security_id, cycle_id, parent_order_id,"
        " side, order_type, quantity, filled_qty, status, created_at)"
        " VALUES (%s, %s, 1, 'c', %s, %s, %s, 1, %s, %s, %s)",
        (order_id, position_id, parent_id, side, order_type, 1 if filled else 0,
         "filled" if filled else "rejected", START + timedelta(minutes=minutes)),
    )


ORDER_PURPOSE_ROLLBACK_SQL = (migrate.MIGRATIONS_DIR / "0003.order-purpose.rollback.sql").read_text()
# An order's metadata before Phase 2: NULL (the desk's Phase 1 wrote new orders so), empty, or not.
metadatas = st.sampled_from([None, {}, {"migrated_from": "positions"}, {"note": None}])
# Where the desk's own Phase 2 added order_purpose first: what it holds (None: NULL).
desk_purposes = st.sampled_from([None, "entry", "exit", "stop_loss", "take_profit"])
later_orders_with_metadata = st.tuples(
    st.sampled_from(sorted(LATER_KINDS)), sides, st.booleans(), metadatas, desk_purposes,
)
books = st.lists(
    st.tuples(st.sampled_from(vocabulary.POSITION_SIDES), sides, metadatas, desk_purposes,
              st.lists(later_orders_with_metadata, max_size=4)),
    min_size=1, max_size=5,
)
WholeOrders = dict[int, tuple[object, ...]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=books, column_was_there=st.booleans())
def test_rolling_back_phase2_restores_every_order_it_changed(
    phase1_db: str, book: list[Any], column_was_there: bool
) -> None:
    with psycopg.connect(phase1_db) as conn, conn.transaction(force_rollback=True):
        # As the desk's Phase 1 left it: metadata nullable; and maybe the guide's order_purpose.
        conn.execute("ALTER TABLE orders ALTER COLUMN metadata DROP NOT NULL")
        if column_was_there:
            conn.execute("ALTER TABLE orders ADD COLUMN order_purpose VARCHAR(20)")
        conn.execute("INSERT INTO securities (security_id, symbol) VALUES (1, 'SYM')")
        conn.execute("INSERT INTO trading_cycles (cycle_id) VALUES ('c')")
        ids = iter(range(1, 1000))
        for position_id, (position_side, entry_side, entry_meta, entry_purpose, later) in enumerate(book, 1):
            conn.execute(
                "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)"
                " VALUES (%s, 'c', 1, %s, 1, 1)", (position_id, position_side),
            )
            entry_id = next(ids)
            _insert_order(conn, entry_id, position_id, None, "market", entry_side, 0, filled=True)
            _set(conn, entry_id, entry_meta, entry_purpose if column_was_there else None)
            for minute, (kind, side, filled, meta, purpose) in enumerate(later, 1):
                is_leg, order_type, _ = LATER_KINDS[kind]
                order_id = next(ids)
                _insert_order(conn, order_id, position_id, entry_id if is_leg else None,
                              order_type, side, minute, filled=filled)
                _set(conn, order_id, meta, purpose if column_was_there else None)
        before = _whole_orders(conn)
        conn.execute(ORDER_PURPOSE_SQL)
        changed = _whole_orders(conn) != before
        conn.execute(ORDER_PURPOSE_ROLLBACK_SQL)
        after = _whole_orders(conn)
    assert after == before, "the rollback did not restore every order 0003 changed"
    assert changed or all(purpose is not None for *_, purpose in before.values())


def _set(conn: psycopg.Connection, order_id: int, metadata: object, purpose: str | None) -> None:
    """Give an order its metadata (None: SQL NULL) and, where the column is there, its purpose."""
    conn.execute("UPDATE orders SET metadata = %s WHERE order_id = %s",
                 (None if metadata is None else Jsonb(metadata), order_id))
    if purpose is not None:
        conn.execute("UPDATE orders SET order_purpose = %s WHERE order_id = %s", (purpose, order_id))


def _whole_orders(conn: psycopg.Connection) -> WholeOrders:
    """Every order's side, metadata and (where the column exists) purpose, by id."""
    rows = conn.execute("SELECT order_id, side, metadata, to_jsonb(o) -> 'order_purpose',"
                        " to_jsonb(o) ? 'order_purpose' FROM orders o").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}
