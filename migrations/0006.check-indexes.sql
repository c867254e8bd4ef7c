-- depends: 0005.drop-legacy-columns
-- Indexes for the few reads that go by key rather than through a table's one pass:
--   pending orders: the statuses of tradewatch.vocabulary.PENDING_STATUSES;
--   orders by creation time: orders.created_at;
--   live positions: the statuses of tradewatch.vocabulary.LIVE_POSITION_STATUSES;
--   orders the broker should still hold: a broker id and a status outside
--     tradewatch.vocabulary.TERMINAL_STATUSES;
--   orders by broker id, trimmed and lower-cased, as the broker checks look up the orders
--     the broker's replies name (tradewatch.catalogue.broker).
-- A partial index serves a query only while its condition is the one the query states:
-- when the vocabulary changes, change these with it (bench/run.py flags the scans it causes).

-- The desk's own Phase 1 made an index of this name, with a definition of its own: it is kept as
-- it is (never altered or dropped, by this migration or its rollback), and tradewatch's pending
-- index is made beside it as idx_orders_pending_checks.
DO $$
BEGIN
    IF to_regclass('idx_orders_pending') IS NULL THEN
        CREATE INDEX idx_orders_pending ON orders (status)
            WHERE status IN ('created', 'submitted', 'pending_new', 'accepted', 'new');
    ELSE
        CREATE INDEX idx_orders_pending_checks ON orders (status)
            WHERE status IN ('created', 'submitted', 'pending_new', 'accepted', 'new');
    END IF;
END
$$;

CREATE INDEX idx_orders_created_at ON orders (created_at);

CREATE INDEX idx_positions_live ON positions (status, updated_at)
    WHERE status IN ('open', 'partial', 'risk_reduced');

-- Broker order ids as the broker checks match them: case and surrounding spaces aside.
CREATE INDEX idx_orders_alpaca_order_id_folded ON orders (lower(btrim(alpaca_order_id)));

CREATE INDEX idx_orders_open_at_broker ON orders (order_id)
    WHERE alpaca_order_id IS NOT NULL
      AND NOT lower(status) = ANY (ARRAY[
          'canceled', 'cancelled', 'done_for_day', 'error', 'expired', 'filled',
          'not_found', 'rejected', 'replaced', 'stopped', 'suspended'
      ]);
