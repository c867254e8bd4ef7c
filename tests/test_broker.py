"""The broker checks end to end: the real checks, a real database, a local Alpaca-shaped server."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.alpaca_server import ACCOUNT_NUMBER, AlpacaServer, FaultKind, fill, new_york, order, position
from tests.conftest import CHECKS_DIR, RunChecks
from tests.pg import run_sql, run_sql_file
from tests.test_secrets import leaks
from tradewatch import demo
from tradewatch.broker_plugin import response_scrubber

BROKER_ENV = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_BASE_URL", "ALPACA_PAPER",
              "TRADEWATCH_BROKER_CASSETTE", "TRADEWATCH_BROKER_TIMEOUT", "TRADEWATCH_AS_OF")
FAST = ("--broker-retry-wait=0.01", "--broker-timeout=2")
Expected = list[tuple[str, str, dict[str, Any]]]
POSITION_TESTS = ("db_only", "broker_only", "quantity", "side")
ORDER_TESTS = ("status", "not_found", "not_in_db")


def _c(number: int) -> str:
    return f"c0000000-0000-4000-8000-{number:012d}"


def clean_book() -> AlpacaServer:
    """The broker's side of fixtures/seeds/clean.sql: everything agrees, the fills of the window too."""
    bracket = "bracket"
    return AlpacaServer(
        positions=[position("AAPL", "100", price="250"), position("TSLA", "-30", price="450")],
        orders=[
            order(_c(1), "AAPL", "buy", "filled", "100", new_york("2025-12-31T09:40"), order_class=bracket,
                  filled_avg_price="250", filled_at=new_york("2025-12-31T09:40:01"), legs=[
                      order(_c(2), "AAPL", "sell", "held", "100", new_york("2025-12-31T09:40"),
                            order_type="stop", stop_price="246", order_class=bracket),
                      order(_c(3), "AAPL", "sell", "new", "100", new_york("2025-12-31T09:40"),
                            order_type="limit", limit_price="258", order_class=bracket),
                  ]),
            order(_c(4), "TSLA", "sell", "filled", "30", new_york("2025-12-31T09:55"), order_class=bracket,
                  filled_avg_price="450", filled_at=new_york("2025-12-31T09:55:01"), legs=[
                      order(_c(5), "TSLA", "buy", "held", "30", new_york("2025-12-31T09:55"),
                            order_type="stop", stop_price="460", order_class=bracket),
                      order(_c(6), "TSLA", "buy", "new", "30", new_york("2025-12-31T09:55"),
                            order_type="limit", limit_price="430", order_class=bracket),
                  ]),
            order(_c(7), "MSFT", "buy", "filled", "50", new_york("2025-12-30T10:00"),
                  filled_avg_price="480"),
            order(_c(8), "MSFT", "sell", "filled", "50", new_york("2025-12-30T15:00"),
                  filled_avg_price="485"),
            order(_c(9), "MSFT", "sell", "filled", "40", new_york("2025-12-30T11:00"),
                  filled_avg_price="490"),
            order(_c(10), "MSFT", "buy", "canceled", "40", new_york("2025-12-30T12:00"), order_type="limit"),
            order(_c(11), "MSFT", "buy", "filled", "40", new_york("2025-12-30T14:00"),
                  filled_avg_price="486"),
            order(_c(12), "MSFT", "buy", "canceled", "10", new_york("2025-12-31T10:00"), order_type="limit"),
            order(_c(13), "MSFT", "buy", "accepted", "10", new_york("2025-12-31T10:58")),
        ],
        fills=[
            fill(_c(1), "AAPL", "buy", "100", "250", new_york("2025-12-31T09:40:01")),
            fill(_c(4), "TSLA", "sell", "30", "450", new_york("2025-12-31T09:55:01")),
            fill(_c(7), "MSFT", "buy", "50", "480", new_york("2025-12-30T10:00:01")),
            fill(_c(8), "MSFT", "sell", "50", "485", new_york("2025-12-30T15:00:01")),
            fill(_c(9), "MSFT", "sell", "40", "490", new_york("2025-12-30T11:00:01")),
            fill(_c(11), "MSFT", "buy", "40", "486", new_york("2025-12-30T14:00:01")),
        ],
    )


@pytest.fixture
def no_broker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker setting leaks in from the environment running the self-tests."""
    for name in BROKER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def alpaca(monkeypatch: pytest.MonkeyPatch, no_broker_env: None) -> Iterator[AlpacaServer]:
    """The clean book served locally, with the environment pointing the checks at it."""
    with clean_book() as server:
        monkeypatch.setenv("ALPACA_BASE_URL", server.url)
        monkeypatch.setenv("ALPACA_API_KEY", server.api_key)
        monkeypatch.setenv("ALPACA_SECRET_KEY", server.secret_key)
        yield server


# The position and order comparisons, whose cases these tests name by their ids alone.
COMPARISONS = ("test_positions_match_broker", "test_orders_match_broker")


def checks_of(report: dict[str, Any], module: str = "test_broker.py",
              checks: tuple[str, ...] | None = COMPARISONS) -> dict[str, dict[str, Any]]:
    """A module's test entries (of some checks only), by their parameter id (or name when unparametrized)."""
    entries = {}
    for test in report["tests"]:
        if f"/{module}::" in test["nodeid"]:
            name = test["nodeid"].split("::")[-1]
            if checks is not None and name.split("[")[0] not in checks:
                continue
            entries[name.split("[")[-1].rstrip("]") if "[" in name else name] = test
    return entries


def every_broker_check(report: dict[str, Any]) -> dict[str, str]:
    """Every broker check's outcome, by node id."""
    return {test["nodeid"]: test["outcome"] for test in report["tests"]
            if "/test_broker.py::" in test["nodeid"]}


def found(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The broker checks' findings, by check id."""
    return {kind: test.get("metadata", {}).get("findings", []) for kind, test in checks_of(report).items()}


def projected(findings: list[dict[str, Any]], expected: Expected) -> Expected:
    """Each finding cut down to what its expected counterpart names: type, severity, some keys."""
    names = [keys for _, _, keys in expected] + [{}] * max(0, len(findings) - len(expected))
    return [(f["type"], f["severity"], {key: f.get(key) for key in keys})
            for f, keys in zip(findings, names, strict=False)]


def test_clean_book_agrees(seeded_db: Callable[..., str], run_checks: RunChecks,
                           alpaca: AlpacaServer) -> None:
    _, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST)
    outcomes = {kind: test["outcome"] for kind, test in checks_of(report).items()}
    assert outcomes == dict.fromkeys(POSITION_TESTS + ORDER_TESTS, "passed")
    everything = every_broker_check(report)
    # The risk limits are off unless set: not applicable; everything else agrees.
    assert {nodeid for nodeid, outcome in everything.items() if outcome != "passed"} == {
        f"checks/test_broker.py::test_risk_limits_held[{case}]"
        for case in ("open_positions", "position_size", "daily_loss")}
    assert report["tradewatch"]["broker"] == {"mode": "live", "cassette": None, "paper": True,
                                              "open_orders": 5, "open_positions": 2}
    # The account, positions, one page of open orders, one of fills; nothing asked one by one.
    assert alpaca.count() == 4
    assert alpaca.count("/v2/orders/") == 0


def test_old_fills_touched_lately_cost_no_request(seeded_db: Callable[..., str], run_checks: RunChecks,
                                                  alpaca: AlpacaServer) -> None:
    """A job that touches last week's filled orders puts them in the window by their updated_at; their
    fills are before it, so nothing contradicts them and nothing is asked for one by one."""
    url = seeded_db("clean")
    run_sql(url, "UPDATE orders SET updated_at = '2025-12-31 10:30-05' WHERE order_id IN (14, 15)")
    _, report = run_checks(url, "-m", "broker", *FAST)
    assert all(fs == [] for fs in found(report).values())
    assert alpaca.count("/v2/orders/") == 0
    assert alpaca.count() == 4


def _drop_position(symbol: str) -> Callable[[AlpacaServer], None]:
    def change(server: AlpacaServer) -> None:
        server.positions = [p for p in server.positions if p["symbol"] != symbol]
    return change


def _hold(symbol: str, qty: str, side: str | None = None) -> Callable[[AlpacaServer], None]:
    def change(server: AlpacaServer) -> None:
        _drop_position(symbol)(server)
        server.positions.append(position(symbol, qty, side=side))
    return change


def _order_13(**fields: Any) -> Callable[[AlpacaServer], None]:
    def change(server: AlpacaServer) -> None:
        for entry in server.orders:
            if entry["id"] == _c(13):
                entry.update(fields)
    return change


def _drop_order_13(server: AlpacaServer) -> None:
    server.orders = [entry for entry in server.orders if entry["id"] != _c(13)]


def _still_open_14(server: AlpacaServer) -> None:
    server.orders.append(order(_c(14), "AAPL", "buy", "partially_filled", "20", new_york("2025-12-22T10:00"),
                               filled_qty="5", filled_avg_price="240"))


def _add_unknown_bracket(server: AlpacaServer) -> None:
    legs = [order("d0000000-0000-4000-8000-000000000002", "AMD", "sell", "held", "5",
                  new_york("2025-12-31T10:30"), order_type="stop", order_class="bracket"),
            order("d0000000-0000-4000-8000-000000000003", "AMD", "sell", "new", "5",
                  new_york("2025-12-31T10:30"), order_type="limit", order_class="bracket")]
    server.orders.append(order("d0000000-0000-4000-8000-000000000001", "AMD", "buy", "filled",
                               "5", new_york("2025-12-31T10:30"), order_class="bracket", legs=legs))


# check id, change to the clean book, extra SQL on the clean seed, expected (type, severity, keys).
DISAGREEMENTS: dict[str, tuple[str, Callable[[AlpacaServer], None], str, Expected]] = {
    "phantom": ("db_only", _drop_position("TSLA"), "",
                [("PHANTOM_POSITION", "CRITICAL", {"position_id": 2, "symbol": "TSLA"})]),
    "orphan": ("broker_only", _hold("NVDA", "5"), "",
               [("ORPHAN_POSITION", "CRITICAL", {"symbol": "NVDA"})]),
    "qty-warning": ("quantity", _hold("AAPL", "95"), "",
                    [("QTY_MISMATCH", "WARNING", {"symbol": "AAPL"})]),
    "qty-critical-at-threshold": ("quantity", _hold("AAPL", "90"), "",
                                  [("QTY_MISMATCH", "CRITICAL", {"symbol": "AAPL"})]),
    "qty-fractional": ("quantity", _hold("AAPL", "99.5"), "",
                       [("QTY_MISMATCH", "WARNING", {"symbol": "AAPL"})]),
    "short-as-positive-qty": ("side", _hold("TSLA", "30", side="short"), "", []),
    "side": ("side", _hold("TSLA", "30"), "", [("SIDE_MISMATCH", "CRITICAL", {"symbol": "TSLA"})]),
    "scale-in-sums": ("quantity", _hold("AAPL", "150"),
                      "INSERT INTO positions (position_id, cycle_id, security_id, side, quantity, "
                      "entry_price, status) VALUES (50, '20251231-001', 1, 'long', 50, 251, 'partial')",
                      []),
    "status": ("status", _order_13(status="filled", filled_qty="10", filled_avg_price="415.5",
                                   filled_at="2025-12-31T15:59:00.000000Z"), "",
               [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 13, "alpaca_order_id": _c(13)})]),
    "spelling-is-no-mismatch": ("status", _order_13(status="partially_filled", filled_qty="4"),
                                "UPDATE orders SET status = 'partial_fill' WHERE order_id = 13", []),
    "unknown-broker-status": ("status", _order_13(status="frozen_for_review", brand_new_field=[1]), "",
                              [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 13})]),
    "old-order-confirmed-by-lookup": ("status", _order_13(submitted_at="2025-12-20T15:00:00.000000Z",
                                                          status="filled"), "",
                                      [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 13})]),
    # The database ended it days before the window; the broker still lists it open: compared all
    # the same, at no request (the open listing holds it).
    "ended-long-ago-still-open": ("status", _still_open_14, "",
                                  [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 14})]),
    "not-found": ("not_found", _drop_order_13, "",
                  [("ORDER_NOT_FOUND", "WARNING", {"order_id": 13, "alpaca_order_id": _c(13)})]),
    # The database may spell a broker id in capitals; it is still the broker's order.
    "ids-differ-in-case": ("not_in_db", lambda _: None,
                           "UPDATE orders SET alpaca_order_id = upper(alpaca_order_id)", []),
    "not-in-db-legs": ("not_in_db", _add_unknown_bracket, "",
                       [("ORDER_NOT_IN_DB", "CRITICAL",
                         {"alpaca_order_id": "d0000000-0000-4000-8000-000000000002"}),
                        ("ORDER_NOT_IN_DB", "CRITICAL",
                         {"alpaca_order_id": "d0000000-0000-4000-8000-000000000003"})]),
}


@pytest.mark.parametrize("case", DISAGREEMENTS)
def test_each_disagreement_is_found(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer, case: str
) -> None:
    check, change, extra_sql, expected = DISAGREEMENTS[case]
    url = seeded_db("clean")
    if extra_sql:
        run_sql(url, extra_sql)
    change(alpaca)
    _, report = run_checks(url, "-m", "broker", *FAST)
    by_check = found(report)
    assert projected(by_check[check], expected) == expected
    others = {kind: fs for kind, fs in by_check.items() if kind != check and fs}
    assert others == {}, "only the check under test finds anything"
    # The one snapshot, plus one look-up for an open database order the broker no longer lists open.
    looked_up = case in ("status", "not-found", "old-order-confirmed-by-lookup")
    assert alpaca.count("/v2/positions") == 1
    assert alpaca.count("/v2/orders/") == (1 if looked_up else 0)


def test_status_fix_carries_the_broker_fill(seeded_db: Callable[..., str], run_checks: RunChecks,
                                            alpaca: AlpacaServer) -> None:
    _order_13(status="filled", filled_qty="10", filled_avg_price="415.5",
              filled_at="2025-12-31T15:59:00.000000Z")(alpaca)
    _, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST)
    (finding,) = found(report)["status"]
    assert finding["details"]["db_status"] == "accepted"
    assert finding["details"]["broker_status"] == "filled"
    fix = finding["fix"]
    assert fix.startswith('UPDATE "orders" SET "status" = \'filled\', "filled_qty" = 10')
    assert "\"filled_avg_price\" = '415.5'" in fix  # exact: numerics travel as their text
    assert "'2025-12-31T15:59:00+00:00'" in fix
    # Guarded by the status the check read, so a fix applied late cannot undo a newer update.
    assert fix.endswith('WHERE "order_id" = 13 AND "status" = \'accepted\';')


def _broker_outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {kind: test["outcome"] for kind, test in checks_of(report).items()}


def test_record_then_replay_offline(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = seeded_db("clean")
    _drop_position("TSLA")(alpaca)
    _drop_order_13(alpaca)
    _add_unknown_bracket(alpaca)
    cassette = tmp_path / "broker.yaml"
    _, recorded = run_checks(url, "-m", "broker", f"--broker-cassette={cassette}",
                             "--record-mode=once", *FAST)
    assert recorded["tradewatch"]["broker"]["mode"] == "record"
    requests_made = alpaca.count()
    text = cassette.read_text()
    for secret in (alpaca.api_key, alpaca.secret_key, "APCA-API-KEY-ID", "APCA-API-SECRET-KEY"):
        assert secret not in text
    assert text.count("uri:") == requests_made
    alpaca.stop()
    # Replay: no credentials, the server gone, and a base URL nobody listens on.
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.delenv("ALPACA_SECRET_KEY")
    monkeypatch.setenv("ALPACA_BASE_URL", "http://127.0.0.1:9")
    _, replayed = run_checks(url, "-m", "broker", f"--broker-cassette={cassette}", "--block-network",
                             *FAST)
    assert replayed["tradewatch"]["broker"] == {**recorded["tradewatch"]["broker"], "mode": "replay"}
    assert found(replayed) == found(recorded)
    assert _broker_outcomes(replayed) == _broker_outcomes(recorded)
    assert {kind for kind, fs in found(replayed).items() if fs} == {"db_only", "not_found", "not_in_db"}
    assert alpaca.count() == requests_made


def test_replay_errors_on_a_request_the_cassette_lacks(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer, tmp_path: Path
) -> None:
    url = seeded_db("clean")
    cassette = tmp_path / "broker.yaml"
    run_checks(url, "-m", "broker", f"--broker-cassette={cassette}", "--record-mode=once", *FAST)
    before = alpaca.count()
    # An order the recording never looked up: replay must say so, not ask the broker.
    run_sql(url, f"UPDATE orders SET alpaca_order_id = '{_c(99)}' WHERE order_id = 13")
    _, report = run_checks(url, "-m", "broker", f"--broker-cassette={cassette}", *FAST)
    assert set(_broker_outcomes(report).values()) == {"error"}
    error = checks_of(report)["status"]["metadata"]["error"]
    assert "has no recorded reply to GET /v2/orders/" in error
    assert alpaca.count() == before


def test_replay_of_a_missing_cassette_errors(
    seeded_db: Callable[..., str], run_checks: RunChecks, no_broker_env: None, tmp_path: Path
) -> None:
    _, report = run_checks(seeded_db("clean"), f"--broker-cassette={tmp_path / 'none.yaml'}", *FAST)
    assert set(_broker_outcomes(report).values()) == {"error"}
    assert "does not exist" in checks_of(report)["quantity"]["metadata"]["error"]
    database_checks = [t for t in report["tests"] if "/test_broker.py::" not in t["nodeid"]]
    assert database_checks
    assert {t["outcome"] for t in database_checks} == {"passed", "skipped"}
    assert all("not_applicable" in t["metadata"] for t in database_checks if t["outcome"] == "skipped")


def test_skipped_without_credentials_or_cassette(
    seeded_db: Callable[..., str], run_checks: RunChecks, no_broker_env: None
) -> None:
    _, report = run_checks(seeded_db("clean"), "-m", "broker")
    assert set(_broker_outcomes(report).values()) == {"skipped"}
    said = [f for fs in found(report).values() for f in fs]
    assert [(f["type"], f["severity"]) for f in said] == [("RECONCILIATION_SKIPPED", "INFO")]
    assert "ALPACA_API_KEY" in said[0]["message"]
    assert report["tradewatch"]["broker"] == {"mode": "skipped", "cassette": None, "paper": True}


@pytest.mark.parametrize("how", ["option", "environment"])
def test_required_broker_missing_is_an_error(
    seeded_db: Callable[..., str], run_checks: RunChecks, no_broker_env: None,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    if how == "environment":
        monkeypatch.setenv("TRADEWATCH_REQUIRE_BROKER", "1")
    _, report = run_checks(seeded_db("clean"), *(["--require-broker"] if how == "option" else []))
    assert set(_broker_outcomes(report).values()) == {"error"}
    assert "--require-broker is on" in checks_of(report)["quantity"]["metadata"]["error"]
    database_checks = [t for t in report["tests"] if "/test_broker.py::" not in t["nodeid"]]
    assert {t["outcome"] for t in database_checks} == {"passed", "skipped"}
    assert all("not_applicable" in t["metadata"] for t in database_checks if t["outcome"] == "skipped")


def test_requests_grow_with_pages_not_orders(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer
) -> None:
    count = 1200
    start = new_york("2025-12-31T09:00")
    # Seven orders share each submission time, so page boundaries fall inside a group.
    for number in range(count):
        alpaca.orders.append(order(f"e0000000-0000-4000-8000-{number:012d}", "AMD", "buy", "new",
                                   "1", start + timedelta(seconds=number // 7), order_type="limit"))
    _, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST)
    not_in_db = checks_of(report)["not_in_db"]["metadata"]
    assert not_in_db["finding_count"] == count
    pages = alpaca.count("/v2/orders")
    assert pages <= math.ceil(count / 500) + 2, [seen.query for seen in alpaca.seen]
    assert alpaca.count() == pages + 3  # and the positions, the account and the fills
    assert alpaca.count("/v2/orders/") == 0


FAULTS: dict[str, tuple[FaultKind, int, str, str | None]] = {
    "429-then-success": ("429", 1, "passed", None),
    "429-until-retries-run-out": ("429", 10, "error", "rate-limits (429)"),
    "500": ("500", 1, "error", "replied 500"),
    "timeout": ("slow", 1, "error", "did not answer within 0.5 s"),
    "garbled": ("garbled", 1, "error", "not JSON"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_broker_faults(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer, fault: str
) -> None:
    kind, times, outcome, message = FAULTS[fault]
    alpaca.fail(kind, times=times, path="/v2/positions", delay_s=1.5)
    _, report = run_checks(seeded_db("clean"), "--broker-retries=2", "--broker-retry-wait=0.01",
                           "--broker-timeout=0.5")
    assert set(_broker_outcomes(report).values()) == {outcome}
    if message is not None:
        for test in checks_of(report).values():
            assert message in test["metadata"]["error"]
    # The database checks run and pass on the clean seed whatever the broker does.
    database_checks = [t for t in report["tests"] if "/test_broker.py::" not in t["nodeid"]]
    assert {t["outcome"] for t in database_checks} == {"passed", "skipped"}
    assert all("not_applicable" in t["metadata"] for t in database_checks if t["outcome"] == "skipped")
    # One snapshot per run: a failure is not retried by every broker check.
    expected = {"429-then-success": 2, "429-until-retries-run-out": 3}.get(fault, 1)
    assert alpaca.count("/v2/positions") == expected


def test_database_checks_fail_on_their_own_while_the_broker_is_down(
    migrated_db: str, run_checks: RunChecks, alpaca: AlpacaServer
) -> None:
    run_sql_file(migrated_db, demo.DEMO_SQL)
    alpaca.fail("500", times=1)
    _, report = run_checks(migrated_db, *FAST)
    assert set(_broker_outcomes(report).values()) == {"error"}
    orders = checks_of(report, "test_orders.py", checks=None)
    assert orders["no_position"]["outcome"] == "failed"


def test_credentials_reach_no_report_and_no_error(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-the-right-secret")
    _, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST)
    assert "refused the credentials (401)" in checks_of(report)["side"]["metadata"]["error"]
    text = json.dumps(report)
    assert alpaca.api_key not in text
    assert "not-the-right-secret" not in text


DEMO_FINDINGS: dict[str, Expected] = {
    "db_only": [("PHANTOM_POSITION", "CRITICAL", {"position_id": 7, "symbol": "NVDA"})],
    "broker_only": [("ORPHAN_POSITION", "CRITICAL", {"symbol": "AMD"})],
    "quantity": [("QTY_MISMATCH", "WARNING", {"symbol": "MSFT"})],
    "side": [],
    # The database says the AMD exit filled, the broker cancelled it; the NVDA exit the other way.
    "status": [("ORDER_STATUS_MISMATCH", "CRITICAL",
                {"order_id": 19, "alpaca_order_id": "a0000000-0000-4000-8000-000000000019"}),
               ("ORDER_STATUS_MISMATCH", "WARNING",
                {"order_id": 17, "alpaca_order_id": "a0000000-0000-4000-8000-000000000017"})],
    "not_found": [("ORDER_NOT_FOUND", "WARNING",
                   {"order_id": 21, "alpaca_order_id": "a0000000-0000-4000-8000-000000000021"})],
    "not_in_db": [("ORDER_NOT_IN_DB", "CRITICAL",
                   {"alpaca_order_id": "b0000000-0000-4000-8000-000000000001", "symbol": "AMD"})],
}


def _demo_findings(report: dict[str, Any]) -> dict[str, Expected]:
    return {kind: projected(findings, DEMO_FINDINGS[kind]) for kind, findings in found(report).items()}


def test_demo_cassette_matches_the_demo_data(
    migrated_db: str, run_checks: RunChecks, no_broker_env: None
) -> None:
    run_sql_file(migrated_db, demo.DEMO_SQL)
    _, report = run_checks(migrated_db, "-m", "broker", f"--broker-cassette={demo.DEMO_CASSETTE}",
                           "--block-network")
    assert _demo_findings(report) == DEMO_FINDINGS
    (qty,) = found(report)["quantity"]
    assert (qty["details"]["db_qty"], qty["details"]["broker_qty"]) == (50, 48)
    assert qty["details"]["difference_pct"] == 4.0


def test_demo_run_replays_the_demo_cassette(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_broker_env: None, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRADEWATCH_REQUIRE_DATABASE", raising=False)
    report_path = tmp_path / "demo.json"
    pytester.runpytest_inprocess(str(CHECKS_DIR), "-m", "broker", "-p", "no:cacheprovider",
                                 f"--tradewatch-report={report_path}", "--block-network")
    report = json.loads(report_path.read_text())
    assert report["tradewatch"]["demo"] is True
    assert report["tradewatch"]["broker"] == {"mode": "replay", "cassette": "cassettes/demo.yaml",
                                              "paper": True, "open_orders": 5, "open_positions": 4}
    assert _demo_findings(report) == DEMO_FINDINGS
    # The deeper reconciliation's findings, each at least once, offline from the cassette.
    shown = {(f["type"], f["severity"])
             for test in report["tests"] for f in test["metadata"].get("findings", [])}
    assert {("FILL_MISMATCH", "CRITICAL"), ("FILL_MISMATCH", "WARNING"), ("FILL_NOT_IN_DB", "CRITICAL"),
            ("AVG_PRICE_MISMATCH", "WARNING"), ("ACCOUNT_BLOCKED", "CRITICAL"),
            ("BUYING_POWER_LOW", "WARNING"), ("DAYTRADE_LIMIT", "WARNING"),
            ("RISK_LIMIT_BREACHED", "CRITICAL"), ("ORDER_STATUS_MISMATCH", "CRITICAL")} <= shown
    assert report["tradewatch"]["account"] == {"equity": 95000, "cash": -1250, "buying_power": -1250}
    assert ACCOUNT_NUMBER not in report_path.read_text()


def test_demo_cassette_holds_no_secret() -> None:
    text = demo.DEMO_CASSETTE.read_text()
    for secret in ("demo-key", "demo-secret", "APCA-API-KEY-ID", "APCA-API-SECRET-KEY", "Authorization"):
        assert secret not in text


def test_recording_scrubs_secret_looking_values() -> None:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Set-Cookie": ["session=abc"], "X-Request-Id": ["the-key-id echoed"],
                    "Content-Type": ["application/json"]},
        "body": {"string": json.dumps([{"symbol": "AMD", "api_key": "x", "nested": {"token": "y"},
                                        "note": "the-secret-key"}]).encode()},
    }
    # The hook vcrpy calls on every response before it is written.
    scrubbed = response_scrubber(["the-key-id", "the-secret-key"])(response)
    text = json.dumps({**scrubbed, "body": scrubbed["body"]["string"].decode()})
    for secret in ("session=abc", "the-key-id", "the-secret-key", '"x"', '"y"'):
        assert secret not in text
    assert json.loads(scrubbed["body"]["string"])[0]["symbol"] == "AMD"


def test_a_failed_recording_writes_no_cassette(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "broker.yaml"
    alpaca.fail("500", path="/v2/orders")
    _, report = run_checks(seeded_db("clean"), "-m", "broker", f"--broker-cassette={cassette}",
                           "--record-mode=all", *FAST)
    assert set(_broker_outcomes(report).values()) == {"error"}
    assert not cassette.exists()


def test_recording_needs_credentials(
    seeded_db: Callable[..., str], run_checks: RunChecks, no_broker_env: None, tmp_path: Path
) -> None:
    _, report = run_checks(seeded_db("clean"), "-m", "broker",
                           f"--broker-cassette={tmp_path / 'new.yaml'}", "--record-mode=once")
    assert "needs ALPACA_API_KEY and ALPACA_SECRET_KEY" in checks_of(report)["side"]["metadata"]["error"]


def test_a_rules_own_grace_window_is_the_one_it_judges_by(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer
) -> None:
    """Order 13 filled a minute before as-of: judged under the run's 30 s, not under the rule's 120 s."""
    _order_13(status="filled", filled_qty="10", filled_avg_price="415.5",
              filled_at="2025-12-31T15:59:00.000000Z", updated_at="2025-12-31T15:59:00.000000Z")(alpaca)
    url = seeded_db("clean")
    _, report = run_checks(url, "-m", "broker", *FAST)
    assert [f["type"] for f in found(report)["status"]] == ["ORDER_STATUS_MISMATCH"]
    _, report = run_checks(url, "-m", "broker", *FAST,
                           "-o", "tradewatch_rules=orders_match_broker: broker_grace_seconds=120")
    assert found(report)["status"] == []


def test_a_rules_own_buying_power_minimum_is_the_one_it_judges_by(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer
) -> None:
    """180,000 of buying power passes the run's minimum (0) and fails the rule's own 200,000."""
    _, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST,
                           "-o", "tradewatch_rules=account_in_good_standing: min_buying_power=200000")
    account = checks_of(report, checks=("test_account_in_good_standing",))
    findings = account["buying_power"].get("metadata", {}).get("findings", [])
    assert [f["type"] for f in findings] == ["BUYING_POWER_LOW"]


# A secret a JSON body must escape, echoed where the checks quote the broker: in an error's body,
# as a quantity, as an order's id (a careless proxy, or a broker bug).
TRICKY_SECRET = 'SK"LEAK\\zz-9Q'
ECHOES: dict[str, Callable[[AlpacaServer], None]] = {
    "an-error-body": lambda server: server.fail("500", times=99),
    "a-quantity": lambda server: server.positions.append({**position("ZZZ", "1"), "qty": server.secret_key}),
    "an-order-id": lambda server: server.orders.append({
        **order(server.secret_key, "ZZZ", "buy", "new", "1", new_york("2025-12-31T10:00")),
        "client_order_id": "c-1"}),
}


@pytest.mark.parametrize("case", ECHOES)
def test_a_broker_echoing_the_secret_shows_it_nowhere(
    case: str, seeded_db: Callable[..., str], run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch,
    no_broker_env: None,
) -> None:
    server = clean_book()
    server.secret_key, server.echo_credentials = TRICKY_SECRET, True
    ECHOES[case](server)
    with server:
        monkeypatch.setenv("ALPACA_BASE_URL", server.url)
        monkeypatch.setenv("ALPACA_API_KEY", server.api_key)
        monkeypatch.setenv("ALPACA_SECRET_KEY", server.secret_key)
        result, report = run_checks(seeded_db("clean"), "-m", "broker", *FAST)
    shown = json.dumps(report) + "\n".join(result.outlines + result.errlines)
    assert leaks(shown, [TRICKY_SECRET]) == []
    assert "<redacted>" in shown


RENAMED_PRICE = "ALTER TABLE orders RENAME COLUMN filled_avg_price TO fap"


def test_a_declared_fill_price_gone_errors_the_comparisons_that_read_it(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer,
) -> None:
    """Read as NULL, a renamed price column would make every fill a price mismatch: an error instead."""
    url = seeded_db("clean")
    run_sql(url, RENAMED_PRICE)
    _, report = run_checks(url, "-m", "broker", *FAST)
    reason = "orders.filled_price: no column filled_avg_price in orders (profile catalyst-2025-12)"
    errors = {test["nodeid"].rsplit("::", 1)[1]: test["metadata"]["error"] for test in report["tests"]
              if test["outcome"] == "error"}
    assert {name.split("[")[0] for name in errors} == {"test_fills_match_broker", "test_orders_match_broker"}
    assert all(reason in error for error in errors.values())
    assert not any(test["outcome"] == "failed" for test in report["tests"])


def test_a_layout_without_a_fill_price_compares_quantities_alone(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer,
) -> None:
    url = seeded_db("clean")
    run_sql(url, RENAMED_PRICE)
    result, report = run_checks(url, "-m", "broker", *FAST, "-o", "tradewatch_schema=orders.filled_price = -")
    assert {test["outcome"] for test in report["tests"] if "fills_match" in test["nodeid"]} == {"passed"}
    assert result.ret == pytest.ExitCode.OK


def test_a_submission_time_without_a_zone_is_compared_as_utc(
    seeded_db: Callable[..., str], run_checks: RunChecks, alpaca: AlpacaServer,
) -> None:
    """The broker's times carry a zone; the database's, kept without one, are read as UTC."""
    url = seeded_db("clean")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_get_viewdef('v_trade_pipeline_status')").fetchone()
        assert row is not None
        conn.execute("DROP VIEW v_trade_pipeline_status")
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("ALTER TABLE orders ALTER COLUMN submitted_at TYPE timestamp, "
                     "ALTER COLUMN updated_at TYPE timestamp")
        conn.execute(sql.SQL("CREATE VIEW v_trade_pipeline_status AS {}").format(sql.SQL(row[0])))
    result, report = run_checks(url, "-m", "broker", *FAST)
    assert not [test["nodeid"] for test in report["tests"] if test["outcome"] in ("error", "failed")]
    assert result.ret == pytest.ExitCode.OK
