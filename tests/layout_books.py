"""The broker's side of each Alpaca layout's clean desk (fixtures/layouts/PROFILE/clean.sql), served by
tests/alpaca_server.py: everything agrees, the fills of the window included."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from tests.alpaca_server import AlpacaServer, fill, order, position


def broker_id(letter: str, number: int) -> str:
    """A clean seed's broker order id: the layout's letter (c, d), the order's number."""
    return f"{letter}0000000-0000-4000-8000-{number:012d}"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _filled(order_id: str, symbol: str, side: str, qty: str, price: str, when: str, *,
            order_type: str = "market", order_class: str = "simple",
            legs: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """An order the broker filled whole at one price, at the moment it was submitted."""
    return order(order_id, symbol, side, "filled", qty, _at(when), filled_avg_price=price,
                 filled_at=_at(when), order_type=order_type, order_class=order_class, legs=legs)


def book_2026_04() -> AlpacaServer:
    """catalyst-2026-04's desk at 2026-04-15 11:00 New York: NVDA long 30, TSLA short 30."""
    def d(number: int) -> str:
        return broker_id("d", number)

    legs = [order(d(2), "NVDA", "sell", "held", "20", _at("2026-04-15T09:40-04:00"), order_type="stop",
                  stop_price="172", order_class="bracket"),
            order(d(3), "NVDA", "sell", "new", "20", _at("2026-04-15T09:40-04:00"), order_type="limit",
                  limit_price="195", order_class="bracket")]
    return AlpacaServer(
        positions=[position("NVDA", "30", price="180.5"), position("TSLA", "-30", price="250")],
        orders=[
            _filled(d(1), "NVDA", "buy", "20", "180", "2026-04-15T09:40-04:00", order_class="bracket",
                    legs=legs),
            _filled(d(4), "NVDA", "buy", "10", "181.5", "2026-04-15T10:15-04:00", order_type="limit"),
            _filled(d(5), "TSLA", "sell", "40", "250", "2026-04-15T09:50-04:00"),
            _filled(d(6), "TSLA", "buy", "10", "248", "2026-04-15T10:20-04:00", order_type="limit"),
            order(d(7), "TSLA", "buy", "new", "30", _at("2026-04-15T10:21-04:00"), order_type="stop",
                  stop_price="262"),
            order(d(8), "TSLA", "buy", "new", "30", _at("2026-04-15T10:21-04:00"), order_type="limit",
                  limit_price="235"),
            order(d(9), "NVDA", "sell", "canceled", "30", _at("2026-04-15T10:30-04:00"), order_type="limit",
                  limit_price="190", canceled_at=_at("2026-04-15T10:45-04:00")),
            order(d(10), "AMZN", "buy", "accepted", "5", _at("2026-04-15T10:58-04:00"), order_type="limit",
                  limit_price="185"),
            order(d(17), "GME", "buy", "rejected", "5", _at("2026-04-15T10:05-04:00")),
            _filled(d(11), "AMD", "buy", "50", "160", "2026-04-14T10:00-04:00"),
            _filled(d(12), "AMD", "sell", "20", "162", "2026-04-14T12:00-04:00", order_type="limit"),
            _filled(d(13), "AMD", "sell", "30", "163", "2026-04-14T15:00-04:00"),
            _filled(d(14), "META", "sell", "6", "600", "2026-04-14T11:00-04:00"),
            _filled(d(15), "META", "sell", "4", "600", "2026-04-14T11:30-04:00", order_type="limit"),
            _filled(d(16), "META", "buy", "10", "590", "2026-04-14T14:00-04:00"),
        ],
        fills=[
            fill(d(1), "NVDA", "buy", "20", "180", _at("2026-04-15T09:40-04:00")),
            fill(d(4), "NVDA", "buy", "10", "181.5", _at("2026-04-15T10:15-04:00")),
            fill(d(5), "TSLA", "sell", "40", "250", _at("2026-04-15T09:50-04:00")),
            fill(d(6), "TSLA", "buy", "10", "248", _at("2026-04-15T10:20-04:00")),
            fill(d(11), "AMD", "buy", "50", "160", _at("2026-04-14T10:00-04:00")),
            fill(d(12), "AMD", "sell", "20", "162", _at("2026-04-14T12:00-04:00")),
            fill(d(13), "AMD", "sell", "30", "163", _at("2026-04-14T15:00-04:00")),
            fill(d(14), "META", "sell", "6", "600", _at("2026-04-14T11:00-04:00")),
            fill(d(15), "META", "sell", "4", "600", _at("2026-04-14T11:30-04:00")),
            fill(d(16), "META", "buy", "10", "590", _at("2026-04-14T14:00-04:00")),
        ],
    )


def book_2026_02() -> AlpacaServer:
    """catalyst-2026-02's desk at 2026-02-10 11:00 New York: AAPL long 10 with its stop, TSLA short 20."""
    def c(number: int) -> str:
        return broker_id("c", number)

    return AlpacaServer(
        positions=[position("AAPL", "10", price="230"), position("TSLA", "-20", price="400")],
        orders=[
            _filled(c(1), "AAPL", "buy", "10", "230", "2026-02-10T09:35-05:00"),
            order(c(2), "AAPL", "sell", "new", "10", _at("2026-02-10T09:36-05:00"), order_type="stop",
                  stop_price="222"),
            _filled(c(3), "TSLA", "sell", "20", "400", "2026-02-10T09:50-05:00"),
            order(c(4), "TSLA", "buy", "canceled", "20", _at("2026-02-10T10:00-05:00"), order_type="limit",
                  limit_price="380", canceled_at=_at("2026-02-10T10:30-05:00")),
            _filled(c(5), "MSFT", "buy", "15", "410", "2026-02-09T10:00-05:00"),
            order(c(6), "MSFT", "sell", "filled", "15", _at("2026-02-09T14:00-05:00"), order_type="limit",
                  limit_price="415", filled_avg_price="415", filled_at=_at("2026-02-09T15:00-05:00")),
            _filled(c(7), "AAPL", "sell", "5", "235", "2026-02-03T10:00-05:00"),
            _filled(c(8), "AAPL", "buy", "5", "232", "2026-02-03T14:00-05:00"),
            order(c(10), "AAPL", "buy", "rejected", "5", _at("2026-02-10T10:10-05:00"), order_type="limit",
                  limit_price="229"),
            order(c(11), "TSLA", "sell", "accepted", "5", _at("2026-02-10T10:58-05:00"), order_type="limit",
                  limit_price="402"),
        ],
        fills=[
            fill(c(1), "AAPL", "buy", "10", "230", _at("2026-02-10T09:35-05:00")),
            fill(c(3), "TSLA", "sell", "20", "400", _at("2026-02-10T09:50-05:00")),
            fill(c(5), "MSFT", "buy", "15", "410", _at("2026-02-09T10:00-05:00")),
            fill(c(6), "MSFT", "sell", "15", "415", _at("2026-02-09T15:00-05:00")),
        ],
    )


BOOKS: dict[str, Callable[[], AlpacaServer]] = {
    "catalyst-2026-02": book_2026_02,
    "catalyst-2026-04": book_2026_04,
}


# Broker settings a self-test's environment might carry into a run.
BROKER_ENV = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL", "ALPACA_PAPER",
              "TRADEWATCH_BROKER_CASSETTE", "TRADEWATCH_BROKER_TIMEOUT", "TRADEWATCH_AS_OF",
              "TRADEWATCH_PROFILE", "TRADEWATCH_REQUIRE_BROKER")
# Quick retries and a short timeout: the local server answers at once or not at all.
FAST = ("--broker-retry-wait=0.01", "--broker-timeout=2")


def no_broker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker or layout setting leaks in from the environment running the self-tests."""
    for name in BROKER_ENV:
        monkeypatch.delenv(name, raising=False)


@contextmanager
def serving(server: AlpacaServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlpacaServer]:
    """The book served locally, with the environment pointing the checks at it."""
    no_broker_env(monkeypatch)
    with server:
        monkeypatch.setenv("ALPACA_BASE_URL", server.url)
        monkeypatch.setenv("ALPACA_API_KEY", server.api_key)
        monkeypatch.setenv("ALPACA_SECRET_KEY", server.secret_key)
        yield server
