"""The names a rule's SQL may use over one table's read: columns from the schema map, never spelled out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from tradewatch.schema_map.resolve import SchemaMap

NULL = sql.SQL("NULL")
# The alias of each logical table in its own read; an order's position is 'p' in the orders read.
ALIASES = {"orders": "o", "positions": "p", "cycles": "c", "securities": "s"}


def by_broker(smap: SchemaMap) -> bool:
    """Whether orders may find their position by the broker id the position holds (entries written
    without a position reference)."""
    return smap.has("positions.broker_id") and smap.has("orders.broker_id")


# PostgreSQL looks a value up in a constant array of this many elements or more by hash, in one
# step, where it compares it with each element of a shorter one; the reads test every row.
HASHED_ARRAY = 9


def hashable(values: list[str]) -> list[str]:
    """The values, repeated to the length the server looks up by hash (the same set of values)."""
    return (values * HASHED_ARRAY)[:max(HASHED_ARRAY, len(values))]


class Params:
    """The parameters one query collects, each under a name of its own."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        """A placeholder for value."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


class Scope:
    """Expressions over one logical table's read, by logical field, from the run's schema map."""

    def __init__(self, entity: str, smap: SchemaMap, params: Params) -> None:
        self.entity = entity
        self.map = smap
        self.params = params

    def has(self, *fields: str) -> bool:
        """Whether every field can be read."""
        return all(self.map.has(field) for field in fields)

    def col(self, field: str) -> sql.Composable:
        """A column of the read: 'orders.status' is o.status; in the orders read 'positions.side'
        is the side of the order's position, however the order finds it."""
        entity = field.partition(".")[0]
        if self.entity == "orders" and entity == "positions":
            return self._position(field)
        return sql.SQL("{}.{}").format(sql.Identifier(ALIASES[entity]), self.map.column(field))

    def _position(self, field: str) -> sql.Composable:
        """An order's position's field: by its own reference (p), else by the broker id the position
        holds. (A bracket leg without a reference is read apart, with its parent's position as p.)"""
        smap = self.map
        ways = [self.referenced(field)] if smap.has("orders.position") else []
        if by_broker(smap):
            ways.append(sql.SQL("by_broker.{}").format(sql.Identifier(field.partition(".")[2])))
        if not ways:
            return NULL
        return ways[0] if len(ways) == 1 else sql.SQL("COALESCE({})").format(sql.SQL(", ").join(ways))

    def referenced(self, field: str) -> sql.Composable:
        """An order's position's field by the order's own reference alone (its parent's for a leg
        read apart): NULL where the layout has no such reference."""
        return sql.SQL("p.{}").format(self.map.column(field)) if self.map.has("orders.position") else NULL

    def opt(self, field: str) -> sql.Composable:
        """The column, or NULL where the layout has none."""
        return self.col(field) if self.map.has(field) else NULL

    def text(self, field: str) -> sql.Composable:
        """The column as text (enums and varchars alike), or NULL."""
        return sql.SQL("{}::text").format(self.col(field)) if self.map.has(field) else NULL

    def exact(self, field: str) -> sql.Composable:
        """The column as text compared byte for byte: a collation of its own may hold 'Long' equal
        to 'long', and a vocabulary knows its spellings exactly."""
        return sql.SQL('({} COLLATE "C")').format(self.text(field)) if self.map.has(field) else NULL

    def param(self, value: Any) -> sql.Placeholder:
        """A parameter."""
        return self.params.add(value)

    def spelled(self, column: str, canonical: Iterable[str] | None = None) -> sql.Composable:
        """The layout's stored values for these canonical values, as a text[] parameter."""
        stored = self.map.vocabulary.stored(column, canonical)
        return sql.SQL("{}::text[]").format(self.param(stored))

    def is_one_of(self, field: str, canonical: Iterable[str] | None = None) -> sql.Composable:
        """Whether the column holds a stored value meaning one of these (any known one when None).
        NULL when the column is NULL: wrap it (IS TRUE / IS NOT TRUE) to decide."""
        stored = self.map.vocabulary.stored(field, canonical)
        if len(stored) == 1:
            # One value: a plain comparison costs a fraction of unpacking an array on every row.
            return sql.SQL("({} = {}::text)").format(self.exact(field), self.param(stored[0]))
        return sql.SQL("({} = ANY({}::text[]))").format(self.exact(field), self.param(hashable(stored)))

    def canonical(self, field: str) -> sql.Composable:
        """What the column's value means (NULL when NULL or unknown): for the rows a rule reports."""
        stored = self.map.vocabulary.stored(field)
        meaning = [self.map.vocabulary.canonical(field, value) for value in stored]
        return sql.SQL("({}::text[])[array_position({}::text[], {})]").format(
            self.param(meaning), self.param(stored), self.exact(field))
