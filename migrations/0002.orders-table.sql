-- depends: 0001.base-schema
-- Phase 1: the orders table, and one filled entry order copied for every position
-- that has a broker order id no order holds yet (so running it again copies nothing).

CREATE TABLE orders (
    order_id               SERIAL PRIMARY KEY,
    position_id            INTEGER REFERENCES positions (position_id),
    security_id            INTEGER NOT NULL REFERENCES securities (security_id),
    cycle_id               VARCHAR(20) REFERENCES trading_cycles (cycle_id),
    parent_order_id        INTEGER REFERENCES orders (order_id),
    order_class            VARCHAR(20) NOT NULL DEFAULT 'simple'
                           CHECK (order_class IN ('simple', 'bracket', 'oco', 'oto')),
    side                   VARCHAR(10) NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type             VARCHAR(20) NOT NULL
                           CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
    time_in_force          VARCHAR(10) NOT NULL DEFAULT 'day',
    quantity               INTEGER NOT NULL CHECK (quantity > 0),
    limit_price            NUMERIC(12, 4),
    stop_price             NUMERIC(12, 4),
    trail_percent          NUMERIC(8, 4),
    trail_price            NUMERIC(12, 4),
    alpaca_order_id        VARCHAR(100) UNIQUE,
    alpaca_client_order_id VARCHAR(100),
    status                 VARCHAR(30) NOT NULL DEFAULT 'created',
    filled_qty             NUMERIC(18, 8) NOT NULL DEFAULT 0,
    filled_avg_price       NUMERIC(12, 4),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    submitted_at           TIMESTAMPTZ,
    accepted_at            TIMESTAMPTZ,
    filled_at              TIMESTAMPTZ,
    cancelled_at           TIMESTAMPTZ,
    expired_at             TIMESTAMPTZ,
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    rejection_reason       TEXT,
    cancel_reason          TEXT,
    metadata               JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX idx_orders_position ON orders (position_id);
CREATE INDEX idx_orders_cycle ON orders (cycle_id);
CREATE INDEX idx_orders_parent ON orders (parent_order_id);

INSERT INTO orders (
    position_id, security_id, cycle_id, order_class, side, order_type, quantity,
    alpaca_order_id, status, filled_qty, filled_avg_price,
    created_at, submitted_at, filled_at, updated_at, metadata
)
SELECT DISTINCT ON (p.alpaca_order_id)
    p.position_id, p.security_id, p.cycle_id, 'simple',
    CASE WHEN p.side = 'long' THEN 'buy' ELSE 'sell' END,
    'market', p.quantity,
    p.alpaca_order_id, 'filled', p.quantity, p.entry_price,
    p.opened_at, p.opened_at, p.opened_at, NOW(),
    -- Keep what the legacy columns said, so nothing is lost when they go.
    jsonb_strip_nulls(jsonb_build_object(
        'copied_from', 'positions',
        'legacy_alpaca_status', p.alpaca_status,
        'legacy_alpaca_error', p.alpaca_error
    ))
FROM positions p
WHERE p.alpaca_order_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.alpaca_order_id = p.alpaca_order_id)
-- One order per broker id (the column is unique): the earliest position keeps it.
ORDER BY p.alpaca_order_id, p.position_id;
