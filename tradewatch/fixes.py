"""Fixes as data, and the reviewable UPDATE statement tradewatch builds from them with psycopg.sql."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg import sql

from tradewatch import text

Source = Literal["database", "broker"]
SOURCES: tuple[Source, ...] = ("broker", "database")  # whose truth wins, first first
Scalar = str | int | float | bool | None
FIX_FIELDS = ("table", "key", "guard", "set", "set_now", "source")


class FixDataError(ValueError):
    """Fix data that tradewatch would not build a statement from."""


@dataclass(frozen=True)
class FixData:
    """One row's repair: found by its key, only while it still holds the guard values read."""

    table: str
    key: Mapping[str, Scalar]
    set: Mapping[str, Scalar]
    guard: Mapping[str, Scalar]
    set_now: tuple[str, ...] = ()
    source: Source = "database"

    def __post_init__(self) -> None:
        if not self.key:
            raise FixDataError("a fix names the row it repairs by a key")
        if not (self.set or self.set_now):
            raise FixDataError("a fix sets at least one column")
        if not self.guard:
            raise FixDataError("a fix has no guard: every fix is guarded by the values it read")

    @property
    def row(self) -> tuple[str, tuple[tuple[str, Scalar], ...]]:
        """The row this fix repairs: its table and key, comparable across fixes."""
        return self.table, tuple(sorted(self.key.items()))

    def to_json(self) -> dict[str, Any]:
        """The fix as the report carries it."""
        return {
            "table": self.table, "key": dict(self.key), "guard": dict(self.guard),
            "set": dict(self.set), "set_now": list(self.set_now), "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Any) -> FixData:
        """Read fix data from a report, refusing anything that is not plain names and scalars."""
        if not isinstance(data, Mapping) or set(data) != set(FIX_FIELDS):
            raise FixDataError(f"fix data must have exactly the fields {', '.join(FIX_FIELDS)}")
        table, source, set_now = data["table"], data["source"], data["set_now"]
        if not _table_name(table):
            raise FixDataError(f"fix data's table {text.shown(table, 60)} is not 'table' or 'schema.table'")
        if source not in SOURCES:
            raise FixDataError(f"fix source must be one of {', '.join(SOURCES)}")
        if not isinstance(set_now, list) or not all(isinstance(name, str) and name for name in set_now):
            raise FixDataError("fix data's set_now must be a list of column names")
        columns = {part: _columns(data[part], part) for part in ("key", "guard", "set")}
        return cls(table, columns["key"], columns["set"], columns["guard"], tuple(set_now), source)


def _table_name(name: Any) -> bool:
    """Whether name is a table as a fix names one (Relation.fix_name): 'table' or 'schema.table'."""
    parts = name.split(".") if isinstance(name, str) else []
    # PostgreSQL cuts a name past 63 bytes, so a longer one would name another table than shown;
    # and a double quote, doubled in the statement, would leave a reviewer guessing which name it is.
    return 1 <= len(parts) <= 2 and all(
        part and '"' not in part and not text.has_unsafe(part) and len(part.encode()) <= 63
        for part in parts)


def _columns(value: Any, part: str) -> dict[str, Scalar]:
    if not isinstance(value, Mapping):
        raise FixDataError(f"fix data's {part} must be an object of column: value")
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise FixDataError(f"fix data's {part} has a column without a name")
        if not (item is None or isinstance(item, str | int | float | bool)):
            raise FixDataError(f"fix data's {part}.{text.shown(name, 40)} is not a plain value")
        if isinstance(item, float) and not math.isfinite(item):
            raise FixDataError(f"fix data's {part}.{text.shown(name, 40)} is not a finite number")
    return dict(value)


def scalar(value: Any) -> Scalar:
    """A database value as a fix carries it (Decimal and timestamps as exact text)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def literal(value: Scalar) -> sql.Composable:
    """A value for a statement meant to be read and pasted: always on one line."""
    if isinstance(value, str) and text.has_unsafe(value):
        # A line break or control character would split the statement or hide part of it:
        # such text travels as UTF-8 hex, decoded by the server, exactly as stored.
        return sql.SQL("convert_from(decode({}, 'hex'), 'UTF8')").format(
            sql.Literal(value.encode("utf-8", "surrogatepass").hex()))
    return sql.Literal(value)


def _equal(column: str, value: Scalar) -> sql.Composable:
    if value is None:
        return sql.SQL("{} IS NULL").format(sql.Identifier(column))
    return sql.SQL("{} = {}").format(sql.Identifier(column), literal(value))


def statement(fix: FixData) -> str:
    """UPDATE the one row the fix names, only while it holds the guard values, as SQL text."""
    assignments = [sql.SQL("{} = {}").format(sql.Identifier(column), literal(value))
                   for column, value in fix.set.items()]
    assignments += [sql.SQL("{} = NOW()").format(sql.Identifier(column)) for column in fix.set_now]
    conditions = [_equal(column, value) for column, value in {**fix.key, **fix.guard}.items()]
    composed = sql.SQL("UPDATE {} SET {} WHERE {};").format(
        # 'schema.table' names a table outside the first schema of the search path.
        sql.Identifier(*fix.table.split(".")), sql.SQL(", ").join(assignments),
        sql.SQL(" AND ").join(conditions),
    )
    return composed.as_string(None)


def update_row(
    table: str, key: Mapping[str, Any], guard: Mapping[str, Any], changes: Mapping[str, Any],
    *, set_now: tuple[str, ...] = ("updated_at",), source: Source = "database",
) -> FixData:
    """A fix setting changes (and set_now to NOW()) on the row with key, guarded by what was read."""
    return FixData(
        table, {column: scalar(value) for column, value in key.items()},
        {column: scalar(value) for column, value in changes.items()},
        {column: scalar(value) for column, value in guard.items()}, set_now, source,
    )


# The logical fields a fix may set, by table; each table's key is its 'id' field.
FIXABLE = {
    "orders": ("side", "status", "filled_qty", "filled_price", "filled_at", "cancelled_at", "expired_at",
               "updated_at"),
    "positions": ("side", "status", "quantity", "entry_price", "closed_at", "close_reason", "updated_at"),
    "cycles": ("status",),
}


# Of those, the times a fix may set to NOW().
MOMENTS = frozenset({"filled_at", "cancelled_at", "expired_at", "updated_at", "closed_at"})


@dataclass(frozen=True)
class Target:
    """A table a fix may touch: the key it is found by, the columns it may set, and the times among
    them it may set to NOW()."""

    keys: frozenset[str]
    columns: frozenset[str]
    moments: frozenset[str] = frozenset()


def allowed_targets(layouts: Sequence[Mapping[str, str | None]]) -> dict[str, Target]:
    """What fixes may touch, by table name, under any of these layouts (field -> table or column)."""
    found: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for names in layouts:
        for entity, fields in FIXABLE.items():
            table, key = names.get(f"{entity}.table"), names.get(f"{entity}.id")
            if not table or not key:
                continue
            keys, columns, moments = found.setdefault(table.rpartition(".")[2], (set(), set(), set()))
            keys.add(key)
            for field in fields:
                column = names.get(f"{entity}.{field}")
                if column:
                    columns.add(column)
                    if field in MOMENTS:
                        moments.add(column)
    return {table: Target(frozenset(keys), frozenset(columns), frozenset(moments))
            for table, (keys, columns, moments) in found.items()}


def check_target(fix: FixData, allowed: Mapping[str, Target]) -> None:
    """Refuse a fix that names a table, key or column no fix of tradewatch's would touch."""
    target = allowed.get(fix.table.rpartition(".")[2])
    if target is None:
        raise FixDataError(f"a fix names table {text.shown(fix.table, 60)}, which no rule repairs")
    if not set(fix.key) <= target.keys or len(fix.key) != 1:
        raise FixDataError(f"a fix of {text.shown(fix.table, 60)} is keyed by other than its key")
    rekeyed = sorted({*fix.set, *fix.set_now} & target.keys)
    if rekeyed:
        # No rule changes a key: setting one would re-key the row the statement names.
        raise FixDataError(f"a fix of {text.shown(fix.table, 60)} sets its key column "
                           f"{text.shown(rekeyed[0], 60)}")
    named = {*fix.guard, *fix.set, *fix.set_now} - target.keys
    stray = sorted(named - target.columns)
    if stray:
        raise FixDataError(f"a fix of {text.shown(fix.table, 60)} names column "
                           f"{text.shown(stray[0], 60)}, which no rule sets")
    if not set(fix.guard) - target.keys:
        # Its key alone names the row, guards nothing: a fix reviewed late would undo a newer write.
        raise FixDataError(f"a fix of {text.shown(fix.table, 60)} is guarded by its key alone")
    not_times = sorted(set(fix.set_now) - target.moments)
    if not_times:
        raise FixDataError(f"a fix of {text.shown(fix.table, 60)} sets {text.shown(not_times[0], 60)} "
                           "to NOW(), which is no time a rule sets")


def merged(fixes: list[FixData]) -> tuple[FixData, list[int]]:
    """One fix per row: the broker's truth first, then each other one that agrees with it (the
    same guards, no column set otherwise); and the places of those it had to leave out."""
    order = sorted(range(len(fixes)), key=lambda place: SOURCES.index(fixes[place].source))
    first = fixes[order[0]]
    guard, changes, now = dict(first.guard), dict(first.set), list(first.set_now)
    left_out = []
    for place in order[1:]:
        fix = fixes[place]
        agrees = all(guard.get(column, value) == value for column, value in fix.guard.items())
        clashes = any(column in changes and changes[column] != value for column, value in fix.set.items())
        if not agrees or clashes or set(fix.set) & set(now) or set(fix.set_now) & set(changes):
            left_out.append(place)
            continue
        guard.update(fix.guard)
        changes.update(fix.set)
        now += [column for column in fix.set_now if column not in now]
    return FixData(first.table, first.key, changes, guard, tuple(now), first.source), left_out
