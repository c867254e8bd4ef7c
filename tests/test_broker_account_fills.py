"""The snapshot's account, fills and replacements: reading, paging, bounds, faults and what it never keeps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from alpaca.trading.models import TradeAccount, TradeActivity

from tests.alpaca_server import ACCOUNT_ID, ACCOUNT_NUMBER, AlpacaServer, FaultKind, fill, new_york, order
from tests.broker_book import AS_OF, FILLS_SINCE, client_for, db_orders, deep_snapshot, desk, oid
from tradewatch.broker import BrokerUnavailable, take_snapshot
from tradewatch.market_hours import previous_session_open
from tradewatch.reconcile.records import DbOrder
from tradewatch.reconcile.status import order_status_mismatches


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with desk() as running:
        yield running


def _many_fills(count: int, start: datetime, *, same_second: int = 1) -> list[dict[str, object]]:
    """count fills of one AMD order, same_second of them sharing each transaction time."""
    return [fill(oid(500), "AMD", "buy", "1", "140", start + timedelta(seconds=n // same_second),
                 kind="partial_fill", sequence=n) for n in range(count)]


def test_the_test_server_speaks_the_sdk_models(server: AlpacaServer) -> None:
    TradeAccount(**server.account)
    for raw in server.fills:
        TradeActivity(**raw)


def test_account_figures_and_flags_are_read_and_nothing_identifying(server: AlpacaServer) -> None:
    server.account.update(trading_blocked=True, daytrade_count=2, pattern_day_trader=True)
    snapshot = deep_snapshot(server)
    assert snapshot.account is not None
    assert (str(snapshot.account.equity), str(snapshot.account.last_equity), str(snapshot.account.cash),
            str(snapshot.account.buying_power)) == ("100000", "101000", "90000", "180000")
    assert (snapshot.account.trading_blocked, snapshot.account.account_blocked,
            snapshot.account.pattern_day_trader, snapshot.account.daytrade_count) == (True, False, True, 2)
    assert ACCOUNT_NUMBER not in repr(snapshot)
    assert ACCOUNT_ID not in repr(snapshot)


@pytest.mark.parametrize(("change", "lacking"), [
    ({"equity": None}, "equity"),
    ({"cash": ACCOUNT_NUMBER}, "cash"),  # a value is never echoed: it might identify the account
    ({"trading_blocked": "false"}, "trading_blocked"),
    ({"daytrade_count": "3"}, "daytrade_count"),
], ids=["no-equity", "cash-not-a-number", "flag-as-text", "count-as-text"])
def test_an_account_lacking_a_field_is_an_error(
    server: AlpacaServer, change: dict[str, object], lacking: str
) -> None:
    server.account.update(change)
    with pytest.raises(BrokerUnavailable, match=f"account lacking {lacking}") as caught:
        deep_snapshot(server)
    assert ACCOUNT_NUMBER not in str(caught.value)


def test_without_asking_the_snapshot_reads_as_before(server: AlpacaServer) -> None:
    snapshot = take_snapshot(client_for(server), AS_OF, ())
    assert (snapshot.account, snapshot.fills, snapshot.fills_since) == (None, (), None)
    assert server.count("/v2/account") == 0


def test_fills_are_those_of_the_window_newest_asked_first(server: AlpacaServer) -> None:
    server.fills += [fill(oid(7), "AMD", "buy", "5", "140", FILLS_SINCE, sequence=1),  # at the start: in
                     fill(oid(8), "AMD", "buy", "5", "140", FILLS_SINCE - timedelta(milliseconds=1)),
                     fill(oid(8), "AMD", "buy", "5", "140", AS_OF + timedelta(seconds=1), sequence=2)]
    snapshot = deep_snapshot(server)
    assert {f.order_id for f in snapshot.fills} == {oid(1), oid(2), oid(5), oid(6), oid(7)}
    assert [f.transaction_time for f in snapshot.fills] == sorted(f.transaction_time for f in snapshot.fills)
    (asked,) = [seen for seen in server.seen if seen.path == "/v2/account/activities/FILL"]
    assert (asked.query["direction"], asked.query["page_size"]) == ("desc", "100")
    assert datetime.fromisoformat(asked.query["after"]) == FILLS_SINCE - timedelta(microseconds=1)
    assert datetime.fromisoformat(asked.query["until"]) == AS_OF
    partial = next(f for f in snapshot.fills if f.kind == "partial_fill")
    assert (partial.order_id, str(partial.qty), str(partial.price)) == (oid(1), "60", "250")


@pytest.mark.parametrize("same_second", [1, 7], ids=["distinct-times", "shared-times"])
def test_fill_paging_reads_each_fill_once(server: AlpacaServer, same_second: int) -> None:
    server.fills += _many_fills(250, new_york("2025-12-31T10:00"), same_second=same_second)
    snapshot = deep_snapshot(server)
    assert len(snapshot.fills) == 255
    pages = [seen for seen in server.seen if seen.path == "/v2/account/activities/FILL"]
    assert len(pages) == 3
    # Each later page starts after the previous page's last activity.
    assert "page_token" not in pages[0].query
    assert all(page.query["page_token"] for page in pages[1:])


def test_a_broker_repeating_its_page_is_an_error(server: AlpacaServer) -> None:
    server.fills += _many_fills(150, new_york("2025-12-31T10:00"))
    server.fail("stuck", path="/v2/account/activities")
    with pytest.raises(BrokerUnavailable, match="repeated its page of fills"):
        deep_snapshot(server)
    assert server.count("/v2/account/activities") == 2


def test_fill_paging_stops_at_its_bound(server: AlpacaServer) -> None:
    server.fills += _many_fills(250, new_york("2025-12-31T10:00"))
    with pytest.raises(BrokerUnavailable, match="past 2 pages of 100"):
        deep_snapshot(server, fill_page_limit=2)
    assert server.count("/v2/account/activities") == 2


@pytest.mark.parametrize(("change", "message"), [
    ({"price": None}, "lacking what identifies it"),
    ({"type": "dividend"}, "of type 'dividend'"),
    ({"qty": "lots"}, "where a number belongs"),
    ({"order_id": None}, "lacking what identifies it"),
    ({"qty": "-5"}, "qty -5"),
], ids=["no-price", "not-a-fill", "qty-not-a-number", "no-order", "negative-qty"])
def test_odd_fills_are_errors_not_skipped(
    server: AlpacaServer, change: dict[str, object], message: str
) -> None:
    server.fills[0].update(change)
    with pytest.raises(BrokerUnavailable, match=message):
        deep_snapshot(server)


FAULTS: dict[str, tuple[FaultKind, int, str | None]] = {
    "429-then-success": ("429", 1, None),
    "429-until-retries-run-out": ("429", 10, "rate-limits (429)"),
    "500": ("500", 1, "replied 500"),
    "timeout": ("slow", 1, "did not answer within 0.5 s"),
    "garbled": ("garbled", 1, "not JSON"),
}


@pytest.mark.parametrize("path", ["/v2/account/activities/FILL", "/v2/account"], ids=["fills", "account"])
@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_the_new_paths(server: AlpacaServer, fault: str, path: str) -> None:
    kind, times, message = FAULTS[fault]
    # The account is read first, so a fault on its path (a prefix of the fills') hits it.
    server.fail(kind, times=times, path=path, delay_s=1.5)
    client = client_for(server, broker_retries=2, broker_timeout_s=0.5)
    if message is None:
        snapshot = take_snapshot(client, AS_OF, (), account=True, fills_since=FILLS_SINCE)
        assert snapshot.account is not None
        assert server.count(path) >= 2
        return
    with pytest.raises(BrokerUnavailable) as caught:
        take_snapshot(client, AS_OF, (), account=True, fills_since=FILLS_SINCE)
    assert message in str(caught.value)


def test_error_bodies_echoing_the_keys_reach_no_message(server: AlpacaServer) -> None:
    server.echo_credentials = True
    server.fail("500", path="/v2/account")
    with pytest.raises(BrokerUnavailable, match="replied 500") as caught:
        deep_snapshot(server)
    said = str(caught.value)
    for secret in (server.api_key, server.secret_key, ACCOUNT_NUMBER):
        assert secret not in said
    assert "internal server error" in said  # the rest of the body still tells what happened


def test_refused_keys_echoed_back_reach_no_message(server: AlpacaServer) -> None:
    server.echo_credentials = True
    client = client_for(server)
    server.secret_key = "the-real-secret"  # so the client's is wrong, and echoed back
    with pytest.raises(BrokerUnavailable, match=r"refused the credentials \(401\)") as caught:
        take_snapshot(client, AS_OF, (), account=True, fills_since=FILLS_SINCE)
    assert "test-secret" not in str(caught.value)
    assert server.api_key not in str(caught.value)


@pytest.mark.parametrize(("body", "hidden", "kept"), [
    ('{"message": "bad key k-123", "detail": {"password": "hunter2"}}', ["k-123", "hunter2"], "bad key"),
    ('{"id": "acct-uuid", "account_number": "PA99", "buying_power": "1"}', ["acct-uuid", "PA99"],
     "buying_power"),
    ("upstream said secret=hunter2 for k-123", ["hunter2", "k-123"], "withheld"),
], ids=["json-fields", "account-ids", "text-naming-a-secret"])
def test_shown_bodies_lose_keys_secrets_and_account_ids(
    server: AlpacaServer, body: str, hidden: list[str], kept: str
) -> None:
    client = client_for(server)
    client._secrets = ["k-123"]
    shown = client.shown(body)
    assert kept in shown
    for value in hidden:
        assert value not in shown


def _replaced_chain(server: AlpacaServer, when: datetime) -> None:
    """Order 20 replaced by 21, replaced by 22, which was cancelled: long before as-of."""
    server.orders += [
        order(oid(20), "AMD", "buy", "replaced", "5", when, replaced_by=oid(21), replaced_at=when),
        order(oid(21), "AMD", "buy", "replaced", "5", when, replaced_by=oid(22), replaces=oid(20),
              replaced_at=when),
        order(oid(22), "AMD", "buy", "canceled", "5", when, replaces=oid(21), canceled_at=when),
    ]


def test_a_replaced_order_is_followed_to_its_last_replacement(server: AlpacaServer) -> None:
    _replaced_chain(server, new_york("2025-12-20T10:00"))
    snapshot = deep_snapshot(server, [*db_orders(), oid(20)])
    assert server.count("/v2/orders/") == 3
    current = snapshot.current(oid(20))
    assert current is not None
    assert (current.id, current.status) == (oid(22), "canceled")
    assert [o.id for o in snapshot.lineage(oid(20))] == [oid(20), oid(21), oid(22)]
    assert snapshot.ancestors(oid(22)) == (oid(21), oid(20))
    assert not snapshot.confirmed_missing(oid(20))


def test_replacements_count_against_the_look_up_limit(server: AlpacaServer) -> None:
    _replaced_chain(server, new_york("2025-12-20T10:00"))
    snapshot = deep_snapshot(server, [*db_orders(), oid(20)], lookup_limit=2)
    assert server.count("/v2/orders/") == 2
    assert snapshot.unconfirmed == (oid(22),)
    assert snapshot.current(oid(20)) is None  # where it went is unknown: not judged


def test_a_replacement_chain_both_sides_agree_on_needs_no_look_up(server: AlpacaServer) -> None:
    """The database has 20 and 21 replaced and 22 open, as the broker lists it: nothing to ask."""
    _replaced_chain(server, new_york("2025-12-31T10:30"))
    server.orders[-1].update(status="new", canceled_at=None)
    rows = [DbOrder(20 + n, None, oid(20 + n), "AMD", status) for n, status in
            enumerate(("replaced", "replaced", "new"))]
    snapshot = deep_snapshot(server, [*db_orders(), *rows])
    assert server.count("/v2/orders/") == 0
    assert snapshot.ancestors(oid(22)) == (oid(21),)  # as far as the snapshot holds them
    assert order_status_mismatches(rows, snapshot, as_of=AS_OF) == []


def test_an_open_order_the_broker_replaced_is_asked_for_and_followed(server: AlpacaServer) -> None:
    """The database still has 20 open: the broker lists only 22, so 20 and 21 are asked for."""
    _replaced_chain(server, new_york("2025-12-31T10:30"))
    server.orders[-1].update(status="new", canceled_at=None)
    snapshot = deep_snapshot(server, [*db_orders(), oid(20)])
    assert server.count("/v2/orders/") == 2
    current = snapshot.current(oid(20))
    assert current is not None
    assert (current.id, current.status) == (oid(22), "new")


def _budget(open_orders: int, fills: int) -> int:
    return 4 + math.ceil(open_orders / 500) + math.ceil(fills / 100)


@pytest.mark.parametrize(("extra_orders", "extra_fills"), [(0, 0), (1200, 250), (480, 90)],
                         ids=["the-desk", "1200-orders-250-fills", "nearly-full-pages"])
def test_requests_stay_within_the_budget(server: AlpacaServer, extra_orders: int, extra_fills: int) -> None:
    start = new_york("2025-12-31T09:00")
    server.orders += [order(f"e0000000-0000-4000-8000-{n:012d}", "AMD", "buy", "new", "1",
                            start + timedelta(seconds=n // 7), order_type="limit")
                      for n in range(extra_orders)]
    # The fills are those of one AMD order still filling, which both sides hold open.
    server.orders.append(order(oid(500), "AMD", "buy", "partially_filled", str(extra_fills + 1),
                               new_york("2025-12-31T09:59"), order_type="limit"))
    server.fills += _many_fills(extra_fills, new_york("2025-12-31T10:00"))
    snapshot = deep_snapshot(server, [*db_orders(), oid(500)])
    open_orders = sum(1 for o in snapshot.orders.values() if o.is_open)
    assert server.count("/v2/orders/") == 0  # nothing contradicts: no order is asked for alone
    assert server.count() <= _budget(open_orders, len(snapshot.fills)), [s.path for s in server.seen]


def test_a_full_last_page_costs_one_request_more(server: AlpacaServer) -> None:
    """Only an empty or short page ends a listing: the budget's ceil is one short at exact multiples."""
    server.fills += _many_fills(95, new_york("2025-12-31T10:00"))  # 100 with the desk's own
    deep_snapshot(server)
    assert server.count("/v2/account/activities/FILL") == 2


@pytest.mark.parametrize(("moment", "opened"), [
    ("2025-12-31T11:00:00-05:00", "2025-12-30T09:30:00-05:00"),  # mid-session: yesterday's open
    ("2025-12-31T09:30:00-05:00", "2025-12-30T09:30:00-05:00"),  # at the open
    ("2025-12-31T08:00:00-05:00", "2025-12-29T09:30:00-05:00"),  # before the open
    ("2025-12-27T12:00:00-05:00", "2025-12-24T09:30:00-05:00"),  # Saturday, after Christmas
    ("2025-12-31T16:00:00", "2025-12-30T09:30:00-05:00"),  # naive is UTC: 11:00 in New York
], ids=["mid-session", "at-open", "pre-open", "weekend-after-holiday", "naive-utc"])
def test_previous_session_open(moment: str, opened: str) -> None:
    assert previous_session_open(datetime.fromisoformat(moment)) == datetime.fromisoformat(opened)


def test_previous_session_open_of_another_exchange_and_out_of_range() -> None:
    london = previous_session_open(datetime.fromisoformat("2025-12-31T11:00:00-05:00"), "XLON")
    assert london == datetime.fromisoformat("2025-12-30T08:00:00+00:00")
    with pytest.raises(ValueError, match="outside the XNYS calendar's sessions"):
        previous_session_open(datetime.fromisoformat("1990-06-01T12:00:00+00:00"))
    with pytest.raises(ValueError, match="no exchange calendar named 'NOPE'"):
        previous_session_open(AS_OF, "NOPE")
