"""A small desk on which the broker and the database agree: orders with partial fills, the account,
and the database's records of them, for the reconciliation rules' self-tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.alpaca_server import AlpacaServer, account, fill, new_york, order, position
from tradewatch import demo, settings
from tradewatch.broker import BrokerClient, BrokerSnapshot, take_snapshot
from tradewatch.market_hours import previous_session_open
from tradewatch.reconcile.records import DbOrder, DbPosition

AS_OF = demo.DEMO_AS_OF  # 2025-12-31 11:00 New York
FILLS_SINCE = previous_session_open(AS_OF)  # 2025-12-30 09:30 New York


def oid(number: int) -> str:
    """A broker order id of this desk."""
    return f"d1000000-0000-4000-8000-{number:012d}"


def make_settings(**changes: Any) -> settings.Settings:
    """The default settings with some changed, as a run would resolve them."""
    defaults = {spec.ini: spec.default or "" for spec in settings.SPECS if spec.ini}
    return dataclasses.replace(settings.resolve({}, {}, defaults), **changes)


def client_for(server: AlpacaServer, **changes: Any) -> BrokerClient:
    """A client of the local server, with the server's keys and quick retries."""
    return BrokerClient(make_settings(
        alpaca_base_url=server.url, alpaca_api_key=server.api_key,
        alpaca_secret_key=server.secret_key, broker_retry_wait_s=0.01, **changes,
    ))


def statuses(orders: Iterable[DbOrder | str] = ()) -> list[tuple[str, str]]:
    """What the database says of these orders, as a run hands it to the snapshot: (broker id,
    status) of each record, and a bare broker id is an open order."""
    return [_status(order) for order in orders]


def _status(order: DbOrder | str) -> tuple[str, str]:
    return (order, "new") if isinstance(order, str) else (order.alpaca_order_id, order.normalized_status)


def deep_snapshot(
    server: AlpacaServer, orders: Iterable[DbOrder | str] | None = None, **options: Any
) -> BrokerSnapshot:
    """The snapshot with the account and the fills since the previous session's open, given the
    database's orders (records, or the broker ids of open ones; db_orders() when None)."""
    told = statuses(db_orders() if orders is None else orders)
    return take_snapshot(client_for(server), AS_OF, told, account=True, fills_since=FILLS_SINCE, **options)


def desk() -> AlpacaServer:
    """The broker's side: AAPL bought in two partial fills, TSLA shorted, an open MSFT buy, a
    cancelled MSFT buy, and an NVDA buy that filled partly before the fills window."""
    return AlpacaServer(
        account=account(equity="100000", last_equity="101000", cash="90000", buying_power="180000"),
        positions=[position("AAPL", "100", price="250.2"), position("TSLA", "-30", price="450")],
        orders=[
            order(oid(1), "AAPL", "buy", "filled", "100", new_york("2025-12-31T09:40"),
                  filled_avg_price="250.2", filled_at=new_york("2025-12-31T09:41")),
            order(oid(2), "TSLA", "sell", "filled", "30", new_york("2025-12-31T09:55"),
                  filled_avg_price="450", filled_at=new_york("2025-12-31T09:55:01")),
            order(oid(3), "MSFT", "buy", "accepted", "10", new_york("2025-12-31T10:50"), order_type="limit",
                  limit_price="400"),
            order(oid(4), "MSFT", "buy", "canceled", "40", new_york("2025-12-30T12:00"), order_type="limit",
                  limit_price="390", canceled_at=new_york("2025-12-30T15:00")),
            order(oid(5), "NVDA", "buy", "filled", "20", new_york("2025-12-29T15:50"),
                  filled_avg_price="190.5", filled_at=new_york("2025-12-30T09:35")),
            order(oid(6), "NVDA", "sell", "filled", "20", new_york("2025-12-30T14:00"),
                  filled_avg_price="195", filled_at=new_york("2025-12-30T14:00:02")),
        ],
        fills=[
            fill(oid(1), "AAPL", "buy", "60", "250", new_york("2025-12-31T09:40:30"),
                 kind="partial_fill", cum_qty="60", leaves_qty="40"),
            fill(oid(1), "AAPL", "buy", "40", "250.5", new_york("2025-12-31T09:41"), cum_qty="100",
                 sequence=1),
            fill(oid(2), "TSLA", "sell", "30", "450", new_york("2025-12-31T09:55:01")),
            # The first half filled before the window opened: the database's 20 is right.
            fill(oid(5), "NVDA", "buy", "10", "191", new_york("2025-12-30T09:35"), cum_qty="20", sequence=1),
            fill(oid(6), "NVDA", "sell", "20", "195", new_york("2025-12-30T14:00:02")),
        ],
    )


def db_orders() -> list[DbOrder]:
    """The database's side of desk()'s orders, all agreeing."""
    def row(number: int, symbol: str, status: str, filled: str, price: str | None,
            submitted: datetime) -> DbOrder:
        return DbOrder(number, number, oid(number), symbol, status, Decimal(filled),
                       Decimal(price) if price else None, submitted, submitted + timedelta(minutes=1),
                       f"client-{number}")

    return [
        row(1, "AAPL", "filled", "100", "250.2", new_york("2025-12-31T09:40")),
        row(2, "TSLA", "filled", "30", "450", new_york("2025-12-31T09:55")),
        row(3, "MSFT", "accepted", "0", None, new_york("2025-12-31T10:50")),
        row(4, "MSFT", "cancelled", "0", None, new_york("2025-12-30T12:00")),
        row(5, "NVDA", "filled", "20", "190.5", new_york("2025-12-29T15:50")),
        row(6, "NVDA", "filled", "20", "195", new_york("2025-12-30T14:00")),
    ]


def db_positions() -> list[DbPosition]:
    """The database's live positions of desk(), agreeing with the broker's."""
    return [DbPosition(1, "AAPL", "long", Decimal(100), "open", Decimal("250.2")),
            DbPosition(2, "TSLA", "short", Decimal(30), "open", Decimal(450))]
