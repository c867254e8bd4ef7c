"""What each defect seed of fixtures/layouts/PROFILE/defects/ makes one check report: the December seeds'
defects, translated into each later layout (its names, its vocabulary, how its orders find positions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.layouts import Found, found, nodeid


@dataclass(frozen=True)
class Defect:
    """A seed, the one check it moves, and every finding that check then reports."""

    seed: str
    check: str  # node id under checks/
    findings: tuple[Found, ...]

    @property
    def fails(self) -> bool:
        """Whether the check fails (else it passes with INFO findings)."""
        return any(finding["severity"] != "INFO" for finding in self.findings)


def _defect(seed: str, rule: str, case: str | None, *findings: Found) -> Defect:
    return Defect(seed, nodeid(rule, case), findings)


def _order(letter: str, order_id: int, position_id: int | None, symbol: str, *, sent: bool = True,
           ) -> dict[str, Any]:
    """An order's entity keys: its id, its position as found, its broker id, its symbol."""
    broker = f"{letter}0000000-0000-4000-8000-{order_id:012d}" if sent else None
    return {"order_id": order_id, "position_id": position_id, "alpaca_order_id": broker, "symbol": symbol}


def _unknown(table: str, column: str, **keys: Any) -> Found:
    return found("UNKNOWN_VALUE", "WARNING", **keys, table=table, column=column)


# --- catalyst-2026-04: orders find their positions by reference, by parent, or by broker id -------

def _d(order_id: int, position_id: int | None, symbol: str, **options: bool) -> dict[str, Any]:
    return _order("d", order_id, position_id, symbol, **options)


# (position side, purpose): the order of clean.sql whose side the seed turns, and its keys.
_SIDES_D = {
    ("long", "entry"): _d(1, 1, "NVDA"), ("short", "entry"): _d(5, 2, "TSLA"),
    ("long", "exit"): _d(9, 1, "NVDA"), ("short", "exit"): _d(16, 4, "META"),
    ("long", "stop_loss"): _d(2, 1, "NVDA"), ("short", "stop_loss"): _d(7, 2, "TSLA"),
    ("long", "take_profit"): _d(3, 1, "NVDA"), ("short", "take_profit"): _d(8, 2, "TSLA"),
    ("long", "scale_in"): _d(4, 1, "NVDA"), ("short", "scale_in"): _d(15, 4, "META"),
    ("long", "scale_out"): _d(12, 3, "AMD"), ("short", "scale_out"): _d(6, 2, "TSLA"),
}
TODAY_D = "20260415-093000"

DEFECTS_2026_04 = (
    *(_defect(f"wrong_side_{side}_{purpose}", "order_side_matches_purpose", f"{side}-{purpose}",
              found("WRONG_ORDER_SIDE", "CRITICAL", **keys))
      for (side, purpose), keys in _SIDES_D.items()),
    _defect("purpose_unknown", "order_purpose_set", None,
            found("ORDER_PURPOSE_MISSING", "WARNING", **_d(9, 1, "NVDA"))),
    _defect("stuck_pending", "no_stuck_orders", "pending",
            found("STUCK_ORDER", "WARNING", **_d(100, None, "AMZN", sent=False))),
    _defect("stuck_submitted", "no_stuck_orders", "submitted",
            found("STUCK_ORDER", "WARNING", **_d(100, None, "AMD"))),
    _defect("stuck_accepted", "no_stuck_orders", "accepted",
            found("STUCK_ORDER", "WARNING", **_d(10, None, "AMZN"))),
    _defect("stuck_new", "no_stuck_orders", "new", found("STUCK_ORDER", "WARNING", **_d(100, 1, "NVDA"))),
    _defect("unlinked_entry", "order_linked_to_position", "no_position",
            found("UNLINKED_ORDER", "CRITICAL", **_d(100, None, "AMZN"))),
    _defect("dangling_position", "order_linked_to_position", "dangling_position",
            found("UNLINKED_ORDER", "CRITICAL", **_d(12, 999, "AMD"))),
    # The position its broker id finds is no excuse for the reference naming none.
    _defect("dangling_position_by_broker_id", "order_linked_to_position", "dangling_position",
            found("UNLINKED_ORDER", "CRITICAL", **_d(18, 5, "AAPL"))),
    _defect("status_unknown", "order_status_known", None,
            found("UNKNOWN_ORDER_STATUS", "WARNING", **_d(13, 3, "AMD"))),
    _defect("order_side_unknown", "order_side_known", None,
            _unknown("orders", "side", order_id=17, symbol="GME")),
    _defect("position_side_unknown", "position_values_known", "side",
            _unknown("positions", "side", position_id=5, symbol="AAPL")),
    _defect("position_status_unknown", "position_values_known", "status",
            _unknown("positions", "status", position_id=3, symbol="AMD")),
    _defect("stale_pnl", "position_pnl_fresh", None,
            found("STALE_POSITION_DATA", "INFO", position_id=2, symbol="TSLA", cycle_id=TODAY_D)),
    _defect("cycle_status_unknown", "cycle_status_known", None,
            _unknown("trading_cycles", "status", cycle_id="20260414-093000")),
    _defect("no_cycle_today", "cycle_for_today", None, found("NO_CYCLE", "INFO")),
)

# --- catalyst-2026-02: no purposes, no parents; orders name their position or its broker id ------


def _c(order_id: int, position_id: int | None, symbol: str, **options: bool) -> dict[str, Any]:
    return _order("c", order_id, position_id, symbol, **options)


DEFECTS_2026_02 = (
    _defect("stuck_pending", "no_stuck_orders", "pending",
            found("STUCK_ORDER", "WARNING", **_c(9, None, "MSFT", sent=False))),
    _defect("stuck_submitted", "no_stuck_orders", "submitted",
            found("STUCK_ORDER", "WARNING", **_c(11, None, "TSLA"))),
    # Without purposes a stop rests by its type; a limit order of the same age is stuck.
    _defect("stuck_submitted_limit", "no_stuck_orders", "submitted",
            found("STUCK_ORDER", "WARNING", **_c(2, 1, "AAPL"))),
    _defect("unlinked_entry", "order_linked_to_position", "no_position",
            found("UNLINKED_ORDER", "CRITICAL", **_c(100, None, "MSFT"))),
    _defect("unlinked_by_broker_id", "order_linked_to_position", "no_position",
            found("UNLINKED_ORDER", "CRITICAL", **_c(1, None, "AAPL"))),
    _defect("dangling_position", "order_linked_to_position", "dangling_position",
            found("UNLINKED_ORDER", "CRITICAL", **_c(6, 999, "MSFT"))),
    _defect("status_unknown", "order_status_known", None,
            found("UNKNOWN_ORDER_STATUS", "WARNING", **_c(4, 2, "TSLA"))),
    _defect("order_side_unknown", "order_side_known", None,
            _unknown("orders", "side", order_id=10, symbol="AAPL")),
    _defect("position_side_unknown", "position_values_known", "side",
            _unknown("positions", "side", position_id=4, symbol="AAPL")),
    _defect("position_status_unknown", "position_values_known", "status",
            _unknown("positions", "status", position_id=3, symbol="MSFT")),
    _defect("stale_pnl", "position_pnl_fresh", None,
            found("STALE_POSITION_DATA", "INFO", position_id=1, symbol="AAPL", cycle_id=None)),
    _defect("cycle_status_unknown", "cycle_status_known", None,
            _unknown("trading_cycles", "status", cycle_id="20260209-093000")),
    _defect("no_cycle_today", "cycle_for_today", None, found("NO_CYCLE", "INFO")),
)

# --- catalyst-international: positions and cycles only --------------------------------------------

DEFECTS_INTERNATIONAL = (
    _defect("stale_running_cycle", "running_cycle_fresh", "running",
            found("CYCLE_STALE", "WARNING", cycle_id="4")),
    _defect("stale_suspended_cycle", "running_cycle_fresh", "suspended",
            found("CYCLE_STALE", "WARNING", cycle_id="5")),
    _defect("position_side_unknown", "position_values_known", "side",
            _unknown("positions", "side", position_id=4, symbol="HK.00700")),
    _defect("position_status_unknown", "position_values_known", "status",
            _unknown("positions", "status", position_id=3, symbol="HK.00005")),
    _defect("stale_pnl", "position_pnl_fresh", None,
            found("STALE_POSITION_DATA", "INFO", position_id=2, symbol="HK.09988", cycle_id="4")),
    _defect("cycle_status_unknown", "cycle_status_known", None,
            _unknown("trading_cycles", "status", cycle_id="1")),
    _defect("no_cycle_today", "cycle_for_today", None, found("NO_CYCLE", "INFO")),
)

DEFECTS: dict[str, tuple[Defect, ...]] = {
    "catalyst-2026-02": DEFECTS_2026_02,
    "catalyst-2026-04": DEFECTS_2026_04,
    "catalyst-international": DEFECTS_INTERNATIONAL,
}
