-- Restore the legacy columns and refill them from each position's entry order.
ALTER TABLE positions ADD COLUMN alpaca_order_id VARCHAR(100);
ALTER TABLE positions ADD COLUMN alpaca_status VARCHAR(50);
ALTER TABLE positions ADD COLUMN alpaca_error TEXT;

UPDATE positions p
SET alpaca_order_id = o.alpaca_order_id,
    alpaca_status = COALESCE(o.metadata ->> 'legacy_alpaca_status', o.status),
    alpaca_error = COALESCE(o.metadata ->> 'legacy_alpaca_error', o.rejection_reason)
FROM (
    SELECT DISTINCT ON (position_id) position_id, alpaca_order_id, status, rejection_reason, metadata
    FROM orders
    WHERE order_purpose = 'entry' AND position_id IS NOT NULL
    ORDER BY position_id, created_at, order_id
) AS o
WHERE o.position_id = p.position_id;
