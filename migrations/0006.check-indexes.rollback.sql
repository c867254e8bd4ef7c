-- Remove the check indexes.
DROP INDEX IF EXISTS idx_orders_open_at_broker;
DROP INDEX IF EXISTS idx_orders_alpaca_order_id_folded;
DROP INDEX IF EXISTS idx_positions_live;
DROP INDEX IF EXISTS idx_orders_created_at;
-- idx_orders_pending_checks exists only where the desk's own idx_orders_pending was kept: then
-- that one stays; else idx_orders_pending is tradewatch's.
DO $$
BEGIN
    IF to_regclass('idx_orders_pending_checks') IS NOT NULL THEN
        DROP INDEX idx_orders_pending_checks;
    ELSE
        DROP INDEX IF EXISTS idx_orders_pending;
    END IF;
END
$$;
