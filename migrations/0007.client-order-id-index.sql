-- depends: 0006.check-indexes
-- Client order ids in key order: the check that no two orders share one (client_order_ids_unique)
-- reads this index alone, each id next to its equals, instead of sorting every order's id on each
-- run. Named for tradewatch, so that no index the desk made is taken for it or dropped with it.
CREATE INDEX tradewatch_orders_client_order_id ON orders (alpaca_client_order_id)
    WHERE alpaca_client_order_id IS NOT NULL;
