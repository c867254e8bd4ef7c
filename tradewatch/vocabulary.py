"""The values the Catalyst data uses: order statuses, sides, purposes."""

from __future__ import annotations

# Alpaca's order statuses, as the broker and alpaca-py's OrderStatus spell them.
ALPACA_STATUSES = frozenset({
    "new", "partially_filled", "filled", "done_for_day", "canceled", "expired", "replaced",
    "pending_cancel", "pending_replace", "pending_review", "accepted", "pending_new",
    "accepted_for_bidding", "stopped", "rejected", "suspended", "calculated", "held",
})
# Statuses the trading system writes itself.
INTERNAL_STATUSES = frozenset({
    "created", "submitted", "partial_fill", "cancelled", "error", "not_found",
})
KNOWN_STATUSES = ALPACA_STATUSES | INTERNAL_STATUSES

# Waiting for the broker to act: an order in one of these for long is stuck.
PENDING_STATUSES = ("created", "submitted", "pending_new", "accepted", "new")
# Nothing more will happen to an order in one of these.
TERMINAL_STATUSES = frozenset({
    "filled", "canceled", "cancelled", "expired", "rejected", "replaced", "done_for_day",
    "stopped", "suspended", "error", "not_found",
})
# The same status, spelled the trading system's way or the broker's.
_SPELLINGS = {"cancelled": "canceled", "partial_fill": "partially_filled"}

POSITION_SIDES = ("long", "short")
ORDER_PURPOSES = ("entry", "exit", "stop_loss", "take_profit")
# A position in one of these still holds shares.
LIVE_POSITION_STATUSES = ("open", "partial", "risk_reduced")
# A cycle in one of these should be updating.
RUNNING_CYCLE_STATUSES = ("active", "paused")


def normalize_status(status: str) -> str:
    """One spelling per status, so cancelled and canceled compare equal."""
    lowered = status.strip().lower()
    return _SPELLINGS.get(lowered, lowered)


def expected_side(position_side: str, purpose: str) -> str:
    """The order side that opens (entry) or closes (anything else) a position."""
    opening = "buy" if position_side == "long" else "sell"
    closing = "sell" if position_side == "long" else "buy"
    return opening if purpose == "entry" else closing
