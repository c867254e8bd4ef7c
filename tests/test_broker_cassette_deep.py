"""Recording and replaying the account, the paged fills and look-ups through vcrpy: offline, and
with no key, secret, account number or account id in the cassette."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.alpaca_server import ACCOUNT_ID, ACCOUNT_NUMBER, account, fill, new_york, order
from tests.broker_book import AS_OF, FILLS_SINCE, db_orders, deep_snapshot, desk, make_settings, oid, statuses
from tradewatch.broker import BrokerClient, take_snapshot
from tradewatch.broker_plugin import recording, response_scrubber
from tradewatch.reconcile.fills import fill_mismatches, fills_not_in_db
from tradewatch.reconcile.status import order_status_mismatches

OLD_ORDER = oid(30)  # open in the database, cancelled at the broker: only a look-up finds it


def test_record_then_replay_offline(tmp_path: Path) -> None:
    cassette = tmp_path / "deep.yaml"
    with desk() as server:
        server.date = "Wed, 31 Dec 2025 16:00:00 GMT"
        server.orders.append(order(OLD_ORDER, "AMD", "buy", "canceled", "5", new_york("2025-12-01T10:00")))
        start = new_york("2025-12-31T10:00")
        server.fills += [fill(oid(31), "AMD", "buy", "1", "140", start + timedelta(seconds=n),
                              kind="partial_fill", sequence=n) for n in range(150)]
        with recording(cassette, "once", [server.api_key, server.secret_key]):
            recorded = deep_snapshot(server, [*db_orders(), OLD_ORDER])
        asked = server.count()
        keys = (server.api_key, server.secret_key)
    assert server.count("/v2/account/activities/FILL") == 2  # two pages: the token is in the cassette
    # Look-ups: the old order the database holds open, and the order of fills it lacks.
    assert server.count("/v2/orders/") == 2

    # Replay: no keys, the server gone, and a base URL nobody listens on.
    client = BrokerClient(make_settings(alpaca_base_url="http://127.0.0.1:9"), placeholder_keys=True)
    with recording(cassette, "none", []):
        replayed = take_snapshot(client, AS_OF, statuses([*db_orders(), OLD_ORDER]), account=True,
                                 fills_since=FILLS_SINCE)
    assert replayed == recorded
    assert replayed.account is not None
    assert len(replayed.fills) == 155
    rows = db_orders()
    for rule in (order_status_mismatches, fill_mismatches, fills_not_in_db):
        assert rule(rows, replayed, as_of=AS_OF) == rule(rows, recorded, as_of=AS_OF)

    text = cassette.read_text()
    assert text.count("uri:") == asked
    assert "page_token" in text
    for secret in (*keys, ACCOUNT_NUMBER, ACCOUNT_ID, "APCA-API-KEY-ID", "APCA-API-SECRET-KEY"):
        assert secret not in text


def test_the_scrubber_takes_account_ids_and_keeps_order_ids() -> None:
    scrub = response_scrubber(["k-1", "s-1"])
    account_body = {"status": {"code": 200}, "headers": {},
                    "body": {"string": json.dumps(account(note="for k-1")).encode()}}
    kept = json.loads(scrub(account_body)["body"]["string"])
    assert (kept["id"], kept["account_number"]) == ("<redacted>", "<redacted>")
    assert kept["note"] == "for <redacted>"
    assert kept["equity"] == "100000"
    orders_body = {"status": {"code": 200}, "headers": {},
                   "body": {"string": json.dumps([order(oid(1), "AAPL", "buy", "new", "1",
                                                        new_york("2025-12-31T10:00"))]).encode()}}
    assert json.loads(scrub(orders_body)["body"]["string"])[0]["id"] == oid(1)
    fills_body = {"status": {"code": 200}, "headers": {},
                  "body": {"string": json.dumps([fill(oid(1), "AAPL", "buy", "1", "250",
                                                      new_york("2025-12-31T10:00"))]).encode()}}
    (kept_fill,) = json.loads(scrub(fills_body)["body"]["string"])
    assert (kept_fill["account_id"], kept_fill["order_id"]) == ("<redacted>", oid(1))
