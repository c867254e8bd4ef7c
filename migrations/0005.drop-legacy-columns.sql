-- depends: 0004.pipeline-status-view
-- Phase 2: drop the positions' legacy broker columns, but only when no data goes with them:
-- every alpaca_order_id a position holds must be held by an order too (0002 copied the
-- status and error of those into the order's metadata), and a position without one must
-- hold no status or error either. Otherwise raise: the transaction leaves schema and data
-- as they were.

DO $$
DECLARE
    unmatched TEXT;
    unkept TEXT;
BEGIN
    SELECT string_agg(position_id::text, ', ' ORDER BY position_id) INTO unmatched
    FROM (
        SELECT p.position_id FROM positions p
        WHERE p.alpaca_order_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.alpaca_order_id = p.alpaca_order_id)
        ORDER BY p.position_id LIMIT 20
    ) AS lost;
    IF unmatched IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop positions.alpaca_order_id: positions % hold broker order ids that no order holds',
            unmatched
            USING HINT = 'insert an order holding each of those alpaca_order_ids (as migrations/0002 does), then migrate again';
    END IF;

    SELECT string_agg(position_id::text, ', ' ORDER BY position_id) INTO unkept
    FROM (
        SELECT p.position_id FROM positions p
        WHERE p.alpaca_order_id IS NULL
          AND (p.alpaca_status IS NOT NULL OR p.alpaca_error IS NOT NULL)
        ORDER BY p.position_id LIMIT 20
    ) AS lost;
    IF unkept IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop positions.alpaca_status and alpaca_error: positions % hold a broker status or error but no broker order id, so no order keeps them',
            unkept
            USING HINT = 'keep what matters of them elsewhere (an order''s metadata, a note), set them to NULL, then migrate again';
    END IF;
END
$$;

ALTER TABLE positions DROP COLUMN alpaca_order_id;
ALTER TABLE positions DROP COLUMN alpaca_status;
ALTER TABLE positions DROP COLUMN alpaca_error;
