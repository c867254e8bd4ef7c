-- Remove the base schema.
DROP TABLE positions;
DROP TABLE trading_cycles;
DROP TABLE securities;
