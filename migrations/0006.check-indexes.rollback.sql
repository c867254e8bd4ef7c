-- Remove the check indexes.
DROP INDEX IF EXISTS idx_orders_open_at_broker;
DROP INDEX IF EXISTS idx_orders_alpaca_order_id_folded;
DROP INDEX IF EXISTS idx_positions_live;
DROP INDEX IF EXISTS idx_orders_created_at;
DROP INDEX IF EXISTS idx_orders_pending;
