"""Each broker request is bounded as a whole, and paging that never ends is an error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.alpaca_server import AlpacaServer, new_york, order
from tests.broker_book import AS_OF, client_for, deep_snapshot, desk
from tradewatch.broker import BrokerUnavailable, take_snapshot


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with desk() as running:
        yield running


def test_a_trickling_reply_is_cut_at_the_broker_timeout() -> None:
    """A byte every 0.1 s meets every per-read timeout of 1 s; the request as a whole does not."""
    with AlpacaServer() as trickling:
        trickling.fail("trickle", path="/v2/positions", delay_s=0.1)  # ~12 s for its ~120 bytes
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="did not answer within 1 s"):
            take_snapshot(client_for(trickling, broker_timeout_s=1.0), AS_OF, ())
        assert time.monotonic() - started < 6


def test_orders_paged_for_ever_stop_at_the_page_limit(server: AlpacaServer) -> None:
    """A broker sending full pages of new, ever older orders: the listing stops, as an error."""
    server.fail("endless", path="/v2/orders")
    with pytest.raises(BrokerUnavailable, match="past 3 pages of 500"):
        take_snapshot(client_for(server), AS_OF, (), order_page_limit=3)
    assert server.count("/v2/orders") == 3


def test_an_orders_page_sent_again_is_an_error(server: AlpacaServer) -> None:
    """A broker ignoring until sends its first page for ever: the second one adds nothing, and stops."""
    start = new_york("2025-12-31T09:00")
    server.orders += [order(f"e0000000-0000-4000-8000-{n:012d}", "AMD", "buy", "new", "1",
                            start + timedelta(seconds=n)) for n in range(600)]
    server.fail("stuck", path="/v2/orders")
    with pytest.raises(BrokerUnavailable, match="ignores until"):
        take_snapshot(client_for(server), AS_OF, ())
    assert server.count("/v2/orders") == 2


def test_fills_paged_for_ever_stop_at_the_page_limit(server: AlpacaServer) -> None:
    """The same for fill activities: new ids on every page, for ever."""
    server.fail("endless", path="/v2/account/activities")
    with pytest.raises(BrokerUnavailable, match="past 3 pages of 100"):
        deep_snapshot(server, fill_page_limit=3)
    assert server.count("/v2/account/activities") == 3
