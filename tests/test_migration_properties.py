"""Property: after 0003 every order's side follows the mapping table; entry orders are untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
positions = st.lists(
    st.tuples(
        st.sampled_from(vocabulary.POSITION_SIDES),
        sides,
        st.lists(st.tuples(st.sampled_from(sorted(LATER_KINDS)), sides), max_size=5),
    ),
    min_size=1, max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=positions, standalone=st.lists(sides, max_size=3))
def test_sides_follow_the_mapping_after_phase2(
    phase1_db: str, book: list[tuple[str, str, list[tuple[str, str]]]], standalone: list[str]
) -> None:
    expected: dict[int, tuple[str, str]] = {}
    with psycopg.connect(phase1_db) as conn, conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO securities (security_id, symbol) VALUES (1, 'SYM')")
        conn.execute("INSERT INTO trading_cycles (cycle_id) VALUES ('c')")
        order_id = 0
        for position_id, (position_side, entry_side, later) in enumerate(book, start=1):
            conn.execute(
                "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)"
                " VALUES (%s, 'c', 1, %s, 1, 1)", (position_id, position_side),
            )
            order_id += 1
            entry_id = order_id
            _insert_order(conn, entry_id, position_id, None, "market", entry_side, 0)
            expected[entry_id] = ("entry", entry_side)
            for step, (kind, side) in enumerate(later, start=1):
                is_leg, order_type, purpose = LATER_KINDS[kind]
                order_id += 1
                _insert_order(conn, order_id, position_id, entry_id if is_leg else None,
                              order_type, side, step)
                expected[order_id] = (purpose, vocabulary.expected_side(position_side, purpose))
        for side in standalone:
            order_id += 1
            _insert_order(conn, order_id, None, None, "limit", side, 0)
            expected[order_id] = ("entry", side)
        conn.execute(ORDER_PURPOSE_SQL)
        found = {row[0]: (row[1], row[2]) for row in
                 conn.execute("SELECT order_id, order_purpose, side FROM orders").fetchall()}
    assert found == expected


def _insert_order(conn: psycopg.Connection, order_id: int, position_id: int | None,
                  parent_id: int | None, order_type: str, side: str, minutes: int) -> None:
    conn.execute(
        "INSERT INTO orders (order_id, position_id, security_id, cycle_id, parent_order_id,"
        " side, order_type, quantity, created_at) VALUES (%s, %s, 1, 'c', %s, %s, %s, 1, %s)",
        (order_id, position_id, parent_id, side, order_type, START + timedelta(minutes=minutes)),
    )
