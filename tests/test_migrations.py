"""The migrations: each applies, rolls back and re-applies; Phase 2 keeps every row's meaning."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.pg import ScratchServer, run_sql
from tradewatch import migrate


def _schema(url: str) -> list[tuple[Any, ...]]:
    """Every column, constraint and index of the public schema, in a stable order."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            SELECT 'column', c.table_name || '.' || c.column_name, c.data_type || ' ' || t.table_type
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '%%yoyo%%'
            UNION ALL
            SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '%%yoyo%%'
            UNION ALL
            SELECT 'index', indexname, indexdef
            FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE '%%yoyo%%'
            ORDER BY 1, 2, 3
            """
        ).fetchall()


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_every_migration_applies_rolls_back_and_reapplies(empty_db: str, migrated_db: str) -> None:
    ids = [state.id for state in migrate.status(empty_db)]
    assert ids[:5] == ["0001.base-schema", "0002.orders-table", "0003.order-purpose",
                       "0004.pipeline-status-view", "0005.drop-legacy-columns"]
    before: list[tuple[Any, ...]] = []
    for migration_id in ids:
        assert migrate.apply(empty_db, target=migration_id) == [migration_id]
        after = _schema(empty_db)
        assert after != before, f"{migration_id} changed nothing"
        assert migrate.rollback(empty_db) == [migration_id]
        assert _schema(empty_db) == before, f"{migration_id}'s rollback left changes behind"
        assert migrate.apply(empty_db, target=migration_id) == [migration_id]
        assert _schema(empty_db) == after
        before = after
    assert all(state.applied for state in migrate.status(empty_db))
    assert _schema(empty_db) == _schema(migrated_db)
    assert migrate.rollback(empty_db, target="zero") == list(reversed(ids))
    assert _schema(empty_db) == []


LEGACY_DESK = """
    INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL'), (2, 'TSLA');
    INSERT INTO trading_cycles (cycle_id) VALUES ('20251230-001');
    INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price,
                           status, alpaca_order_id, alpaca_status, alpaca_error, opened_at) VALUES
        (1, '20251230-001', 1, 'long', 10, 250, 'closed', 'id-1', 'filled', NULL, '2025-12-30 10:00-05'),
        (2, '20251230-001', 2, 'short', 5, 450, 'open', 'id-2', 'filled', 'late fill', '2025-12-30 10:05-05'),
        (3, '20251230-001', 1, 'long', 7, 251, 'open', NULL, NULL, NULL, '2025-12-30 10:10-05');
"""


def test_phase1_copies_one_filled_entry_order_per_position_once(empty_db: str) -> None:
    migrate.apply(empty_db, target="0001.base-schema")
    run_sql(empty_db, LEGACY_DESK)
    migrate.apply(empty_db, target="0002.orders-table")
    copied = _rows(empty_db, "SELECT position_id, side, status, quantity, alpaca_order_id, "
                             "metadata->>'legacy_alpaca_error' FROM orders ORDER BY position_id")
    assert copied == [(1, "buy", "filled", 10, "id-1", None), (2, "sell", "filled", 5, "id-2", "late fill")]
    # Idempotent: rolling back and applying again copies the same orders, no more.
    migrate.rollback(empty_db)
    migrate.apply(empty_db, target="0002.orders-table")
    assert len(_rows(empty_db, "SELECT 1 FROM orders")) == 2


def test_phase2_on_a_phase1_desk_closes_with_exits_and_bracket_legs(empty_db: str) -> None:
    migrate.apply(empty_db, target="0001.base-schema")
    run_sql(empty_db, LEGACY_DESK)
    migrate.apply(empty_db, target="0002.orders-table")
    run_sql(empty_db, """
        INSERT INTO orders (order_id, position_id, security_id, parent_order_id, order_class, side,
                            order_type, quantity, status, created_at) VALUES
            -- long: entry, then a bracket of legs all mapped as buys (the old mistake)
            (101, 3, 1, NULL, 'bracket', 'buy', 'market', 7, 'filled', '2025-12-30 10:10-05'),
            (102, 3, 1, 101, 'bracket', 'buy', 'stop', 7, 'held', '2025-12-30 10:10-05'),
            (103, 3, 1, 101, 'bracket', 'buy', 'limit', 7, 'new', '2025-12-30 10:10-05'),
            (104, 3, 1, NULL, 'simple', 'buy', 'market', 7, 'filled', '2025-12-30 11:00-05'),
            -- short: its exit and legs mapped as sells
            (105, 2, 2, NULL, 'simple', 'sell', 'market', 5, 'filled', '2025-12-30 12:00-05'),
            (106, 2, 2, 105, 'oco', 'sell', 'trailing_stop', 5, 'new', '2025-12-30 12:00-05'),
            -- a standalone order keeps its side
            (107, NULL, 1, NULL, 'simple', 'sell', 'limit', 3, 'canceled', '2025-12-30 12:30-05');
    """)
    migrate.apply(empty_db)
    orders = {
        row[0]: row[1:] for row in _rows(empty_db, """
            SELECT o.order_id, o.order_purpose, o.side, p.side, o.metadata->>'side_before_phase2'
            FROM orders o LEFT JOIN positions p USING (position_id)
        """)
    }
    assert all(purpose is not None for purpose, *_ in orders.values())
    assert orders[101] == ("entry", "buy", "long", None)
    assert orders[102] == ("stop_loss", "sell", "long", "buy")
    assert orders[103] == ("take_profit", "sell", "long", "buy")
    assert orders[104] == ("exit", "sell", "long", "buy")
    # Position 2's copied order (from Phase 1) came first, so it is the entry; 105 is its exit.
    assert orders[105] == ("exit", "buy", "short", "sell")
    assert orders[106] == ("stop_loss", "buy", "short", "sell")
    assert orders[107] == ("entry", "sell", None, None)
    # Rolling back 0003 restores every side it changed.
    migrate.rollback(empty_db, target="0002.orders-table")
    sides = dict(_rows(empty_db, "SELECT order_id, side FROM orders WHERE order_id > 100"))
    assert sides == {101: "buy", 102: "buy", 103: "buy", 104: "buy", 105: "sell", 106: "sell", 107: "sell"}


@pytest.mark.parametrize(
    ("legacy", "refusal"),
    [
        # A broker id written after the Phase 1 copy: no order holds it.
        (("written-after-phase-1", "filled", None),
         r"refusing to drop positions.alpaca_order_id: positions 9 "),
        # A status and error with no broker id: no order could keep them.
        ((None, "rejected", "insufficient buying power"),
         r"refusing to drop positions.alpaca_status and alpaca_error: positions 9 "),
    ],
    ids=["order-id-no-order-holds", "status-without-order-id"],
)
def test_dropping_legacy_columns_refuses_to_lose_data(
    empty_db: str, legacy: tuple[str | None, ...], refusal: str
) -> None:
    migrate.apply(empty_db, target="0004.pipeline-status-view")
    run_sql(empty_db, """
        INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL');
        INSERT INTO trading_cycles (cycle_id) VALUES ('20251231-001');
        INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)
        VALUES (9, '20251231-001', 1, 'long', 3, 250);
    """)
    with psycopg.connect(empty_db) as conn:
        conn.execute("UPDATE positions SET alpaca_order_id = %s, alpaca_status = %s, alpaca_error = %s",
                     legacy)
    schema_before = _schema(empty_db)
    with pytest.raises(migrate.MigrationError, match=refusal) as refused:
        migrate.apply(empty_db)
    assert "hint:" in str(refused.value)
    assert _schema(empty_db) == schema_before
    assert _rows(empty_db, "SELECT alpaca_order_id, alpaca_status, alpaca_error FROM positions") == [legacy]
    assert not migrate.status(empty_db)[4].applied


def test_legacy_columns_come_back_refilled_from_entry_orders(empty_db: str) -> None:
    migrate.apply(empty_db, target="0001.base-schema")
    run_sql(empty_db, LEGACY_DESK)
    before = _rows(empty_db, "SELECT position_id, alpaca_order_id, alpaca_status, alpaca_error "
                             "FROM positions ORDER BY position_id")
    migrate.apply(empty_db)
    migrate.rollback(empty_db, target="0004.pipeline-status-view")
    after = _rows(empty_db, "SELECT position_id, alpaca_order_id, alpaca_status, alpaca_error "
                            "FROM positions ORDER BY position_id")
    assert after == before


def test_baseline_adopts_a_phase1_database_without_rerunning(pg_server: ScratchServer) -> None:
    url = pg_server.create()
    migrate.apply(url, target="0002.orders-table")
    # Forget yoyo's bookkeeping: a live database migrated by hand has none.
    run_sql(url, "DROP TABLE _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock")
    assert migrate.baseline(url) == ["0001.base-schema", "0002.orders-table"]
    assert [s.applied for s in migrate.status(url)][:5] == [True, True, False, False, False]
    applied = migrate.apply(url)
    assert applied[:3] == ["0003.order-purpose", "0004.pipeline-status-view", "0005.drop-legacy-columns"]


def test_rolling_back_phase2_restores_sides_where_metadata_was_null(empty_db: str) -> None:
    migrate.apply(empty_db, target="0002.orders-table")
    # The desk's Phase 1 left metadata nullable and wrote new orders with it NULL.
    run_sql(empty_db, """
        ALTER TABLE orders ALTER COLUMN metadata DROP NOT NULL;
        INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL');
        INSERT INTO trading_cycles (cycle_id) VALUES ('c');
        INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)
        VALUES (1, 'c', 1, 'long', 10, 250), (2, 'c', 1, 'short', 5, 250);
        INSERT INTO orders (order_id, position_id, security_id, parent_order_id, side, order_type,
                            quantity, filled_qty, status, created_at, metadata) VALUES
            (1, 1, 1, NULL, 'buy', 'market', 10, 10, 'filled', '2025-12-30 10:00-05', NULL),
            (2, 1, 1, 1, 'buy', 'stop', 10, 0, 'held', '2025-12-30 10:00-05', NULL),
            (3, 1, 1, NULL, 'buy', 'market', 10, 10, 'filled', '2025-12-30 11:00-05', '{}'),
            (4, 2, 1, NULL, 'sell', 'market', 5, 5, 'filled', '2025-12-30 10:00-05', NULL),
            (5, 2, 1, NULL, 'sell', 'market', 5, 5, 'filled', '2025-12-30 11:00-05',
             '{"migrated_from": "positions"}'),
            (6, 2, 1, NULL, 'buy', 'market', 5, 5, 'filled', '2025-12-30 12:00-05', NULL);
    """)
    query = "SELECT order_id, side, metadata FROM orders ORDER BY order_id"
    before = _rows(empty_db, query)
    migrate.apply(empty_db, target="0003.order-purpose")
    changed = {row[0]: row[1:] for row in _rows(empty_db, query)}
    assert changed[2] == ("sell", {"side_before_phase2": "buy", "metadata_null_before_phase2": True})
    assert changed[3] == ("sell", {"side_before_phase2": "buy"})
    assert changed[5] == ("buy", {"migrated_from": "positions", "side_before_phase2": "sell"})
    assert changed[6] == ("buy", None)  # Already the closing side: untouched.
    migrate.rollback(empty_db)
    assert _rows(empty_db, query) == before


def test_rolling_back_phase2_keeps_an_order_purpose_it_did_not_add(empty_db: str) -> None:
    migrate.apply(empty_db, target="0002.orders-table")
    # The seed guide's own Phase 2 added order_purpose and filled it; a later order has none.
    run_sql(empty_db, """
        ALTER TABLE orders ADD COLUMN order_purpose VARCHAR(20);
        INSERT INTO securities (security_id, symbol) VALUES (1, 'AAPL');
        INSERT INTO trading_cycles (cycle_id) VALUES ('c');
        INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, entry_price)
        VALUES (1, 'c', 1, 'long', 10, 250);
        INSERT INTO orders (order_id, position_id, security_id, side, order_type, quantity,
                            filled_qty, status, created_at, order_purpose) VALUES
            (1, 1, 1, 'buy', 'market', 10, 10, 'filled', '2025-12-30 10:00-05', 'entry'),
            (2, 1, 1, 'sell', 'market', 10, 10, 'filled', '2025-12-30 11:00-05', 'exit'),
            (3, 1, 1, 'buy', 'market', 10, 10, 'filled', '2025-12-30 12:00-05', NULL);
    """)
    query = "SELECT order_id, side, order_purpose, metadata FROM orders ORDER BY order_id"
    before = _rows(empty_db, query)
    migrate.apply(empty_db, target="0003.order-purpose")
    assert _rows(empty_db, query)[2] == (3, "sell", "exit", {"purpose_set_by_phase2": True,
                                                             "side_before_phase2": "buy"})
    migrate.rollback(empty_db)
    assert _rows(empty_db, query) == before
