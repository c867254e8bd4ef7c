"""Scratch databases for the self-tests, on DATABASE_URL's server or an embedded one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from tradewatch import checkrun, db, settings
from tradewatch.checkrun import CheckRun
from tradewatch.watched import WatchedDatabase, open_watched

CHECKOUT = Path(__file__).resolve().parent.parent


class ScratchServer:
    """A PostgreSQL server the self-tests may create and drop databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._created: list[str] = []

    def url(self, dbname: str) -> str:
        """A URL for one database of this server."""
        return conninfo.make_conninfo(self.admin_url, dbname=dbname)

    def create(self, template: str | None = None) -> str:
        """Create a fresh database (optionally a copy of template) and return its URL."""
        name = f"tw_selftest_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with db.connect(self.admin_url, read_only=False) as conn:
            conn.execute(statement)
        self._created.append(name)
        return self.url(name)

    def drop_all(self) -> None:
        """Drop every database this run created."""
        with db.connect(self.admin_url, read_only=False) as conn:
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created.clear()


def dbname(url: str) -> str:
    """The database a URL names."""
    return str(conninfo.conninfo_to_dict(url)["dbname"])


def run_sql(url: str, text: str | sql.Composed) -> None:
    """Run a script of statements as the owner (not through a check session)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


def run_sql_file(url: str, path: Path) -> None:
    """Run a .sql file of statements."""
    run_sql(url, path.read_text())


# The tables a fix may touch, by primary key: a replayed fix is compared row by row on them.
KEYED_TABLES = {
    "securities": "security_id",
    "trading_cycles": "cycle_id",
    "positions": "position_id",
    "orders": "order_id",
}

RowChanges = dict[tuple[str, object], dict[str, tuple[object, object]]]


@dataclass(frozen=True)
class FixEffect:
    """What one statement did inside a transaction that was then rolled back."""

    rowcount: int
    changed: RowChanges
    relations_before: frozenset[str]
    relations_after: frozenset[str]


def relations(conn: psycopg.Connection) -> frozenset[str]:
    """The names of the tables, views, sequences and indexes of the current schema."""
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
    ).fetchall()
    return frozenset(str(row[0]) for row in rows)


def table_rows(conn: psycopg.Connection) -> dict[tuple[str, object], dict[str, object]]:
    """Every row of the keyed tables, as JSON objects by (table, primary key)."""
    rows: dict[tuple[str, object], dict[str, object]] = {}
    for table, key in KEYED_TABLES.items():
        query = sql.SQL("SELECT {key}, to_jsonb(t) FROM {table} AS t").format(
            key=sql.Identifier(key), table=sql.Identifier(table)
        )
        for row_key, row in conn.execute(query):
            rows[(table, row_key)] = row
    return rows


def replay(url: str, statement: str) -> FixEffect:
    """Run a statement (a finding's fix) as the owner in a transaction, rolled back; say what it changed."""
    with psycopg.connect(url) as conn:
        try:
            relations_before, before = relations(conn), table_rows(conn)
            # Sent as the text an operator would paste: without parameters psycopg runs it as
            # a simple query, so a value that escaped its quotes would run as a statement.
            rowcount = conn.execute(statement).rowcount
            relations_after, after = relations(conn), table_rows(conn)
        finally:
            conn.rollback()
    changed: RowChanges = {}
    for row_key in before.keys() | after.keys():
        old, new = before.get(row_key) or {}, after.get(row_key) or {}
        columns = {
            column: (old.get(column), new.get(column))
            for column in old.keys() | new.keys()
            if old.get(column) != new.get(column)
        }
        if columns or (row_key in before) != (row_key in after):
            changed[row_key] = columns
    return FixEffect(rowcount, changed, relations_before, relations_after)


def run_settings(url: str, **options: str) -> settings.Settings:
    """The settings a run with these command-line options and the default ini would resolve."""
    defaults = {spec.ini: spec.default or "" for spec in settings.SPECS if spec.ini}
    return settings.resolve({"database_url": url, **options}, {}, defaults)


def watch(url: str, **options: str) -> WatchedDatabase:
    """Open the check session a run with these command-line settings would open on url."""
    return open_watched(run_settings(url, **options))


def open_run(url: str, **options: str) -> CheckRun:
    """The shared state a checks run with these command-line settings would start on url."""
    return checkrun.start(run_settings(url, **options), CHECKOUT)


def snapshot(url: str) -> tuple[frozenset[str], dict[tuple[str, object], dict[str, object]]]:
    """The schema's relations and every keyed row, read as the owner."""
    with psycopg.connect(url, autocommit=True) as conn:
        return relations(conn), table_rows(conn)
