"""The watched database of one run: the live one, or the embedded demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from tradewatch import db, demo, migrate
from tradewatch.embedded import EmbeddedServer
from tradewatch.settings import Settings


class DatabaseRequired(RuntimeError):
    """DATABASE_URL is unset but the run demands a real database."""


@dataclass
class WatchedDatabase:
    """A read-only session on the watched database, and what it is."""

    conn: psycopg.Connection
    server: db.ServerInfo
    label: str
    demo: bool
    as_of: datetime
    settings: Settings
    _embedded: EmbeddedServer | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Not the settings or the connection: a traceback's locals must show no secret.
        return (f"WatchedDatabase(label={self.label!r}, demo={self.demo!r}, "
                f"as_of={self.as_of.isoformat()!r}, server={self.server!r})")

    def close(self) -> None:
        """Close the session and stop the embedded server, if any."""
        try:
            self.conn.close()
        finally:
            if self._embedded is not None:
                self._embedded.stop()


def start_demo_database(profile: str = "auto") -> tuple[EmbeddedServer, str]:
    """Start an embedded server, migrate it and load the demo data (in the profile's layout when it
    is a later one); return it and its URL."""
    server = EmbeddedServer()
    try:
        url = server.start()
        migrate.apply(url)
        with db.connect(url, read_only=False) as conn:
            conn.execute(demo.DEMO_SQL.read_text())
            if profile in demo.DEMO_LAYOUTS:
                rewrite_demo(conn, profile)
    except BaseException:
        server.stop()
        raise
    return server, url


def rewrite_demo(conn: psycopg.Connection, profile: str) -> None:
    """Move the December demo aside, make the profile's empty tables, and copy the desk into them."""
    layout, rows = demo.DEMO_LAYOUTS[profile]
    conn.execute("ALTER SCHEMA public RENAME TO demo_december")
    conn.execute("CREATE SCHEMA public")
    conn.execute(layout.read_text())
    conn.execute(rows.read_text())
    conn.execute("DROP SCHEMA demo_december CASCADE")


def open_watched(settings: Settings) -> WatchedDatabase:
    """Connect to DATABASE_URL, or to a fresh demo database when it is unset."""
    embedded: EmbeddedServer | None = None
    if settings.database_url:
        url = settings.database_url
    elif settings.require_database:
        raise DatabaseRequired(
            "DATABASE_URL is not set and --require-database is on: "
            "set DATABASE_URL (or --database-url) to the database to check"
        )
    elif settings.profile not in demo.DEMO_PROFILES:
        raise DatabaseRequired(
            f"DATABASE_URL is not set and the demo has no {settings.profile} layout (it runs as "
            f"{', '.join(demo.DEMO_PROFILES)}): set DATABASE_URL to a database of that layout"
        )
    else:
        embedded, url = start_demo_database(settings.profile)
    try:
        conn = db.connect(url, read_only=True, statement_timeout_s=settings.statement_timeout_s)
        server = db.server_info(conn)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    is_demo = embedded is not None
    as_of = settings.as_of or (demo.DEMO_AS_OF if is_demo else datetime.now(UTC))
    label = "embedded demo database" if is_demo else db.describe(url)
    return WatchedDatabase(conn, server, label, is_demo, as_of, settings, embedded)
