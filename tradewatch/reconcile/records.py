"""The database's side of a reconciliation, as plain records the rules compare with the broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradewatch import vocabulary
from tradewatch.broker import fold_id


@dataclass(frozen=True)
class DbPosition:
    """A live position as the database records it."""

    position_id: int
    symbol: str
    side: str
    quantity: Decimal
    status: str
    entry_price: Decimal | None = None

    @property
    def signed(self) -> Decimal:
        """Quantity with the side as its sign."""
        return -self.quantity if self.side == "short" else self.quantity


@dataclass(frozen=True)
class DbOrder:
    """An order the database says the broker has (or had), with what it recorded of its fills."""

    order_id: int
    position_id: int | None
    alpaca_order_id: str
    symbol: str
    status: str
    filled_qty: Decimal | None = None
    filled_avg_price: Decimal | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    client_order_id: str | None = None
    # What the status means in the layout's vocabulary ('partial' is partially_filled), when known.
    meaning: str | None = None

    @property
    def broker_id(self) -> str:
        """The broker id as the snapshot keys it: case and spaces aside."""
        return fold_id(self.alpaca_order_id)

    @property
    def normalized_status(self) -> str:
        """The status in one spelling (cancelled is canceled): its meaning in the layout, when known."""
        return self.meaning or vocabulary.normalize_status(self.status)

    @property
    def keys(self) -> dict[str, Any]:
        """The entity keys of a finding about this order."""
        return {"order_id": self.order_id, "position_id": self.position_id,
                "alpaca_order_id": self.alpaca_order_id, "symbol": self.symbol}
