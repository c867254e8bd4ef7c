"""Pieces the rule modules share: entity keys of a row, shown values, repairs, time since."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from tradewatch import text
from tradewatch.catalogue.rule import Context, Row
from tradewatch.catalogue.scope import Scope
from tradewatch.findings import Finding
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


def cutoff(ctx: Context, rule: str, setting: str) -> datetime:
    """The as-of time less a rule's threshold in minutes."""
    return ctx.as_of - timedelta(minutes=ctx.threshold(rule, setting))


def minutes_since(ctx: Context, moment: datetime | None) -> float | None:
    """Minutes from moment to as-of, to a tenth; None when the moment is unknown."""
    return None if moment is None else round((ctx.as_of - moment).total_seconds() / 60, 1)


def older_than(scope: Scope, moment: sql.Composable, limit: datetime) -> sql.Composable:
    """The moment is before the limit, or unknown: NULL is never a pass."""
    return sql.SQL("({moment} < {limit} OR {moment} IS NULL)").format(moment=moment, limit=scope.param(limit))


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
