-- depends: 0003.order-purpose
-- Phase 2: v_trade_pipeline_status on the real columns. Cycles have no date
-- column: cycle_date is the America/New_York trading date the cycle started on,
-- whatever the server's TimeZone.

DROP VIEW IF EXISTS v_trade_pipeline_status;

CREATE VIEW v_trade_pipeline_status AS
SELECT
    tc.cycle_id,
    (tc.started_at AT TIME ZONE 'America/New_York')::date AS cycle_date,
    tc.status AS cycle_status,
    tc.started_at AS cycle_start,
    tc.stopped_at AS cycle_end,
    tc.updated_at AS cycle_updated,
    COALESCE(o_stats.orders_total, 0) AS orders_total,
    COALESCE(o_stats.orders_pending, 0) AS orders_pending,
    COALESCE(o_stats.orders_filled, 0) AS orders_filled,
    COALESCE(o_stats.orders_cancelled, 0) AS orders_cancelled,
    COALESCE(p_stats.positions_total, 0) AS positions_total,
    COALESCE(p_stats.positions_open, 0) AS positions_open,
    COALESCE(p_stats.daily_pnl, 0) AS daily_pnl,
    o_stats.last_order_at
FROM trading_cycles tc
LEFT JOIN (
    SELECT
        cycle_id,
        COUNT(*) AS orders_total,
        COUNT(*) FILTER (
            WHERE status IN ('created', 'submitted', 'pending_new', 'accepted', 'new')
        ) AS orders_pending,
        COUNT(*) FILTER (WHERE status = 'filled') AS orders_filled,
        -- Both spellings of cancel occur in real data.
        COUNT(*) FILTER (
            WHERE status IN ('cancelled', 'canceled', 'rejected', 'expired')
        ) AS orders_cancelled,
        MAX(submitted_at) AS last_order_at
    FROM orders
    GROUP BY cycle_id
) AS o_stats ON o_stats.cycle_id = tc.cycle_id
LEFT JOIN (
    SELECT
        cycle_id,
        COUNT(*) AS positions_total,
        COUNT(*) FILTER (WHERE status = 'open') AS positions_open,
        SUM(COALESCE(realized_pnl, 0) + COALESCE(unrealized_pnl, 0)) AS daily_pnl
    FROM positions
    GROUP BY cycle_id
) AS p_stats ON p_stats.cycle_id = tc.cycle_id;

GRANT SELECT ON v_trade_pipeline_status TO PUBLIC;
