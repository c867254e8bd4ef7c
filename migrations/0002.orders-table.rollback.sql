-- Remove the orders table; the positions' legacy columns still hold what was copied.
DROP TABLE orders;
