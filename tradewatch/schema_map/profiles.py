"""A profile per layout of the Catalyst database: its table and column names, vocabulary and market."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tradewatch import vocabulary as v
from tradewatch.schema_map.model import FIELD_NAMES
from tradewatch.vocabulary import Vocabulary, spelled

AUTO = "auto"


@dataclass(frozen=True)
class Market:
    """The exchange calendar of the time-based checks and the zone of the trading day."""

    calendar: str
    zone: str


@dataclass(frozen=True)
class Profile:
    """One layout: every logical field's table or column (None: the layout has none)."""

    name: str
    about: str
    names: Mapping[str, str | None]
    vocabulary: Vocabulary
    market: Market
    # The broker its orders go to: the Alpaca reconciliation applies only to 'alpaca'.
    broker: str
    # Whether tradewatch's migrations (Phase 1 and 2) are this layout's own history.
    migrated: bool

    def __post_init__(self) -> None:
        missing = FIELD_NAMES - set(self.names)
        unknown = set(self.names) - FIELD_NAMES
        if missing or unknown:
            raise ValueError(f"profile {self.name}: missing {sorted(missing)}, unknown {sorted(unknown)}")


NEW_YORK = Market("XNYS", "America/New_York")
HONG_KONG = Market("XHKG", "Asia/Hong_Kong")

_SECURITIES = {"securities.table": "securities", "securities.id": "security_id",
               "securities.symbol": "symbol"}
_POSITIONS = {
    "positions.table": "positions", "positions.id": "position_id", "positions.cycle": "cycle_id",
    "positions.security": "security_id", "positions.symbol": "symbol", "positions.side": "side",
    "positions.quantity": "quantity", "positions.status": "status",
    "positions.entry_price": "entry_price", "positions.unrealized_pnl": "unrealized_pnl",
    "positions.realized_pnl": "realized_pnl", "positions.broker_id": "broker_order_id",
    "positions.opened_at": "opened_at", "positions.closed_at": "closed_at",
    "positions.close_reason": "close_reason", "positions.updated_at": "updated_at",
}
_ORDERS = {
    "orders.table": "orders", "orders.id": "order_id", "orders.position": "position_id",
    "orders.security": "security_id", "orders.symbol": "symbol", "orders.cycle": "cycle_id",
    "orders.parent": "parent_order_id", "orders.side": "side", "orders.purpose": "order_purpose",
    "orders.status": "status", "orders.broker_id": "broker_order_id", "orders.client_id": None,
    "orders.order_type": "order_type", "orders.quantity": "quantity",
    "orders.filled_qty": "filled_quantity", "orders.filled_price": "filled_price",
    "orders.created_at": "created_at", "orders.submitted_at": "submitted_at",
    "orders.updated_at": "updated_at", "orders.filled_at": "filled_at",
    "orders.cancelled_at": "cancelled_at", "orders.expired_at": None,
}
_NO_ORDERS = dict.fromkeys(_ORDERS)
_CYCLES = {
    "cycles.table": "trading_cycles", "cycles.id": "cycle_id", "cycles.status": "status",
    "cycles.started_at": "started_at", "cycles.ended_at": "ended_at", "cycles.heartbeat": None,
    "cycles.date": None,
}

# DESIGN.md's generation A, the layout tradewatch's migrations create and complete.
CATALYST_2025_12 = Profile(
    "catalyst-2025-12",
    "December 2025 (generation A): security_id links, alpaca_order_id, a cycle heartbeat",
    {
        **_SECURITIES,
        **_POSITIONS, "positions.symbol": None, "positions.broker_id": None,
        **_ORDERS, "orders.symbol": None, "orders.broker_id": "alpaca_order_id",
        "orders.client_id": "alpaca_client_order_id", "orders.filled_qty": "filled_qty",
        "orders.filled_price": "filled_avg_price", "orders.expired_at": "expired_at",
        **_CYCLES, "cycles.ended_at": "stopped_at", "cycles.heartbeat": "updated_at",
    },
    Vocabulary({
        "orders.status": spelled((*v.ALPACA_STATUSES, "created", "submitted", "error", "not_found"),
                                 cancelled="canceled", partial_fill="partially_filled"),
        "orders.side": spelled(v.ORDER_SIDES),
        "orders.purpose": spelled(("entry", "exit", "stop_loss", "take_profit")),
        "positions.side": spelled(v.POSITION_SIDES),
        "positions.status": spelled(("open", "closed", "partial", "risk_reduced")),
        "cycles.status": spelled(("active", "paused", "stopped", "completed", "failed")),
    }),
    NEW_YORK, broker="alpaca", migrated=True,
)

# Generation C: symbols on the rows, broker_order_id, no purpose, no parent, no cycle heartbeat.
CATALYST_2026_02 = Profile(
    "catalyst-2026-02",
    "February 2026 (generation C): symbols on the rows, broker_order_id, no order purpose",
    {
        **_SECURITIES, **_POSITIONS, "positions.cycle": None,
        **_ORDERS, "orders.cycle": None, "orders.parent": None, "orders.purpose": None,
        **_CYCLES, "cycles.ended_at": "completed_at",
    },
    Vocabulary({
        "orders.status": spelled(("pending", "submitted", "filled", "rejected", "error"),
                                 partial="partially_filled", cancelled="canceled"),
        "orders.side": spelled(v.ORDER_SIDES),
        "positions.side": spelled(v.POSITION_SIDES),
        "positions.status": spelled(("open", "closed", "error")),
        "cycles.status": spelled(("running", "completed", "failed", "suspended")),
    }),
    NEW_YORK, broker="alpaca", migrated=False,
)

# Generation D, the last layout the desk ran: purposes with scale_in/scale_out, dated cycles.
CATALYST_2026_04 = Profile(
    "catalyst-2026-04",
    "April 2026 (generation D): symbols on the rows, broker_order_id, scale_in/scale_out, dated cycles",
    {**_SECURITIES, **_POSITIONS, "positions.close_reason": "exit_reason", **_ORDERS, **_CYCLES,
     "cycles.date": "date"},
    Vocabulary({
        "orders.status": spelled(("pending", "submitted", "accepted", "new", "filled",
                                  "partially_filled", "rejected", "expired"),
                                 cancelled="canceled"),
        "orders.side": spelled(v.ORDER_SIDES),
        "orders.purpose": spelled(v.ORDER_PURPOSES),
        "positions.side": spelled(v.POSITION_SIDES),
        "positions.status": spelled(("pending", "open", "closed", "cancelled")),
        "cycles.status": spelled(("active", "completed", "failed")),
    }),
    NEW_YORK, broker="alpaca", migrated=False,
)

# The Hong Kong desk: no orders table, buy/sell positions, serial cycle ids, another broker.
CATALYST_INTERNATIONAL = Profile(
    "catalyst-international",
    "the Hong Kong desk: no orders table, positions sided buy/sell, HKEX hours",
    {
        **_SECURITIES, **_POSITIONS, "positions.broker_id": None,
        **_NO_ORDERS,
        **_CYCLES, "cycles.ended_at": "completed_at", "cycles.heartbeat": "updated_at",
    },
    Vocabulary({
        "positions.side": {"buy": "long", "sell": "short"},
        "positions.status": spelled(("open", "closed", "error")),
        "cycles.status": spelled(("running", "completed", "failed", "suspended")),
    }),
    HONG_KONG, broker="moomoo", migrated=False,
)

PROFILES: Mapping[str, Profile] = {
    profile.name: profile
    for profile in (CATALYST_2025_12, CATALYST_2026_02, CATALYST_2026_04, CATALYST_INTERNATIONAL)
}
