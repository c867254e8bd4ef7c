"""A synthetic generation-A desk at a given scale: years of history and an open book near as-of."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import psycopg
from psycopg import conninfo, sql

from tradewatch import db, migrate

NEW_YORK = ZoneInfo("America/New_York")
# Loaded into the schema as it stands before the check indexes, which are built on the data.
BEFORE_INDEXES = "0005.drop-legacy-columns"
# The pending group's first orders are planted defects; the rest wait at the broker.
PLANTED_PENDING = 8


@dataclass(frozen=True)
class Scale:
    """How big the desk is: history, open book and universe."""

    orders: int
    positions: int
    open: int
    pending: int
    symbols: int
    days: int = 730

    @property
    def label(self) -> str:
        """A short name: 10k, 1M, 250k."""
        for unit, size in (("M", 1_000_000), ("k", 1_000)):
            if self.orders >= size and self.orders % size == 0:
                return f"{self.orders // size}{unit}"
        return str(self.orders)

    @property
    def history_positions(self) -> int:
        """Closed positions spread over the history."""
        return self.positions - self.open

    @property
    def open_book_orders(self) -> int:
        """Orders of the live positions: entry and two legs each, an exit for partial ones."""
        return 3 * self.open + self.open // 10 + (self.open + 5) // 10

    @property
    def history_orders(self) -> int:
        """Orders of closed positions (and their rejected neighbours)."""
        return self.orders - self.open_book_orders - self.pending

    def check(self) -> None:
        """Refuse a scale the generator cannot lay out."""
        if self.open < 3 or self.pending < PLANTED_PENDING + 1:
            raise ValueError(f"need --open >= 3 and --pending >= {PLANTED_PENDING + 1}")
        if self.symbols < self.open:
            raise ValueError("need --symbols >= --open: the broker holds one position per symbol")
        if self.history_positions < 1 or self.history_orders < 4 * self.history_positions:
            raise ValueError(
                f"{self.orders} orders cannot hold {self.history_positions} closed positions "
                f"(4 orders each) besides the open book's {self.open_book_orders} and "
                f"{self.pending} pending: raise --orders or lower --positions"
            )


SECURITIES = """
INSERT INTO securities (security_id, symbol, company_name, exchange, sector)
SELECT i,
       chr(65 + mod(i / 17576, 26)) || chr(65 + mod(i / 676, 26))
           || chr(65 + mod(i / 26, 26)) || chr(65 + mod(i, 26)),
       'Company ' || i,
       (ARRAY['NASDAQ', 'NYSE', 'ARCA'])[1 + mod(i, 3)],
       (ARRAY['Technology', 'Health Care', 'Financials', 'Energy', 'Industrials'])[1 + mod(i, 5)]
FROM generate_series(1, %(symbols)s) AS i
"""

# Weekdays of the history, numbered; today (as-of's New York date) is not among them.
DAYS = """
CREATE TEMP TABLE bench_days ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY g)) - 1 AS day_no, g::date AS day
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS g
WHERE extract(isodow FROM g) < 6
"""

CYCLES = """
INSERT INTO trading_cycles (cycle_id, mode, status, started_at, stopped_at, created_at, updated_at)
SELECT to_char(day, 'YYYYMMDD') || '-001', 'normal',
       CASE WHEN last THEN 'active' ELSE 'completed' END,
       (day + time '09:25') AT TIME ZONE 'America/New_York',
       CASE WHEN NOT last THEN (day + time '16:05') AT TIME ZONE 'America/New_York' END,
       (day + time '09:25') AT TIME ZONE 'America/New_York',
       -- Planted: the last history day's cycle was never stopped (one CYCLE_STALE).
       (day + time '16:05') AT TIME ZONE 'America/New_York'
FROM (SELECT day, day_no = max(day_no) OVER () AS last FROM bench_days) AS d
UNION ALL
SELECT to_char(%(today)s::date, 'YYYYMMDD') || '-001', 'normal', 'active',
       (%(today)s::date + time '09:25') AT TIME ZONE 'America/New_York', NULL,
       (%(today)s::date + time '09:25') AT TIME ZONE 'America/New_York',
       %(as_of)s::timestamptz - interval '1 minute'
"""

HISTORY_POSITIONS = """
INSERT INTO positions (
    position_id, cycle_id, security_id, side, quantity, entry_price, exit_price, stop_loss,
    take_profit, risk_amount, status, opened_at, closed_at, unrealized_pnl, realized_pnl,
    pnl_percent, close_reason, created_at, updated_at
)
SELECT h, to_char(d.day, 'YYYYMMDD') || '-001', 1 + mod(h * 7919, %(symbols)s),
       CASE WHEN mod(h, 3) = 0 THEN 'short' ELSE 'long' END,
       v.qty, v.price, v.exit_price, v.price * 0.98, v.price * 1.03, v.qty * v.price * 0.02,
       'closed', v.opened_at, v.closed_at, 0,
       round((v.exit_price - v.price) * v.qty, 2), round((v.exit_price / v.price - 1) * 100, 4),
       v.reason, v.opened_at, v.closed_at
FROM generate_series(1, %(history)s::bigint) AS h
JOIN bench_days AS d ON d.day_no = (h - 1)::bigint * %(days)s / %(history)s
CROSS JOIN LATERAL (
    SELECT 1 + mod(h * 37, 500) AS qty,
           round(10 + mod(h * 31, 49000) / 100.0, 4) AS price,
           round((10 + mod(h * 31, 49000) / 100.0) * (0.97 + mod(h * 17, 61) / 1000.0), 4)
               AS exit_price,
           (d.day + time '09:31' + mod(h * 37, 300) * interval '1 minute'
               + mod(h * 13, 60) * interval '1 second') AT TIME ZONE 'America/New_York'
               AS opened_at,
           (d.day + time '09:31' + mod(h * 37, 300) * interval '1 minute'
               + mod(h * 13, 60) * interval '1 second' + (5 + mod(h * 53, 90)) * interval '1 minute')
               AT TIME ZONE 'America/New_York' AS closed_at,
           CASE WHEN mod(h, 10) < 3 THEN 'stop_loss' WHEN mod(h, 10) < 6 THEN 'take_profit'
                ELSE 'signal_exit' END AS reason
) AS v
"""

# Every closed position: entry, stop-loss and take-profit legs, re-priced exits, a final
# exit, and for one in twenty a rejected or cancelled entry on another symbol that opened
# nothing. Order ids follow time; broker ids are UUID-shaped like the demo's, and ascend so
# that a million of them load in seconds.
HISTORY_ORDERS = """
WITH p AS (
    SELECT position_id::bigint AS h, cycle_id, security_id, side, quantity, entry_price, exit_price,
           stop_loss, take_profit, opened_at, closed_at, close_reason,
           %(per)s + (position_id <= %(extra)s)::int AS k,
           (position_id - 1)::bigint * %(per)s + least(position_id - 1, %(extra)s) AS base
    FROM positions WHERE position_id BETWEEN %(low)s AND %(high)s
)
INSERT INTO orders (
    order_id, position_id, security_id, cycle_id, parent_order_id, order_class, side, order_type,
    time_in_force, quantity, limit_price, stop_price, trail_percent, alpaca_order_id,
    alpaca_client_order_id, status, filled_qty, filled_avg_price, created_at, submitted_at,
    accepted_at, filled_at, cancelled_at, expired_at, updated_at, rejection_reason, cancel_reason,
    order_purpose
)
SELECT o.id,
       CASE WHEN r.role = 'unlinked' THEN NULL ELSE p.h END,
       CASE WHEN r.role = 'unlinked' THEN 1 + mod(p.h * 104729 + 17, %(symbols)s)
            ELSE p.security_id END,
       p.cycle_id,
       CASE WHEN r.role IN ('sl', 'tp') THEN p.base + 1 END,
       CASE WHEN r.role IN ('entry', 'sl', 'tp') THEN 'bracket' ELSE 'simple' END,
       CASE WHEN (r.role IN ('entry', 'unlinked')) = (p.side = 'long') THEN 'buy' ELSE 'sell' END,
       t.order_type,
       CASE WHEN r.role IN ('sl', 'tp') THEN 'gtc' ELSE 'day' END,
       CASE WHEN r.role = 'unlinked' THEN 10 + mod(p.h, 90) ELSE p.quantity END,
       CASE WHEN t.order_type = 'limit' THEN t.price END,
       CASE WHEN t.order_type = 'stop' THEN p.stop_loss END,
       CASE WHEN t.order_type = 'trailing_stop' THEN 1.5 END,
       CASE WHEN s.status <> 'error'
            THEN 'b' || lpad(to_hex(o.id), 7, '0') || '-0000-4000-8000-' || lpad(to_hex(o.id), 12, '0') END,
       'cts-' || o.id,
       s.status,
       CASE WHEN s.status = 'filled' THEN p.quantity ELSE 0 END,
       CASE WHEN s.status = 'filled' THEN t.price END,
       c.created_at,
       CASE WHEN s.status <> 'error' THEN c.created_at + interval '20 milliseconds' END,
       CASE WHEN s.status NOT IN ('error', 'rejected') THEN c.created_at + interval '50 milliseconds' END,
       f.filled_at, f.cancelled_at, f.expired_at,
       coalesce(f.filled_at, f.cancelled_at, f.expired_at, c.created_at + interval '50 milliseconds'),
       CASE WHEN s.status = 'rejected' THEN 'insufficient buying power' END,
       CASE WHEN s.status IN ('canceled', 'cancelled') AND r.role IN ('sl', 'tp')
            THEN 'bracket leg cancelled when the position closed' END,
       CASE r.role WHEN 'sl' THEN 'stop_loss' WHEN 'tp' THEN 'take_profit'
            WHEN 'exit' THEN 'exit' WHEN 'final' THEN 'exit' ELSE 'entry' END
FROM p
CROSS JOIN LATERAL generate_series(0, p.k - 1) AS j
CROSS JOIN LATERAL (SELECT p.base + j + 1 AS id) AS o
CROSS JOIN LATERAL (
    SELECT CASE WHEN j = 0 THEN 'entry' WHEN j = 1 THEN 'sl' WHEN j = 2 THEN 'tp'
                WHEN j = p.k - 1 AND mod(p.h, 20) = 0 THEN 'unlinked'
                WHEN j = p.k - 1 - (mod(p.h, 20) = 0)::int THEN 'final'
                ELSE 'exit' END AS role
) AS r
CROSS JOIN LATERAL (
    SELECT CASE r.role
        WHEN 'entry' THEN 'filled'
        WHEN 'sl' THEN CASE WHEN p.close_reason = 'stop_loss' THEN 'filled'
                            WHEN mod(p.h, 2) = 0 THEN 'canceled' ELSE 'cancelled' END
        WHEN 'tp' THEN CASE WHEN p.close_reason = 'take_profit' THEN 'filled'
                            WHEN mod(p.h, 2) = 1 THEN 'canceled' ELSE 'cancelled' END
        WHEN 'final' THEN CASE WHEN p.close_reason = 'signal_exit' THEN 'filled'
                               WHEN mod(p.h, 4) < 2 THEN 'canceled' ELSE 'cancelled' END
        WHEN 'exit' THEN (ARRAY['replaced', 'canceled', 'cancelled', 'expired'])[1 + mod(p.h * 7 + j, 4)]
        ELSE (ARRAY['rejected', 'canceled', 'cancelled', 'expired', 'error'])[1 + mod(p.h / 20, 5)]
    END AS status
) AS s
CROSS JOIN LATERAL (
    SELECT CASE r.role
               WHEN 'entry' THEN CASE WHEN mod(p.h, 2) = 0 THEN 'market' ELSE 'limit' END
               WHEN 'sl' THEN CASE WHEN mod(p.h, 7) = 0 THEN 'trailing_stop' ELSE 'stop' END
               WHEN 'final' THEN 'market'
               ELSE 'limit' END AS order_type,
           CASE r.role WHEN 'entry' THEN p.entry_price WHEN 'sl' THEN p.stop_loss
                       WHEN 'tp' THEN p.take_profit WHEN 'unlinked' THEN p.entry_price
                       ELSE p.exit_price END AS price
) AS t
CROSS JOIN LATERAL (
    SELECT CASE r.role
               WHEN 'entry' THEN p.opened_at
               WHEN 'sl' THEN p.opened_at + interval '50 milliseconds'
               WHEN 'tp' THEN p.opened_at + interval '60 milliseconds'
               WHEN 'unlinked' THEN p.opened_at + interval '1 second'
               WHEN 'final' THEN p.closed_at
               ELSE p.opened_at + (p.closed_at - p.opened_at) * ((j - 2)::float8 / (p.k - 2))
           END AS created_at
) AS c
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.status = 'filled' AND r.role = 'entry' THEN p.opened_at + interval '200 milliseconds'
                WHEN s.status = 'filled' THEN p.closed_at END AS filled_at,
           CASE WHEN s.status IN ('canceled', 'cancelled', 'replaced') AND r.role IN ('sl', 'tp')
                    THEN p.closed_at + interval '100 milliseconds'
                WHEN s.status IN ('canceled', 'cancelled', 'replaced')
                    THEN c.created_at + interval '40 seconds' END AS cancelled_at,
           CASE WHEN s.status = 'expired' THEN c.created_at + interval '2 minutes' END AS expired_at
) AS f
"""

# Live positions opened in as-of's session, one symbol each; some partial or risk-reduced.
OPEN_POSITIONS = """
INSERT INTO positions (
    position_id, cycle_id, security_id, side, quantity, entry_price, stop_loss, take_profit,
    risk_amount, status, opened_at, unrealized_pnl, pnl_percent, created_at, updated_at
)
SELECT %(history)s + i, to_char(%(today)s::date, 'YYYYMMDD') || '-001', i,
       CASE WHEN mod(i, 3) = 0 THEN 'short' ELSE 'long' END,
       v.qty, v.price, v.price * 0.98, v.price * 1.03, v.qty * v.price * 0.02,
       CASE mod(i, 10) WHEN 0 THEN 'partial' WHEN 5 THEN 'risk_reduced' ELSE 'open' END,
       v.opened_at, round(v.qty * v.price * (mod(i * 29, 41) - 20) / 1000.0, 2),
       round((mod(i * 29, 41) - 20) / 10.0, 4), v.opened_at,
       -- Planted: one live position in a hundred has P&L 25 minutes old (INFO).
       CASE WHEN mod(i, 100) = 1 THEN %(as_of)s::timestamptz - interval '25 minutes'
            ELSE %(as_of)s::timestamptz - mod(i * 7, 240) * interval '1 second' END
FROM generate_series(1, %(open)s::bigint) AS i
CROSS JOIN LATERAL (
    SELECT 1 + mod(i * 37, 500) AS qty,
           round(10 + mod(i * 31, 49000) / 100.0, 4) AS price,
           %(as_of)s::timestamptz - (6 + mod(i * 37, 85)) * interval '1 minute' AS opened_at
) AS v
"""

# Their orders: a filled bracket entry, its held stop-loss and new take-profit legs resting at
# the broker, and for partial and risk-reduced ones a partly filled exit.
OPEN_ORDERS = """
WITH p AS (
    SELECT position_id - %(history)s AS i, position_id, security_id, cycle_id, side, quantity,
           entry_price, stop_loss, take_profit, opened_at, status,
           %(first_id)s + 3 * (position_id - %(history)s - 1)
               + (position_id - %(history)s - 1) / 10 + (position_id - %(history)s + 4) / 10 AS base
    FROM positions WHERE position_id > %(history)s
)
INSERT INTO orders (
    order_id, position_id, security_id, cycle_id, parent_order_id, order_class, side, order_type,
    time_in_force, quantity, limit_price, stop_price, alpaca_order_id, alpaca_client_order_id,
    status, filled_qty, filled_avg_price, created_at, submitted_at, accepted_at, filled_at,
    updated_at, order_purpose
)
SELECT p.base + j, p.position_id, p.security_id, p.cycle_id,
       CASE WHEN j IN (1, 2) THEN p.base END,
       CASE WHEN j < 3 THEN 'bracket' ELSE 'simple' END,
       -- Planted: the take-profit legs of the first three live positions open instead of close.
       CASE WHEN (j = 0 OR (j = 2 AND p.i <= 3)) = (p.side = 'long') THEN 'buy' ELSE 'sell' END,
       (ARRAY['market', 'stop', 'limit', 'limit'])[j + 1],
       CASE WHEN j IN (1, 2) THEN 'gtc' ELSE 'day' END,
       CASE WHEN j = 3 THEN greatest(p.quantity / 2, 1) ELSE p.quantity END,
       CASE j WHEN 2 THEN p.take_profit WHEN 3 THEN p.entry_price * 1.01 END,
       CASE WHEN j = 1 THEN p.stop_loss END,
       'b' || lpad(to_hex(p.base + j), 7, '0') || '-0000-4000-8000-'
           || lpad(to_hex(p.base + j), 12, '0'), 'cts-' || (p.base + j),
       (ARRAY['filled', 'held', 'new', 'partially_filled'])[j + 1],
       CASE j WHEN 0 THEN p.quantity WHEN 3 THEN greatest(p.quantity / 4, 1) ELSE 0 END,
       CASE j WHEN 0 THEN p.entry_price WHEN 3 THEN p.entry_price * 1.01 END,
       p.opened_at + j * interval '10 milliseconds' + (j = 3)::int * interval '3 minutes',
       p.opened_at + j * interval '10 milliseconds' + (j = 3)::int * interval '3 minutes'
           + interval '20 milliseconds',
       p.opened_at + j * interval '10 milliseconds' + (j = 3)::int * interval '3 minutes'
           + interval '50 milliseconds',
       CASE WHEN j IN (0, 3) THEN p.opened_at + (j = 3)::int * interval '4 minutes'
           + interval '200 milliseconds' END,
       p.opened_at + (j = 3)::int * interval '4 minutes' + interval '200 milliseconds',
       (ARRAY['entry', 'stop_loss', 'take_profit', 'exit'])[j + 1]
FROM p
CROSS JOIN LATERAL generate_series(0, CASE WHEN p.status = 'open' THEN 2 ELSE 3 END) AS j
"""

# Top-level orders waiting at the broker: new entries (no position yet) and exits of live
# positions. The first eight are planted defects: three stuck, two unknown statuses, two
# filled entries without a position, one without a purpose.
PENDING_ORDERS = """
INSERT INTO orders (
    order_id, position_id, security_id, cycle_id, order_class, side, order_type, time_in_force,
    quantity, limit_price, alpaca_order_id, alpaca_client_order_id, status, filled_qty,
    filled_avg_price, created_at, submitted_at, accepted_at, filled_at, updated_at, order_purpose
)
SELECT %(first_id)s + j - 1, v.position_id, coalesce(p.security_id, v.security_id),
       to_char(%(today)s::date, 'YYYYMMDD') || '-001', 'simple',
       CASE WHEN p.side IS NULL THEN (CASE WHEN mod(j, 4) = 2 THEN 'sell' ELSE 'buy' END)
            WHEN p.side = 'long' THEN 'sell' ELSE 'buy' END,
       'limit', 'day', coalesce(p.quantity, 10 + mod(j * 13, 200)),
       round(10 + mod(j * 31, 49000) / 100.0, 4),
       CASE WHEN v.status <> 'created' THEN 'b' || lpad(to_hex(%(first_id)s + j - 1), 7, '0')
                || '-0000-4000-8000-' || lpad(to_hex(%(first_id)s + j - 1), 12, '0') END,
       'cts-' || (%(first_id)s + j - 1),
       v.status,
       CASE WHEN v.status = 'filled' THEN coalesce(p.quantity, 10 + mod(j * 13, 200)) ELSE 0 END,
       CASE WHEN v.status = 'filled' THEN round(10 + mod(j * 31, 49000) / 100.0, 4) END,
       %(as_of)s::timestamptz - v.age,
       CASE WHEN v.status <> 'created' THEN %(as_of)s::timestamptz - v.age + interval '20 milliseconds' END,
       CASE WHEN v.status NOT IN ('created', 'submitted', 'pending_new')
            THEN %(as_of)s::timestamptz - v.age + interval '50 milliseconds' END,
       CASE WHEN v.status = 'filled' THEN %(as_of)s::timestamptz - v.age + interval '1 second' END,
       %(as_of)s::timestamptz - v.age + interval '1 second',
       CASE WHEN j = 8 THEN NULL WHEN v.position_id IS NULL THEN 'entry' ELSE 'exit' END
FROM generate_series(1, %(pending)s) AS j
CROSS JOIN LATERAL (
    SELECT CASE j WHEN 1 THEN 'submitted' WHEN 2 THEN 'accepted' WHEN 3 THEN 'new'
                  WHEN 4 THEN 'OrderStatus.NEW' WHEN 5 THEN 'PENDING'
                  WHEN 6 THEN 'filled' WHEN 7 THEN 'filled' WHEN 8 THEN 'filled'
                  ELSE (ARRAY['created', 'submitted', 'pending_new', 'accepted', 'new'])[1 + mod(j, 5)]
           END AS status,
           CASE j WHEN 1 THEN interval '12 minutes' WHEN 2 THEN interval '25 minutes'
                  WHEN 3 THEN interval '47 minutes' WHEN 6 THEN interval '2 hours'
                  WHEN 7 THEN interval '3 hours' WHEN 8 THEN interval '30 minutes'
                  ELSE mod(j * 7, 270) * interval '1 second' END AS age,
           CASE WHEN j = 8 OR (j > %(planted)s AND mod(j, 2) = 1)
                THEN %(history)s + 1 + mod(j * 7, %(open)s) END AS position_id,
           1 + mod(j * 131, %(symbols)s) AS security_id
) AS v
LEFT JOIN positions AS p ON p.position_id = v.position_id
"""

SEQUENCES = """
SELECT setval('securities_security_id_seq', %(symbols)s),
       setval('positions_position_id_seq', %(positions)s),
       setval('orders_order_id_seq', %(orders)s)
"""


@dataclass(frozen=True)
class Built:
    """A generated database and how long each step took."""

    url: str
    seconds: dict[str, float]


def history_days(as_of: datetime, days: int) -> tuple[str, str, str]:
    """The first and last history day and today, as New York dates."""
    today = as_of.astimezone(NEW_YORK).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    return first.isoformat(), last.isoformat(), today.isoformat()


def _loading(url: str) -> psycopg.Connection:
    """A connection for bulk loading: no JIT, and no per-row foreign-key checks where allowed."""
    conn = db.connect(url, read_only=False, autocommit=False)
    # Compiling these one-off statements costs more than it saves.
    conn.execute("SELECT set_config('jit', 'off', false)")
    try:
        # The generated rows are consistent by construction; checking each costs minutes.
        conn.execute("SELECT set_config('session_replication_role', 'replica', false)")
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        conn.execute("SELECT set_config('jit', 'off', false)")
    conn.commit()
    return conn


def load(url: str, scale: Scale, as_of: datetime, workers: int = 2) -> dict[str, float]:
    """Fill a migrated, empty database with the desk; return seconds per step."""
    scale.check()
    first_day, last_day, today = history_days(as_of, scale.days)
    per, extra = divmod(scale.history_orders, scale.history_positions)
    params: dict[str, object] = {
        "symbols": scale.symbols, "history": scale.history_positions, "open": scale.open,
        "pending": scale.pending, "positions": scale.positions, "orders": scale.orders,
        "first_day": first_day, "last_day": last_day, "today": today, "as_of": as_of,
        "per": per, "extra": extra, "planted": PLANTED_PENDING,
    }
    seconds: dict[str, float] = {}
    # The history first, then the open book and pending orders: rows land in the order a
    # desk writes them, the newest at the end of the tables.
    with _loading(url) as conn:
        conn.execute(DAYS, params)
        row = conn.execute("SELECT count(*) FROM bench_days").fetchone()
        params["days"] = int(row[0]) if row else 0
        _steps(conn, params, seconds, (
            ("securities", SECURITIES, {}),
            ("cycles", CYCLES, {}),
            ("history positions", HISTORY_POSITIONS, {}),
        ))
        conn.commit()
        conn.execute("ANALYZE positions")
    # The history's orders, the bulk of the rows, in position ranges loaded side by side.
    started = time.perf_counter()
    bounds = [scale.history_positions * part // workers for part in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        done = [
            pool.submit(_history_orders, url, {**params, "low": low + 1, "high": high})
            for low, high in pairwise(bounds) if high > low
        ]
        for future in done:
            future.result()
    seconds["history orders"] = time.perf_counter() - started
    with _loading(url) as conn:
        _steps(conn, params, seconds, (
            ("open positions", OPEN_POSITIONS, {}),
            ("open-book orders", OPEN_ORDERS, {"first_id": scale.history_orders + 1}),
            ("pending orders", PENDING_ORDERS,
             {"first_id": scale.history_orders + scale.open_book_orders + 1}),
            ("sequences", SEQUENCES, {}),
        ))
    with db.connect(url, read_only=False) as conn:
        got = conn.execute("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM positions)")
        counts = got.fetchone()
    if counts != (scale.orders, scale.positions):
        raise RuntimeError(f"generated {counts} orders and positions, expected "
                           f"{(scale.orders, scale.positions)}")
    return seconds


def _steps(
    conn: psycopg.Connection, params: dict[str, object], seconds: dict[str, float],
    steps: tuple[tuple[str, str, dict[str, object]], ...],
) -> None:
    """Run named statements in order, noting each one's seconds."""
    for name, statement, more in steps:
        started = time.perf_counter()
        conn.execute(statement, {**params, **more})
        seconds[name] = time.perf_counter() - started


def _history_orders(url: str, params: dict[str, object]) -> None:
    with _loading(url) as conn:
        conn.execute(HISTORY_ORDERS, params)
        conn.commit()


def build(server_url: str, name: str, scale: Scale, as_of: datetime) -> Built:
    """Create database name on the server, migrate, load the desk, add the check indexes, analyze."""
    seconds: dict[str, float] = {}
    with db.connect(server_url, read_only=False) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = conninfo.make_conninfo(server_url, dbname=name)
    started = time.perf_counter()
    migrate.apply(url, target=BEFORE_INDEXES)
    seconds["migrate to " + BEFORE_INDEXES] = time.perf_counter() - started
    seconds.update(load(url, scale, as_of))
    started = time.perf_counter()
    applied = migrate.apply(url)
    seconds["migrate " + ", ".join(applied)] = time.perf_counter() - started
    started = time.perf_counter()
    with db.connect(url, read_only=False) as conn:
        conn.execute("VACUUM (ANALYZE)")
    seconds["vacuum analyze"] = time.perf_counter() - started
    return Built(url, seconds)


def drop(server_url: str, name: str) -> None:
    """Drop a generated database, whoever is still connected."""
    with db.connect(server_url, read_only=False) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
