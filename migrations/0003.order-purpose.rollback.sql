-- Restore the sides Phase 2 changed, empty the purposes it filled in a column it found, give
-- back NULL metadata where it was NULL, and remove the constraint, and the column where 0003
-- added it.
UPDATE orders
SET side = COALESCE(metadata ->> 'side_before_phase2', side),
    order_purpose = CASE WHEN metadata ? 'purpose_set_by_phase2' THEN NULL ELSE order_purpose END,
    metadata = CASE
        WHEN metadata ? 'metadata_null_before_phase2'
             AND metadata - ARRAY['side_before_phase2', 'purpose_set_by_phase2',
                                  'metadata_null_before_phase2'] = '{}'::jsonb
        THEN NULL
        ELSE metadata - ARRAY['side_before_phase2', 'purpose_set_by_phase2', 'metadata_null_before_phase2']
    END
WHERE metadata ?| ARRAY['side_before_phase2', 'purpose_set_by_phase2'];

DO $$
DECLARE
    kept BOOLEAN := COALESCE(obj_description(
        (SELECT oid FROM pg_constraint
         WHERE conname = 'orders_order_purpose_check' AND conrelid = 'orders'::regclass),
        'pg_constraint') LIKE 'tradewatch 0003.order-purpose: order_purpose was there before it%', false);
BEGIN
    ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_order_purpose_check;
    IF NOT kept THEN
        ALTER TABLE orders DROP COLUMN IF EXISTS order_purpose;
    END IF;
END
$$;
