"""The broker checks on each Alpaca layout against the local Alpaca-shaped server: the clean book agrees,
each disagreement is found by its check alone, with its fix in the layout's names and words; on the
Hong Kong desk they do not apply, whatever is configured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.alpaca_server import AlpacaServer, account, fill, order, position
from tests.conftest import RunChecks
from tests.layout_books import BOOKS, FAST, broker_id, no_broker_env, serving
from tests.layouts import (
    LAYOUTS,
    Found,
    assert_written_in_layout,
    checks_in,
    essentials,
    found,
    layout_database,
)
from tests.layouts import nodeid as check_id
from tests.pg import ScratchServer
from tradewatch import catalogue
from tradewatch.schema_map import catalog
from tradewatch.schema_map.resolve import resolve

Change = Callable[[AlpacaServer], None]


@dataclass(frozen=True)
class Disagreement:
    """A change to a layout's clean book (and the run's options), and what the broker checks then find."""

    change: Change
    # Node ids of the checks that find something, each with every finding it reports.
    findings: dict[str, list[Found]]
    args: tuple[str, ...] = ()
    # The value each fix sets on the order's status, as the layout spells it (None: no fix offered).
    status_fix: dict[int, str | None] = field(default_factory=dict)


def _drop_position(symbol: str) -> Change:
    def change(server: AlpacaServer) -> None:
        server.positions = [p for p in server.positions if p["symbol"] != symbol]
    return change


def _hold(symbol: str, qty: str, price: str = "100") -> Change:
    def change(server: AlpacaServer) -> None:
        _drop_position(symbol)(server)
        server.positions.append(position(symbol, qty, price=price))
    return change


def _order(number_id: str, **fields: Any) -> Change:
    def change(server: AlpacaServer) -> None:
        for entry in server._all_orders():
            if entry["id"] == number_id:
                entry.update(fields)
    return change


def _drop_order(number_id: str) -> Change:
    def change(server: AlpacaServer) -> None:
        server.orders = [entry for entry in server.orders if entry["id"] != number_id]
    return change


def _fills(number_id: str, *replacement: dict[str, Any]) -> Change:
    def change(server: AlpacaServer) -> None:
        server.fills = [entry for entry in server.fills if entry["order_id"] != number_id] + list(replacement)
    return change


def _add(*orders: dict[str, Any], fills: tuple[dict[str, Any], ...] = ()) -> Change:
    def change(server: AlpacaServer) -> None:
        server.orders.extend(orders)
        server.fills.extend(fills)
    return change


def _account(**fields: Any) -> Change:
    def change(server: AlpacaServer) -> None:
        server.account = account(**fields)
    return change


def _positions(case: str, *findings: Found) -> dict[str, list[Found]]:
    return {check_id("positions_match_broker", case): list(findings)}


def _orders(case: str, *findings: Found) -> dict[str, list[Found]]:
    return {check_id("orders_match_broker", case): list(findings)}


def _filled(case: str, *findings: Found) -> dict[str, list[Found]]:
    return {check_id("fills_match_broker", case): list(findings)}


def _cost_basis(*findings: Found) -> dict[str, list[Found]]:
    return {check_id("cost_basis_matches_broker"): list(findings)}


UNKNOWN = "e0000000-0000-4000-8000-000000000001"
ACCOUNT_CHECKS = {
    check_id("account_in_good_standing", "blocked"): [found("ACCOUNT_BLOCKED", "CRITICAL")],
    check_id("account_in_good_standing", "buying_power"): [found("BUYING_POWER_LOW", "WARNING")],
    check_id("account_in_good_standing", "daytrades"): [found("DAYTRADE_LIMIT", "WARNING")],
}
TROUBLED_ACCOUNT = _account(trading_blocked=True, buying_power="-500", pattern_day_trader=True,
                            daytrade_count=3, equity="95000", last_equity="101000")
# One symbol at most, none over 7 % of equity (TSLA is 7.9 % on the 04 desk, 8.4 % on the 02 one),
# a day's loss of 3 % at most (the troubled account lost 5.9 %).
RISK_LIMITS = ("--max-open-positions=1", "--max-position-pct=7", "--max-daily-loss-pct=3")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _d(number: int) -> str:
    return broker_id("d", number)


def _c(number: int) -> str:
    return broker_id("c", number)


def _not_in_db(type_: str, symbol: str) -> Found:
    """A broker order (or its fill) that no database order carries."""
    return found(type_, "CRITICAL", alpaca_order_id=UNKNOWN, symbol=symbol)


def _keys(letter: str, order_id: int, position_id: int | None, symbol: str) -> dict[str, Any]:
    return {"order_id": order_id, "position_id": position_id,
            "alpaca_order_id": broker_id(letter, order_id), "symbol": symbol}


DISAGREEMENTS: dict[str, dict[str, Disagreement]] = {
    "catalyst-2026-04": {
        "phantom": Disagreement(
            _drop_position("TSLA"),
            _positions("db_only", found("PHANTOM_POSITION", "CRITICAL", position_id=2, symbol="TSLA"))),
        "orphan": Disagreement(
            _hold("AMD", "50", "163"),
            _positions("broker_only", found("ORPHAN_POSITION", "CRITICAL", symbol="AMD"))),
        "quantity": Disagreement(
            _hold("NVDA", "28", "180.5"),
            _positions("quantity", found("QTY_MISMATCH", "WARNING", symbol="NVDA"))),
        "side": Disagreement(
            _hold("TSLA", "30", "250"),
            _positions("side", found("SIDE_MISMATCH", "CRITICAL", symbol="TSLA"))),
        # The broker cancelled the AMZN entry the database has as accepted: the fix says so in the
        # layout's spelling.
        "status": Disagreement(
            _order(_d(10), status="canceled", canceled_at="2026-04-15T14:50:00.000000Z",
                   updated_at="2026-04-15T14:50:00.000000Z"),
            _orders("status", found("ORDER_STATUS_MISMATCH", "WARNING", **_keys("d", 10, None, "AMZN"))),
            status_fix={10: "cancelled"}),
        # The layout has no word for an order the broker does not know: no fix is offered.
        "not_found": Disagreement(
            _drop_order(_d(10)),
            _orders("not_found", found("ORDER_NOT_FOUND", "WARNING", **_keys("d", 10, None, "AMZN"))),
            status_fix={10: None}),
        "not_in_db": Disagreement(
            _add(order(UNKNOWN, "AMD", "buy", "new", "5", _at("2026-04-15T10:40-04:00"), order_type="limit")),
            _orders("not_in_db", _not_in_db("ORDER_NOT_IN_DB", "AMD"))),
        "fill_price": Disagreement(
            _fills(_d(4), fill(_d(4), "NVDA", "buy", "10", "183", _at("2026-04-15T10:15-04:00"))),
            _filled("quantity_and_price", found("FILL_MISMATCH", "WARNING", **_keys("d", 4, 1, "NVDA")))),
        "fill_quantity": Disagreement(
            _fills(_d(6), fill(_d(6), "TSLA", "buy", "8", "248", _at("2026-04-15T10:20-04:00"))),
            _filled("quantity_and_price", found("FILL_MISMATCH", "CRITICAL", **_keys("d", 6, 2, "TSLA")))),
        "fill_not_in_db": Disagreement(
            _add(order(UNKNOWN, "MSFT", "buy", "filled", "5", _at("2026-04-15T10:40-04:00"),
                       filled_avg_price="420", filled_at=_at("2026-04-15T10:40-04:00")),
                 fills=(fill(UNKNOWN, "MSFT", "buy", "5", "420", _at("2026-04-15T10:40-04:00")),)),
            _filled("not_in_db", _not_in_db("FILL_NOT_IN_DB", "MSFT"))),
        "cost_basis": Disagreement(
            _hold("NVDA", "30", "182"),
            _cost_basis(found("AVG_PRICE_MISMATCH", "WARNING", symbol="NVDA"))),
        "account": Disagreement(TROUBLED_ACCOUNT, ACCOUNT_CHECKS),
        "risk": Disagreement(TROUBLED_ACCOUNT, {
            **ACCOUNT_CHECKS,
            check_id("risk_limits_held", "open_positions"): [found("RISK_LIMIT_BREACHED", "CRITICAL")],
            check_id("risk_limits_held", "position_size"): [
                found("RISK_LIMIT_BREACHED", "CRITICAL", symbol="TSLA")],
            check_id("risk_limits_held", "daily_loss"): [found("RISK_LIMIT_BREACHED", "CRITICAL")],
        }, args=RISK_LIMITS),
    },
    "catalyst-2026-02": {
        "phantom": Disagreement(
            _drop_position("AAPL"),
            _positions("db_only", found("PHANTOM_POSITION", "CRITICAL", position_id=1, symbol="AAPL"))),
        "orphan": Disagreement(
            _hold("MSFT", "15", "415"),
            _positions("broker_only", found("ORPHAN_POSITION", "CRITICAL", symbol="MSFT"))),
        "quantity": Disagreement(
            _hold("TSLA", "-19", "400"),
            _positions("quantity", found("QTY_MISMATCH", "WARNING", symbol="TSLA"))),
        "side": Disagreement(
            _hold("AAPL", "-10", "230"),
            _positions("side", found("SIDE_MISMATCH", "CRITICAL", symbol="AAPL"))),
        # The broker expired the TSLA entry; this layout has no word for that and calls it cancelled.
        "status": Disagreement(
            _order(_c(11), status="expired", updated_at="2026-02-10T15:50:00.000000Z"),
            _orders("status", found("ORDER_STATUS_MISMATCH", "WARNING", **_keys("c", 11, None, "TSLA"))),
            status_fix={11: "cancelled"}),
        "not_found": Disagreement(
            _drop_order(_c(2)),
            _orders("not_found", found("ORDER_NOT_FOUND", "WARNING", **_keys("c", 2, 1, "AAPL"))),
            status_fix={2: None}),
        "not_in_db": Disagreement(
            _add(order(UNKNOWN, "MSFT", "buy", "accepted", "5", _at("2026-02-10T10:40-05:00"),
                       order_type="limit")),
            _orders("not_in_db", _not_in_db("ORDER_NOT_IN_DB", "MSFT"))),
        "fill_price": Disagreement(
            _fills(_c(3), fill(_c(3), "TSLA", "sell", "20", "403", _at("2026-02-10T09:50-05:00"))),
            _filled("quantity_and_price", found("FILL_MISMATCH", "WARNING", **_keys("c", 3, 2, "TSLA")))),
        "fill_quantity": Disagreement(
            _fills(_c(1), fill(_c(1), "AAPL", "buy", "9", "230", _at("2026-02-10T09:35-05:00"))),
            _filled("quantity_and_price", found("FILL_MISMATCH", "CRITICAL", **_keys("c", 1, 1, "AAPL")))),
        # A partial fill of the TSLA entry the database still has as submitted, nothing filled.
        "fill_not_in_db": Disagreement(
            _add(fills=(fill(_c(11), "TSLA", "sell", "2", "402", _at("2026-02-10T10:59-05:00"),
                             kind="partial_fill", leaves_qty="3"),)),
            _filled("not_in_db", found("FILL_NOT_IN_DB", "CRITICAL", **_keys("c", 11, None, "TSLA")))),
        "cost_basis": Disagreement(
            _hold("TSLA", "-20", "405"),
            _cost_basis(found("AVG_PRICE_MISMATCH", "WARNING", symbol="TSLA"))),
        "account": Disagreement(TROUBLED_ACCOUNT, ACCOUNT_CHECKS),
        "risk": Disagreement(TROUBLED_ACCOUNT, {
            **ACCOUNT_CHECKS,
            check_id("risk_limits_held", "open_positions"): [found("RISK_LIMIT_BREACHED", "CRITICAL")],
            check_id("risk_limits_held", "position_size"): [
                found("RISK_LIMIT_BREACHED", "CRITICAL", symbol="TSLA")],
            check_id("risk_limits_held", "daily_loss"): [found("RISK_LIMIT_BREACHED", "CRITICAL")],
        }, args=RISK_LIMITS),
    },
}


def _broker_checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: test for name, test in checks_in(report).items() if name.startswith("test_broker.py::")}


@pytest.mark.parametrize("profile", BOOKS)
def test_clean_book_agrees(
    profile: str, pg_server: ScratchServer, run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every broker check applies and passes but the risk limits, which are off unless set; one
    snapshot, nothing looked up order by order."""
    layout = LAYOUTS[profile]
    url = layout_database(pg_server, layout)
    with serving(BOOKS[profile](), monkeypatch) as server:
        _, report = run_checks(url, "-m", "broker", *FAST, as_of=layout.as_of)
    outcomes = {name: test["outcome"] for name, test in _broker_checks(report).items()}
    risk = {name for name in outcomes if "risk_limits_held" in name}
    assert {name: outcome for name, outcome in outcomes.items() if name not in risk} == dict.fromkeys(
        set(outcomes) - risk, "passed")
    assert set(outcomes[name] for name in risk) == {"skipped"}
    assert report["tradewatch"]["broker"]["mode"] == "live"
    assert server.count("/v2/orders/") == 0


CASES = [pytest.param(profile, name, id=f"{profile}-{name}")
         for profile, cases in DISAGREEMENTS.items() for name in cases]


@pytest.mark.parametrize(("profile", "name"), CASES)
def test_each_disagreement_is_found_by_its_check_alone(
    profile: str, name: str, pg_server: ScratchServer, run_checks: RunChecks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layout = LAYOUTS[profile]
    case = DISAGREEMENTS[profile][name]
    url = layout_database(pg_server, layout)
    book = BOOKS[profile]()
    case.change(book)
    with serving(book, monkeypatch):
        _, report = run_checks(url, "-m", "broker", *FAST, *case.args, as_of=layout.as_of)
    tests = _broker_checks(report)
    for check, test in tests.items():
        metadata = test["metadata"]
        assert "error" not in metadata, (check, metadata["error"])
        if "not_applicable" in metadata:
            assert check.startswith("test_broker.py::test_risk_limits_held"), check
            continue
        assert [essentials(f) for f in metadata["findings"]] == case.findings.get(check, []), check
    fixes = {f["order_id"]: f for test in tests.values() for f in test["metadata"].get("findings", [])
             if f.get("order_id") in case.status_fix}
    for order_id, status in case.status_fix.items():
        fix = fixes[order_id]["fix_data"]
        assert (fix["set"]["status"] if fix else None) == status, fixes[order_id]["fix"]
    for test in tests.values():
        for finding in test["metadata"].get("findings", []):
            if finding["fix_data"] is not None:
                assert_written_in_layout(layout.profile_of, finding["fix_data"])


@pytest.mark.parametrize("profile", BOOKS)
def test_every_applicable_broker_check_has_a_disagreement(profile: str, pg_server: ScratchServer) -> None:
    """Each broker check that applies to the layout (the catalogue says which) is made to find
    something by one of the layout's disagreements, a rule added later included."""
    with psycopg.connect(layout_database(pg_server, LAYOUTS[profile])) as conn:
        smap = resolve(catalog.read(conn), profile, ())
    applicable = {check_id(rule.name, case) for rule in catalogue.RULES if rule.broker
                  for case in (rule.cases or (None,)) if not catalogue.gaps(rule, case, smap)}
    shown = {check for case in DISAGREEMENTS[profile].values() for check in case.findings}
    assert applicable == shown


@pytest.mark.parametrize("broker", ["alpaca-configured", "required-but-absent"])
def test_hong_kong_desk_has_no_alpaca_reconciliation(
    broker: str, pg_server: ScratchServer, run_checks: RunChecks, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the broker settings say, every broker check is not applicable (the desk trades through
    Moomoo), never an error; nothing is asked of an Alpaca account."""
    layout = LAYOUTS["catalyst-international"]
    url = layout_database(pg_server, layout)
    no_broker_env(monkeypatch)
    reason = "the catalyst-international desk trades through moomoo, not Alpaca"
    if broker == "alpaca-configured":
        with serving(BOOKS["catalyst-2026-04"](), monkeypatch) as server:
            result, report = run_checks(url, "-m", "broker", *FAST, as_of=layout.as_of)
        assert server.count() == 0
    else:
        result, report = run_checks(url, "-m", "broker", "--require-broker", as_of=layout.as_of)
    tests = _broker_checks(report)
    assert len(tests) == sum(len(rule.nodeids) for rule in catalogue.RULES if rule.broker)
    assert {(test["outcome"], test["metadata"]["not_applicable"]) for test in tests.values()} == {
        ("skipped", reason)}
    assert "error" not in report["tradewatch"]
    assert result.ret == 0
    assert f"{len(tests)} check(s) not applicable to this layout:\n  {reason}" in result.stdout.str()
