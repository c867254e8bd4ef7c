"""The broker side of the benchmark: a local Alpaca-shaped server holding what the database says."""

from __future__ import annotations

import importlib.util
import time
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradewatch import db, market_hours, vocabulary
from tradewatch.schema_map.profiles import CATALYST_2025_12

if TYPE_CHECKING:
    from tests.alpaca_server import AlpacaServer

API_KEY = "bench-key"
SECRET_KEY = "bench-secret"  # a local test server's made-up key
# What the broker reconciliation is made of; the benchmark skips the broker without any of them.
REQUIRED_MODULES = ("tradewatch.broker", "tradewatch.reconcile", "tests.alpaca_server")

# Every order the snapshot could list or ask for: those still open and those submitted or ended
# inside the window, each with the bracket it belongs to (parent and legs).
BROKER_BOOK = """
WITH wanted AS (
    SELECT DISTINCT coalesce(parent_order_id, order_id) AS top
    FROM orders
    WHERE alpaca_order_id IS NOT NULL
      AND (GREATEST(submitted_at, filled_at, cancelled_at, updated_at) >= %(since)s
           OR NOT status = ANY(%(terminal)s))
)
SELECT o.order_id, o.parent_order_id, o.alpaca_order_id, s.symbol, o.side, o.status,
       o.order_type, o.order_class, o.quantity, o.filled_qty, o.filled_avg_price,
       o.limit_price, o.stop_price, o.submitted_at, o.filled_at, o.cancelled_at
FROM orders o
JOIN wanted ON wanted.top = coalesce(o.parent_order_id, o.order_id)
JOIN securities s ON s.security_id = o.security_id
WHERE o.alpaca_order_id IS NOT NULL
ORDER BY o.order_id
"""

LIVE_POSITIONS = """
SELECT s.symbol, p.side, p.quantity
FROM positions p JOIN securities s ON s.security_id = p.security_id
WHERE p.status = ANY(%(live)s)
"""

# The December layout's spellings of the statuses nothing more happens to (canceled and cancelled).
TERMINAL_STORED = CATALYST_2025_12.vocabulary.stored("orders.status", vocabulary.TERMINAL_STATUSES)

OPEN_ORDERS = """
SELECT count(*) FROM orders
WHERE alpaca_order_id IS NOT NULL AND NOT status = ANY(%(terminal)s)
"""

# The orders the old watchdog looks up one request each (seed guide, check_order_sync),
# with its NOW() read as as-of.
SEED_WATCHDOG_ORDERS = """
SELECT o.alpaca_order_id
FROM orders o
JOIN securities s ON o.security_id = s.security_id
WHERE o.alpaca_order_id IS NOT NULL
  AND o.status NOT IN ('filled', 'cancelled', 'rejected', 'expired')
  AND o.submitted_at > %(as_of)s - INTERVAL '24 hours'
ORDER BY o.order_id
"""


def missing_modules() -> list[str]:
    """The broker modules not (yet) in this checkout."""
    missing = []
    for name in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def _broker_status(status: str) -> str:
    """The broker's word for a database status; a mangled one is whatever the broker said."""
    normalized = vocabulary.normalize_status(status)
    return normalized if normalized in vocabulary.ORDER_STATUSES else "new"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def start_server(url: str, as_of: datetime) -> tuple[AlpacaServer, dict[str, int]]:
    """A local broker holding the database's live positions, its open or recent orders, and the
    fills of every order filled since the previous session opened (the run's window)."""
    from tests.alpaca_server import AlpacaServer, fill, order, position

    terminal = TERMINAL_STORED
    since = market_hours.previous_session_open(as_of)
    with db.connect(url, read_only=True) as conn:
        held: dict[str, Decimal] = defaultdict(Decimal)
        for symbol, side, qty in conn.execute(
            LIVE_POSITIONS, {"live": list(vocabulary.LIVE_POSITION_STATUSES)}
        ):
            held[symbol] += -qty if side == "short" else qty
        rows = conn.execute(BROKER_BOOK, {"since": since, "terminal": terminal}).fetchall()
    legs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    tops: list[tuple[int, dict[str, Any]]] = []
    fills = []
    for (order_id, parent_id, alpaca_id, symbol, side, status, order_type, order_class, qty,
         filled_qty, filled_avg, limit_price, stop_price, submitted_at, filled_at,
         cancelled_at) in rows:
        if filled_at is not None and filled_at >= since and filled_qty:
            fills.append(fill(alpaca_id, symbol, side, str(filled_qty), str(filled_avg), filled_at))
        entry = order(
            alpaca_id, symbol, side, _broker_status(status), str(qty), submitted_at,
            order_type=order_type, order_class=order_class, filled_qty=str(filled_qty),
            filled_avg_price=_text(filled_avg), filled_at=filled_at, canceled_at=cancelled_at,
            limit_price=_text(limit_price), stop_price=_text(stop_price),
        )
        if parent_id is None:
            tops.append((order_id, entry))
        else:
            legs[parent_id].append(entry)
    orders = []
    for order_id, entry in tops:
        if legs.get(order_id):
            entry["legs"] = legs[order_id]
        orders.append(entry)
    positions = [position(symbol, str(qty)) for symbol, qty in sorted(held.items()) if qty]
    server = AlpacaServer(positions=positions, orders=orders, fills=fills, api_key=API_KEY,
                          secret_key=SECRET_KEY).start()
    return server, {"positions": len(positions), "orders": len(rows), "top_level": len(orders),
                    "fills": len(fills)}


def environment(server: AlpacaServer) -> dict[str, str]:
    """The variables that send a run's broker checks, live, to the local server."""
    return {"ALPACA_BASE_URL": server.url, "ALPACA_API_KEY": API_KEY,
            "ALPACA_SECRET_KEY": SECRET_KEY, "ALPACA_PAPER": "true"}


@dataclass(frozen=True)
class Latency:
    """The snapshot against the one-request-per-order approach, with a delay on every request."""

    open_orders: int
    snapshot_requests: int
    snapshot_seconds: float
    seed_lookups: int
    sampled: int
    sampled_seconds: float

    @property
    def seed_seconds(self) -> float:
        """The one-request-per-order approach's time, from the sampled look-ups."""
        return self.sampled_seconds / self.sampled * self.seed_lookups if self.sampled else 0.0


def open_order_count(url: str) -> int:
    """Orders with a broker id and a status that is not terminal: the open book at the broker."""
    with db.connect(url, read_only=True) as conn:
        row = conn.execute(OPEN_ORDERS, {"terminal": TERMINAL_STORED}).fetchone()
    return int(row[0]) if row else 0


def compare_with_latency(
    server: AlpacaServer, url: str, as_of: str, delay_s: float, sample: int
) -> Latency:
    """Time the run's snapshot and a sample of per-order look-ups, each request delayed by delay_s."""
    from alpaca.common.exceptions import APIError

    from bench.floor import started_run
    from tradewatch.broker import BrokerClient, take_snapshot

    with started_run(url, as_of, environment(server)) as run:
        watched = run.watched
        client = BrokerClient(watched.settings)
        with db.connect(url, read_only=True) as conn:
            seed_ids = [row[0] for row in conn.execute(SEED_WATCHDOG_ORDERS, {"as_of": watched.as_of})]
        db_ids = [row["alpaca_order_id"] for row in run.wanted("orders", "open_at_broker")]
        db_statuses = run.db_statuses()
        server.fail("slow", times=10**9, delay_s=delay_s)
        try:
            before = server.count()
            started = time.perf_counter()
            since = run.ctx.broker_since
            take_snapshot(client, watched.as_of, db_statuses, account=True, fills_since=since)
            snapshot_seconds = time.perf_counter() - started
            requests = server.count() - before
            sampled = seed_ids[:sample]
            started = time.perf_counter()
            for alpaca_id in sampled:
                with suppress(APIError):  # a 404 costs the request all the same
                    client.get_order_by_id(alpaca_id)
            sampled_seconds = time.perf_counter() - started
        finally:
            server.faults.clear()
    return Latency(len(db_ids), requests, snapshot_seconds, len(seed_ids), len(sampled),
                   sampled_seconds)
