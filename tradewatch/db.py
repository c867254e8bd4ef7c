"""The one way tradewatch opens a database connection."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import conninfo

APPLICATION_NAME = "tradewatch"


class DatabaseUnreachable(RuntimeError):
    """The database could not be reached; the message names it without its password."""


@dataclass(frozen=True)
class ServerInfo:
    """What the report header and metadata say about the checked server."""

    host: str
    database: str
    version: str


def describe(url: str) -> str:
    """Name a database as user@host:port/dbname, never with its password."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    user = str(params.get("user") or "")
    host = str(params.get("host") or "localhost")
    port = params.get("port")
    where = f"{host}:{port}" if port else host
    return f"{user + '@' if user else ''}{where}/{params.get('dbname') or user or ''}"


def unreachable(url: str, exc: psycopg.Error) -> DatabaseUnreachable:
    """One line naming the database (never its password) and why it could not be reached."""
    # The first line says why (refused, unknown host, bad password, bad URL); the rest is advice.
    lines = str(exc).strip().splitlines()
    reason = lines[0].removeprefix("connection failed: ") if lines else type(exc).__name__
    return DatabaseUnreachable(f"cannot reach database {describe(url)}: {reason}")


def connect(
    url: str,
    *,
    read_only: bool,
    statement_timeout_s: float | None = None,
    autocommit: bool = True,
) -> psycopg.Connection:
    """Open a connection; a check session is read-only and bounded in time."""
    options = {"application_name": APPLICATION_NAME, "connect_timeout": 10}
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **options)  # type: ignore[arg-type]
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise unreachable(url, exc) from None
    # set_config takes parameters, where SET would need the value spliced into the text.
    if read_only:
        # Every transaction psycopg begins is BEGIN READ ONLY, whatever a function does to the
        # session's default; and a statement outside one still meets the default.
        conn.read_only = True
        conn.execute("SELECT set_config('default_transaction_read_only', 'on', false)")
        # Timestamps in findings then read the same whatever the server's zone.
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
        # A table's one read is read to its end: plan it for all its rows, not the first ones,
        # and do not compile it (that costs more than it saves on one pass).
        conn.execute("SELECT set_config('cursor_tuple_fraction', '1.0', false)")
        conn.execute("SELECT set_config('jit', 'off', false)")
    if statement_timeout_s is not None:
        timeout_ms = str(round(statement_timeout_s * 1000))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout_ms,))
    if not autocommit:
        conn.commit()
    return conn


def server_info(conn: psycopg.Connection) -> ServerInfo:
    """Read the server's version and where the connection points."""
    row = conn.execute("SELECT current_setting('server_version'), current_database()").fetchone()
    assert row is not None
    host = conn.info.host or "localhost"
    return ServerInfo(host=host, database=str(row[1]), version=str(row[0]))
