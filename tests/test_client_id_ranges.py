"""Shared client order ids, grouped range by range: each is found, wherever the server's cuts fall."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from tests.pg import open_run
from tradewatch.catalogue import orders
from tradewatch.catalogue.scope import HASHED_ARRAY, hashable

# Unique ids in upper and lower case: a collation other than C orders them unlike Python does.
UNIQUE_IDS = """
INSERT INTO orders (security_id, side, order_type, quantity, status, order_purpose, alpaca_client_order_id)
SELECT security_id, side, order_type, quantity, status, order_purpose,
       CASE WHEN n % 3 = 0 THEN 'CID-' ELSE 'cid-' END || lpad(n::text, 5, '0')
FROM orders, generate_series(1, 3000) AS n WHERE order_id = (SELECT min(order_id) FROM orders);
ANALYZE orders;
"""
# One more order carrying the id given, copied from the first order.
ONE_MORE = sql.SQL("""
INSERT INTO orders (security_id, side, order_type, quantity, status, order_purpose, alpaca_client_order_id)
SELECT security_id, side, order_type, quantity, status, order_purpose, {client}
FROM orders WHERE order_id = (SELECT min(order_id) FROM orders)
""")
EVERY_SHARED = """
SELECT alpaca_client_order_id, array_agg(order_id ORDER BY order_id) FROM orders
WHERE alpaca_client_order_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1
"""


@pytest.mark.parametrize("order", ["the column's", "shuffled"])
def test_ids_shared_at_every_cut_and_between_are_all_found(
    order: str, seeded_db: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each shared id once with all its orders, whether or not the cuts come in the column's order."""
    url = seeded_db("clean")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(UNIQUE_IDS)
    run = open_run(url, as_of="2025-12-31T11:00:00-05:00")
    try:
        # Four ranges whatever the server's default: the cuts are the table's statistics'.
        run.watched.conn.execute("SET max_parallel_workers_per_gather = 4")
        cuts = orders._cuts(run)
        assert len(cuts) == 3
        with psycopg.connect(url, autocommit=True) as conn:
            ids = [row[0] for row in conn.execute(
                "SELECT alpaca_client_order_id FROM orders WHERE alpaca_client_order_id IS NOT NULL "
                "ORDER BY 1")]
            # Each cut itself, the id just before it, and the first and last ids.
            shared = {*cuts, *(ids[ids.index(cut) - 1] for cut in cuts), ids[0], ids[-1]}
            for client in shared:
                conn.execute(ONE_MORE.format(client=sql.Literal(client)))
            expected: dict[str, list[int]] = dict(conn.execute(EVERY_SHARED).fetchall())
        assert orders._cuts(run) == cuts  # the statistics were not read again in between
        if order == "shuffled":
            monkeypatch.setattr(orders, "_cuts", lambda sources: [cuts[2], cuts[0], cuts[1]])
        found = {f.keys["alpaca_client_order_id"]: f.details["order_ids"]
                 for f in orders._duplicate_client_ids(run, None)}
    finally:
        run.close()
    assert set(expected) == shared
    assert found == expected


@pytest.mark.parametrize("values", [["buy"], ["buy", "sell"], list("abcde"), list("abcdefghijk")])
def test_a_looked_up_array_keeps_its_values_and_is_hashed(values: list[str]) -> None:
    padded = hashable(values)
    assert set(padded) == set(values)
    assert len(padded) == max(HASHED_ARRAY, len(values))
