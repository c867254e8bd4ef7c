-- Restore the sides Phase 2 changed and remove order_purpose.
UPDATE orders
SET side = metadata ->> 'side_before_phase2',
    metadata = metadata - 'side_before_phase2'
WHERE metadata ? 'side_before_phase2';

ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_order_purpose_check;
ALTER TABLE orders DROP COLUMN IF EXISTS order_purpose;
