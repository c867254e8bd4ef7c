"""Each reconciliation rule against the local broker: one desk that agrees, and one change per finding."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.alpaca_server import ACCOUNT_ID, ACCOUNT_NUMBER, AlpacaServer, fill, new_york, order
from tests.broker_book import AS_OF, db_orders, db_positions, deep_snapshot, desk, oid
from tradewatch.broker import BrokerAccount, BrokerSnapshot, order_from_json
from tradewatch.catalogue.broker import ACCOUNT_IN_GOOD_STANDING, RISK_LIMITS_HELD
from tradewatch.findings import Finding, state_of
from tradewatch.reconcile.account import account_blocked, account_figures, buying_power_low, daytrade_limit
from tradewatch.reconcile.cost_basis import avg_price_mismatches
from tradewatch.reconcile.fills import fill_mismatches, fill_order_ids, fills_not_in_db
from tradewatch.reconcile.grace import settling
from tradewatch.reconcile.orders import orders_not_in_db, reconcile_orders
from tradewatch.reconcile.records import DbOrder, DbPosition
from tradewatch.reconcile.risk import risk_limit_breaches
from tradewatch.reconcile.status import order_status_mismatches, severity

Expected = list[tuple[str, str, dict[str, Any]]]


@dataclass
class Desk:
    """Both sides of the desk, for a case to change before the snapshot is taken."""

    server: AlpacaServer
    orders: list[DbOrder]
    positions: list[DbPosition]

    def db_order(self, number: int, **changes: Any) -> None:
        self.orders = [dataclasses.replace(row, **changes) if row.order_id == number else row
                       for row in self.orders]

    def broker_order(self, number: int, **changes: Any) -> None:
        for entry in self.server.orders:
            if entry["id"] == oid(number):
                entry.update(changes)


Rule = Callable[[Desk, BrokerSnapshot], list[Finding]]
RULES: dict[str, Rule] = {
    "status": lambda desk, snap: order_status_mismatches(desk.orders, snap, as_of=AS_OF),
    "fills": lambda desk, snap: fill_mismatches(desk.orders, snap, as_of=AS_OF),
    "fills_not_in_db": lambda desk, snap: fills_not_in_db(desk.orders, snap, as_of=AS_OF),
    "cost_basis": lambda desk, snap: avg_price_mismatches(desk.positions, snap),
    "account_blocked": lambda desk, snap: account_blocked(_account(snap)),
    "buying_power": lambda desk, snap: buying_power_low(_account(snap), minimum=Decimal(1000)),
    "daytrades": lambda desk, snap: daytrade_limit(_account(snap)),
    "risk": lambda desk, snap: risk_limit_breaches(desk.positions, snap, max_open_positions=2,
                                                   max_position_pct=25.02, max_daily_loss_pct=1),
}


def _account(snapshot: BrokerSnapshot) -> Any:
    assert snapshot.account is not None
    return snapshot.account


def _replaced_by_7(status: str, **fields: Any) -> Callable[[Desk], None]:
    """Order 3 replaced by order 7, which ended in status."""
    def change(desk: Desk) -> None:
        desk.broker_order(3, status="replaced", replaced_by=oid(7))
        desk.server.orders.append(order(oid(7), "MSFT", "buy", status, "10", new_york("2025-12-31T10:52"),
                                        replaces=oid(3), **fields))
    return change


def _fill_of_7(desk: Desk) -> None:
    _replaced_by_7("filled", filled_avg_price="399", filled_at=new_york("2025-12-31T10:53"))(desk)
    desk.server.fills.append(fill(oid(7), "MSFT", "buy", "10", "399", new_york("2025-12-31T10:53")))
    desk.db_order(3, status="filled", filled_qty=Decimal(10), filled_avg_price=Decimal(399))


def _both(first: Callable[[Desk], None], then: Callable[[Desk], None]) -> Callable[[Desk], None]:
    def change(desk: Desk) -> None:
        first(desk)
        then(desk)
    return change


SECONDS_AGO = AS_OF - timedelta(seconds=10)
# rule, change to the agreeing desk, expected (type, severity, some keys).
CASES: dict[str, tuple[str, Callable[[Desk], None], Expected]] = {
    # Order status, both directions.
    "status-agrees": ("status", lambda d: None, []),
    "status-db-filled-broker-cancelled": (
        "status", lambda d: d.db_order(4, status="filled"),
        [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 4, "alpaca_order_id": oid(4)})]),
    "status-db-filled-broker-open": (
        "status", lambda d: d.db_order(3, status="filled"),
        [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 3, "symbol": "MSFT"})]),
    "status-db-cancelled-broker-filled": (
        "status", lambda d: d.db_order(2, status="cancelled"),
        [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 2, "position_id": 2})]),
    "status-db-expired-broker-filled": (
        "status", lambda d: d.db_order(2, status="expired"),
        [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 2})]),
    "status-db-open-broker-filled": (
        "status", lambda d: d.db_order(1, status="accepted"),
        [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 1})]),
    "status-db-open-broker-cancelled": (
        "status", lambda d: d.db_order(4, status="new"),
        [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 4})]),
    "status-spelling-is-no-mismatch": ("status", lambda d: d.db_order(4, status="canceled"), []),
    "status-db-changed-within-grace": (
        "status", lambda d: d.db_order(1, status="accepted", updated_at=SECONDS_AGO), []),
    "status-broker-changed-within-grace": (
        "status", lambda d: d.broker_order(3, status="filled", filled_qty="10",
                                           filled_at="2025-12-31T15:59:55.000000Z",
                                           updated_at="2025-12-31T15:59:55.000000Z"), []),
    "status-replacement-filled": (
        "status", _replaced_by_7("filled", filled_avg_price="399", filled_at=new_york("2025-12-31T10:53")),
        [("ORDER_STATUS_MISMATCH", "WARNING", {"order_id": 3})]),
    "status-db-filled-replacement-cancelled": (
        "status", _both(_replaced_by_7("canceled", canceled_at=new_york("2025-12-31T10:53")),
                        lambda d: d.db_order(3, status="filled")),
        [("ORDER_STATUS_MISMATCH", "CRITICAL", {"order_id": 3})]),
    "status-replaced-agrees": (
        "status", _both(_replaced_by_7("new"), lambda d: d.db_order(3, status="replaced")), []),
    # The fills tie-out.
    "fills-agree-partly-before-window": ("fills", lambda d: None, []),
    "fills-qty-short": (
        "fills", lambda d: d.db_order(1, filled_qty=Decimal(90)),
        [("FILL_MISMATCH", "CRITICAL", {"order_id": 1, "alpaca_order_id": oid(1)})]),
    "fills-db-filled-broker-none": (
        "fills", lambda d: d.db_order(3, status="filled", filled_qty=Decimal(10),
                                      filled_avg_price=Decimal(400)),
        [("FILL_MISMATCH", "CRITICAL", {"order_id": 3})]),
    "fills-price-apart": (
        "fills", lambda d: d.db_order(1, filled_avg_price=Decimal(252)),
        [("FILL_MISMATCH", "WARNING", {"order_id": 1})]),
    "fills-price-within-tolerance": ("fills", lambda d: d.db_order(1, filled_avg_price=Decimal(251)), []),
    "fills-price-missing": (
        "fills", lambda d: d.db_order(1, filled_avg_price=None),
        [("FILL_MISMATCH", "WARNING", {"order_id": 1})]),
    "fills-changed-within-grace": (
        "fills", lambda d: d.db_order(1, filled_qty=Decimal(90), updated_at=SECONDS_AGO), []),
    "fills-of-a-replacement": ("fills", _fill_of_7, []),
    # Fills the database lacks.
    "fill-all-recorded": ("fills_not_in_db", lambda d: None, []),
    "fill-order-missing": (
        "fills_not_in_db",
        lambda d: d.server.fills.append(fill(oid(9), "AMD", "buy", "5", "140", new_york("2025-12-31T10:10"))),
        [("FILL_NOT_IN_DB", "CRITICAL", {"alpaca_order_id": oid(9), "symbol": "AMD"})]),
    "fill-order-not-marked-filled": (
        "fills_not_in_db", lambda d: d.db_order(2, status="accepted", filled_qty=Decimal(0)),
        [("FILL_NOT_IN_DB", "CRITICAL", {"order_id": 2, "alpaca_order_id": oid(2)})]),
    "fill-within-grace": (
        "fills_not_in_db",
        lambda d: d.server.fills.append(fill(oid(9), "AMD", "buy", "5", "140", SECONDS_AGO)), []),
    "fill-of-a-replacement-is-claimed": ("fills_not_in_db", _fill_of_7, []),
    "fill-cancelled-after-a-partial-fill": (
        "fills_not_in_db",
        _both(lambda d: d.server.fills.append(fill(oid(4), "MSFT", "buy", "5", "390",
                                                   new_york("2025-12-30T13:00"))),
              lambda d: d.db_order(4, filled_qty=Decimal(5), filled_avg_price=Decimal(390))), []),
    # Cost basis.
    "cost-basis-agrees": ("cost_basis", lambda d: None, []),
    "cost-basis-within-tolerance": (
        "cost_basis", lambda d: setattr(d, "positions", [
            dataclasses.replace(d.positions[0], entry_price=Decimal(251)), d.positions[1]]), []),
    "cost-basis-scale-in": (
        "cost_basis", lambda d: setattr(d, "positions", [
            DbPosition(1, "AAPL", "long", Decimal(50), "open", Decimal(250)),
            DbPosition(3, "AAPL", "long", Decimal(50), "partial", Decimal("250.4")), d.positions[1]]), []),
    "cost-basis-apart": (
        "cost_basis", lambda d: setattr(d, "positions", [
            dataclasses.replace(d.positions[0], entry_price=Decimal(252)), d.positions[1]]),
        [("AVG_PRICE_MISMATCH", "WARNING", {"symbol": "AAPL"})]),
    "cost-basis-missing": (
        "cost_basis", lambda d: setattr(d, "positions", [
            d.positions[0], dataclasses.replace(d.positions[1], entry_price=None)]),
        [("AVG_PRICE_MISMATCH", "WARNING", {"symbol": "TSLA"})]),
    # The account.
    "account-open": ("account_blocked", lambda d: None, []),
    "account-trading-blocked": ("account_blocked", lambda d: d.server.account.update(trading_blocked=True),
                                [("ACCOUNT_BLOCKED", "CRITICAL", {})]),
    "account-blocked": ("account_blocked", lambda d: d.server.account.update(account_blocked=True),
                        [("ACCOUNT_BLOCKED", "CRITICAL", {})]),
    "account-suspended-by-user": (
        "account_blocked", lambda d: d.server.account.update(trade_suspended_by_user=True),
        [("ACCOUNT_BLOCKED", "CRITICAL", {})]),
    "buying-power-at-minimum": ("buying_power", lambda d: d.server.account.update(buying_power="1000"), []),
    "buying-power-low": ("buying_power", lambda d: d.server.account.update(buying_power="999.99"),
                         [("BUYING_POWER_LOW", "WARNING", {})]),
    "daytrades-below-limit": (
        "daytrades", lambda d: d.server.account.update(pattern_day_trader=True, daytrade_count=2), []),
    "daytrades-not-a-day-trader": ("daytrades", lambda d: d.server.account.update(daytrade_count=5), []),
    "daytrades-at-limit": (
        "daytrades", lambda d: d.server.account.update(pattern_day_trader=True, daytrade_count=3),
        [("DAYTRADE_LIMIT", "WARNING", {})]),
    # Risk limits: the desk sits exactly at each (2 positions, AAPL 25.02 % of equity, 0.99 % lost).
    "risk-at-the-limits": ("risk", lambda d: None, []),
    "risk-too-many-positions": (
        "risk", lambda d: d.positions.append(DbPosition(3, "AMD", "long", Decimal(1), "open", Decimal(140))),
        [("RISK_LIMIT_BREACHED", "CRITICAL", {})]),
    "risk-concentrated": (
        "risk", lambda d: d.server.account.update(equity="99990", last_equity="100900"),
        [("RISK_LIMIT_BREACHED", "CRITICAL", {"symbol": "AAPL"})]),
    "risk-daily-loss": (
        "risk", lambda d: d.server.account.update(last_equity="101020.21"),
        [("RISK_LIMIT_BREACHED", "CRITICAL", {})]),
}


@pytest.fixture
def desk_server() -> Iterator[AlpacaServer]:
    with desk() as running:
        yield running


def _projected(findings: list[Finding], expected: Expected) -> Expected:
    names = [keys for _, _, keys in expected] + [{}] * max(0, len(findings) - len(expected))
    return [(f.type, f.severity, {key: f.keys.get(key) for key in keys})
            for f, keys in zip(findings, names, strict=False)]


def _run(server: AlpacaServer, rule: str, change: Callable[[Desk], None]) -> list[Finding]:
    book = Desk(server, db_orders(), db_positions())
    change(book)
    snapshot = deep_snapshot(server, book.orders)
    return RULES[rule](book, snapshot)


@pytest.mark.parametrize("case", CASES)
def test_each_rule_passes_and_fails(desk_server: AlpacaServer, case: str) -> None:
    rule, change, expected = CASES[case]
    found = _run(desk_server, rule, change)
    assert _projected(found, expected) == expected
    for finding in found:
        assert "\n" not in finding.message
        finding.to_json()  # every finding is one the report can carry


def test_the_agreeing_desk_has_no_finding_under_any_rule(desk_server: AlpacaServer) -> None:
    book = Desk(desk_server, db_orders(), db_positions())
    snapshot = deep_snapshot(desk_server)
    assert {rule: run(book, snapshot) for rule, run in RULES.items()} == {rule: [] for rule in RULES}


def test_an_open_order_the_broker_filled_carries_the_fill(desk_server: AlpacaServer) -> None:
    (finding,) = _run(desk_server, "status", lambda d: d.db_order(1, status="accepted"))
    assert finding.fix_data is not None
    assert finding.fix_data.to_json() == {
        "table": "orders", "key": {"order_id": 1}, "guard": {"status": "accepted"},
        "set": {"status": "filled", "filled_qty": 100, "filled_avg_price": "250.2",
                "filled_at": "2025-12-31T14:41:00+00:00"},
        "set_now": ["updated_at"], "source": "broker",
    }


@pytest.mark.parametrize("case", ["status-db-filled-broker-cancelled", "status-replacement-filled"])
def test_where_a_person_must_decide_there_is_no_fix(desk_server: AlpacaServer, case: str) -> None:
    rule, change, _ = CASES[case]
    (finding,) = _run(desk_server, rule, change)
    assert finding.fix_data is None


def test_a_fill_mismatch_fix_takes_the_brokers_fills(desk_server: AlpacaServer) -> None:
    (finding,) = _run(desk_server, "fills", lambda d: d.db_order(1, filled_qty=Decimal(90)))
    assert finding.fix_data is not None
    assert finding.fix_data.to_json()["set"] == {"filled_qty": 100, "filled_avg_price": "250.2"}
    assert finding.fix_data.to_json()["guard"] == {"filled_qty": 90, "filled_avg_price": "250.2"}
    assert finding.details["fills"] == 2


def test_the_rules_name_the_fill_orders_to_read(desk_server: AlpacaServer) -> None:
    _fill_of_7(Desk(desk_server, [], []))
    snapshot = deep_snapshot(desk_server)
    assert fill_order_ids(snapshot) == {oid(1), oid(2), oid(5), oid(6), oid(7), oid(3)}


def test_rules_refuse_a_snapshot_without_their_data() -> None:
    bare = BrokerSnapshot((), {})
    with pytest.raises(ValueError, match="holds no fills"):
        fill_mismatches([], bare)
    with pytest.raises(ValueError, match="holds no account"):
        risk_limit_breaches([], bare, max_daily_loss_pct=1)
    assert risk_limit_breaches(db_positions(), bare) == []  # every limit is off unless given


def test_no_account_number_or_id_reaches_a_finding_or_the_figures(desk_server: AlpacaServer) -> None:
    desk_server.account.update(trading_blocked=True, buying_power="-5", pattern_day_trader=True,
                               daytrade_count=4, equity="1000")
    book = Desk(desk_server, db_orders(), db_positions())
    snapshot = deep_snapshot(desk_server)
    assert snapshot.account is not None
    figures = account_figures(snapshot.account)
    assert figures == {"equity": Decimal(1000), "cash": Decimal(90000), "buying_power": Decimal(-5)}
    findings = [f for run in RULES.values() for f in run(book, snapshot)]
    assert {f.type for f in findings} >= {"ACCOUNT_BLOCKED", "BUYING_POWER_LOW", "DAYTRADE_LIMIT",
                                          "RISK_LIMIT_BREACHED"}
    text = json.dumps([f.to_json() for f in findings]) + repr(figures)
    assert ACCOUNT_NUMBER not in text
    assert ACCOUNT_ID not in text


AROUND_GRACE = [(10, False), (40, True)]  # seconds before as-of, and whether it is judged yet


@pytest.mark.parametrize(("seconds", "judged"), AROUND_GRACE, ids=["within-grace", "after-grace"])
def test_an_order_the_broker_does_not_know_yet_waits_out_the_grace(
    desk_server: AlpacaServer, seconds: int, judged: bool
) -> None:
    """Just submitted by the database's clock, the broker may not have it yet: not judged for 30 s."""
    moment = AS_OF - timedelta(seconds=seconds)
    row = DbOrder(40, None, oid(40), "AMD", "new", submitted_at=moment, updated_at=moment)
    snapshot = deep_snapshot(desk_server, [*db_orders(), row])
    found = reconcile_orders([row], snapshot, "not_found", as_of=AS_OF)
    assert [f.type for f in found] == (["ORDER_NOT_FOUND"] if judged else [])


@pytest.mark.parametrize(("seconds", "judged"), AROUND_GRACE, ids=["within-grace", "after-grace"])
def test_a_broker_order_the_database_has_not_written_yet_waits_out_the_grace(
    desk_server: AlpacaServer, seconds: int, judged: bool
) -> None:
    """Just placed at the broker, the database may still be writing it: not judged for 30 s."""
    desk_server.orders.append(order(oid(41), "AMD", "buy", "new", "5", AS_OF - timedelta(seconds=seconds)))
    snapshot = deep_snapshot(desk_server)
    known = {row.broker_id for row in db_orders()}
    found = orders_not_in_db(snapshot, known, as_of=AS_OF)
    assert [f.keys["alpaca_order_id"] for f in found] == ([oid(41)] if judged else [])


@pytest.mark.parametrize("first", [True, False], ids=["duplicate-first", "duplicate-last"])
@pytest.mark.parametrize(("number", "symbol", "status", "severity"), [
    (1, "AAPL", "new", "WARNING"),  # still open in the database, filled at the broker
    (2, "TSLA", "cancelled", "CRITICAL"),  # cancelled in the database, filled at the broker
], ids=["open-duplicate", "cancelled-duplicate"])
def test_two_rows_with_one_broker_id_are_each_compared(
    desk_server: AlpacaServer, first: bool, number: int, symbol: str, status: str, severity: str
) -> None:
    """A second row carrying a filled order's broker id is judged on its own, in either row order."""
    twin = DbOrder(10 + number, None, oid(number), symbol, status, Decimal(0), None,
                   new_york("2025-12-31T09:40"), new_york("2025-12-31T09:41"))
    rows = [twin, *db_orders()] if first else [*db_orders(), twin]
    snapshot = deep_snapshot(desk_server, rows)
    found = order_status_mismatches(rows, snapshot, as_of=AS_OF)
    assert [(f.keys["order_id"], f.severity) for f in found] == [(10 + number, severity)]


@pytest.mark.parametrize(("number", "filled", "judged"), [
    (1, "90", True),  # both AAPL fills are in the window (the first one's cumulative is its own)
    (5, "20", False),  # NVDA filled 10 before the window: its window's fills are not all of it
], ids=["all-fills-in-window", "filled-partly-before"])
def test_an_order_without_a_submission_time_is_tied_out_by_its_fills(
    desk_server: AlpacaServer, number: int, filled: str, judged: bool
) -> None:
    """Neither side says when it was submitted: the broker's cumulative quantities tell whether the
    window holds all of its fills, so a wrong quantity is still found."""
    rows = [dataclasses.replace(row, submitted_at=None, filled_qty=Decimal(filled))
            if row.order_id == number else row for row in db_orders()]
    snapshot = deep_snapshot(desk_server, rows)
    found = fill_mismatches(rows, snapshot, as_of=AS_OF)
    assert [(f.keys["order_id"], f.severity) for f in found] == ([(number, "CRITICAL")] if judged else [])


def test_a_moment_no_clock_has_reached_is_no_race() -> None:
    """Within the grace before as-of, or later up to now, a change may still be settling; a moment
    past the wall clock (a year 2099 written by a broken clock) silences no comparison."""
    grace = timedelta(seconds=30)
    assert settling(AS_OF, grace, [AS_OF - timedelta(seconds=10)])
    assert settling(AS_OF, grace, [AS_OF + timedelta(days=1)])  # written since this run's as-of
    assert not settling(AS_OF, grace, [AS_OF - timedelta(seconds=40)])
    assert not settling(AS_OF, grace, [datetime(2099, 1, 1, tzinfo=UTC)])
    assert not settling(AS_OF, grace, [datetime.max.replace(tzinfo=UTC)])


@pytest.mark.parametrize("db_status", ["cancelled", "expired", "rejected", "error", "not_found"])
def test_an_order_the_database_ended_unfilled_that_the_broker_filled_is_critical(db_status: str) -> None:
    filled = order_from_json(order(oid(60), "AMD", "buy", "filled", "5", AS_OF - timedelta(hours=1)))
    assert severity(db_status, filled) == "CRITICAL"
    assert severity("new", filled) == "WARNING"  # still open in the database: its fix is the fill


def _low_account(buying_power: str, equity: str = "10000") -> BrokerAccount:
    return BrokerAccount(Decimal(equity), Decimal("20000"), Decimal(buying_power), Decimal(buying_power),
                         False, False, False, False, 0)


def test_an_acknowledged_low_buying_power_holds_while_the_figures_move() -> None:
    """What an acknowledgement pins is the breach, not figures every fill and price moves."""
    [before] = buying_power_low(_low_account("-1250.00"))
    [after] = buying_power_low(_low_account("-1249.37"))
    volatile = ACCOUNT_IN_GOOD_STANDING.volatile
    assert state_of(before.details, volatile) == state_of(after.details, volatile)
    assert state_of(before.details, volatile) != state_of(
        buying_power_low(_low_account("-5"), minimum=Decimal(100))[0].details, volatile)


def test_each_risk_limit_breached_has_a_fingerprint_of_its_own(desk_server: AlpacaServer) -> None:
    """Two breaches without an entity key (too many positions, the day's loss) are two findings to
    acknowledge or alert on, not one; the day's loss is pinned by the limit, not the equity."""
    snapshot = deep_snapshot(desk_server)
    assert snapshot.account is not None
    falling = dataclasses.replace(snapshot, account=dataclasses.replace(
        snapshot.account, equity=snapshot.account.last_equity * Decimal("0.9")))
    found = risk_limit_breaches(db_positions(), falling, max_open_positions=1, max_daily_loss_pct=1)
    by_limit = {finding.details["limit"]: finding for finding in found}
    assert set(by_limit) == {"max_open_positions", "max_daily_loss_pct"}
    assert by_limit["max_open_positions"].fingerprint != by_limit["max_daily_loss_pct"].fingerprint
    lower = dataclasses.replace(snapshot, account=dataclasses.replace(
        snapshot.account, equity=snapshot.account.last_equity * Decimal("0.8")))
    [worse] = risk_limit_breaches(db_positions(), lower, max_daily_loss_pct=1)
    volatile = RISK_LIMITS_HELD.volatile
    assert state_of(worse.details, volatile) == state_of(by_limit["max_daily_loss_pct"].details, volatile)
