"""The broker snapshot on its own: reading the broker's JSON, paging, look-ups and failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from alpaca.trading.models import Order, Position

from tests.alpaca_server import AlpacaServer, new_york, order, position
from tests.broker_book import statuses
from tests.test_broker import clean_book
from tradewatch import demo, settings
from tradewatch.broker import (
    BrokerClient,
    BrokerSnapshot,
    BrokerUnavailable,
    order_from_json,
    position_from_json,
    take_snapshot,
)
from tradewatch.reconcile import orders as reconcile
from tradewatch.reconcile.records import DbOrder


def make_settings(**changes: Any) -> settings.Settings:
    """The default settings with some changed, as a run would resolve them."""
    defaults = {spec.ini: spec.default or "" for spec in settings.SPECS if spec.ini}
    return dataclasses.replace(settings.resolve({}, {}, defaults), **changes)


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with clean_book() as running:
        yield running


def client_for(server: AlpacaServer, **changes: Any) -> BrokerClient:
    return BrokerClient(make_settings(
        alpaca_base_url=server.url, alpaca_api_key=server.api_key,
        alpaca_secret_key=server.secret_key, broker_retry_wait_s=0.01, **changes,
    ))


def snapshot_of(server: AlpacaServer, db_order_ids: tuple[str, ...] = (), **changes: Any) -> BrokerSnapshot:
    """The snapshot, given the broker ids of the database's open orders."""
    return take_snapshot(client_for(server, **changes), demo.DEMO_AS_OF, statuses(db_order_ids))


def test_the_test_server_speaks_the_sdk_models(server: AlpacaServer) -> None:
    """What the stand-in serves validates against alpaca-py's own models."""
    for raw in server.positions:
        Position(**raw)
    for raw in server.orders:
        Order(**raw)


def test_unknown_status_and_fields_do_not_break_reading() -> None:
    raw = order("f0000000-0000-4000-8000-000000000001", "AMD", "buy", "frozen_for_review", "1.5",
                new_york("2025-12-31T10:00"))
    raw.update(asset_class="moon_rocks", brand_new_field={"x": 1})
    with pytest.raises(pydantic.ValidationError):
        Order(**raw)  # the SDK's model refuses it ...
    read = order_from_json(raw)  # ... the snapshot reads it all the same
    assert (read.status, read.qty, read.is_open) == ("frozen_for_review", Decimal("1.5"), True)


@pytest.mark.parametrize(("qty", "side", "expected"), [
    ("100", "long", "100"),
    ("-30", "short", "-30"),
    ("30", "short", "-30"),  # a short written with a positive quantity keeps its side
    ("-2.5", "sideways", "-2.5"),  # an unknown side: the sign tells
    ("0.125", None, "0.125"),
], ids=["long", "short-negative", "short-positive", "unknown-side", "fractional"])
def test_positions_keep_their_sign(qty: str, side: str | None, expected: str) -> None:
    raw = position("AMD", qty)
    raw["side"] = side
    assert position_from_json(raw).qty == Decimal(expected)


def test_legs_are_orders_of_their_own(server: AlpacaServer) -> None:
    """A bracket whose entry filled still has its open legs listed; the filled entry is not."""
    snapshot = snapshot_of(server)
    leg = snapshot.orders["c0000000-0000-4000-8000-000000000002"]
    assert (leg.status, leg.is_open) == ("held", True)
    assert "c0000000-0000-4000-8000-000000000001" not in snapshot.orders


@pytest.mark.parametrize("until_inclusive", [True, False], ids=["until-inclusive", "until-exclusive"])
def test_paging_loses_and_repeats_nothing(server: AlpacaServer, until_inclusive: bool) -> None:
    server.until_inclusive = until_inclusive
    before = len(snapshot_of(server).orders)
    server.seen.clear()
    start = new_york("2025-12-31T09:00")
    extra = [f"e0000000-0000-4000-8000-{number:012d}" for number in range(1200)]
    # Seven orders share each submission time, so page boundaries fall inside a group.
    server.orders += [order(order_id, "AMD", "buy", "new", "1", start + timedelta(seconds=n // 7))
                      for n, order_id in enumerate(extra)]
    snapshot = snapshot_of(server)
    assert set(extra) <= set(snapshot.orders)
    assert len(snapshot.orders) == before + 1200
    assert server.count("/v2/orders") <= 3 + 1  # three pages of recent orders, one of old open ones


def test_paging_stops_when_a_full_page_shares_one_time(server: AlpacaServer) -> None:
    same = new_york("2025-12-31T10:00")
    server.orders += [order(f"e0000000-0000-4000-8000-{n:012d}", "AMD", "buy", "new", "1", same)
                      for n in range(501)]
    with pytest.raises(BrokerUnavailable, match="share one submission time"):
        snapshot_of(server)


def test_old_open_orders_are_read_too(server: AlpacaServer) -> None:
    server.orders.append(order("f0000000-0000-4000-8000-000000000009", "AMD", "sell", "new", "3",
                               new_york("2025-11-03T10:00"), order_type="limit"))
    server.orders.append(order("f0000000-0000-4000-8000-000000000010", "AMD", "sell", "filled", "3",
                               new_york("2025-11-03T10:00")))
    snapshot = snapshot_of(server)
    assert "f0000000-0000-4000-8000-000000000009" in snapshot.orders
    assert "f0000000-0000-4000-8000-000000000010" not in snapshot.orders


def test_old_open_legs_of_a_filled_bracket_are_read(server: AlpacaServer) -> None:
    legs = [order(f"f0000000-0000-4000-8000-00000000002{n}", "AMD", "sell", status, "3",
                  new_york("2025-11-03T10:00"), order_type=kind, order_class="bracket")
            for n, (status, kind) in enumerate([("held", "stop"), ("new", "limit")], start=1)]
    server.orders.append(order("f0000000-0000-4000-8000-000000000020", "AMD", "buy", "filled", "3",
                               new_york("2025-11-03T10:00"), order_class="bracket", legs=legs))
    snapshot = snapshot_of(server)
    assert {"f0000000-0000-4000-8000-000000000021", "f0000000-0000-4000-8000-000000000022"} <= set(
        snapshot.orders)


def test_look_ups_only_for_orders_the_snapshot_lacks(server: AlpacaServer) -> None:
    server.orders.append(order("f0000000-0000-4000-8000-000000000011", "AMD", "buy", "filled", "3",
                               new_york("2025-11-03T10:00")))
    ids = ("c0000000-0000-4000-8000-000000000013",  # in the snapshot: not asked for
           "f0000000-0000-4000-8000-000000000011",  # old: the broker has it
           "f0000000-0000-4000-8000-000000000012",  # the broker does not know it
           "not-a-broker-id")  # could never be the broker's: not asked for
    snapshot = snapshot_of(server, ids)
    assert server.count("/v2/orders/") == 2
    found = snapshot.order("f0000000-0000-4000-8000-000000000011")
    assert found is not None
    assert found.status == "filled"
    assert snapshot.confirmed_missing("f0000000-0000-4000-8000-000000000012")
    assert snapshot.confirmed_missing("not-a-broker-id")
    assert not snapshot.confirmed_missing("c0000000-0000-4000-8000-000000000013")


def test_look_ups_stop_at_the_limit_and_the_rest_is_reported(server: AlpacaServer) -> None:
    ids = tuple(f"f0000000-0000-4000-8000-00000000010{n}" for n in range(5))
    snapshot = take_snapshot(client_for(server), demo.DEMO_AS_OF, statuses(ids), lookup_limit=2)
    assert server.count("/v2/orders/") == 2
    assert snapshot.unconfirmed == ids[2:]
    assert all(snapshot.confirmed_missing(alpaca_id) for alpaca_id in ids[:2])
    assert not any(snapshot.confirmed_missing(alpaca_id) for alpaca_id in ids[2:])
    rows = [DbOrder(n, None, alpaca_id, "AMD", "new") for n, alpaca_id in enumerate(ids)]
    found = reconcile.reconcile_orders(rows, snapshot, "not_found")
    assert [(f.type, f.severity) for f in found] == [("ORDER_NOT_FOUND", "WARNING")] * 2 + [
        ("RECONCILIATION_SKIPPED", "INFO")]
    assert found[-1].details["alpaca_order_ids"] == list(ids[2:])


@pytest.mark.parametrize(("body", "message"), [
    ({"positions": []}, "other than a list of positions"),
    ([{"symbol": "AMD"}], "lacking its symbol or qty"),
    ([{"symbol": "AMD", "qty": "lots"}], "where a number belongs"),
], ids=["not-a-list", "no-qty", "not-a-number"])
def test_odd_replies_are_errors_not_crashes(server: AlpacaServer, body: Any, message: str) -> None:
    server.positions = body
    with pytest.raises(BrokerUnavailable, match=message):
        snapshot_of(server)


def test_unreachable_broker_is_an_error_naming_where(server: AlpacaServer) -> None:
    client = client_for(server)
    server.stop()
    with pytest.raises(BrokerUnavailable, match=f"cannot reach the broker at {server.url}"):
        take_snapshot(client, demo.DEMO_AS_OF, ())


def test_rate_limit_retries_are_bounded(server: AlpacaServer) -> None:
    server.fail("429", times=100)
    with pytest.raises(BrokerUnavailable, match=r"rate-limits \(429\) after 2 retries"):
        snapshot_of(server, broker_retries=2)
    assert server.count() == 3


def test_settings_repr_and_errors_hide_the_keys(server: AlpacaServer) -> None:
    server.secret_key = "the-real-secret"
    resolved = make_settings(alpaca_api_key=server.api_key, alpaca_secret_key="a-wrong-secret")
    assert "a-wrong-secret" not in repr(resolved)
    client = BrokerClient(dataclasses.replace(resolved, alpaca_base_url=server.url))
    with pytest.raises(BrokerUnavailable) as caught:
        take_snapshot(client, demo.DEMO_AS_OF, ())
    assert "401" in str(caught.value)
    assert "a-wrong-secret" not in str(caught.value)
    assert server.api_key not in str(caught.value)
