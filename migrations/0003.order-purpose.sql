-- depends: 0002.orders-table
-- Phase 2: classify every order (entry, exit, stop_loss, take_profit) and give
-- exit orders and bracket legs the side that closes their position:
--   long:  entry buy,  exit / stop_loss / take_profit sell
--   short: entry sell, exit / stop_loss / take_profit buy
-- Entry orders are never changed. A changed order keeps its old side in
-- metadata->'side_before_phase2', which the rollback restores. A bracket leg without a
-- position_id belongs to its parent order's position.
-- The desk's own Phase 1 wrote new orders with metadata NULL: an order whose metadata was NULL
-- says so in metadata->'metadata_null_before_phase2', and the rollback makes it NULL again.
-- Where order_purpose is there already (the seed guide's own Phase 2 added and filled it), the
-- purposes it holds are kept: only NULL ones are filled, each order filled so is marked
-- metadata->'purpose_set_by_phase2' for the rollback to empty again, and the comment on
-- orders_order_purpose_check tells the rollback to keep the column.

CREATE TEMP TABLE phase2_purpose_column ON COMMIT DROP AS
SELECT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = 'orders'::regclass AND attname = 'order_purpose' AND NOT attisdropped
) AS was_there;

ALTER TABLE orders ADD COLUMN IF NOT EXISTS order_purpose VARCHAR(20);

-- The orders this migration classifies in a column it did not add.
CREATE TEMP TABLE phase2_unclassified ON COMMIT DROP AS
SELECT order_id FROM orders
WHERE order_purpose IS NULL AND (SELECT was_there FROM phase2_purpose_column);

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

UPDATE orders o
SET metadata = COALESCE(o.metadata, jsonb_build_object('metadata_null_before_phase2', true))
               || jsonb_build_object('purpose_set_by_phase2', true)
FROM phase2_unclassified AS u
WHERE u.order_id = o.order_id;

ALTER TABLE orders
    ADD CONSTRAINT orders_order_purpose_check
    CHECK (order_purpose IN ('entry', 'exit', 'stop_loss', 'take_profit'));

DO $$
BEGIN
    IF (SELECT was_there FROM phase2_purpose_column) THEN
        COMMENT ON CONSTRAINT orders_order_purpose_check ON orders IS
            'tradewatch 0003.order-purpose: order_purpose was there before it; its rollback keeps the column';
    END IF;
END
$$;

-- Exit orders and bracket legs of both long and short positions take the closing side.
UPDATE orders o
SET side = CASE p.side WHEN 'long' THEN 'sell' ELSE 'buy' END,
    metadata = COALESCE(o.metadata, jsonb_build_object('metadata_null_before_phase2', true))
               || jsonb_build_object('side_before_phase2', o.side),
    updated_at = NOW()
FROM positions p
WHERE p.position_id = COALESCE(
        o.position_id,
        (SELECT parent.position_id FROM orders parent WHERE parent.order_id = o.parent_order_id)
    )
  AND o.order_purpose IN ('exit', 'stop_loss', 'take_profit')
  AND o.side <> CASE p.side WHEN 'long' THEN 'sell' ELSE 'buy' END;
