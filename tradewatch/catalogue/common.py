"""Pieces the rule modules share: entity keys of a row, shown values, repairs, time since."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import sql

from tradewatch import text
from tradewatch.catalogue.rule import Context, Row
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding
from tradewatch.reconcile.grace import aware
from tradewatch.schema_map.resolve import SchemaMap
from tradewatch.vocabulary import CANONICAL

ORDER_KEYS = ("order_id", "position_id", "alpaca_order_id", "symbol")


def keys(row: Row, names: Iterable[str] = ORDER_KEYS) -> dict[str, Any]:
    """The entity keys a finding carries, from a row of a table's read."""
    return {name: row[name] for name in names}


def shown(value: Any) -> str:
    """A stored value quoted for a message (escaped and cut), or 'NULL'."""
    return "NULL" if value is None else repr(text.shown(value))


def repair(smap: SchemaMap, column: str, value: str | None) -> str | None:
    """The stored value a mangled one stands for (' SELL ' is 'sell', 'OrderStatus.NEW' is 'new')."""
    if value is None:
        return None
    candidate = value.strip().lower().removeprefix("orderstatus.")
    words = smap.vocabulary
    if candidate in words.stored(column):
        return candidate
    return words.spelling(column, candidate) if candidate in CANONICAL.get(column, ()) else None


def trading_date(ctx: Context) -> date:
    """The desk's trading date at as-of, in the market's zone whatever the server's."""
    return ctx.as_of.astimezone(ZoneInfo(ctx.map.market.zone)).date()


def cutoff(ctx: Context, rule: str, setting: str) -> datetime:
    """The as-of time less a rule's threshold in minutes."""
    return ctx.as_of - timedelta(minutes=ctx.threshold(rule, setting))


# Clocks differ a little between the desk's writers and the run; a moment further past the later of
# as-of and the wall clock than this no clock wrote (a year 2099, 'infinity'): as unknown as NULL.
# (A run as of the past meets rows written since: those are real.)
FUTURE_SKEW = timedelta(minutes=5)


def in_future(ctx: Context, moment: datetime | None) -> bool:
    """Whether a stored moment lies beyond any real time (and the clocks' skew)."""
    return moment is not None and aware(moment) > ctx.latest_real + FUTURE_SKEW


def minutes_since(ctx: Context, moment: datetime | None) -> float | None:
    """Minutes from moment to as-of, to a tenth; None when the moment is unknown or in the future."""
    if moment is None or in_future(ctx, moment):
        return None
    return round((ctx.as_of - aware(moment)).total_seconds() / 60, 1)


def waited(ctx: Context, moment: datetime | None, never: str) -> str:
    """How long since the moment, in words: 'for 42 min', the future moment named, or never."""
    if moment is None:
        return never
    if in_future(ctx, moment):
        return f"since a time still to come ({text.shown(str(moment))})"
    return f"for {minutes_since(ctx, moment):.0f} min"


def older_than(scope: Scope, ctx: Context, moment: sql.Composable, limit: datetime) -> sql.Composable:
    """The moment is before the limit, unknown or in the future: neither NULL nor 2099 is a pass."""
    return sql.SQL("({moment} < {limit} OR {moment} IS NULL OR {moment} > {future})").format(
        moment=moment, limit=scope.param(limit), future=scope.param(ctx.latest_real + FUTURE_SKEW))


def first_known(scope: Scope, *fields: str) -> sql.Composable:
    """The first of these columns that is set, of those the layout has."""
    present = [scope.col(field) for field in fields if scope.has(field)]
    if len(present) == 1:
        return present[0]
    return sql.SQL("COALESCE({})").format(sql.SQL(", ").join(present))


def links_orders(smap: SchemaMap) -> str | None:
    """Why orders cannot find their positions in this layout, or None when they can."""
    if smap.has("orders.position") or (smap.has("orders.broker_id") and smap.has("positions.broker_id")):
        return None
    return f"the {smap.profile.name} layout gives orders no way to find their position"


# The key a row of each logical table is known by, under the contract's name.
ROW_KEYS = {"orders": "order_id", "positions": "position_id", "cycles": "cycle_id"}


def unknown_value(row: Row, field: str, ctx: Context, now: tuple[str, ...] = ("updated_at",)) -> Finding:
    """UNKNOWN_VALUE: a vocabulary column NULL or outside the layout's vocabulary, with a repair
    when the value is a known one mangled (spaces, case)."""
    entity, _, name = field.partition(".")
    key = ROW_KEYS[entity]
    value = row[name]
    repaired = repair(ctx.map, field, value)
    what = f"{entity.removesuffix('s')} {row[key]}" + (f" ({row['symbol']})" if "symbol" in row else "")
    return Finding(
        "UNKNOWN_VALUE", "WARNING",
        {key: row[key], **({"symbol": row["symbol"]} if "symbol" in row else {}),
         "table": ctx.map.tables[entity].name, "column": ctx.map.columns[field]},
        f"{what} has {name} {shown(value)}, expected one of {', '.join(ctx.map.vocabulary.stored(field))}",
        details={"value": value, "suggested_value": repaired},
        fix_data=None if repaired is None else ctx.fix(
            entity, row[key], guard={name: value}, changes={name: repaired}, now=now),
    )
