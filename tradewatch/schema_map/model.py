"""The logical model: every table and column a rule may read, under its logical name."""

from __future__ import annotations

from dataclasses import dataclass

ENTITIES = ("securities", "positions", "orders", "cycles")
# The kinds of value a field's column may be made to hold, as a person names them.
KINDS = {"number": "a number", "time": "a timestamp", "date": "a date"}


@dataclass(frozen=True)
class Field:
    """One logical table or column ('orders.broker_id'), and what it holds."""

    name: str
    about: str
    # A required table the layout declares but the database lacks stops the rules reading it (an
    # error), as any declared column missing does; another missing table only makes them not apply.
    required: bool = False
    # What its column must hold for the rules' SQL to compare it: "number", "time", "date", or a
    # field whose column it is compared with ("positions.id"); None where any type will do.
    holds: str | None = None

    @property
    def type_about(self) -> str:
        """What type its column must have, in words ('' when any will do)."""
        if self.holds is None:
            return ""
        return KINDS.get(self.holds) or f"of the type family of `{self.holds}`"

    @property
    def entity(self) -> str:
        """The logical table it belongs to."""
        return self.name.partition(".")[0]

    @property
    def is_table(self) -> bool:
        """Whether it names a table rather than a column."""
        return self.name.endswith(".table")


FIELDS: tuple[Field, ...] = (
    Field("securities.table", "traded instruments, where orders and positions find a symbol"),
    Field("securities.id", "a security's key"),
    Field("securities.symbol", "the ticker"),
    Field("positions.table", "positions", required=True),
    Field("positions.id", "a position's key", required=True),
    Field("positions.cycle", "the trading cycle that opened it"),
    Field("positions.security", "its security's key"),
    Field("positions.symbol", "its ticker, where positions carry one"),
    Field("positions.side", "long or short (the layout's spelling)"),
    Field("positions.quantity", "shares held", holds="number"),
    Field("positions.status", "open, closed, ... (the layout's spelling)"),
    Field("positions.entry_price", "average entry price", holds="number"),
    Field("positions.unrealized_pnl", "unrealized profit and loss", holds="number"),
    Field("positions.realized_pnl", "realized profit and loss", holds="number"),
    Field("positions.broker_id", "the broker id of the order that opened it"),
    Field("positions.opened_at", "when it opened", holds="time"),
    Field("positions.closed_at", "when it closed", holds="time"),
    Field("positions.close_reason", "why it closed"),
    Field("positions.updated_at", "when its P&L was last refreshed", holds="time"),
    Field("orders.table", "orders", required=True),
    Field("orders.id", "an order's key", required=True),
    Field("orders.position", "the position it belongs to", holds="positions.id"),
    Field("orders.security", "its security's key"),
    Field("orders.symbol", "its ticker, where orders carry one"),
    Field("orders.cycle", "the trading cycle that sent it"),
    Field("orders.parent", "the order a bracket leg belongs to", holds="orders.id"),
    Field("orders.side", "buy or sell (the layout's spelling)"),
    Field("orders.purpose", "entry, exit, stop_loss, ... (the layout's spelling)"),
    Field("orders.status", "the order's status (the layout's spelling)"),
    Field("orders.broker_id", "the broker's order id"),
    Field("orders.client_id", "the client order id sent to the broker"),
    Field("orders.order_type", "market, limit, stop, ..."),
    Field("orders.quantity", "shares ordered", holds="number"),
    Field("orders.filled_qty", "shares filled", holds="number"),
    Field("orders.filled_price", "average fill price", holds="number"),
    Field("orders.created_at", "when it was written", holds="time"),
    Field("orders.submitted_at", "when it was sent to the broker", holds="time"),
    Field("orders.updated_at", "when it was last changed", holds="time"),
    Field("orders.filled_at", "when it filled", holds="time"),
    Field("orders.cancelled_at", "when it was cancelled", holds="time"),
    Field("orders.expired_at", "when it expired", holds="time"),
    Field("cycles.table", "trading cycles", required=True),
    Field("cycles.id", "a cycle's key (what positions and orders refer to)", required=True),
    Field("cycles.status", "active, running, completed, ... (the layout's spelling)"),
    Field("cycles.started_at", "when it started", holds="time"),
    Field("cycles.ended_at", "when it ended", holds="time"),
    Field("cycles.heartbeat", "when it last reported it is alive", holds="time"),
    Field("cycles.date", "its trading date, where cycles carry one", holds="date"),
)
FIELD_NAMES = frozenset(field.name for field in FIELDS)
BY_NAME = {field.name: field for field in FIELDS}
