-- Remove the client order id index.
DROP INDEX IF EXISTS tradewatch_orders_client_order_id;
