-- Catalyst generation-A base schema: securities, trading cycles and positions,
-- with the legacy broker columns that positions carried before the orders table.

CREATE TABLE securities (
    security_id   SERIAL PRIMARY KEY,
    symbol        VARCHAR(20) NOT NULL UNIQUE,
    company_name  VARCHAR(200),
    exchange      VARCHAR(20),
    sector        VARCHAR(100),
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE trading_cycles (
    cycle_id       VARCHAR(20) PRIMARY KEY,
    mode           VARCHAR(20) NOT NULL DEFAULT 'normal',
    status         VARCHAR(20) NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'paused', 'stopped', 'completed', 'failed')),
    max_positions  INTEGER NOT NULL DEFAULT 5,
    max_daily_loss NUMERIC(12, 2) NOT NULL DEFAULT 2000.00,
    configuration  JSONB NOT NULL DEFAULT '{}'::jsonb,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    stopped_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE positions (
    position_id     SERIAL PRIMARY KEY,
    cycle_id        VARCHAR(20) NOT NULL REFERENCES trading_cycles (cycle_id),
    security_id     INTEGER NOT NULL REFERENCES securities (security_id),
    side            VARCHAR(10) NOT NULL CHECK (side IN ('long', 'short')),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    entry_price     NUMERIC(12, 4) NOT NULL,
    exit_price      NUMERIC(12, 4),
    stop_loss       NUMERIC(12, 4),
    take_profit     NUMERIC(12, 4),
    risk_amount     NUMERIC(12, 2),
    status          VARCHAR(20) NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'closed', 'partial', 'risk_reduced')),
    opened_at       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    closed_at       TIMESTAMPTZ,
    unrealized_pnl  NUMERIC(12, 2),
    realized_pnl    NUMERIC(12, 2),
    pnl_percent     NUMERIC(8, 4),
    close_reason    VARCHAR(50),
    alpaca_order_id VARCHAR(100),
    alpaca_status   VARCHAR(50),
    alpaca_error    TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_positions_cycle ON positions (cycle_id);
CREATE INDEX idx_positions_security ON positions (security_id);
