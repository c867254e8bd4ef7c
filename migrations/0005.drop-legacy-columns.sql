-- depends: 0004.pipeline-status-view
-- Phase 2: drop the positions' legacy broker columns, but only when no data goes
-- with them: every alpaca_order_id a position holds must be held by an order too.
-- Otherwise raise, and the transaction leaves schema and data as they were.

DO $$
DECLARE
    unmatched INTEGER;
    examples TEXT;
BEGIN
    SELECT COUNT(*), string_agg(position_id::text, ', ' ORDER BY position_id)
    INTO unmatched, examples
    FROM (
        SELECT p.position_id
        FROM positions p
        WHERE p.alpaca_order_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.alpaca_order_id = p.alpaca_order_id)
        ORDER BY p.position_id
        LIMIT 20
    ) AS lost;
    IF unmatched > 0 THEN
        RAISE EXCEPTION 'refusing to drop positions.alpaca_order_id: positions % hold broker order ids that no order holds',
            examples
            USING HINT = 'insert an order holding each of those alpaca_order_ids (as migrations/0002 does), then migrate again';
    END IF;
END
$$;

ALTER TABLE positions DROP COLUMN alpaca_order_id;
ALTER TABLE positions DROP COLUMN alpaca_status;
ALTER TABLE positions DROP COLUMN alpaca_error;
