"""Broker rules: the database's orders, fills, positions and account agree with the run's one snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from tradewatch import vocabulary as v
from tradewatch.broker import BrokerAccount, BrokerSnapshot, fold_id
from tradewatch.catalogue.rule import Context, EvaluatedRule, Row, Sources
from tradewatch.catalogue.scope import Scope
from tradewatch.errors import CheckCannotRun
from tradewatch.findings import Finding
from tradewatch.reconcile import account, cost_basis, fills, risk, status
from tradewatch.reconcile.grace import aware
from tradewatch.reconcile.orders import ORDER_KINDS, orders_not_in_db, reconcile_orders
from tradewatch.reconcile.positions import POSITION_KINDS, reconcile_positions
from tradewatch.reconcile.records import DbOrder, DbPosition
from tradewatch.schema_map.resolve import SchemaMap


def alpaca(smap: SchemaMap) -> str | None:
    """Why the Alpaca reconciliation does not apply to this layout's desk."""
    if smap.profile.broker == "alpaca":
        return None
    return f"the {smap.profile.name} desk trades through {smap.profile.broker}, not Alpaca"


def _with_symbols(smap: SchemaMap) -> str | None:
    # Another broker's desk is ruled out for every broker rule (catalogue.gaps); here, symbols.
    if smap.has("positions.symbol") or (smap.has("positions.security") and smap.has("securities.symbol")):
        return None
    return f"the {smap.profile.name} layout gives positions no symbol"


# --- what the rules read of the database ----------------------------------------------------


def _live(scope: Scope, ctx: Context) -> sql.Composable:
    return scope.is_one_of("positions.status", v.LIVE_POSITION_STATUSES)


def _open_at_broker(scope: Scope, ctx: Context) -> sql.Composable:
    # An unknown status counts as open: the broker is asked rather than the order passed over.
    return sql.SQL("{} IS NOT NULL AND {} IS NOT TRUE").format(
        scope.col("orders.broker_id"), scope.is_one_of("orders.status", v.TERMINAL_STATUSES))


def _ended_lately(scope: Scope, ctx: Context) -> sql.Composable:
    """Ended inside the broker's window (by its last time): compared both ways with the broker's."""
    moments = [scope.col(f"orders.{name}") for name in
               ("updated_at", "filled_at", "cancelled_at", "expired_at", "submitted_at", "created_at")
               if scope.has(f"orders.{name}")]
    if not moments:
        return sql.SQL("false")
    # The time first: most orders ended long ago, and are then passed over without their status.
    return sql.SQL("{} IS NOT NULL AND GREATEST({}) >= {} AND {}").format(
        scope.col("orders.broker_id"), sql.SQL(", ").join(moments), scope.param(ctx.broker_since),
        scope.is_one_of("orders.status", v.TERMINAL_STATUSES))


def live_positions(sources: Sources) -> list[DbPosition]:
    """The database's live positions from the positions read."""
    return [_position(row) for row in sources.wanted("positions", "live")]


def _position(row: Row) -> DbPosition:
    side = row["side_meaning"] or row["side"]
    quantity = Decimal(row["quantity"]) if row["quantity"] is not None else Decimal(0)
    entry = Decimal(row["entry_price"]) if row["entry_price"] is not None else None
    return DbPosition(row["position_id"], row["symbol"], str(side), quantity, row["status"], entry)


def _order(row: Row) -> DbOrder:
    return DbOrder(
        row["order_id"], row["position_id"], row["alpaca_order_id"], row["symbol"],
        row["status"] if row["status"] is not None else "NULL",
        filled_qty=_decimal(row["filled_qty"]), filled_avg_price=_decimal(row["filled_price"]),
        submitted_at=_moment(row["submitted_at"]), updated_at=_moment(row["updated_at"]),
        client_order_id=row["alpaca_client_order_id"], meaning=row["status_meaning"],
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _moment(value: datetime | None) -> datetime | None:
    """A stored time; one without a zone read as UTC, as the broker's times are compared."""
    return None if value is None else aware(value)


def open_orders(sources: Sources) -> list[DbOrder]:
    """The database's orders the broker should still hold, from the orders read."""
    return [_order(row) for row in sources.wanted("orders", "open_at_broker")]


def compared_orders(sources: Sources, snapshot: BrokerSnapshot) -> list[DbOrder]:
    """The database's orders to compare both ways: the open ones, those that ended inside the window,
    and every one carrying a broker id the broker holds open or filled (looked up by index, so an
    order the database ended long ago that the broker still holds is compared too), read once a run."""
    found: list[DbOrder] = sources.once("compared_orders", lambda: _compared_orders(sources, snapshot))
    return found


def _compared_orders(sources: Sources, snapshot: BrokerSnapshot) -> list[DbOrder]:
    known = {row["order_id"]: _order(row) for name in ("open_at_broker", "ended_lately")
             for row in sources.wanted("orders", name)}
    held = {order.broker_id for order in known.values()}
    asked = [*fills.fill_order_ids(snapshot), *_held_open(snapshot)]
    for row in _orders_by_broker_id(sources, sorted({fold_id(i) for i in asked} - held)):
        known.setdefault(row.order_id, row)
    return sorted(known.values(), key=lambda order: order.order_id)


def _held_open(snapshot: BrokerSnapshot) -> list[str]:
    """The ids of the orders the broker holds open."""
    return [order.id for order in snapshot.orders.values() if order.is_open]


# What an order looked up by broker id carries: the read's names and the logical fields.
_PICKED = (("order_id", "id"), ("position_id", "position"), ("alpaca_order_id", "broker_id"),
           ("own_symbol", "symbol"), ("security_id", "security"), ("status", "status"),
           ("filled_qty", "filled_qty"), ("filled_price", "filled_price"), ("submitted_at", "submitted_at"),
           ("updated_at", "updated_at"), ("alpaca_client_order_id", "client_id"))


def _orders_by_broker_id(sources: Sources, broker_ids: Sequence[str]) -> list[DbOrder]:
    """The database's orders carrying these broker ids, whatever their status."""
    if not broker_ids:
        return []
    smap = sources.ctx.map
    # Matched as the snapshot matches them, case and spaces aside (migrations/0006 indexes it).
    folded = sql.SQL("lower(btrim(o.{}::text))").format(smap.column("orders.broker_id"))
    picked = [sql.SQL("{} AS {}").format(
        sql.SQL("o.{}").format(smap.column(f"orders.{field}")) if smap.has(f"orders.{field}")
        else sql.SQL("NULL"), sql.Identifier(name)) for name, field in _PICKED]
    query = sql.SQL("SELECT {} FROM {} AS o WHERE {} = ANY(%(ids)s)").format(
        sql.SQL(", ").join(picked), smap.table("orders"), folded)
    ids = [fold_id(order_id) for order_id in broker_ids]
    conn = sources.connection()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(query, {"ids": ids}).fetchall()
    symbols = sources.symbols()
    words = smap.vocabulary
    return [_order({**row, "symbol": row["own_symbol"] or symbols.get(row["security_id"]),
                    "status_meaning": words.canonical("orders.status", row["status"])}) for row in rows]


def _in_layout(sources: Sources, found: Sequence[Finding]) -> list[Finding]:
    """The reconciliation's findings with their fixes in this layout's names."""
    ctx = sources.ctx
    return [dataclasses.replace(finding, fix_data=ctx.translated(finding.fix_data)) for finding in found]


def _grace(sources: Sources, rule: str) -> timedelta:
    """The rule's grace window: its own setting, else the run's."""
    return timedelta(seconds=sources.ctx.threshold(rule, "broker_grace_seconds"))


def _account(snapshot: BrokerSnapshot) -> BrokerAccount:
    if snapshot.account is None:
        raise CheckCannotRun("the broker snapshot holds no account")
    return snapshot.account


# --- the rules --------------------------------------------------------------------------------


def _positions(sources: Sources, case: str | None) -> Sequence[Finding]:
    assert case is not None
    threshold = sources.ctx.threshold(POSITIONS_MATCH_BROKER.name, "qty_mismatch_pct")
    found = reconcile_positions(live_positions(sources), sources.snapshot(), case, threshold)
    return _in_layout(sources, found)


POSITIONS_MATCH_BROKER = EvaluatedRule(
    "positions_match_broker", "test_positions_match_broker", "broker",
    ("PHANTOM_POSITION", "ORPHAN_POSITION", "QTY_MISMATCH", "SIDE_MISMATCH"), "CRITICAL", "broker",
    "per symbol, the signed sum of the database's live positions equals the broker's signed "
    "quantity (quantity: WARNING below the threshold)",
    cases=POSITION_KINDS, cases_about=", ".join(f"`{c}`" for c in POSITION_KINDS),
    needs=("positions.status", "positions.side", "positions.quantity"), requires=_with_symbols,
    wants={"positions": {"live": _live}}, thresholds=("qty_mismatch_pct",), broker=True,
    evaluate=_positions,
)


def _orders(sources: Sources, case: str | None) -> Sequence[Finding]:
    snapshot = sources.snapshot()
    as_of, grace = sources.ctx.as_of, _grace(sources, ORDERS_MATCH_BROKER.name)
    if case == "not_in_db":
        # The compared orders hold every database order carrying an id the broker holds open.
        known = {order.broker_id for order in compared_orders(sources, snapshot)}
        return orders_not_in_db(snapshot, known, as_of=as_of, grace=grace)
    if case == "status":
        found = status.order_status_mismatches(compared_orders(sources, snapshot), snapshot,
                                               as_of=as_of, grace=grace, words=sources.ctx.map.vocabulary)
        return _in_layout(sources, found)
    assert case is not None
    found = reconcile_orders(open_orders(sources), snapshot, case, as_of=as_of, grace=grace)
    return _in_layout(sources, found)


ORDERS_MATCH_BROKER = EvaluatedRule(
    "orders_match_broker", "test_orders_match_broker", "broker",
    ("ORDER_STATUS_MISMATCH", "ORDER_NOT_FOUND", "ORDER_NOT_IN_DB"), "CRITICAL", "broker",
    "the database's open orders, and those ended inside the window, have the broker's status (a fill "
    "one side denies is CRITICAL, the rest WARNING; a replaced order is judged by its replacement); "
    "its open orders exist at the broker (WARNING); the broker's open orders exist in the database "
    "(CRITICAL); an order changed within the grace window is not judged yet",
    cases=ORDER_KINDS, cases_about=", ".join(f"`{c}`" for c in ORDER_KINDS),
    needs=("orders.broker_id", "orders.status"),
    uses=("orders.submitted_at", "orders.updated_at", "orders.filled_qty", "orders.filled_price"),
    wants={"orders": {"open_at_broker": _open_at_broker, "ended_lately": _ended_lately}},
    thresholds=("broker_grace_seconds",), broker=True, evaluate=_orders,
)


def _fills(sources: Sources, case: str | None) -> Sequence[Finding]:
    snapshot = sources.snapshot()
    rows = compared_orders(sources, snapshot)
    grace, as_of = _grace(sources, FILLS_MATCH_BROKER.name), sources.ctx.as_of
    if case == "not_in_db":
        return _in_layout(sources, fills.fills_not_in_db(rows, snapshot, as_of=as_of, grace=grace))
    tolerance = sources.ctx.threshold(FILLS_MATCH_BROKER.name, "fill_price_tolerance_pct")
    return _in_layout(sources, fills.fill_mismatches(
        rows, snapshot, as_of=as_of, grace=grace, price_tolerance_pct=tolerance,
        compare_prices=sources.ctx.map.has("orders.filled_price")))


FILLS_MATCH_BROKER = EvaluatedRule(
    "fills_match_broker", "test_fills_match_broker", "broker", ("FILL_MISMATCH", "FILL_NOT_IN_DB"),
    "CRITICAL", "broker",
    "since the previous session opened, each order's broker fills sum to its filled quantity "
    "(CRITICAL) at its average price within the tolerance (WARNING); every broker fill belongs to "
    "an order the database marks filled (CRITICAL)",
    cases=("quantity_and_price", "not_in_db"), cases_about="`quantity_and_price`, `not_in_db`",
    needs=("orders.broker_id", "orders.status", "orders.filled_qty"),
    uses=("orders.filled_price", "orders.submitted_at", "orders.updated_at"),
    wants={"orders": {"open_at_broker": _open_at_broker, "ended_lately": _ended_lately}},
    thresholds=("fill_price_tolerance_pct", "broker_grace_seconds"), broker=True, evaluate=_fills,
)


def _cost_basis(sources: Sources, case: str | None) -> Sequence[Finding]:
    tolerance = sources.ctx.threshold(COST_BASIS_MATCHES_BROKER.name, "avg_price_tolerance_pct")
    return _in_layout(sources, cost_basis.avg_price_mismatches(live_positions(sources), sources.snapshot(),
                                                               tolerance_pct=tolerance))


COST_BASIS_MATCHES_BROKER = EvaluatedRule(
    "cost_basis_matches_broker", "test_cost_basis_matches_broker", "broker", ("AVG_PRICE_MISMATCH",),
    "WARNING", "broker",
    "per symbol, the quantity-weighted entry price of the database's live positions is the broker's "
    "avg_entry_price within the tolerance",
    needs=("positions.status", "positions.side", "positions.quantity", "positions.entry_price"),
    requires=_with_symbols, wants={"positions": {"live": _live}},
    thresholds=("avg_price_tolerance_pct",), broker=True, evaluate=_cost_basis,
)

ACCOUNT_CASES = ("blocked", "buying_power", "daytrades")


def _account_state(sources: Sources, case: str | None) -> Sequence[Finding]:
    held = _account(sources.snapshot())
    sources.record("account", account.account_figures(held))
    if case == "blocked":
        return account.account_blocked(held)
    if case == "buying_power":
        # The rule's own minimum where pytest.ini sets one, else the run's (a Decimal, kept exact).
        own = sources.ctx.rule_thresholds.get(ACCOUNT_IN_GOOD_STANDING.name, {}).get("min_buying_power")
        minimum = Decimal(str(own)) if own is not None else sources.ctx.settings.min_buying_power
        return account.buying_power_low(held, minimum=minimum)
    return account.daytrade_limit(held)


ACCOUNT_IN_GOOD_STANDING = EvaluatedRule(
    "account_in_good_standing", "test_account_in_good_standing", "broker",
    ("ACCOUNT_BLOCKED", "BUYING_POWER_LOW", "DAYTRADE_LIMIT"), "CRITICAL", "broker",
    "the account can trade (blocked or suspended: CRITICAL), keeps its buying power above the minimum "
    "and a pattern day trader below 3 day trades (WARNING); the report records equity, cash and "
    "buying power, never the account's number or ids",
    cases=ACCOUNT_CASES, cases_about=", ".join(f"`{c}`" for c in ACCOUNT_CASES),
    thresholds=("min_buying_power",), broker=True, evaluate=_account_state,
    # They move with every fill and price: an acknowledgement holds while the account stays low.
    volatile=("buying_power", "cash"),
)

RISK_CASES = ("open_positions", "position_size", "daily_loss")
RISK_SETTINGS = {"open_positions": "max_open_positions", "position_size": "max_position_pct",
                 "daily_loss": "max_daily_loss_pct"}


def _risk(sources: Sources, case: str | None) -> Sequence[Finding]:
    assert case is not None
    settings = sources.ctx.settings
    limit = {RISK_SETTINGS[case]: getattr(settings, RISK_SETTINGS[case])}
    return risk.risk_limit_breaches(live_positions(sources), sources.snapshot(), **limit)


RISK_LIMITS_HELD = EvaluatedRule(
    "risk_limits_held", "test_risk_limits_held", "broker", ("RISK_LIMIT_BREACHED",), "CRITICAL", "broker",
    "the book stays within the risk limits set: symbols held, one position's share of equity, the "
    "day's loss against yesterday's equity (each off unless set)",
    cases=RISK_CASES, cases_about=", ".join(f"`{c}`" for c in RISK_CASES),
    needs=("positions.status", "positions.side", "positions.quantity"), requires=_with_symbols,
    case_settings=RISK_SETTINGS, wants={"positions": {"live": _live}}, broker=True, evaluate=_risk,
    # Prices move them every run (yesterday's equity every morning): the breach itself is what holds.
    volatile=("value", "equity", "position_value", "last_equity"),
)

RULES = (POSITIONS_MATCH_BROKER, ORDERS_MATCH_BROKER, FILLS_MATCH_BROKER, COST_BASIS_MATCHES_BROKER,
         ACCOUNT_IN_GOOD_STANDING, RISK_LIMITS_HELD)
