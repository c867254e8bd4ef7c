-- depends: 0002.orders-table
-- Phase 2: classify every order (entry, exit, stop_loss, take_profit) and give
-- exit orders and bracket legs the side that closes their position:
--   long:  entry buy,  exit / stop_loss / take_profit sell
--   short: entry sell, exit / stop_loss / take_profit buy
-- Entry orders are never changed. A changed order keeps its old side in
-- metadata->'side_before_phase2', which the rollback restores. A bracket leg without a
-- position_id belongs to its parent order's position.

ALTER TABLE orders ADD COLUMN IF NOT EXISTS order_purpose VARCHAR(20);

-- Bracket legs first: a child order is a stop-loss or a take-profit by its type.
UPDATE orders
SET order_purpose = CASE
        WHEN order_type IN ('stop', 'stop_limit', 'trailing_stop') THEN 'stop_loss'
        WHEN order_type = 'limit' THEN 'take_profit'
        ELSE 'exit'
    END
WHERE order_purpose IS NULL
  AND parent_order_id IS NOT NULL;

-- A position's entry is its earliest top-level order that filled (its earliest, where none
-- did); the attempts before it, rejected or cancelled, were entries too. A standalone order
-- is an entry.
UPDATE orders o
SET order_purpose = 'entry'
FROM (
    SELECT DISTINCT ON (position_id) position_id, created_at, order_id
    FROM orders
    WHERE parent_order_id IS NULL AND position_id IS NOT NULL
    ORDER BY position_id, (filled_qty > 0) DESC, created_at, order_id
) AS entries
WHERE o.position_id = entries.position_id
  AND o.parent_order_id IS NULL
  AND o.order_purpose IS NULL
  AND (o.created_at, o.order_id) <= (entries.created_at, entries.order_id);

UPDATE orders
SET order_purpose = 'entry'
WHERE order_purpose IS NULL
  AND position_id IS NULL;

-- Every later top-level order of a position closed (part of) it.
UPDATE orders
SET order_purpose = 'exit'
WHERE order_purpose IS NULL;

ALTER TABLE orders
    ADD CONSTRAINT orders_order_purpose_check
    CHECK (order_purpose IN ('entry', 'exit', 'stop_loss', 'take_profit'));

-- Exit orders and bracket legs of both long and short positions take the closing side.
UPDATE orders o
SET side = CASE p.side WHEN 'long' THEN 'sell' ELSE 'buy' END,
    metadata = o.metadata || jsonb_build_object('side_before_phase2', o.side),
    updated_at = NOW()
FROM positions p
WHERE p.position_id = COALESCE(
        o.position_id,
        (SELECT parent.position_id FROM orders parent WHERE parent.order_id = o.parent_order_id)
    )
  AND o.order_purpose IN ('exit', 'stop_loss', 'take_profit')
  AND o.side <> CASE p.side WHEN 'long' THEN 'sell' ELSE 'buy' END;
