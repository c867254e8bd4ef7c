-- depends: 0005.drop-legacy-columns
-- The indexes the checks read through, so that a run's cost follows the open book and
-- the last day, not the years of history behind them:
--   pending orders (stuck orders; the order checks' scope): the statuses of
--     tradewatch.vocabulary.PENDING_STATUSES;
--   orders of the lookback window (the order checks' scope): orders.created_at;
--   live positions (their orders are in scope; stale P&L; the broker's positions): the
--     statuses of tradewatch.vocabulary.LIVE_POSITION_STATUSES;
--   orders the broker should still hold (the broker's orders): a broker id and a status
--     outside tradewatch.vocabulary.TERMINAL_STATUSES, listed sorted and lower-cased
--     exactly as tradewatch.queries.broker.open_orders asks for them.
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
