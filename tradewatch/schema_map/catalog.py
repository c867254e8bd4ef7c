"""What the database has: its tables, views and columns, read once per run from information_schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Relation:
    """A table or view the session can see, and its columns in order."""

    schema: str
    name: str
    is_view: bool
    columns: tuple[str, ...]
    # Whether the session finds it by its bare name (its schema comes first in the search path).
    unqualified: bool = True
    # Each column's type as information_schema names it, in the columns' order.
    types: tuple[str, ...] = ()

    def type_of(self, column: str) -> str | None:
        """A column's type ('integer', 'timestamp with time zone'); None when not known."""
        known = column in self.columns and len(self.types) == len(self.columns)
        return self.types[self.columns.index(column)] if known else None

    @property
    def identifier(self) -> sql.Identifier:
        """The relation's qualified name for a query."""
        return sql.Identifier(self.schema, self.name)

    @property
    def fix_name(self) -> str:
        """How a fix statement names it: bare when the search path finds it so."""
        return self.name if self.unqualified else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Catalog:
    """The relations of the session's search path, by schema and name, in search-path order."""

    search_path: tuple[str, ...]
    relations: Mapping[tuple[str, str], Relation]

    def find(self, name: str) -> Relation | None:
        """A relation by 'name' (the first schema of the search path holding it) or 'schema.name'."""
        schema, dot, table = name.rpartition(".")
        if dot:
            return self.relations.get((schema, table))
        for candidate in self.search_path:
            found = self.relations.get((candidate, table))
            if found is not None:
                return found
        return None

    def has_column(self, table: str, column: str) -> bool:
        """Whether the named relation exists and has the column."""
        found = self.find(table)
        return found is not None and column in found.columns


_COLUMNS = sql.SQL("""
    SELECT c.table_schema, c.table_name, t.table_type = 'VIEW', c.column_name, c.data_type
    FROM information_schema.columns AS c
    JOIN information_schema.tables AS t USING (table_schema, table_name)
    WHERE c.table_schema = ANY(current_schemas(false))
    ORDER BY c.table_schema, c.table_name, c.ordinal_position
""")


def read(conn: psycopg.Connection) -> Catalog:
    """Read every relation and column of the search path the session may see."""
    row = conn.execute("SELECT current_schemas(false)").fetchone()
    search_path = tuple(row[0]) if row else ()
    columns: dict[tuple[str, str], list[str]] = {}
    types: dict[tuple[str, str], list[str]] = {}
    views: set[tuple[str, str]] = set()
    for schema, table, is_view, column, data_type in conn.execute(_COLUMNS):
        columns.setdefault((schema, table), []).append(column)
        types.setdefault((schema, table), []).append(data_type)
        if is_view:
            views.add((schema, table))
    first = search_path[0] if search_path else None
    relations = {
        key: Relation(key[0], key[1], key in views, tuple(names), key[0] == first, tuple(types[key]))
        for key, names in columns.items()
    }
    return Catalog(search_path, relations)
